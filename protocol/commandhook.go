package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sqlcmd"
)

// The command hook. vitess's go/mysql dispatches a few protocol commands
// itself and offers no extension point for the others (Handler,
// ExtendedHandler and BinlogReplicaHandler cover other commands); some of
// those it does dispatch it mishandles: COM_STMT_RESET of an unknown
// statement answers 2014 and then dereferences the missing statement (a
// panic), COM_FIELD_LIST answers an error and an EOF (two answers to one
// command), COM_STMT_PREPARE runs vitess's parser on the text before ssld's
// statement bounds could see it, a malformed COM_BINLOG_DUMP_GTID panics in
// its parser, COM_SET_OPTION with an unknown option answers twice. So every
// command is looked at here, below vitess's packet reader and above TLS,
// and only those vitess serves correctly reach it: COM_QUIT, COM_INIT_DB,
// COM_QUERY, COM_PING, COM_SET_OPTION (options 0 and 1) and
// COM_RESET_CONNECTION. Every other command gets MySQL 8's answer here,
// exactly one (none where MySQL sends none):
//
//   - COM_STATISTICS: its one-packet text answer;
//   - COM_PROCESS_INFO, COM_PROCESS_KILL and COM_REFRESH: handed to vitess
//     as the COM_QUERY that MySQL itself runs for them (SHOW PROCESSLIST,
//     KILL CONNECTION n, FLUSH ...), so privileges, errors and results take
//     the one path every statement takes;
//   - COM_STMT_PREPARE: 1235 (ssld has no binary protocol); COM_STMT_EXECUTE,
//     COM_STMT_RESET and COM_STMT_FETCH: 1243 "Unknown prepared statement
//     handler (N) given to ..." (ssld keeps no statement), the connection
//     stays; COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA: no answer, as in
//     MySQL;
//   - COM_FIELD_LIST: one error, 1046 without a current database, else 1146
//     (ssld has no tables);
//   - COM_REGISTER_SLAVE, COM_BINLOG_DUMP, COM_BINLOG_DUMP_GTID: 1047 "ssld
//     is not a replication source", and the connection is closed;
//   - a packet too short for its command: 1835 "Malformed communication
//     packet."; any other command byte: 1047 "Unknown command".
//
// A command answered here is read and dropped whole (continuation packets
// of a 16 MiB one included), so vitess never sees its bytes.
//
// The hook is the transport's: at login a commandReader is set on the
// connection's guardedConn (transport.go), so every decrypted packet after
// login passes it before vitess's buffered reader sees a byte. It answers
// with sequence id 1, as the first packet of a command's answer; a command
// handed on as COM_QUERY is numbered by vitess, from 1 too.

// Command bytes (MySQL's enum_server_command).
const (
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comRefresh          = 0x07
	comStatistics       = 0x09
	comProcessInfo      = 0x0a
	comProcessKill      = 0x0c
	comPing             = 0x0e
	comBinlogDump       = 0x12
	comRegisterSlave    = 0x15
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comBinlogDumpGTID   = 0x1e
	comResetConnection  = 0x1f
)

// MySQL error numbers of the command hook that vitess does not name.
const (
	erUnknownStmtHandler = 1243 // ER_UNKNOWN_STMT_HANDLER, HY000
	erMalformedPacket    = 1835 // ER_MALFORMED_PACKET, HY000
	erNoSuchTable        = 1146 // ER_NO_SUCH_TABLE, 42S02
)

// COM_REFRESH flags (MySQL's REFRESH_*), in the order FLUSH lists them.
var refreshFlags = []struct {
	bit byte
	opt string
}{
	{0x02, "LOGS"}, {0x04, "TABLES"}, {0x08, "HOSTS"}, {0x10, "STATUS"}, {0x20, "THREADS"},
}

const (
	refreshGrant  = 0x01
	refreshSlave  = 0x40
	refreshMaster = 0x80
)

// maxInspected is how much of a command packet the reader looks at: the
// command byte and the fixed fields of the commands it answers. The rest of
// a longer packet streams through untouched, or is dropped with its
// command.
const maxInspected = 64

// hookCommands installs the commandReader on c's transport. It must run
// on c's goroutine after the TLS upgrade and before vitess reads the first
// command: at the end of a successful login the client is waiting for the
// OK packet, so it has sent nothing yet. It reports whether the hook is in
// place (c is served by a guardedConn).
func hookCommands(c *mysql.Conn, h *Handler) bool {
	if c == nil {
		return false
	}
	gc, ok := c.Conn.(*guardedConn)
	if !ok {
		return false
	}
	gc.cmds = &commandReader{r: readFunc(gc.read), w: gc, h: h, c: c}
	return true
}

