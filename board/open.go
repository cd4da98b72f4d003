package board

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
)

// Host is what Open needs from the host's periph registries. firmware fills
// it from gpioreg.ByName, i2creg.Open and host.Init's driverreg.State; tests
// fill it with fakes. Open never calls host.Init itself.
type Host struct {
	PinByName func(name string) gpio.PinIO
	OpenI2C   func(name string) (i2c.BusCloser, error)
	// Loaded and Failed name the periph drivers that loaded and failed
	// ("name: error"), for error messages.
	Loaded []string
	Failed []string
	// CheckDevice probes a device node for a diagnosis (default: open it
	// read-write and close it).
	CheckDevice func(path string) error
}

// Open builds the board a profile describes: the fake board for "fake", an
// empty board for "none", otherwise pins and bus opened by name through h
// and the DAC initialised. The returned Board's Close releases the bus
// (Options.Release, chained after any the caller set). Errors say what to
// fix.
func Open(ctx context.Context, p Profile, h Host, o Options) (*Board, error) {
	rp, err := p.Resolve()
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	po := rp.Options()
	po.Logger, po.Clock, po.Release, po.PollInterval, po.EventBuffer = o.Logger, o.Clock, o.Release, o.PollInterval, o.EventBuffer
	switch rp.Name {
	case ProfileNone:
		return New(Parts{}, po)
	case ProfileFake:
		f, err := NewFake(rp, po)
		if err != nil {
			return nil, err
		}
		return f.Board, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.PinByName == nil || h.OpenI2C == nil {
		return nil, errors.New("board: Open needs Host.PinByName and Host.OpenI2C for a hardware profile")
	}
	var parts Parts
	pin := func(role, name string) (gpio.PinIO, error) {
		if name == "" {
			return nil, nil
		}
		pp := h.PinByName(name)
		if pp == nil {
			return nil, pinError(role, name, h)
		}
		return pp, nil
	}
	names := []struct {
		role, name string
		in         *gpio.PinIn
		out        *gpio.PinOut
	}{
		{"play_pin", rp.PlayPin, &parts.Buttons[PlayPause], nil},
		{"next_pin", rp.NextPin, &parts.Buttons[Next], nil},
		{"previous_pin", rp.PreviousPin, &parts.Buttons[Previous], nil},
		{"encoder_a_pin", rp.EncoderAPin, &parts.EncoderA, nil},
		{"encoder_b_pin", rp.EncoderBPin, &parts.EncoderB, nil},
		{"led_pin", rp.LEDPin, nil, &parts.LED},
		{"amp_pin", rp.AmpPin, nil, &parts.Amp},
	}
	for _, n := range names {
		pp, err := pin(n.role, n.name)
		if err != nil {
			return nil, err
		}
		if pp == nil {
			continue
		}
		if n.in != nil {
			*n.in = pp
		} else {
			*n.out = pp
		}
	}
	var bus i2c.BusCloser
	if rp.HasDAC() {
		bus, err = h.OpenI2C(rp.I2CBus)
		if err != nil {
			return nil, i2cError(rp.I2CBus, err, h)
		}
		parts.DAC = NewPCM5122(bus, rp.DACAddr)
		if err := parts.DAC.Init(initialVolReg(po)); err != nil {
			cerr := bus.Close()
			return nil, errors.Join(fmt.Errorf("opening board %q: %w", rp.Name, err), cerr)
		}
		o.Logger.Info("DAC ready", "dac", parts.DAC.String())
		release := po.Release
		po.Release = func() error {
			err := bus.Close()
			if release != nil {
				err = errors.Join(err, release())
			}
			return err
		}
	}
	b, err := New(parts, po)
	if err != nil {
		if bus != nil {
			err = errors.Join(err, bus.Close())
		}
		return nil, fmt.Errorf("opening board %q: %w", rp.Name, err)
	}
	return b, nil
}

func pinError(role, name string, h Host) error {
	var hint string
	switch {
	case len(h.Loaded) == 0:
		hint = "no periph driver loaded on this host"
		if len(h.Failed) > 0 {
			hint += " (failed: " + strings.Join(h.Failed, "; ") + ")"
		}
		hint += "; on a Raspberry Pi, is the user in group gpio (access to /dev/gpiochip0 and /dev/gpiomem)? Off a Pi, use board.profile = \"fake\" or \"none\""
	case len(h.Failed) > 0:
		hint = "some periph drivers failed (" + strings.Join(h.Failed, "; ") + "): is the user in group gpio? Otherwise check the name"
	default:
		hint = "check the name: periph names pins like \"GPIO17\" (BCM numbering)"
	}
	return fmt.Errorf("%w: %s = %q: %s", ErrUnknownPin, role, name, hint)
}

// i2cDevicePath guesses the /dev node of a periph bus name ("1", "I2C1",
// "/dev/i2c-1").
func i2cDevicePath(name string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.ToUpper(name), "/DEV/I2C-"), "I2C")
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return fmt.Sprintf("/dev/i2c-%d", n)
	}
	return ""
}

func i2cError(name string, openErr error, h Host) error {
	check := h.CheckDevice
	if check == nil {
		check = func(path string) error {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			return f.Close()
		}
	}
	hint := "check i2c_bus in the board profile"
	if path := i2cDevicePath(name); path != "" {
		switch err := check(path); {
		case errors.Is(err, fs.ErrNotExist):
			hint = "there is no " + path + ": enable I2C (dtparam=i2c_arm=on in /boot/firmware/config.txt, reboot) and load the i2c-dev module"
		case errors.Is(err, fs.ErrPermission):
			hint = "permission denied on " + path + ": add the user to group i2c (usermod -aG i2c USER, or SupplementaryGroups=i2c in the unit)"
		case err == nil:
			hint = path + " opens, but periph did not register it: did host.Init run and load the sysfs-i2c driver?"
		default:
			hint = "probing " + path + ": " + err.Error()
		}
	}
	return fmt.Errorf("%w %q: %w (%s)", ErrI2COpen, name, openErr, hint)
}
