package stream

import (
	"slices"
	"strings"
)

// Stats is a snapshot of the streamer's counters since New; the daemon
// exports them as metrics.
type Stats struct {
	BytesOrigin int64 // verified bytes received from the origin
	BytesPeers  int64 // verified bytes received from peers
	BytesCache  int64 // bytes read by streams from chunks cached before they opened
	// OriginBy splits BytesOrigin by why the origin was asked (index:
	// OriginReason): what to look at when the origin's share is high.
	OriginBy [NumOriginReasons]int64

	ReRequests    int64 // chunk requests asked again after a slow, failed or bad source
	HashFailures  int64 // chunks that failed verification (any source, the store included)
	UploadPauses  int64 // times uploads were paused for a very low buffer
	Underruns     int64 // Reads that had to wait after a stream had started playing
	StoreFailures int64 // store reads/writes that failed
	PeerFailures  int64 // peer requests that failed (not counting bad data)
	SearchesAgain int64 // peer searches repeated for a track with no candidates

	UploadPaused bool
	Peers        []PeerStats // every peer asked so far, sorted by ID
}

// PeerStats is the scheduler's view of one peer.
type PeerStats struct {
	ID          string
	Rate        float64 // measured (or assumed) bytes per second
	Bytes       int64   // verified bytes received from it
	Outstanding int64   // bytes requested and not yet received
	Faults      int     // bad chunks
	Dropped     bool
}

// Stats returns a snapshot of the counters.
func (s *Streamer) Stats() Stats {
	return Stats{
		BytesOrigin:   s.c.origin.Load(),
		BytesPeers:    s.c.peers.Load(),
		BytesCache:    s.c.cache.Load(),
		OriginBy:      s.originBy(),
		ReRequests:    s.c.reRequests.Load(),
		HashFailures:  s.c.hashFailures.Load(),
		UploadPauses:  s.c.uploadPauses.Load(),
		Underruns:     s.c.underruns.Load(),
		StoreFailures: s.c.storeFailures.Load(),
		PeerFailures:  s.c.peerFailure.Load(),
		SearchesAgain: s.c.searchesAgain.Load(),
		UploadPaused:  s.pausedState.Load(),
		Peers:         s.peerSnapshot(),
	}
}

// OriginReason says why a chunk was asked of the origin.
type OriginReason uint8

const (
	OriginHead     OriginReason = iota // the head Open asks for with the manifest
	OriginStart                        // origin mode before the stream first filled up
	OriginLow                          // origin mode: the buffer fell below Low
	OriginUrgent                       // due within Urgent and no peer could make it
	OriginNoPeers                      // no peer has the track
	OriginPrefetch                     // the next track, no peer had it in time
	NumOriginReasons
)

func (r OriginReason) String() string {
	switch r {
	case OriginHead:
		return "head"
	case OriginStart:
		return "start"
	case OriginLow:
		return "low"
	case OriginUrgent:
		return "urgent"
	case OriginNoPeers:
		return "no_peers"
	case OriginPrefetch:
		return "prefetch"
	}
	return "unknown"
}

func (s *Streamer) originBy() (out [NumOriginReasons]int64) {
	for i := range out {
		out[i] = s.c.originBy[i].Load()
	}
	return out
}

// addOrigin counts verified origin bytes.
func (s *Streamer) addOrigin(r OriginReason, n int) {
	s.c.origin.Add(int64(n))
	s.c.originBy[r].Add(int64(n))
}

func (s *Streamer) peerSnapshot() []PeerStats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return slices.Clone(s.peerStats)
}

// publishPeers copies the Run goroutine's peer table for Stats.
func (s *Streamer) publishPeers() {
	ps := make([]PeerStats, 0, len(s.peers))
	for id, pi := range s.peers {
		ps = append(ps, PeerStats{ID: id, Rate: pi.rate, Bytes: pi.bytes, Outstanding: pi.outstanding, Faults: pi.faults, Dropped: pi.dropped})
	}
	slices.SortFunc(ps, func(a, b PeerStats) int { return strings.Compare(a.ID, b.ID) })
	s.statsMu.Lock()
	s.peerStats = ps
	s.statsMu.Unlock()
}
