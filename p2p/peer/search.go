package peer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
)

// remote is a neighbour as the streamer sees it (stable per peer ID).
type remote struct {
	n   *Node
	id  wire.PeerID
	key string
}

// ID implements stream.Peer: the peer ID's text form.
func (r *remote) ID() string { return r.key }

// RequestChunk implements stream.Peer.
func (r *remote) RequestChunk(ctx context.Context, id track.ID, i int, u stream.Urgency) ([]byte, error) {
	pc := r.n.conn(r.id)
	if pc == nil {
		return nil, fmt.Errorf("requesting chunk %d from %s: %w", i, r.id.Short(), ErrNotConnected)
	}
	if pc.stopped.Load() {
		return nil, fmt.Errorf("requesting chunk %d from %s: %w", i, r.id.Short(), ErrUploadStopped)
	}
	if i < 0 || int64(i) > int64(^uint32(0)) {
		return nil, fmt.Errorf("requesting chunk %d: index out of range", i)
	}
	prio := wire.PrioBackground
	switch u {
	case stream.UrgencyStreaming:
		prio = wire.PrioUrgent
	case stream.UrgencyPrefetch:
		prio = wire.PrioPrefetch
	}
	pc.inflight.Add(1)
	defer pc.inflight.Add(-1)
	resp, err := pc.c.Request(ctx, TypeChunkRequest, ChunkRequest{Track: id, Index: uint32(i), Urgency: uint8(min(u, 2))}.Marshal(), prio)
	if err != nil {
		switch {
		case errors.Is(err, wire.ErrBusy):
			err = fmt.Errorf("%w (%w)", ErrChoked, err)
		case errors.Is(err, wire.ErrUnavailable):
			pc.stopped.Store(true)
			err = fmt.Errorf("%w (%w)", ErrUploadStopped, err)
		}
		return nil, fmt.Errorf("requesting chunk %d from %s: %w", i, r.id.Short(), err)
	}
	if len(resp) == 0 || len(resp) > track.ChunkSize {
		return nil, fmt.Errorf("requesting chunk %d from %s: %w: %d bytes", i, r.id.Short(), ErrBadChunk, len(resp))
	}
	r.n.c.bytesDown.Add(int64(len(resp)))
	pc.down.Add(int64(len(resp)))
	pc.mu.Lock()
	pc.rDown.AddF(r.n.cfg.Now(), float64(len(resp)), r.n.cfg.HalfLife)
	pc.mu.Unlock()
	return resp, nil
}

func (n *Node) remoteLocked(id wire.PeerID) *remote {
	r := n.remotes[id]
	if r == nil {
		r = &remote{n: n, id: id, key: id.String()}
		n.remotes[id] = r
	}
	return r
}

// Search implements stream.PeerSource: it asks the tracker (if any) and
// floods a query to the neighbours, asynchronously. Results show up in
// Candidates.
func (n *Node) Search(ctx context.Context, id track.ID) {
	n.c.searches.Add(1)
	if !n.cfg.NoOverlaySearch {
		n.flood(id)
	}
	if n.cfg.Tracker == nil {
		return
	}
	select {
	case n.searchSem <- struct{}{}:
	default:
		n.log.Warn("too many tracker queries at once; relying on the overlay", "track", id)
		return
	}
	if !n.goTracked(func() {
		defer func() { <-n.searchSem }()
		qctx, cancel := context.WithTimeout(n.ctx, n.cfg.SearchTimeout)
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		hs, err := n.cfg.Tracker.Query(qctx, id)
		if err != nil {
			n.log.Warn("tracker query failed; relying on the overlay", "track", id, "err", err)
			return
		}
		for _, h := range hs {
			if h.ID == n.id {
				continue
			}
			n.c.trackerHits.Add(1)
			n.learn(id, h)
		}
	}) {
		<-n.searchSem
	}
}

// flood sends a new query for id to every neighbour.
func (n *Node) flood(id track.ID) {
	qid := rand.Uint64()
	q := SearchQuery{QueryID: qid, TTL: uint8(n.cfg.SearchTTL), Track: id}
	n.mu.Lock()
	n.seen.add(qid, route{track: id, at: n.cfg.Now()})
	conns := n.connsLocked()
	n.mu.Unlock()
	msg := q.Marshal()
	for _, pc := range conns {
		if pc.c.Notify(TypeSearchQuery, msg, wire.PrioUrgent) == nil {
			n.c.queriesSent.Add(1)
		}
	}
}

func (n *Node) connsLocked() []*pconn {
	out := make([]*pconn, 0, len(n.conns))
	for _, pc := range n.conns {
		out = append(out, pc)
	}
	return out
}

// learn records that h has track id and connects to it.
func (n *Node) learn(id track.ID, h Holder) {
	n.mu.Lock()
	hs := n.have[id]
	if hs == nil {
		if len(n.have) >= maxKnownTracks {
			for k := range n.have { // forget an arbitrary track
				delete(n.have, k)
				break
			}
		}
		hs = map[wire.PeerID]Holder{}
		n.have[id] = hs
	}
	if _, ok := hs[h.ID]; ok || len(hs) < maxHoldersTrack {
		hs[h.ID] = h
	}
	n.mu.Unlock()
	n.dialAsync(h)
}

