package cluster

import (
	"strings"
)

// Dialect is the SQL dialect a node speaks for its TLS reload statement.
type Dialect string

const (
	// DialectAuto picks the dialect from the node's version string (see
	// DetectDialect). It is resolved per node before anything is reloaded.
	DialectAuto Dialect = "auto"
	// DialectSSLD is an ssld node: SSL_RELOAD, and it reports
	// ssl_server_fingerprint, which makes stale detection exact.
	DialectSSLD Dialect = "ssld"
	// DialectSingleStore is a SingleStore (MemSQL) node: SSL_RELOAD.
	DialectSingleStore Dialect = "singlestore"
	// DialectMySQL is MySQL 8.0.16 or later: ALTER INSTANCE RELOAD TLS.
	DialectMySQL Dialect = "mysql"
	// DialectMariaDB is MariaDB 10.4 or later: FLUSH SSL.
	DialectMariaDB Dialect = "mariadb"
)

// ParseDialect accepts the dialect names (case-insensitive); "" means auto.
// "memsql" is accepted for singlestore.
func ParseDialect(s string) (Dialect, error) {
	return parseName(s, "dialect", "auto, ssld, singlestore, mysql or mariadb", dialectNames)
}

var dialectNames = map[string]Dialect{"": DialectAuto, "auto": DialectAuto, "ssld": DialectSSLD,
	"singlestore": DialectSingleStore, "memsql": DialectSingleStore, "mysql": DialectMySQL, "mariadb": DialectMariaDB}

// DetectDialect picks the dialect from @@version and @@version_comment:
// "ssld" in either means ssld, then "MariaDB" means mariadb, then
// "SingleStore" or "MemSQL" means singlestore, and anything else is mysql.
// ssld is tested first because an ssld node announces a MySQL-shaped version
// ("8.0.35-ssld").
func DetectDialect(version, comment string) Dialect {
	s := strings.ToLower(version + " " + comment)
	switch {
	case strings.Contains(s, "ssld"):
		return DialectSSLD
	case strings.Contains(s, "mariadb"):
		return DialectMariaDB
	case strings.Contains(s, "singlestore"), strings.Contains(s, "memsql"):
		return DialectSingleStore
	}
	return DialectMySQL
}

// ReloadStatement is the statement that reloads the TLS material of a node
// of dialect d. Every dialect's statement reloads all of the node's TLS
// material; Scope selects nodes, not channels (SingleStore's SSL_RELOAD has
// no channel clause). DialectAuto has no statement: resolve it first.
func (d Dialect) ReloadStatement() string {
	switch d {
	case DialectSSLD, DialectSingleStore:
		return "SSL_RELOAD"
	case DialectMySQL:
		return "ALTER INSTANCE RELOAD TLS"
	case DialectMariaDB:
		return "FLUSH SSL"
	}
	return ""
}
