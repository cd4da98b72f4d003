package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/starling-audio/starling/p2p/track"
)

// Sentinel errors.
var (
	// ErrNotFound: the cache does not hold the manifest, key or chunk asked for.
	ErrNotFound = errors.New("cache: not found")
	// ErrNoManifest: a key or chunk was offered for a track whose manifest is
	// not stored (PutManifest first; the track may also just have been evicted).
	ErrNoManifest = errors.New("cache: track manifest not stored; call PutManifest first")
	// ErrClosed: the cache was closed.
	ErrClosed = errors.New("cache: closed")
)

// manifestCacheSize bounds the parsed manifests kept in memory (each is up
// to ~10 KiB for a 5-minute track; the index itself holds only bitmaps).
const manifestCacheSize = 32

// Cache is the bounded, encrypted track cache. All methods are safe for
// concurrent use.
type Cache struct {
	o        Options
	log      *slog.Logger
	dbDir    string
	db       *badger.DB
	seal     *sealer
	capacity int64

	// closeMu: every operation holds it for reading; Close for writing.
	closeMu sync.RWMutex
	closed  bool
	// dropMu: writers hold it for reading; eviction holds it for writing
	// around DropPrefix, which makes Badger refuse writes (ErrBlockedWrites):
	// writes queue here instead of failing.
	dropMu sync.RWMutex

	mu     sync.Mutex // guards the fields below
	tracks map[track.ID]*entry
	pins   map[track.ID]int
	manis  manifestLRU
	live   int64
	st     counters
	// pendingDrop lists tracks already gone from the index whose keys the
	// maintainer must still drop.
	pendingDrop []track.ID

	written   atomic.Int64 // bytes written since the last capacity check
	maintMu   sync.Mutex   // serialises Maintain
	kick      chan struct{}
	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// entry is the in-memory index of one track: its record and a bitmap of
// the chunks present (each verified against the manifest when written).
type entry struct {
	rec       record
	have      []uint64
	count     int
	bytes     int64 // chunk bytes present + manifest length
	lastWrite int64 // Unix ns of the last chunk written (0: none this run)
}

func newEntry(r record) *entry {
	return &entry{rec: r, have: make([]uint64, (r.NumChunks+63)/64), bytes: int64(r.ManiLen)}
}

func (e *entry) has(i int) bool {
	return i >= 0 && i < e.rec.NumChunks && e.have[i/64]&(1<<(i%64)) != 0
}

func (e *entry) set(i int) bool {
	if e.has(i) || i < 0 || i >= e.rec.NumChunks {
		return false
	}
	e.have[i/64] |= 1 << (i % 64)
	e.count++
	e.bytes += int64(chunkLen(e.rec.Size, e.rec.NumChunks, i))
	return true
}

func (e *entry) clear(i int) bool {
	if !e.has(i) {
		return false
	}
	e.have[i/64] &^= 1 << (i % 64)
	e.count--
	e.bytes -= int64(chunkLen(e.rec.Size, e.rec.NumChunks, i))
	return true
}

func (e *entry) complete() bool { return e.count == e.rec.NumChunks }

// lastUse is the time eviction orders by: last played, else added.
func (e *entry) lastUse() int64 { return max(e.rec.Played, e.rec.Added) }

type counters struct {
	evictions, evictedBytes, gcRewrites, hashFailures, recoveries int64
}

// Stats is a snapshot for metrics.
type Stats struct {
	CapacityBytes     int64 // the bound on DiskBytes
	DiskBytes         int64 // blocks allocated by the database files
	LiveBytes         int64 // manifests and chunks the index holds
	Tracks            int   // tracks with a stored manifest
	CompleteTracks    int   // tracks with every chunk
	PinnedTracks      int   // tracks pinned now
	Evictions         int64 // tracks evicted since Open
	EvictedBytes      int64 // live bytes evicted since Open
	GCRewrites        int64 // value-log files rewritten by GC since Open
	ChunkHashFailures int64 // chunks dropped because they failed their hash on read
	Recoveries        int64 // corrupt databases moved aside by this Open (0 or 1)
}

// Open opens (or creates) the cache in o.Dir. A database that cannot be
// opened or indexed is logged, moved aside to Dir/db.corrupt-<time> and
// replaced by an empty one, so the caller keeps working from the network.
// ctx bounds the opening work only; the cache's background eviction runs
// until Close.
func Open(ctx context.Context, o Options, log *slog.Logger) (*Cache, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "cache")
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating cache directory %s: %w (check its parent's owner and mode)", o.Dir, err)
	}
	c := &Cache{
		o:      o,
		log:    log,
		dbDir:  filepath.Join(o.Dir, "db"),
		tracks: make(map[track.ID]*entry),
		pins:   make(map[track.ID]int),
		manis:  newManifestLRU(manifestCacheSize),
		kick:   make(chan struct{}, 1),
	}
	key, err := c.deviceKey()
	if err != nil {
		return nil, err
	}
	if c.seal, err = newSealer(key); err != nil {
		return nil, err
	}
	if err := c.openDB(ctx); err != nil {
		return nil, err
	}
	if c.capacity, err = c.computeCapacity(); err != nil {
		c.db.Close()
		return nil, err
	}
	c.log.Info("cache opened", "dir", o.Dir, "capacity", c.capacity, "tracks", len(c.tracks), "live", c.live)
	mctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.wg.Add(1)
	go c.maintainLoop(mctx)
	c.kickMaintain()
	return c, nil
}

