//go:build cgo

package audio

// This is the only file in audio that uses cgo (through malgo). Its
// counterpart device_nocgo.go returns ErrNoCgo.

// extern const char* ma_get_backend_name(int backend);
import "C"

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// miniaudio's ma_backend values, from miniaudio.h in malgo v0.11.24:
// wasapi, dsound, winmm, coreaudio, sndio, audio4, oss, pulseaudio, alsa,
// jack, aaudio, opensl, webaudio, custom, null. malgo's Go list misses
// "custom", so its BackendNull (13) selects the custom backend; these are
// the real numbers.
const (
	maBackendPulseAudio malgo.Backend = 7
	maBackendALSA       malgo.Backend = 8
	maBackendCustom     malgo.Backend = 13
	maBackendNull       malgo.Backend = 14
)

func maBackend(name string) (malgo.Backend, error) {
	switch name {
	case BackendNull:
		return maBackendNull, nil
	case BackendALSA:
		return maBackendALSA, nil
	case BackendPulseAudio:
		return maBackendPulseAudio, nil
	}
	return 0, fmt.Errorf("%w: backend %q", ErrConfig, name)
}

// backendName asks miniaudio itself for the name of a backend number.
func backendName(b malgo.Backend) string {
	return C.GoString(C.ma_get_backend_name(C.int(b)))
}

// malgoOutput is a miniaudio playback device in float32.
type malgoOutput struct {
	ctx     *malgo.AllocatedContext
	dev     *malgo.Device
	format  Format
	backend string
	render  atomic.Pointer[RenderFunc]
	once    sync.Once
	err     error
}

var _ Output = (*malgoOutput)(nil)

func openMalgo(cfg DeviceConfig, backend string, log *slog.Logger) (Output, error) {
	b, err := maBackend(backend)
	if err != nil {
		return nil, err
	}
	mctx, err := malgo.InitContext([]malgo.Backend{b}, malgo.ContextConfig{}, func(msg string) {
		log.Debug("miniaudio", "backend", backend, "msg", msg)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: initialising miniaudio's %s backend: %v (for a headless machine use backend \"null\")", ErrBackend, backend, err)
	}
	o := &malgoOutput{ctx: mctx, format: cfg.Format, backend: backend}
	dc := malgo.DefaultDeviceConfig(malgo.Playback)
	dc.Playback.Format = malgo.FormatF32
	dc.Playback.Channels = uint32(cfg.Format.Channels)
	dc.SampleRate = uint32(cfg.Format.SampleRate)
	dc.PeriodSizeInFrames = uint32(cfg.PeriodFrames)
	dc.Periods = uint32(cfg.Periods)
	ch := cfg.Format.Channels
	dev, err := malgo.InitDevice(mctx.Context, dc, malgo.DeviceCallbacks{
		Data: func(out, _ []byte, _ uint32) {
			if len(out) < 4 {
				return
			}
			pcm := unsafe.Slice((*float32)(unsafe.Pointer(&out[0])), len(out)/4)
			pcm = pcm[:len(pcm)/ch*ch]
			if r := o.render.Load(); r != nil {
				(*r)(pcm)
			} else {
				clear(pcm)
			}
		},
	})
	if err != nil {
		_ = mctx.Uninit()
		mctx.Free()
		return nil, fmt.Errorf("%w: opening a %s playback device: %v (no sound card or server? for a headless machine use backend \"null\")", ErrBackend, backend, err)
	}
	o.dev = dev
	log.Info("audio device open", "backend", backendName(b), "format", cfg.Format.String(), "period_frames", cfg.PeriodFrames)
	return o, nil
}

func (o *malgoOutput) Format() Format { return o.format }

func (o *malgoOutput) Start(render RenderFunc) error {
	o.render.Store(&render)
	if err := o.dev.Start(); err != nil {
		return fmt.Errorf("%w: starting the %s device: %v", ErrBackend, o.backend, err)
	}
	return nil
}

func (o *malgoOutput) Close() error {
	o.once.Do(func() {
		o.dev.Uninit() // stops the device thread: no callback runs after this
		if err := o.ctx.Uninit(); err != nil {
			o.err = fmt.Errorf("closing the miniaudio context: %w", err)
		}
		o.ctx.Free()
	})
	return o.err
}

// deviceBackendCheck opens a context on the named backend and returns
// miniaudio's name for the backend number we passed and the names of the
// playback devices it enumerates. Tests use it to prove the numbering.
func deviceBackendCheck(backend string) (string, []string, error) {
	b, err := maBackend(backend)
	if err != nil {
		return "", nil, err
	}
	mctx, err := malgo.InitContext([]malgo.Backend{b}, malgo.ContextConfig{}, nil)
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = mctx.Uninit(); mctx.Free() }()
	infos, err := mctx.Devices(malgo.Playback)
	if err != nil {
		return "", nil, err
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name())
	}
	return backendName(b), names, nil
}

func maBackendNumber(name string) int { b, _ := maBackend(name); return int(b) }

func backendNameFor(name string) string {
	b, err := maBackend(name)
	if err != nil {
		return ""
	}
	return backendName(b)
}
