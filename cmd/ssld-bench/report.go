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
	X25519Only       bool     `json:"x25519_only"`
	SSLDEnv          []string `json:"ssld_env,omitempty"`
}

func settingsOf(o options) Settings {
	return Settings{Quick: o.quick, MariaDB: o.mariadb, Loops: o.loops, SecondsPerConfig: o.duration.Seconds(),
		Rounds: o.rounds, ReloadIntervalMs: float64(o.reloadInterval.Microseconds()) / 1000,
		IdleReloads: o.idleReloads, IdleConns: o.idleConns, KeyTypes: o.keyTypes,
		X25519Only: o.x25519, SSLDEnv: o.ssldEnv}
}

func commandLine() string { return strings.Join(os.Args, " ") }

// KeyResult holds every server's figures for one certificate key type.
type KeyResult struct {
	KeyType string         `json:"key_type"`
	Servers []ServerResult `json:"servers"`
}

// ServerResult is one server under one key type. WithReload and the
// reload latencies are absent for the bare TLS server, which has no reload.
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

// Ratio is one line of the ratio table. Limit is 0 for context-only ratios.
type Ratio struct {
	KeyType string  `json:"key_type"`
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit,omitempty"`
}

// Target is one goal of the issue, with the measured value.
type Target struct {
	Name    string  `json:"name"`
	KeyType string  `json:"key_type,omitempty"`
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit"`
	Unit    string  `json:"unit"`
	Met     bool    `json:"met"`
}

// evaluate fills Ratios and Targets from the measured figures.
func (r *Report) evaluate() {
	r.Ratios, r.Targets = nil, nil
	target := func(name, key string, v, limit float64, unit string) {
		r.Targets = append(r.Targets, Target{Name: name, KeyType: key, Value: v, Limit: limit, Unit: unit, Met: v <= limit})
	}
	for _, k := range r.KeyTypes {
		s, m, b := k.server("ssld"), k.server("mariadb"), k.server("bare-tls")
		ratio := func(name string, num, den, limit float64) {
			if den > 0 {
				r.Ratios = append(r.Ratios, Ratio{KeyType: k.KeyType, Name: name, Value: num / den, Limit: limit})
				if limit > 0 {
					target(name, k.KeyType, num/den, limit, "×")
				}
			}
		}
		if m != nil {
			ratio("ssld / MariaDB, CPU per connection", s.Without.CPUPerConnMs, m.Without.CPUPerConnMs, 0.7)
			ratio("ssld / MariaDB, CPU per connection, reloading", s.WithReload.CPUPerConnMs, m.WithReload.CPUPerConnMs, 0)
		}
		ratio("ssld / bare crypto/tls, CPU per connection", s.Without.CPUPerConnMs, b.Without.CPUPerConnMs, 1.25)
		if m != nil {
			ratio("MariaDB / bare crypto/tls, CPU per connection", m.Without.CPUPerConnMs, b.Without.CPUPerConnMs, 0)
		}
		ratio("ssld reloading every interval / not, CPU per connection", s.WithReload.CPUPerConnMs, s.Without.CPUPerConnMs, 1.05)
		if m != nil {
			ratio("MariaDB reloading every interval / not, CPU per connection", m.WithReload.CPUPerConnMs, m.Without.CPUPerConnMs, 0)
		}
		if s.Resumption != nil {
			ratio("ssld with session cache / without, CPU per connection", s.Resumption.CPUPerConnMs, s.Without.CPUPerConnMs, 0)
			if m != nil && m.Resumption != nil {
				ratio("MariaDB with session cache / without, CPU per connection", m.Resumption.CPUPerConnMs, m.Without.CPUPerConnMs, 0)
				ratio("ssld / MariaDB, CPU per connection, session cache", s.Resumption.CPUPerConnMs, m.Resumption.CPUPerConnMs, 0)
			}
		}
		failed := float64(s.WithReload.Failed) + float64(s.WithReload.ReloadFailed)
		if rr := s.ResumptionReloading; rr != nil {
			failed += float64(rr.Failed) + float64(rr.ReloadFailed)
		}
		target("ssld failed connections while reloading", k.KeyType, failed, 0, "")
		target("ssld reload p99 under load", k.KeyType, s.ReloadLoaded.P99Ms, 10, "ms")
	}
	for _, mr := range r.Memory {
		if mr.Server == "ssld" {
			target("ssld idle RSS", "", float64(mr.IdleRSSKB)/1024, 40, "MiB")
			target("ssld RSS per idle TLS connection", "", mr.PerConnKB, 64, "KiB")
		}
	}
}

// print writes the human-readable report: the figures per key type, the
// ratios, memory, and the targets.
func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "\nssld-bench: %d× %s, %s; %d loops, %.0f s per configuration in %d round(s), reload every %.0f ms\n",
		r.Machine.NProc, r.Machine.CPUModel, r.Machine.GoVersion, r.Settings.Loops, r.Settings.SecondsPerConfig,
		r.Settings.Rounds, r.Settings.ReloadIntervalMs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nkey\tserver\tTLS\tCPU ms/conn\tconn/s\tfailed\tCPU ms/conn reloading\tconn/s\tfailed\treloads\treload ms idle p50/p99/max\treload ms loaded p50/p99/max")
	for _, k := range r.KeyTypes {
		for _, s := range k.Servers {
			tlsDesc := ""
			if s.Handshake != nil {
				tlsDesc = s.Handshake.Version + " " + s.Handshake.Group
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.0f\t%d", k.KeyType, s.Server, tlsDesc, s.Without.CPUPerConnMs,
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
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.0f\t%.1f%%\t%d", k.KeyType, s.Server, s.Resumption.CPUPerConnMs,
				s.Resumption.ConnsPerSec, 100*s.Resumption.ResumedShare, s.Resumption.Failed)
			if rr := s.ResumptionReloading; rr != nil {
				fmt.Fprintf(tw, "\t%.3f\t%.0f\t%.1f%%\t%d\n", rr.CPUPerConnMs, rr.ConnsPerSec, 100*rr.ResumedShare, rr.Failed+int64(rr.ReloadFailed))
			} else {
				fmt.Fprint(tw, "\t-\t-\t-\t-\n")
			}
		}
	}
	tw.Flush()

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nratio\tkey\tvalue\ttarget")
	for _, ra := range r.Ratios {
		t := "context"
		if ra.Limit > 0 {
			t = fmt.Sprintf("≤ %.2f %s", ra.Limit, metWord(ra.Value <= ra.Limit))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%s\n", ra.Name, ra.KeyType, ra.Value, t)
	}
	tw.Flush()

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nmemory\tidle RSS KiB\tRSS with idle conns KiB\tidle conns\tKiB per idle conn\tof which Go stacks/heap in use\tidle RSS after load KiB")
	for _, m := range r.Memory {
		split := "-"
		if m.StackPerConnKB > 0 {
			split = fmt.Sprintf("%.1f / %.1f", m.StackPerConnKB, m.HeapPerConnKB)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%s\t%d\n", m.Server, m.IdleRSSKB, m.WithConnsRSSKB, m.IdleConns, m.PerConnKB, split, m.IdleAfterLoadRSSKB)
	}
	tw.Flush()

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\ntarget\tkey\tvalue\tlimit\t")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%.3g %s\t≤ %g %s\t%s\n", t.Name, t.KeyType, t.Value, t.Unit, t.Limit, t.Unit, metWord(t.Met))
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
