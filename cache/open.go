package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	badger "github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/starling-audio/starling/p2p/track"
)

// corruptSuffix marks a database directory moved aside.
const corruptSuffix = ".corrupt-"

// openDB opens the database and rebuilds the index. When either fails for
// any reason other than the caller's context or another process holding
// the lock, the directory is moved aside and a fresh database created.
//
// Badger opens table files on its own goroutines, where a damaged table
// panics beyond our recover. So an opening marker (Dir/db.opening) is
// created before Badger opens and removed once the index is built: if it is
// still there at the next Open, the previous one died opening this
// database, which is then treated as corrupt. A process killed while
// opening therefore loses its cache once; the speaker plays on.
func (c *Cache) openDB(ctx context.Context) error {
	marker := c.dbDir + ".opening"
	var err error
	if _, serr := os.Stat(marker); serr == nil {
		err = fmt.Errorf("a previous open of %s did not finish (crashed inside Badger?)", c.dbDir)
	} else {
		if werr := os.WriteFile(marker, nil, 0o600); werr != nil {
			return fmt.Errorf("writing %s: %w (is the cache directory writable?)", marker, werr)
		}
		err = c.tryOpenDB(ctx)
		if err == nil || ctx.Err() != nil || isLockError(err) {
			if rerr := os.Remove(marker); rerr != nil && err == nil {
				c.db.Close()
				return fmt.Errorf("removing %s: %w", marker, rerr)
			}
			return err
		}
	}
	aside := c.dbDir + corruptSuffix + c.o.Now().UTC().Format("20060102T150405.000000000Z")
	c.log.Error("cache database unusable; moving it aside and starting empty (tracks will come from the network)",
		"dir", c.dbDir, "aside", aside, "err", err)
	if rerr := os.Rename(c.dbDir, aside); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("moving unusable cache database %s aside: %w (after: %w); remove it by hand", c.dbDir, rerr, err)
	}
	c.removeOldAside(aside)
	c.mu.Lock()
	c.tracks = make(map[track.ID]*entry)
	c.live = 0
	c.st.recoveries++
	c.mu.Unlock()
	if err := c.tryOpenDB(ctx); err != nil {
		return fmt.Errorf("opening a fresh cache database in %s: %w", c.dbDir, err)
	}
	if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.db.Close()
		return fmt.Errorf("removing %s: %w", marker, err)
	}
	return nil
}

// removeOldAside deletes earlier moved-aside databases, keeping only the
// newest (keep), so repeated corruption cannot fill the disk.
func (c *Cache) removeOldAside(keep string) {
	matches, err := filepath.Glob(c.dbDir + corruptSuffix + "*")
	if err != nil {
		return
	}
	for _, m := range matches {
		if m == keep {
			continue
		}
		if err := os.RemoveAll(m); err != nil {
			c.log.Warn("removing old moved-aside cache database", "dir", m, "err", err)
		}
	}
}

func isLockError(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// tryOpenDB opens Badger (turning a panic in Open into an error) and scans
// the keys into the index.
func (c *Cache) tryOpenDB(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger panicked opening %s: %v", c.dbDir, r)
			if c.db != nil {
				c.db.Close()
				c.db = nil
			}
		}
	}()
	if err := os.MkdirAll(c.dbDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", c.dbDir, err)
	}
	if err := c.removeEmptyValueLogs(); err != nil {
		return err
	}
	db, err := badger.Open(c.o.Badger.badgerOptions(c.dbDir, c.log.With("lib", "badger")))
	if err != nil {
		return fmt.Errorf("opening badger database %s: %w", c.dbDir, err)
	}
	c.db = db
	if err := c.scan(ctx); err != nil {
		c.db.Close()
		c.db = nil
		return fmt.Errorf("indexing cache database %s: %w", c.dbDir, err)
	}
	return nil
}

// removeEmptyValueLogs deletes zero-length value-log files before Badger
// opens. A process killed just after Badger created its next value-log file
// leaves one, and Badger v4.9.6 then refuses to open ("Open existing file
// ... Create a new file": logFile.open bootstraps the empty file but still
// returns z.NewFile). An empty file holds no data, so removing it is safe.
func (c *Cache) removeEmptyValueLogs() error {
	logs, err := filepath.Glob(filepath.Join(c.dbDir, "*.vlog"))
	if err != nil {
		return err
	}
	for _, p := range logs {
		info, err := os.Stat(p)
		if err != nil || info.Size() != 0 {
			continue
		}
		c.log.Warn("removing empty value-log file left by a crash", "file", p)
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("removing empty value-log file %s: %w", p, err)
		}
	}
	return nil
}

