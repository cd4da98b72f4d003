package audio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/starling-audio/starling/tools/fixtures"
)

// TestBackendNumbering checks our miniaudio backend numbers against
// miniaudio itself: its own name for the number, and the device the null
// backend enumerates ("NULL Playback Device"; the custom backend that
// malgo.BackendNull selects has none).
func TestBackendNumbering(t *testing.T) {
	name, devices, err := deviceBackendCheck(BackendNull)
	if errors.Is(err, ErrNoCgo) {
		t.Skip("built without cgo")
	}
	if err != nil {
		t.Fatal(err)
	}
	if name != "Null" {
		t.Fatalf("miniaudio calls backend %d %q, want Null", maBackendNumber(BackendNull), name)
	}
	if len(devices) != 1 || !strings.Contains(devices[0], "NULL") {
		t.Fatalf("null backend devices %q", devices)
	}
	for b, want := range map[string]string{BackendALSA: "ALSA", BackendPulseAudio: "PulseAudio"} {
		if got := backendNameFor(b); got != want {
			t.Fatalf("backend %s is %q to miniaudio", b, got)
		}
	}
}

func TestSelfCheck(t *testing.T) {
	err := SelfCheck(t.Context(), nil)
	if errors.Is(err, ErrNoCgo) {
		t.Skip("built without cgo")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestMalgoNullPlaysTheTail plays the last 300 ms of a fixture through the
// real miniaudio null device (real time) and checks every frame reached the
// device callback.
func TestMalgoNullPlaysTheTail(t *testing.T) {
	out, err := OpenDevice(DeviceConfig{Backend: BackendNull, Format: Format{SampleRate: 48000, Channels: 1}, PeriodFrames: 480}, nil)
	if errors.Is(err, ErrNoCgo) {
		t.Skip("built without cgo")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p, err := NewPlayer(PlayerConfig{Buffer: 200 * time.Millisecond}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ev, _ := p.Subscribe(1024)
	total := refFrames(t, fixtures.Tones48kMono)
	if err := p.Enqueue(ctx, Track{ID: "tones", Source: newMem(t, fixtures.Tones48kMono)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Seek(ctx, time.Duration(total-14400)*time.Second/48000); err != nil {
		t.Fatal(err)
	}
	for e := range ev {
		if e.Kind == EventEnded {
			if e.Err != nil {
				t.Fatal(e.Err)
			}
			break
		}
	}
	s, err := p.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The seek can flush a few frames of the start (with their fade).
	if s.FramesPlayed < 14400 || s.FramesPlayed > 14400+2*480 {
		t.Fatalf("null device consumed %d frames of the 14400-frame tail", s.FramesPlayed)
	}
	t.Logf("malgo null: %d frames, %d callbacks, latency %v, underruns %d", s.FramesPlayed, s.Callbacks, s.LastLatency, s.Underruns)
}

func TestOpenDeviceErrorsSayWhatToDo(t *testing.T) {
	_, err := OpenDevice(DeviceConfig{Backend: "bogus"}, nil)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("bogus backend: %v", err)
	}
}
