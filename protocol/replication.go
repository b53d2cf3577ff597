package protocol

import "github.com/dolthub/vitess/go/mysql"

// ssld is not a replication source. The command hook (commandhook.go)
// answers COM_REGISTER_SLAVE, COM_BINLOG_DUMP and COM_BINLOG_DUMP_GTID
// itself, before vitess parses their bodies (a malformed one panicked
// there). The Handler still implements mysql.BinlogReplicaHandler, for a
// connection whose hook could not be installed: when a Handler does not
// implement it, vitess skips the command without releasing its read buffer
// or answering, and the connection's next packet panics in
// readEphemeralPacket ("unexpected currentEphemeralPolicy"), found by
// FuzzListenerPackets. Refusing makes vitess answer with this error and
// close the connection.
var _ mysql.BinlogReplicaHandler = (*Handler)(nil)

func errNoReplication() error {
	return mysql.NewSQLError(mysql.ERUnknownComError, mysql.SSUnknownComError, "ssld is not a replication source")
}

// ComRegisterReplica implements mysql.BinlogReplicaHandler: always refused.
func (h *Handler) ComRegisterReplica(c *mysql.Conn, host string, port uint16, user, password string) error {
	return errNoReplication()
}

// ComBinlogDumpGTID implements mysql.BinlogReplicaHandler: always refused.
func (h *Handler) ComBinlogDumpGTID(c *mysql.Conn, logFile string, logPos uint64, gtidSet mysql.GTIDSet) error {
	return errNoReplication()
}
