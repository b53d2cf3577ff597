package mariadbtest

import "testing"

func TestInitSQLQuotes(t *testing.T) {
	got := initSQL(Options{User: "a'b", Password: `p\'`, RequireSSL: true})
	want := "CREATE USER IF NOT EXISTS 'a\\'b'@'%' IDENTIFIED BY 'p\\\\\\'' REQUIRE SSL;\n" +
		"GRANT ALL PRIVILEGES ON *.* TO 'a\\'b'@'%';\n"
	if got != want {
		t.Errorf("initSQL:\n got %q\nwant %q", got, want)
	}
}

func TestInitSQLRequireX509(t *testing.T) {
	got := initSQL(Options{User: "bench", Password: "pw", RequireSSL: true, RequireX509: true})
	want := "CREATE USER IF NOT EXISTS 'bench'@'%' IDENTIFIED BY 'pw' REQUIRE X509;\n" +
		"GRANT ALL PRIVILEGES ON *.* TO 'bench'@'%';\n"
	if got != want {
		t.Errorf("initSQL:\n got %q\nwant %q", got, want)
	}
}
