package board

import "time"

// quadTable gives the direction of a quadrature transition indexed by
// old<<2 | new, where a state is A<<1 | B. Valid single-line changes are +1
// (clockwise: A leads B) or -1; no change and double changes (a missed edge)
// are 0.
var quadTable = [16]int8{
	// new: 00  01  10  11
	0, -1, +1, 0, // old 00
	+1, 0, 0, -1, // old 01
	-1, 0, 0, +1, // old 10
	0, +1, -1, 0, // old 11
}

// EncoderConfig tunes the rotary encoder decoder.
type EncoderConfig struct {
	// StepsPerDetent is how many quadrature transitions one click makes:
	// 4 for most panel encoders (default), 2 or 1 for others.
	StepsPerDetent int `toml:"steps_per_detent"`
	// Reverse swaps the direction (A and B wired the other way round).
	Reverse bool `toml:"reverse"`
	// AccelFast and AccelMedium: a detent that follows the previous one in
	// the same direction within AccelFast counts 4 steps, within
	// AccelMedium 2 steps (defaults 40ms and 100ms; negative disables).
	AccelFast   time.Duration `toml:"accel_fast"`
	AccelMedium time.Duration `toml:"accel_medium"`
}

func (c EncoderConfig) withDefaults() EncoderConfig {
	if c.StepsPerDetent == 0 {
		c.StepsPerDetent = 4
	}
	if c.AccelFast == 0 {
		c.AccelFast = 40 * time.Millisecond
	}
	if c.AccelMedium == 0 {
		c.AccelMedium = 100 * time.Millisecond
	}
	return c
}

// quadDecoder turns A/B line states into detents with direction and
// acceleration. It is a pure state machine: the caller supplies levels and
// times.
type quadDecoder struct {
	cfg     EncoderConfig
	state   uint8 // A<<1 | B
	acc     int
	lastAt  time.Time
	lastDir int
}

func newQuadDecoder(cfg EncoderConfig, a, b bool) *quadDecoder {
	return &quadDecoder{cfg: cfg.withDefaults(), state: quadState(a, b)}
}

func quadState(a, b bool) uint8 {
	var s uint8
	if a {
		s |= 2
	}
	if b {
		s |= 1
	}
	return s
}

// update feeds the current line levels at time now and returns the volume
// steps of a completed detent (0 when none completed).
func (q *quadDecoder) update(a, b bool, now time.Time) int {
	ns := quadState(a, b)
	d := int(quadTable[q.state<<2|ns])
	q.state = ns
	if d == 0 {
		return 0
	}
	if q.acc != 0 && (d > 0) != (q.acc > 0) {
		q.acc = 0 // direction reversed mid-detent: start again
	}
	q.acc += d
	spd := q.cfg.StepsPerDetent
	if q.acc < spd && q.acc > -spd {
		return 0
	}
	dir := 1
	if q.acc < 0 {
		dir = -1
	}
	q.acc = 0
	mult := 1
	if !q.lastAt.IsZero() && dir == q.lastDir {
		dt := now.Sub(q.lastAt)
		switch {
		case q.cfg.AccelFast > 0 && dt < q.cfg.AccelFast:
			mult = 4
		case q.cfg.AccelMedium > 0 && dt < q.cfg.AccelMedium:
			mult = 2
		}
	}
	q.lastAt, q.lastDir = now, dir
	if q.cfg.Reverse {
		dir = -dir
	}
	return dir * mult
}
