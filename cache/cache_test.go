package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"

	"github.com/starling-audio/starling/p2p/track"
)

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

func TestRoundTripOutOfOrder(t *testing.T) {
	c := openTest(t, testOptions(t.TempDir(), 64<<20, nil))
	tt := makeTrack(t, 5*track.ChunkSize+321)
	if err := c.PutChunk(tt.id, 0, tt.chunks[0]); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("chunk before manifest: %v", err)
	}
	if err := c.PutKey(tt.id, tt.key); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("key before manifest: %v", err)
	}
	if _, err := c.Manifest(tt.id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Manifest of absent track: %v", err)
	}
	bad := bytes.Clone(tt.raw)
	bad[len(bad)-1] ^= 1
	if err := c.PutManifest(tt.id, bad); !errors.Is(err, track.ErrManifestID) {
		t.Fatalf("tampered manifest: %v", err)
	}
	if err := c.PutManifest(tt.id, tt.raw); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Key(tt.id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent key: %v", err)
	}
	if err := c.PutKey(tt.id, tt.key); err != nil {
		t.Fatal(err)
	}
	badChunk := bytes.Clone(tt.chunks[2])
	badChunk[7] ^= 0x40
	if err := c.PutChunk(tt.id, 2, badChunk); !errors.Is(err, track.ErrChunkHash) {
		t.Fatalf("bad chunk: %v", err)
	}
	if err := c.PutChunk(tt.id, 99, tt.chunks[0]); !errors.Is(err, track.ErrChunkIndex) {
		t.Fatalf("out-of-range chunk: %v", err)
	}
	order := []int{3, 0, 5, 1, 4}
	for _, i := range order {
		if err := c.PutChunk(tt.id, i, tt.chunks[i]); err != nil {
			t.Fatal(err)
		}
		// Read while the track is still arriving.
		got, err := c.ReadChunk(tt.id, i, nil)
		if err != nil || !bytes.Equal(got, tt.chunks[i]) {
			t.Fatalf("ReadChunk(%d) while arriving: %v", i, err)
		}
	}
	if c.Complete(tt.id) || c.HasChunk(tt.id, 2) {
		t.Fatal("complete with chunk 2 missing")
	}
	if _, err := c.ReadChunk(tt.id, 2, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent chunk: %v", err)
	}
	if ids, _ := c.CompleteTracks(); len(ids) != 0 {
		t.Fatalf("incomplete track announced: %v", ids)
	}
	if err := c.PutChunk(tt.id, 2, tt.chunks[2]); err != nil {
		t.Fatal(err)
	}
	if err := c.PutChunk(tt.id, 2, tt.chunks[2]); err != nil { // duplicate is a no-op
		t.Fatal(err)
	}
	if !c.Complete(tt.id) {
		t.Fatal("not complete with every chunk")
	}
	if ids, _ := c.CompleteTracks(); !slices.Equal(ids, []track.ID{tt.id}) {
		t.Fatalf("CompleteTracks = %v", ids)
	}
	k, err := c.Key(tt.id)
	if err != nil || k != tt.key {
		t.Fatalf("Key: %v", err)
	}
	m, err := c.Manifest(tt.id)
	if err != nil || m.Size != tt.m.Size {
		t.Fatalf("Manifest: %v", err)
	}
	st := c.Stats()
	if st.Tracks != 1 || st.CompleteTracks != 1 || st.LiveBytes != int64(len(tt.enc)+len(tt.raw)) {
		t.Fatalf("Stats = %+v", st)
	}

	// Everything survives a reopen.
	dir := c.o.Dir
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.ReadChunk(tt.id, 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	c2 := openTest(t, testOptions(dir, 64<<20, nil))
	if !c2.Complete(tt.id) {
		t.Fatal("not complete after reopen")
	}
	var buf []byte
	for i := range tt.chunks {
		if buf, err = c2.ReadChunk(tt.id, i, buf); err != nil || !bytes.Equal(buf, tt.chunks[i]) {
			t.Fatalf("chunk %d after reopen: %v", i, err)
		}
	}
	if k, err := c2.Key(tt.id); err != nil || k != tt.key {
		t.Fatalf("key after reopen: %v", err)
	}
}

