package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// Report is every figure of one run; it is what --json writes.
type Report struct {
	Command  string         `json:"command"`
	Machine  Machine        `json:"machine"`
	Settings Settings       `json:"settings"`
	Memory   []MemoryResult `json:"memory"`
	KeyTypes []KeyResult    `json:"key_types"`
	Ratios   []Ratio        `json:"ratios"`
	Targets  []Target       `json:"targets"`
	Mixed    *MixedResult   `json:"mixed,omitempty"`
	CRL      *CRLResult     `json:"crl,omitempty"`
}

// Settings are the load parameters of the run.
type Settings struct {
	Quick            bool     `json:"quick"`
	MariaDB          bool     `json:"mariadb"`
	Loops            int      `json:"loops"`
	SecondsPerConfig float64  `json:"seconds_per_configuration"`
	Rounds           int      `json:"rounds"`
	ReloadIntervalMs float64  `json:"reload_interval_ms"`
	IdleReloads      int      `json:"idle_reloads"`
	IdleConns        int      `json:"idle_conns"`
	KeyTypes         []string `json:"key_types"`
	Backends         []string `json:"crypto_backends"`
	KeyExchanges     []string `json:"key_exchanges"`
	SSLDEnv          []string `json:"ssld_env,omitempty"`
	CRL              int      `json:"crl_revoked_serials,omitempty"`
}

func settingsOf(o options) Settings {
	return Settings{Quick: o.quick, MariaDB: o.mariadb, Loops: o.loops, SecondsPerConfig: o.duration.Seconds(),
		Rounds: o.rounds, ReloadIntervalMs: float64(o.reloadInterval.Microseconds()) / 1000,
		IdleReloads: o.idleReloads, IdleConns: o.idleConns, KeyTypes: o.keyTypes,
		Backends: o.backends, KeyExchanges: o.kexes, SSLDEnv: o.ssldEnv, CRL: o.crl}
}

func commandLine() string { return strings.Join(os.Args, " ") }

// KeyResult holds every server's figures for one configuration: the
// certificate key type, the crypto backend that signed (ssld and the bare
// TLS server alike) and the key exchange the clients offered.
type KeyResult struct {
	KeyType     string         `json:"key_type"`
	Backend     string         `json:"crypto_backend"`
	KeyExchange string         `json:"key_exchange"`
	Servers     []ServerResult `json:"servers"`
}

// label names the configuration in tables.
func (k *KeyResult) label() string { return k.KeyType + " " + k.Backend + " " + k.KeyExchange }

// ServerResult is one server under one key type. WithReload and the
// reload latencies are absent for the bare servers (crypto/tls, vitess),
// which have no reload.
type ServerResult struct {
	Server       string         `json:"server"`
	Handshake    *handshakeInfo `json:"handshake,omitempty"`
	Without      *LoadResult    `json:"without_reload"`
	WithReload   *LoadResult    `json:"with_reload,omitempty"`
	ReloadIdle   *Latency       `json:"reload_latency_idle,omitempty"`
	ReloadLoaded *Latency       `json:"reload_latency_loaded,omitempty"`
	// The same load from clients with a TLS session cache.
	Resumption          *LoadResult `json:"session_cache,omitempty"`
	ResumptionReloading *LoadResult `json:"session_cache_with_reload,omitempty"`
}

func (k *KeyResult) server(name string) *ServerResult {
	for i := range k.Servers {
		if k.Servers[i].Server == name {
			return &k.Servers[i]
		}
	}
	return nil
}

// The load phases a ServerResult holds.
const (
	withoutReload = iota
	withReload
	sessionCache
)

// phase returns one phase's figures, nil for a server the run lacks or a
// phase it did not run.
func (sr *ServerResult) phase(p int) *LoadResult {
	if sr == nil {
		return nil
	}
	return [...]*LoadResult{withoutReload: sr.Without, withReload: sr.WithReload, sessionCache: sr.Resumption}[p]
}

