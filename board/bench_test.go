package board

import (
	"context"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
)

func levelOf(high bool) gpio.Level { return gpio.Level(high) }

// BenchmarkQuadDecoder: cost of one quadrature transition in the actor.
func BenchmarkQuadDecoder(b *testing.B) {
	q := newQuadDecoder(EncoderConfig{}, true, true)
	states := cycle(1)
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := states[i%4]
		q.update(s[0], s[1], now)
	}
}

// BenchmarkEdgeToProcessed: one gpiotest edge through its watcher goroutine
// and the actor, until processed (the hand-off latency a real edge sees).
func BenchmarkEdgeToProcessed(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := NewFake(Profile{}, Options{Clock: NewManualClock(time.Unix(0, 0))})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := cycle(1)[i%4]
		pin, l := f.EncoderA, s[0]
		if i%2 == 1 {
			pin, l = f.EncoderB, s[1]
		}
		if err := f.Edge(ctx, pin, levelOf(l)); err != nil {
			b.Fatal(err)
		}
		select {
		case <-f.Events():
		default:
		}
	}
	b.StopTimer()
	_ = f.Close()
	<-done
}

// BenchmarkVolumeSet: a volume change on the emulated DAC (two register
// writes through the driver).
func BenchmarkVolumeSet(b *testing.B) {
	d := NewPCM5122(NewFakePCM5122(PCM5122Addr), PCM5122Addr)
	if err := d.Init(0x30); err != nil {
		b.Fatal(err)
	}
	v := NewVolume(d, DefaultVolumeCurve, 2, 40)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := v.Set(i % 101); err != nil {
			b.Fatal(err)
		}
	}
}