func TestCorruptChunkOnReadIsDropped(t *testing.T) {
	c := openTest(t, testOptions(t.TempDir(), 64<<20, nil))
	tt := makeTrack(t, 3*track.ChunkSize)
	tt.store(t, c)
	// Damage chunk 1 underneath the cache, as a bad disk would.
	bad := bytes.Clone(tt.chunks[1])
	bad[100] ^= 1
	if err := c.db.Update(func(txn *badger.Txn) error { return txn.Set(chunkKey(tt.id, 1), bad) }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadChunk(tt.id, 1, nil); !errors.Is(err, track.ErrChunkHash) {
		t.Fatalf("damaged chunk served: %v", err)
	}
	if c.Complete(tt.id) || c.HasChunk(tt.id, 1) {
		t.Fatal("track still complete after a damaged chunk")
	}
	if _, err := c.ReadChunk(tt.id, 1, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("damaged chunk not dropped: %v", err)
	}
	if st := c.Stats(); st.ChunkHashFailures != 1 {
		t.Fatalf("ChunkHashFailures = %d", st.ChunkHashFailures)
	}
	if err := c.PutChunk(tt.id, 1, tt.chunks[1]); err != nil || !c.Complete(tt.id) {
		t.Fatalf("refetched chunk: %v", err)
	}
}

func TestLRUOrderAndPinning(t *testing.T) {
	clk := newFakeClock()
	const capacity = 8 << 20
	o := testOptions(t.TempDir(), capacity, clk)
	c := openTest(t, o)
	// Six ~1 MiB tracks fit (live ≤ 90% of 8 MiB).
	var tracks []*testTrack
	for range 6 {
		tt := makeTrack(t, 64*track.ChunkSize)
		tt.store(t, c)
		clk.Advance(time.Second)
		tracks = append(tracks, tt)
	}
	if err := c.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Evictions != 0 {
		t.Fatalf("evicted below capacity: %+v", st)
	}
	// Play order: 3, 0, 5, 1, 4, 2, so the least recently played is 3,
	// then 0. Pin 3 (playing) and 0 (prefetching): 5 and 1 must go first.
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		clk.Advance(time.Minute)
		if err := c.Touch(tracks[i].id); err != nil {
			t.Fatal(err)
		}
	}
	unpin3 := c.Pin(tracks[3].id)
	unpin0 := c.Pin(tracks[0].id)
	// Three more tracks push live data to ~9 MiB > 90% of 8 MiB (the
	// background maintainer may start evicting before the last arrives).
	for range 3 {
		tt := makeTrack(t, 64*track.ChunkSize)
		tt.store(t, c)
		tracks = append(tracks, tt)
	}
	if err := c.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	gone := func(i int) bool { return !c.Complete(tracks[i].id) }
	if gone(3) || gone(0) {
		t.Fatal("a pinned track was evicted")
	}
	if !gone(5) || !gone(1) {
		var g []int
		for i := range tracks {
			if gone(i) {
				g = append(g, i)
			}
		}
		t.Fatalf("least recently played unpinned tracks not evicted first: gone %v, %+v", g, c.Stats())
	}
	// Whatever got evicted is a prefix of the LRU order of unpinned tracks.
	lru := []int{5, 1, 4, 2, 6, 7, 8}
	k := 0
	for k < len(lru) && gone(lru[k]) {
		k++
	}
	for _, i := range lru[k:] {
		if gone(i) {
			t.Fatalf("track %d evicted out of LRU order (prefix %v)", i, lru[:k])
		}
	}
	st := c.Stats()
	if float64(st.LiveBytes) > highWater*capacity || st.DiskBytes > capacity {
		t.Fatalf("over capacity after Maintain: %+v", st)
	}
	unpin3()
	unpin3() // idempotent
	unpin0()
	if c.Stats().PinnedTracks != 0 {
		t.Fatal("pins left after unpin")
	}
	// Evicted tracks are gone from disk too: their chunks are not served.
	if _, err := c.ReadChunk(tracks[5].id, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("evicted chunk: %v", err)
	}
}

