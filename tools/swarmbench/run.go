package swarmbench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/demo"
	"github.com/starling-audio/starling/tools/fleet"
)

// Sample is one point of the bytes-over-time series: cumulative bytes by
// source, summed over the fleet, at SimSeconds of simulated time.
type Sample struct {
	SimSeconds           float64
	Origin, Peers, Cache float64
}

// speaker is the benchmark's view of one daemon.
type speaker struct {
	i  int
	fs *fleet.Speaker

	mu         sync.Mutex
	base, last counters // counters of earlier processes; of the current one
	gen        int      // bumps when the process is stopped
	peakAnon   int64    // KiB
	peakHWM    int64    // KiB
	plays      []*play  // every track start seen on the event stream
	skips      int
	leaves     int
	ctlErrors  int
	unexpected int  // exits the benchmark did not cause
	lost       bool // could not be restarted; out of the run from then on
	// Event-stream bookkeeping: underrun events, malformed events,
	// follow-ons that were not the queued track, sessions ended by the
	// watchdog because their end was not seen on the stream.
	underrunEvents, badEvents, unexpectedTracks, watchdogResets int
}

func (s *speaker) total() counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base.add(s.last)
}

// Run runs one benchmark and returns its result and the bytes series.
func Run(ctx context.Context, cfg Config) (Result, []Sample, error) {
	var res Result
	if err := cfg.defaults(); err != nil {
		return res, nil, err
	}
	log := cfg.Log.With("component", "swarmbench")
	if _, err := os.Stat(filepath.Join(cfg.Dir, "fleet")); err == nil {
		return res, nil, fmt.Errorf("%w: %s holds an earlier run; give an empty or new directory", ErrConfig, cfg.Dir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return res, nil, fmt.Errorf("creating the run directory: %w", err)
	}
	files, err := demo.MakeTracks(ctx, filepath.Join(cfg.Dir, "audio"), cfg.Distinct, cfg.TrackSeconds)
	if err != nil {
		return res, nil, fmt.Errorf("making tracks: %w", err)
	}
	copies := (cfg.Tracks + cfg.Distinct - 1) / cfg.Distinct

	netCtx, stopNet := context.WithCancel(ctx)
	defer stopNet()
	var nw *network
	var netFn func(int, fleet.NetAddrs) (fleet.NetAddrs, error)
	if !cfg.NoNetem {
		if nw, err = newNetwork(netCtx, &cfg); err != nil {
			return res, nil, err
		}
		defer nw.close()
		netFn = nw.speaker
	}
	log.Info("starting fleet", "speakers", cfg.Speakers, "tracks", cfg.Distinct*copies)
	fl, err := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(cfg.Dir, "fleet"), Bin: cfg.Bin, Speakers: cfg.Speakers,
		Tracks: files, Copies: copies, Speed: cfg.Speed, NoPeers: cfg.NoP2P,
		NoTracker: cfg.NoTracker, NoOverlaySearch: cfg.NoSearch, Decode: map[string]string{"decode": "full", "bitrate": "bitrate"}[cfg.Audio], ExtraConfig: cfg.ExtraConfig,
		Net: netFn, OwnIPs: true, AudibleSpeaker: -1, MemoryLimit: cfg.MemoryLimit, Log: log})
	if err != nil {
		return res, nil, err
	}
	defer fl.Close()

	ids, err := catalogue(ctx, fl.Speakers[0].Control)
	if err != nil {
		return res, nil, err
	}
	index := make(map[track.ID]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	pop := Popularity(cfg.Seed, len(ids))
	infos, err := readManifests(filepath.Join(cfg.Dir, "fleet", "catalog"), ids)
	if err != nil {
		return res, nil, err
	}
	durs := make([]time.Duration, len(infos))
	for i, in := range infos {
		durs[i] = cfg.wall(in.duration)
	}

	sp := make([]*speaker, len(fl.Speakers))
	for i, s := range fl.Speakers {
		sp[i] = &speaker{i: i, fs: s}
	}
	wallDur := cfg.wall(cfg.Duration)
	cpu0 := selfCPU()
	begin := time.Now()
	end := begin.Add(wallDur)
	runCtx, stopRun := context.WithDeadline(ctx, end)
	defer stopRun()

	var wg sync.WaitGroup
	var series []Sample
	var seriesMu sync.Mutex
	sample := func() {
		var tot counters = counters{}
		for _, s := range sp {
			tot = tot.add(s.total())
		}
		seriesMu.Lock()
		series = append(series, Sample{SimSeconds: time.Since(begin).Seconds() * cfg.Speed,
			Origin: tot[mOrigin], Peers: tot[mPeers], Cache: tot[mCache]})
		seriesMu.Unlock()
	}
	var bar *progressbar.ProgressBar
	if cfg.Progress != nil {
		bar = progressbar.NewOptions64(int64(cfg.Duration.Seconds()), progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription(fmt.Sprintf("%d speakers, simulated seconds", len(sp))),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(500*time.Millisecond),
			progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
	}
	wg.Add(1)
	go func() { // sampler: metrics, memory, series, progress
		defer wg.Done()
		tick := time.NewTicker(scrapeEvery(len(sp)))
		defer tick.Stop()
		for {
			scrapeAll(runCtx, sp)
			sample()
			if bar != nil {
				bar.Set64(int64(min(time.Since(begin), wallDur).Seconds() * cfg.Speed))
			}
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	for _, s := range sp {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := NewListener(&cfg, s.i, len(ids), pop)
			a := agent{cfg: &cfg, fl: fl, s: s, l: l, ids: ids, index: index, durs: durs, log: log.With("speaker", s.fs.Name)}
			a.run(runCtx)
		}()
	}
	wg.Wait()
	if bar != nil {
		bar.Finish()
	}
	if err := ctx.Err(); err != nil {
		return res, nil, fmt.Errorf("benchmark interrupted: %w", err)
	}
	// Final figures from every running speaker.
	unread := scrapeAll(ctx, sp)
	sample()
	res = summarise(&cfg, sp, infos, time.Since(begin), time.Now())
	res.BenchCPU = math.Round((selfCPU()-cpu0).Seconds()*10) / 10
	res.BenchCPUPct = pct(res.BenchCPU, time.Since(begin).Seconds())
	res.OriginNetSecondHalf = secondHalfOriginShare(series)
	if unread > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the final metrics of %d speakers could not be read (saturated machine?): their bytes are counted up to their last successful scrape", unread))
	}
	if nw != nil {
		res.Notes = append(res.Notes, nw.notes()...)
	}
	if cfg.MemoryLimit > 0 {
		for _, s := range sp {
			st, err := s.fs.CgroupStats()
			if err != nil {
				return res, series, err
			}
			res.OOMKills += st.OOMKills
			res.CgroupLimitHits += st.FailCount
			res.PeakCgroupMB = math.Max(res.PeakCgroupMB, float64(st.MaxUsage)/(1<<20))
		}
	}
	stopNet()
	if err := fl.Close(); err != nil {
		log.Warn("stopping the fleet", "err", err)
		res.Notes = append(res.Notes, "fleet stop: "+err.Error())
	}
	return res, series, nil
}

// catalogue lists every track ID in catalogue order.
func catalogue(ctx context.Context, c *control.Client) ([]track.ID, error) {
	var ids []track.ID
	for {
		r, err := c.Search(ctx, catalogueQuery, len(ids), control.MaxSearchLimit)
		if err != nil {
			return nil, fmt.Errorf("listing the catalogue: %w", err)
		}
		for _, t := range r.Tracks {
			ids = append(ids, t.ID)
		}
		if len(r.Tracks) == 0 || len(ids) >= r.Total {
			break
		}
	}
	if len(ids) < 2 {
		return nil, fmt.Errorf("the catalogue lists %d tracks; want at least 2", len(ids))
	}
	return ids, nil
}

// scrape refreshes a speaker's counters and memory peaks, unless the
// speaker was stopped in the meantime.
func scrape(ctx context.Context, s *speaker) error {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	if !s.fs.Running() {
		return nil
	}
	anon, hwm, rssErr := fleet.RSS(s.fs.PID())
	m, err := s.fs.Metrics(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rssErr == nil {
		s.peakAnon, s.peakHWM = max(s.peakAnon, anon), max(s.peakHWM, hwm)
	}
	if err == nil && gen == s.gen {
		s.last = keep(m)
	}
	return err
}

// scrapeAll scrapes every speaker, a few at a time, each with its own
// timeout (one slow daemon on a saturated machine must not starve the rest
// of a shared deadline), and returns how many could not be read.
func scrapeAll(ctx context.Context, sp []*speaker) int {
	var failed atomic.Int64
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, s := range sp {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if scrape(sctx, s) != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// selfCPU is the user+system CPU time this process (the bench: proxies,
// agents, scrapes; not the daemons) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scrapeEvery is the wall interval between scrapes of every speaker's
// metrics and memory: 2 s, and 5 s above 50 speakers so that the bench
// stays a small share of two cores.
func scrapeEvery(speakers int) time.Duration {
	if speakers > 50 {
		return 5 * time.Second
	}
	return 2 * time.Second
}

// catalogueQuery matches every generated track (their artist is
// "Starling Demo Band"; tools/demo.MakeTracks).
const catalogueQuery = "starling demo"

// secondHalfOriginShare is the origin's share of network bytes over the
// second half of the run, after the caches have warmed up.
func secondHalfOriginShare(series []Sample) float64 {
	if len(series) < 2 {
		return 0
	}
	last := series[len(series)-1]
	mid := series[0]
	for _, s := range series {
		if s.SimSeconds <= last.SimSeconds/2 {
			mid = s
		}
	}
	o, p := last.Origin-mid.Origin, last.Peers-mid.Peers
	return pct(o, o+p)
}
