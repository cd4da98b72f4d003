package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/starling-audio/starling/audio/oggpage"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/fixtures"
)

func validEntryJSON(tb testing.TB) (string, []byte) {
	e := Entry{ID: track.ID{0xab, 1}, Title: "T", Artist: "A", Album: "B", TrackNo: 1, DurationMs: 1000,
		Size: 20000, SampleRate: 44100, Channels: 2, SourceSHA256: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		Added: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := json.Marshal(e)
	if err != nil {
		tb.Fatal(err)
	}
	return e.ID.String() + ".json", b
}

func FuzzDecodeEntry(f *testing.F) {
	name, b := validEntryJSON(f)
	f.Add(name, b)
	f.Add(name, []byte(`{"id":"zz"}`))
	f.Add("x.json", []byte("{}"))
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		e, err := decodeEntry(name, b)
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("error not ErrBadEntry: %v", err)
			}
			return
		}
		if err := e.validate(); err != nil {
			t.Fatalf("accepted an invalid entry: %v", err)
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := decodeEntry(name, again)
		if err != nil || e2 != e {
			t.Fatalf("round trip: %v %+v != %+v", err, e2, e)
		}
	})
}

func FuzzParseOriginPath(f *testing.F) {
	id := track.ID{1, 2, 3}.String()
	for _, s := range []string{"/tracks/" + id, "/manifests/" + id, "/tracks/", "/keys/" + id, "/tracks/../x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		kind, id, err := parseOriginPath(p)
		if err != nil {
			return
		}
		if want := "/" + kind + "/" + id.String(); want != p {
			t.Fatalf("%q parsed as %q", p, want)
		}
	})
}

// FuzzProbeOgg feeds arbitrary bytes to the page walker and the decoder:
// they must refuse bad input with an error, never panic or hang.
func FuzzProbeOgg(f *testing.F) {
	b, err := fixtures.Read(fixtures.Tones48kMono)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:8192])
	f.Add(b[:200])
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sniff(b)
		ai, err := probeOgg(context.Background(), bytes.NewReader(b))
		if err == nil && (ai.Frames <= 0 || ai.Channels == 0) {
			t.Fatalf("accepted with %+v", ai)
		}
	})
}

func FuzzCleanTag(f *testing.F) {
	f.Add("  Hello\tWorld \x00\xff ")
	f.Fuzz(func(t *testing.T, s string) {
		c := cleanTag(s)
		if !validTag(c) || cleanTag(c) != c {
			t.Fatalf("cleanTag(%q) = %q is not clean", s, c)
		}
	})
}

// fixCRCs recomputes the CRC of every page of b in place, as far as its
// page structure holds, so the fuzzer's mutations reach the decoder.
func fixCRCs(b []byte) {
	for off := 0; off+oggpage.HeaderLen <= len(b); {
		n := int(b[off+26])
		end := off + oggpage.HeaderLen + n
		if end > len(b) {
			return
		}
		for _, s := range b[off+oggpage.HeaderLen : end] {
			end += int(s)
		}
		if end > len(b) {
			return
		}
		clear(b[off+22 : off+26])
		crc := oggpage.CRC(0, b[off:end])
		b[off+22], b[off+23], b[off+24], b[off+25] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
		off = end
	}
}

// FuzzDecodeMutated overwrites bytes of a real file and fixes the page CRCs,
// so the Vorbis decoder itself sees hostile packets.
func FuzzDecodeMutated(f *testing.F) {
	orig, err := fixtures.Read(fixtures.Tones48kMono)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(100), []byte{0xff, 0xff})
	f.Add(uint32(4000), []byte("\x00\x00\x00\x00"))
	f.Add(uint32(50000), []byte{1})
	f.Fuzz(func(t *testing.T, pos uint32, patch []byte) {
		b := bytes.Clone(orig)
		copy(b[int(pos)%len(b):], patch)
		fixCRCs(b)
		ai, err := probeOgg(context.Background(), bytes.NewReader(b))
		if err == nil && (ai.Frames <= 0 || ai.Channels == 0) {
			t.Fatalf("accepted with %+v", ai)
		}
	})
}
