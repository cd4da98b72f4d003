package catalog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/fixtures"
)

func TestIngestFixtures(t *testing.T) {
	refs, err := fixtures.References()
	if err != nil {
		t.Fatal(err)
	}
	c := openTest(t)
	ctx := context.Background()
	got := map[track.ID]Entry{}
	for _, name := range fixtures.All {
		src := writeFixture(t, name)
		plain, _ := os.ReadFile(src)
		e, added, err := c.Ingest(ctx, src, IngestOptions{})
		if err != nil || !added {
			t.Fatalf("%s: added=%v err=%v", name, added, err)
		}
		ref := refs[name]
		if int(e.SampleRate) != ref.Rate || int(e.Channels) != ref.Channels {
			t.Errorf("%s: %d Hz %d ch, want %d Hz %d ch", name, e.SampleRate, e.Channels, ref.Rate, ref.Channels)
		}
		if want := uint32(ref.Frames * 1000 / int64(ref.Rate)); e.DurationMs != want {
			t.Errorf("%s: duration %d ms, want %d (oggdec's %d frames)", name, e.DurationMs, want, ref.Frames)
		}
		if e.Size != int64(len(plain)) || !e.Added.Equal(fixedNow) || e.Title == "" {
			t.Errorf("%s: entry %+v", name, e)
		}
		raw, err := c.ManifestRaw(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		m, err := track.ParseVerifiedManifest(e.ID, raw)
		if err != nil {
			t.Fatal(err)
		}
		if m.Size != e.Size || m.DurationMs != e.DurationMs || m.SampleRate != e.SampleRate || m.Channels != e.Channels || m.Codec != track.CodecVorbis {
			t.Errorf("%s: manifest %+v disagrees with entry %+v", name, m, e)
		}
		key, err := c.Key(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(c.Dir(), "private", "keys", e.ID.String()))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: key file mode %v, %v; want 0600", name, st.Mode(), err)
		}
		blob, err := os.ReadFile(filepath.Join(c.PublicDir(), "tracks", e.ID.String()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(blob, plain) {
			t.Fatalf("%s: blob is not encrypted", name)
		}
		for i := range m.NumChunks() {
			chunk := blob[m.ChunkOffset(i) : m.ChunkOffset(i)+int64(m.ChunkLen(i))]
			if err := m.VerifyChunk(i, chunk); err != nil {
				t.Fatal(err)
			}
		}
		track.XORKeyStreamAt(key, blob, blob, 0)
		if !bytes.Equal(blob, plain) {
			t.Fatalf("%s: decrypted blob differs from the source", name)
		}
		got[e.ID] = e
	}
	// A fresh Open loads the same entries from disk.
	c2 := reopen(t, c.Dir())
	if c2.Len() != len(fixtures.All) {
		t.Fatalf("reopened catalogue has %d tracks, want %d", c2.Len(), len(fixtures.All))
	}
	for _, e := range c2.Entries() {
		if got[e.ID] != e {
			t.Errorf("reloaded entry %+v, ingested %+v", e, got[e.ID])
		}
	}
}

func TestIngestIdempotent(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	src := writeFixture(t, fixtures.Pluck44kStereo)
	e1, added, err := c.Ingest(ctx, src, IngestOptions{})
	if err != nil || !added {
		t.Fatal(added, err)
	}
	e2, added, err := c.Ingest(ctx, src, IngestOptions{Title: "ignored: already in"})
	if err != nil || added || e2 != e1 {
		t.Fatalf("second ingest: added=%v err=%v entry %+v", added, err, e2)
	}
	// Same bytes under another name, in another process (a fresh Open).
	b, _ := os.ReadFile(src)
	other := writeTemp(t, "renamed.ogg", b)
	c2 := reopen(t, c.Dir())
	if e3, added, err := c2.Ingest(ctx, other, IngestOptions{}); err != nil || added || e3.ID != e1.ID {
		t.Fatalf("renamed copy: added=%v err=%v", added, err)
	}
	e4, added, err := c2.Ingest(ctx, src, IngestOptions{Duplicate: true})
	if err != nil || !added || e4.ID == e1.ID || e4.SourceSHA256 != e1.SourceSHA256 {
		t.Fatalf("--duplicate: added=%v err=%v id %s", added, err, e4.ID.Short())
	}
	if c2.Len() != 2 {
		t.Fatalf("%d tracks, want 2", c2.Len())
	}
	// A further duplicate in the same process reuses the probe (it decodes
	// the whole file) and finds the same audio.
	c2.probeMu.Lock()
	c2.probes[e1.SourceSHA256] = audioInfo{SampleRate: e1.SampleRate, Channels: e1.Channels, Frames: 5 * int64(e1.SampleRate)}
	c2.probeMu.Unlock()
	e5, added, err := c2.Ingest(ctx, src, IngestOptions{Duplicate: true})
	if err != nil || !added || e5.DurationMs != 5000 {
		t.Fatalf("duplicate in the same process: added=%v err=%v duration %d ms; want the remembered probe (5000 ms)", added, err, e5.DurationMs)
	}
	if e4.DurationMs != e1.DurationMs || e4.SampleRate != e1.SampleRate {
		t.Errorf("the duplicate's audio (%d ms, %d Hz) differs from the original's (%d ms, %d Hz)", e4.DurationMs, e4.SampleRate, e1.DurationMs, e1.SampleRate)
	}
}

func TestIngestConcurrentSameSource(t *testing.T) {
	c := openTest(t)
	src := writeFixture(t, fixtures.Tones48kMono)
	var wg sync.WaitGroup
	ids := make([]track.ID, 4)
	added := make([]bool, 4)
	for i := range ids {
		wg.Go(func() {
			e, a, err := c.Ingest(context.Background(), src, IngestOptions{})
			if err != nil {
				t.Error(err)
			}
			ids[i], added[i] = e.ID, a
		})
	}
	wg.Wait()
	n := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("concurrent ingests returned different tracks")
		}
		if added[i] {
			n++
		}
	}
	if n != 1 || c.Len() != 1 {
		t.Fatalf("%d reported added, %d tracks; want 1 and 1", n, c.Len())
	}
	// No leftovers: only the published files.
	for _, d := range []string{"public/tracks", "public/manifests", "private/keys", "private/meta"} {
		des, _ := os.ReadDir(filepath.Join(c.Dir(), d))
		if len(des) != 1 {
			t.Errorf("%s holds %d files, want 1", d, len(des))
		}
	}
}

