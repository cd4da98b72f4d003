package board

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// testCtx bounds a test; the bound only turns a hang into a failure.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run starts b.Run and registers Close plus a check of Run's result.
func run(t *testing.T, ctx context.Context, b *Board) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func startFake(t *testing.T, o Options) (*Fake, context.Context) {
	t.Helper()
	ctx := testCtx(t)
	if o.Clock == nil {
		o.Clock = NewManualClock(time.Unix(0, 0))
	}
	f, err := NewFake(Profile{}, o)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, f.Board)
	return f, ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func noEvent(t *testing.T, f *Fake, when string) {
	t.Helper()
	select {
	case e := <-f.Events():
		t.Fatalf("%s: unexpected event %v", when, e)
	default:
	}
}

func wantEvent(t *testing.T, f *Fake, want Event) {
	t.Helper()
	select {
	case e := <-f.Events():
		if e != want {
			t.Fatalf("event %v, want %v", e, want)
		}
	default:
		t.Fatalf("no event, want %v", want)
	}
}

func TestButtonDebounce(t *testing.T) {
	f, ctx := startFake(t, Options{})
	pin := f.Buttons[PlayPause]
	ms := time.Millisecond
	// Contact bounce on press: low, high, low within a few ms.
	must(t, f.Edge(ctx, pin, gpio.Low))
	must(t, f.Advance(ctx, 2*ms))
	must(t, f.Edge(ctx, pin, gpio.High))
	must(t, f.Advance(ctx, 3*ms))
	must(t, f.Edge(ctx, pin, gpio.Low))
	must(t, f.Advance(ctx, 19*ms)) // the last edge restarted the 20 ms wait
	noEvent(t, f, "while pressed")
	must(t, f.Advance(ctx, 1*ms))
	must(t, f.Advance(ctx, 300*ms))
	noEvent(t, f, "a short press reports on release")
	// Bounce on release.
	must(t, f.Edge(ctx, pin, gpio.High))
	must(t, f.Advance(ctx, 1*ms))
	must(t, f.Edge(ctx, pin, gpio.Low))
	must(t, f.Advance(ctx, 1*ms))
	must(t, f.Edge(ctx, pin, gpio.High))
	must(t, f.Advance(ctx, 19*ms))
	noEvent(t, f, "release not settled yet")
	must(t, f.Advance(ctx, 1*ms))
	wantEvent(t, f, Button{Which: PlayPause})
	noEvent(t, f, "exactly one event per press")
}

func TestButtonGlitchIgnored(t *testing.T) {
	f, ctx := startFake(t, Options{})
	pin := f.Buttons[Next]
	must(t, f.Edge(ctx, pin, gpio.Low))
	must(t, f.Advance(ctx, 5*time.Millisecond))
	must(t, f.Edge(ctx, pin, gpio.High))
	must(t, f.Advance(ctx, time.Second))
	noEvent(t, f, "a 5 ms glitch")
}

func TestButtonLongPress(t *testing.T) {
	f, ctx := startFake(t, Options{})
	for _, which := range []ButtonID{PlayPause, Next} {
		pin := f.Buttons[which]
		must(t, f.Edge(ctx, pin, gpio.Low))
		must(t, f.Advance(ctx, 20*time.Millisecond)) // press committed
		must(t, f.Advance(ctx, 799*time.Millisecond))
		noEvent(t, f, "before the long-press time")
		must(t, f.Advance(ctx, time.Millisecond))
		wantEvent(t, f, Button{Which: which, Long: true}) // reported while still held
		must(t, f.Advance(ctx, 2*time.Second))
		must(t, f.Edge(ctx, pin, gpio.High))
		must(t, f.Advance(ctx, 20*time.Millisecond))
		noEvent(t, f, "the release after a long press")
	}
	// Two buttons interleaved keep separate state.
	must(t, f.Edge(ctx, f.Buttons[Previous], gpio.Low))
	must(t, f.Advance(ctx, 30*time.Millisecond))
	must(t, f.Press(ctx, Next, 50*time.Millisecond))
	wantEvent(t, f, Button{Which: Next})
	must(t, f.Edge(ctx, f.Buttons[Previous], gpio.High))
	must(t, f.Advance(ctx, 20*time.Millisecond))
	wantEvent(t, f, Button{Which: Previous})
}

