// Connects to ssld over verified TLS with mysql2, runs SSL_RELOAD and prints
// the served serial from SHOW VARIABLES and @@ssl_last_successful_reload_time. Settings come from the environment:
// SSLD_HOST, SSLD_PORT, SSLD_USER, SSLD_PASSWORD, SSLD_CA.
const fs = require('fs');
const mysql = require('mysql2/promise');

(async () => {
  const conn = await mysql.createConnection({
    host: process.env.SSLD_HOST,
    port: Number(process.env.SSLD_PORT),
    user: process.env.SSLD_USER,
    password: process.env.SSLD_PASSWORD,
    ssl: { ca: fs.readFileSync(process.env.SSLD_CA), rejectUnauthorized: true, servername: 'localhost' },
    connectTimeout: 5000,
  });
  await conn.query('SSL_RELOAD');
  const [rows] = await conn.query("SHOW VARIABLES LIKE 'ssl_server_serial'");
  console.log('serial=' + rows[0].Value);
  const [t] = await conn.query('SELECT @@ssl_last_successful_reload_time AS t');
  console.log('reload_time=' + t[0].t);
  const [cipher] = await conn.query("SHOW STATUS LIKE 'Ssl_cipher'");
  console.log('cipher=' + cipher[0].Value);
  await conn.end();
})().catch((err) => {
  console.error('error: ' + err.message);
  process.exit(1);
});
