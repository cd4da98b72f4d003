package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// Errors returned by the streamer.
var (
	ErrClosed     = errors.New("stream: closed")
	ErrRunning    = errors.New("stream: Run already called")
	ErrNoManifest = errors.New("stream: no manifest for track")
	ErrNoKey      = errors.New("stream: no key for track")
	ErrBadChunk   = errors.New("stream: peer sent a chunk that failed verification")
	ErrStalled    = errors.New("stream: peer too slow for the chunk's deadline")
)

// originRetry is how long the origin rests after a failed request.
const originRetry = time.Second

// maxWantsPerJob bounds the missing chunks considered per track and round.
const maxWantsPerJob = 256

// Deps are the streamer's collaborators. Store, Catalog and Origin are
// required; Peers, Uploads and Clock are optional.
type Deps struct {
	Store   Store
	Catalog Catalog
	Origin  Origin
	Peers   PeerSource // nil: origin only
	Uploads UploadGate // nil: nobody to tell
	Clock   Clock      // nil: the wall clock
}

// Streamer fetches tracks for one speaker: at most a few streams and
// prefetches at once, from the cache, the origin and peers. New starts
// nothing; Run runs the scheduler until its context ends or Close.
type Streamer struct {
	cfg   Config
	d     Deps
	clock Clock
	log   *slog.Logger

	mu      sync.Mutex
	jobs    []*job
	closed  bool
	running bool

	wake     chan struct{}
	results  chan result
	done     chan struct{} // closed by Close
	loopDone chan struct{} // closed when Run's loop stops taking results
	settle   chan chan struct{}
	wg       sync.WaitGroup
	closeMu  sync.Once

	c counters

	statsMu   sync.Mutex
	peerStats []PeerStats

	// owned by the Run goroutine
	peers map[string]*peerInfo
	// prefetched: chunks ended prefetch jobs fetched, by track, for the
	// Open that plays them (they are not cache hits). Guarded by mu;
	// bounded by maxPrefetched.
	prefetched  map[track.ID][]int
	originBusy  int // range requests in flight
	originRest  time.Time
	originFails int
	originRound uint64 // bumped when an origin failure escalates the rest
	paused      bool
	settlers    []chan struct{}
	pausedState atomic.Bool
}

type counters struct {
	origin, peers, cache       atomic.Int64
	originBy                   [NumOriginReasons]atomic.Int64
	searchesAgain              atomic.Int64
	reRequests, hashFailures   atomic.Int64
	uploadPauses, underruns    atomic.Int64
	storeFailures, peerFailure atomic.Int64
}

// peerInfo is the scheduler's view of one peer (Run goroutine only, except
// the snapshot copied for Stats under statsMu).
type peerInfo struct {
	p           Peer
	rate        float64
	measured    bool
	outstanding int64
	reqs        int
	faults      int
	dropped     bool
	rest        time.Time
	lastDone    time.Time
	bytes       int64
}

// New checks cfg and deps and returns an idle streamer.
func New(cfg Config, d Deps) (*Streamer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Catalog == nil || d.Origin == nil {
		return nil, fmt.Errorf("%w: Store, Catalog and Origin are required", ErrConfig)
	}
	cfg = cfg.withDefaults()
	s := &Streamer{
		cfg:        cfg,
		d:          d,
		clock:      d.Clock,
		log:        cfg.Logger.With("component", "stream"),
		wake:       make(chan struct{}, 1),
		results:    make(chan result, 64),
		done:       make(chan struct{}),
		loopDone:   make(chan struct{}),
		settle:     make(chan chan struct{}),
		peers:      map[string]*peerInfo{},
		prefetched: map[track.ID][]int{},
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	return s, nil
}

// Open starts streaming track id and returns its in-order plaintext. The
// manifest and key come from the store, or else from the catalog (and are
// then stored). ctx bounds the opening and the life of the stream:
// cancelling it ends the stream like Close. A complete cached track needs
// no network and no running scheduler.
func (s *Streamer) Open(ctx context.Context, id track.ID) (*Stream, error) {
	j, err := s.load(ctx, ctx, id, UrgencyStreaming)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		j.stop()
		return nil, ErrClosed
	}
	// A prefetch of this track is replaced: what it fetched is in the store,
	// and came over the network for this play (not from the cache).
	kept := s.jobs[:0]
	for _, o := range s.jobs {
		if o.id == id && o.urg != UrgencyStreaming {
			j.markFetched(o.fetched())
			o.stop()
			continue
		}
		kept = append(kept, o)
	}
	j.markFetched(s.prefetched[id]) // by a prefetch that completed and ended
	delete(s.prefetched, id)
	s.jobs = append(kept, j)
	s.mu.Unlock()
	if s.d.Peers != nil && !j.complete() && !j.searched.Swap(true) {
		s.d.Peers.Search(j.ctx, id)
	}
	s.poke()
	s.log.Debug("open", "track", id, "cached_chunks", j.countHave())
	return &Stream{s: s, j: j, cur: -1}, nil
}