func TestEncoderDirectionAndAcceleration(t *testing.T) {
	f, ctx := startFake(t, Options{})
	turns := []struct {
		detents int
		gap     time.Duration
		want    []int
	}{
		{3, 500 * time.Millisecond, []int{1, 1, 1}},
		{-2, 500 * time.Millisecond, []int{-1, -1}},
		{3, 60 * time.Millisecond, []int{1, 2, 2}},
		{4, 10 * time.Millisecond, []int{1, 4, 4, 4}},
		{-3, 10 * time.Millisecond, []int{-1, -4, -4}},
	}
	for _, tt := range turns {
		must(t, f.Advance(ctx, time.Second)) // a pause ends any spin
		must(t, f.Turn(ctx, tt.detents, tt.gap))
		for _, w := range tt.want {
			wantEvent(t, f, VolumeDelta{Steps: w})
		}
		noEvent(t, f, fmt.Sprintf("turn %d", tt.detents))
	}
}

// opLog records, in order, DAC mute/standby writes and amplifier pin levels.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(s string) {
	l.mu.Lock()
	l.ops = append(l.ops, s)
	l.mu.Unlock()
}

func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ops
	l.ops = nil
	return out
}

type logBus struct {
	i2c.Bus
	log *opLog
}

func (b *logBus) Tx(addr uint16, w, r []byte) error {
	if len(w) == 2 && len(r) == 0 {
		switch {
		case w[0] == regMute && w[1] != 0:
			b.log.add("dac mute")
		case w[0] == regMute:
			b.log.add("dac unmute")
		case w[0] == regPower && w[1] != 0:
			b.log.add("dac standby")
		case w[0] == regPower:
			b.log.add("dac wake")
		}
	}
	return b.Bus.Tx(addr, w, r)
}

type logPin struct {
	*gpiotest.Pin
	log *opLog
}

func (p *logPin) Out(l gpio.Level) error {
	p.log.add("amp " + map[gpio.Level]string{gpio.High: "on", gpio.Low: "off"}[l])
	return p.Pin.Out(l)
}

