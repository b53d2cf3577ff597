<?php
// Connects to ssld over verified TLS with mysqli (mysqlnd) and its default
// settings, runs SSL_RELOAD and prints the served serial from SHOW VARIABLES,
// @@ssl_last_successful_reload_time, the session's cipher and the server
// statistics (COM_STATISTICS). Settings come from the environment:
// SSLD_HOST, SSLD_PORT, SSLD_USER, SSLD_PASSWORD, SSLD_CA.
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
try {
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 5);
    $db->options(MYSQLI_OPT_SSL_VERIFY_SERVER_CERT, true);
    $db->ssl_set(null, null, getenv('SSLD_CA'), null, null);
    $db->real_connect(getenv('SSLD_HOST'), getenv('SSLD_USER'), getenv('SSLD_PASSWORD'), null,
        (int)getenv('SSLD_PORT'), null, MYSQLI_CLIENT_SSL);
    $db->query('SSL_RELOAD');
    echo 'serial=', $db->query("SHOW VARIABLES LIKE 'ssl_server_serial'")->fetch_row()[1], "\n";
    echo 'reload_time=', $db->query('SELECT @@ssl_last_successful_reload_time')->fetch_row()[0], "\n";
    echo 'cipher=', $db->query("SHOW STATUS LIKE 'Ssl_cipher'")->fetch_row()[1], "\n";
    echo 'stat=', $db->stat(), "\n";
    $db->close();
} catch (Throwable $e) {
    fwrite(STDERR, 'error: ' . $e->getMessage() . "\n");
    exit(1);
}
