package stream

import (
	"slices"
	"time"
)

// OriginPeer is the Peer index of an Assignment that goes to the origin.
const OriginPeer = -1

// Want is one chunk that is missing and not being fetched, as the selection
// function sees it.
type Want struct {
	Job      int           // the caller's handle for the track; ties break on it
	Chunk    int           // chunk index
	Bytes    int           // chunk length
	Deadline time.Duration // until playback reaches the chunk (may be negative)
	Urgency  Urgency
	Origin   bool          // the buffer policy allows the origin for this chunk
	Slack    time.Duration // when Origin: a peer must beat Deadline by this much
	Peers    []int         // indices into the peer loads of peers that may serve it
}

// PeerLoad is one peer's state as the selection function sees it.
type PeerLoad struct {
	Rate        float64 // measured (or assumed) bytes per second, > 0
	Outstanding int64   // bytes requested from it and not yet received
	Free        int     // requests it may still be given
}

// Assignment says: fetch Wants[Want] from peer loads[Peer], or from the
// origin when Peer == OriginPeer.
type Assignment struct {
	Want int
	Peer int
}

// Select decides which missing chunks to request now and from whom. It is a
// pure, deterministic function of its arguments (which it does not modify):
//
//   - wants are taken most urgent first: by Urgency, then Deadline, then
//     Job and Chunk;
//   - for each, the candidate peer with the lowest expected download time
//     edt = (Outstanding + Bytes) / Rate is found (ties: lower index), both
//     among peers with a free request slot and among all candidates;
//   - a peer with a free slot gets the chunk if edt + Slack is within the
//     deadline, or if the origin is not allowed for it (best effort);
//   - otherwise, if even the best busy peer cannot make the deadline, the
//     origin gets it while originFree (chunks) lasts;
//   - otherwise the chunk waits for a slot at that busy peer, and its bytes
//     are added to the peer's queue so later chunks see the wait;
//   - every assignment adds its bytes to the peer's outstanding load.
func Select(wants []Want, peers []PeerLoad, originFree int) []Assignment {
	order := make([]int, len(wants))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		x, y := &wants[a], &wants[b]
		switch {
		case x.Urgency != y.Urgency:
			return int(x.Urgency) - int(y.Urgency)
		case x.Deadline != y.Deadline:
			if x.Deadline < y.Deadline {
				return -1
			}
			return 1
		case x.Job != y.Job:
			return x.Job - y.Job
		}
		return x.Chunk - y.Chunk
	})
	load := slices.Clone(peers)
	var out []Assignment
	for _, wi := range order {
		w := &wants[wi]
		free, freeEDT := -1, time.Duration(0)
		any, anyEDT := -1, time.Duration(0)
		for _, p := range w.Peers {
			if p < 0 || p >= len(load) || load[p].Rate <= 0 {
				continue
			}
			edt := ExpectedTime(load[p].Outstanding+int64(w.Bytes), load[p].Rate)
			if any < 0 || edt < anyEDT || (edt == anyEDT && p < any) {
				any, anyEDT = p, edt
			}
			if load[p].Free > 0 && (free < 0 || edt < freeEDT || (edt == freeEDT && p < free)) {
				free, freeEDT = p, edt
			}
		}
		switch {
		case free >= 0 && (!w.Origin || freeEDT+w.Slack <= w.Deadline):
			load[free].Outstanding += int64(w.Bytes)
			load[free].Free--
			out = append(out, Assignment{Want: wi, Peer: free})
		case w.Origin && (any < 0 || anyEDT+w.Slack > w.Deadline):
			if originFree > 0 {
				originFree--
				out = append(out, Assignment{Want: wi, Peer: OriginPeer})
			}
		case any >= 0:
			load[any].Outstanding += int64(w.Bytes) // queued behind the busy peer
		}
	}
	return out
}

// ExpectedTime is how long bytes take at rate bytes per second (capped at
// 24 hours, so a near-zero rate stays comparable).
func ExpectedTime(bytes int64, rate float64) time.Duration {
	const maxT = 24 * time.Hour
	if rate <= 0 {
		return maxT
	}
	s := float64(bytes) / rate
	if s*float64(time.Second) >= float64(maxT) {
		return maxT
	}
	return time.Duration(s * float64(time.Second))
}

// OriginMode is the buffer policy's hysteresis for one stream: the origin
// joins when the buffer drops below low and leaves once it is back to well
// filled. complete means every remaining chunk is downloaded.
func OriginMode(wasOn bool, buffered, low, wellFilled time.Duration, complete bool) bool {
	switch {
	case complete:
		return false
	case buffered < low:
		return true
	case buffered >= wellFilled:
		return false
	}
	return wasOn
}

// PeersCarryIn estimates how long peers alone need to bring the buffer from
// buffered to target while playback consumes bps bytes per second, given
// their combined rate. It returns -1 when peers are slower than playback
// (they can never carry it alone) and 0 when the buffer is already there.
func PeersCarryIn(buffered, target time.Duration, peerRate, bps float64) time.Duration {
	if buffered >= target {
		return 0
	}
	if peerRate <= bps {
		return -1
	}
	missing := (target - buffered).Seconds() * bps // bytes
	return ExpectedTime(int64(missing), peerRate-bps)
}
