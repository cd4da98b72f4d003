package firmware

import (
	"context"
	"fmt"
	"log/slog"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"

	"github.com/starling-audio/starling/board"
)

// OpenBoard opens the board a profile names. For a hardware profile it runs
// periph's host.Init (idempotent), logs which drivers loaded, were skipped
// or failed, and opens the pins and the I2C bus by name; the returned
// Board's Close closes the bus. "none" and "fake" need no host drivers.
// Errors say how to fix the setup (unknown pin, group gpio/i2c, no
// /dev/i2c-N).
func OpenBoard(ctx context.Context, p board.Profile, log *slog.Logger) (*board.Board, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "board")
	rp, err := p.Resolve()
	if err != nil {
		return nil, fmt.Errorf("opening board: %w (fix the [board] table of the config)", err)
	}
	opts := board.Options{Logger: log}
	if rp.Name == board.ProfileNone || rp.Name == board.ProfileFake {
		log.Info("board without hardware", "profile", rp.Name)
		return board.Open(ctx, rp, board.Host{}, opts)
	}
	st, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("opening board %q: initialising periph host drivers: %w", rp.Name, err)
	}
	h := hostFromState(st)
	skipped := make([]string, 0, len(st.Skipped))
	for _, s := range st.Skipped {
		skipped = append(skipped, s.D.String())
	}
	log.Info("periph host drivers", "profile", rp.Name, "loaded", h.Loaded, "skipped", skipped, "failed", h.Failed)
	for _, s := range st.Skipped {
		log.Debug("periph driver skipped", "driver", s.D.String(), "reason", s.Err)
	}
	for _, f := range st.Failed {
		log.Warn("periph driver failed", "driver", f.D.String(), "err", f.Err)
	}
	b, err := board.Open(ctx, rp, h, opts)
	if err != nil {
		return nil, fmt.Errorf("opening board %q: %w", rp.Name, err)
	}
	log.Info("board ready", "profile", rp.Name, "hardware_volume", b.Volume() != nil)
	return b, nil
}

func hostFromState(st *driverreg.State) board.Host {
	h := board.Host{
		PinByName: func(name string) gpio.PinIO { return gpioreg.ByName(name) },
		OpenI2C:   func(name string) (i2c.BusCloser, error) { return i2creg.Open(name) },
	}
	for _, d := range st.Loaded {
		h.Loaded = append(h.Loaded, d.String())
	}
	for _, f := range st.Failed {
		h.Failed = append(h.Failed, f.String())
	}
	return h
}