// Ratio is one line of the ratio table. Limit is 0 for context-only ratios.
// Config is the configuration (key type, backend, key exchange) or, for a
// ratio across configurations, what is held fixed.
type Ratio struct {
	KeyType string  `json:"key_type"`
	Config  string  `json:"config"`
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit,omitempty"`
}

// Target is one goal of the issue, with the measured value.
type Target struct {
	Name    string  `json:"name"`
	KeyType string  `json:"key_type,omitempty"`
	Config  string  `json:"config,omitempty"`
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit"`
	Unit    string  `json:"unit"`
	Met     bool    `json:"met"`
}

// evaluate fills Ratios and Targets from the measured figures. Targets
// come from the full (like-for-like) configurations only.
func (r *Report) evaluate() {
	r.Ratios, r.Targets = nil, nil
	target := func(name string, k *KeyResult, v, limit float64, unit string) {
		t := Target{Name: name, Value: v, Limit: limit, Unit: unit, Met: v <= limit}
		if k != nil {
			t.KeyType, t.Config = k.KeyType, k.label()
		}
		r.Targets = append(r.Targets, t)
	}
	for i := range r.KeyTypes {
		k := &r.KeyTypes[i]
		s, m, b, v := k.server("ssld"), k.server("mariadb"), k.server("bare-tls"), k.server("bare-vitess")
		ratio := func(name string, num, den *LoadResult, limit float64) {
			if num == nil || den == nil || den.CPUPerConnMs <= 0 {
				return
			}
			v := num.CPUPerConnMs / den.CPUPerConnMs
			r.Ratios = append(r.Ratios, Ratio{KeyType: k.KeyType, Config: k.label(), Name: name, Value: v, Limit: limit})
			if limit > 0 {
				target(name, k, v, limit, "×")
			}
		}
		full := s.WithReload != nil
		limit := 0.0 // ssld / bare is a target in the full configurations only
		if full {
			limit = 1.25
		}
		// A ratio with a server the run lacks (MariaDB without --mariadb) or
		// a phase the configuration did not run is left out.
		for _, q := range []struct {
			name     string
			num, den *LoadResult
			limit    float64
		}{
			{"ssld / MariaDB, CPU per connection", s.Without, m.phase(withoutReload), 0.7},
			{"ssld / MariaDB, CPU per connection, reloading", s.WithReload, m.phase(withReload), 0},
			{"ssld / bare crypto/tls, CPU per connection", s.Without, b.phase(withoutReload), limit},
			// What the MySQL protocol's round trips cost through vitess
			// alone, and what ssld adds on top of them.
			{"bare vitess / bare crypto/tls, CPU per connection", v.phase(withoutReload), b.phase(withoutReload), 0},
			{"ssld / bare vitess, CPU per connection", s.Without, v.phase(withoutReload), 0},
			{"MariaDB / bare crypto/tls, CPU per connection", m.phase(withoutReload), b.phase(withoutReload), 0},
			{"ssld reloading every interval / not, CPU per connection", s.WithReload, s.Without, 1.05},
			{"MariaDB reloading every interval / not, CPU per connection", m.phase(withReload), m.phase(withoutReload), 0},
			{"ssld with session cache / without, CPU per connection", s.Resumption, s.Without, 0},
			{"MariaDB with session cache / without, CPU per connection", m.phase(sessionCache), m.phase(withoutReload), 0},
			{"ssld / MariaDB, CPU per connection, session cache", s.Resumption, m.phase(sessionCache), 0},
		} {
			ratio(q.name, q.num, q.den, q.limit)
		}
		if !full {
			continue
		}
		failed := float64(s.WithReload.Failed) + float64(s.WithReload.ReloadFailed)
		if rr := s.ResumptionReloading; rr != nil {
			failed += float64(rr.Failed) + float64(rr.ReloadFailed)
		}
		target("ssld failed connections while reloading", k, failed, 0, "")
		target("ssld reload p99 under load", k, s.ReloadLoaded.P99Ms, 10, "ms")
	}
	r.crossRatios()
	for _, mr := range r.Memory {
		if mr.Server == "ssld" {
			name := "ssld idle RSS"
			if mr.Backend != "" {
				name += " (" + mr.Backend + ")"
			}
			target(name, nil, float64(mr.IdleRSSKB)/1024, 40, "MiB")
			// Judged on what one more idle connection costs; the figure
			// over the first IdleConns also carries the collector's
			// minimum heap, which does not grow with connections
			// (MemoryResult).
			target(strings.Replace(name, "idle RSS", "RSS per additional idle TLS connection", 1), nil, mr.MarginalPerConnKB, 64, "KiB")
		}
	}
	r.evaluateMixed()
	r.evaluateCRL()
}

