package cache

import (
	"context"
	"errors"
	"fmt"
	"sort"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/starling-audio/starling/p2p/track"
)

// Eviction watermarks as fractions of the capacity: when live data passes
// highWater (or disk use passes the capacity) the maintainer evicts down
// to lowWater in one batch, so DropPrefix (which stalls writes) runs once
// per ~10% of the capacity rather than once per track.
const (
	highWater = 0.90
	lowWater  = 0.80
	// checkEvery: after this many bytes written the maintainer re-measures
	// disk use even when live data is below the high watermark.
	checkEveryFraction = 0.02
	maxGCRounds        = 64
	maxMaintainRounds  = 8
)

// ErrOverCapacity is returned by Maintain when the cache is over capacity
// and nothing can be evicted (every track is pinned or being written).
var ErrOverCapacity = errors.New("cache: over capacity and nothing evictable (all pinned or being written)")

func (c *Cache) kickMaintain() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Cache) noteWritten(n int64) {
	w := c.written.Add(n)
	c.mu.Lock()
	over := float64(c.live) > highWater*float64(c.capacity)
	c.mu.Unlock()
	if over || float64(w) > checkEveryFraction*float64(c.capacity) {
		c.kickMaintain()
	}
}

// maintainLoop is the cache's one background goroutine: it runs Maintain
// when kicked, until Close.
func (c *Cache) maintainLoop(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
			if err := c.Maintain(ctx); err != nil && ctx.Err() == nil {
				if errors.Is(err, ErrOverCapacity) {
					c.log.Warn("cache over capacity", "err", err)
				} else {
					c.log.Warn("cache maintenance failed; will retry on the next write", "err", err)
				}
			}
		}
	}
}

// Maintain brings the cache within its capacity now: it drops queued
// damaged tracks, evicts least-recently-played complete tracks (then idle
// incomplete ones) in one batch, and runs value-log GC until Badger finds
// nothing more to rewrite. The background goroutine calls it after writes;
// tests and benchmarks may call it directly.
func (c *Cache) Maintain(ctx context.Context) error {
	c.maintMu.Lock()
	defer c.maintMu.Unlock()
	if err := c.rlock(); err != nil {
		return err
	}
	defer c.runlock()
	c.written.Store(0)
	c.advise()
	c.mu.Lock()
	pending := c.pendingDrop
	c.pendingDrop = nil
	c.mu.Unlock()
	if len(pending) > 0 {
		if err := c.dropPrefixes(pending); err != nil {
			return err
		}
		c.gc(ctx)
	}
	for range maxMaintainRounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.mu.Lock()
		live := c.live
		c.mu.Unlock()
		disk, err := diskUsage(c.dbDir)
		if err != nil {
			return fmt.Errorf("measuring cache disk use: %w", err)
		}
		high, low := int64(highWater*float64(c.capacity)), int64(lowWater*float64(c.capacity))
		if live <= high && disk <= c.capacity {
			return nil
		}
		if live <= high {
			// Garbage, not live data: try GC alone first.
			if c.gc(ctx) > 0 {
				continue
			}
			// Disk is over with little live data: Badger's fixed overhead
			// (memtable, head value log, tables). Evicting below half the
			// capacity would not help; report it instead of emptying the cache.
			if live <= c.capacity/2 {
				return fmt.Errorf("%w: %d bytes on disk for %d live: capacity too small for Badger's overhead", ErrOverCapacity, disk, live)
			}
		}
		need := live - low
		if disk > c.capacity {
			need = max(need, disk-low)
		}
		victims := c.pickVictims(need)
		if len(victims) == 0 {
			return fmt.Errorf("%w: %d live bytes, %d on disk, capacity %d", ErrOverCapacity, live, disk, c.capacity)
		}
		n, err := c.evict(victims, false)
		if err != nil {
			return err
		}
		c.log.Debug("evicted tracks", "tracks", n, "live_before", live, "disk_before", disk)
		c.gc(ctx)
	}
	return nil
}

// advise applies MADV_RANDOM to the value-log mappings unless disabled.
func (c *Cache) advise() {
	if c.o.Badger.KeepReadahead || c.o.Badger.UseBadgerDefaults {
		return
	}
	adviseRandom(c.dbDir)
}

