package board

import (
	"context"
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// SelfCheck exercises the board stack end to end without hardware. For the
// "none" and "fake" profiles it builds a fake board on a ManualClock,
// presses play-pause (short) and next (long), turns the encoder up, and
// checks the events, the DAC's volume register, and that the amplifier comes
// on before the DAC unmutes and goes off after it mutes. A real profile is
// checked by opening it (firmware's OpenBoard), so SelfCheck returns nil for
// it after validating the profile.
func SelfCheck(ctx context.Context, p Profile) (err error) {
	rp, err := p.Resolve()
	if err != nil {
		return err
	}
	if rp.Name != ProfileNone && rp.Name != ProfileFake {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	clk := NewManualClock(time.Unix(0, 0))
	f, err := NewFake(Profile{Name: ProfileFake}, Options{Clock: clk, PollInterval: 10 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("%w: building fake board: %w", ErrSelfCheck, err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- f.Run(ctx) }()
	defer func() {
		cerr := f.Close()
		if rerr := <-runErr; err == nil {
			err = errors.Join(rerr, cerr)
		}
	}()
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrSelfCheck, fmt.Sprintf(format, a...))
	}
	next := func() (Event, error) {
		select {
		case e := <-f.Events():
			return e, nil
		default:
			return nil, fail("expected an event, got none")
		}
	}

	if err := f.Press(ctx, PlayPause, 100*time.Millisecond); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if e, err := next(); err != nil || e != (Button{Which: PlayPause}) {
		return fail("short play-pause press: got %v, %v", e, err)
	}
	if err := f.Press(ctx, Next, time.Second); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if e, err := next(); err != nil || e != (Button{Which: Next, Long: true}) {
		return fail("long next press: got %v, %v", e, err)
	}
	if err := f.Turn(ctx, 3, 500*time.Millisecond); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	total := 0
	for range 3 {
		e, err := next()
		if err != nil {
			return err
		}
		d, ok := e.(VolumeDelta)
		if !ok {
			return fail("encoder: got %v, want a volume delta", e)
		}
		total += d.Steps
	}
	if total != 3 {
		return fail("three slow detents clockwise gave %d steps, want 3", total)
	}
	vol := f.Volume()
	v, err := vol.Adjust(total)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if got, want := f.Chip.Reg(regVolumeLeft), vol.Curve().Reg(v); got != want || f.Chip.Reg(regVolumeRight) != want {
		return fail("volume %d: DAC registers read %#x/%#x, want %#x", v, got, f.Chip.Reg(regVolumeRight), want)
	}

	if err := f.SetPlaying(ctx, true); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if f.Amp.Read() != gpio.High || f.Chip.Reg(regMute) != muteBoth {
		return fail("play: the amplifier must be on and the DAC still muted during the settle time")
	}
	if err := f.Advance(ctx, f.opts.Amp.Settle); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if f.Chip.Reg(regMute) != 0 {
		return fail("play: DAC still muted after the amplifier settled")
	}
	if err := f.SetPlaying(ctx, false); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if err := f.Advance(ctx, f.opts.Amp.IdleOff); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if f.Chip.Reg(regMute) != muteBoth || f.Amp.Read() != gpio.High {
		return fail("idle: the DAC must mute while the amplifier is still on")
	}
	if err := f.Advance(ctx, f.opts.Amp.MuteSettle); err != nil {
		return fmt.Errorf("%w: %w", ErrSelfCheck, err)
	}
	if f.Amp.Read() != gpio.Low {
		return fail("idle: the amplifier is still on after the mute settled")
	}
	return nil
}
