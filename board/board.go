package board

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Parts are the already-opened pins and chips a Board drives. Any of them
// may be nil (absent). The Board never closes or halts them; whoever
// opened them closes them (see Options.Release).
type Parts struct {
	Buttons  [numButtons]gpio.PinIn // indexed by PlayPause, Next, Previous
	EncoderA gpio.PinIn
	EncoderB gpio.PinIn
	LED      gpio.PinOut
	Amp      gpio.PinOut
	DAC      *PCM5122 // already initialised (PCM5122.Init)
}

// AmpConfig tunes the amplifier-enable sequencing.
type AmpConfig struct {
	// IdleOff: the amplifier goes off after this long without playback
	// (default 5m).
	IdleOff time.Duration `toml:"idle_off"`
	// Settle: after the amplifier is switched on, the DAC stays muted this
	// long so the amplifier's own power-up thump is silent (default 50ms).
	Settle time.Duration `toml:"settle"`
	// MuteSettle: after the DAC is muted, wait this long (its soft-mute
	// ramp) before switching the amplifier off (default 20ms).
	MuteSettle time.Duration `toml:"mute_settle"`
	// ActiveLow: the pin is a shutdown input (low = amplifier off is the
	// default; set this when low = amplifier on).
	ActiveLow bool `toml:"active_low"`
}

func (c AmpConfig) withDefaults() AmpConfig {
	if c.IdleOff == 0 {
		c.IdleOff = 5 * time.Minute
	}
	if c.Settle == 0 {
		c.Settle = 50 * time.Millisecond
	}
	if c.MuteSettle == 0 {
		c.MuteSettle = 20 * time.Millisecond
	}
	return c
}

// Options configure a Board. Zero values take the documented defaults.
type Options struct {
	Logger  *slog.Logger // default: discard
	Clock   Clock        // default: SystemClock
	Buttons ButtonConfig
	Encoder EncoderConfig
	Amp     AmpConfig
	// Curve, VolumeStep and InitialVolume configure Volume (hardware
	// volume) when Parts.DAC is set. Defaults: DefaultVolumeCurve, 2, 40.
	Curve         VolumeCurve
	VolumeStep    int
	InitialVolume int
	// EventBuffer is the capacity of the Events channel (default 32).
	// When the consumer falls behind, newer events are dropped and counted.
	EventBuffer int
	// PollInterval bounds how long an input watcher blocks in WaitForEdge
	// before checking for cancellation (default 100ms). It is not a sample
	// period: edges wake the watcher at once.
	PollInterval time.Duration
	// Release, when set, runs once in Close after every loop has stopped
	// and the amplifier is off: firmware passes the closing of the bus it
	// opened.
	Release func() error
}

// Board is a speaker's front panel and output stage: it turns pin edges
// into Events, drives the status LED and sequences the amplifier and DAC
// mute. New starts nothing; Run runs every loop until its context ends or
// Close is called.
type Board struct {
	log   *slog.Logger
	clock Clock
	parts Parts
	opts  Options
	vol   *Volume

	events   chan Event
	edges    chan int
	cmds     chan command
	closed   chan struct{}
	done     chan struct{}
	released chan struct{} // closed once Close has finished Release
	dropped  atomic.Uint64

	// hook, when set (tests, SelfCheck), runs in the actor after each edge or
	// timer wake has been fully processed.
	hook func()

	mu       sync.Mutex
	started  bool
	isClosed bool
	closeErr error

	// Actor state: touched only by the Run goroutine (or by Close once Run
	// is known to have ended or never to start).
	btn        [numButtons]debouncer
	quad       *quadDecoder
	led        ledDriver
	status     Status
	ledSteps   []ledStep
	ledIdx     int
	ledAt      time.Time
	amp        ampState
	ampAt      time.Time
	playing    bool
	eventsOnce sync.Once
}

type ampState int

