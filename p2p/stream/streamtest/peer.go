package streamtest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
)

// Peer is a fake remote speaker. Its link serves one chunk at a time at
// Rate bytes per second of the manual clock; it can stall, vanish (also in
// the middle of a chunk) and send corrupt data.
type Peer struct {
	id    string
	clock *Clock

	mu        sync.Mutex
	tracks    map[track.ID]*Track
	rate      float64
	stalled   bool
	vanished  bool
	corrupt   bool
	busyUntil time.Time
	changed   chan struct{}

	Requests atomic.Int64 // requests received
	InFlight atomic.Int64 // requests being served now
	Served   atomic.Int64 // bytes returned
	urgency  [3]atomic.Int64
}

var _ stream.Peer = (*Peer)(nil)

// NewPeer returns a peer holding tracks, serving rate bytes/s on clock.
func NewPeer(id string, clock *Clock, rate float64, tracks ...*Track) *Peer {
	p := &Peer{id: id, clock: clock, rate: rate, tracks: map[track.ID]*Track{}, changed: make(chan struct{})}
	for _, t := range tracks {
		p.tracks[t.ID] = t
	}
	return p
}

func (p *Peer) ID() string { return p.id }

func (p *Peer) set(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

// Stall stops (true) or resumes (false) the peer's link.
func (p *Peer) Stall(on bool) { p.set(func() { p.stalled = on }) }

// Vanish makes every request, also those in the middle of a chunk, fail.
func (p *Peer) Vanish() { p.set(func() { p.vanished = true }) }

// SetCorrupt makes the peer flip a byte of every chunk it sends.
func (p *Peer) SetCorrupt(on bool) { p.set(func() { p.corrupt = on }) }

// SetRate changes the link rate.
func (p *Peer) SetRate(r float64) { p.set(func() { p.rate = r }) }

// ByUrgency returns how many requests arrived with urgency u.
func (p *Peer) ByUrgency(u stream.Urgency) int64 { return p.urgency[min(int(u), 2)].Load() }

func (p *Peer) RequestChunk(ctx context.Context, id track.ID, i int, u stream.Urgency) ([]byte, error) {
	p.Requests.Add(1)
	p.urgency[min(int(u), 2)].Add(1)
	p.InFlight.Add(1)
	defer p.InFlight.Add(-1)
	p.mu.Lock()
	t := p.tracks[id]
	p.mu.Unlock()
	if t == nil || i < 0 || i >= t.M.NumChunks() {
		return nil, ErrNoTrack
	}
	n := t.M.ChunkLen(i)
	for {
		p.mu.Lock()
		if p.vanished {
			p.mu.Unlock()
			return nil, ErrGone
		}
		if p.stalled {
			ch := p.changed
			p.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		start := later(p.clock.Now(), p.busyUntil)
		finish := start.Add(stream.ExpectedTime(int64(n), p.rate))
		p.busyUntil = finish
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-p.clock.At(finish):
		case <-ch: // stalled or vanished mid-chunk: start over
			continue
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		break
	}
	data := t.Chunk(i)
	p.mu.Lock()
	if p.corrupt {
		data[len(data)/2] ^= 0x5a
	}
	p.mu.Unlock()
	p.Served.Add(int64(len(data)))
	return data, nil
}

// later returns the later of two instants.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Peers is a fake stream.PeerSource: a fixed list of peers per track.
type Peers struct {
	mu        sync.Mutex
	byTrack   map[track.ID][]*Peer
	searches  []track.ID
	penalties map[string]int
	dropped   map[string]bool
}

var _ stream.PeerSource = (*Peers)(nil)

// NewPeers returns an empty source.
func NewPeers() *Peers {
	return &Peers{byTrack: map[track.ID][]*Peer{}, penalties: map[string]int{}, dropped: map[string]bool{}}
}

// Add makes p a candidate for id.
func (s *Peers) Add(id track.ID, p *Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byTrack[id] = append(s.byTrack[id], p)
}

func (s *Peers) Search(ctx context.Context, id track.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searches = append(s.searches, id)
}

func (s *Peers) Candidates(id track.ID) []stream.Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []stream.Peer
	for _, p := range s.byTrack[id] {
		if !s.dropped[p.id] {
			out = append(out, p)
		}
	}
	return out
}

func (s *Peers) Penalize(p stream.Peer, reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.penalties[p.ID()]++
}

func (s *Peers) Drop(p stream.Peer, reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped[p.ID()] = true
}

// Searched reports how many times id was searched.
func (s *Peers) Searched(id track.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.searches {
		if x == id {
			n++
		}
	}
	return n
}

// Penalties returns the penalties reported for a peer, and whether it was dropped.
func (s *Peers) Penalties(id string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.penalties[id], s.dropped[id]
}
