package audio

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/starling-audio/starling/tools/fixtures"
)

// FuzzDecoder feeds arbitrary bytes through the demuxer, the header checks
// and the Vorbis decoder (the exact path the player uses), with and without
// a seek. It must return errors, never panic, never loop forever and never
// produce samples outside [-1, 1].
func FuzzDecoder(f *testing.F) {
	for _, name := range fixtures.All {
		b, _ := fixtures.Read(name)
		f.Add(b[:min(len(b), 6000)], uint16(0))
	}
	f.Add([]byte("OggS"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, seek uint16) {
		hang := time.AfterFunc(10*time.Second, func() { panic("decoder hung for 10 s on this input") })
		defer hang.Stop()
		d, err := NewDecoder(bytes.NewReader(data))
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
		total := 0
		for range 1 << 12 {
			n, err := d.Decode(buf)
			for _, v := range buf[:n*d.Format().Channels] {
				if v > 1 || v < -1 || v != v {
					t.Fatalf("sample %v out of range", v)
				}
			}
			total += n
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("unclassified error: %v", err)
				}
				return
			}
		}
		// 4096 calls without an end: only possible if every call produced
		// audio (a stream that keeps decoding), bounded by the input size.
		if total == 0 {
			t.Fatal("decoder spins without output or end")
		}
	})
}

func TestDecoderSeekFrame(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Pluck44kStereo)
	all, f := decodeAll(t, data)
	for _, target := range []int64{0, 1, 1000, 44100 * 3, 44100*7 + 123, 440999, 441000, 500000} {
		d, err := NewDecoder(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.SeekFrame(target); err != nil {
			t.Fatal(err)
		}
		buf := make([]float32, 2048)
		n, err := d.Decode(buf)
		want := max(0, min(int64(len(all)/2)-target, 1024))
		if target >= 441000 {
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("seek past the end to %d: %d frames, %v", target, n, err)
			}
			continue
		}
		if err != nil || int64(n) == 0 {
			t.Fatalf("seek to %d: %d frames, %v", target, n, err)
		}
		// Seeking restarts the decoder mid-stream: after the first packet
		// the samples are those of a linear decode.
		for i := 0; i < min(n, int(want))*f.Channels; i++ {
			if d := buf[i] - all[int(target)*2+i]; d > 1e-4 || d < -1e-4 {
				t.Fatalf("seek to %d: sample %d is %v, linear decode %v", target, i, buf[i], all[int(target)*2+i])
			}
		}
		if d.Position() != target+int64(n) {
			t.Fatalf("position %d after reading %d frames from %d", d.Position(), n, target)
		}
	}
}

func TestDecoderRejectsHostileHeaders(t *testing.T) {
	data, _ := fixtures.Read(fixtures.Tones48kMono)
	d, err := NewDecoder(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	_ = d
	// A 6-channel identification header.
	id := make([]byte, 30)
	id[0] = 1
	copy(id[1:], "vorbis")
	id[11] = 6
	id[12] = 0x44
	id[13] = 0xac
	id[28] = 0xb8
	id[29] = 1
	if _, err := checkIdentification(id); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("6 channels: %v", err)
	}
	// A setup header claiming a codebook of 2^24-1 entries of 65535
	// dimensions in a few bytes.
	setup := append([]byte{5}, "vorbis"...)
	setup = append(setup, 0x00, 0x42, 0x43, 0x56, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0)
	if err := checkSetup(setup); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("huge codebook: %v", err)
	}
}
