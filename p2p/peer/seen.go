package peer

import (
	"container/list"
	"time"
)

// route remembers where a query came from, for the reverse path.
type route struct {
	from  string // neighbour's peer ID key; "" = this node asked
	track [32]byte
	at    time.Time
}

// seenSet is a bounded LRU of query IDs that expire after a window: a
// query seen again inside the window is a duplicate. Not concurrency-safe.
type seenSet struct {
	max    int
	window time.Duration
	ll     *list.List // front = newest; values are *seenEntry
	m      map[uint64]*list.Element
}

type seenEntry struct {
	id uint64
	r  route
}

func newSeenSet(max int, window time.Duration) *seenSet {
	return &seenSet{max: max, window: window, ll: list.New(), m: make(map[uint64]*list.Element)}
}

// add records id; it reports false if id is already present and fresh.
func (s *seenSet) add(id uint64, r route) bool {
	if e, ok := s.m[id]; ok {
		if r.at.Sub(e.Value.(*seenEntry).r.at) < s.window {
			return false
		}
		s.ll.Remove(e)
		delete(s.m, id)
	}
	s.m[id] = s.ll.PushFront(&seenEntry{id: id, r: r})
	for s.ll.Len() > s.max {
		old := s.ll.Back()
		s.ll.Remove(old)
		delete(s.m, old.Value.(*seenEntry).id)
	}
	return true
}

// get returns the route of a fresh id.
func (s *seenSet) get(id uint64, now time.Time) (route, bool) {
	e, ok := s.m[id]
	if !ok {
		return route{}, false
	}
	r := e.Value.(*seenEntry).r
	if now.Sub(r.at) >= s.window {
		return route{}, false
	}
	return r, true
}
