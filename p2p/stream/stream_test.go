package stream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
	"github.com/starling-audio/starling/p2p/track"
)

const step = 100 * time.Millisecond

func TestOriginOnly(t *testing.T) {
	tr := newTrack(t, 30)
	e := newEnv(t, envOpts{noPeers: true}, tr)
	st := e.open(tr.ID)
	res := e.play(st, step, nil)
	checkPlain(t, res.plain, tr.Plain)
	if res.dry != 0 {
		t.Errorf("%d dry steps streaming from the origin alone", res.dry)
	}
	s := e.s.Stats()
	if s.BytesOrigin != tr.M.Size || s.BytesPeers != 0 || s.HashFailures != 0 {
		t.Errorf("stats %+v", s)
	}
	head := 4 * track.ChunkSize
	if s.OriginBy[stream.OriginHead] != int64(head) || s.OriginBy[stream.OriginNoPeers] != tr.M.Size-int64(head) {
		t.Errorf("origin bytes by reason %v; want the head (%d) and the rest for lack of peers", s.OriginBy, head)
	}
	if _, err := st.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read at end: %v", err)
	}
}

func TestPeerCarriesTrack(t *testing.T) {
	tr := newTrack(t, 60)
	e := newEnv(t, envOpts{}, tr)
	p := streamtest.NewPeer("fast", e.clock, 5*bps, tr)
	e.addPeer(p, tr.ID)
	st := e.open(tr.ID)
	res := e.play(st, step, nil)
	checkPlain(t, res.plain, tr.Plain)
	s := e.s.Stats()
	t.Logf("origin %d B, peers %d B, dry %d, origin requests %d", s.BytesOrigin, s.BytesPeers, res.dry, e.origin.TrackRequests())
	if res.dry != 0 {
		t.Errorf("%d dry steps", res.dry)
	}
	// In low-buffer mode the origin refills the first Low seconds, plus what
	// its parallel requests (OriginRequests batches) had in flight when the
	// buffer crossed the threshold; the peer sends all the rest.
	cfg := stream.DefaultConfig()
	originMax := int64(cfg.Low.Seconds()*bps) + int64(cfg.OriginRequests*cfg.OriginBatch*track.ChunkSize)
	if s.BytesOrigin == 0 || s.BytesOrigin > originMax {
		t.Errorf("origin sent %d bytes, want only the first chunks (at most %d)", s.BytesOrigin, originMax)
	}
	var sum int64
	for _, b := range s.OriginBy {
		sum += b
	}
	if sum != s.BytesOrigin || s.OriginBy[stream.OriginStart]+s.OriginBy[stream.OriginHead] == 0 || s.OriginBy[stream.OriginNoPeers] != 0 {
		t.Errorf("origin bytes by reason %v (sum %d of %d); want the head and the start", s.OriginBy, sum, s.BytesOrigin)
	}
	if s.BytesPeers < tr.M.Size-originMax {
		t.Errorf("peer sent %d of %d bytes, want all but the origin's first chunks", s.BytesPeers, tr.M.Size)
	}
	if e.peers.Searched(tr.ID) != 1 {
		t.Errorf("searched %d times", e.peers.Searched(tr.ID))
	}
	if p.ByUrgency(stream.UrgencyStreaming) == 0 {
		t.Error("requests did not carry streaming urgency")
	}
	if len(s.Peers) != 1 || s.Peers[0].ID != "fast" || s.Peers[0].Rate <= bps {
		t.Errorf("peer stats %+v", s.Peers)
	}
}

func TestStalledPeerOriginTakesOver(t *testing.T) {
	tr := newTrack(t, 90)
	e := newEnv(t, envOpts{}, tr)
	p := streamtest.NewPeer("flaky", e.clock, 2*bps, tr)
	e.addPeer(p, tr.ID)
	st := e.open(tr.ID)
	var originAtStall, originAtRecover, peerAtRecover int64
	var stalled, recovered bool
	res := e.play(st, step, func(at time.Duration) {
		if at >= 10*time.Second && !stalled {
			stalled = true
			p.Stall(true)
			originAtStall = e.s.Stats().BytesOrigin
		}
		if at >= 30*time.Second && !recovered {
			recovered = true
			p.Stall(false)
			originAtRecover = e.s.Stats().BytesOrigin
			peerAtRecover = p.Served.Load()
		}
	})
	checkPlain(t, res.plain, tr.Plain)
	s := e.s.Stats()
	t.Logf("origin %d→%d→%d B, peer %d→%d B, re-requests %d, dry %d", originAtStall, originAtRecover, s.BytesOrigin,
		peerAtRecover, p.Served.Load(), s.ReRequests, res.dry)
	if res.dry != 0 {
		t.Errorf("%d dry steps: the origin did not take over in time", res.dry)
	}
	if originAtRecover-originAtStall < 5*bps {
		t.Errorf("origin sent only %d bytes during a 20 s stall", originAtRecover-originAtStall)
	}
	if s.ReRequests == 0 {
		t.Error("no request was taken from the stalled peer")
	}
	if p.Served.Load()-peerAtRecover < 10*track.ChunkSize {
		t.Errorf("peer served only %d bytes after recovering", p.Served.Load()-peerAtRecover)
	}
	if s.BytesOrigin-originAtRecover > s.BytesPeers {
		t.Errorf("after recovery the origin (%d B) sent more than all peers (%d B)", s.BytesOrigin-originAtRecover, s.BytesPeers)
	}
}

