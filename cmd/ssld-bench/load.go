package main

import (
	"context"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is one measured load phase against one server process, or the
// sum of several (see add).
type LoadResult struct {
	Seconds            float64 `json:"seconds"`
	Conns              int64   `json:"connections"`
	Failed             int64   `json:"failed_connections"`
	ServerCPUSeconds   float64 `json:"server_cpu_seconds"`
	CPUPerConnMs       float64 `json:"server_cpu_ms_per_conn"`
	ConnsPerSec        float64 `json:"conns_per_sec"`
	ClientCPUPerConnMs float64 `json:"client_cpu_ms_per_conn"`
	Resumed            int64   `json:"resumed_connections,omitempty"`
	ResumedShare       float64 `json:"resumed_share,omitempty"`
	Reloads            int     `json:"reloads,omitempty"`
	ReloadFailed       int     `json:"reload_failures,omitempty"`
	FirstError         string  `json:"first_error,omitempty"`

	clientCPUSeconds float64
}

// add accumulates r into l and recomputes the rates.
func (l *LoadResult) add(r LoadResult) {
	l.Seconds += r.Seconds
	l.Conns += r.Conns
	l.Failed += r.Failed
	l.ServerCPUSeconds += r.ServerCPUSeconds
	l.clientCPUSeconds += r.clientCPUSeconds
	l.Resumed += r.Resumed
	l.Reloads += r.Reloads
	l.ReloadFailed += r.ReloadFailed
	if l.FirstError == "" {
		l.FirstError = r.FirstError
	}
	if l.Conns > 0 {
		l.CPUPerConnMs = l.ServerCPUSeconds * 1000 / float64(l.Conns)
		l.ClientCPUPerConnMs = l.clientCPUSeconds * 1000 / float64(l.Conns)
		l.ResumedShare = float64(l.Resumed) / float64(l.Conns)
	}
	if l.Seconds > 0 {
		l.ConnsPerSec = float64(l.Conns) / l.Seconds
	}
}

// load is one phase: loops goroutines call connect until duration has
// passed; if reload is set, it runs every interval meanwhile.
type load struct {
	pid      int
	loops    int
	duration time.Duration
	connect  func(context.Context) error
	reload   func(context.Context) (time.Duration, error) // nil: no reloads
	interval time.Duration
	resumed  *atomic.Int64 // counts resumed sessions of connect; nil: not counted
}

// reading is what a phase reads at its start and at its end: the server's
// CPU time, the bench's own, and the resumed sessions counted so far.
type reading struct {
	server, self time.Duration
	resumed      int64
}

func (p load) read() (reading, error) {
	var r reading
	var err error
	if r.server, err = cpuTime(p.pid); err != nil {
		return r, err
	}
	r.self, _ = cpuTime(os.Getpid())
	if p.resumed != nil {
		r.resumed = p.resumed.Load()
	}
	return r, nil
}

// run measures the phase. Every wait is bounded: the loops stop at the
// deadline (or when ctx ends) and each connection has a 10 s timeout.
func (p load) run(ctx context.Context) (LoadResult, []time.Duration, error) {
	r0, err := p.read()
	if err != nil {
		return LoadResult{}, nil, err
	}
	start := time.Now()
	deadline := start.Add(p.duration)
	var conns, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	for i := 0; i < p.loops; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := p.connect(cctx)
				cancel()
				if err != nil {
					failed.Add(1)
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
					continue
				}
				conns.Add(1)
			}
		}()
	}
	var lat []time.Duration
	var reloadFailed int
	if p.reload != nil {
		lat, reloadFailed = reloadEvery(ctx, p.reload, p.interval, deadline)
	}
	wg.Wait()
	elapsed := time.Since(start)
	r1, err := p.read()
	if err != nil {
		return LoadResult{}, nil, err
	}
	var r LoadResult
	r.add(LoadResult{Resumed: r1.resumed - r0.resumed, Seconds: elapsed.Seconds(), Conns: conns.Load(), Failed: failed.Load(),
		ServerCPUSeconds: (r1.server - r0.server).Seconds(), clientCPUSeconds: (r1.self - r0.self).Seconds(),
		Reloads: len(lat) + reloadFailed, ReloadFailed: reloadFailed})
	if s := firstErr.Load(); s != nil {
		r.FirstError = *s
	}
	return r, lat, ctx.Err()
}

// reloadEvery calls reload every interval until deadline and returns the
// latencies of the ones that succeeded and the number that failed. A reload
// slower than interval delays the next one (ticks are not queued).
func reloadEvery(ctx context.Context, reload func(context.Context) (time.Duration, error),
	interval time.Duration, deadline time.Time) ([]time.Duration, int) {
	var lat []time.Duration
	failed := 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return lat, failed
		case now := <-t.C:
			if now.After(deadline) {
				return lat, failed
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		d, err := reload(rctx)
		cancel()
		if err != nil {
			failed++
			continue
		}
		lat = append(lat, d)
	}
}

// Latency summarises reload statement latencies, in milliseconds.
type Latency struct {
	N      int     `json:"n"`
	Failed int     `json:"failed"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// latency summarises d with the nearest-rank percentile.
func latency(d []time.Duration, failed int) Latency {
	l := Latency{N: len(d), Failed: failed}
	if len(d) == 0 {
		return l
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[max(0, min(len(s)-1, i))])
	}
	l.P50Ms, l.P99Ms, l.MaxMs = rank(0.50), rank(0.99), ms(s[len(s)-1])
	return l
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// turn is one server of an interleaved comparison: its load's figures are
// added to *out, and the CPU per connection of each round to *rounds when
// it is not nil.
type turn struct {
	name    string
	pid     int
	connect func(context.Context) error
	out     **LoadResult
	rounds  *[]float64
}

// interleave warms each server up, then runs o.rounds rounds in which the
// servers take turns (o.duration split among the rounds), so that a drift
// of the machine hits them all alike; done is told of every round.
func interleave(ctx context.Context, o options, turns []turn, done func(round int, t turn, r LoadResult)) error {
	for _, t := range turns {
		if _, _, err := (load{pid: t.pid, loops: o.loops, duration: o.warmup, connect: t.connect}).run(ctx); err != nil {
			return err
		}
	}
	phase := o.duration / time.Duration(o.rounds)
	for round := 0; round < o.rounds; round++ {
		for _, t := range turns {
			r, _, err := (load{pid: t.pid, loops: o.loops, duration: phase, connect: t.connect}).run(ctx)
			if err != nil {
				return err
			}
			if *t.out == nil {
				*t.out = &LoadResult{}
			}
			(*t.out).add(r)
			if t.rounds != nil {
				*t.rounds = append(*t.rounds, r.CPUPerConnMs)
			}
			done(round, t, r)
		}
	}
	return nil
}
