package board

import "time"

// ButtonConfig tunes debounce and long press.
type ButtonConfig struct {
	// Debounce is how long a level must hold before it counts (default
	// 20ms). Every edge restarts the wait.
	Debounce time.Duration `toml:"debounce"`
	// LongPress is how long a button must be held to count as a long press
	// (default 800ms).
	LongPress time.Duration `toml:"long_press"`
	// ActiveHigh says a pressed button reads High (pull-down wiring). The
	// default is active low: the button shorts the pin, pulled up, to GND.
	ActiveHigh bool `toml:"active_high"`
}

func (c ButtonConfig) withDefaults() ButtonConfig {
	if c.Debounce == 0 {
		c.Debounce = 20 * time.Millisecond
	}
	if c.LongPress == 0 {
		c.LongPress = 800 * time.Millisecond
	}
	return c
}

// debouncer is the per-button state machine: edges restart a settle timer;
// when it expires the level is sampled and, if it changed, committed. A
// press arms the long-press deadline. Pure: the caller supplies times and
// levels and owns the timers.
type debouncer struct {
	cfg       ButtonConfig
	pressed   bool      // committed (debounced) state
	settleAt  time.Time // zero when no edge is pending
	longAt    time.Time // zero when no long press is pending
	longFired bool
}

// edge notes an edge at now.
func (d *debouncer) edge(now time.Time) {
	d.settleAt = now.Add(d.cfg.Debounce)
}

// settle runs at the settle deadline with the pin's pressed state and
// reports an event: (short press, long press, ok).
func (d *debouncer) settle(at time.Time, pressed bool) (ev Button, ok bool) {
	d.settleAt = time.Time{}
	if pressed == d.pressed {
		return Button{}, false // a bounce that came back
	}
	d.pressed = pressed
	if pressed {
		d.longAt = at.Add(d.cfg.LongPress)
		d.longFired = false
		return Button{}, false
	}
	d.longAt = time.Time{}
	if d.longFired {
		return Button{}, false
	}
	return Button{Long: false}, true
}

// long runs at the long-press deadline.
func (d *debouncer) long() (ev Button, ok bool) {
	d.longAt = time.Time{}
	if !d.pressed || d.longFired {
		return Button{}, false
	}
	d.longFired = true
	return Button{Long: true}, true
}
