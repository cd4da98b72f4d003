package p2ptest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-audio/starling/cache"
	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/peer"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
)

// Tracker is an in-test tracker: who announced which track.
type Tracker struct {
	mu sync.Mutex
	m  map[track.ID][]peer.Holder
}

var _ peer.Tracker = (*Tracker)(nil)

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{m: map[track.ID][]peer.Holder{}} }

// Announce records that h has id.
func (t *Tracker) Announce(id track.ID, h peer.Holder) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[id] = append(t.m[id], h)
}

// Query implements peer.Tracker.
func (t *Tracker) Query(ctx context.Context, id track.ID) ([]peer.Holder, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]peer.Holder(nil), t.m[id]...), nil
}

// Store wraps the real cache with switches for misbehaving uploaders.
type Store struct {
	*cache.Cache
	mu      sync.Mutex
	corrupt bool
	stall   chan struct{} // non-nil: ReadChunk blocks until closed
}

// SetCorrupt makes ReadChunk flip a byte of every chunk it serves.
func (s *Store) SetCorrupt(on bool) { s.mu.Lock(); s.corrupt = on; s.mu.Unlock() }

// Stall makes ReadChunk block (true) or releases it (false).
func (s *Store) Stall(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.stall == nil:
		s.stall = make(chan struct{})
	case !on && s.stall != nil:
		close(s.stall)
		s.stall = nil
	}
}

// ReadChunk is the cache's, then corrupted or stalled as set.
func (s *Store) ReadChunk(id track.ID, i int, dst []byte) ([]byte, error) {
	s.mu.Lock()
	stall, corrupt := s.stall, s.corrupt
	s.mu.Unlock()
	if stall != nil {
		<-stall
	}
	b, err := s.Cache.ReadChunk(id, i, dst)
	if err == nil && corrupt && len(b) > 0 {
		b[len(b)/2] ^= 0x5a
	}
	return b, err
}

// Speaker is one speaker in a test: real cache, peer node and streamer.
type Speaker struct {
	Name     string
	Store    *Store
	Node     *peer.Node
	Streamer *stream.Streamer

	originBusy atomic.Int64
}

// countingOrigin counts the streamer's origin requests from the moment the
// scheduler's worker makes them, before the server sees them.
type countingOrigin struct {
	stream.Origin
	n *atomic.Int64
}

func (o countingOrigin) FetchChunks(ctx context.Context, id track.ID, m *track.Manifest, first, count int,
	fn func(i int, data []byte) error) error {
	o.n.Add(1)
	defer o.n.Add(-1)
	return o.Origin.FetchChunks(ctx, id, m, first, count, fn)
}

// OriginInFlight is the number of origin requests the streamer has under way.
func (sp *Speaker) OriginInFlight() int { return int(sp.originBusy.Load()) }

// SpeakerOpts configure NewSpeaker.
type SpeakerOpts struct {
	CA        *CA
	Tracker   peer.Tracker
	Catalog   stream.Catalog
	OriginURL string
	Clock     stream.Clock
	Node      peer.Config // Credentials, Store, ListenAddr and Tracker are filled in
	Stream    stream.Config
	Logger    *slog.Logger
}

// NewSpeaker starts a speaker on loopback; cleanup stops it.
func NewSpeaker(t *testing.T, name string, o SpeakerOpts) *Speaker {
	t.Helper()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := cache.Open(context.Background(), cache.Options{Dir: t.TempDir(), CapacityBytes: 64 << 20}, log)
	if err != nil {
		t.Fatal(err)
	}
	sp := &Speaker{Name: name, Store: &Store{Cache: c}}
	nc := o.Node
	nc.ListenAddr, nc.Credentials, nc.Store, nc.Tracker, nc.Logger = "127.0.0.1:0", o.CA.Issue(t, name), sp.Store, o.Tracker, log.With("speaker", name)
	if sp.Node, err = peer.New(nc); err != nil {
		t.Fatal(err)
	}
	oc, err := origin.New(origin.Config{BaseURL: o.OriginURL})
	if err != nil {
		t.Fatal(err)
	}
	if o.Stream.Logger == nil {
		o.Stream.Logger = log.With("speaker", name)
	}
	sp.Streamer, err = stream.New(o.Stream, stream.Deps{Store: c, Catalog: o.Catalog, Origin: countingOrigin{oc, &sp.originBusy},
		Peers: sp.Node, Uploads: sp.Node, Clock: o.Clock})
	if err != nil {
		t.Fatal(err)
	}
	nodeErr, streamErr := make(chan error, 1), make(chan error, 1)
	go func() { nodeErr <- sp.Node.Run(context.Background()) }()
	go func() { streamErr <- sp.Streamer.Run(context.Background()) }()
	t.Cleanup(func() {
		sp.Store.Stall(false)
		sp.Streamer.Close()
		sp.Node.Close()
		if err := <-streamErr; err != nil && !errors.Is(err, stream.ErrClosed) {
			t.Errorf("%s: streamer Run: %v", name, err)
		}
		if err := <-nodeErr; err != nil {
			t.Errorf("%s: node Run: %v", name, err)
		}
		oc.Close()
		c.Close()
	})
	select {
	case <-sp.Node.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: node did not start listening", name)
	}
	return sp
}

// Holder is how others reach this speaker.
func (sp *Speaker) Holder() peer.Holder {
	return peer.Holder{ID: sp.Node.ID(), Addr: sp.Node.Addr().String()}
}

// Seed stores a complete copy of a track (manifest, key, every chunk).
func (sp *Speaker) Seed(t *testing.T, id track.ID, rawManifest []byte, key track.Key, cipher []byte) {
	t.Helper()
	if err := sp.Store.PutManifest(id, rawManifest); err != nil {
		t.Fatal(err)
	}
	if err := sp.Store.PutKey(id, key); err != nil {
		t.Fatal(err)
	}
	for i := 0; i*track.ChunkSize < len(cipher); i++ {
		end := min((i+1)*track.ChunkSize, len(cipher))
		if err := sp.Store.PutChunk(id, i, cipher[i*track.ChunkSize:end]); err != nil {
			t.Fatal(err)
		}
	}
	if !sp.Store.Complete(id) {
		t.Fatalf("%s: seeded track is not complete", sp.Name)
	}
}