// Prefetch prepares track id to play next: it loads the manifest and key
// now (ctx bounds that), searches peers PrefetchSearch before the playing
// track ends, and takes the first OriginAhead of it from the origin if no
// peer has it PrefetchOrigin before the end. Opening the track replaces
// the prefetch. The prefetch ends when the streamer closes, when the track
// is complete, or with the next Prefetch.
func (s *Streamer) Prefetch(ctx context.Context, id track.ID) error {
	j, err := s.load(ctx, context.WithoutCancel(ctx), id, UrgencyPrefetch)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		j.stop()
		return ErrClosed
	}
	kept := s.jobs[:0]
	for _, o := range s.jobs {
		if o.urg == UrgencyPrefetch || o.id == id {
			if o.id == id && o.urg == UrgencyStreaming {
				j.stop() // already playing: nothing to prefetch
				return nil
			}
			s.keepPrefetchedLocked(o.id, o.fetched())
			o.stop()
			continue
		}
		kept = append(kept, o)
	}
	s.jobs = append(kept, j)
	s.poke()
	return nil
}

// load builds a job: manifest and key from the store or the catalog (ctx
// bounds that), pinned in the store, with the chunks the store already
// holds; life bounds the job. For a track this speaker has never seen and
// is about to play, the key, the first chunks from the origin (HeadOrigin)
// and the peer search start together with the manifest, so playback can
// begin one round trip after the command instead of three or four.
func (s *Streamer) load(ctx, life context.Context, id track.ID, urg Urgency) (*job, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var (
		head     *headFetch
		key      = s.fetchKey(ctx, id)
		searched bool
	)
	defer key.stop()
	m, err := s.d.Store.Manifest(id)
	if err != nil || m == nil {
		if urg == UrgencyStreaming {
			head = s.startHead(ctx, id)
			defer func() { // on an error before the job takes it
				if head != nil {
					head.stop()
				}
			}()
			if s.d.Peers != nil {
				// The node bounds the tracker query itself; the result
				// outlives this call (candidates are remembered).
				s.d.Peers.Search(context.WithoutCancel(ctx), id)
				searched = true
			}
		}
		raw, cerr := s.d.Catalog.Manifest(ctx, id)
		if cerr != nil {
			return nil, fmt.Errorf("getting manifest of %s (not cached: %v): %w: %w", id.Short(), err, ErrNoManifest, cerr)
		}
		if m, err = track.ParseVerifiedManifest(id, raw); err != nil {
			return nil, fmt.Errorf("checking manifest of %s from the catalog: %w", id.Short(), err)
		}
		if err := s.d.Store.PutManifest(id, raw); err != nil {
			s.log.Warn("storing manifest failed; streaming anyway", "track", id, "err", err)
		}
	}
	k, err := key.wait()
	if err != nil {
		return nil, err
	}
	if key.fetched { // the store takes a key only for a track it has the manifest of
		if err := s.d.Store.PutKey(id, k); err != nil {
			s.log.Warn("storing key failed; streaming anyway", "track", id, "err", err)
		}
	}
	if err := s.d.Store.Touch(id); err != nil {
		s.log.Debug("touch failed", "track", id, "err", err)
	}
	jctx, cancel := context.WithCancel(life)
	n := m.NumChunks()
	j := &job{
		s: s, id: id, m: m, key: k, urg: urg, n: n, bps: m.BytesPerSecond(),
		ctx: jctx, cancel: cancel, unpin: s.d.Store.Pin(id),
		have: make([]bool, n), cached: make([]bool, n), mem: map[int][]byte{},
		changed: make(chan struct{}), inflight: map[int]*request{}, excluded: map[int]string{}, exclUntil: map[int]time.Time{},
	}
	j.searched.Store(searched)
	j.wasCached = true
	for i := range n {
		if s.d.Store.HasChunk(id, i) {
			j.have[i], j.cached[i] = true, true
		} else {
			j.wasCached = false
		}
	}
	j.seekLocked(0)
	if head != nil {
		if data := head.first(headWait); data != nil {
			s.adoptHead(j, head, data)
		}
		head = nil // adopted or stopped
	}
	return j, nil
}

