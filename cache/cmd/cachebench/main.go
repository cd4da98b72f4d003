// Command cachebench measures the track cache on this machine: it fills a
// cache with 16 KiB chunks at full speed, then streams new tracks in at a
// fixed rate while playing cached tracks (reads) and evicting, and reports
// peak anonymous memory, write throughput, read latency and disk use.
//
//	go run ./cache/cmd/cachebench -fill 500MiB -stream 30s
//	go run ./cache/cmd/cachebench -badger-defaults          # the comparison run
//	sudo go run ./cache/cmd/cachebench -cgroup-limit 64MiB  # inside a memory cgroup (v1)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/starling-audio/starling/cache"
	"github.com/starling-audio/starling/p2p/track"
)

func main() {
	var (
		dir        = flag.String("dir", "", "cache directory (default: a fresh temporary one, removed at exit)")
		fill       = flag.String("fill", "500MiB", "bytes written at full speed, and the cache capacity")
		capFlag    = flag.String("capacity", "", "cache capacity (default: -fill)")
		trackSize  = flag.String("track", "5MiB", "size of each synthetic track")
		stream     = flag.Duration("stream", 30*time.Second, "duration of the fixed-rate phase")
		rate       = flag.String("rate", "1.6MiB", "bytes per second written during the streaming phase")
		readRate   = flag.Int("reads", 100, "chunk reads per second during the streaming phase")
		burst      = flag.Int("burst-reads", 20000, "chunk reads at full speed on the warm cache for latency")
		defaults   = flag.Bool("badger-defaults", false, "use Badger's default options instead of ours")
		gogc       = flag.Int("gogc", 50, "GOGC for this process (the daemon's setting)")
		memlimit   = flag.String("memlimit", "24MiB", "soft Go memory limit (GOMEMLIMIT), 0 for none")
		cgroupLim  = flag.String("cgroup-limit", "", "run inside a new cgroup v1 memory cgroup with this limit (needs root)")
		verboseLog = flag.Bool("v", false, "log the cache at INFO")
	)
	flag.Parse()
	if err := run(opts{*dir, must(parseSize(*fill)), *capFlag, must(parseSize(*trackSize)), *stream, must(parseSize(*rate)),
		*readRate, *burst, *defaults, *gogc, must(parseSize(*memlimit)), *cgroupLim, *verboseLog}); err != nil {
		fmt.Fprintln(os.Stderr, "cachebench:", err)
		os.Exit(1)
	}
}

type opts struct {
	dir          string
	fill         int64
	capacity     string
	trackSize    int64
	stream       time.Duration
	rate         int64
	reads, burst int
	defaults     bool
	gogc         int
	memlimit     int64
	cgroupLimit  string
	verbose      bool
}

func must(v int64, err error) int64 {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cachebench:", err)
		os.Exit(2)
	}
	return v
}

