package cache

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// pattern is the known plaintext the tests encrypt: it must never appear in
// the cache's files.
var pattern = []byte("STARLING-PLAINTEXT-AUDIO-PATTERN")

type testTrack struct {
	id     track.ID
	raw    []byte
	m      *track.Manifest
	key    track.Key
	enc    []byte
	chunks [][]byte
}

// makeTrack builds a track of size bytes whose plaintext repeats pattern,
// encrypted with a fresh key by track.XORKeyStreamAt.
func makeTrack(t testing.TB, size int) *testTrack {
	t.Helper()
	key, err := track.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, size)
	for i := range plain {
		plain[i] = pattern[i%len(pattern)]
	}
	enc := make([]byte, size)
	if err := track.XORKeyStreamAt(key, enc, plain, 0); err != nil {
		t.Fatal(err)
	}
	m := &track.Manifest{Size: int64(size), DurationMs: uint32(size / 20), Codec: track.CodecVorbis, SampleRate: 44100, Channels: 2}
	tt := &testTrack{key: key, enc: enc, m: m}
	for off := 0; off < size; off += track.ChunkSize {
		c := enc[off:min(off+track.ChunkSize, size)]
		tt.chunks = append(tt.chunks, c)
		m.Chunks = append(m.Chunks, track.HashChunk(c))
	}
	if tt.raw, err = m.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	if tt.id, err = m.ID(); err != nil {
		t.Fatal(err)
	}
	return tt
}

// store puts the manifest, key and every chunk.
func (tt *testTrack) store(t testing.TB, c *Cache) {
	t.Helper()
	if err := c.PutManifest(tt.id, tt.raw); err != nil {
		t.Fatal(err)
	}
	if err := c.PutKey(tt.id, tt.key); err != nil {
		t.Fatal(err)
	}
	for i, ch := range tt.chunks {
		if err := c.PutChunk(tt.id, i, ch); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeClock is an injected clock advanced by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// testOptions is a small cache for tests: 1 MiB value-log files so GC is
// fine-grained at these sizes.
func testOptions(dir string, capacity int64, clk *fakeClock) Options {
	o := Options{Dir: dir, CapacityBytes: capacity, Badger: BadgerOptions{ValueLogFileSize: 1 << 20}}
	if clk != nil {
		o.Now = clk.Now
	}
	return o
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func openTest(t testing.TB, o Options) *Cache {
	t.Helper()
	c, err := Open(context.Background(), o, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
