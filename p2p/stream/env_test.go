package stream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
	"github.com/starling-audio/starling/p2p/track"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bps is the test tracks' rate: 20 000 bytes per second of audio (160 kbit/s).
const bps = 20_000

// newTrack makes a track of secs seconds at bps.
func newTrack(t *testing.T, secs int) *streamtest.Track {
	return streamtest.NewTrack(t, secs*bps, uint32(secs*1000))
}

type env struct {
	t      *testing.T
	clock  *streamtest.Clock
	store  *streamtest.Store
	cat    *streamtest.Catalog
	origin *streamtest.Origin
	down   atomic.Bool // origin answers 503
	peers  *streamtest.Peers
	gate   *streamtest.Gate
	fakes  []*streamtest.Peer
	s      *stream.Streamer
	runErr chan error
}

type envOpts struct {
	cfg     stream.Config
	noPeers bool
	handler func(http.Handler) http.Handler // wraps the origin
	catalog func(stream.Catalog) stream.Catalog
}

func newEnv(t *testing.T, o envOpts, tracks ...*streamtest.Track) *env {
	t.Helper()
	e := &env{t: t, clock: streamtest.NewClock(), store: streamtest.NewStore(), cat: streamtest.NewCatalog(tracks...),
		origin: streamtest.NewOrigin(tracks...), peers: streamtest.NewPeers(), gate: &streamtest.Gate{}, runErr: make(chan error, 1)}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		e.origin.ServeHTTP(w, r)
	})
	if o.handler != nil {
		h = o.handler(h)
	}
	srv := httptest.NewServer(h)
	oc, err := origin.New(origin.Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var cat stream.Catalog = e.cat
	if o.catalog != nil {
		cat = o.catalog(cat)
	}
	d := stream.Deps{Store: e.store, Catalog: cat, Origin: oc, Uploads: e.gate, Clock: e.clock}
	if !o.noPeers {
		d.Peers = e.peers
	}
	if e.s, err = stream.New(o.cfg, d); err != nil {
		t.Fatal(err)
	}
	go func() { e.runErr <- e.s.Run(context.Background()) }()
	t.Cleanup(func() {
		e.s.Close()
		if err := <-e.runErr; err != nil && !errors.Is(err, stream.ErrClosed) {
			t.Errorf("Run: %v", err)
		}
		oc.Close()
		srv.Close()
	})
	return e
}

// settle lets the scheduler and the fake peers released by the last clock
// advance finish their work: it repeats Streamer.Settle until the bytes the
// peers served and the bytes the scheduler booked stop changing.
func (e *env) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last := [3]int64{-1}
	for range 50 {
		if err := e.s.Settle(ctx); err != nil {
			e.t.Fatalf("scheduler did not settle: %v", err)
		}
		st := e.s.Stats()
		var booked int64
		for _, p := range st.Peers {
			booked += p.Bytes
		}
		now := [3]int64{e.served(), booked + st.HashFailures, st.BytesPeers}
		if now == last {
			return
		}
		last = now
		runtime.Gosched()
	}
}

func (e *env) served() int64 {
	var n int64
	for _, p := range e.fakes {
		n += p.Served.Load()
	}
	return n
}

// addPeer makes p a candidate for the tracks and lets settle watch it.
func (e *env) addPeer(p *streamtest.Peer, ids ...track.ID) {
	e.fakes = append(e.fakes, p)
	for _, id := range ids {
		e.peers.Add(id, p)
	}
}

func (e *env) open(id track.ID) *stream.Stream {
	e.t.Helper()
	st, err := e.s.Open(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

// playResult is what play observed.
type playResult struct {
	plain []byte
	dry   int // steps whose audio was not downloaded when playback got there
	steps int
}

// play plays st to the end on the manual clock: per step it lets the
// scheduler settle, checks that the step's audio is downloaded (else the
// step is "dry": a stutter), reads it, and advances the clock by step.
// hook runs before each step with the playback time.
func (e *env) play(st *stream.Stream, step time.Duration, hook func(at time.Duration)) playResult {
	e.t.Helper()
	var res playResult
	size := st.Manifest().Size
	per := int(float64(bps) * step.Seconds())
	start := e.clock.Now()
	at := func() time.Duration { return e.clock.Now().Sub(start) }
	for int64(len(res.plain)) < size {
		if hook != nil {
			hook(at())
		}
		e.settle()
		need := min(per, int(size)-len(res.plain))
		if !e.available(st, need) {
			res.dry++
			e.t.Logf("dry at %v (buffered %v)", at(), st.BufferedAhead())
			for wait := 0; !e.available(st, need); wait++ {
				if wait > 100_000 {
					e.t.Fatalf("at %v: no data for %v of virtual waiting", at(), time.Duration(wait)*10*time.Millisecond)
				}
				e.clock.Advance(10 * time.Millisecond)
				if hook != nil {
					hook(at())
				}
				e.settle()
			}
		}
		buf := make([]byte, need)
		if _, err := io.ReadFull(st, buf); err != nil {
			e.t.Fatalf("at %v: read: %v", at(), err)
		}
		res.plain = append(res.plain, buf...)
		res.steps++
		e.clock.Advance(step)
	}
	return res
}

// available reports whether need bytes are downloaded at the read position,
// giving peer goroutines already released by the clock a few chances to land.
func (e *env) available(st *stream.Stream, need int) bool {
	for range 5 {
		if int(st.BufferedAhead().Seconds()*bps+0.5) >= need {
			return true
		}
		runtime.Gosched()
		e.settle()
	}
	return false
}

// eventually polls cond (for effects that happen off the manual clock).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
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