// parseSize reads "500MiB", "1.6MiB", "64MB", "1024".
func parseSize(s string) (int64, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	mult := 1.0
	for _, u := range []struct {
		suf string
		m   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(f * mult), nil
}

func run(o opts) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cgroupLimit != "" {
		lim, err := parseSize(o.cgroupLimit)
		if err != nil {
			return err
		}
		cleanup, err := enterCgroup(lim)
		if err != nil {
			return err
		}
		defer cleanup()
	}
	debug.SetGCPercent(o.gogc)
	if o.memlimit > 0 {
		debug.SetMemoryLimit(o.memlimit)
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "cachebench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	capacity := o.fill
	if o.capacity != "" {
		c, err := parseSize(o.capacity)
		if err != nil {
			return err
		}
		capacity = c
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	copts := cache.Options{Dir: o.dir, CapacityBytes: capacity, Badger: cache.BadgerOptions{UseBadgerDefaults: o.defaults}}

	mem := &sampler{}
	sctx, scancel := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Add(1)
	go func() { defer swg.Done(); mem.run(sctx) }()
	defer func() { scancel(); swg.Wait() }()

	c, err := cache.Open(ctx, copts, log)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("cachebench: dir %s, capacity %s, track %s, badger defaults %v, GOGC %d, memlimit %s, cgroup %q\n",
		o.dir, mib(capacity), mib(o.trackSize), o.defaults, o.gogc, mib(o.memlimit), o.cgroupLimit)

	// Phase 1: fill at full speed.
	b := &bench{c: c, trackSize: o.trackSize}
	start := time.Now()
	var written int64
	var writeLat []time.Duration
	for written < o.fill && ctx.Err() == nil {
		n, lat, err := b.writeTrack(ctx, 0)
		if err != nil {
			return err
		}
		written += n
		writeLat = append(writeLat, lat...)
	}
	el := time.Since(start)
	fmt.Printf("fill:   %s in %.2fs = %.1f MiB/s (incl. AES-CTR + SHA-256 of each chunk by the generator); PutChunk p50 %v p99 %v; peak RssAnon %s\n",
		mib(written), el.Seconds(), float64(written)/(1<<20)/el.Seconds(), pct(writeLat, 50), pct(writeLat, 99), mib(mem.peakAnon.Load()))
	if err := c.Maintain(ctx); err != nil && !errors.Is(err, cache.ErrOverCapacity) {
		return err
	}

	// Phase 2: read latency on the warm cache.
	lat, err := b.readBurst(ctx, o.burst)
	if err != nil {
		return err
	}
	fmt.Printf("reads:  %d random chunks on the warm cache: p50 %v p99 %v max %v\n", len(lat), pct(lat, 50), pct(lat, 99), pct(lat, 100))

	// Phase 3: stream new tracks in at a fixed rate while playing old ones.
	st0 := c.Stats()
	slat, rlat, err := b.stream(ctx, o.stream, o.rate, o.reads)
	if err != nil {
		return err
	}
	st := c.Stats()
	fmt.Printf("stream: %v at %s/s: PutChunk p50 %v p99 %v max %v; ReadChunk p50 %v p99 %v max %v; evictions %d\n",
		o.stream, mib(o.rate), pct(slat, 50), pct(slat, 99), pct(slat, 100), pct(rlat, 50), pct(rlat, 99), pct(rlat, 100), st.Evictions-st0.Evictions)

	// Disk after eviction and GC.
	if err := c.Maintain(ctx); err != nil && !errors.Is(err, cache.ErrOverCapacity) {
		return err
	}
	st = c.Stats()
	fmt.Printf("disk:   %s on disk for %s live (%.1f%% over), capacity %s, %d tracks, GC rewrites %d, evictions %d\n",
		mib(st.DiskBytes), mib(st.LiveBytes), 100*float64(st.DiskBytes-st.LiveBytes)/float64(max(st.LiveBytes, 1)),
		mib(st.CapacityBytes), st.Tracks, st.GCRewrites, st.Evictions)
	scancel()
	swg.Wait()
	fmt.Printf("memory: peak RssAnon %s, VmHWM %s (samples every 50 ms, %d samples)\n", mib(mem.peakAnon.Load()), mib(mem.hwm.Load()), mem.n.Load())
	if o.cgroupLimit != "" {
		printCgroup()
	}
	return nil
}

// bench holds the synthetic workload's state.
type bench struct {
	c         *cache.Cache
	trackSize int64
	mu        sync.Mutex
	complete  []track.ID
}

// writeTrack generates a track (keystream of a fresh key = encrypted
// zeros), stores it, and paces chunk writes at interval (0: full speed).
func (b *bench) writeTrack(ctx context.Context, interval time.Duration) (int64, []time.Duration, error) {
	key, err := track.NewKey()
	if err != nil {
		return 0, nil, err
	}
	size := b.trackSize
	m := &track.Manifest{Size: size, DurationMs: uint32(size * 1000 / 20000), Codec: track.CodecVorbis, SampleRate: 44100, Channels: 2}
	zero := make([]byte, track.ChunkSize)
	chunk := make([]byte, track.ChunkSize)
	gen := func(i int) []byte {
		n := m.ChunkLen(i)
		if err := track.XORKeyStreamAt(key, chunk[:n], zero[:n], m.ChunkOffset(i)); err != nil {
			panic(err) // offsets are non-negative by construction
		}
		return chunk[:n]
	}
	nChunks := int((size + track.ChunkSize - 1) / track.ChunkSize)
	m.Chunks = make([]track.Hash, nChunks)
	for i := range nChunks {
		m.Chunks[i] = track.HashChunk(gen(i))
	}
	raw, err := m.MarshalBinary()
	if err != nil {
		return 0, nil, err
	}
	id, _ := m.ID()
	unpin := b.c.Pin(id) // being written: never evicted
	defer unpin()
	if err := b.c.PutManifest(id, raw); err != nil {
		return 0, nil, err
	}
	if err := b.c.PutKey(id, key); err != nil {
		return 0, nil, err
	}
	lat := make([]time.Duration, 0, nChunks)
	var tick *time.Ticker
	if interval > 0 {
		tick = time.NewTicker(interval)
		defer tick.Stop()
	}
	for i := range nChunks {
		if tick != nil {
			select {
			case <-ctx.Done():
				return 0, lat, ctx.Err()
			case <-tick.C:
			}
		}
		data := gen(i)
		t0 := time.Now()
		if err := b.c.PutChunk(id, i, data); err != nil {
			return 0, lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	b.mu.Lock()
	b.complete = append(b.complete, id)
	b.mu.Unlock()
	return size, lat, nil
}

func (b *bench) randomComplete(r *rand.Rand) (track.ID, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.complete) > 0 {
		i := r.IntN(len(b.complete))
		id := b.complete[i]
		if b.c.Complete(id) {
			return id, true
		}
		b.complete = slices.Delete(b.complete, i, i+1) // evicted
	}
	return track.ID{}, false
}

func (b *bench) readBurst(ctx context.Context, n int) ([]time.Duration, error) {
	r := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, n)
	var buf []byte
	nChunks := int((b.trackSize + track.ChunkSize - 1) / track.ChunkSize)
	for len(lat) < n && ctx.Err() == nil {
		id, ok := b.randomComplete(r)
		if !ok {
			return lat, errors.New("no complete track to read")
		}
		t0 := time.Now()
		var err error
		buf, err = b.c.ReadChunk(id, r.IntN(nChunks), buf)
		if errors.Is(err, cache.ErrNotFound) {
			continue
		}
		if err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// stream writes new tracks at rate bytes/s while a player reads chunks of
// random complete tracks (pinned while playing, touched at start).
func (b *bench) stream(ctx context.Context, d time.Duration, rate int64, reads int) (writes, readLat []time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var rerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(3, 4))
		tick := time.NewTicker(time.Second / time.Duration(max(reads, 1)))
		defer tick.Stop()
		var buf []byte
		nChunks := int((b.trackSize + track.ChunkSize - 1) / track.ChunkSize)
		for {
			id, ok := b.randomComplete(r)
			if !ok {
				return
			}
			unpin := b.c.Pin(id)
			b.c.Touch(id)
			for i := 0; i < 200 && i < nChunks; i++ {
				select {
				case <-ctx.Done():
					unpin()
					return
				case <-tick.C:
				}
				t0 := time.Now()
				var err error
				buf, err = b.c.ReadChunk(id, i, buf)
				if err != nil {
					rerr = fmt.Errorf("reading a pinned track: %w", err)
					unpin()
					return
				}
				readLat = append(readLat, time.Since(t0))
			}
			unpin()
		}
	}()
	interval := time.Duration(float64(time.Second) * track.ChunkSize / float64(rate))
	for ctx.Err() == nil {
		_, lat, err := b.writeTrack(ctx, interval)
		writes = append(writes, lat...)
		if err != nil && ctx.Err() == nil {
			cancel()
			wg.Wait()
			return writes, readLat, err
		}
	}
	wg.Wait()
	return writes, readLat, rerr
}

// sampler records peak RssAnon and VmHWM from /proc/self/status.
type sampler struct {
	peakAnon, hwm, n atomic.Int64
}

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sampler) sample() {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	s.n.Add(1)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			if v*1024 > s.peakAnon.Load() {
				s.peakAnon.Store(v * 1024)
			}
		case "VmHWM:":
			s.hwm.Store(v * 1024)
		}
	}
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return s[i].Round(time.Microsecond)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

