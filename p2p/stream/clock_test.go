package stream_test

import (
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/stream/streamtest"
)

func TestScaledClock(t *testing.T) {
	base := streamtest.NewClock()
	c := stream.ScaledClock(base, 8)
	t0 := c.Now()
	base.Advance(250 * time.Millisecond)
	if got := c.Now().Sub(t0); got != 2*time.Second {
		t.Errorf("after 250ms of base time the scaled clock moved %v; want 2s", got)
	}
	tm := c.NewTimer(8 * time.Second) // one base second
	base.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("an 8s timer at 8x fired before one base second")
	default:
	}
	base.Advance(time.Millisecond)
	select {
	case <-tm.C():
	default:
		t.Fatal("an 8s timer at 8x did not fire after one base second")
	}
}
