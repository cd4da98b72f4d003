package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/starling-audio/starling/p2p/track"
)

// Defaults for Options. Each field of Options documents which one it uses.
const (
	DefaultCapacityPercent = 10
	DefaultCapacityCap     = 10_000_000_000 // 10 GB
	DefaultGCDiscardRatio  = 0.3
	DefaultIncompleteGrace = time.Minute
	// MinCapacity is the smallest capacity Open accepts: a handful of
	// 16 KiB chunks plus Badger's own files.
	MinCapacity = 1 << 20
)

// ErrBadOptions is wrapped by every Validate error.
var ErrBadOptions = errors.New("cache: invalid options")

// Options configures a Cache. The zero value of every field but Dir means
// "use the default".
type Options struct {
	// Dir holds the cache: the Badger database lives in Dir/db, moved-aside
	// corrupt databases beside it. Required.
	Dir string
	// DeviceKeyPath is the 32-byte device key file, created with mode 0600
	// on first start. Default Dir/device.key (outside the Badger directory,
	// so a corrupt database can be moved aside without losing it).
	DeviceKeyPath string
	// CapacityBytes, when positive, is the capacity in bytes on disk and
	// overrides CapacityPercent and CapacityCap.
	CapacityBytes int64
	// CapacityPercent of the space available to the cache when it opens
	// (free space of Dir's filesystem plus what the cache already uses).
	// Default 10.
	CapacityPercent float64
	// CapacityCap caps the percentage-based capacity. Default 10 GB.
	CapacityCap int64
	// GCDiscardRatio is handed to Badger's RunValueLogGC after evictions: a
	// value-log file with at least this fraction of garbage is rewritten.
	// Default 0.3; must be in (0, 1).
	GCDiscardRatio float64
	// IncompleteGrace protects an incomplete, unpinned track from eviction
	// for this long after its last write. Default one minute.
	IncompleteGrace time.Duration
	// Now is the clock for last-played times. Default time.Now.
	Now func() time.Time
	// Badger tunes the database for the board.
	Badger BadgerOptions
}

// BadgerOptions are the Badger knobs we expose, with defaults measured for a
// 512 MB board (see /work/shared/notes/badger-small-board.md and the
// cachebench figures in the package documentation). Compression and
// Badger's own encryption are always off: chunks are already encrypted.
type BadgerOptions struct {
	// UseBadgerDefaults ignores every other field and uses
	// badger.DefaultOptions (for comparison runs; ~2 GB of RAM at 500 MiB).
	UseBadgerDefaults       bool
	MemTableSize            int64 // default 1 MiB, at least 64 KiB
	NumMemtables            int   // default 1
	NumLevelZeroTables      int   // default 2
	NumLevelZeroTablesStall int   // default 4, more than NumLevelZeroTables
	BaseTableSize           int64 // default 1 MiB
	ValueThreshold          int64 // default 1 KiB; chunks above it go to the value log
	ValueLogFileSize        int64 // default 16 MiB, in [1 MiB, 2 GiB)
	BlockCacheSize          int64 // default 0
	IndexCacheSize          int64 // default 0
	NumCompactors           int   // default 2 (Badger refuses 1)
	SyncWrites              bool  // default false: a lost chunk is fetched again
	// KeepReadahead leaves the kernel's read-ahead on Badger's value-log
	// mappings. By default they are advised MADV_RANDOM (Linux) after Open
	// and at each maintenance pass, because chunk reads are random 16 KiB
	// reads and read-ahead floods a small memory cgroup's page cache.
	KeepReadahead bool
}

func (b BadgerOptions) withDefaults() BadgerOptions {
	def := func(p *int64, v int64) {
		if *p == 0 {
			*p = v
		}
	}
	defi := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&b.MemTableSize, 1<<20)
	defi(&b.NumMemtables, 1)
	defi(&b.NumLevelZeroTables, 2)
	defi(&b.NumLevelZeroTablesStall, 4)
	def(&b.BaseTableSize, 1<<20)
	def(&b.ValueThreshold, 1<<10)
	def(&b.ValueLogFileSize, 16<<20)
	defi(&b.NumCompactors, 2)
	return b
}