func TestHostilePeer(t *testing.T) {
	tr := newTrack(t, 40)
	e := newEnv(t, envOpts{}, tr)
	bad := streamtest.NewPeer("bad", e.clock, 10*bps, tr)
	bad.SetCorrupt(true)
	good := streamtest.NewPeer("good", e.clock, 2*bps, tr)
	e.addPeer(bad, tr.ID)
	e.addPeer(good, tr.ID)
	st := e.open(tr.ID)
	res := e.play(st, step, nil)
	checkPlain(t, res.plain, tr.Plain)
	n, dropped := e.peers.Penalties("bad")
	s := e.s.Stats()
	if n < stream.DefaultConfig().MaxPeerFaults || !dropped {
		t.Errorf("hostile peer penalised %d times, dropped %v", n, dropped)
	}
	if gn, gd := e.peers.Penalties("good"); gn != 0 || gd {
		t.Errorf("honest peer penalised %d, dropped %v", gn, gd)
	}
	if s.HashFailures < int64(n) {
		t.Errorf("hash failures %d < penalties %d", s.HashFailures, n)
	}
	cfg := stream.DefaultConfig()
	if requests := bad.Requests.Load(); requests > int64(cfg.MaxPeerFaults+cfg.PeerRequests-1) {
		t.Errorf("dropped peer still asked: %d requests, %d faults", requests, n)
	}
	if res.dry != 0 {
		t.Errorf("%d dry steps", res.dry)
	}
}

func TestPeerVanishesMidChunk(t *testing.T) {
	tr := newTrack(t, 40)
	e := newEnv(t, envOpts{}, tr)
	a := streamtest.NewPeer("a", e.clock, 2*bps, tr)
	b := streamtest.NewPeer("b", e.clock, 2*bps, tr)
	e.addPeer(a, tr.ID)
	e.addPeer(b, tr.ID)
	st := e.open(tr.ID)
	var inflight int64
	res := e.play(st, step, func(at time.Duration) {
		if at >= 5*time.Second && inflight == 0 {
			inflight = a.InFlight.Load()
			a.Vanish()
		}
	})
	checkPlain(t, res.plain, tr.Plain)
	if inflight == 0 {
		t.Fatal("peer a had nothing in flight when it vanished; the test proves nothing")
	}
	if res.dry != 0 {
		t.Errorf("%d dry steps after a peer vanished", res.dry)
	}
	if s := e.s.Stats(); s.PeerFailures == 0 || s.BytesPeers < tr.M.Size/2 {
		t.Errorf("stats %+v", s)
	}
}

func TestUploadPauseAndResume(t *testing.T) {
	tr := newTrack(t, 60)
	e := newEnv(t, envOpts{}, tr)
	p := streamtest.NewPeer("p", e.clock, 1.5*bps, tr)
	e.addPeer(p, tr.ID)
	st := e.open(tr.ID)
	var pausedAt, resumedAt time.Duration
	var broke, fixed bool
	var fixedAt time.Duration
	e.play(st, step, func(at time.Duration) {
		if at >= 5*time.Second && !broke {
			broke = true
			e.down.Store(true) // origin unreachable
			p.Stall(true)
		}
		if pausedAt != 0 && at >= pausedAt+2*time.Second && !fixed {
			fixed = true
			fixedAt = at
			p.Stall(false)
			p.SetRate(4 * bps)
		}
		if e.s.UploadPaused() && pausedAt == 0 {
			pausedAt = at
		}
		if pausedAt != 0 && resumedAt == 0 && !e.s.UploadPaused() {
			resumedAt = at
		}
	})
	ev := e.gate.Events()
	t.Logf("paused at %v, resumed at %v, events %v", pausedAt, resumedAt, ev)
	if len(ev) != 2 || !ev[0] || ev[1] {
		t.Fatalf("gate events %v, want [paused resumed]", ev)
	}
	if pausedAt < 5*time.Second || resumedAt <= fixedAt {
		t.Errorf("paused at %v, resumed at %v", pausedAt, resumedAt)
	}
	if s := e.s.Stats(); s.UploadPauses != 1 || s.UploadPaused {
		t.Errorf("stats %+v", s)
	}
}