// readFunc is an io.Reader of a function.
type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// commandReader passes the client's packets through to vitess, except the
// commands above. It is used by one connection's goroutine only.
type commandReader struct {
	r io.Reader
	w io.Writer
	h *Handler
	c *mysql.Conn

	pending  []byte // bytes to hand to vitess before reading further
	remain   int    // payload bytes of the current packet still to pass through
	skipMore bool   // the dropped command continues in the next packet
	closing  bool   // the answer went out; the connection ends
	hdr      [4]byte
	small    [4 + maxInspected]byte
}

// Read implements io.Reader for guardedConn.Read.
func (cr *commandReader) Read(p []byte) (int, error) {
	for {
		if len(cr.pending) > 0 {
			n := copy(p, cr.pending)
			cr.pending = cr.pending[n:]
			return n, nil
		}
		if cr.remain > 0 {
			if len(p) > cr.remain {
				p = p[:cr.remain]
			}
			n, err := cr.r.Read(p)
			cr.remain -= n
			return n, err
		}
		if cr.closing {
			return 0, io.EOF
		}
		// KILL of the connection itself: its answer is out (vitess
		// flushed it before reading on), so the connection ends here.
		if s, ok := cr.c.ClientData.(*sqlcmd.Session); ok && s.CloseAfterReply {
			return 0, io.EOF
		}
		if _, err := io.ReadFull(cr.r, cr.hdr[:]); err != nil {
			return 0, err
		}
		length := int(cr.hdr[0]) | int(cr.hdr[1])<<8 | int(cr.hdr[2])<<16
		seq := cr.hdr[3]
		if cr.skipMore {
			// The next packet of a dropped 16 MiB command.
			if err := cr.discard(length); err != nil {
				return 0, err
			}
			cr.skipMore = length == maxPacketPayload
			continue
		}
		// A command starts a packet with sequence 0; continuation packets
		// of a long statement and LOAD DATA file contents do not. An empty
		// packet never gets here (the transport answers it).
		if seq != 0 || length == 0 {
			cr.pending = append(cr.small[:0], cr.hdr[:]...)
			cr.remain = length
			continue
		}
		n := min(length, maxInspected)
		buf := append(cr.small[:0], cr.hdr[:]...)
		buf = buf[:4+n]
		if _, err := io.ReadFull(cr.r, buf[4:]); err != nil {
			return 0, err
		}
		if cr.passes(buf[4:]) {
			cr.pending = buf
			cr.remain = length - n
			continue
		}
		payload := append([]byte(nil), buf[4:]...) // buf is reused below
		if err := cr.discard(length - n); err != nil {
			return 0, err
		}
		cr.skipMore = length == maxPacketPayload
		if err := cr.answer(payload, length); err != nil {
			return 0, err
		}
	}
}

// passes reports whether vitess serves the command that payload (its first
// bytes) starts.
func (cr *commandReader) passes(payload []byte) bool {
	switch payload[0] {
	case comQuit, comInitDB, comQuery, comPing, comResetConnection:
		return true
	case comSetOption:
		// vitess answers a short packet with one error, but an unknown
		// option with an error and an EOF.
		return len(payload) < 3 || binary.LittleEndian.Uint16(payload[1:3]) <= 1
	}
	return false
}

// discard reads and drops n payload bytes.
func (cr *commandReader) discard(n int) error {
	_, err := io.CopyN(io.Discard, cr.r, int64(n))
	return err
}

