package audio

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// VirtualOutput is an Output with no device: the same RenderFunc the malgo
// callback calls is driven from Go, either one period at a time (Render, for
// tests: deterministic, no wall clock) or by Run at K times real time (for
// the benchmark). Its clock is the number of frames rendered.
type VirtualOutput struct {
	format  Format
	render  atomic.Pointer[RenderFunc]
	buf     []float32
	frames  atomic.Uint64
	capture func([]float32)
	mu      sync.Mutex // serialises Render callers; the callback itself never locks
	closed  atomic.Bool
	wakeCh  chan struct{}
}

var _ Output = (*VirtualOutput)(nil)

// VirtualConfig configures a VirtualOutput.
type VirtualConfig struct {
	Format       Format          // default 44100 Hz stereo
	PeriodFrames int             // frames per Render call; default 1024
	Capture      func([]float32) // if set, sees every rendered period (tests); called synchronously
}

// NewVirtualOutput returns a virtual device.
func NewVirtualOutput(c VirtualConfig) (*VirtualOutput, error) {
	if c.Format == (Format{}) {
		c.Format = Format{SampleRate: 44100, Channels: 2}
	}
	if c.PeriodFrames == 0 {
		c.PeriodFrames = 1024
	}
	if err := c.Format.validate(); err != nil {
		return nil, fmt.Errorf("%w: virtual output: %w", ErrConfig, err)
	}
	if c.PeriodFrames < 1 || c.PeriodFrames > 1<<16 {
		return nil, fmt.Errorf("%w: virtual output period %d frames", ErrConfig, c.PeriodFrames)
	}
	return &VirtualOutput{format: c.Format, buf: make([]float32, c.PeriodFrames*c.Format.Channels), capture: c.Capture, wakeCh: make(chan struct{}, 1)}, nil
}

func (v *VirtualOutput) Format() Format { return v.format }

func (v *VirtualOutput) Start(render RenderFunc) error {
	v.render.Store(&render)
	return nil
}

// Close stops rendering; Render becomes a no-op. Idempotent.
func (v *VirtualOutput) Close() error {
	v.closed.Store(true)
	v.mu.Lock() // wait for a Render in progress
	defer v.mu.Unlock()
	return nil
}

// Render runs one device period through the render function and returns the
// virtual time it represents.
func (v *VirtualOutput) Render() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed.Load() {
		return 0
	}
	if r := v.render.Load(); r != nil {
		(*r)(v.buf)
	} else {
		clear(v.buf)
	}
	if v.capture != nil {
		v.capture(v.buf)
	}
	select { // tell the player there is room (not a real-time thread: a channel is fine)
	case v.wakeCh <- struct{}{}:
	default:
	}
	n := len(v.buf) / v.format.Channels
	v.frames.Add(uint64(n))
	return framesToDuration(int64(n), v.format.SampleRate)
}

// Frames is the number of frames rendered so far (the virtual clock).
func (v *VirtualOutput) Frames() uint64 { return v.frames.Load() }

// Run renders periods at speed times real time until ctx is done or the
// output is closed. The caller owns the goroutine that runs it.
func (v *VirtualOutput) Run(ctx context.Context, speed float64) error {
	if speed <= 0 {
		return fmt.Errorf("%w: virtual speed %v", ErrConfig, speed)
	}
	period := framesToDuration(int64(len(v.buf)/v.format.Channels), v.format.SampleRate)
	tick := time.Duration(float64(period) / speed)
	t := time.NewTicker(max(tick, 50*time.Microsecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if v.closed.Load() {
				return nil
			}
			v.Render()
		}
	}
}

func (v *VirtualOutput) wake() <-chan struct{} { return v.wakeCh }

var _ waker = (*VirtualOutput)(nil)
