package sysvars

import (
	"os"
	"runtime"
	"strconv"
	"time"
)

// ServerInfo is the static description of this ssld node that AddServer
// publishes. Socket and License are optional additions to the shared contract;
// their zero values render as empty strings.
type ServerInfo struct {
	Version                string // e.g. "8.0.36-ssld-0.1.0"; what clients see as @@version
	VersionComment         string // e.g. "ssld 0.1.0 (TLS reload daemon)"; one short printable line
	Role                   string // "aggregator" or "leaf"
	Port                   int    // the admin listener's TCP port
	RequireSecureTransport bool
	Socket                 string // Unix socket path, "" when none
	License                string
	// MaxConnections is the TCP connection limit in force.
	MaxConnections int
	// MaxAllowedPacket is the message bound after login; 0 reports the
	// admin listeners' default, 512 KiB (protocol.DefaultMaxAllowedPacket).
	MaxAllowedPacket int64
	// BoundPort, when set, is asked for @@port instead of Port, so a node
	// started with port 0 reports the port it picked.
	BoundPort func() int
}

// Defaults reported for the session variables that drivers and the mysql CLI
// read on connect. ssld has no storage engine, so these only need to be
// plausible and stable.
const (
	defaultCharset        = "utf8mb4"
	defaultCollation      = "utf8mb4_0900_ai_ci"
	defaultSQLMode        = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
	defaultIsolation      = "REPEATABLE-READ"
	defaultMaxPacket      = "524288"
	defaultTimeout        = "28800"
	maxUint64             = "18446744073709551615"
	protocolVersion       = "10"
	defaultAuthPlugin     = "mysql_native_password"
	defaultNetBufferLen   = "16384"
	defaultNetReadTimeout = "30"
	defaultNetWriteTimout = "60"
)

// OptimizerSwitchDefault is MySQL 8.0's optimizer_switch: ssld plans no
// queries, but mariadb-dump and some drivers set flags in it.
const OptimizerSwitchDefault = "index_merge=on,index_merge_union=on,index_merge_sort_union=on,index_merge_intersection=on," +
	"engine_condition_pushdown=on,index_condition_pushdown=on,mrr=on,mrr_cost_based=on,block_nested_loop=on," +
	"batched_key_access=off,materialization=on,semijoin=on,loosescan=on,firstmatch=on,duplicateweedout=on," +
	"subquery_materialization_cost_based=on,use_index_extensions=on,condition_fanout_filter=on,derived_merge=on," +
	"use_invisible_indexes=off,skip_scan=on,hash_join=on,subquery_to_derived=off,prefer_ordering_index=on," +
	"hypergraph_optimizer=off,derived_condition_pushdown=on"

func constant(s string) func() string { return func() string { return s } }

