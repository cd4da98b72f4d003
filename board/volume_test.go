package board

import (
	"errors"
	"math"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestVolumeCurveReg(t *testing.T) {
	tests := []struct {
		c    VolumeCurve
		v    int
		want byte
	}{
		{DefaultVolumeCurve, 0, 0xFF},                        // mute
		{DefaultVolumeCurve, -5, 0xFF},                       // clamped to 0
		{DefaultVolumeCurve, 100, 0x30},                      // 0 dB
		{DefaultVolumeCurve, 150, 0x30},                      // clamped to 100
		{DefaultVolumeCurve, 50, 0x30 + 60},                  // -30 dB
		{DefaultVolumeCurve, 1, 0x30 + 119},                  // -59.4 dB -> 118.8 half-dB steps -> 119
		{DefaultVolumeCurve, 99, 0x30 + 1},                   // -0.6 dB -> 1.2 -> 1
		{VolumeCurve{RangeDB: 40, MaxDB: 6}, 100, 0x30 - 12}, // +6 dB
		{VolumeCurve{RangeDB: 100, MaxDB: 0}, 1, 0x30 + 198}, // -99 dB
	}
	for _, tt := range tests {
		if got := tt.c.Reg(tt.v); got != tt.want {
			t.Errorf("%+v.Reg(%d) = %#x, want %#x", tt.c, tt.v, got, tt.want)
		}
	}
}

func TestVolumeCurveMonotonicAndEven(t *testing.T) {
	c := DefaultVolumeCurve
	prevDB := math.Inf(-1)
	for v := 1; v <= 100; v++ {
		db, mute := c.DB(v)
		if mute || db <= prevDB {
			t.Fatalf("DB(%d) = %v not increasing", v, db)
		}
		if v > 1 && math.Abs(db-prevDB-0.6) > 1e-9 {
			t.Fatalf("step %d is %.3f dB, want an even 0.6 dB", v, db-prevDB)
		}
		prevDB = db
		if g := c.Gain(v); g <= 0 || g > 1 {
			t.Fatalf("Gain(%d) = %v", v, g)
		}
	}
	if c.Gain(0) != 0 || c.Gain(100) != 1 {
		t.Fatal("Gain must be 0 at mute and 1 at 0 dB")
	}
}

func TestVolumeCurveValidate(t *testing.T) {
	for _, c := range []VolumeCurve{{RangeDB: 0}, {RangeDB: 200}, {RangeDB: 60, MaxDB: 30}, {RangeDB: 100, MaxDB: -10}} {
		if err := c.Validate(); !errors.Is(err, ErrBadProfile) {
			t.Errorf("%+v: err = %v, want ErrBadProfile", c, err)
		}
	}
	if err := DefaultVolumeCurve.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestVolumeOnDAC(t *testing.T) {
	bus := playback(t, []i2ctest.IO{
		w(0x3D, 0x30+60), w(0x3E, 0x30+60), // Set(50): -30 dB
		w(0x3D, 0x30+54), w(0x3E, 0x30+54), // Adjust(+5) -> 55: -27 dB
		w(0x3D, 0xFF), w(0x3E, 0xFF), // Set(0): mute
		w(0x3D, 0x30), w(0x3E, 0x30), // Adjust(+100) clamps to 100
	})
	v := NewVolume(NewPCM5122(bus, a), DefaultVolumeCurve, 1, 40)
	if v.Get() != 40 {
		t.Fatalf("initial = %d", v.Get())
	}
	for _, step := range []struct {
		set  bool
		n    int
		want int
	}{{true, 50, 50}, {false, 5, 55}, {true, 0, 0}, {false, 100, 100}} {
		var got int
		var err error
		if step.set {
			got, err = v.Set(step.n)
		} else {
			got, err = v.Adjust(step.n)
		}
		if err != nil || got != step.want || v.Get() != step.want {
			t.Fatalf("step %+v: got %d, %v (Get %d)", step, got, err, v.Get())
		}
	}
}

func TestVolumeKeepsOldValueOnError(t *testing.T) {
	bus := playback(t, nil) // every write fails
	v := NewVolume(NewPCM5122(bus, a), DefaultVolumeCurve, 2, 30)
	if got, err := v.Set(80); err == nil || got != 30 || v.Get() != 30 {
		t.Fatalf("Set on a failing bus: got %d, %v", got, err)
	}
}
