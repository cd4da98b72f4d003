package peer

import (
	"container/heap"
	"context"
	"sync"
)

// uploader admits chunk requests: at most maxPeers peers are served at a
// time (others are choked: BUSY), each peer has at most maxQueued requests
// waiting or running, and at most maxPeers reads run at once, the most
// urgent waiting request first. While paused, everything is refused and
// waiting requests are failed.
type uploader struct {
	maxPeers, maxQueued int

	mu      sync.Mutex
	paused  bool
	running int
	active  map[string]int // peer → requests waiting or running
	waiting waitHeap
	seq     uint64
}

type waiter struct {
	urg   uint8
	seq   uint64
	grant chan error // buffered 1: nil = run, error = refused
	idx   int
}

type admitErr int

const (
	admitOK admitErr = iota
	admitChoked
	admitQueueFull
	admitPaused
)

func newUploader(maxPeers, maxQueued int) *uploader {
	return &uploader{maxPeers: maxPeers, maxQueued: maxQueued, active: map[string]int{}}
}

// acquire waits for a read slot. release must be called after a nil error.
func (u *uploader) acquire(ctx context.Context, peer string, urg uint8) (admitErr, error) {
	u.mu.Lock()
	switch {
	case u.paused:
		u.mu.Unlock()
		return admitPaused, nil
	case u.active[peer] == 0 && len(u.active) >= u.maxPeers:
		u.mu.Unlock()
		return admitChoked, nil
	case u.active[peer] >= u.maxQueued:
		u.mu.Unlock()
		return admitQueueFull, nil
	}
	u.active[peer]++
	if u.running < u.maxPeers && len(u.waiting) == 0 {
		u.running++
		u.mu.Unlock()
		return admitOK, nil
	}
	u.seq++
	w := &waiter{urg: urg, seq: u.seq, grant: make(chan error, 1)}
	heap.Push(&u.waiting, w)
	u.mu.Unlock()
	select {
	case err := <-w.grant:
		if err != nil {
			u.done(peer, false)
			return admitPaused, nil
		}
		return admitOK, nil
	case <-ctx.Done():
		u.mu.Lock()
		if w.idx >= 0 {
			heap.Remove(&u.waiting, w.idx)
			u.mu.Unlock()
			u.done(peer, false)
			return admitOK, ctx.Err()
		}
		u.mu.Unlock()
		if err := <-w.grant; err == nil {
			u.release(peer) // granted just now: hand the slot on
		} else {
			u.done(peer, false)
		}
		return admitOK, ctx.Err()
	}
}

// release gives a read slot back and hands it to the most urgent waiter.
func (u *uploader) release(peer string) { u.done(peer, true) }

func (u *uploader) done(peer string, ran bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.active[peer]--; u.active[peer] <= 0 {
		delete(u.active, peer)
	}
	if !ran {
		return
	}
	if len(u.waiting) > 0 && !u.paused {
		w := heap.Pop(&u.waiting).(*waiter)
		w.grant <- nil
		return
	}
	u.running--
}

// setPaused pauses or resumes; pausing fails every waiting request.
func (u *uploader) setPaused(p bool) (changed bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.paused == p {
		return false
	}
	u.paused = p
	if p {
		for len(u.waiting) > 0 {
			w := heap.Pop(&u.waiting).(*waiter)
			w.grant <- errPausedGrant
		}
	}
	return true
}

func (u *uploader) isPaused() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.paused
}

// serving returns how many peers hold upload slots.
func (u *uploader) serving() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.active)
}

type waitHeap []*waiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if h[i].urg != h[j].urg {
		return h[i].urg < h[j].urg
	}
	return h[i].seq < h[j].seq
}
func (h waitHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *waitHeap) Push(x any)   { w := x.(*waiter); w.idx = len(*h); *h = append(*h, w) }
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.idx = -1
	return w
}
