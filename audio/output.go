package audio

import (
	"fmt"
	"log/slog"
	"strings"
)

// Output is a sound device as the player needs it: a fixed PCM format and a
// real-time thread that calls a RenderFunc. The malgo device and the
// VirtualOutput implement it.
type Output interface {
	// Format is the device's format; the player converts every track to it.
	Format() Format
	// Start begins calling render from the device's thread. It is called
	// once.
	Start(render RenderFunc) error
	// Close stops the callbacks (none runs after it returns) and releases the
	// device. Idempotent.
	Close() error
}

// Backend names accepted by DeviceConfig.Backend.
const (
	BackendAuto       = "auto"       // PulseAudio, then ALSA, then null (with a warning)
	BackendNull       = "null"       // miniaudio's null device: real-time clock, no sound
	BackendALSA       = "alsa"       // the speaker's sound card
	BackendPulseAudio = "pulseaudio" // a PulseAudio or PipeWire server
)

// DeviceConfig selects and shapes the miniaudio output.
type DeviceConfig struct {
	// Backend is one of "auto", "null", "alsa", "pulseaudio". Default "auto".
	Backend string
	// Format is the device format. Default 44100 Hz stereo.
	Format Format
	// PeriodFrames is the callback size. Default 1024 (23 ms at 44.1 kHz).
	PeriodFrames int
	// Periods is the number of device periods. Default 3.
	Periods int
}

func (c DeviceConfig) withDefaults() DeviceConfig {
	if c.Backend == "" {
		c.Backend = BackendAuto
	}
	c.Backend = strings.ToLower(c.Backend)
	if c.Format == (Format{}) {
		c.Format = Format{SampleRate: 44100, Channels: 2}
	}
	if c.PeriodFrames == 0 {
		c.PeriodFrames = 1024
	}
	if c.Periods == 0 {
		c.Periods = 3
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c DeviceConfig) Validate() error {
	c = c.withDefaults()
	switch c.Backend {
	case BackendAuto, BackendNull, BackendALSA, BackendPulseAudio:
	default:
		return fmt.Errorf("%w: backend %q (use auto, null, alsa or pulseaudio)", ErrConfig, c.Backend)
	}
	if err := c.Format.validate(); err != nil {
		return fmt.Errorf("%w: device format: %w", ErrConfig, err)
	}
	if c.PeriodFrames < 64 || c.PeriodFrames > 1<<16 || c.Periods < 2 || c.Periods > 16 {
		return fmt.Errorf("%w: %d periods of %d frames", ErrConfig, c.Periods, c.PeriodFrames)
	}
	return nil
}

// OpenDevice opens a miniaudio playback device. With Backend "auto" it tries
// PulseAudio, then ALSA, and falls back to the null device with a warning;
// with a named backend it fails if that backend cannot open a device (on a
// board without a sound card ALSA initialises and then fails to open the
// device: use "null" for headless machines). It returns an error wrapping
// ErrNoCgo in a CGO_ENABLED=0 build.
func OpenDevice(cfg DeviceConfig, log *slog.Logger) (Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	log = log.With("component", "audio-device")
	if cfg.Backend != BackendAuto {
		return openMalgo(cfg, cfg.Backend, log)
	}
	var errs []string
	for _, b := range []string{BackendPulseAudio, BackendALSA} {
		out, err := openMalgo(cfg, b, log)
		if err == nil {
			return out, nil
		}
		errs = append(errs, err.Error())
	}
	out, err := openMalgo(cfg, BackendNull, log)
	if err != nil {
		return nil, err
	}
	log.Warn("no sound device opened, playing into the null device (silence)", "tried", strings.Join(errs, "; "))
	return out, nil
}
