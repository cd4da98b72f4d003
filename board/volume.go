package board

import (
	"fmt"
	"math"
	"sync"
)

// VolumeCurve maps a 0-100 user volume to decibels: 0 is mute, 1..100 is
// linear in dB from MaxDB-RangeDB to MaxDB. Equal knob steps are then equal
// loudness steps, which sounds even; a linear-amplitude curve would crowd
// all the audible change into the bottom tenth of the knob.
type VolumeCurve struct {
	RangeDB float64 // span of the curve; default 60
	MaxDB   float64 // level at 100; default 0 (no boost)
}

// DefaultVolumeCurve spans -60..0 dB.
var DefaultVolumeCurve = VolumeCurve{RangeDB: 60, MaxDB: 0}

// Validate checks the curve fits the PCM5122 range (+24 .. -103 dB).
func (c VolumeCurve) Validate() error {
	if c.RangeDB < 6 || c.RangeDB > 100 {
		return fmt.Errorf("%w: volume range %.1f dB is outside 6..100 dB", ErrBadProfile, c.RangeDB)
	}
	if c.MaxDB > 24 || c.MaxDB-c.RangeDB < -103 {
		return fmt.Errorf("%w: volume curve %.1f..%.1f dB is outside the DAC's -103..+24 dB", ErrBadProfile, c.MaxDB-c.RangeDB, c.MaxDB)
	}
	return nil
}

// DB returns the level for volume v (clamped to 0..100) and whether it is
// mute (v == 0).
func (c VolumeCurve) DB(v int) (db float64, mute bool) {
	v = clampVolume(v)
	if v == 0 {
		return math.Inf(-1), true
	}
	return c.MaxDB - c.RangeDB*float64(100-v)/100, false
}

// Gain returns the linear amplitude factor for volume v, for consumers
// that apply volume in software when there is no DAC.
func (c VolumeCurve) Gain(v int) float64 {
	db, mute := c.DB(v)
	if mute {
		return 0
	}
	return math.Pow(10, db/20)
}

// Reg returns the PCM5122 digital volume register value for volume v,
// rounded to the chip's 0.5 dB steps.
func (c VolumeCurve) Reg(v int) byte {
	db, mute := c.DB(v)
	if mute {
		return VolumeRegMute
	}
	steps := math.Round(-db * 2)
	r := VolumeReg0dB + steps
	if r < 0 {
		r = 0
	}
	if r > VolumeRegMute-1 {
		r = VolumeRegMute - 1
	}
	return byte(r)
}

func clampVolume(v int) int {
	return max(0, min(100, v))
}

// volumeSetter is what Volume needs from a DAC.
type volumeSetter interface {
	SetVolumeReg(v byte) error
}

var _ volumeSetter = (*PCM5122)(nil)

// Volume applies a 0-100 volume to the DAC's digital volume (hardware
// volume). A board without a DAC has no Volume; its consumer scales in
// software with VolumeCurve.Gain. Safe for concurrent use.
type Volume struct {
	dac   volumeSetter
	curve VolumeCurve
	step  int

	mu  sync.Mutex
	cur int
}

// NewVolume returns a Volume over dac starting at initial (not yet written;
// call Set). step is how many volume points one encoder step moves
// (default 2).
func NewVolume(dac volumeSetter, curve VolumeCurve, step, initial int) *Volume {
	if step <= 0 {
		step = 2
	}
	return &Volume{dac: dac, curve: curve, step: step, cur: clampVolume(initial)}
}

// Get returns the current volume, 0..100.
func (v *Volume) Get() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur
}

// Set writes volume n (clamped to 0..100) to the DAC and returns the value
// applied. On error the previous volume stays current.
func (v *Volume) Set(n int) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.setLocked(n)
}

func (v *Volume) setLocked(n int) (int, error) {
	n = clampVolume(n)
	if err := v.dac.SetVolumeReg(v.curve.Reg(n)); err != nil {
		return v.cur, fmt.Errorf("applying volume %d: %w", n, err)
	}
	v.cur = n
	return n, nil
}

// Adjust moves the volume by steps encoder steps (VolumeDelta.Steps) and
// returns the value applied.
func (v *Volume) Adjust(steps int) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.setLocked(v.cur + steps*v.step)
}

// Curve returns the curve in use.
func (v *Volume) Curve() VolumeCurve { return v.curve }