func TestIncompleteEvictedAfterCompleteAndGrace(t *testing.T) {
	clk := newFakeClock()
	const capacity = 4 << 20
	c := openTest(t, testOptions(t.TempDir(), capacity, clk))
	complete := makeTrack(t, 64*track.ChunkSize)
	complete.store(t, c)
	partial := makeTrack(t, 260*track.ChunkSize)
	if err := c.PutManifest(partial.id, partial.raw); err != nil {
		t.Fatal(err)
	}
	for i := range 240 {
		if err := c.PutChunk(partial.id, i, partial.chunks[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Over the high watermark; the partial track is being written (within
	// the grace period), so only the complete one may go.
	err := c.Maintain(context.Background())
	if c.Complete(complete.id) {
		t.Fatal("complete track not evicted first")
	}
	if !c.HasChunk(partial.id, 0) {
		t.Fatal("incomplete track being written was evicted")
	}
	if !errors.Is(err, ErrOverCapacity) {
		t.Fatalf("Maintain = %v, want ErrOverCapacity while the partial track is protected", err)
	}
	clk.Advance(2 * DefaultIncompleteGrace)
	if err := c.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.HasChunk(partial.id, 0) {
		t.Fatal("idle incomplete track not evicted")
	}
}

func TestEvictionFreesDisk(t *testing.T) {
	dir := t.TempDir()
	const capacity = 12 << 20
	c := openTest(t, testOptions(dir, capacity, nil))
	var tracks []*testTrack
	for range 10 {
		tt := makeTrack(t, 64*track.ChunkSize)
		tt.store(t, c)
		tracks = append(tracks, tt)
	}
	// Wait for the background maintainer, then measure.
	if err := c.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, err := diskUsage(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	live := c.Stats().LiveBytes
	if before < live {
		t.Fatalf("disk %d below live %d: measurement broken", before, live)
	}
	for _, tt := range tracks[:8] {
		if err := c.Remove(context.Background(), tt.id); err != nil {
			t.Fatal(err)
		}
	}
	// Write a little more so the head value-log file rotates and GC can
	// reach everything evicted.
	for range 2 {
		makeTrack(t, 64*track.ChunkSize).store(t, c)
	}
	if err := c.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.gc(context.Background())
	after, _ := diskUsage(filepath.Join(dir, "db"))
	st := c.Stats()
	t.Logf("disk before %d (live %d), after removing 8 of 10 tracks and adding 2: disk %d, live %d, GC rewrites %d",
		before, live, after, st.LiveBytes, st.GCRewrites)
	// 8 MiB of 10 went; 2 came back. Disk must really have gone down.
	if after > before-4<<20 {
		t.Fatalf("disk not freed: before %d, after %d", before, after)
	}
	// Within 10% of the live data, plus 1 MiB for Badger's head value-log
	// file and memtable at these small sizes.
	if after > st.LiveBytes*11/10+1<<20 {
		t.Fatalf("disk %d not within 10%% (+1 MiB) of live %d after eviction and GC", after, st.LiveBytes)
	}
}

func TestNoKeyOrPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, testOptions(dir, 64<<20, nil))
	var tracks []*testTrack
	for range 3 {
		tt := makeTrack(t, 20*track.ChunkSize+17)
		tt.store(t, c)
		tracks = append(tracks, tt)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var files int
	err := filepath.WalkDir(filepath.Join(dir, "db"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, pattern) || bytes.Contains(b, pattern[:16]) {
			t.Errorf("%s holds plaintext audio", p)
		}
		for _, tt := range tracks {
			if bytes.Contains(b, tt.key[:]) || bytes.Contains(b, tt.key[:12]) {
				t.Errorf("%s holds a track key", p)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walking cache files: %v (%d files)", err, files)
	}
	// The sanity check of the check: the chunks themselves are on disk.
	found := false
	filepath.WalkDir(filepath.Join(dir, "db"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, tracks[0].chunks[3]) {
				found = true
			}
		}
		return nil
	})
	if !found {
		t.Fatal("ciphertext chunk not found in the files: the grep would prove nothing")
	}
	info, err := os.Stat(filepath.Join(dir, "device.key"))
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != deviceKeyLen {
		t.Fatalf("device key file: %v %v", info, err)
	}
}

func TestDeviceKeyReplacedKeysRefetched(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, testOptions(dir, 64<<20, nil))
	tt := makeTrack(t, track.ChunkSize)
	tt.store(t, c)
	c.Close()
	if err := os.WriteFile(filepath.Join(dir, "device.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	c2 := openTest(t, testOptions(dir, 64<<20, nil))
	if _, err := c2.Key(tt.id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("key sealed under the old device key: %v", err)
	}
	if !c2.Complete(tt.id) {
		t.Fatal("chunks lost with the device key")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "device.key.corrupt-*")); len(m) != 1 {
		t.Fatalf("unusable device key not moved aside: %v", m)
	}
}

func TestCorruptDirectoryRecovered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, db string)
	}{
		{"garbage MANIFEST", func(t *testing.T, db string) {
			if err := os.WriteFile(filepath.Join(db, "MANIFEST"), bytes.Repeat([]byte{0xA5}, 4096), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"db is a file", func(t *testing.T, db string) {
			if err := os.RemoveAll(db); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(db, []byte("not a directory"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := openTest(t, testOptions(dir, 64<<20, nil))
			for range 3 {
				makeTrack(t, 40*track.ChunkSize).store(t, c)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, filepath.Join(dir, "db"))
			c2 := openTest(t, testOptions(dir, 64<<20, nil))
			st := c2.Stats()
			if st.Recoveries != 1 || st.Tracks != 0 {
				t.Fatalf("not recovered: %+v", st)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "db"+corruptSuffix+"*")); len(m) != 1 {
				t.Fatalf("damaged database not moved aside: %v", m)
			}
			tt := makeTrack(t, 2*track.ChunkSize)
			tt.store(t, c2)
			if !c2.Complete(tt.id) {
				t.Fatal("fresh cache does not work")
			}
		})
	}
}

func TestLockedDirectoryNotMovedAside(t *testing.T) {
	dir := t.TempDir()
	openTest(t, testOptions(dir, 64<<20, nil))
	_, err := Open(context.Background(), testOptions(dir, 64<<20, nil), testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("second Open of a live cache: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "db"+corruptSuffix+"*")); len(m) != 0 {
		t.Fatalf("live database moved aside: %v", m)
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Dir: "/x"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, o := range map[string]Options{
		"no dir":            {},
		"tiny capacity":     {Dir: "/x", CapacityBytes: 100},
		"percent 0..100":    {Dir: "/x", CapacityPercent: 150},
		"gc ratio":          {Dir: "/x", GCDiscardRatio: 1},
		"one compactor":     {Dir: "/x", Badger: BadgerOptions{NumCompactors: 1}},
		"vlog too small":    {Dir: "/x", Badger: BadgerOptions{ValueLogFileSize: 1000}},
		"vlog too big":      {Dir: "/x", Badger: BadgerOptions{ValueLogFileSize: 2 << 30}},
		"threshold > 15%":   {Dir: "/x", Badger: BadgerOptions{MemTableSize: 64 << 10, ValueThreshold: 12 << 10}},
		"threshold ≥ chunk": {Dir: "/x", Badger: BadgerOptions{MemTableSize: 1 << 20, ValueThreshold: track.ChunkSize}},
		"stall ≤ L0":        {Dir: "/x", Badger: BadgerOptions{NumLevelZeroTables: 4, NumLevelZeroTablesStall: 4}},
		"negative cache":    {Dir: "/x", Badger: BadgerOptions{BlockCacheSize: -1}},
	} {
		if err := o.Validate(); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

func TestPercentCapacity(t *testing.T) {
	c := openTest(t, Options{Dir: t.TempDir(), CapacityPercent: 1, CapacityCap: 2 << 20})
	if c.Capacity() != 2<<20 {
		t.Fatalf("capped capacity = %d", c.Capacity())
	}
}

func TestConcurrentUse(t *testing.T) {
	clk := newFakeClock()
	c := openTest(t, testOptions(t.TempDir(), 6<<20, clk))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				tt := makeTrack(t, 24*track.ChunkSize)
				unpin := c.Pin(tt.id)
				if err := c.PutManifest(tt.id, tt.raw); err != nil {
					t.Error(err)
					return
				}
				var buf []byte
				for i, ch := range tt.chunks {
					if err := c.PutChunk(tt.id, i, ch); err != nil {
						t.Error(err)
						return
					}
					var err error
					if buf, err = c.ReadChunk(tt.id, i, buf); err != nil {
						t.Error(err)
						return
					}
				}
				c.Touch(tt.id)
				unpin()
				clk.Advance(time.Second)
				_ = w
			}
		}()
	}
	wg.Wait()
	if err := c.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Evictions == 0 || st.DiskBytes > st.CapacityBytes {
		t.Fatalf("after concurrent writes: %+v", st)
	}
}

func TestSelfCheck(t *testing.T) {
	if err := SelfCheck(context.Background(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
