package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// result reports the end of a request to the Run goroutine.
type result struct {
	j      *job
	chunks []int // the chunks asked for (one for a peer, a run for the origin)
	req    *request
	err    error
	fault  bool // the peer sent bytes that failed verification
	at     time.Time
	got    int // chunks delivered
}

// pass is one scheduling round: buffer policy, stall checks, selection,
// launching requests. Run goroutine only.
func (s *Streamer) pass(ctx context.Context, workers *sync.WaitGroup) {
	now := s.clock.Now()
	jobs := s.jobsSnapshot()
	remaining := time.Duration(-1) // play time left in the current stream, -1: none
	pause, recovered := false, true
	for _, j := range jobs {
		if j.ctx.Err() != nil {
			j.stop()
			s.remove(j)
			continue
		}
		if j.urg != UrgencyStreaming {
			continue
		}
		buffered, complete := j.level()
		if rem := j.remaining(); remaining < 0 || rem < remaining {
			remaining = rem
		}
		j.originMode = OriginMode(j.originMode, buffered, s.cfg.Low, s.cfg.WellFilled, complete)
		if buffered >= s.cfg.VeryLow || complete {
			j.primed = true
		}
		if buffered >= s.cfg.WellFilled || complete {
			j.filled = true
		}
		if j.primed && !complete && buffered < s.cfg.VeryLow {
			pause = true
		}
		if j.primed && !complete && buffered < s.cfg.Low {
			recovered = false
		}
	}
	if pause {
		s.setPaused(true)
	} else if recovered {
		s.setPaused(false)
	}

	var (
		wants   []Want
		reasons []OriginReason // why the origin, should wants[i] go there
		loads   []PeerLoad
		infos   []*peerInfo
		index   = map[*peerInfo]int{}
	)
	for ji, j := range jobs {
		if j.ctx.Err() != nil {
			continue
		}
		var offsetT time.Duration // added to every deadline of this job
		originOK := now.After(s.originRest) || now.Equal(s.originRest)
		prefetchOrigin := false
		if j.urg != UrgencyStreaming {
			if j.complete() {
				fetched := j.fetched()
				s.mu.Lock()
				s.keepPrefetchedLocked(j.id, fetched)
				s.mu.Unlock()
				j.stop()
				s.remove(j)
				continue
			}
			if remaining >= 0 && remaining > s.cfg.PrefetchSearch {
				continue // too early for the next track
			}
			if s.d.Peers != nil && !j.searched.Swap(true) {
				s.d.Peers.Search(j.ctx, j.id)
			}
			offsetT = max(remaining, 0)
			prefetchOrigin = remaining < 0 || remaining <= s.cfg.PrefetchOrigin
		}
		var cands []int
		if s.d.Peers != nil {
			for _, p := range s.d.Peers.Candidates(j.id) {
				pi := s.peer(p)
				pi.p = p
				if pi.dropped || now.Before(pi.rest) {
					continue
				}
				k, ok := index[pi]
				if !ok {
					k = len(loads)
					index[pi] = k
					infos = append(infos, pi)
					loads = append(loads, PeerLoad{Rate: pi.rate, Outstanding: pi.outstanding, Free: s.cfg.PeerRequests - pi.reqs})
				}
				cands = append(cands, k)
			}
		}
		if len(cands) == 0 && s.d.Peers != nil && j.searched.Load() {
			s.searchAgain(j, now)
		}
		s.checkStalls(j, now, originOK || len(cands) > 1)
		if j.urg == UrgencyStreaming {
			buffered, complete := j.level()
			var rate float64
			for _, k := range cands {
				rate += loads[k].Rate
			}
			carry := PeersCarryIn(buffered, s.cfg.WellFilled, rate, j.bps)
			if complete {
				carry = 0
			}
			j.carryIn.Store(int64(carry))
		}
		j.mu.Lock()
		first := int(j.pos / track.ChunkSize)
		last := j.n
		if j.memMode.Load() {
			last = min(last, first+s.cfg.MemoryChunks)
		}
		for i := first; i < last && len(wants) < (ji+1)*maxWantsPerJob; i++ {
			if j.have[i] || j.inflight[i] != nil {
				continue
			}
			dl := j.dur(j.m.ChunkOffset(i)-j.pos) + offsetT
			var origin bool
			switch {
			case !originOK:
			case j.urg != UrgencyStreaming:
				origin = prefetchOrigin && len(cands) == 0 && j.dur(j.m.ChunkOffset(i)) <= s.cfg.OriginAhead
			case len(cands) == 0:
				// No peer yet: the origin streams it, but no further ahead
				// than OriginAhead, so that peers found by a later search
				// (or whose connection is still being set up) carry the rest.
				origin = dl <= s.cfg.OriginAhead
			default:
				origin = (j.originMode && dl <= s.cfg.OriginAhead) || dl < s.cfg.Urgent
			}
			peers := cands
			if ex, ok := j.excluded[i]; ok && now.Before(j.exclUntil[i]) {
				peers = nil
				for _, k := range cands {
					if infos[k].p.ID() != ex {
						peers = append(peers, k)
					}
				}
			}
			if len(peers) == 0 && !origin {
				peers = cands // the only source left, however slow it was
			}
			slack := s.cfg.DeadlineMargin
			if j.originMode {
				slack = max(slack, s.cfg.Low) // refill the first Low seconds from the origin
			}
			wants = append(wants, Want{Job: ji, Chunk: i, Bytes: j.m.ChunkLen(i), Deadline: dl, Urgency: j.urg,
				Origin: origin, Slack: slack, Peers: peers})
			reasons = append(reasons, originReason(j, len(cands)))
		}
		j.mu.Unlock()
	}

	freeReqs := s.cfg.OriginRequests - s.originBusy
	as := Select(wants, loads, freeReqs*s.cfg.OriginBatch)
	type run struct {
		j      *job
		first  int
		n      int
		reason OriginReason // of its first chunk
	}
	var runs []*run
	for _, a := range as {
		w := wants[a.Want]
		j := jobs[w.Job]
		if a.Peer != OriginPeer {
			s.startPeer(ctx, workers, j, w.Chunk, infos[a.Peer], now)
			continue
		}
		joined := false
		for _, r := range runs {
			if r.j == j && r.first+r.n == w.Chunk && r.n < s.cfg.OriginBatch {
				r.n++
				joined = true
				break
			}
		}
		if !joined {
			runs = append(runs, &run{j: j, first: w.Chunk, n: 1, reason: reasons[a.Want]})
		}
	}
	for _, r := range runs {
		if freeReqs == 0 {
			break
		}
		freeReqs--
		s.startOrigin(ctx, workers, r.j, r.first, r.n, r.reason, now)
	}
	s.publishPeers()
	if len(s.settlers) > 0 && s.originBusy == 0 && len(s.results) == 0 {
		for _, w := range s.settlers {
			close(w)
		}
		s.settlers = nil
	}
}

