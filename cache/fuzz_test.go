package cache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
)

// FuzzDecodeRecord feeds arbitrary bytes to the track-record decoder (the
// one thing the cache decodes from disk besides manifests, which
// p2p/track parses): it must never panic, and whatever it accepts must
// re-encode to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(record{Size: 1, NumChunks: 1, ManiLen: 100, Added: 1, Played: 2}.encode())
	f.Add(record{Size: 5*track.ChunkSize + 3, NumChunks: 6, ManiLen: 300}.encode())
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, recordLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if r.NumChunks <= 0 || r.Size <= 0 || r.Size > track.MaxTrackSize || r.ManiLen <= 0 {
			t.Fatalf("accepted an invalid record: %+v", r)
		}
		if !bytes.Equal(r.encode(), b) {
			t.Fatalf("round trip changed the record: %+v", r)
		}
		if chunkLen(r.Size, r.NumChunks, r.NumChunks-1) <= 0 {
			t.Fatalf("last chunk length not positive: %+v", r)
		}
	})
}

// FuzzOpenSealedKey feeds arbitrary bytes to the sealed-key decoder.
func FuzzOpenSealedKey(f *testing.F) {
	s, err := newSealer(bytes.Repeat([]byte{7}, deviceKeyLen))
	if err != nil {
		f.Fatal(err)
	}
	var id track.ID
	good, err := s.seal(id, track.Key{1, 2, 3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, sealedLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := s.open(id, b)
		if err == nil && !bytes.Equal(b, good) && k != (track.Key{1, 2, 3}) {
			t.Fatalf("forged sealed key accepted")
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		{Size: 1, NumChunks: 1, ManiLen: 100, Added: 1, Played: 2},
		{Size: track.MaxTrackSize, NumChunks: track.MaxChunks, ManiLen: track.MaxManifestSize, Added: -5, Played: 1 << 62},
	} {
		got, err := decodeRecord(r.encode())
		if err != nil || got != r {
			t.Fatalf("round trip of %+v: %+v, %v", r, got, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"zero size": record{Size: 0, NumChunks: 0, ManiLen: 1}.encode(),
		"too big":   record{Size: track.MaxTrackSize + 1, NumChunks: track.MaxChunks + 1, ManiLen: 1}.encode(),
		"no mani":   record{Size: 1, NumChunks: 1}.encode(),
		"count":     record{Size: track.ChunkSize + 1, NumChunks: 1, ManiLen: 1}.encode(),
	} {
		if _, err := decodeRecord(b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: decodeRecord = %v", name, err)
		}
	}
	// The committed seed corpus holds valid records (checked here so the
	// seeds really exercise the accepting path).
	for _, name := range []string{"valid_one_chunk", "valid_five_minutes"} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDecodeRecord", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeRecord([]byte(s)); err != nil {
			t.Errorf("seed %s does not decode: %v", name, err)
		}
	}
}