// maxPrefetched bounds Streamer.prefetched.
const maxPrefetched = 16

// keepPrefetchedLocked remembers what an ending prefetch of id fetched.
// s.mu held.
func (s *Streamer) keepPrefetchedLocked(id track.ID, chunks []int) {
	if len(chunks) == 0 {
		return
	}
	if len(s.prefetched) >= maxPrefetched {
		for k := range s.prefetched { // forget an arbitrary one
			delete(s.prefetched, k)
			break
		}
	}
	s.prefetched[id] = append(s.prefetched[id], chunks...)
}

func (s *Streamer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Streamer) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Streamer) remove(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.jobs {
		if o == j {
			s.jobs = append(s.jobs[:i:i], s.jobs[i+1:]...)
			break
		}
	}
}

// Close stops the scheduler and every stream and request it started, and
// waits for them. It is idempotent.
func (s *Streamer) Close() error {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closed = true
		jobs := s.jobs
		s.jobs = nil
		s.mu.Unlock()
		close(s.done)
		for _, j := range jobs {
			j.stop()
		}
	})
	s.wg.Wait()
	return nil
}

// UploadPaused reports whether uploads are paused for a low buffer.
func (s *Streamer) UploadPaused() bool { return s.pausedState.Load() }

// Run runs the scheduler until ctx ends or Close. It returns nil on Close,
// ctx.Err() when ctx ends, and ErrRunning if called twice.
func (s *Streamer) Run(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.running:
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	wctx, cancel := context.WithCancel(ctx)
	var workers sync.WaitGroup
	defer func() {
		cancel()
		close(s.loopDone)
		workers.Wait()
		s.setPaused(false)
		for _, w := range s.settlers {
			close(w)
		}
	}()
	for {
		s.pass(wctx, &workers)
		t := s.clock.NewTimer(s.cfg.Tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.done:
			t.Stop()
			return nil
		case <-s.wake:
		case r := <-s.results:
			s.handle(r)
		case w := <-s.settle:
			s.settlers = append(s.settlers, w)
		case <-t.C():
		}
		t.Stop()
	}
}

// jobsSnapshot returns the live jobs, streams first.
func (s *Streamer) jobsSnapshot() []*job {
	s.mu.Lock()
	defer s.mu.Unlock()
	js := append([]*job(nil), s.jobs...)
	sort.SliceStable(js, func(a, b int) bool { return js[a].urg < js[b].urg })
	return js
}

func (s *Streamer) peer(p Peer) *peerInfo {
	pi := s.peers[p.ID()]
	if pi == nil {
		pi = &peerInfo{p: p, rate: s.cfg.DefaultPeerRate}
		s.peers[p.ID()] = pi
	}
	return pi
}

func (s *Streamer) setPaused(p bool) {
	if p == s.paused {
		return
	}
	s.paused = p
	s.pausedState.Store(p)
	if p {
		s.c.uploadPauses.Add(1)
	}
	s.log.Info("uploads", "paused", p)
	if s.d.Uploads != nil {
		s.d.Uploads.SetUploadPaused(p)
	}
}