func TestCachedTrackNeedsNoNetwork(t *testing.T) {
	tr := newTrack(t, 20)
	e := newEnv(t, envOpts{}, tr)
	p := streamtest.NewPeer("p", e.clock, 10*bps, tr)
	e.addPeer(p, tr.ID)
	e.store.AddTrack(tr)
	st := e.open(tr.ID)
	got, err := io.ReadAll(st) // no clock movement at all
	if err != nil {
		t.Fatal(err)
	}
	checkPlain(t, got, tr.Plain)
	e.settle()
	if n := e.origin.Requests.Load() + p.Requests.Load() + e.cat.Calls.Load() + int64(e.peers.Searched(tr.ID)); n != 0 {
		t.Errorf("%d network requests for a cached track", n)
	}
	if s := e.s.Stats(); s.BytesCache != tr.M.Size {
		t.Errorf("cache bytes %d, want %d", s.BytesCache, tr.M.Size)
	}
}

func TestDamagedCacheChunkRefetched(t *testing.T) {
	tr := newTrack(t, 10)
	e := newEnv(t, envOpts{noPeers: true}, tr)
	e.store.AddTrack(tr)
	e.store.Corrupt(tr.ID, 3)
	st := e.open(tr.ID)
	res := e.play(st, step, nil)
	checkPlain(t, res.plain, tr.Plain)
	if s := e.s.Stats(); s.HashFailures != 1 || s.BytesOrigin != int64(tr.M.ChunkLen(3)) {
		t.Errorf("stats %+v", s)
	}
}

func TestCloseCancelsRequests(t *testing.T) {
	tr := newTrack(t, 60)
	var originInFlight atomic.Int64
	e := newEnv(t, envOpts{handler: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			originInFlight.Add(1) // an origin that never answers
			defer originInFlight.Add(-1)
			<-r.Context().Done()
		})
	}}, tr)
	p := streamtest.NewPeer("p", e.clock, 2*bps, tr)
	p.Stall(true)
	e.addPeer(p, tr.ID)
	st := e.open(tr.ID)
	eventually(t, "requests in flight", func() bool {
		return p.InFlight.Load() > 0 && originInFlight.Load() > 0 && e.store.Pins(tr.ID) == 1
	})
	readErr := make(chan error, 1)
	go func() { _, err := st.Read(make([]byte, 10)); readErr <- err }()
	st.Close()
	st.Close()
	if err := <-readErr; !errors.Is(err, stream.ErrClosed) {
		t.Errorf("blocked Read after Close: %v", err)
	}
	eventually(t, "requests cancelled", func() bool { return p.InFlight.Load() == 0 && originInFlight.Load() == 0 })
	if e.store.Pins(tr.ID) != 0 {
		t.Error("closed stream still pins its track")
	}
	if _, err := st.Seek(0, io.SeekStart); !errors.Is(err, stream.ErrClosed) {
		t.Errorf("seek after close: %v", err)
	}
}

func TestSwitchTrackAbortsOldRequests(t *testing.T) {
	a, b := newTrack(t, 60), newTrack(t, 60)
	e := newEnv(t, envOpts{}, a, b)
	pa := streamtest.NewPeer("pa", e.clock, bps, a)
	pa.Stall(true)
	e.addPeer(pa, a.ID)
	e.addPeer(streamtest.NewPeer("pb", e.clock, 4*bps, b), b.ID)
	sa := e.open(a.ID)
	eventually(t, "requests to pa", func() bool { e.settle(); return pa.InFlight.Load() > 0 })
	sa.Close()
	sb := e.open(b.ID)
	res := e.play(sb, step, nil)
	checkPlain(t, res.plain, b.Plain)
	if pa.InFlight.Load() != 0 {
		t.Errorf("%d requests of the old track still in flight", pa.InFlight.Load())
	}
}

