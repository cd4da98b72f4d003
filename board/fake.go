package board

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// FakePCM5122 is an i2c.Bus with an emulated PCM5122 on it: a page-0
// register file with the chip's reset values, the reset and read-only
// behaviour the driver relies on, and no answer (an error, like a missing
// ACK) at any other address. It lets the daemon run with hardware volume on
// a laptop and lets tests check what the driver wrote.
type FakePCM5122 struct {
	Addr uint16

	mu     sync.Mutex
	regs   [256]byte
	writes int
}

var _ i2c.Bus = (*FakePCM5122)(nil)

// NewFakePCM5122 returns a fake chip at addr in its reset state.
func NewFakePCM5122(addr uint16) *FakePCM5122 {
	f := &FakePCM5122{Addr: addr}
	f.resetLocked()
	return f
}

func (f *FakePCM5122) resetLocked() {
	f.regs = [256]byte{}
	f.regs[regMasterMode] = masterModeReset
	f.regs[regI2S1] = 0x02
	f.regs[0x2A] = 0x11 // DAC data path
	f.regs[0x2B] = 0x01 // DSP program
	f.regs[regVolumeLeft] = volumeReset
	f.regs[regVolumeRight] = volumeReset
	f.regs[0x3F] = 0x22 // volume ramp
	f.regs[0x41] = 0x07
	f.regs[regPowerState] = 0x00
}

// String implements i2c.Bus.
func (f *FakePCM5122) String() string { return "fake-i2c" }

// SetSpeed implements i2c.Bus.
func (f *FakePCM5122) SetSpeed(physic.Frequency) error { return nil }

// errFakeNoAck mimics a transfer nobody acknowledged.
var errFakeNoAck = errors.New("fake-i2c: no ACK (remote I/O error)")

// Tx implements i2c.Bus: a 2-byte write sets a register, a 1-byte write
// followed by a read reads from that register on (auto-increment).
func (f *FakePCM5122) Tx(addr uint16, w, r []byte) error {
	if addr != f.Addr {
		return errFakeNoAck
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(w) == 0 {
		return errors.New("fake-i2c: a PCM5122 transfer starts with a register address")
	}
	reg := int(w[0])
	if len(r) == 0 {
		for i, v := range w[1:] {
			f.writeLocked(byte(reg+i), v)
		}
		return nil
	}
	if len(w) != 1 {
		return errors.New("fake-i2c: write-then-read must write only the register address")
	}
	for i := range r {
		r[i] = f.regs[byte(reg+i)]
	}
	return nil
}

func (f *FakePCM5122) writeLocked(reg, v byte) {
	f.writes++
	switch reg {
	case regReset:
		if v&0x01 != 0 {
			f.resetLocked()
		}
		return // self-clearing
	case regPowerState:
		return // read only
	case regPower:
		if v&standbyRequest != 0 {
			f.regs[regPowerState] = 8 // standby
		} else {
			f.regs[regPowerState] = 5 // run
		}
	}
	f.regs[reg] = v
}

// Reg returns the current value of a page-0 register.
func (f *FakePCM5122) Reg(reg byte) byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.regs[reg]
}

// Writes counts register writes so far.
func (f *FakePCM5122) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// Fake is a complete board on periph's gpiotest pins and a FakePCM5122.
// Built with a ManualClock, its Press, Turn and Advance helpers drive it
// deterministically: each returns once the board has processed the input.
type Fake struct {
	*Board
	Buttons  [numButtons]*gpiotest.Pin
	EncoderA *gpiotest.Pin
	EncoderB *gpiotest.Pin
	LED      *gpiotest.Pin
	Amp      *gpiotest.Pin
	Chip     *FakePCM5122
	DAC      *PCM5122

	clock *ManualClock
	steps *stepper
}

// stepper lets a driver of a ManualClock board wait until the board's
// actor has processed an input: the actor calls hook after every wake.
type stepper struct {
	seq    atomic.Uint64
	notify chan struct{}
}

func newStepper() *stepper { return &stepper{notify: make(chan struct{}, 1)} }

func (s *stepper) hook() {
	s.seq.Add(1)
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *stepper) waitAfter(ctx context.Context, before uint64) error {
	for s.seq.Load() <= before {
		select {
		case <-s.notify:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the board to process an input: %w (is Run running?)", ctx.Err())
		}
	}
	return nil
}

func fakePin(name string, num int) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, Num: num, Fn: "In/High", L: gpio.High, EdgesChan: make(chan gpio.Level)}
}

