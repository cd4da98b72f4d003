package audio

import (
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-audio/starling/tools/fixtures"
)

var stereo44 = Format{SampleRate: 44100, Channels: 2}

func refFrames(t *testing.T, name string) int64 {
	t.Helper()
	refs, err := fixtures.References()
	if err != nil {
		t.Fatal(err)
	}
	return refs[name].Frames
}

func TestPlayerConsumesExactlyTheFixtureFrames(t *testing.T) {
	r := newRig(t, stereo44, false)
	if err := r.p.Play(r.ctx, Track{ID: "chord", Source: newMem(t, fixtures.Chord44kStereo)}); err != nil {
		t.Fatal(err)
	}
	s := r.untilStopped(20 * time.Second)
	if want := uint64(refFrames(t, fixtures.Chord44kStereo)); s.FramesPlayed != want {
		t.Fatalf("device consumed %d frames, the fixture has %d", s.FramesPlayed, want)
	}
	if s.Underruns != 0 {
		t.Fatalf("%d underruns with a source that has all its bytes", s.Underruns)
	}
	if r.count(EventStarted, "chord") != 1 || r.count(EventEnded, "chord") != 1 || s.Starts != 1 {
		t.Fatalf("events %v, starts %d", r.got, s.Starts)
	}
	if r.count(EventPosition, "chord") < 10 {
		t.Fatalf("only %d position events over 12 s", r.count(EventPosition, "chord"))
	}
}

func TestPlayerGapless(t *testing.T) {
	chord, _ := fixtures.Read(fixtures.Chord44kStereo)
	pluck, _ := fixtures.Read(fixtures.Pluck44kStereo)
	a, _ := decodeAll(t, chord)
	b, _ := decodeAll(t, pluck)
	want := append(append([]float32{}, a...), b...)

	r := newRig(t, stereo44, true)
	if err := r.p.Play(r.ctx,
		Track{ID: "chord", Source: newMem(t, fixtures.Chord44kStereo)},
		Track{ID: "pluck", Source: newMem(t, fixtures.Pluck44kStereo)}); err != nil {
		t.Fatal(err)
	}
	s := r.untilStopped(30 * time.Second)
	if total := uint64(len(want) / 2); s.FramesPlayed != total || s.Underruns != 0 {
		t.Fatalf("played %d frames with %d underruns; want %d and none", s.FramesPlayed, s.Underruns, total)
	}
	// The rendered stream is the two decodes back to back, sample for
	// sample (after the 5 ms fade-in at the very start): no silence, no
	// overlap at the join.
	got := r.pcm
	if len(got) < len(want) {
		t.Fatalf("rendered %d samples, want at least %d", len(got), len(want))
	}
	for i := 2 * 441; i < len(want); i++ {
		if got[i] != want[i] {
			t.Fatalf("sample %d (frame %d, join at frame %d): got %v want %v", i, i/2, len(a)/2, got[i], want[i])
		}
	}
	for _, v := range got[len(want):] {
		if v != 0 {
			t.Fatal("non-silence after the queue ended")
		}
	}
	if r.count(EventEnded, "chord") != 1 || r.count(EventStarted, "pluck") != 1 || r.count(EventEnded, "pluck") != 1 {
		t.Fatalf("events %v", r.got)
	}
}

func TestPlayerStalledSourceIsAnUnderrun(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	src := newStall(data, len(data)/3)
	r := newRig(t, stereo44, false)
	if err := r.p.Play(r.ctx, Track{ID: "chord", Source: src}); err != nil {
		t.Fatal(err)
	}
	// Render without waiting for the player: once it has played the first
	// third it cannot refill, and the ring must run dry. (Before its first
	// frame the device plays silence that is latency, not a stutter, so
	// the loop is bounded by the rig's context, not by a period count that
	// a loaded machine may not reach the stall within.)
	for r.ctx.Err() == nil {
		r.v.Render()
		if s := r.stats(); s.Underruns > 0 {
			break
		}
		runtime.Gosched()
	}
	s := r.stats()
	if s.Underruns == 0 || s.UnderrunTime <= 0 {
		t.Fatalf("stall not detected: %+v", s)
	}
	if r.count(EventUnderrun, "") == 0 {
		t.Fatal("no underrun event")
	}
	src.release()
	s = r.untilStopped(20 * time.Second)
	if want := uint64(refFrames(t, fixtures.Chord44kStereo)); s.FramesPlayed != want {
		t.Fatalf("after the stall the device consumed %d frames, want %d", s.FramesPlayed, want)
	}
}

