package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/vitess/go/mysql"

	"github.com/ssld/ssld/sqlcmd"
)

// The protocol commands that mariadb-admin and the mysql CLI send and that
// vitess's go/mysql does not dispatch: its command loop answers every
// command it does not know with 1047 ("command handling not implemented
// yet") and offers no extension point for them (Handler, ExtendedHandler and
// BinlogReplicaHandler cover other commands). They are answered here, below
// vitess's packet reader and above TLS:
//
//   - COM_STATISTICS gets its one-packet text answer directly;
//   - COM_PROCESS_INFO, COM_PROCESS_KILL and COM_REFRESH are handed to vitess
//     as the COM_QUERY that MySQL itself runs for them (SHOW PROCESSLIST,
//     KILL CONNECTION n, FLUSH ...), so privileges, errors and results take
//     the one path every statement takes.
//
// After login, the connection's buffered reader (vitess's unexported
// Conn.bufferedReader, see conninternals.go) is pointed at a commandReader
// over the connection. If a vitess upgrade renames the field, the commands
// get vitess's 1047 again, and TestAdminCommands fails.

// Command bytes (MySQL's enum_server_command).
const (
	comRefresh     = 0x07
	comStatistics  = 0x09
	comProcessInfo = 0x0a
	comProcessKill = 0x0c
	comQuery       = 0x03
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

// maxInspected is the largest packet the reader looks into; every command it
// answers is a few bytes, anything longer streams through untouched.
const maxInspected = 64

// hookCommands installs the commandReader on c. It must run after the TLS
// upgrade and before vitess reads the first command, with nothing buffered:
// at the end of a successful login the client is waiting for the OK packet,
// so it has sent nothing yet. It reports whether the hook is in place.
func hookCommands(c *mysql.Conn, h *Handler) bool {
	if c == nil || c.Conn == nil {
		return false
	}
	br := connBufferedReader(c)
	if br == nil || br.Buffered() != 0 {
		return false
	}
	br.Reset(&commandReader{r: c.Conn, w: c.Conn, h: h, c: c})
	return true
}

// commandReader passes the client's packets through to vitess, except the
// commands above. It is used by one connection's goroutine only.
type commandReader struct {
	r io.Reader
	w io.Writer
	h *Handler
	c *mysql.Conn

	pending []byte // bytes to hand to vitess before reading further
	remain  int    // payload bytes of the current packet still to pass through
	hdr     [4]byte
	small   [4 + maxInspected]byte
}

// Read implements io.Reader for vitess's buffered reader.
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
		// A command starts a packet with sequence 0; continuation packets
		// of a long statement and LOAD DATA file contents do not.
		if seq != 0 || length == 0 || length > maxInspected {
			cr.pending = append(cr.small[:0], cr.hdr[:]...)
			cr.remain = length
			continue
		}
		buf := append(cr.small[:0], cr.hdr[:]...)
		buf = buf[:4+length]
		if _, err := io.ReadFull(cr.r, buf[4:]); err != nil {
			return 0, err
		}
		payload := buf[4:]
		switch payload[0] {
		case comStatistics:
			if err := cr.writePacket(1, []byte(cr.h.statistics())); err != nil {
				return 0, err
			}
			continue
		case comProcessInfo:
			cr.pending = queryPacket("SHOW PROCESSLIST")
		case comProcessKill:
			if len(payload) < 5 {
				cr.pending = buf
				break
			}
			cr.pending = queryPacket("KILL CONNECTION " + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(payload[1:5])), 10))
		case comRefresh:
			if len(payload) < 2 {
				cr.pending = buf
				break
			}
			cr.pending = queryPacket(refreshStatement(payload[1]))
		default:
			cr.pending = buf
		}
	}
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