// scan rebuilds the in-memory index from keys and track records. Tracks
// without a valid record and manifest (a crash cannot produce one, since
// both are written in one transaction, but a damaged disk can) are
// dropped; so are chunk keys outside their manifest's range.
func (c *Cache) scan(ctx context.Context) error {
	var (
		orphans [][]byte
		stray   [][]byte
		cur     track.ID
		have    bool
		chunks  []uint32
		rec     *record
		mani    bool
	)
	tracks := make(map[track.ID]*entry)
	var live int64
	flush := func() {
		if !have {
			return
		}
		if rec == nil || !mani {
			orphans = append(orphans, trackPrefix(cur))
			return
		}
		e := newEntry(*rec)
		for _, i := range chunks {
			if !e.set(int(i)) {
				stray = append(stray, chunkKey(cur, int(i)))
			}
		}
		tracks[cur] = e
		live += e.bytes
	}
	err := c.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			k := item.Key()
			if len(k) < prefixLen+1 || k[0] != keyTrack {
				stray = append(stray, item.KeyCopy(nil))
				continue
			}
			id := track.ID(k[1:prefixLen])
			if !have || id != cur {
				flush()
				cur, have, chunks, rec, mani = id, true, chunks[:0], nil, false
			}
			switch kind := k[prefixLen]; {
			case kind == kindChunk && len(k) == chunkKeyLen:
				chunks = append(chunks, uint32(k[prefixLen+1])<<24|uint32(k[prefixLen+2])<<16|uint32(k[prefixLen+3])<<8|uint32(k[prefixLen+4]))
			case kind == kindRecord && len(k) == prefixLen+1:
				if item.ValueSize() > recordLen+64 {
					continue
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return fmt.Errorf("reading record of %s: %w", cur.Short(), err)
				}
				r, err := decodeRecord(v)
				if err != nil {
					c.log.Warn("dropping track with a damaged record", "track", cur, "err", err)
					continue
				}
				rec = &r
			case kind == kindMani && len(k) == prefixLen+1:
				mani = true
			case kind == kindKey && len(k) == prefixLen+1:
			default:
				stray = append(stray, item.KeyCopy(nil))
			}
		}
		flush()
		return nil
	})
	if err != nil {
		return err
	}
	if len(orphans) > 0 {
		c.log.Warn("dropping incomplete track entries left by a crash or damage", "tracks", len(orphans))
		if err := c.db.DropPrefix(orphans...); err != nil {
			return fmt.Errorf("dropping orphaned tracks: %w", err)
		}
	}
	if len(stray) > 0 {
		c.log.Warn("deleting stray keys", "keys", len(stray))
		wb := c.db.NewWriteBatch()
		for _, k := range stray {
			if err := wb.Delete(k); err != nil {
				wb.Cancel()
				return fmt.Errorf("deleting stray keys: %w", err)
			}
		}
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("deleting stray keys: %w", err)
		}
	}
	c.mu.Lock()
	c.tracks, c.live = tracks, live
	c.mu.Unlock()
	return nil
}

// computeCapacity applies the options: a fixed byte count, or a percentage
// of the space available to the cache (free space plus what the database
// already occupies, so a full cache does not shrink itself at every
// restart), capped.
func (c *Cache) computeCapacity() (int64, error) {
	if c.o.CapacityBytes > 0 {
		return c.o.CapacityBytes, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(c.o.Dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s to size the cache: %w (set CapacityBytes to skip it)", c.o.Dir, err)
	}
	used, _ := diskUsage(c.dbDir)
	avail := int64(st.Bavail)*int64(st.Bsize) + used
	capacity := min(int64(float64(avail)*c.o.CapacityPercent/100), c.o.CapacityCap)
	if capacity < MinCapacity {
		return 0, fmt.Errorf("cache capacity %d bytes (%.1f%% of %d available in %s) is below the minimum %d: free some space or set CapacityBytes",
			capacity, c.o.CapacityPercent, avail, c.o.Dir, MinCapacity)
	}
	return capacity, nil
}

// diskUsage sums the blocks allocated to the files under dir: Badger's
// value-log and memtable files are sparse while open, so apparent sizes
// would overstate what the cache costs.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted by GC while walking
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}