// pickVictims returns unpinned tracks in eviction order until their bytes
// reach need: complete tracks least recently played first, then
// incomplete tracks idle for IncompleteGrace, least recently used first.
func (c *Cache) pickVictims(need int64) []track.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.o.Now().UnixNano()
	type cand struct {
		id       track.ID
		complete bool
		use      int64
		bytes    int64
	}
	var cands []cand
	for id, e := range c.tracks {
		if c.pins[id] > 0 {
			continue
		}
		if e.complete() {
			cands = append(cands, cand{id, true, e.lastUse(), e.bytes})
			continue
		}
		if e.lastWrite != 0 && now-e.lastWrite < int64(c.o.IncompleteGrace) {
			continue
		}
		cands = append(cands, cand{id, false, max(e.lastUse(), e.lastWrite), e.bytes})
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.complete != b.complete {
			return a.complete
		}
		if a.use != b.use {
			return a.use < b.use
		}
		return string(a.id[:]) < string(b.id[:])
	})
	var ids []track.ID
	var sum int64
	for _, cd := range cands {
		if sum >= need {
			break
		}
		ids = append(ids, cd.id)
		sum += cd.bytes
	}
	return ids
}

// evict removes tracks from the index and drops their key prefixes in one
// DropPrefix. Pinned tracks are skipped unless force. The caller holds
// closeMu for reading. It returns how many tracks went.
func (c *Cache) evict(ids []track.ID, force bool) (int, error) {
	c.dropMu.Lock()
	defer c.dropMu.Unlock()
	c.mu.Lock()
	var gone []track.ID
	for _, id := range ids {
		e := c.tracks[id]
		if e == nil || (!force && c.pins[id] > 0) {
			continue
		}
		delete(c.tracks, id)
		c.manis.remove(id)
		c.live -= e.bytes
		c.st.evictions++
		c.st.evictedBytes += e.bytes
		gone = append(gone, id)
	}
	c.mu.Unlock()
	if len(gone) == 0 {
		return 0, nil
	}
	return len(gone), c.dropPrefixesLocked(gone)
}

func (c *Cache) dropPrefixes(ids []track.ID) error {
	c.dropMu.Lock()
	defer c.dropMu.Unlock()
	return c.dropPrefixesLocked(ids)
}

// dropPrefixesLocked runs DropPrefix; the caller holds dropMu for writing,
// so none of our writes race it into ErrBlockedWrites.
func (c *Cache) dropPrefixesLocked(ids []track.ID) error {
	prefixes := make([][]byte, len(ids))
	for i, id := range ids {
		prefixes[i] = trackPrefix(id)
	}
	var err error
	for range 3 {
		if err = c.db.DropPrefix(prefixes...); !errors.Is(err, badger.ErrBlockedWrites) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("dropping %d evicted tracks: %w", len(ids), err)
	}
	return nil
}

// gc runs value-log GC until nothing is worth rewriting and returns how
// many files were rewritten. The caller must not hold dropMu.
func (c *Cache) gc(ctx context.Context) int {
	n := 0
	for range maxGCRounds {
		if ctx.Err() != nil {
			break
		}
		// Badger v4.9.6 reads memTable.maxVersion during a GC rewrite
		// without the lock its write goroutine holds (a data race the race
		// detector reports), so our writes wait for each file rewrite; reads
		// go on. The lock is released between files.
		c.dropMu.Lock()
		err := c.db.RunValueLogGC(c.o.GCDiscardRatio)
		c.dropMu.Unlock()
		if err == nil {
			n++
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			c.log.Warn("value-log GC", "err", err)
		}
		break
	}
	if n > 0 {
		c.mu.Lock()
		c.st.gcRewrites += int64(n)
		c.mu.Unlock()
	}
	return n
}

// Remove evicts one track now, pinned or not (e.g. withdrawn from the
// catalogue), and reclaims its space. Removing an absent track is a no-op.
func (c *Cache) Remove(ctx context.Context, id track.ID) error {
	c.maintMu.Lock()
	defer c.maintMu.Unlock()
	if err := c.rlock(); err != nil {
		return err
	}
	defer c.runlock()
	if _, err := c.evict([]track.ID{id}, true); err != nil {
		return fmt.Errorf("removing %s: %w", id.Short(), err)
	}
	c.gc(ctx)
	return nil
}