// deviceKey loads the device key, replacing an unusable one (moved aside)
// with a fresh key: keys sealed under the old one are then re-fetched.
func (c *Cache) deviceKey() ([]byte, error) {
	key, created, err := loadDeviceKey(c.o.DeviceKeyPath)
	if err == nil {
		if created {
			c.log.Info("created device key", "path", c.o.DeviceKeyPath)
		}
		return key, nil
	}
	if _, serr := os.Lstat(c.o.DeviceKeyPath); serr != nil {
		return nil, err
	}
	aside := c.o.DeviceKeyPath + ".corrupt-" + c.o.Now().UTC().Format("20060102T150405.000000000Z")
	c.log.Error("device key unusable; moving it aside and creating a new one (cached track keys will be fetched again)",
		"path", c.o.DeviceKeyPath, "aside", aside, "err", err)
	if rerr := os.Rename(c.o.DeviceKeyPath, aside); rerr != nil {
		return nil, fmt.Errorf("moving unusable device key aside: %w (after: %w)", rerr, err)
	}
	key, _, err = loadDeviceKey(c.o.DeviceKeyPath)
	return key, err
}

// Close stops background work and closes the database. It is idempotent.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		c.wg.Wait()
		c.closeMu.Lock()
		defer c.closeMu.Unlock()
		c.closed = true
		if err := c.db.Close(); err != nil {
			c.closeErr = fmt.Errorf("closing cache database %s: %w", c.dbDir, err)
		}
	})
	return c.closeErr
}

// rlock takes closeMu for reading and reports ErrClosed after Close.
func (c *Cache) rlock() error {
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (c *Cache) runlock() { c.closeMu.RUnlock() }

// lockForWrite holds the cache open and keeps an eviction's DropPrefix out
// while a write is checked and applied; release undoes both.
func (c *Cache) lockForWrite() (release func(), err error) {
	if err := c.rlock(); err != nil {
		return nil, err
	}
	c.dropMu.RLock()
	return func() {
		c.dropMu.RUnlock()
		c.runlock()
	}, nil
}

// indexed reports whether the index holds track id.
func (c *Cache) indexed(id track.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.tracks[id]
	return ok
}

// PutManifest stores a track's manifest after checking that raw hashes to
// id. Storing a manifest that is already present is a no-op.
func (c *Cache) PutManifest(id track.ID, raw []byte) error {
	m, err := track.ParseVerifiedManifest(id, raw)
	if err != nil {
		return fmt.Errorf("storing manifest of %s: %w", id.Short(), err)
	}
	release, err := c.lockForWrite()
	if err != nil {
		return err
	}
	defer release()
	ok := c.indexed(id)
	if ok {
		return nil
	}
	now := c.o.Now().UnixNano()
	rec := record{Size: m.Size, NumChunks: m.NumChunks(), ManiLen: len(raw), Added: now}
	err = c.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(kindKeyOf(id, kindMani), raw); err != nil {
			return err
		}
		return txn.Set(kindKeyOf(id, kindRecord), rec.encode())
	})
	if err != nil {
		return fmt.Errorf("storing manifest of %s: %w", id.Short(), err)
	}
	c.mu.Lock()
	if _, ok := c.tracks[id]; !ok {
		c.tracks[id] = newEntry(rec)
		c.live += int64(len(raw))
	}
	c.manis.put(id, m)
	c.mu.Unlock()
	c.noteWritten(int64(len(raw)))
	return nil
}