// checkStalls takes chunks away from peers too slow for them.
// alt says whether another source (the origin or a second peer) could take
// a chunk over; without one, only a stall (not mere urgency) moves a request.
func (s *Streamer) checkStalls(j *job, now time.Time, alt bool) {
	j.mu.Lock()
	pos := j.pos
	j.mu.Unlock()
	for i, rq := range j.inflight {
		if rq.peer == nil {
			continue
		}
		elapsed := now.Sub(rq.start)
		dl := j.dur(j.m.ChunkOffset(i) - pos)
		late := elapsed > time.Duration(s.cfg.StallFactor*float64(rq.expect))+s.cfg.StallGrace
		// An urgent chunk leaves a peer that is overdue or will not make it.
		urgentLate := alt && j.urg == UrgencyStreaming && dl < s.cfg.Urgent && elapsed > s.cfg.StallGrace &&
			(elapsed > rq.expect || rq.expect-elapsed > dl)
		if !late && !urgentLate {
			continue
		}
		pi := rq.peer
		s.abandon(j, i, rq)
		if elapsed > 0 {
			if observed := float64(rq.bytes) / elapsed.Seconds(); observed < pi.rate {
				pi.rate, pi.measured = max(observed, 1), true
			}
		}
		j.excluded[i] = pi.p.ID()
		j.exclUntil[i] = now.Add(s.cfg.PeerBackoff)
		s.c.reRequests.Add(1)
		s.log.Debug("peer too slow; asking elsewhere", "peer", pi.p.ID(), "track", j.id, "chunk", i, "elapsed", elapsed)
	}
}

