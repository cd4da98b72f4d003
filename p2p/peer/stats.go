package peer

import (
	"sort"
	"time"
)

// Stats is a snapshot of the node's counters for the daemon's metrics.
type Stats struct {
	Neighbours     int
	UploadingTo    int  // peers holding upload slots now
	UploadPaused   bool // uploads stopped (local buffer very low)
	UploadStops    int64
	ChunksServed   int64
	BytesUp        int64
	BytesDown      int64
	Choked         int64 // chunk requests refused BUSY (slots or queue full)
	Searches       int64 // Search calls
	QueriesSent    int64 // queries sent to neighbours by our searches
	QueriesRecv    int64
	QueriesFwd     int64
	QueriesDup     int64
	QueriesLimited int64 // queries and hits dropped by the per-neighbour rate limit
	Answered       int64 // hits we sent for tracks we have
	Hits           int64 // hits received for our own searches
	HitsByHops     [maxTTL + 1]int64
	TrackerHolders int64 // holders the tracker returned
	Evictions      int64
	Refused        int64 // connections refused (cap, ban, handshake flood)
	Dropped        int64 // peers dropped by the streamer
	Penalties      int64
	HandshakeFails int64
	Peers          []PeerStats
}

// PeerStats describes one neighbour.
type PeerStats struct {
	ID        string
	Outbound  bool
	BytesUp   int64
	BytesDown int64
	UpRate    float64 // bytes/s, decayed over HalfLife
	DownRate  float64
	Hits      float64 // recent useful search answers
	Faults    int
	RTT       time.Duration
	Utility   float64
}

// Stats returns a snapshot.
func (n *Node) Stats() Stats {
	now := n.cfg.Now()
	s := Stats{
		UploadingTo: n.up.serving(), UploadPaused: n.up.isPaused(), UploadStops: n.c.uploadStops.Load(),
		ChunksServed: n.c.chunksServed.Load(), BytesUp: n.c.bytesUp.Load(), BytesDown: n.c.bytesDown.Load(),
		Choked: n.c.choked.Load(), Searches: n.c.searches.Load(), QueriesSent: n.c.queriesSent.Load(),
		QueriesRecv: n.c.queriesRecv.Load(), QueriesFwd: n.c.queriesFwd.Load(), QueriesDup: n.c.queriesDup.Load(),
		QueriesLimited: n.c.queriesLimited.Load(), Answered: n.c.queriesAnswered.Load(), Hits: n.c.hits.Load(),
		TrackerHolders: n.c.trackerHits.Load(), Evictions: n.c.evictions.Load(), Refused: n.c.refused.Load(),
		Dropped: n.c.dropped.Load(), Penalties: n.c.penalties.Load(), HandshakeFails: n.c.handshakeFail.Load(),
	}
	for i := range s.HitsByHops {
		s.HitsByHops[i] = n.c.hitsByHops[i].Load()
	}
	n.mu.Lock()
	conns := n.connsLocked()
	n.mu.Unlock()
	s.Neighbours = len(conns)
	hl := n.cfg.HalfLife
	for _, pc := range conns {
		u := n.usefulness(pc, now)
		s.Peers = append(s.Peers, PeerStats{ID: pc.key, Outbound: pc.outbound, BytesUp: pc.up.Load(), BytesDown: pc.down.Load(),
			UpRate: Rate(u.Up, hl), DownRate: Rate(u.Down, hl), Hits: u.Hits, Faults: u.Faults, RTT: u.RTT, Utility: Utility(u)})
	}
	sort.Slice(s.Peers, func(i, j int) bool { return s.Peers[i].ID < s.Peers[j].ID })
	return s
}

// InFlight returns how many of our chunk requests to neighbours are
// outstanding.
func (n *Node) InFlight() int {
	n.mu.Lock()
	conns := n.connsLocked()
	n.mu.Unlock()
	var s int64
	for _, pc := range conns {
		s += pc.inflight.Load()
	}
	return int(s)
}