const cgroupRoot = "/sys/fs/cgroup/memory"

var cgroupDir string

// enterCgroup creates a cgroup v1 memory cgroup with the limit and moves
// this process into it; cleanup moves it back and removes the cgroup.
func enterCgroup(limit int64) (func(), error) {
	cgroupDir = filepath.Join(cgroupRoot, fmt.Sprintf("cachebench-%d", os.Getpid()))
	if err := os.Mkdir(cgroupDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating memory cgroup (cgroup v1 at %s, needs root): %w", cgroupRoot, err)
	}
	write := func(file, v string) error { return os.WriteFile(filepath.Join(cgroupDir, file), []byte(v), 0o644) }
	if err := write("memory.limit_in_bytes", strconv.FormatInt(limit, 10)); err != nil {
		os.Remove(cgroupDir)
		return nil, err
	}
	write("memory.swappiness", "0")
	if err := write("cgroup.procs", strconv.Itoa(os.Getpid())); err != nil {
		os.Remove(cgroupDir)
		return nil, err
	}
	return func() {
		os.WriteFile(filepath.Join(cgroupRoot, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		os.Remove(cgroupDir)
	}, nil
}

func printCgroup() {
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(cgroupDir, f))
		return strings.TrimSpace(string(b))
	}
	max, _ := strconv.ParseInt(read("memory.max_usage_in_bytes"), 10, 64)
	lim, _ := strconv.ParseInt(read("memory.limit_in_bytes"), 10, 64)
	oom := strings.ReplaceAll(read("memory.oom_control"), "\n", ", ")
	fmt.Printf("cgroup: limit %s, max usage (anon + page cache) %s, failcnt %s, %s\n", mib(lim), mib(max), read("memory.failcnt"), oom)
}