// crossRatios compares configurations that differ in one thing: the key
// exchange (what X25519MLKEM768 costs over X25519) or the backend (what
// OpenSSL saves over Go), for ssld and for the bare TLS server.
func (r *Report) crossRatios() {
	find := func(key, backend, kex string) *KeyResult {
		for i := range r.KeyTypes {
			k := &r.KeyTypes[i]
			if k.KeyType == key && k.Backend == backend && k.KeyExchange == kex {
				return k
			}
		}
		return nil
	}
	add := func(num, den *KeyResult, config, what string) {
		for _, srv := range []string{"ssld", "bare-tls"} {
			a, b := num.server(srv), den.server(srv)
			if a == nil || b == nil || a.Without == nil || b.Without == nil || b.Without.CPUPerConnMs <= 0 {
				continue
			}
			name := srv
			if srv == "bare-tls" {
				name = "bare crypto/tls"
			}
			r.Ratios = append(r.Ratios, Ratio{KeyType: num.KeyType, Config: config,
				Name: name + " " + what + ", CPU per connection", Value: a.Without.CPUPerConnMs / b.Without.CPUPerConnMs})
		}
	}
	for i := range r.KeyTypes {
		k := &r.KeyTypes[i]
		if k.KeyExchange == kexDefault {
			if x := find(k.KeyType, k.Backend, kexX25519); x != nil {
				add(k, x, k.KeyType+" "+k.Backend, "default key exchange ("+groupOf(k)+") / X25519")
			}
		}
		if k.Backend == "openssl" {
			if g := find(k.KeyType, "go", k.KeyExchange); g != nil {
				add(k, g, k.KeyType+" "+k.KeyExchange, "OpenSSL / Go signer")
			}
		}
	}
}

// groupOf is the key exchange ssld negotiated in k, as the client saw it.
func groupOf(k *KeyResult) string {
	if s := k.server("ssld"); s != nil && s.Handshake != nil {
		return s.Handshake.Group
	}
	return "?"
}