// ro is a read-only global variable.
func ro(name string, k Kind, f func() string) Var {
	return Var{Name: name, Scope: ScopeGlobal, Kind: k, ReadOnly: true, Value: f}
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// AddServer registers version, version_comment, port, role,
// require_secure_transport, and the variables that real clients (the mysql
// CLI, go-sql-driver/mysql, Connector/J, PyMySQL) read on connect. Session
// variables are dynamic: their registry value is the global default and a
// connection's SET SESSION overrides it in the session, not here.
//
// AddServer is meant to be called once from main; it fails on a duplicate
// name (for example when called twice on the same registry).
func AddServer(r *Registry, info ServerInfo) error {
	both := func(name string, k Kind, val string) Var {
		return Var{Name: name, Scope: ScopeBoth, Kind: k, Value: constant(val)}
	}
	vars := []Var{
		ro("version", KindString, constant(info.Version)),
		ro("version_comment", KindString, constant(info.VersionComment)),
		ro("port", KindInt, func() string {
			if info.BoundPort != nil {
				if p := info.BoundPort(); p > 0 {
					return strconv.Itoa(p)
				}
			}
			return strconv.Itoa(info.Port)
		}),
		ro("role", KindString, constant(info.Role)),
		ro("require_secure_transport", KindBool, constant(onOff(info.RequireSecureTransport))),
		ro("socket", KindString, constant(info.Socket)),
		ro("license", KindString, constant(info.License)),
		ro("hostname", KindString, func() string {
			h, err := os.Hostname()
			if err != nil {
				return ""
			}
			return h
		}),
		ro("version_compile_os", KindString, constant(runtime.GOOS)),
		ro("version_compile_machine", KindString, constant(runtime.GOARCH)),
		ro("protocol_version", KindInt, constant(protocolVersion)),
		ro("lower_case_table_names", KindInt, constant("0")),
		ro("character_set_system", KindString, constant("utf8mb3")),
		ro("system_time_zone", KindString, func() string {
			name, _ := time.Now().Zone()
			return name
		}),
		ro("init_connect", KindString, constant("")),
		ro("performance_schema", KindBool, constant("OFF")),
		ro("have_query_cache", KindString, constant("NO")),
		ro("query_cache_size", KindInt, constant("0")),
		ro("query_cache_type", KindString, constant("OFF")),
		ro("default_authentication_plugin", KindString, constant(defaultAuthPlugin)),
		ro("max_connections", KindInt, constant(strconv.Itoa(info.MaxConnections))),

		// Session-only and read-only: the SQL layer reports the session's
		// counts of the previous statement's warnings and errors.
		{Name: "warning_count", Scope: ScopeSession, Kind: KindInt, ReadOnly: true, Value: constant("0")},
		{Name: "error_count", Scope: ScopeSession, Kind: KindInt, ReadOnly: true, Value: constant("0")},
		both("autocommit", KindBool, "ON"),
		both("max_allowed_packet", KindInt, maxPacketOr(info.MaxAllowedPacket)),
		both("character_set_client", KindString, defaultCharset),
		both("character_set_connection", KindString, defaultCharset),
		both("character_set_results", KindString, defaultCharset),
		both("character_set_database", KindString, defaultCharset),
		both("collation_connection", KindString, defaultCollation),
		both("collation_database", KindString, defaultCollation),
		both("character_set_server", KindString, defaultCharset),
		both("collation_server", KindString, defaultCollation),
		both("character_set_filesystem", KindString, "binary"),
		both("default_storage_engine", KindString, "InnoDB"),
		both("default_tmp_storage_engine", KindString, "InnoDB"),
		both("sql_quote_show_create", KindBool, "ON"),
		both("sql_big_selects", KindBool, "ON"),
		both("sql_buffer_result", KindBool, "OFF"),
		both("sql_log_off", KindBool, "OFF"),
		both("big_tables", KindBool, "OFF"),
		both("explicit_defaults_for_timestamp", KindBool, "ON"),
		both("end_markers_in_json", KindBool, "OFF"),
		both("old_alter_table", KindBool, "OFF"),
		both("completion_type", KindString, "NO_CHAIN"),
		both("lc_time_names", KindString, "en_US"),
		both("div_precision_increment", KindInt, "4"),
		both("default_week_format", KindInt, "0"),
		both("max_sort_length", KindInt, "1024"),
		both("max_join_size", KindInt, maxUint64),
		both("max_error_count", KindInt, "1024"),
		both("lock_wait_timeout", KindInt, "31536000"),
		both("innodb_lock_wait_timeout", KindInt, "50"),
		both("cte_max_recursion_depth", KindInt, "1000"),
		both("information_schema_stats_expiry", KindInt, "86400"),
		both("session_track_gtids", KindString, "OFF"),
		both("session_track_state_change", KindBool, "OFF"),
		both("session_track_system_variables", KindString, "time_zone,autocommit,character_set_client,character_set_results,character_set_connection"),
		both("session_track_transaction_info", KindString, "OFF"),
		both("transaction_prealloc_size", KindInt, "4096"),
		both("sql_require_primary_key", KindBool, "OFF"),
		both("optimizer_switch", KindString, OptimizerSwitchDefault),
		both("sql_mode", KindString, defaultSQLMode),
		both("time_zone", KindString, "SYSTEM"),
		both("transaction_isolation", KindString, defaultIsolation),
		both("tx_isolation", KindString, defaultIsolation),
		both("transaction_read_only", KindBool, "OFF"),
		both("tx_read_only", KindBool, "OFF"),
		both("wait_timeout", KindInt, defaultTimeout),
		both("interactive_timeout", KindInt, defaultTimeout),
		both("net_write_timeout", KindInt, defaultNetWriteTimout),
		both("net_read_timeout", KindInt, defaultNetReadTimeout),
		both("net_buffer_length", KindInt, defaultNetBufferLen),
		both("auto_increment_increment", KindInt, "1"),
		both("auto_increment_offset", KindInt, "1"),
		both("sql_select_limit", KindInt, maxUint64),
		both("sql_auto_is_null", KindBool, "OFF"),
		both("sql_safe_updates", KindBool, "OFF"),
		both("sql_notes", KindBool, "ON"),
		both("sql_warnings", KindBool, "OFF"),
		both("group_concat_max_len", KindInt, "1024"),
		both("lc_messages", KindString, "en_US"),
		both("max_execution_time", KindInt, "0"),
		both("net_retry_count", KindInt, "10"),
		both("session_track_schema", KindBool, "ON"),
		both("unique_checks", KindBool, "ON"),
		both("foreign_key_checks", KindBool, "ON"),
	}
	return r.addAll(vars)
}

// maxPacketOr is the max_allowed_packet value to report: the configured bound,
// or MySQL's default when unset.
func maxPacketOr(n int64) string {
	if n <= 0 {
		return defaultMaxPacket
	}
	return strconv.FormatInt(n, 10)
}
