package audio

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// SelfCheck opens miniaudio's null backend, plays a 200 ms generated 440 Hz
// tone through the ring buffer and the same render callback the player uses,
// and checks every frame was consumed by the device thread. It proves cgo,
// miniaudio and the callback path work on this machine without a sound
// card. It takes about a quarter of a second.
func SelfCheck(ctx context.Context, log *slog.Logger) error {
	f := Format{SampleRate: 48000, Channels: 2}
	out, err := OpenDevice(DeviceConfig{Backend: BackendNull, Format: f, PeriodFrames: 480}, log)
	if err != nil {
		return fmt.Errorf("audio self-check: %w", err)
	}
	defer out.Close()
	const toneFrames = 9600 // 200 ms
	ring, err := NewRing(toneFrames, f.Channels)
	if err != nil {
		return err
	}
	tone := make([]float32, toneFrames*f.Channels)
	for i := range toneFrames {
		v := float32(0.25 * math.Sin(2*math.Pi*440*float64(i)/float64(f.SampleRate)))
		tone[2*i], tone[2*i+1] = v, v
	}
	if n := ring.Write(tone); n != toneFrames {
		return fmt.Errorf("audio self-check: ring took %d of %d frames", n, toneFrames)
	}
	eng := newEngine(ring, f, systemClock{})
	eng.playing.Store(true)
	eng.expect.Store(true)
	if err := out.Start(eng.render); err != nil {
		return fmt.Errorf("audio self-check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for ring.Buffered() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("audio self-check: the null device consumed %d of %d frames in 5 s (%d callbacks): %w",
				eng.played.Load(), toneFrames, eng.callbacks.Load(), ctx.Err())
		case <-t.C:
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("audio self-check: %w", err)
	}
	if got := eng.played.Load(); got != toneFrames {
		return fmt.Errorf("audio self-check: device consumed %d frames, want %d", got, toneFrames)
	}
	return nil
}