const (
	ampOff     ampState = iota
	ampWarming          // amp on, DAC still muted for Settle
	ampOn               // amp on, DAC unmuted
	ampCooling          // DAC muted, amp still on for MuteSettle
)

// Input indices sent by the watchers.
const (
	inEncA = int(numButtons) + iota
	inEncB
)

type command struct {
	status  *Status
	playing *bool
	reply   chan error
}

// New configures the parts (inputs with pulls and both-edge detection, LED
// and amplifier outputs off) and returns a Board ready to Run.
func New(p Parts, o Options) (*Board, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	o.Buttons = o.Buttons.withDefaults()
	o.Encoder = o.Encoder.withDefaults()
	o.Amp = o.Amp.withDefaults()
	if o.Curve == (VolumeCurve{}) {
		o.Curve = DefaultVolumeCurve
	}
	if err := o.Curve.Validate(); err != nil {
		return nil, fmt.Errorf("creating board: %w", err)
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 32
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.InitialVolume == 0 {
		o.InitialVolume = 40
	}
	if (p.EncoderA == nil) != (p.EncoderB == nil) {
		return nil, fmt.Errorf("%w: the rotary encoder needs both pins A and B, or neither", ErrBadProfile)
	}
	b := &Board{
		log:      o.Logger,
		clock:    o.Clock,
		parts:    p,
		opts:     o,
		events:   make(chan Event, o.EventBuffer),
		edges:    make(chan int, 64),
		cmds:     make(chan command),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
		released: make(chan struct{}),
		led:      ledDriver{pin: p.LED, pwm: true},
	}
	pull := gpio.PullUp
	if o.Buttons.ActiveHigh {
		pull = gpio.PullDown
	}
	for i, pin := range p.Buttons {
		b.btn[i].cfg = o.Buttons
		if pin == nil {
			continue
		}
		if err := pin.In(pull, gpio.BothEdges); err != nil {
			return nil, fmt.Errorf("configuring %s button on %s as input with edge detection: %w (is the user in group gpio?)", ButtonID(i), pin, err)
		}
		b.btn[i].pressed = b.isPressed(pin)
	}
	if p.EncoderA != nil {
		for _, pin := range []gpio.PinIn{p.EncoderA, p.EncoderB} {
			if err := pin.In(gpio.PullUp, gpio.BothEdges); err != nil {
				return nil, fmt.Errorf("configuring encoder pin %s as input with edge detection: %w (is the user in group gpio?)", pin, err)
			}
		}
		b.quad = newQuadDecoder(o.Encoder, p.EncoderA.Read() == gpio.High, p.EncoderB.Read() == gpio.High)
	}
	if p.LED != nil {
		if err := p.LED.Out(gpio.Low); err != nil {
			return nil, fmt.Errorf("configuring status LED %s as output: %w", p.LED, err)
		}
	}
	if p.Amp != nil {
		if err := p.Amp.Out(b.ampLevel(false)); err != nil {
			return nil, fmt.Errorf("configuring amplifier enable %s as output: %w", p.Amp, err)
		}
	}
	if p.DAC != nil {
		b.vol = NewVolume(p.DAC, o.Curve, o.VolumeStep, o.InitialVolume)
	}
	b.ledSteps = ledPattern(StatusOff, true)
	return b, nil
}

// Events delivers button presses and volume turns. It is closed when Run
// returns (or by Close if Run never ran).
func (b *Board) Events() <-chan Event { return b.events }

// Volume is the DAC's hardware volume, or nil when the board has no DAC
// (the consumer then scales samples itself, e.g. with VolumeCurve.Gain).
func (b *Board) Volume() *Volume { return b.vol }

// Dropped counts events dropped because the consumer fell behind.
func (b *Board) Dropped() uint64 { return b.dropped.Load() }

// SetStatus switches the status LED pattern. It waits until Run has applied
// it (so it blocks until Run is running, or ctx ends).
func (b *Board) SetStatus(ctx context.Context, s Status) error {
	return b.do(ctx, command{status: &s})
}

// SetPlaying tells the board whether audio is playing: playing switches the
// amplifier on and then unmutes the DAC; stopping starts the idle timer
// after which the DAC is muted and then the amplifier switched off. Like
// SetStatus it waits for Run and returns the error of the immediate step.
func (b *Board) SetPlaying(ctx context.Context, playing bool) error {
	return b.do(ctx, command{playing: &playing})
}

func (b *Board) do(ctx context.Context, c command) error {
	c.reply = make(chan error, 1)
	select {
	case b.cmds <- c:
	case <-b.closed:
		return ErrClosed
	case <-b.done: // Run has returned
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run drives the board until ctx ends or Close is called; both are a clean
// exit (nil). It starts one watcher goroutine per input pin and owns them.
// On the way out the DAC is muted before the amplifier goes off.
func (b *Board) Run(ctx context.Context) error {
	b.mu.Lock()
	switch {
	case b.isClosed:
		b.mu.Unlock()
		return ErrClosed
	case b.started:
		b.mu.Unlock()
		return errors.New("board: Run called twice")
	}
	b.started = true
	b.mu.Unlock()
	defer close(b.done)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, pin := range b.parts.Buttons {
		if pin != nil {
			wg.Go(func() { b.watch(ctx, i, pin) })
		}
	}
	if b.parts.EncoderA != nil {
		wg.Go(func() { b.watch(ctx, inEncA, b.parts.EncoderA) })
		wg.Go(func() { b.watch(ctx, inEncB, b.parts.EncoderB) })
	}
	b.loop(ctx)
	cancel()
	wg.Wait()
	b.shutdown()
	b.closeEvents()
	return nil
}

// watch turns a pin's edges into notifications for the actor.
func (b *Board) watch(ctx context.Context, idx int, pin gpio.PinIn) {
	for ctx.Err() == nil {
		if !pin.WaitForEdge(b.opts.PollInterval) {
			continue
		}
		select {
		case b.edges <- idx:
		case <-ctx.Done():
			return
		}
	}
}

func (b *Board) loop(ctx context.Context) {
	// The reply to a command and the hook of a wake are delivered only
	// after the next deadline's timer is armed, so a caller that then
	// advances a ManualClock always finds that timer.
	var reply chan error
	var replyErr error
	hookDue := false
	for {
		var timerC <-chan time.Time
		var timer Timer
		if at := b.nextDeadline(); !at.IsZero() {
			timer = b.clock.NewTimer(at.Sub(b.clock.Now()))
			timerC = timer.C()
		}
		if reply != nil {
			reply <- replyErr
			reply = nil
		}
		if hookDue && b.hook != nil {
			b.hook()
		}
		hookDue = true
		select {
		case <-ctx.Done():
		case <-b.closed:
		case idx := <-b.edges:
			b.onEdge(idx)
		case <-timerC:
		case c := <-b.cmds:
			hookDue = false
			reply, replyErr = c.reply, b.apply(c)
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil || b.isClosing() {
			if reply != nil {
				reply <- replyErr
			}
			return
		}
		b.runDue(b.clock.Now())
	}
}

func (b *Board) isClosing() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

func (b *Board) isPressed(pin gpio.PinIn) bool {
	return (pin.Read() == gpio.High) == b.opts.Buttons.ActiveHigh
}

func (b *Board) onEdge(idx int) {
	now := b.clock.Now()
	switch {
	case idx < int(numButtons):
		b.btn[idx].edge(now)
	case idx == inEncA || idx == inEncB:
		a := b.parts.EncoderA.Read() == gpio.High
		bb := b.parts.EncoderB.Read() == gpio.High
		if steps := b.quad.update(a, bb, now); steps != 0 {
			b.emit(VolumeDelta{Steps: steps})
		}
	}
}

func (b *Board) emit(e Event) {
	select {
	case b.events <- e:
		b.log.Debug("board event", "event", e)
	default:
		// Logged at 1, 2, 4, 8... drops so a stuck consumer cannot flood the journal.
		if n := b.dropped.Add(1); n&(n-1) == 0 {
			b.log.Warn("board event dropped: consumer is not reading Events", "event", e, "dropped", n)
		}
	}
}

// nextDeadline is the earliest pending deadline, zero when none.
func (b *Board) nextDeadline() time.Time {
	var t time.Time
	consider := func(x time.Time) {
		if !x.IsZero() && (t.IsZero() || x.Before(t)) {
			t = x
		}
	}
	for i := range b.btn {
		consider(b.btn[i].settleAt)
		consider(b.btn[i].longAt)
	}
	consider(b.ledAt)
	consider(b.ampAt)
	return t
}

// runDue handles every deadline up to now, earliest first, each at its
// own time so a long Advance replays what happened in between.
func (b *Board) runDue(now time.Time) {
	for {
		at := b.nextDeadline()
		if at.IsZero() || at.After(now) {
			return
		}
		b.fire(at)
	}
}

// fire handles the deadline(s) due at exactly at.
func (b *Board) fire(at time.Time) {
	for i := range b.btn {
		d := &b.btn[i]
		if !d.settleAt.IsZero() && !d.settleAt.After(at) {
			if ev, ok := d.settle(at, b.isPressed(b.parts.Buttons[i])); ok {
				ev.Which = ButtonID(i)
				b.emit(ev)
			}
		}
		if !d.longAt.IsZero() && !d.longAt.After(at) {
			if ev, ok := d.long(); ok {
				ev.Which = ButtonID(i)
				b.emit(ev)
			}
		}
	}
	if !b.ledAt.IsZero() && !b.ledAt.After(at) {
		b.ledIdx = (b.ledIdx + 1) % len(b.ledSteps)
		b.ledApply(at)
	}
	if !b.ampAt.IsZero() && !b.ampAt.After(at) {
		b.ampAt = time.Time{}
		if err := b.ampDeadline(at); err != nil {
			b.log.Warn("amplifier sequencing failed; retried at the next play/stop", "err", err)
		}
	}
}

func (b *Board) apply(c command) error {
	now := b.clock.Now()
	switch {
	case c.status != nil:
		b.status = *c.status
		b.ledSteps = ledPattern(b.status, b.led.pwm)
		b.ledIdx = 0
		b.ledApply(now)
		return nil
	case c.playing != nil:
		return b.setPlaying(*c.playing, now)
	}
	return nil
}

// ledApply shows the current step and schedules the next.
func (b *Board) ledApply(at time.Time) {
	b.ledAt = time.Time{}
	if b.parts.LED == nil {
		return
	}
	st := b.ledSteps[b.ledIdx]
	fellBack, err := b.led.apply(st.duty)
	if fellBack {
		b.log.Debug("status LED pin has no PWM; blinking instead", "pin", b.parts.LED.String())
		b.ledSteps = ledPattern(b.status, false)
		b.ledIdx = 0
		st = b.ledSteps[0]
		_, err = b.led.apply(st.duty)
	}
	if err != nil {
		b.log.Warn("driving status LED", "pin", b.parts.LED.String(), "err", err)
	}
	if st.d > 0 {
		b.ledAt = at.Add(st.d)
	}
}

func (b *Board) ampLevel(on bool) gpio.Level {
	return gpio.Level(on != b.opts.Amp.ActiveLow)
}

func (b *Board) setAmpPin(on bool) error {
	if b.parts.Amp == nil {
		return nil
	}
	if err := b.parts.Amp.Out(b.ampLevel(on)); err != nil {
		return fmt.Errorf("switching amplifier on=%t via %s: %w", on, b.parts.Amp, err)
	}
	return nil
}

func (b *Board) setMute(mute bool) error {
	if b.parts.DAC == nil {
		return nil
	}
	return b.parts.DAC.SetMute(mute)
}

func (b *Board) setPlaying(p bool, now time.Time) error {
	b.playing = p
	if !p {
		if b.amp == ampOn {
			b.ampAt = now.Add(b.opts.Amp.IdleOff)
		}
		return nil
	}
	switch b.amp {
	case ampOn:
		b.ampAt = time.Time{} // cancel the idle timer
	case ampWarming:
	case ampCooling:
		// Still powered: unmute straight away.
		b.ampAt = time.Time{}
		if err := b.setMute(false); err != nil {
			return err
		}
		b.amp = ampOn
	case ampOff:
		if b.parts.DAC != nil {
			if err := b.parts.DAC.SetStandby(false); err != nil {
				return err
			}
		}
		if err := b.setAmpPin(true); err != nil {
			return err
		}
		if b.parts.Amp == nil {
			b.amp = ampOn
			return b.setMute(false)
		}
		b.amp = ampWarming
		b.ampAt = now.Add(b.opts.Amp.Settle)
	}
	return nil
}

func (b *Board) ampDeadline(at time.Time) error {
	switch b.amp {
	case ampWarming:
		if err := b.setMute(false); err != nil {
			b.amp = ampOn // amp is on; a later stop will still mute and switch off
			return err
		}
		b.amp = ampOn
		if !b.playing {
			b.ampAt = at.Add(b.opts.Amp.IdleOff)
		}
	case ampOn: // idle time is up
		if err := b.setMute(true); err != nil {
			return err
		}
		b.amp = ampCooling
		b.ampAt = at.Add(b.opts.Amp.MuteSettle)
		if b.parts.Amp == nil {
			b.ampAt = at
		}
	case ampCooling:
		if err := b.setAmpPin(false); err != nil {
			return err
		}
		b.amp = ampOff
		if b.parts.DAC != nil {
			return b.parts.DAC.SetStandby(true)
		}
	}
	return nil
}

// shutdown leaves the hardware quiet: DAC muted first, then (after the
// mute ramp, in real time since the loops have stopped) amplifier off and
// DAC in standby, LED off.
func (b *Board) shutdown() {
	if b.amp != ampOff {
		if err := b.setMute(true); err != nil {
			b.log.Warn("muting DAC at shutdown", "err", err)
		}
		if b.parts.Amp != nil {
			t := time.NewTimer(b.opts.Amp.MuteSettle)
			<-t.C
		}
		if err := b.setAmpPin(false); err != nil {
			b.log.Warn("switching amplifier off at shutdown", "err", err)
		}
		if b.parts.DAC != nil {
			if err := b.parts.DAC.SetStandby(true); err != nil {
				b.log.Warn("DAC standby at shutdown", "err", err)
			}
		}
		b.amp = ampOff
	}
	if b.parts.LED != nil {
		if _, err := b.led.apply(0); err != nil {
			b.log.Warn("switching status LED off", "err", err)
		}
	}
}

func (b *Board) closeEvents() {
	b.eventsOnce.Do(func() { close(b.events) })
}

// Close stops Run (waiting for it), leaves the amplifier off and the DAC
// muted, and then calls Options.Release. It is idempotent: later calls
// return the first call's result.
func (b *Board) Close() error {
	b.mu.Lock()
	if b.isClosed {
		b.mu.Unlock()
		<-b.released
		return b.closeErr
	}
	b.isClosed = true
	started := b.started
	b.mu.Unlock()

	close(b.closed)
	if started {
		<-b.done
	} else {
		b.shutdown()
		b.closeEvents()
		close(b.done)
	}
	var err error
	if b.opts.Release != nil {
		if rerr := b.opts.Release(); rerr != nil {
			err = fmt.Errorf("board: releasing hardware: %w", rerr)
		}
	}
	b.closeErr = err // published to later callers by closing released
	close(b.released)
	return err
}
