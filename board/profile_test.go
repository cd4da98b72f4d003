package board

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBuiltinsValidate(t *testing.T) {
	for _, n := range BuiltinNames() {
		p, ok := Builtin(n)
		if !ok {
			t.Fatalf("%s missing", n)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestResolveOverrides(t *testing.T) {
	p, err := Profile{Name: ProfileRPiPCM5122, PlayPin: "GPIO23", DACAddr: 0x4c, Buttons: ButtonConfig{LongPress: time.Second}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if p.PlayPin != "GPIO23" || p.NextPin != "GPIO27" || p.DACAddr != 0x4c || p.Buttons.LongPress != time.Second || p.I2CBus != "1" {
		t.Fatalf("resolved %+v", p)
	}
	p, err = Profile{Name: ProfileRPiPCM5122, EncoderAPin: "none", EncoderBPin: "none", DAC: "none"}.Resolve()
	if err != nil || p.EncoderAPin != "" || p.EncoderBPin != "" || p.HasDAC() || p.LEDPin != "GPIO13" {
		t.Fatalf("removing pins: %+v, %v", p, err)
	}
	p, err = Profile{}.Resolve()
	if err != nil || p.Name != ProfileNone || p.HasDAC() {
		t.Fatalf("empty profile resolves to %+v, %v; want none", p, err)
	}
}

func TestValidateRejects(t *testing.T) {
	rpi, _ := Builtin(ProfileRPiPCM5122)
	tests := []struct {
		name string
		mod  func(p *Profile)
		want string
	}{
		{"unknown name", func(p *Profile) { p.Name = "pi5" }, "unknown board profile"},
		{"pin twice", func(p *Profile) { p.LEDPin = p.PlayPin }, "used by both"},
		{"half encoder", func(p *Profile) { p.EncoderBPin = "" }, "encoder_a_pin and encoder_b_pin"},
		{"I2S pin", func(p *Profile) { p.AmpPin = "GPIO18" }, "I2S"},
		{"I2C pin", func(p *Profile) { p.NextPin = "GPIO3" }, "I2C"},
		{"bad address", func(p *Profile) { p.DACAddr = 0x48 }, "not a PCM5122 address"},
		{"no bus", func(p *Profile) { p.I2CBus = "" }, "needs i2c_bus"},
		{"unknown dac", func(p *Profile) { p.DAC = "wm8960" }, "unknown dac"},
		{"volume range", func(p *Profile) { p.VolumeRangeDB = 500 }, "volume range"},
		{"initial volume", func(p *Profile) { p.InitialVolume = 101 }, "initial_volume"},
		{"steps per detent", func(p *Profile) { p.Encoder.StepsPerDetent = 3 }, "steps_per_detent"},
		{"negative debounce", func(p *Profile) { p.Buttons.Debounce = -time.Millisecond }, "buttons.debounce"},
		{"long press shorter than debounce", func(p *Profile) { p.Buttons.Debounce = time.Second }, "long_press"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := rpi
			tt.mod(&p)
			err := p.Validate()
			if !errors.Is(err, ErrBadProfile) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadProfile mentioning %q", err, tt.want)
			}
		})
	}
}

// FuzzProfileResolve: profiles come from a config file on disk; no input
// panics, and whatever resolves validates.
func FuzzProfileResolve(f *testing.F) {
	f.Add("rpi-pcm5122", "GPIO17", "GPIO27", "1", "pcm5122", uint16(0x4d), 60.0, 40)
	f.Add("fake", "", "", "", "", uint16(0), 0.0, 0)
	f.Add("none", "X", "X", "", "none", uint16(0x4c), -5.0, -1)
	f.Fuzz(func(t *testing.T, name, play, next, bus, dac string, addr uint16, rng float64, vol int) {
		p := Profile{Name: name, PlayPin: play, NextPin: next, I2CBus: bus, DAC: dac, DACAddr: addr, VolumeRangeDB: rng, InitialVolume: vol}
		rp, err := p.Resolve()
		if err != nil {
			if !errors.Is(err, ErrBadProfile) {
				t.Fatalf("error not wrapping ErrBadProfile: %v", err)
			}
			return
		}
		if err := rp.Validate(); err != nil {
			t.Fatalf("resolved profile does not validate: %v", err)
		}
	})
}
