package board

import (
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// ledStep holds the LED at duty for d; d == 0 holds it until the status
// changes.
type ledStep struct {
	duty gpio.Duty
	d    time.Duration
}

// ledPWMFreq is the PWM frequency for a dimmable LED: far above flicker.
const ledPWMFreq = 1 * physic.KiloHertz

func pct(p int) gpio.Duty { return gpio.Duty(int64(gpio.DutyMax) * int64(p) / 100) }

// ledPattern returns the steps of status s, looping. With pwm the LED can
// dim and breathe; without it every step is full on or off and the
// patterns are told apart by rhythm alone.
//
//	off       dark
//	booting   pwm: breathing, 2 s period; on/off: 1 Hz blink
//	idle      pwm: steady dim (8%);       on/off: 50 ms flash every 3 s
//	playing   steady on (pwm: 60%)
//	updating  double blink every second
//	error     fast 5 Hz blink
func ledPattern(s Status, pwm bool) []ledStep {
	on, off := gpio.DutyMax, gpio.Duty(0)
	switch s {
	case StatusBooting:
		if !pwm {
			return []ledStep{{on, 500 * time.Millisecond}, {off, 500 * time.Millisecond}}
		}
		// A triangle ramp in 20 steps of 50 ms: up in 1 s, down in 1 s.
		var st []ledStep
		for i := 0; i <= 10; i++ {
			st = append(st, ledStep{pct(i * 10), 50 * time.Millisecond})
		}
		for i := 9; i >= 1; i-- {
			st = append(st, ledStep{pct(i * 10), 50 * time.Millisecond})
		}
		return st
	case StatusIdle:
		if pwm {
			return []ledStep{{pct(8), 0}}
		}
		return []ledStep{{on, 50 * time.Millisecond}, {off, 2950 * time.Millisecond}}
	case StatusPlaying:
		if pwm {
			return []ledStep{{pct(60), 0}}
		}
		return []ledStep{{on, 0}}
	case StatusUpdating:
		return []ledStep{{on, 100 * time.Millisecond}, {off, 100 * time.Millisecond}, {on, 100 * time.Millisecond}, {off, 700 * time.Millisecond}}
	case StatusError:
		return []ledStep{{on, 100 * time.Millisecond}, {off, 100 * time.Millisecond}}
	}
	return []ledStep{{off, 0}}
}

// ledDriver applies duties to the pin: PWM while the pin accepts it, plain
// levels once it has refused.
type ledDriver struct {
	pin gpio.PinOut
	pwm bool
}

// apply sets the LED to duty. The first PWM refusal switches the driver to
// on/off for good and reports it so the caller can recompute the pattern.
func (l *ledDriver) apply(duty gpio.Duty) (fellBack bool, err error) {
	if l.pwm {
		if err := l.pin.PWM(duty, ledPWMFreq); err == nil {
			return false, nil
		}
		l.pwm = false
		fellBack = true
	}
	lvl := gpio.Low
	if duty >= gpio.DutyHalf {
		lvl = gpio.High
	}
	return fellBack, l.pin.Out(lvl)
}
