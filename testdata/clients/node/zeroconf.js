// Connects to ssld with the Node.js mariadb connector, `ssl: true` and no
// CA: MariaDB's zero-configuration TLS, where the connector accepts the
// certificate during the handshake and then checks the proof in the login's
// OK packet. Runs SSL_RELOAD on one connection, then prints the served serial
// and Ssl_cipher from a new one. Settings come from the environment:
// SSLD_HOST, SSLD_PORT, SSLD_USER, SSLD_PASSWORD.
const mariadb = require('mariadb');

const opts = {
  host: process.env.SSLD_HOST,
  port: Number(process.env.SSLD_PORT),
  user: process.env.SSLD_USER,
  password: process.env.SSLD_PASSWORD,
  ssl: true,
  connectTimeout: 5000,
};

(async () => {
  const conn = await mariadb.createConnection(opts);
  await conn.query('SSL_RELOAD');
  await conn.end();
  const fresh = await mariadb.createConnection(opts);
  const rows = await fresh.query("SHOW VARIABLES LIKE 'ssl_server_serial'");
  console.log('serial=' + rows[0].Value);
  const cipher = await fresh.query("SHOW STATUS LIKE 'Ssl_cipher'");
  console.log('cipher=' + cipher[0].Value);
  await fresh.end();
})().catch((err) => {
  console.error('error: ' + err.message);
  process.exit(1);
});