// Manifest returns the stored manifest of id, or ErrNotFound.
func (c *Cache) Manifest(id track.ID) (*track.Manifest, error) {
	if err := c.rlock(); err != nil {
		return nil, err
	}
	defer c.runlock()
	return c.manifest(id)
}

// manifest returns the parsed manifest from memory or the database,
// re-verifying bytes read from disk; the caller holds closeMu.
func (c *Cache) manifest(id track.ID) (*track.Manifest, error) {
	c.mu.Lock()
	_, ok := c.tracks[id]
	m := c.manis.get(id)
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("manifest of %s: %w", id.Short(), ErrNotFound)
	}
	if m != nil {
		return m, nil
	}
	var raw []byte
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(kindKeyOf(id, kindMani))
		if err != nil {
			return err
		}
		if item.ValueSize() > track.MaxManifestSize+64 {
			return fmt.Errorf("%w: stored manifest too large", track.ErrBadManifest)
		}
		raw, err = item.ValueCopy(nil)
		return err
	})
	if err == nil {
		m, err = track.ParseVerifiedManifest(id, raw)
	}
	if err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) || errors.Is(err, track.ErrBadManifest) || errors.Is(err, track.ErrManifestID) {
			c.log.Warn("stored manifest unusable; dropping the track", "track", id, "err", err)
			c.dropCorruptTrack(id)
			return nil, fmt.Errorf("manifest of %s: %w (dropped a damaged copy: %v)", id.Short(), ErrNotFound, err)
		}
		return nil, fmt.Errorf("reading manifest of %s: %w", id.Short(), err)
	}
	c.mu.Lock()
	if _, ok := c.tracks[id]; ok {
		c.manis.put(id, m)
	}
	c.mu.Unlock()
	return m, nil
}

// dropCorruptTrack forgets a track whose manifest is damaged and queues
// its prefix for the maintainer to drop (the caller holds closeMu, so it
// cannot take dropMu for writing itself).
func (c *Cache) dropCorruptTrack(id track.ID) {
	c.mu.Lock()
	if e := c.tracks[id]; e != nil {
		delete(c.tracks, id)
		c.live -= e.bytes
	}
	c.manis.remove(id)
	c.pendingDrop = append(c.pendingDrop, id)
	c.mu.Unlock()
	c.kickMaintain()
}

// PutKey stores a track key sealed under the device key. The manifest must
// be stored first (the key lives and is evicted with the track).
func (c *Cache) PutKey(id track.ID, k track.Key) error {
	sealed, err := c.seal.seal(id, k)
	if err != nil {
		return err
	}
	release, err := c.lockForWrite()
	if err != nil {
		return err
	}
	defer release()
	ok := c.indexed(id)
	if !ok {
		return fmt.Errorf("storing key of %s: %w", id.Short(), ErrNoManifest)
	}
	if err := c.db.Update(func(txn *badger.Txn) error { return txn.Set(kindKeyOf(id, kindKey), sealed) }); err != nil {
		return fmt.Errorf("storing key of %s: %w", id.Short(), err)
	}
	return nil
}

