package protocol_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cmdDialed hands the raw socket of a go-sql-driver login to the test: the
// driver logs in, the test then speaks the protocol commands the driver
// has no API for.
var cmdDialed = make(chan net.Conn, 1)

func init() {
	mysql.RegisterDialContext("cmdraw", func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			select {
			case <-cmdDialed:
			default:
			}
			cmdDialed <- c
		}
		return c, err
	})
}

// rawLogin logs in over plain TCP and returns the socket and the
// connection's id.
func rawLogin(t *testing.T, addr string) (net.Conn, *sql.DB) {
	t.Helper()
	connector, err := mysql.NewConnector(driverConfig(addr, "cmdraw"))
	require.NoError(t, err)
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.Ping())
	c := <-cmdDialed
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	return c, db
}

// readRaw reads one packet and returns its sequence id and payload.
func readRaw(t *testing.T, c net.Conn) (byte, []byte) {
	t.Helper()
	var h [4]byte
	_, err := io.ReadFull(c, h[:])
	require.NoError(t, err)
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p := make([]byte, n)
	_, err = io.ReadFull(c, p)
	require.NoError(t, err)
	return h[3], p
}

// TestAdminCommands sends the commands vitess does not dispatch itself and
// checks MySQL's answers: COM_STATISTICS (one text packet), COM_PROCESS_INFO
// (SHOW PROCESSLIST's result set), COM_REFRESH (OK), COM_PROCESS_KILL (OK,
// and the other connection is gone), and that an ordinary query still works
// on the same connection afterwards.
func TestAdminCommands(t *testing.T) {
	srv := startFuzzServer(t, nil)
	addr := srv.Addr().String()
	victim := sql.OpenDB(mustConnector(t, driverConfig(addr, "tcp")))
	victim.SetMaxOpenConns(1)
	t.Cleanup(func() { victim.Close() })
	var victimID uint32
	require.NoError(t, victim.QueryRow("SELECT CONNECTION_ID()").Scan(&victimID))

	c, _ := rawLogin(t, addr)

	_, err := c.Write(packet(0, []byte{0x09})) // COM_STATISTICS
	require.NoError(t, err)
	seq, p := readRaw(t, c)
	assert.Equal(t, byte(1), seq)
	assert.Regexp(t, `^Uptime: \d+  Threads: [2-9]  Questions: \d+  Slow queries: 0  Opens: 0  Flush tables: 0  Open tables: 0  Queries per second avg: \d+\.\d{3}$`, string(p))

	_, err = c.Write(packet(0, []byte{0x0a})) // COM_PROCESS_INFO
	require.NoError(t, err)
	_, p = readRaw(t, c)
	require.Equal(t, []byte{8}, p, "column count of SHOW PROCESSLIST")
	var rows []string
	for eofs := 0; eofs < 2; {
		_, p = readRaw(t, c)
		if p[0] == 0xfe && len(p) < 9 {
			eofs++
			continue
		}
		if eofs == 1 {
			rows = append(rows, string(p))
		}
	}
	assert.Len(t, rows, 2, "both connections listed")

	_, err = c.Write(packet(0, []byte{0x07, 0x04})) // COM_REFRESH(REFRESH_TABLES)
	require.NoError(t, err)
	_, p = readRaw(t, c)
	assert.Equal(t, byte(0x00), p[0], "OK packet, got %q", p)

	kill := binary.LittleEndian.AppendUint32([]byte{0x0c}, victimID) // COM_PROCESS_KILL
	_, err = c.Write(packet(0, kill))
	require.NoError(t, err)
	_, p = readRaw(t, c)
	assert.Equal(t, byte(0x00), p[0], "OK packet, got %q", p)
	require.Eventually(t, func() bool {
		var id uint32
		return victim.QueryRow("SELECT CONNECTION_ID()").Scan(&id) != nil || id != victimID
	}, 5*time.Second, 20*time.Millisecond, "the killed connection must be gone")

	_, err = c.Write(packet(0, []byte{0x0c, 0xff, 0xff, 0xff, 0x7f})) // unknown id
	require.NoError(t, err)
	_, p = readRaw(t, c)
	require.Equal(t, byte(0xff), p[0])
	assert.Equal(t, uint16(1094), binary.LittleEndian.Uint16(p[1:3]))

	_, err = c.Write(packet(0, append([]byte{0x03}, "SELECT 1"...)))
	require.NoError(t, err)
	_, p = readRaw(t, c)
	assert.Equal(t, []byte{1}, p, "SELECT 1 answers with one column")
}

func mustConnector(t *testing.T, cfg *mysql.Config) driver.Connector {
	t.Helper()
	c, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	return c
}