// NewFake builds the "fake" profile's board. p is resolved against the
// "fake" built-in. When o.Clock is a *ManualClock the helpers are enabled.
func NewFake(p Profile, o Options) (*Fake, error) {
	if p.Name == "" {
		p.Name = ProfileFake
	}
	p, err := p.Resolve()
	if err != nil {
		return nil, err
	}
	if p.Name != ProfileFake {
		return nil, fmt.Errorf("%w: NewFake needs the %q profile, not %q", ErrBadProfile, ProfileFake, p.Name)
	}
	f := &Fake{steps: newStepper()}
	f.Buttons = [numButtons]*gpiotest.Pin{fakePin(p.PlayPin, 1), fakePin(p.NextPin, 2), fakePin(p.PreviousPin, 3)}
	f.EncoderA, f.EncoderB = fakePin(p.EncoderAPin, 4), fakePin(p.EncoderBPin, 5)
	f.LED = &gpiotest.Pin{N: p.LEDPin, Num: 6, Fn: "Out/Low"}
	f.Amp = &gpiotest.Pin{N: p.AmpPin, Num: 7, Fn: "Out/Low"}
	f.Chip = NewFakePCM5122(p.DACAddr)
	f.DAC = NewPCM5122(f.Chip, p.DACAddr)

	po := p.Options()
	po.Logger, po.Clock, po.Release, po.PollInterval = o.Logger, o.Clock, o.Release, o.PollInterval
	if o.EventBuffer != 0 {
		po.EventBuffer = o.EventBuffer
	}
	if err := f.DAC.Init(initialVolReg(po)); err != nil {
		return nil, fmt.Errorf("initialising the fake DAC: %w", err)
	}
	parts := Parts{
		Buttons:  [numButtons]gpio.PinIn{f.Buttons[0], f.Buttons[1], f.Buttons[2]},
		EncoderA: f.EncoderA, EncoderB: f.EncoderB,
		LED: f.LED, Amp: f.Amp, DAC: f.DAC,
	}
	b, err := New(parts, po)
	if err != nil {
		return nil, err
	}
	f.Board = b
	if mc, ok := po.Clock.(*ManualClock); ok {
		f.clock = mc
		b.hook = f.steps.hook
	}
	return f, nil
}

// initialVolReg is the DAC volume register for the options' initial volume.
func initialVolReg(o Options) byte {
	c := o.Curve
	if c == (VolumeCurve{}) {
		c = DefaultVolumeCurve
	}
	v := o.InitialVolume
	if v == 0 {
		v = 40
	}
	return c.Reg(v)
}

var errNoManualClock = errors.New("board: fake helpers need Options.Clock to be a *ManualClock")

// Edge drives pin to level l and waits until the board has processed it.
func (f *Fake) Edge(ctx context.Context, pin *gpiotest.Pin, l gpio.Level) error {
	if f.clock == nil {
		return errNoManualClock
	}
	before := f.steps.seq.Load()
	select {
	case pin.EdgesChan <- l:
	case <-ctx.Done():
		return fmt.Errorf("injecting an edge on %s: %w (is Run running?)", pin, ctx.Err())
	}
	return f.steps.waitAfter(ctx, before)
}

// Advance moves the manual clock and waits until the board has handled
// whatever fell due.
func (f *Fake) Advance(ctx context.Context, d time.Duration) error {
	if f.clock == nil {
		return errNoManualClock
	}
	before := f.steps.seq.Load()
	if f.clock.Advance(d) == 0 {
		return nil
	}
	return f.steps.waitAfter(ctx, before)
}

// Press presses button which for hold and releases it (clean edges).
func (f *Fake) Press(ctx context.Context, which ButtonID, hold time.Duration) error {
	pin := f.Buttons[which]
	if err := f.Edge(ctx, pin, gpio.Low); err != nil {
		return err
	}
	if err := f.Advance(ctx, hold); err != nil {
		return err
	}
	if err := f.Edge(ctx, pin, gpio.High); err != nil {
		return err
	}
	return f.Advance(ctx, f.opts.Buttons.Debounce)
}

// Turn turns the encoder by detents (positive: clockwise), one full
// quadrature cycle per detent, gap apart.
func (f *Fake) Turn(ctx context.Context, detents int, gap time.Duration) error {
	cw := []struct {
		pin *gpiotest.Pin
		l   gpio.Level
	}{{f.EncoderA, gpio.Low}, {f.EncoderB, gpio.Low}, {f.EncoderA, gpio.High}, {f.EncoderB, gpio.High}}
	ccw := []struct {
		pin *gpiotest.Pin
		l   gpio.Level
	}{{f.EncoderB, gpio.Low}, {f.EncoderA, gpio.Low}, {f.EncoderB, gpio.High}, {f.EncoderA, gpio.High}}
	seq, n := cw, detents
	if detents < 0 {
		seq, n = ccw, -detents
	}
	for i := range n {
		if i > 0 {
			if err := f.Advance(ctx, gap); err != nil {
				return err
			}
		}
		for _, s := range seq {
			if err := f.Edge(ctx, s.pin, s.l); err != nil {
				return err
			}
		}
	}
	return nil
}