// answer gives MySQL's answer to a command vitess does not see; payload
// is its first bytes, length its whole size. It may instead leave a
// COM_QUERY for vitess in pending.
func (cr *commandReader) answer(payload []byte, length int) error {
	switch payload[0] {
	case comStatistics:
		return cr.writePacket(1, []byte(cr.h.statistics()))
	case comProcessInfo:
		cr.pending = queryPacket("SHOW PROCESSLIST")
	case comProcessKill:
		if length < 5 {
			return cr.writeErr(erMalformedPacket, mysql.SSUnknownSQLState, "Malformed communication packet.")
		}
		cr.pending = queryPacket("KILL CONNECTION " + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(payload[1:5])), 10))
	case comRefresh:
		if length < 2 {
			return cr.writeErr(erMalformedPacket, mysql.SSUnknownSQLState, "Malformed communication packet.")
		}
		cr.pending = queryPacket(refreshStatement(payload[1]))
	case comStmtPrepare:
		return cr.writeErr(mysql.ERNotSupportedYet, mysql.SSClientError, "This version of ssld doesn't yet support 'prepared statements'")
	case comStmtExecute, comStmtReset, comStmtFetch:
		if length < 5 {
			return cr.writeErr(erMalformedPacket, mysql.SSUnknownSQLState, "Malformed communication packet.")
		}
		fn := map[byte]string{comStmtExecute: "mysqld_stmt_execute", comStmtReset: "mysqld_stmt_reset", comStmtFetch: "mysqld_stmt_fetch"}[payload[0]]
		return cr.writeErr(erUnknownStmtHandler, mysql.SSUnknownSQLState, fmt.Sprintf("Unknown prepared statement handler (%d) given to %s",
			binary.LittleEndian.Uint32(payload[1:5]), fn))
	case comStmtClose, comStmtSendLongData:
		return nil // MySQL sends no answer to these
	case comFieldList:
		db := cr.h.session(cr.c).DB
		if db == "" {
			return cr.writeErr(mysql.ERNoDb, mysql.SSNoDB, "No database selected")
		}
		table := payload[1:]
		if i := bytes.IndexByte(table, 0); i >= 0 {
			table = table[:i]
		}
		return cr.writeErr(erNoSuchTable, "42S02", sqlcmd.CutMessage(fmt.Sprintf("Table '%s.%s' doesn't exist", db, table)))
	case comRegisterSlave, comBinlogDump, comBinlogDumpGTID:
		cr.closing = true
		return cr.writeErr(mysql.ERUnknownComError, mysql.SSUnknownComError, "ssld is not a replication source")
	default:
		return cr.writeErr(mysql.ERUnknownComError, mysql.SSUnknownComError, "Unknown command")
	}
	return nil
}

// writeErr answers the command with one ERR packet.
func (cr *commandReader) writeErr(num uint16, state, msg string) error {
	_, err := cr.w.Write(errPacket(1, num, state, msg))
	return err
}

func (cr *commandReader) writePacket(seq byte, payload []byte) error {
	pkt := make([]byte, 4+len(payload))
	pkt[0], pkt[1], pkt[2], pkt[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), seq
	copy(pkt[4:], payload)
	_, err := cr.w.Write(pkt)
	return err
}

// queryPacket is a COM_QUERY packet of q.
func queryPacket(q string) []byte {
	n := 1 + len(q)
	pkt := make([]byte, 4, 4+n)
	pkt[0], pkt[1], pkt[2] = byte(n), byte(n>>8), byte(n>>16)
	pkt = append(pkt, comQuery)
	return append(pkt, q...)
}

// refreshStatement is the statement COM_REFRESH(flags) stands for.
// REFRESH_GRANT is FLUSH PRIVILEGES; REFRESH_SLAVE / REFRESH_MASTER are the
// RESET statements, which ssld refuses like MySQL without replication.
func refreshStatement(flags byte) string {
	switch {
	case flags&refreshGrant != 0:
		return "FLUSH PRIVILEGES"
	case flags&refreshSlave != 0:
		return "RESET REPLICA"
	case flags&refreshMaster != 0:
		return "RESET MASTER"
	}
	var opts []string
	for _, f := range refreshFlags {
		if flags&f.bit != 0 {
			opts = append(opts, f.opt)
		}
	}
	if len(opts) == 0 {
		// Nothing asked for; MySQL answers OK. THREADS has nothing to do
		// in ssld either.
		opts = []string{"THREADS"}
	}
	return "FLUSH " + strings.Join(opts, ", ")
}

// statistics is the COM_STATISTICS text, in MySQL's layout (the mysql CLI's
// \s and mariadb-admin status print it, and parse Uptime from it).
func (h *Handler) statistics() string {
	uptime := time.Since(h.procs.started) / time.Second
	q := h.procs.Questions()
	qps := 0.0
	if uptime > 0 {
		qps = float64(q) / float64(uptime)
	}
	return fmt.Sprintf("Uptime: %d  Threads: %d  Questions: %d  Slow queries: 0  Opens: 0  Flush tables: 0  Open tables: 0  Queries per second avg: %.3f",
		uptime, h.procs.count(), q, qps)
}