// print writes the human-readable report: the figures per key type, the
// ratios, memory, and the targets.
func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "\nssld-bench: %d× %s, %s; %d loops, %.3g s per configuration in %d round(s), reload every %.0f ms; crypto backends %s; key exchanges %s\n",
		r.Machine.NProc, r.Machine.CPUModel, r.Machine.GoVersion, r.Settings.Loops, r.Settings.SecondsPerConfig,
		r.Settings.Rounds, r.Settings.ReloadIntervalMs, strings.Join(r.Settings.Backends, ","), strings.Join(r.Settings.KeyExchanges, ","))
	r.printConfigurations(w)
	r.printMixed(w)
	r.printCRL(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nratio\tconfiguration\tvalue\ttarget")
	for _, ra := range r.Ratios {
		t := "context"
		if ra.Limit > 0 {
			t = fmt.Sprintf("≤ %.2f %s", ra.Limit, metWord(ra.Value <= ra.Limit))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%s\n", ra.Name, ra.Config, ra.Value, t)
	}
	tw.Flush()

	if len(r.Memory) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nmemory\tidle RSS KiB\tidle conns n\tRSS with n KiB\tKiB per conn, first n\tRSS with 2n KiB\tKiB per conn, next n\tGo stacks/heap, first n\tGo stacks/heap, next n\tidle RSS after load KiB")
		for _, m := range r.Memory {
			split, next := "-", "-"
			if m.StackPerConnKB > 0 {
				split = fmt.Sprintf("%.1f / %.1f", m.StackPerConnKB, m.HeapPerConnKB)
				next = fmt.Sprintf("%.1f / %.1f", m.MarginalStackPerConnKB, m.MarginalHeapPerConnKB)
			}
			srv := m.Server
			if m.Backend != "" {
				srv += " (" + m.Backend + ")"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%d\t%.1f\t%s\t%s\t%d\n", srv, m.IdleRSSKB, m.IdleConns, m.WithConnsRSSKB, m.PerConnKB,
				m.WithTwiceRSSKB, m.MarginalPerConnKB, split, next, m.IdleAfterLoadRSSKB)
		}
		tw.Flush()
	}

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\ntarget\tconfiguration\tvalue\tlimit\t")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%.3g %s\t≤ %g %s\t%s\n", t.Name, t.Config, t.Value, t.Unit, t.Limit, t.Unit, metWord(t.Met))
	}
	tw.Flush()
}

// printConfigurations writes the figures of every configuration: new
// connections and reloads, then the session cache. A client-certificate
// run has none.
func (r *Report) printConfigurations(w io.Writer) {
	if len(r.KeyTypes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nkey\tserver\tTLS\tCPU ms/conn\tconn/s\tfailed\tCPU ms/conn reloading\tconn/s\tfailed\treloads\treload ms idle p50/p99/max\treload ms loaded p50/p99/max")
	for _, k := range r.KeyTypes {
		for _, s := range k.Servers {
			tlsDesc := ""
			if s.Handshake != nil {
				tlsDesc = s.Handshake.Version + " " + s.Handshake.Group
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.0f\t%d", k.label(), s.Server, tlsDesc, s.Without.CPUPerConnMs,
				s.Without.ConnsPerSec, s.Without.Failed)
			if s.WithReload != nil {
				fmt.Fprintf(tw, "\t%.3f\t%.0f\t%d\t%d", s.WithReload.CPUPerConnMs, s.WithReload.ConnsPerSec,
					s.WithReload.Failed, s.WithReload.Reloads)
			} else {
				fmt.Fprint(tw, "\t-\t-\t-\t-")
			}
			fmt.Fprintf(tw, "\t%s\t%s\n", latencyString(s.ReloadIdle), latencyString(s.ReloadLoaded))
		}
	}
	tw.Flush()

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nsession cache\tserver\tCPU ms/conn\tconn/s\tresumed\tfailed\tCPU ms/conn reloading\tconn/s\tresumed\tfailed")
	for _, k := range r.KeyTypes {
		for _, s := range k.Servers {
			if s.Resumption == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.0f\t%.1f%%\t%d", k.label(), s.Server, s.Resumption.CPUPerConnMs,
				s.Resumption.ConnsPerSec, 100*s.Resumption.ResumedShare, s.Resumption.Failed)
			if rr := s.ResumptionReloading; rr != nil {
				fmt.Fprintf(tw, "\t%.3f\t%.0f\t%.1f%%\t%d\n", rr.CPUPerConnMs, rr.ConnsPerSec, 100*rr.ResumedShare, rr.Failed+int64(rr.ReloadFailed))
			} else {
				fmt.Fprint(tw, "\t-\t-\t-\t-\n")
			}
		}
	}
	tw.Flush()
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func latencyString(l *Latency) string {
	if l == nil {
		return "-"
	}
	s := fmt.Sprintf("%.2f/%.2f/%.2f", l.P50Ms, l.P99Ms, l.MaxMs)
	if l.Failed > 0 {
		s += fmt.Sprintf(" (%d failed)", l.Failed)
	}
	return s
}
