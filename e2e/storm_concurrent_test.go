package e2e

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ssld/ssld/internal/pki"
	"github.com/ssld/ssld/tlsctx"
)

// TestStormConcurrentReloads: in each round 16 sessions (12 over TLS, 4 on
// the Unix socket) issue SSL_RELOAD at the same instant while 4 SIGHUP-path
// reloads (node.reload(ctx, "signal"), what the SIGHUP handler calls) fire.
// Reloads are serialised: in a round after the files changed exactly one
// reload changes anything, so the generation rises by exactly one; in a
// round with a broken key every reload fails cleanly and the generation
// stays. A poller checks throughout that the generation never goes back
// and that the attempt time is never before the success time, over SQL and
// through tlsctx. Run with -race (scripts/test does).
func TestStormConcurrentReloads(t *testing.T) {
	rounds := 12
	if *soak {
		rounds = 600
	}
	tn := newTestNode(t, "")
	ctx := ctxT(t)
	if *soak {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
	}
	var sessions []*sql.Conn
	name := tn.TLSName(nil)
	for i := 0; i < 16; i++ {
		db := tn.DB("admin", adminPW, name)
		if i >= 12 {
			db = tn.SocketDB("admin", adminPW)
		}
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		sessions = append(sessions, c)
	}

	// The poller: generation monotonic, attempt >= success, seen over the
	// wire and in the manager.
	monitor := tn.DB("monitor", monitorPW, name)
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	polls, tornRows := 0, 0
	go func() {
		defer pwg.Done()
		var lastGen uint64
		var lastSQLGen int
		for pollCtx.Err() == nil {
			st := tn.N.TLS().Status()
			if st.Generation < lastGen {
				t.Errorf("generation went back: %d after %d", st.Generation, lastGen)
			}
			lastGen = st.Generation
			if st.LastAttempt.Before(st.LastSuccess) {
				t.Errorf("attempt %v before success %v", st.LastAttempt, st.LastSuccess)
			}
			// Success first, then attempt, in two statements: both only
			// rise, so the later-read attempt is never before the success.
			succ, err1 := queryVar(pollCtx, monitor, "ssl_last_successful_reload_time")
			att, err2 := queryVar(pollCtx, monitor, "ssl_last_reload_attempt_time")
			gen, err3 := queryVar(pollCtx, monitor, "ssl_reload_generation")
			if err := errors.Join(err1, err2, err3); err != nil {
				if pollCtx.Err() == nil {
					t.Errorf("poll: %v", err)
				}
				return
			}
			if att < succ {
				t.Errorf("ssl_last_reload_attempt_time %q < ssl_last_successful_reload_time %q read before it", att, succ)
			}
			g, err := strconv.Atoi(gen)
			if err != nil || g < lastSQLGen {
				t.Errorf("ssl_reload_generation %q after %d", gen, lastSQLGen)
			}
			lastSQLGen = g
			// One SHOW VARIABLES reads each variable from the live state
			// separately (sysvars calls Manager.Status per variable), so
			// its rows can come from two reloads. Counted, not failed:
			// see docs/reliability.md.
			if vars, err := showVariables(pollCtx, monitor, "SHOW VARIABLES LIKE 'ssl_last_%'"); err == nil &&
				vars["ssl_last_reload_attempt_time"] < vars["ssl_last_successful_reload_time"] {
				tornRows++
			}
			polls++
		}
	}()

	keyPath := filepath.Join(tn.Dir, "certs/server.key")
	for r := 1; r <= rounds; r++ {
		before := tn.N.TLS().Status()
		oldSerial := tn.ServedSerial()
		broken := r%4 == 0
		var want string
		if broken {
			require.NoError(t, pki.WriteFile(keyPath, []byte("not a key\n"), 0o600))
		} else {
			want = tn.Rotate()
		}

		start := make(chan struct{})
		errs := make([]error, len(sessions)+4)
		var wg sync.WaitGroup
		for i, c := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = c.ExecContext(ctx, "SSL_RELOAD")
			}()
		}
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[len(sessions)+i] = tn.N.Reload(ctx, "signal")
			}()
		}
		close(start)
		wg.Wait()

		after := tn.N.TLS().Status()
		if broken {
			for i, err := range errs {
				require.Error(t, err, "round %d reload %d: a broken key must fail", r, i)
				if i < len(sessions) {
					me := sqlErr(t, err)
					contains(t, me.Message, "ssl_key", "previous TLS contexts remain in use")
				} else {
					var re *tlsctx.ReloadError
					require.True(t, errors.As(err, &re), "signal reload error %T", err)
					assert.Equal(t, "ssl_key", re.Setting)
				}
			}
			assert.Equal(t, before.Generation, after.Generation, "round %d: failed reloads keep the generation", r)
			assert.Equal(t, oldSerial, tn.ServedSerial(), "round %d: old certificate still served", r)
			assert.Contains(t, after.LastError, "ssl_key")
			assert.True(t, after.LastAttempt.After(after.LastSuccess), "round %d: attempt after the last success", r)
			continue
		}
		for i, err := range errs {
			require.NoError(t, err, "round %d reload %d", r, i)
		}
		assert.Equal(t, before.Generation+1, after.Generation, "round %d: exactly one of %d reloads changed anything", r, len(errs))
		assert.Equal(t, want, tn.ServedSerial(), "round %d", r)
		assert.Empty(t, after.LastError)
		assert.Equal(t, after.LastAttempt, after.LastSuccess)
	}
	stopPoll()
	pwg.Wait()
	final := tn.N.TLS().Status()
	t.Logf("%d rounds of %d simultaneous reloads; generation %d; %d polls saw it monotonic; %d single SHOW VARIABLES results mixed two reloads (attempt < success)",
		rounds, len(sessions)+4, final.Generation, polls, tornRows)
	changing := uint64(rounds - rounds/4)
	assert.Equal(t, 1+changing, final.Generation, "generation = 1 + the number of changing rounds")
	assert.Equal(t, strconv.FormatUint(final.Generation, 10), variable(t, monitor, "ssl_reload_generation"))
}

func queryVar(ctx context.Context, db *sql.DB, name string) (string, error) {
	var k, v string
	err := db.QueryRowContext(ctx, "SHOW VARIABLES LIKE '"+name+"'").Scan(&k, &v)
	return v, err
}