func TestPrefetchNextTrack(t *testing.T) {
	cur, next := newTrack(t, 60), newTrack(t, 40)
	e := newEnv(t, envOpts{}, cur, next)
	e.addPeer(streamtest.NewPeer("p", e.clock, 4*bps, cur), cur.ID) // nobody has next
	st := e.open(cur.ID)
	if err := e.s.Prefetch(context.Background(), next.ID); err != nil {
		t.Fatal(err)
	}
	var searchedBefore30, originBefore10 int
	var searchedAt time.Duration
	e.play(st, step, func(at time.Duration) {
		if at < 29*time.Second {
			searchedBefore30 += e.peers.Searched(next.ID)
		}
		if searchedAt == 0 && e.peers.Searched(next.ID) > 0 {
			searchedAt = at
		}
		if at < 49*time.Second {
			originBefore10 += e.origin.RequestsFor(next.ID)
		}
	})
	if searchedBefore30 != 0 || searchedAt == 0 || searchedAt > 31*time.Second {
		t.Errorf("next track searched at %v (%d early)", searchedAt, searchedBefore30)
	}
	if originBefore10 != 0 {
		t.Errorf("next track taken from the origin %d times before 10 s from the end", originBefore10)
	}
	if e.origin.RequestsFor(next.ID) == 0 {
		t.Fatal("next track never prefetched from the origin")
	}
	// The start of the next track is now local: opening it plays at once.
	origReq := e.origin.Requests.Load()
	sn := e.open(next.ID)
	buf := make([]byte, 3*track.ChunkSize)
	if _, err := io.ReadFull(sn, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, next.Plain[:len(buf)]) {
		t.Fatal("prefetched bytes differ")
	}
	// They came over the network for this play (and were counted then):
	// reading them is not a cache hit.
	if s := e.s.Stats(); s.BytesCache != 0 || sn.WasCached() {
		t.Errorf("prefetched chunks counted as cache: %d bytes (stream cached: %v)", s.BytesCache, sn.WasCached())
	}
	if e.origin.Requests.Load() < origReq {
		t.Fatal("counter went backwards")
	}
}

func TestSeek(t *testing.T) {
	tr := newTrack(t, 30)
	e := newEnv(t, envOpts{noPeers: true}, tr)
	st := e.open(tr.ID)
	for _, off := range []int64{tr.M.Size / 2, 5, tr.M.Size - 3, track.ChunkSize} {
		if pos, err := st.Seek(off, io.SeekStart); err != nil || pos != off {
			t.Fatalf("seek %d: %d %v", off, pos, err)
		}
		e.settle()
		buf := make([]byte, min(1000, tr.M.Size-off))
		if _, err := io.ReadFull(st, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, tr.Plain[off:off+int64(len(buf))]) {
			t.Fatalf("bytes after seek to %d differ", off)
		}
	}
	if pos, err := st.Seek(-10, io.SeekEnd); err != nil || pos != tr.M.Size-10 {
		t.Fatalf("seek from end: %d %v", pos, err)
	}
	for _, bad := range [][2]int64{{-1, io.SeekStart}, {tr.M.Size + 1, io.SeekStart}, {0, 7}} {
		if _, err := st.Seek(bad[0], int(bad[1])); !errors.Is(err, stream.ErrSeek) {
			t.Errorf("seek %v: %v", bad, err)
		}
	}
}

