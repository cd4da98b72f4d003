package board

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

// fakeHost is a periph registry with the rpi-pcm5122 pins and a Playback bus.
func fakeHost(bus *i2ctest.Playback) (Host, map[string]*gpiotest.Pin) {
	pins := map[string]*gpiotest.Pin{}
	for _, n := range []string{"GPIO17", "GPIO27", "GPIO22", "GPIO5", "GPIO6", "GPIO13", "GPIO16"} {
		pins[n] = &gpiotest.Pin{N: n, EdgesChan: make(chan gpio.Level)}
	}
	return Host{
		PinByName: func(n string) gpio.PinIO {
			if p, ok := pins[n]; ok {
				return p
			}
			return nil
		},
		OpenI2C: func(n string) (i2c.BusCloser, error) {
			if n != "1" {
				return nil, errors.New("sysfs-i2c: bus #" + n + " is not configured")
			}
			return bus, nil
		},
		Loaded: []string{"bcm2835-gpio", "sysfs-i2c"},
	}, pins
}

func TestOpenHardwareProfile(t *testing.T) {
	bus := &i2ctest.Playback{Ops: initOps(DefaultVolumeCurve.Reg(40)), DontPanic: true}
	h, pins := fakeHost(bus)
	b, err := Open(context.Background(), Profile{Name: ProfileRPiPCM5122}, h, Options{Clock: NewManualClock(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	if b.Volume() == nil || b.Volume().Get() != 40 {
		t.Fatal("hardware profile must have hardware volume at the initial 40")
	}
	if pins["GPIO17"].P != gpio.PullUp {
		t.Fatal("buttons must be pulled up")
	}
	// Close releases the bus Open opened: Playback.Close checks every op ran.
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestOpenErrorsSayHowToFix(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown pin", func(t *testing.T) {
		h, _ := fakeHost(&i2ctest.Playback{DontPanic: true})
		_, err := Open(ctx, Profile{Name: ProfileRPiPCM5122, LEDPin: "GPIO99"}, h, Options{})
		if !errors.Is(err, ErrUnknownPin) || !strings.Contains(err.Error(), "led_pin") || !strings.Contains(err.Error(), "GPIO17") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no gpio driver", func(t *testing.T) {
		h, _ := fakeHost(&i2ctest.Playback{DontPanic: true})
		h.PinByName = func(string) gpio.PinIO { return nil }
		h.Loaded, h.Failed = nil, []string{"bcm2835-gpio: open /dev/gpiomem: permission denied"}
		_, err := Open(ctx, Profile{Name: ProfileRPiPCM5122}, h, Options{})
		if !errors.Is(err, ErrUnknownPin) || !strings.Contains(err.Error(), "group gpio") || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("err = %v", err)
		}
	})
	for _, tt := range []struct {
		name  string
		probe error
		want  string
	}{
		{"no device node", fs.ErrNotExist, "dtparam=i2c_arm=on"},
		{"not in group i2c", fs.ErrPermission, "group i2c"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := fakeHost(&i2ctest.Playback{DontPanic: true})
			h.OpenI2C = func(string) (i2c.BusCloser, error) { return nil, errors.New("sysfs-i2c: failed") }
			var probed string
			h.CheckDevice = func(p string) error { probed = p; return tt.probe }
			_, err := Open(ctx, Profile{Name: ProfileRPiPCM5122}, h, Options{})
			if !errors.Is(err, ErrI2COpen) || !strings.Contains(err.Error(), tt.want) || probed != "/dev/i2c-1" {
				t.Fatalf("err = %v (probed %q)", err, probed)
			}
		})
	}
	t.Run("no DAC answers", func(t *testing.T) {
		bus := &i2ctest.Playback{DontPanic: true}
		h, _ := fakeHost(bus)
		_, err := Open(ctx, Profile{Name: ProfileRPiPCM5122}, h, Options{})
		if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "0x4d or 0x4c") {
			t.Fatalf("err = %v", err)
		}
		if bus.Count != 0 {
			t.Fatal("unexpected traffic")
		}
	})
	t.Run("bad profile", func(t *testing.T) {
		_, err := Open(ctx, Profile{Name: "bogus"}, Host{}, Options{})
		if !errors.Is(err, ErrBadProfile) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestI2CDevicePath(t *testing.T) {
	for in, want := range map[string]string{"1": "/dev/i2c-1", "I2C1": "/dev/i2c-1", "/dev/i2c-22": "/dev/i2c-22", "i2c0": "/dev/i2c-0", "foo": ""} {
		if got := i2cDevicePath(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func TestOpenNoneAndFake(t *testing.T) {
	ctx := testCtx(t)
	b, err := Open(ctx, Profile{Name: ProfileNone}, Host{}, Options{})
	must(t, err)
	if b.Volume() != nil {
		t.Fatal("none: software volume expected")
	}
	run(t, ctx, b)
	must(t, b.SetStatus(ctx, StatusPlaying))
	must(t, b.SetPlaying(ctx, true))

	fb, err := Open(ctx, Profile{Name: ProfileFake}, Host{}, Options{})
	must(t, err)
	if fb.Volume() == nil {
		t.Fatal("fake: hardware volume expected")
	}
	must(t, fb.Close())
}
