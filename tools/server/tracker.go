package server

import (
	"sync"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
)

// Tracker sizes (DESIGN.md): remember the last 20 announcers of a track,
// answer with up to 10 that are online.
const (
	TrackerRemember = 20
	TrackerAnswer   = wire.MaxTrackerPeers
)

type trackerEntry struct {
	peer wire.PeerID
	addr string
}

// Tracker remembers, per track, the peers that most recently announced a
// complete copy. It is safe for concurrent use. Memory is bounded by the
// number of tracks callers let in (the server admits only catalogue tracks)
// times TrackerRemember.
type Tracker struct {
	mu     sync.Mutex
	tracks map[track.ID][]trackerEntry // most recent first
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{tracks: map[track.ID][]trackerEntry{}} }

// Announce records that peer holds id and listens at addr.
func (t *Tracker) Announce(id track.ID, peer wire.PeerID, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.tracks[id]
	for i, e := range l {
		if e.peer == peer {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) >= TrackerRemember {
		l = l[:TrackerRemember-1]
	}
	l = append(l, trackerEntry{})
	copy(l[1:], l)
	l[0] = trackerEntry{peer: peer, addr: addr}
	t.tracks[id] = l
}

// Withdraw forgets that peer holds id.
func (t *Tracker) Withdraw(id track.ID, peer wire.PeerID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.tracks[id]
	for i, e := range l {
		if e.peer == peer {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(t.tracks, id)
	} else {
		t.tracks[id] = l
	}
}

// Query returns up to TrackerAnswer of the remembered peers of id for
// which online is true, most recent first, never asker.
func (t *Tracker) Query(id track.ID, asker wire.PeerID, online func(wire.PeerID) bool) []wire.TrackerPeer {
	t.mu.Lock()
	l := append([]trackerEntry(nil), t.tracks[id]...)
	t.mu.Unlock()
	out := make([]wire.TrackerPeer, 0, TrackerAnswer)
	for _, e := range l {
		if len(out) == TrackerAnswer {
			break
		}
		if e.peer == asker || !online(e.peer) {
			continue
		}
		out = append(out, wire.TrackerPeer{ID: e.peer, Addr: e.addr})
	}
	return out
}

// Tracks returns how many tracks have announcers.
func (t *Tracker) Tracks() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.tracks)
}
