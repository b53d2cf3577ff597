<?php
// Connects to ssld over verified TLS with PDO (pdo_mysql, mysqlnd) and its
// default settings, runs SSL_RELOAD and prints the served serial from SHOW
// VARIABLES, @@ssl_last_successful_reload_time and the session's cipher.
// Settings come from the environment: SSLD_HOST, SSLD_PORT, SSLD_USER,
// SSLD_PASSWORD, SSLD_CA.
try {
    $dsn = sprintf('mysql:host=%s;port=%d', getenv('SSLD_HOST'), (int)getenv('SSLD_PORT'));
    $db = new PDO($dsn, getenv('SSLD_USER'), getenv('SSLD_PASSWORD'), [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_TIMEOUT => 5,
        PDO::MYSQL_ATTR_SSL_CA => getenv('SSLD_CA'),
        PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT => true,
    ]);
    $db->exec('SSL_RELOAD');
    echo 'serial=', $db->query("SHOW VARIABLES LIKE 'ssl_server_serial'")->fetch(PDO::FETCH_NUM)[1], "\n";
    echo 'reload_time=', $db->query('SELECT @@ssl_last_successful_reload_time')->fetchColumn(), "\n";
    echo 'cipher=', $db->query("SHOW STATUS LIKE 'Ssl_cipher'")->fetch(PDO::FETCH_NUM)[1], "\n";
} catch (Throwable $e) {
    fwrite(STDERR, 'error: ' . $e->getMessage() . "\n");
    exit(1);
}
