package audio

import (
	"fmt"
	"sync/atomic"
)

// Ring is a lock-free single-producer single-consumer ring of interleaved
// float32 frames. The producer (the player's goroutine) calls Write; the
// consumer (the device callback) calls Read. Neither allocates, locks or
// blocks. Indices count frames since creation and only grow; each is written
// by one side and read by the other through atomics, which orders the sample
// copies around them.
type Ring struct {
	buf  []float32
	ch   int
	mask uint64 // capacity in frames - 1 (power of two)
	w    atomic.Uint64
	r    atomic.Uint64
	_    [64]byte // keep the hot indices off the next object's cache line
}

// NewRing returns a ring holding at least frames frames of ch channels.
func NewRing(frames, ch int) (*Ring, error) {
	if frames <= 0 || frames > 1<<24 || ch < 1 || ch > 8 {
		return nil, fmt.Errorf("%w: ring of %d frames x %d channels", ErrConfig, frames, ch)
	}
	c := 1
	for c < frames {
		c <<= 1
	}
	return &Ring{buf: make([]float32, c*ch), ch: ch, mask: uint64(c - 1)}, nil
}

// Cap is the capacity in frames.
func (r *Ring) Cap() int { return int(r.mask + 1) }

// Buffered is the number of frames written and not yet read.
func (r *Ring) Buffered() int { return int(r.w.Load() - r.r.Load()) }

// Free is the number of frames that can be written now.
func (r *Ring) Free() int { return r.Cap() - r.Buffered() }

// Written and ReadTotal are the running frame counters.
func (r *Ring) Written() uint64   { return r.w.Load() }
func (r *Ring) ReadTotal() uint64 { return r.r.Load() }

// Write copies whole frames from p and returns how many frames it wrote.
// Producer side only.
func (r *Ring) Write(p []float32) int {
	w := r.w.Load()
	free := r.Cap() - int(w-r.r.Load())
	n := min(len(p)/r.ch, free)
	if n <= 0 {
		return 0
	}
	start := int(w&r.mask) * r.ch
	k := copy(r.buf[start:], p[:n*r.ch])
	copy(r.buf, p[k:n*r.ch])
	r.w.Store(w + uint64(n))
	return n
}

// Read copies up to len(p)/channels frames into p and returns the count.
// Consumer side only.
func (r *Ring) Read(p []float32) int {
	rd := r.r.Load()
	n := min(len(p)/r.ch, int(r.w.Load()-rd))
	if n <= 0 {
		return 0
	}
	start := int(rd&r.mask) * r.ch
	k := copy(p[:n*r.ch], r.buf[start:])
	copy(p[k:n*r.ch], r.buf)
	r.r.Store(rd + uint64(n))
	return n
}

// skipTo moves the read index forward to frame index to (never backwards,
// never past the write index). Consumer side only.
func (r *Ring) skipTo(to uint64) {
	rd := r.r.Load()
	if w := r.w.Load(); to > w {
		to = w
	}
	if to > rd {
		r.r.Store(to)
	}
}
