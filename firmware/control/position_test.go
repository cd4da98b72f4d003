package control_test

import (
	"errors"
	"testing"
	"time"

	"github.com/starling-audio/starling/firmware/control"
)

func TestParsePosition(t *testing.T) {
	good := map[string]time.Duration{
		"0":       0,
		"83":      83 * time.Second,
		"1:23":    83 * time.Second,
		"01:23":   83 * time.Second,
		"1:23.5":  83500 * time.Millisecond,
		"1:02:03": time.Hour + 2*time.Minute + 3*time.Second,
		"83s":     83 * time.Second,
		"1m23s":   83 * time.Second,
		" 0:07 ":  7 * time.Second,
		"90:00":   90 * time.Minute,
	}
	for in, want := range good {
		got, err := control.ParsePosition(in)
		if err != nil || got != want {
			t.Errorf("ParsePosition(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1:-2", "1:60", "1:2:3:4", "a", "1:", ":5", "NaN", "+5", "-5s", "25h", "1:99:00", "1e9", "99999999999999:00"} {
		if got, err := control.ParsePosition(in); !errors.Is(err, control.ErrInvalid) {
			t.Errorf("ParsePosition(%q) = %v, %v; want ErrInvalid", in, got, err)
		}
	}
}

func TestFormatPosition(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0:00", 83500 * time.Millisecond: "1:23", time.Hour + 2*time.Minute + 3*time.Second: "1:02:03", -time.Second: "0:00",
	} {
		if got := control.FormatPosition(d); got != want {
			t.Errorf("FormatPosition(%v) = %q, want %q", d, got, want)
		}
	}
}

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"1:23", "83", "1:02:03.5", "1m23s", "1:60", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := control.ParsePosition(s)
		if err != nil {
			return
		}
		if d < 0 || d > control.MaxSeek {
			t.Fatalf("ParsePosition(%q) = %v out of range", s, d)
		}
		// Whole seconds round-trip through the m:ss form.
		back, err := control.ParsePosition(control.FormatPosition(d))
		if err != nil || back != d.Truncate(time.Second) {
			t.Fatalf("round trip of %v: %v, %v", d, back, err)
		}
	})
}
