// Connects to ssld over verified TLS with MariaDB Connector/J and its default
// settings, runs SSL_RELOAD and prints the served serial from SHOW VARIABLES,
// @@ssl_last_successful_reload_time and the session's cipher. Settings come
// from the environment: SSLD_HOST, SSLD_PORT, SSLD_USER, SSLD_PASSWORD,
// SSLD_CA. Run as a single file: java -cp mariadb-java-client.jar Reload.java
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

public class Reload {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:mariadb://" + System.getenv("SSLD_HOST") + ":" + System.getenv("SSLD_PORT") + "/"
                + "?useSsl=true&serverSslCert=" + System.getenv("SSLD_CA") + "&connectTimeout=5000";
        try (Connection conn = DriverManager.getConnection(url, System.getenv("SSLD_USER"), System.getenv("SSLD_PASSWORD"));
             Statement st = conn.createStatement()) {
            st.execute("SSL_RELOAD");
            try (ResultSet rs = st.executeQuery("SHOW VARIABLES LIKE 'ssl_server_serial'")) {
                rs.next();
                System.out.println("serial=" + rs.getString(2));
            }
            try (ResultSet rs = st.executeQuery("SELECT @@ssl_last_successful_reload_time")) {
                rs.next();
                System.out.println("reload_time=" + rs.getString(1));
            }
            try (ResultSet rs = st.executeQuery("SHOW STATUS LIKE 'Ssl_cipher'")) {
                rs.next();
                System.out.println("cipher=" + rs.getString(2));
            }
        } catch (Exception e) {
            System.err.println("error: " + e);
            System.exit(1);
        }
    }
}
