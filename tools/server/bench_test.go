package server

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/session"
)

// BenchmarkSessionRequests measures small requests (tracker queries) over
// 100 concurrent logged-in sessions on loopback TLS, and reports
// requests/s and p50/p99 latency.
func BenchmarkSessionRequests(b *testing.B) {
	e := startEnv(b, "", "", nil)
	const sessions = 100
	clients := make([]*session.Client, sessions)
	for i := range clients {
		clients[i] = e.dial(e.device("bench-" + fmtInt(i)))
	}
	id := e.cat.order[0]
	ctx := context.Background()
	for _, c := range clients[:20] {
		if err := c.Announce(ctx, ":7450", e.cat.order[:1]); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([][]time.Duration, sessions)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := c.Peers(ctx, id); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