// Key returns the track key of id, or ErrNotFound. A sealed key that does
// not open (device key replaced, damaged bytes) is deleted and reported as
// ErrNotFound, so the caller fetches it again.
func (c *Cache) Key(id track.ID) (track.Key, error) {
	if err := c.rlock(); err != nil {
		return track.Key{}, err
	}
	defer c.runlock()
	var sealed []byte
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(kindKeyOf(id, kindKey))
		if err != nil {
			return err
		}
		if item.ValueSize() > int64(sealedLen)+64 {
			return fmt.Errorf("%w: sealed key too large", ErrBadRecord)
		}
		sealed, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return track.Key{}, fmt.Errorf("key of %s: %w", id.Short(), ErrNotFound)
	}
	if err != nil {
		return track.Key{}, fmt.Errorf("reading key of %s: %w", id.Short(), err)
	}
	k, err := c.seal.open(id, sealed)
	if err != nil {
		c.log.Warn("stored track key unusable; deleting it", "track", id, "err", err)
		c.dropMu.RLock()
		derr := c.db.Update(func(txn *badger.Txn) error { return txn.Delete(kindKeyOf(id, kindKey)) })
		c.dropMu.RUnlock()
		if derr != nil {
			c.log.Warn("deleting unusable track key", "track", id, "err", derr)
		}
		return track.Key{}, fmt.Errorf("key of %s: %w (stored copy unusable: %v)", id.Short(), ErrNotFound, err)
	}
	return k, nil
}

// PutChunk verifies chunk i of id against the stored manifest and stores
// it. Chunks may arrive in any order; storing a chunk already present is a
// no-op. A mismatch returns an error wrapping track.ErrChunkHash.
func (c *Cache) PutChunk(id track.ID, i int, data []byte) error {
	if err := c.rlock(); err != nil {
		return err
	}
	defer c.runlock()
	m, err := c.manifest(id)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("storing chunk %d of %s: %w", i, id.Short(), ErrNoManifest)
	}
	if err != nil {
		return fmt.Errorf("storing chunk %d of %s: %w", i, id.Short(), err)
	}
	if err := m.VerifyChunk(i, data); err != nil {
		return fmt.Errorf("storing chunk %d of %s: %w", i, id.Short(), err)
	}
	c.dropMu.RLock()
	defer c.dropMu.RUnlock()
	c.mu.Lock()
	e := c.tracks[id]
	present := e != nil && e.has(i)
	c.mu.Unlock()
	if e == nil {
		return fmt.Errorf("storing chunk %d of %s: %w", i, id.Short(), ErrNoManifest)
	}
	if present {
		return nil
	}
	if err := c.db.Update(func(txn *badger.Txn) error { return txn.Set(chunkKey(id, i), data) }); err != nil {
		return fmt.Errorf("storing chunk %d of %s: %w", i, id.Short(), err)
	}
	c.mu.Lock()
	if e2 := c.tracks[id]; e2 == e && e.set(i) {
		c.live += int64(len(data))
		e.lastWrite = c.o.Now().UnixNano()
	}
	c.mu.Unlock()
	c.noteWritten(int64(len(data)))
	return nil
}

// ReadChunk appends chunk i of id to dst[:0] and returns it, verified
// against the manifest. ErrNotFound when absent; on a hash mismatch the
// chunk is dropped, the track becomes incomplete, and the error wraps
// track.ErrChunkHash.
func (c *Cache) ReadChunk(id track.ID, i int, dst []byte) ([]byte, error) {
	if err := c.rlock(); err != nil {
		return nil, err
	}
	defer c.runlock()
	c.mu.Lock()
	e := c.tracks[id]
	present := e != nil && e.has(i)
	c.mu.Unlock()
	if !present {
		return nil, fmt.Errorf("chunk %d of %s: %w", i, id.Short(), ErrNotFound)
	}
	m, err := c.manifest(id)
	if err != nil {
		return nil, fmt.Errorf("reading chunk %d of %s: %w", i, id.Short(), err)
	}
	var out []byte
	err = c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(id, i))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(dst[:0])
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		c.forgetChunk(id, e, i)
		return nil, fmt.Errorf("chunk %d of %s: %w", i, id.Short(), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading chunk %d of %s: %w", i, id.Short(), err)
	}
	if err := m.VerifyChunk(i, out); err != nil {
		c.log.Warn("cached chunk failed its hash; dropping it", "track", id, "chunk", i, "err", err)
		c.dropMu.RLock()
		derr := c.db.Update(func(txn *badger.Txn) error { return txn.Delete(chunkKey(id, i)) })
		c.dropMu.RUnlock()
		if derr != nil {
			c.log.Warn("deleting damaged chunk", "track", id, "chunk", i, "err", derr)
		}
		c.forgetChunk(id, e, i)
		c.mu.Lock()
		c.st.hashFailures++
		c.mu.Unlock()
		return nil, fmt.Errorf("reading chunk %d of %s: %w", i, id.Short(), err)
	}
	return out, nil
}