func (s *Streamer) startPeer(ctx context.Context, workers *sync.WaitGroup, j *job, i int, pi *peerInfo, now time.Time) {
	rctx, cancel := context.WithCancel(j.ctx)
	stopAfter := context.AfterFunc(ctx, cancel) // the scheduler stopping ends it too
	n := j.m.ChunkLen(i)
	rq := &request{peer: pi, start: now, bytes: n, cancel: cancel,
		expect: ExpectedTime(pi.outstanding+int64(n), pi.rate)}
	pi.outstanding += int64(n)
	pi.reqs++
	j.inflight[i] = rq
	peer := pi.p // pi belongs to the Run goroutine
	workers.Add(1)
	go func() {
		defer workers.Done()
		defer stopAfter()
		defer cancel()
		data, err := peer.RequestChunk(rctx, j.id, i, j.urg)
		r := result{j: j, chunks: []int{i}, req: rq, at: s.clock.Now()}
		if err == nil {
			if verr := j.m.VerifyChunk(i, data); verr != nil {
				err, r.fault = fmt.Errorf("%w: %w", ErrBadChunk, verr), true
			} else {
				s.c.peers.Add(int64(len(data)))
				j.deliver(i, data)
				r.got = 1
			}
		}
		r.err = err
		s.send(r)
	}()
}

// searchAgain repeats the peer search for a job that has no candidates
// every SearchAgain: a speaker may have completed the track since, or
// joined. Run goroutine only.
func (s *Streamer) searchAgain(j *job, now time.Time) {
	switch {
	case j.lastSearch.IsZero():
		j.lastSearch = now // the first search, by Open or the prefetch
	case now.Sub(j.lastSearch) >= s.cfg.SearchAgain:
		j.lastSearch = now
		s.c.searchesAgain.Add(1)
		s.d.Peers.Search(j.ctx, j.id)
	}
}

// originReason says why chunk requests of j that go to the origin do.
func originReason(j *job, candidates int) OriginReason {
	switch {
	case j.urg != UrgencyStreaming:
		return OriginPrefetch
	case candidates == 0:
		return OriginNoPeers
	case j.originMode && !j.filled:
		return OriginStart
	case j.originMode:
		return OriginLow
	}
	return OriginUrgent
}

func (s *Streamer) startOrigin(ctx context.Context, workers *sync.WaitGroup, j *job, first, n int, reason OriginReason, now time.Time) {
	rctx, cancel := context.WithCancel(j.ctx)
	stopAfter := context.AfterFunc(ctx, cancel)
	rq := &request{start: now, cancel: cancel, originRound: s.originRound}
	chunks := make([]int, n)
	for k := range chunks {
		chunks[k] = first + k
		j.inflight[first+k] = rq
		rq.bytes += j.m.ChunkLen(first + k)
	}
	s.originBusy++
	workers.Add(1)
	go func() {
		defer workers.Done()
		defer stopAfter()
		defer cancel()
		r := result{j: j, chunks: chunks, req: rq}
		r.err = s.d.Origin.FetchChunks(rctx, j.id, j.m, first, n, func(i int, data []byte) error {
			if err := j.m.VerifyChunk(i, data); err != nil {
				return fmt.Errorf("origin chunk %d: %w", i, err)
			}
			s.addOrigin(reason, len(data))
			j.deliver(i, data)
			r.got++
			return nil
		})
		r.at = s.clock.Now()
		s.send(r)
	}()
}

func (s *Streamer) send(r result) {
	select {
	case s.results <- r:
	case <-s.loopDone:
	}
}