func TestPlayerPauseResume(t *testing.T) {
	r := newRig(t, stereo44, false)
	if err := r.p.Play(r.ctx, Track{ID: "pluck", Source: newMem(t, fixtures.Pluck44kStereo)}); err != nil {
		t.Fatal(err)
	}
	r.playFor(time.Second)
	if err := r.p.Pause(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.step() // the fade-out
	before := r.stats()
	r.playFor(time.Second)
	after := r.stats()
	if after.FramesPlayed != before.FramesPlayed || after.State != StatePaused || after.Underruns != 0 {
		t.Fatalf("paused player moved: before %+v after %+v", before, after)
	}
	if err := r.p.Resume(r.ctx); err != nil {
		t.Fatal(err)
	}
	s := r.untilStopped(20 * time.Second)
	if want := uint64(refFrames(t, fixtures.Pluck44kStereo)); s.FramesPlayed != want {
		t.Fatalf("played %d frames across a pause, want %d", s.FramesPlayed, want)
	}
}

func TestPlayerSeek(t *testing.T) {
	for _, mode := range []DecodeMode{DecodeFull, DecodeBitrate} {
		t.Run(mode.String(), func(t *testing.T) {
			r := newRigMode(t, stereo44, false, mode)
			if err := r.p.Play(r.ctx, Track{ID: "chord", Source: newMem(t, fixtures.Chord44kStereo)}); err != nil {
				t.Fatal(err)
			}
			r.playFor(time.Second)
			if err := r.p.Seek(r.ctx, 9*time.Second); err != nil {
				t.Fatal(err)
			}
			before := r.stats().FramesPlayed
			r.step()
			r.step()
			s := r.stats()
			if s.Position < 9*time.Second || s.Position > 9*time.Second+100*time.Millisecond {
				t.Fatalf("position %v after seeking to 9s", s.Position)
			}
			s = r.untilStopped(10 * time.Second)
			total := uint64(refFrames(t, fixtures.Chord44kStereo))
			afterSeek := s.FramesPlayed - before
			// After the seek: the rest of the track from 9 s, plus at most the
			// 5 ms fade of the flushed audio.
			want := total - 9*44100
			if afterSeek < want || afterSeek > want+221+1024 {
				t.Fatalf("played %d frames after seeking to 9 s, want %d (+fade)", afterSeek, want)
			}
			if s.Starts != 2 || r.count(EventEnded, "chord") != 1 {
				t.Fatalf("latency measured %d times, want 2 (play and seek); events %v", s.Starts, r.got)
			}
		})
	}
}

func TestPlayerNextAndPrevious(t *testing.T) {
	r := newRig(t, stereo44, false)
	if err := r.p.Play(r.ctx,
		Track{ID: "chord", Source: newMem(t, fixtures.Chord44kStereo)},
		Track{ID: "pluck", Source: newMem(t, fixtures.Pluck44kStereo)}); err != nil {
		t.Fatal(err)
	}
	r.playFor(time.Second)
	if err := r.p.Next(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.playFor(time.Second)
	if s := r.stats(); s.TrackID != "pluck" || s.Position < 900*time.Millisecond || s.Position > 1100*time.Millisecond {
		t.Fatalf("after next: %+v", s)
	}
	// Previous within 3 s goes back to chord, from its start.
	if err := r.p.Previous(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.playFor(500 * time.Millisecond)
	if s := r.stats(); s.TrackID != "chord" || s.Position > 600*time.Millisecond {
		t.Fatalf("after previous: %+v", s)
	}
	before := r.stats().FramesPlayed
	s := r.untilStopped(40 * time.Second)
	// chord from ~0.5 s to its end, then pluck in full (it was rewound).
	rest := s.FramesPlayed - before
	want := uint64(refFrames(t, fixtures.Chord44kStereo)+refFrames(t, fixtures.Pluck44kStereo)) - 500*44100/1000
	if d := int64(rest) - int64(want); d < -2048 || d > 2048 {
		t.Fatalf("played %d frames after previous, want about %d", rest, want)
	}
	if s.Underruns != 0 {
		t.Fatalf("%d underruns", s.Underruns)
	}
}

func TestPlayerVolumeSoftwareAndHardware(t *testing.T) {
	r := newRig(t, stereo44, true)
	if err := r.p.SetVolume(r.ctx, 50); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Play(r.ctx, Track{ID: "chord", Source: newMem(t, fixtures.Chord44kStereo)}); err != nil {
		t.Fatal(err)
	}
	r.playFor(500 * time.Millisecond)
	chord, _ := fixtures.Read(fixtures.Chord44kStereo)
	ref, _ := decodeAll(t, chord)
	for i := 2 * 4410; i < 2*20000; i++ { // past the fade-in
		if d := math.Abs(float64(r.pcm[i] - ref[i]*0.25)); d > 1e-6 {
			t.Fatalf("sample %d: %v, want %v x 0.25", i, r.pcm[i], ref[i])
		}
	}
	if err := r.p.SetVolume(r.ctx, 101); !errors.Is(err, ErrConfig) {
		t.Fatalf("volume 101: %v", err)
	}

	hw := &fakeHW{}
	v, _ := NewVirtualOutput(VirtualConfig{})
	p, err := NewPlayer(PlayerConfig{HardwareVolume: hw}, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(r.ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetVolume(r.ctx, 30); err != nil || hw.pct != 30 {
		t.Fatalf("hardware volume: %v, %d", err, hw.pct)
	}
	if g := math.Float32frombits(p.eng.gainBits.Load()); g != 1 {
		t.Fatalf("software gain %v with a hardware volume", g)
	}
}

type fakeHW struct{ pct int }

func (f *fakeHW) SetVolume(pct int) error { f.pct = pct; return nil }

var _ HardwareVolume = (*fakeHW)(nil)

func TestPlayerCorruptTrackGoesOnWithTheNext(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	bad := append([]byte{}, data...)
	for i := len(bad) / 2; i < len(bad)/2+64; i++ {
		bad[i] ^= 0x5a
	}
	truncated := data[:len(data)/4]
	r := newRig(t, stereo44, true)
	if err := r.p.Play(r.ctx,
		Track{ID: "bad", Source: &memSource{Reader: bytesReader(bad)}},
		Track{ID: "cut", Source: &memSource{Reader: bytesReader(truncated)}},
		Track{ID: "junk", Source: &memSource{Reader: bytesReader([]byte("OggS not really"))}},
		Track{ID: "pluck", Source: newMem(t, fixtures.Pluck44kStereo)}); err != nil {
		t.Fatal(err)
	}
	s := r.untilStopped(40 * time.Second)
	for _, id := range []string{"bad", "cut", "junk"} {
		if r.count(EventError, id) != 1 {
			t.Fatalf("%s: %d error events; events %v", id, r.count(EventError, id), r.got)
		}
	}
	var badErr error
	for _, e := range r.got {
		if e.Kind == EventError && e.TrackID == "bad" {
			badErr = e.Err
		}
	}
	if !errors.Is(badErr, ErrCorrupt) {
		t.Fatalf("bad track error %v, want ErrCorrupt", badErr)
	}
	if r.count(EventEnded, "pluck") != 1 || s.TracksPlayed != 1 || s.TracksFailed != 3 {
		t.Fatalf("stats %+v events %v", s, r.got)
	}
	for i, v := range r.pcm {
		if v > 1 || v < -1 || v != v {
			t.Fatalf("sample %d out of range: %v", i, v)
		}
	}
}

func TestPlayerConvertsFormat(t *testing.T) {
	r := newRig(t, stereo44, false)
	if err := r.p.Play(r.ctx, Track{ID: "tones", Source: newMem(t, fixtures.Tones48kMono)}); err != nil {
		t.Fatal(err)
	}
	s := r.untilStopped(20 * time.Second)
	want := refFrames(t, fixtures.Tones48kMono) * 44100 / 48000
	if d := int64(s.FramesPlayed) - want; d < -2 || d > 2 || s.Underruns != 0 {
		t.Fatalf("48 kHz mono on a 44.1 kHz stereo device: %d frames, want %d; %d underruns", s.FramesPlayed, want, s.Underruns)
	}
}

func TestPlayerCloseIsIdempotentAndClosesSources(t *testing.T) {
	v, _ := NewVirtualOutput(VirtualConfig{})
	p, err := NewPlayer(PlayerConfig{}, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	st := newStall(data, 5000)
	if err := p.Play(ctx, Track{ID: "x", Source: st}); err != nil {
		t.Fatal(err)
	}
	<-st.blocked
	p.Close()
	p.Close()
	if !st.closed {
		t.Fatal("source not closed")
	}
	if err := p.Pause(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("command after close: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	if err := (PlayerConfig{Buffer: time.Millisecond}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if err := (DeviceConfig{Backend: "oss"}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if err := (DeviceConfig{Format: Format{SampleRate: 44100, Channels: 6}}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if err := (DeviceConfig{}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// readSpy is a Source that records whether it was ever read.
type readSpy struct {
	*memSource
	read atomic.Bool
}

func (s *readSpy) Read(p []byte) (int, error) {
	s.read.Store(true)
	return s.memSource.Read(p)
}

// TestPlayerPrimesNextTrackAtTheEnd: the queued track's source is opened
// (read) only once the playing track's source is read to its end, not as
// soon as it starts: a stream opened early looks due now to the streamer,
// which then fetches it at once instead of prefetching it near the end.
func TestPlayerPrimesNextTrackAtTheEnd(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	cur := newStall(data, len(data)/2)
	next := &readSpy{memSource: newMem(t, fixtures.Pluck44kStereo)}
	r := newRig(t, stereo44, false)
	if err := r.p.Play(r.ctx, Track{ID: "chord", Source: cur}, Track{ID: "pluck", Source: next}); err != nil {
		t.Fatal(err)
	}
	// Play until the fetcher has read the first half and waits for the
	// rest (it reads ahead of the ring, so nothing has run dry yet).
	for blocked := false; !blocked; {
		select {
		case <-cur.blocked:
			blocked = true
		case <-r.ctx.Done():
			t.Fatal("the current track was never read to its first half")
		default:
			r.step()
		}
	}
	before := r.stats().Underruns
	if next.read.Load() {
		t.Fatal("the next track's source was read while the current one was half read")
	}
	cur.release()
	s := r.untilStopped(30 * time.Second)
	if !next.read.Load() || r.count(EventStarted, "pluck") != 1 {
		t.Fatalf("the next track did not play after the current one was read (events %v)", r.got)
	}
	if s.Underruns != before {
		t.Errorf("%d underruns after the release: the next track was primed too late for a gapless change", s.Underruns-before)
	}
}