func (c *Cache) forgetChunk(id track.ID, e *entry, i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tracks[id] == e {
		before := e.bytes
		if e.clear(i) {
			c.live -= before - e.bytes
		}
	}
}

// HasChunk reports whether chunk i of id is stored.
func (c *Cache) HasChunk(id track.ID, i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.tracks[id]
	return e != nil && e.has(i)
}

// Complete reports whether every chunk of id is stored (each was verified
// when written and is verified again on every read).
func (c *Cache) Complete(id track.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.tracks[id]
	return e != nil && e.complete()
}

// Touch records that id was played now (the injected clock): eviction is
// least-recently-played first.
func (c *Cache) Touch(id track.ID) error {
	release, err := c.lockForWrite()
	if err != nil {
		return err
	}
	defer release()
	c.mu.Lock()
	e := c.tracks[id]
	if e == nil {
		c.mu.Unlock()
		return fmt.Errorf("touching %s: %w", id.Short(), ErrNotFound)
	}
	e.rec.Played = c.o.Now().UnixNano()
	rec := e.rec
	c.mu.Unlock()
	if err := c.db.Update(func(txn *badger.Txn) error { return txn.Set(kindKeyOf(id, kindRecord), rec.encode()) }); err != nil {
		return fmt.Errorf("touching %s: %w", id.Short(), err)
	}
	return nil
}

// Pin protects id from eviction until unpin is called (idempotent). Pins
// nest; a track may be pinned before its manifest arrives.
func (c *Cache) Pin(id track.ID) (unpin func()) {
	c.mu.Lock()
	c.pins[id]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.pins[id]--; c.pins[id] <= 0 {
				delete(c.pins, id)
			}
			c.mu.Unlock()
		})
	}
}

// CompleteTracks lists the tracks held complete, for announcing to the tracker.
func (c *Cache) CompleteTracks() ([]track.ID, error) {
	if err := c.rlock(); err != nil {
		return nil, err
	}
	defer c.runlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]track.ID, 0, len(c.tracks))
	for id, e := range c.tracks {
		if e.complete() {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Capacity returns the bound on bytes on disk chosen at Open.
func (c *Cache) Capacity() int64 { return c.capacity }

// Stats returns a snapshot for metrics. DiskBytes walks the database
// directory (a few dozen files).
func (c *Cache) Stats() Stats {
	disk, _ := diskUsage(c.dbDir)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		CapacityBytes:     c.capacity,
		DiskBytes:         disk,
		LiveBytes:         c.live,
		Tracks:            len(c.tracks),
		PinnedTracks:      len(c.pins),
		Evictions:         c.st.evictions,
		EvictedBytes:      c.st.evictedBytes,
		GCRewrites:        c.st.gcRewrites,
		ChunkHashFailures: c.st.hashFailures,
		Recoveries:        c.st.recoveries,
	}
	for _, e := range c.tracks {
		if e.complete() {
			s.CompleteTracks++
		}
	}
	return s
}

// manifestLRU is a tiny bounded map of parsed manifests; guarded by c.mu.
type manifestLRU struct {
	max   int
	tick  uint64
	items map[track.ID]*maniItem
}

type maniItem struct {
	m    *track.Manifest
	used uint64
}

func newManifestLRU(n int) manifestLRU {
	return manifestLRU{max: n, items: make(map[track.ID]*maniItem, n)}
}

func (l *manifestLRU) get(id track.ID) *track.Manifest {
	it := l.items[id]
	if it == nil {
		return nil
	}
	l.tick++
	it.used = l.tick
	return it.m
}

func (l *manifestLRU) put(id track.ID, m *track.Manifest) {
	l.tick++
	if it := l.items[id]; it != nil {
		it.m, it.used = m, l.tick
		return
	}
	if len(l.items) >= l.max {
		var oldID track.ID
		oldest := ^uint64(0)
		for k, it := range l.items {
			if it.used < oldest {
				oldest, oldID = it.used, k
			}
		}
		delete(l.items, oldID)
	}
	l.items[id] = &maniItem{m: m, used: l.tick}
}

func (l *manifestLRU) remove(id track.ID) { delete(l.items, id) }