func TestStoreRefusesChunks(t *testing.T) {
	tr := newTrack(t, 30)
	e := newEnv(t, envOpts{noPeers: true}, tr)
	e.store.FailPuts.Store(true)
	st := e.open(tr.ID)
	res := e.play(st, step, nil)
	checkPlain(t, res.plain, tr.Plain)
	if s := e.s.Stats(); s.StoreFailures == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestOpenErrors(t *testing.T) {
	tr := newTrack(t, 5)
	e := newEnv(t, envOpts{}, tr)
	unknown := newTrack(t, 5)
	e.settle() // Run has started
	if _, err := e.s.Open(context.Background(), unknown.ID); !errors.Is(err, stream.ErrNoManifest) {
		t.Errorf("unknown track: %v", err)
	}
	if err := e.s.Run(context.Background()); !errors.Is(err, stream.ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
	e.s.Close()
	if _, err := e.s.Open(context.Background(), tr.ID); !errors.Is(err, stream.ErrClosed) {
		t.Errorf("open after close: %v", err)
	}
}

func TestStreamContextEndsStream(t *testing.T) {
	tr := newTrack(t, 30)
	e := newEnv(t, envOpts{handler: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	}}, tr)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := e.s.Open(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	done := make(chan error, 1)
	go func() { _, err := st.Read(make([]byte, 1)); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("read after ctx cancel: %v", err)
	}
}

// TestOriginRecoversAfterOutage: an outage seen by several parallel origin
// requests at once is one failure, not one per request. Once the origin is
// back the stream gets data after the first 1 s rest; before the fix the
// four simultaneous 503s escalated the rest to 8 s (and a few such rounds
// to the 32 s cap), leaving a drained speaker silent long after the origin
// recovered.
func TestOriginRecoversAfterOutage(t *testing.T) {
	tr := newTrack(t, 20)
	var refused atomic.Int64
	var e *env
	e = newEnv(t, envOpts{noPeers: true, cfg: stream.Config{OriginRequests: 4}, handler: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if e.down.Load() {
				refused.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}}, tr)
	e.down.Store(true)
	st := e.open(tr.ID)
	e.settle()
	if n := refused.Load(); n < 2 {
		t.Fatalf("%d origin requests refused in the first round; the test needs parallel failures", n)
	}
	if st.BufferedAhead() != 0 {
		t.Fatal("data arrived while the origin was down")
	}
	e.down.Store(false)
	for range 11 { // 1.1 s: the first rest is 1 s
		e.clock.Advance(100 * time.Millisecond)
		e.settle()
	}
	if st.BufferedAhead() == 0 {
		t.Fatalf("no data 1.1 s after the origin came back (%d requests refused in one round)", refused.Load())
	}
	res := e.play(st, 100*time.Millisecond, nil)
	checkPlain(t, res.plain, tr.Plain)
	if res.dry != 0 {
		t.Errorf("%d dry steps after the origin recovered", res.dry)
	}
}

// TestLatePeerCarriesTheRest: with no peer at first, the origin streams the
// track but reads no further than OriginAhead, and the track is searched
// for again; a speaker that turns up with the track then carries the rest.
// (The origin used to stream such a track to its end at once: a peer whose
// connection was still being set up, or that completed the track a moment
// later, never got a chance.)
func TestLatePeerCarriesTheRest(t *testing.T) {
	tr := newTrack(t, 120)
	e := newEnv(t, envOpts{}, tr)
	cfg := stream.DefaultConfig()
	late := streamtest.NewPeer("late", e.clock, 5*bps, tr)
	st := e.open(tr.ID)
	ahead := int64((cfg.OriginAhead.Seconds()+1)*bps) + int64(cfg.OriginRequests*cfg.OriginBatch*track.ChunkSize)
	joined := false
	res := e.play(st, step, func(at time.Duration) {
		if got := e.s.Stats().BytesOrigin; !joined && got > int64(at.Seconds()*bps)+ahead {
			t.Fatalf("at %v the origin had sent %d bytes: more than OriginAhead past playback", at, got)
		}
		if !joined && at >= 20*time.Second {
			joined = true
			e.addPeer(late, tr.ID)
		}
	})
	checkPlain(t, res.plain, tr.Plain)
	s := e.s.Stats()
	t.Logf("origin %d B, peers %d B, searches %d (again %d), dry %d", s.BytesOrigin, s.BytesPeers, e.peers.Searched(tr.ID), s.SearchesAgain, res.dry)
	if s.SearchesAgain == 0 || e.peers.Searched(tr.ID) < 2 {
		t.Errorf("searched %d times (%d again); want the search repeated while no peer had the track", e.peers.Searched(tr.ID), s.SearchesAgain)
	}
	if s.BytesPeers < tr.M.Size/2 {
		t.Errorf("the late peer sent %d of %d bytes; want most of what was left when it came", s.BytesPeers, tr.M.Size)
	}
	if res.dry != 0 {
		t.Errorf("%d dry steps", res.dry)
	}
}

// TestCompletedPrefetchIsNotACacheHit: a prefetch that fetched the whole
// next track ends before the track is opened; playing it then reads chunks
// that came over the network for this play, not from the cache.
func TestCompletedPrefetchIsNotACacheHit(t *testing.T) {
	cur, next := newTrack(t, 40), newTrack(t, 6)
	e := newEnv(t, envOpts{}, cur, next)
	e.addPeer(streamtest.NewPeer("p", e.clock, 4*bps, cur, next), cur.ID, next.ID)
	st := e.open(cur.ID)
	if err := e.s.Prefetch(context.Background(), next.ID); err != nil {
		t.Fatal(err)
	}
	e.play(st, step, nil)
	e.settle()
	for i := range next.M.NumChunks() {
		if !e.store.HasChunk(next.ID, i) {
			t.Fatalf("the prefetch did not fetch chunk %d of the next track", i)
		}
	}
	before := e.s.Stats().BytesCache
	sn := e.open(next.ID)
	if _, err := io.ReadAll(sn); err != nil {
		t.Fatal(err)
	}
	if got := e.s.Stats().BytesCache - before; got != 0 || sn.WasCached() {
		t.Errorf("playing the prefetched track counted %d bytes as cache (stream cached: %v)", got, sn.WasCached())
	}
}