// validate checks the combinations Badger would reject or panic on.
func (b BadgerOptions) validate() error {
	if b.UseBadgerDefaults {
		return nil
	}
	b = b.withDefaults()
	switch {
	case b.MemTableSize < 64<<10 || b.MemTableSize > 1<<30:
		return fmt.Errorf("%w: Badger.MemTableSize %d not in [64 KiB, 1 GiB]", ErrBadOptions, b.MemTableSize)
	case b.NumMemtables < 1:
		return fmt.Errorf("%w: Badger.NumMemtables %d < 1", ErrBadOptions, b.NumMemtables)
	case b.NumLevelZeroTables < 1 || b.NumLevelZeroTablesStall <= b.NumLevelZeroTables:
		return fmt.Errorf("%w: Badger.NumLevelZeroTablesStall (%d) must exceed NumLevelZeroTables (%d) >= 1",
			ErrBadOptions, b.NumLevelZeroTablesStall, b.NumLevelZeroTables)
	case b.BaseTableSize < 64<<10:
		return fmt.Errorf("%w: Badger.BaseTableSize %d < 64 KiB", ErrBadOptions, b.BaseTableSize)
	case b.ValueThreshold < 1 || b.ValueThreshold >= track.ChunkSize:
		return fmt.Errorf("%w: Badger.ValueThreshold %d must be in [1, %d) so chunks go to the value log",
			ErrBadOptions, b.ValueThreshold, track.ChunkSize)
	case b.ValueThreshold > 15*b.MemTableSize/100:
		return fmt.Errorf("%w: Badger.ValueThreshold %d exceeds 15%% of MemTableSize (%d); raise MemTableSize",
			ErrBadOptions, b.ValueThreshold, b.MemTableSize)
	case b.ValueLogFileSize < 1<<20 || b.ValueLogFileSize >= 2<<30:
		return fmt.Errorf("%w: Badger.ValueLogFileSize %d not in [1 MiB, 2 GiB)", ErrBadOptions, b.ValueLogFileSize)
	case b.BlockCacheSize < 0 || b.IndexCacheSize < 0:
		return fmt.Errorf("%w: negative Badger cache size", ErrBadOptions)
	case b.NumCompactors < 2:
		return fmt.Errorf("%w: Badger.NumCompactors %d: Badger needs at least 2", ErrBadOptions, b.NumCompactors)
	}
	return nil
}

// badgerOptions builds Badger's options for dir.
func (b BadgerOptions) badgerOptions(dir string, log *slog.Logger) badger.Options {
	lg := slogAdapter{log}
	if b.UseBadgerDefaults {
		return badger.DefaultOptions(dir).WithLogger(lg)
	}
	b = b.withDefaults()
	return badger.DefaultOptions(dir).
		WithLogger(lg).
		WithMetricsEnabled(false).
		WithMemTableSize(b.MemTableSize).
		WithNumMemtables(b.NumMemtables).
		WithNumLevelZeroTables(b.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(b.NumLevelZeroTablesStall).
		WithBaseTableSize(b.BaseTableSize).
		WithValueThreshold(b.ValueThreshold).
		WithValueLogFileSize(b.ValueLogFileSize).
		WithBlockCacheSize(b.BlockCacheSize).
		WithIndexCacheSize(b.IndexCacheSize).
		WithCompression(options.None).
		WithNumCompactors(b.NumCompactors).
		WithDetectConflicts(false).
		WithSyncWrites(b.SyncWrites).
		WithNumVersionsToKeep(1)
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.DeviceKeyPath == "" && o.Dir != "" {
		o.DeviceKeyPath = filepath.Join(o.Dir, "device.key")
	}
	if o.CapacityPercent == 0 {
		o.CapacityPercent = DefaultCapacityPercent
	}
	if o.CapacityCap == 0 {
		o.CapacityCap = DefaultCapacityCap
	}
	if o.GCDiscardRatio == 0 {
		o.GCDiscardRatio = DefaultGCDiscardRatio
	}
	if o.IncompleteGrace == 0 {
		o.IncompleteGrace = DefaultIncompleteGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports whether o (after defaults) can open a cache. It checks
// the Badger combinations that would otherwise panic inside Badger.
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.Dir == "":
		return fmt.Errorf("%w: Dir is empty; set it to the cache directory", ErrBadOptions)
	case o.CapacityBytes < 0:
		return fmt.Errorf("%w: CapacityBytes %d is negative", ErrBadOptions, o.CapacityBytes)
	case o.CapacityBytes > 0 && o.CapacityBytes < MinCapacity:
		return fmt.Errorf("%w: CapacityBytes %d below the minimum %d", ErrBadOptions, o.CapacityBytes, MinCapacity)
	case o.CapacityPercent <= 0 || o.CapacityPercent > 100:
		return fmt.Errorf("%w: CapacityPercent %v not in (0, 100]", ErrBadOptions, o.CapacityPercent)
	case o.CapacityCap < MinCapacity:
		return fmt.Errorf("%w: CapacityCap %d below the minimum %d", ErrBadOptions, o.CapacityCap, MinCapacity)
	case o.GCDiscardRatio <= 0 || o.GCDiscardRatio >= 1:
		return fmt.Errorf("%w: GCDiscardRatio %v not in (0, 1)", ErrBadOptions, o.GCDiscardRatio)
	case o.IncompleteGrace < 0:
		return fmt.Errorf("%w: IncompleteGrace %v is negative", ErrBadOptions, o.IncompleteGrace)
	}
	return o.Badger.validate()
}

// slogAdapter routes Badger's printf-style logger to slog. Badger's INFO
// lines ("DropPrefix called", "Resuming writes") are developer detail, so
// they go to DEBUG; its warnings and errors keep their level.
type slogAdapter struct{ l *slog.Logger }

var _ badger.Logger = slogAdapter{}

func (a slogAdapter) log(level slog.Level, format string, args []any) {
	if !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (a slogAdapter) Errorf(f string, v ...any)   { a.log(slog.LevelError, f, v) }
func (a slogAdapter) Warningf(f string, v ...any) { a.log(slog.LevelWarn, f, v) }
func (a slogAdapter) Infof(f string, v ...any)    { a.log(slog.LevelDebug, f, v) }
func (a slogAdapter) Debugf(f string, v ...any)   { a.log(slog.LevelDebug, f, v) }