func TestIngestOverrides(t *testing.T) {
	c := openTest(t)
	src := writeFixture(t, fixtures.Chord44kStereo)
	e, _, err := c.Ingest(context.Background(), src, IngestOptions{Title: "  A\tTitle\n", Artist: "Ärtist", Album: "LP", TrackNo: 7})
	if err != nil {
		t.Fatal(err)
	}
	if e.Title != "A Title" || e.Artist != "Ärtist" || e.Album != "LP" || e.TrackNo != 7 {
		t.Fatalf("overrides not applied: %+v", e)
	}
	if _, _, err := c.Ingest(context.Background(), src, IngestOptions{TrackNo: -1}); err == nil {
		t.Fatal("negative track number accepted")
	}
}

func TestIngestBadInputs(t *testing.T) {
	good, _ := fixtures.Read(fixtures.Chord44kStereo)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	trailing := append(bytes.Clone(good), "junk"...)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"truncated.ogg", good[:len(good)/2], ErrTruncated},
		{"cut-in-header.ogg", good[:3000], ErrTruncated},
		{"flipped.ogg", flipped, ErrCorrupt},
		{"trailing.ogg", trailing, ErrUnsupported},
		{"text.ogg", []byte("this is not audio\n"), ErrNoTranscoder},
		{"empty.ogg", nil, ErrNotOgg},
	}
	c := openTest(t)
	ctx := context.Background()
	for _, tc := range cases {
		_, added, err := c.Ingest(ctx, writeTemp(t, tc.name, tc.data), IngestOptions{})
		if !errors.Is(err, tc.want) || added {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	if _, _, err := c.Ingest(ctx, filepath.Join(t.TempDir(), "missing.ogg"), IngestOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// The good file still goes in, and nothing of the bad ones is visible or left.
	if _, added, err := c.Ingest(ctx, writeFixture(t, fixtures.Chord44kStereo), IngestOptions{}); err != nil || !added {
		t.Fatalf("good file after bad ones: %v", err)
	}
	if c.Len() != 1 {
		t.Fatalf("%d tracks, want 1", c.Len())
	}
	for _, d := range []string{"public/tracks", "private/tmp"} {
		des, _ := os.ReadDir(filepath.Join(c.Dir(), d))
		if want := map[string]int{"public/tracks": 1, "private/tmp": 0}[d]; len(des) != want {
			t.Errorf("%s holds %d files, want %d", d, len(des), want)
		}
	}
}

func TestIngestCancelled(t *testing.T) {
	c := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Ingest(ctx, writeFixture(t, fixtures.Chord44kStereo), IngestOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ingest: %v", err)
	}
	if c.Len() != 0 {
		t.Fatal("cancelled ingest published a track")
	}
}

// wav makes a mono 16-bit PCM WAV of a 440 Hz tone.
func wav(rate, frames int) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+2*frames))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		binary.Write(&b, le, v)
	}
	b.WriteString("data")
	binary.Write(&b, le, uint32(2*frames))
	for i := range frames {
		binary.Write(&b, le, int16(8000*math.Sin(2*math.Pi*440*float64(i)/float64(rate))))
	}
	return b.Bytes()
}

func TestIngestTranscodeWAV(t *testing.T) {
	bin, err := exec.LookPath("oggenc")
	if err != nil {
		t.Skip("oggenc not installed (apt-get install vorbis-tools)")
	}
	c := openTest(t)
	c.lookPath = func(name string) (string, error) {
		if name == "oggenc" {
			return bin, nil
		}
		return "", os.ErrNotExist
	}
	e, added, err := c.Ingest(context.Background(), writeTemp(t, "tone.wav", wav(22050, 22050)), IngestOptions{Artist: "Test"})
	if err != nil || !added {
		t.Fatal(added, err)
	}
	if e.SampleRate != 22050 || e.Channels != 1 || e.DurationMs != 1000 || e.Title != "tone" {
		t.Fatalf("transcoded entry %+v", e)
	}
	// Garbage goes to the transcoder, which refuses it: a per-file error.
	if _, _, err := c.Ingest(context.Background(), writeTemp(t, "junk.mp3", []byte("junk")), IngestOptions{}); !errors.Is(err, ErrNotOgg) {
		t.Fatalf("junk through oggenc: %v", err)
	}
}
