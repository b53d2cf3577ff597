"""Connects to ssld over verified TLS with PyMySQL, runs SSL_RELOAD and prints
the served serial from SHOW VARIABLES and
@@ssl_last_successful_reload_time. Settings come from the environment:
SSLD_HOST, SSLD_PORT, SSLD_USER, SSLD_PASSWORD, SSLD_CA."""
import os
import sys

import pymysql

try:
    conn = pymysql.connect(
        host=os.environ["SSLD_HOST"],
        port=int(os.environ["SSLD_PORT"]),
        user=os.environ["SSLD_USER"],
        password=os.environ["SSLD_PASSWORD"],
        ssl_ca=os.environ["SSLD_CA"],
        ssl_verify_cert=True,
        ssl_verify_identity=True,
        connect_timeout=5,
    )
    with conn.cursor() as cur:
        cur.execute("SSL_RELOAD")
        cur.execute("SHOW VARIABLES LIKE 'ssl_server_serial'")
        print("serial=" + cur.fetchone()[1])
        cur.execute("SELECT @@ssl_last_successful_reload_time")
        print("reload_time=" + cur.fetchone()[0])
        cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        print("cipher=" + cur.fetchone()[1])
    conn.close()
except Exception as e:  # one line for the Go test to show
    print("error: %s" % e, file=sys.stderr)
    sys.exit(1)
