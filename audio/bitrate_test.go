package audio

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/starling-audio/starling/tools/fixtures"
)

func TestParseDecodeMode(t *testing.T) {
	for _, m := range []DecodeMode{DecodeFull, DecodeBitrate} {
		got, err := ParseDecodeMode(m.String())
		if err != nil || got != m {
			t.Fatalf("%v: parsed %v, %v", m, got, err)
		}
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back DecodeMode
		if err := back.UnmarshalText(b); err != nil || back != m {
			t.Fatalf("%q: %v, %v", b, back, err)
		}
	}
	for _, s := range []string{"", "Full", "bitrates", "none"} {
		if _, err := ParseDecodeMode(s); !errors.Is(err, ErrConfig) {
			t.Fatalf("%q: %v, want ErrConfig", s, err)
		}
	}
	if err := (PlayerConfig{Decode: DecodeMode(7)}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("decode mode 7: %v", err)
	}
	if _, err := DecodeMode(7).MarshalText(); !errors.Is(err, ErrConfig) {
		t.Fatalf("marshalling mode 7: %v", err)
	}
}

// TestSilentSynthMatchesDecoderPacketByPacket: for every audio packet of
// every fixture, the bitrate synthesizer returns as many frames as the
// Vorbis decoder does, including after a clear (a seek) in the middle.
func TestSilentSynthMatchesDecoderPacketByPacket(t *testing.T) {
	for _, name := range fixtures.All {
		t.Run(name, func(t *testing.T) {
			data, err := fixtures.Read(name)
			if err != nil {
				t.Fatal(err)
			}
			full := pcmStage{mode: DecodeFull}
			silent := pcmStage{mode: DecodeBitrate}
			dmx := newDemuxer(bytes.NewReader(data))
			buf := make([]float32, 1<<14)
			packets, frames := 0, 0
			for {
				p, err := dmx.nextPacket()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if full.headers < 3 {
					if err := full.feed(p); err != nil {
						t.Fatal(err)
					}
					if err := silent.feed(p); err != nil {
						t.Fatal(err)
					}
					if full.headers == 3 {
						buf = make([]float32, full.syn.bufferSize())
					}
					continue
				}
				if len(p.data) == 0 {
					continue
				}
				packets++
				if packets == 200 {
					full.syn.clear()
					silent.syn.clear()
				}
				a, err := full.syn.decode(p.data, buf)
				if err != nil {
					t.Fatal(err)
				}
				b, err := silent.syn.decode(p.data, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(a) != len(b) {
					t.Fatalf("packet %d: decoder %d samples, bitrate %d", packets, len(a), len(b))
				}
				for _, v := range b {
					if v != 0 {
						t.Fatal("bitrate synthesizer returned a non-zero sample")
					}
				}
				frames += len(b) / full.format.Channels
			}
			if packets < 300 {
				t.Fatalf("only %d audio packets", packets)
			}
			t.Logf("%d packets, %d frames, same lengths", packets, frames)
		})
	}
}

// decodeAllMode decodes a whole stream with newDecoder in mode m.
func decodeAllMode(t testing.TB, data []byte, m DecodeMode, seek int64) (frames int64, first int64, nonZero bool) {
	t.Helper()
	d, err := newDecoder(bytes.NewReader(data), m)
	if err != nil {
		t.Fatal(err)
	}
	if seek >= 0 {
		if err := d.SeekFrame(seek); err != nil {
			t.Fatal(err)
		}
	}
	first = d.Position()
	buf := make([]float32, 4096)
	for {
		n, err := d.Decode(buf)
		frames += int64(n)
		for _, v := range buf[:n*d.Format().Channels] {
			nonZero = nonZero || v != 0
		}
		if errors.Is(err, io.EOF) {
			return frames, first, nonZero
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecoderBitrateLengthAndSeek: the bitrate path yields exactly
// reference.tsv's frame count, all silent, and after a seek starts at the
// same frame and yields the same remainder as full decoding.
func TestDecoderBitrateLengthAndSeek(t *testing.T) {
	refs, err := fixtures.References()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range fixtures.All {
		t.Run(name, func(t *testing.T) {
			data, _ := fixtures.Read(name)
			n, _, nz := decodeAllMode(t, data, DecodeBitrate, -1)
			if n != refs[name].Frames || nz {
				t.Fatalf("bitrate: %d frames (non-zero %v), reference %d", n, nz, refs[name].Frames)
			}
			for _, target := range []int64{0, 4095, 100_000, refs[name].Frames - 10, refs[name].Frames + 5000} {
				fn, fp, _ := decodeAllMode(t, data, DecodeFull, target)
				bn, bp, nz := decodeAllMode(t, data, DecodeBitrate, target)
				if fn != bn || fp != bp || nz {
					t.Fatalf("seek to %d: full starts at %d with %d frames, bitrate at %d with %d (non-zero %v)", target, fp, fn, bp, bn, nz)
				}
				if want := max(refs[name].Frames-target, 0); bn != want {
					t.Fatalf("seek to %d: %d frames left, want %d", target, bn, want)
				}
			}
		})
	}
}

// TestPlayerBitrateSameFramesAsFull plays each fixture in both modes on a
// VirtualOutput: the same number of device frames (the reference count for
// the 44.1 kHz ones), events in both, and silence in bitrate mode.
func TestPlayerBitrateSameFramesAsFull(t *testing.T) {
	for _, name := range fixtures.All {
		t.Run(name, func(t *testing.T) {
			played := map[DecodeMode]uint64{}
			for _, m := range []DecodeMode{DecodeFull, DecodeBitrate} {
				r := newRigMode(t, stereo44, m == DecodeBitrate, m)
				if err := r.p.Play(r.ctx, Track{ID: "t", Source: newMem(t, name)}); err != nil {
					t.Fatal(err)
				}
				s := r.untilStopped(20 * time.Second)
				if s.Underruns != 0 || s.TracksPlayed != 1 || r.count(EventStarted, "t") != 1 || r.count(EventEnded, "t") != 1 {
					t.Fatalf("%v: stats %+v events %v", m, s, r.got)
				}
				if r.count(EventPosition, "t") < 8 {
					t.Fatalf("%v: %d position events", m, r.count(EventPosition, "t"))
				}
				for i, v := range r.pcm {
					if v != 0 {
						t.Fatalf("%v: sample %d is %v, want silence", m, i, v)
					}
				}
				played[m] = s.FramesPlayed
			}
			if played[DecodeFull] != played[DecodeBitrate] {
				t.Fatalf("full played %d frames, bitrate %d", played[DecodeFull], played[DecodeBitrate])
			}
			ref := refFrames(t, name)
			if name != fixtures.Tones48kMono && played[DecodeBitrate] != uint64(ref) {
				t.Fatalf("played %d frames, the fixture has %d", played[DecodeBitrate], ref)
			}
		})
	}
}

func TestPlayerBitrateGapless(t *testing.T) {
	r := newRigMode(t, stereo44, true, DecodeBitrate)
	if err := r.p.Play(r.ctx,
		Track{ID: "chord", Source: newMem(t, fixtures.Chord44kStereo)},
		Track{ID: "pluck", Source: newMem(t, fixtures.Pluck44kStereo)}); err != nil {
		t.Fatal(err)
	}
	s := r.untilStopped(30 * time.Second)
	want := uint64(refFrames(t, fixtures.Chord44kStereo) + refFrames(t, fixtures.Pluck44kStereo))
	if s.FramesPlayed != want || s.Underruns != 0 || s.TracksPlayed != 2 {
		t.Fatalf("played %d frames with %d underruns, %d tracks; want %d, none, 2", s.FramesPlayed, s.Underruns, s.TracksPlayed, want)
	}
	if r.count(EventEnded, "chord") != 1 || r.count(EventStarted, "pluck") != 1 || r.count(EventEnded, "pluck") != 1 {
		t.Fatalf("events %v", r.got)
	}
	// pluck started when the device reached the chord's last frame: its
	// Started event follows chord's Ended with no position event of a gap.
	var endAt, startAt int = -1, -1
	for i, e := range r.got {
		if e.Kind == EventEnded && e.TrackID == "chord" {
			endAt = i
		}
		if e.Kind == EventStarted && e.TrackID == "pluck" {
			startAt = i
		}
	}
	if endAt < 0 || startAt < 0 || startAt < endAt {
		t.Fatalf("chord ended at event %d, pluck started at %d: %v", endAt, startAt, r.got)
	}
}

func TestPlayerBitrateStalledSourceIsAnUnderrun(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	src := newStall(data, len(data)/3)
	r := newRigMode(t, stereo44, false, DecodeBitrate)
	if err := r.p.Play(r.ctx, Track{ID: "chord", Source: src}); err != nil {
		t.Fatal(err)
	}
	for r.ctx.Err() == nil {
		r.v.Render()
		if s := r.stats(); s.Underruns > 0 {
			break
		}
		runtime.Gosched()
	}
	if s := r.stats(); s.Underruns == 0 || s.UnderrunTime <= 0 || r.count(EventUnderrun, "") == 0 {
		t.Fatalf("stall not detected: %+v", s)
	}
	src.release()
	s := r.untilStopped(20 * time.Second)
	if want := uint64(refFrames(t, fixtures.Chord44kStereo)); s.FramesPlayed != want {
		t.Fatalf("after the stall the device consumed %d frames, want %d", s.FramesPlayed, want)
	}
}

// TestPlayerBitratePullsBytesAsPlayed: bitrate mode does not slurp the
// source; the fetcher stays about a packet queue plus the ring ahead of the
// device, as with full decoding, and reads everything by the end.
func TestPlayerBitratePullsBytesAsPlayed(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Chord44kStereo)
	r := newRigMode(t, stereo44, false, DecodeBitrate)
	if err := r.p.Play(r.ctx, Track{ID: "chord", Source: &memSource{Reader: bytes.NewReader(data)}}); err != nil {
		t.Fatal(err)
	}
	r.playFor(time.Second)
	var read int64
	if err := r.p.do(r.ctx, func() error {
		read = r.p.q[0].f.bytes.Load()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// 12 s track; 1 s played, 0.5 s ring, 96 packets (about 2.2 s) queued.
	if read <= 0 || read > int64(len(data))/2 {
		t.Fatalf("after 1 s of a 12 s track the fetcher read %d of %d bytes", read, len(data))
	}
	t.Logf("after 1 s of 12 s: %d of %d bytes read", read, len(data))
	r.untilStopped(20 * time.Second)
}

// FuzzBitrateDecoder feeds arbitrary bytes through the demuxer, the header
// checks, the setup walk and the bitrate synthesizer, with and without a
// seek: errors only, never a panic, only silence, and bounded memory (the
// hold buffer within maxHoldSamples, at most one long block per packet).
func FuzzBitrateDecoder(f *testing.F) {
	for _, name := range fixtures.All {
		b, _ := fixtures.Read(name)
		f.Add(b[:min(len(b), 6000)], uint16(0))
	}
	f.Add([]byte("OggS"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, seek uint16) {
		hang := time.AfterFunc(10*time.Second, func() { panic("bitrate decoder hung for 10 s on this input") })
		defer hang.Stop()
		d, err := newDecoder(bytes.NewReader(data), DecodeBitrate)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if seek > 0 {
			_ = d.SeekFrame(int64(seek) * 16)
		}
		buf := make([]float32, 4096)
		var total int64
		for range 1 << 14 {
			n, err := d.Decode(buf)
			for _, v := range buf[:n*d.Format().Channels] {
				if v != 0 {
					t.Fatalf("sample %v in bitrate mode", v)
				}
			}
			if cap(d.pcm.hold) > 2*maxHoldSamples {
				t.Fatalf("hold grew to %d samples", cap(d.pcm.hold))
			}
			total += int64(n)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("unclassified error: %v", err)
				}
				break
			}
		}
		// Every audio packet is at least a byte and yields at most half a
		// long block (4096 frames).
		if total > 4096*int64(len(data)) {
			t.Fatalf("%d frames from %d bytes", total, len(data))
		}
	})
}