func equal(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

type harness struct {
	b     *Board
	steps *stepper
	clock *ManualClock
}

func (h *harness) advance(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	before := h.steps.seq.Load()
	if h.clock.Advance(d) > 0 {
		must(t, h.steps.waitAfter(ctx, before))
	}
}

func startHarness(t *testing.T, p Parts, o Options) (*harness, context.Context) {
	t.Helper()
	ctx := testCtx(t)
	h := &harness{steps: newStepper(), clock: NewManualClock(time.Unix(0, 0))}
	o.Clock = h.clock
	b, err := New(p, o)
	if err != nil {
		t.Fatal(err)
	}
	b.hook = h.steps.hook
	h.b = b
	run(t, ctx, b)
	return h, ctx
}

func TestAmpMuteOrdering(t *testing.T) {
	log := &opLog{}
	chip := NewFakePCM5122(a)
	dac := NewPCM5122(&logBus{Bus: chip, log: log}, a)
	must(t, dac.Init(0x30))
	amp := &logPin{Pin: &gpiotest.Pin{N: "AMP"}, log: log}
	log.take()
	h, ctx := startHarness(t, Parts{Amp: amp, DAC: dac}, Options{Amp: AmpConfig{IdleOff: time.Minute}})
	if got := log.take(); !equal(got, []string{"amp off"}) {
		t.Fatalf("New: %v, want the amplifier forced off", got)
	}
	step := func(what string, do func(), want ...string) {
		t.Helper()
		do()
		if got := log.take(); !equal(got, want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
	play := func(p bool) func() { return func() { must(t, h.b.SetPlaying(ctx, p)) } }
	adv := func(d time.Duration) func() { return func() { h.advance(t, ctx, d) } }

	step("play", play(true), "dac wake", "amp on")
	step("amp settling", adv(49*time.Millisecond))
	step("amp settled", adv(time.Millisecond), "dac unmute")
	step("stop", play(false))
	step("idle not yet", adv(59*time.Second))
	step("idle time up", adv(time.Second), "dac mute")
	step("mute ramp", adv(19*time.Millisecond))
	step("amp off after mute", adv(time.Millisecond), "amp off", "dac standby")
	step("play again", play(true), "dac wake", "amp on")
	step("stop while settling", play(false))
	step("settled: unmute, idle timer runs", adv(50*time.Millisecond), "dac unmute")
	step("idle", adv(time.Minute), "dac mute")
	step("play during mute ramp", play(true), "dac unmute")
	step("playing keeps the amp on", adv(time.Hour))
	step("pause, resume before idle", func() { play(false)(); h.advance(t, ctx, 30*time.Second); play(true)() })
	step("idle timer was cancelled", adv(time.Hour))
	step("close mutes before amp off", func() { must(t, h.b.Close()) }, "dac mute", "amp off", "dac standby")
	step("close is idempotent", func() { must(t, h.b.Close()) })
	if chip.Reg(regMute) != muteBoth {
		t.Fatal("the chip must be left muted")
	}
}

func TestAmpWithoutPinOrDAC(t *testing.T) {
	// DAC only: mute follows playback with no settle wait.
	chip := NewFakePCM5122(a)
	dac := NewPCM5122(chip, a)
	must(t, dac.Init(0x30))
	h, ctx := startHarness(t, Parts{DAC: dac}, Options{})
	must(t, h.b.SetPlaying(ctx, true))
	if chip.Reg(regMute) != 0 {
		t.Fatal("no amplifier: the DAC must unmute at once")
	}
	must(t, h.b.SetPlaying(ctx, false))
	h.advance(t, ctx, 5*time.Minute)
	if chip.Reg(regMute) != muteBoth {
		t.Fatal("idle: the DAC must mute")
	}
	// Amplifier only.
	amp := &gpiotest.Pin{N: "AMP"}
	h2, ctx2 := startHarness(t, Parts{Amp: amp}, Options{Amp: AmpConfig{ActiveLow: true}})
	if amp.Read() != gpio.High {
		t.Fatal("active-low amp must start High (off)")
	}
	must(t, h2.b.SetPlaying(ctx2, true))
	if amp.Read() != gpio.Low {
		t.Fatal("active-low amp must be Low when on")
	}
}

// noPWM is a pin whose PWM is refused, like a GPIO without a PWM function.
type noPWM struct{ *gpiotest.Pin }

func (noPWM) PWM(gpio.Duty, physic.Frequency) error { return errors.New("no PWM on this pin") }

func TestLEDPatterns(t *testing.T) {
	t.Run("pwm", func(t *testing.T) {
		led := &gpiotest.Pin{N: "LED"}
		h, ctx := startHarness(t, Parts{LED: led}, Options{})
		duty := func() gpio.Duty { led.Lock(); defer led.Unlock(); return led.D }
		must(t, h.b.SetStatus(ctx, StatusPlaying))
		if duty() != pct(60) {
			t.Fatalf("playing duty %v", duty())
		}
		must(t, h.b.SetStatus(ctx, StatusBooting))
		for i, want := range []int{0, 10, 20, 30} {
			if duty() != pct(want) {
				t.Fatalf("booting step %d: duty %v, want %d%%", i, duty(), want)
			}
			h.advance(t, ctx, 50*time.Millisecond)
		}
		h.advance(t, ctx, 2*time.Second) // one full breath later: same phase
		if duty() != pct(40) {
			t.Fatalf("after a full period: duty %v, want 40%%", duty())
		}
		must(t, h.b.SetStatus(ctx, StatusIdle))
		if duty() != pct(8) {
			t.Fatalf("idle duty %v", duty())
		}
		if n := h.clock.Pending(); n != 0 {
			t.Fatalf("a steady pattern must not keep a timer (%d pending)", n)
		}
	})
	t.Run("blink fallback", func(t *testing.T) {
		led := &gpiotest.Pin{N: "LED"}
		h, ctx := startHarness(t, Parts{LED: noPWM{led}}, Options{})
		must(t, h.b.SetStatus(ctx, StatusIdle))
		seq := []struct {
			after time.Duration
			want  gpio.Level
		}{{0, gpio.High}, {50 * time.Millisecond, gpio.Low}, {2950 * time.Millisecond, gpio.High}, {50 * time.Millisecond, gpio.Low}}
		for i, s := range seq {
			h.advance(t, ctx, s.after)
			if led.Read() != s.want {
				t.Fatalf("idle step %d: %v, want %v", i, led.Read(), s.want)
			}
		}
		must(t, h.b.SetStatus(ctx, StatusError))
		for i := range 6 {
			if want := gpio.Level(i%2 == 0); led.Read() != want {
				t.Fatalf("error blink %d: %v", i, led.Read())
			}
			h.advance(t, ctx, 100*time.Millisecond)
		}
		must(t, h.b.SetStatus(ctx, StatusPlaying))
		if led.Read() != gpio.High {
			t.Fatal("playing: LED must be on")
		}
		must(t, h.b.SetStatus(ctx, StatusOff))
		if led.Read() != gpio.Low {
			t.Fatal("off: LED must be off")
		}
	})
}

func TestLEDPatternTable(t *testing.T) {
	for s := StatusOff; s <= StatusError; s++ {
		for _, pwm := range []bool{true, false} {
			steps := ledPattern(s, pwm)
			if len(steps) == 0 {
				t.Fatalf("%v pwm=%t: empty", s, pwm)
			}
			for _, st := range steps {
				if !pwm && st.duty != 0 && st.duty != gpio.DutyMax {
					t.Fatalf("%v without PWM uses duty %v", s, st.duty)
				}
				if len(steps) > 1 && st.d <= 0 {
					t.Fatalf("%v: looping pattern with a zero-length step", s)
				}
			}
		}
	}
}

func TestBoardLifecycle(t *testing.T) {
	ctx := testCtx(t)
	f, err := NewFake(Profile{}, Options{Clock: NewManualClock(time.Unix(0, 0))})
	must(t, err)
	// Close before Run: hardware quiet, events closed, Run refused.
	must(t, f.Close())
	must(t, f.Close())
	if _, ok := <-f.Events(); ok {
		t.Fatal("Events must be closed after Close")
	}
	if err := f.Run(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if err := f.SetStatus(ctx, StatusIdle); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetStatus after Close: %v", err)
	}

	// Cancelling Run's context is a clean exit; Close afterwards is fine.
	f2, err := NewFake(Profile{}, Options{Clock: NewManualClock(time.Unix(0, 0)), PollInterval: time.Millisecond})
	must(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f2.Run(rctx) }()
	must(t, f2.Press(ctx, PlayPause, 50*time.Millisecond))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantEvent(t, f2, Button{Which: PlayPause})
	if err := f2.SetPlaying(ctx, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetPlaying after Run returned: %v", err)
	}
	if _, ok := <-f2.Events(); ok {
		t.Fatal("Events must be closed after Run returns")
	}
	released := 0
	f2.opts.Release = func() error { released++; return nil }
	must(t, f2.Close())
	must(t, f2.Close())
	if released != 1 {
		t.Fatalf("Release ran %d times, want 1", released)
	}
}

func TestEventsDroppedWhenConsumerLags(t *testing.T) {
	f, ctx := startFake(t, Options{EventBuffer: 2})
	for range 4 {
		must(t, f.Press(ctx, Next, 50*time.Millisecond))
	}
	if f.Dropped() != 2 {
		t.Fatalf("dropped %d, want 2", f.Dropped())
	}
}

func TestNewRejectsHalfEncoder(t *testing.T) {
	_, err := New(Parts{EncoderA: &gpiotest.Pin{EdgesChan: make(chan gpio.Level)}}, Options{})
	if !errors.Is(err, ErrBadProfile) {
		t.Fatalf("err = %v", err)
	}
}
