package audio

import (
	"math"
	"sync/atomic"
	"time"
)

// RenderFunc fills out (interleaved float32 in the output's format) with the
// next audio. Outputs call it from their real-time thread; it never
// allocates, locks or blocks.
type RenderFunc func(out []float32)

// engine is the state shared by the player goroutine (producer) and the
// device callback (consumer). Fields the callback alone owns are marked.
type engine struct {
	ring *Ring
	ch   int
	rate int

	playing  atomic.Bool   // target: playing (true) or paused
	gainBits atomic.Uint32 // target software gain, float32 bits
	expect   atomic.Bool   // audio is due: an empty ring now is a stutter
	flushTo  atomic.Uint64 // drop ring frames before this index...
	flushReq atomic.Uint64 // ...when this differs from flushSeen

	markFrame atomic.Int64 // ring index of a frame to timestamp (-1: none)
	markAt    atomic.Int64 // nanoseconds since base when markFrame was handed over

	callbacks      atomic.Uint64
	underruns      atomic.Uint64
	underrunFrames atomic.Uint64
	silentFrames   atomic.Uint64
	played         atomic.Uint64 // ring frames handed to the device

	base time.Time
	now  func() time.Time

	// owned by the callback
	flushSeen  uint64
	curGain    float32
	step       float32 // gain change per frame (a 5 ms ramp)
	inUnderrun bool
}

func newEngine(ring *Ring, f Format, clock Clock) *engine {
	e := &engine{ring: ring, ch: f.Channels, rate: f.SampleRate, now: clock.Now}
	e.base = clock.Now()
	e.gainBits.Store(math.Float32bits(1))
	e.markFrame.Store(-1)
	e.step = 1 / (0.005 * float32(f.SampleRate))
	return e
}

func (e *engine) sinceBase() int64 { return int64(e.now().Sub(e.base)) }

// requestFlush asks the callback to drop everything written so far (after a
// short fade) before it plays anything written later.
func (e *engine) requestFlush() {
	e.expect.Store(false)
	e.flushTo.Store(e.ring.Written())
	e.flushReq.Add(1)
}

// render is the device callback. It reads frames from the ring, applies the
// gain ramp (click-free pause, resume, volume and flush), writes silence on
// an underrun and counts it, and timestamps the marked frame.
func (e *engine) render(out []float32) {
	e.callbacks.Add(1)
	ch := e.ch
	frames := len(out) / ch
	i := 0
	if req := e.flushReq.Load(); req != e.flushSeen {
		// Fade out what would have played next, then drop the rest. Only
		// frames written before the flush fade: the track that replaces
		// them may already follow in the ring, and its first frame must
		// play at full level and be stamped for the latency.
		var old uint64
		if to, rd := e.flushTo.Load(), e.ring.ReadTotal(); to > rd {
			old = to - rd
		}
		if fade := min(uint64(frames), uint64(e.curGain/e.step)+1, old); e.curGain > 0 && fade > 0 {
			n := e.ring.Read(out[:int(fade)*ch])
			for f := 0; f < n; f++ {
				e.curGain = max(e.curGain-e.step, 0)
				for c := 0; c < ch; c++ {
					out[f*ch+c] *= e.curGain
				}
			}
			i = n
			e.played.Add(uint64(n))
		}
		e.ring.skipTo(e.flushTo.Load())
		e.flushSeen = req
		e.curGain = 0
		e.inUnderrun = false
	}
	target := float32(0)
	playing := e.playing.Load()
	if playing {
		target = math.Float32frombits(e.gainBits.Load())
	}
	for i < frames {
		want := frames - i
		if !playing {
			if e.curGain <= 0 {
				break // paused and faded out: consume nothing
			}
			want = min(want, int(e.curGain/e.step)+1)
		}
		r0 := e.ring.ReadTotal()
		n := e.ring.Read(out[i*ch : (i+want)*ch])
		if n > 0 {
			e.played.Add(uint64(n))
			if m := e.markFrame.Load(); m >= 0 && uint64(m) < r0+uint64(n) && uint64(m) >= r0 {
				e.markAt.Store(e.sinceBase())
				e.markFrame.Store(-1)
			}
			e.inUnderrun = false
		}
		for f := i; f < i+n; f++ {
			if e.curGain < target {
				e.curGain = min(e.curGain+e.step, target)
			} else if e.curGain > target {
				e.curGain = max(e.curGain-e.step, target)
			}
			if e.curGain != 1 {
				for c := 0; c < ch; c++ {
					out[f*ch+c] *= e.curGain
				}
			}
		}
		i += n
		if n < want {
			if playing && e.expect.Load() {
				if !e.inUnderrun {
					e.underruns.Add(1)
					e.inUnderrun = true
				}
				e.underrunFrames.Add(uint64(frames - i))
			}
			break
		}
	}
	if i < frames {
		clear(out[i*ch:])
		e.silentFrames.Add(uint64(frames - i))
	}
}
