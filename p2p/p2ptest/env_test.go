package p2ptest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/p2p/p2ptest"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bps is the test tracks' rate: 20 000 bytes per second of audio.
const bps = 20_000

const step = 100 * time.Millisecond

// streamCfg: small buffer thresholds so the origin's share at the start is
// small on a network that is infinitely fast in virtual time.
var streamCfg = stream.Config{VeryLow: time.Second, Low: 2 * time.Second, WellFilled: 3 * time.Second, Urgent: time.Second}

type env struct {
	t       *testing.T
	ca      *p2ptest.CA
	tracker *p2ptest.Tracker
	clock   *streamtest.Clock
	cat     *streamtest.Catalog
	origin  *streamtest.Origin
	down    atomic.Bool
	// limit > 0: the origin refuses (503) ranges starting at or past it.
	limit atomic.Int64
	busy  atomic.Int64 // origin requests being served
	nodes []*p2ptest.Speaker
	url   string
	// onDry, if set, runs on every 10 ms of virtual waiting in a dry step
	// of play, with the playback time of that step.
	onDry func(at time.Duration)
}

func newEnv(t *testing.T, tracks ...*streamtest.Track) *env {
	e := &env{t: t, ca: p2ptest.NewCA(t), tracker: p2ptest.NewTracker(), clock: streamtest.NewClock(),
		cat: streamtest.NewCatalog(tracks...), origin: streamtest.NewOrigin(tracks...)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.busy.Add(1)
		defer e.busy.Add(-1)
		var start int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start); err != nil {
			start = 0
		}
		if e.down.Load() || (e.limit.Load() > 0 && start >= e.limit.Load()) {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		e.origin.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *env) speaker(name string) *p2ptest.Speaker {
	sp := p2ptest.NewSpeaker(e.t, name, p2ptest.SpeakerOpts{CA: e.ca, Tracker: e.tracker, Catalog: e.cat,
		OriginURL: e.url, Clock: e.clock, Stream: streamCfg})
	e.nodes = append(e.nodes, sp)
	return sp
}

// quiesce waits (real time, bounded) until no request is in flight to the
// origin or between peers, so that loopback I/O takes no virtual time.
// A stalled peer keeps its requests: the bound lets virtual time go on.
func (e *env) quiesce() {
	waitFor(func() bool {
		if e.busy.Load() != 0 {
			return false
		}
		for _, sp := range e.nodes {
			if sp.Node.InFlight() != 0 || sp.OriginInFlight() != 0 {
				return false
			}
		}
		return true
	}, 100*time.Millisecond)
}

// seed gives sp a complete copy of tr and announces it to the tracker.
func (e *env) seed(sp *p2ptest.Speaker, tr *streamtest.Track) {
	sp.Seed(e.t, tr.ID, tr.Raw, tr.Key, tr.Cipher)
	e.tracker.Announce(tr.ID, sp.Holder())
}

type playResult struct {
	plain []byte
	dry   int
}

// play plays st to the end on the manual clock. Before each step of
// virtual playback it waits (in real time, the network being loopback) for
// that step's audio; if it does not come, the step is dry (a stutter) and
// virtual time advances in 10 ms steps until it does.
func (e *env) play(st *stream.Stream, hook func(at time.Duration)) playResult {
	e.t.Helper()
	var res playResult
	size := st.Manifest().Size
	per := int(float64(bps) * step.Seconds())
	var at time.Duration
	for int64(len(res.plain)) < size {
		if hook != nil {
			hook(at)
		}
		need := min(per, int(size)-len(res.plain))
		e.quiesce()
		if !waitFor(func() bool { return buffered(st) >= need }, 2*time.Second) {
			res.dry++
			for wait := 0; buffered(st) < need; wait++ {
				if wait > 20_000 {
					e.t.Fatalf("at %v: no data after %v of virtual waiting", at, time.Duration(wait)*10*time.Millisecond)
				}
				e.clock.Advance(10 * time.Millisecond)
				if e.onDry != nil {
					e.onDry(at)
				}
				e.quiesce()
				waitFor(func() bool { return buffered(st) >= need }, 5*time.Millisecond)
			}
		}
		buf := make([]byte, need)
		if _, err := io.ReadFull(st, buf); err != nil {
			e.t.Fatalf("at %v: read: %v", at, err)
		}
		res.plain = append(res.plain, buf...)
		e.clock.Advance(step)
		at += step
	}
	return res
}

func buffered(st *stream.Stream) int { return int(st.BufferedAhead().Seconds()*bps + 0.5) }

// waitFor polls cond in real time for up to d. Used only for effects of
// real network I/O on loopback; no test asserts on how long it took.
func waitFor(cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Microsecond)
	}
	return true
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !waitFor(cond, 20*time.Second) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func open(t *testing.T, s *stream.Streamer, tr *streamtest.Track) *stream.Stream {
	t.Helper()
	st, err := s.Open(context.Background(), tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func checkPlain(t *testing.T, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("plaintext differs at byte %d", i)
		}
	}
}

// find has sp search for tr (tracker and overlay) and waits until n
// holders are connected candidates.
func (e *env) find(sp *p2ptest.Speaker, tr *streamtest.Track, n int) {
	e.t.Helper()
	sp.Node.Search(context.Background(), tr.ID)
	eventually(e.t, "holders found and connected", func() bool { return len(sp.Node.Candidates(tr.ID)) >= n })
}

// streamCfgOriginAhead is the streamer's origin read-ahead limit with peers
// present (streamCfg leaves it at the default).
var streamCfgOriginAhead = stream.DefaultConfig().OriginAhead
