package board

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type recControls struct {
	mu    sync.Mutex
	calls []string
	steps int
	fail  bool
}

func (r *recControls) rec(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
	if r.fail {
		return errors.New("player busy")
	}
	return nil
}

func (r *recControls) TogglePlay(context.Context) error { return r.rec("toggle") }
func (r *recControls) Stop(context.Context) error       { return r.rec("stop") }
func (r *recControls) Next(context.Context) error       { return r.rec("next") }
func (r *recControls) Previous(context.Context) error   { return r.rec("previous") }
func (r *recControls) SkipAlbum(context.Context) error  { return r.rec("skip-album") }
func (r *recControls) AdjustVolume(_ context.Context, s int) error {
	r.mu.Lock()
	r.steps += s
	r.mu.Unlock()
	return r.rec("volume")
}

var _ Controls = (*recControls)(nil)

func TestDispatch(t *testing.T) {
	f, ctx := startFake(t, Options{})
	c := &recControls{fail: true} // failures are logged, not fatal
	for _, p := range []struct {
		b    ButtonID
		hold time.Duration
	}{{PlayPause, 50 * time.Millisecond}, {PlayPause, time.Second}, {Next, 50 * time.Millisecond}, {Next, time.Second}, {Previous, time.Second}} {
		must(t, f.Press(ctx, p.b, p.hold))
	}
	must(t, f.Turn(ctx, 5, time.Second))
	must(t, f.Close()) // closes Events: Dispatch returns
	must(t, f.Dispatch(ctx, c))
	want := []string{"toggle", "stop", "next", "skip-album", "previous"}
	if !equal(c.calls, want) {
		t.Fatalf("calls %v, want %v", c.calls, want)
	}
	if f.Volume().Get() != 50 || f.Chip.Reg(regVolumeLeft) != DefaultVolumeCurve.Reg(50) {
		t.Fatalf("hardware volume %d (reg %#x), want 50", f.Volume().Get(), f.Chip.Reg(regVolumeLeft))
	}
}

func TestDispatchSoftwareVolume(t *testing.T) {
	ctx := testCtx(t)
	b, err := New(Parts{}, Options{})
	must(t, err)
	b.events <- VolumeDelta{Steps: 3}
	b.events <- VolumeDelta{Steps: -1}
	must(t, b.Close())
	c := &recControls{}
	must(t, b.Dispatch(ctx, c))
	if c.steps != 2 {
		t.Fatalf("software volume steps %d, want 2", c.steps)
	}
}