// dialAsync connects to h in the background unless connected, dialing,
// banned, recently failed, or there is no dial slot free.
func (n *Node) dialAsync(h Holder) {
	if h.Addr == "" || h.ID == n.id {
		return
	}
	n.mu.Lock()
	skip := n.conns[h.ID] != nil || n.dialing[h.ID]
	if t, ok := n.dialFail[h.ID]; ok && n.cfg.Now().Sub(t) < dialFailBackoff {
		skip = true
	}
	n.mu.Unlock()
	if skip {
		return
	}
	select {
	case n.dialSem <- struct{}{}:
	default:
		return
	}
	if !n.goTracked(func() {
		defer func() { <-n.dialSem }()
		if err := n.Connect(n.ctx, h); err != nil && !errors.Is(err, ErrClosed) {
			n.log.Debug("connecting to a peer that has a track failed", "peer", h.ID, "addr", h.Addr, "err", err)
		}
	}) {
		<-n.dialSem
	}
}

// Candidates implements stream.PeerSource: connected neighbours known to
// have id complete and not stopped uploading. Known holders not connected
// yet are dialed in the background.
func (n *Node) Candidates(id track.ID) []stream.Peer {
	n.mu.Lock()
	var out []stream.Peer
	var dial []Holder
	for pid, h := range n.have[id] {
		pc := n.conns[pid]
		if pc == nil {
			dial = append(dial, h)
			continue
		}
		if !pc.stopped.Load() {
			out = append(out, n.remoteLocked(pid))
		}
	}
	n.mu.Unlock()
	for _, h := range dial {
		n.dialAsync(h)
	}
	return out
}

// Penalize implements stream.PeerSource.
func (n *Node) Penalize(p stream.Peer, reason error) {
	r, ok := p.(*remote)
	if !ok {
		return
	}
	n.c.penalties.Add(1)
	if pc := n.conn(r.id); pc != nil {
		pc.mu.Lock()
		pc.faults++
		pc.mu.Unlock()
	}
	n.log.Warn("peer penalised", "peer", r.id, "reason", reason)
}

// Drop implements stream.PeerSource: the peer is disconnected, forgotten as
// a holder, and refused for BanDuration.
func (n *Node) Drop(p stream.Peer, reason error) {
	r, ok := p.(*remote)
	if !ok {
		return
	}
	n.c.dropped.Add(1)
	n.mu.Lock()
	n.banned[r.id] = n.cfg.Now().Add(n.cfg.BanDuration)
	for _, hs := range n.have {
		delete(hs, r.id)
	}
	pc := n.conns[r.id]
	n.mu.Unlock()
	n.log.Warn("dropping peer", "peer", r.id, "reason", reason, "ban", n.cfg.BanDuration)
	if pc != nil {
		n.goTracked(func() {
			ctx, cancel := context.WithTimeout(n.ctx, goAwayTimeout)
			defer cancel()
			pc.c.GoAway(ctx, wire.CodeForbidden, "dropped: sent chunks that failed verification")
		})
	}
}

// onQuery handles a flooded query: answer if we have the track complete,
// forward with TTL-1 to the other neighbours, remember the reverse path.
func (n *Node) onQuery(pc *pconn, payload []byte) error {
	q, err := UnmarshalSearchQuery(payload)
	if err != nil {
		return err
	}
	n.c.queriesRecv.Add(1)
	if !pc.lim.Allow() {
		n.c.queriesLimited.Add(1)
		return nil
	}
	n.mu.Lock()
	fresh := n.seen.add(q.QueryID, route{from: pc.key, track: q.Track, at: n.cfg.Now()})
	var fwd []*pconn
	if fresh && q.TTL > 1 {
		for _, o := range n.conns {
			if o != pc {
				fwd = append(fwd, o)
			}
		}
	}
	n.mu.Unlock()
	if !fresh {
		n.c.queriesDup.Add(1)
		return nil
	}
	if n.cfg.Store.Complete(q.Track) {
		if addr := n.advertise(); addr != "" {
			hit, err := SearchHit{QueryID: q.QueryID, Track: q.Track, Hops: q.Hops + 1,
				Holders: []Holder{{ID: n.id, Addr: addr}}}.Marshal()
			if err == nil && pc.c.Notify(TypeSearchHit, hit, wire.PrioUrgent) == nil {
				n.c.queriesAnswered.Add(1)
			}
		}
	}
	if len(fwd) > 0 {
		msg := SearchQuery{QueryID: q.QueryID, TTL: q.TTL - 1, Hops: q.Hops + 1, Track: q.Track}.Marshal()
		for _, o := range fwd {
			if o.c.Notify(TypeSearchQuery, msg, wire.PrioUrgent) == nil {
				n.c.queriesFwd.Add(1)
			}
		}
	}
	return nil
}

// onHit handles an answer: ours (learn the holders) or routed back along
// the path its query came by. Unsolicited hits are dropped.
func (n *Node) onHit(pc *pconn, payload []byte) error {
	h, err := UnmarshalSearchHit(payload)
	if err != nil {
		return err
	}
	if !pc.lim.Allow() {
		n.c.queriesLimited.Add(1)
		return nil
	}
	now := n.cfg.Now()
	n.mu.Lock()
	r, ok := n.seen.get(h.QueryID, now)
	var back *pconn
	if ok && r.from != "" {
		for _, o := range n.conns {
			if o.key == r.from {
				back = o
				break
			}
		}
	}
	n.mu.Unlock()
	if !ok || r.track != h.Track {
		return nil
	}
	pc.mu.Lock()
	pc.rHits.AddF(now, 1, n.cfg.HalfLife)
	pc.mu.Unlock()
	if r.from != "" {
		if back != nil {
			back.c.Notify(TypeSearchHit, payload, wire.PrioUrgent)
		}
		return nil
	}
	n.c.hits.Add(1)
	n.c.hitsByHops[min(int(h.Hops), maxTTL)].Add(1)
	for _, x := range h.Holders {
		if x.ID != n.id {
			n.learn(h.Track, x)
		}
	}
	return nil
}