// handle books a finished request. Run goroutine only.
func (s *Streamer) handle(r result) {
	j, rq := r.j, r.req
	for _, i := range r.chunks {
		if j.inflight[i] == rq {
			delete(j.inflight, i)
		}
	}
	cancelled := j.ctx.Err() != nil || errors.Is(r.err, context.Canceled)
	if rq.peer == nil {
		if !rq.head {
			s.originBusy--
		}
		if r.err == nil {
			s.originFails = 0
		}
		if r.err != nil && !cancelled {
			// Requests launched together fail together: only the first
			// failure of a round escalates the rest, or one outage seen by
			// OriginRequests parallel requests would jump straight to the
			// 32 s cap and leave a drained stream silent long after the
			// origin is back.
			if rq.originRound == s.originRound {
				s.originRound++
				s.originFails++
			}
			// originFails is 0 when a request of a later round succeeded:
			// the origin is back and this failure is stale.
			if s.originFails > 0 {
				if rest := r.at.Add(originRetry << min(s.originFails-1, 5)); rest.After(s.originRest) { // 1s … 32s
					s.originRest = rest
				}
			}
			if errors.Is(r.err, track.ErrChunkHash) {
				s.c.hashFailures.Add(1)
			}
			s.c.reRequests.Add(int64(len(r.chunks) - r.got))
			s.log.Warn("origin request failed; retrying shortly", "track", j.id, "err", r.err)
		}
		return
	}
	pi := rq.peer
	if rq.abandoned {
		if r.err == nil && r.got == 1 {
			s.sample(pi, rq, r.at) // it arrived after all: still evidence of the rate
		}
		return
	}
	pi.outstanding -= int64(rq.bytes)
	pi.reqs--
	switch {
	case r.err == nil:
		s.sample(pi, rq, r.at)
	case r.fault:
		s.c.hashFailures.Add(1)
		s.c.reRequests.Add(1)
		pi.faults++
		s.d.Peers.Penalize(pi.p, r.err)
		if pi.faults >= s.cfg.MaxPeerFaults && !pi.dropped {
			pi.dropped = true
			s.d.Peers.Drop(pi.p, fmt.Errorf("%d bad chunks: %w", pi.faults, r.err))
			s.log.Warn("dropping peer for bad chunks", "peer", pi.p.ID(), "faults", pi.faults)
			for _, oj := range s.jobsSnapshot() {
				for i, orq := range oj.inflight {
					if orq.peer == pi {
						s.abandon(oj, i, orq)
						s.c.reRequests.Add(1)
					}
				}
			}
		}
	case cancelled:
	default:
		s.c.reRequests.Add(1)
		s.c.peerFailure.Add(1)
		pi.rest = r.at.Add(s.cfg.PeerBackoff)
		s.log.Debug("peer request failed", "peer", pi.p.ID(), "track", j.id, "err", r.err)
	}
}

// abandon cancels a peer request and frees its chunk for another source.
func (s *Streamer) abandon(j *job, i int, rq *request) {
	rq.abandoned = true
	rq.cancel()
	delete(j.inflight, i)
	rq.peer.outstanding -= int64(rq.bytes)
	rq.peer.reqs--
}

// sample folds a completed request into the peer's measured rate: bytes over
// the time since the request started or the peer's previous delivery,
// whichever is later (requests to one peer are pipelined).
func (s *Streamer) sample(pi *peerInfo, rq *request, at time.Time) {
	since := rq.start
	if pi.lastDone.After(since) {
		since = pi.lastDone
	}
	// A track's short last chunk says more about latency than rate: skip it.
	if dt := at.Sub(since); dt > 0 && rq.bytes >= track.ChunkSize/2 {
		v := float64(rq.bytes) / dt.Seconds()
		if pi.measured {
			pi.rate = 0.7*pi.rate + 0.3*v
		} else {
			pi.rate, pi.measured = v, true
		}
	}
	pi.lastDone = at
	pi.bytes += int64(rq.bytes)
}
