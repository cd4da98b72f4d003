package swarmbench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
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
	plays      int
	skips      int
	leaves     int
	ctlErrors  int
	unexpected int // exits the benchmark did not cause
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
		Tracks: files, Copies: copies, Speed: cfg.Speed, NoPeers: cfg.NoP2P, ExtraConfig: cfg.ExtraConfig,
		Net: netFn, OwnIPs: true, MemoryLimit: cfg.MemoryLimit, Log: log})
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

	sp := make([]*speaker, len(fl.Speakers))
	for i, s := range fl.Speakers {
		sp[i] = &speaker{i: i, fs: s}
	}
	wallDur := cfg.wall(cfg.Duration)
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
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			for _, s := range sp {
				scrape(runCtx, s)
			}
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
	trackWall := cfg.wall(time.Duration(cfg.TrackSeconds) * time.Second)
	for _, s := range sp {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := NewListener(&cfg, s.i, len(ids), pop)
			a := agent{cfg: &cfg, fl: fl, s: s, l: l, ids: ids, index: index, trackWall: trackWall, log: log.With("speaker", s.fs.Name)}
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
	final, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, s := range sp {
		scrape(final, s)
	}
	sample()
	res = summarise(&cfg, sp, len(ids), time.Since(begin))
	res.OriginNetSecondHalf = secondHalfOriginShare(series)
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
func scrape(ctx context.Context, s *speaker) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	if !s.fs.Running() {
		return
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
}

// agent plays one speaker's listener against its daemon.
type agent struct {
	cfg       *Config
	fl        *fleet.Fleet
	s         *speaker
	l         *Listener
	ids       []track.ID
	index     map[track.ID]int
	trackWall time.Duration
	log       interface {
		Debug(string, ...any)
		Warn(string, ...any)
	}

	cur     int // catalogue position playing, -1 none
	act     Action
	started time.Time
}

const pollEvery = 500 * time.Millisecond

func (a *agent) run(ctx context.Context) {
	a.cur = -1
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if a.cur < 0 {
			a.startSession(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.s.fs.Exited():
			if ctx.Err() != nil {
				return
			}
			// Not stopped by us: a crash or an OOM kill. Count, restart.
			a.s.mu.Lock()
			a.s.unexpected++
			a.s.base, a.s.last = a.s.base.add(a.s.last), nil
			a.s.gen++
			a.s.mu.Unlock()
			a.log.Warn("speaker exited unexpectedly; restarting", "log", a.s.fs.LogPath())
			if err := a.fl.RestartSpeaker(ctx, a.s.i); err != nil {
				a.log.Warn("restart failed", "err", err)
				return
			}
			a.cur = -1
			continue
		case <-tick.C:
		}
		if a.l.Leaves(a.cfg.Speed * pollEvery.Seconds()) {
			a.leave(ctx)
			continue
		}
		a.step(ctx)
	}
}

func (a *agent) ctlError(op string, err error) {
	a.s.mu.Lock()
	a.s.ctlErrors++
	a.s.mu.Unlock()
	a.log.Debug("control call failed", "op", op, "err", err)
}

func (a *agent) begin(act Action) {
	a.cur, a.act, a.started = act.Track, act, time.Now()
	a.s.mu.Lock()
	a.s.plays++
	a.s.mu.Unlock()
}

func (a *agent) startSession(ctx context.Context) {
	act := a.l.Start()
	if _, err := a.s.fs.Control.Play(ctx, control.PlayRequest{TrackID: a.ids[act.Track]}); err != nil {
		if ctx.Err() == nil {
			a.ctlError("play", err)
		}
		return
	}
	a.begin(act)
	a.queueNext(ctx)
}

func (a *agent) queueNext(ctx context.Context) {
	if !a.act.Follow {
		return
	}
	if _, err := a.s.fs.Control.Queue(ctx, control.PlayRequest{TrackID: a.ids[a.act.Track+1]}); err != nil && ctx.Err() == nil {
		a.ctlError("queue", err)
	}
}

func (a *agent) step(ctx context.Context) {
	st, err := a.s.fs.Control.Status(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.ctlError("status", err)
		}
		return
	}
	since := time.Since(a.started)
	switch {
	case st.Track != nil && st.Track.ID != a.ids[a.cur]:
		t, ok := a.index[st.Track.ID]
		if !ok {
			a.cur = -1
			return
		}
		a.begin(a.l.Then(t)) // the queued track started (gapless)
		a.queueNext(ctx)
		return
	case st.State == control.StateStopped && since > time.Second:
		a.cur = -1 // the session ended (no follow-on queued)
		return
	}
	if a.act.SkipAt > 0 && since > time.Duration(a.act.SkipAt*float64(a.trackWall)) {
		a.act.SkipAt = 0
		a.s.mu.Lock()
		a.s.skips++
		a.s.mu.Unlock()
		if err := a.s.fs.Control.Next(ctx); err != nil && ctx.Err() == nil {
			a.ctlError("next", err)
		}
	}
}

// leave stops the speaker for ChurnDown (simulated) and brings it back
// with its cache, as an owner unplugging it would.
func (a *agent) leave(ctx context.Context) {
	m, err := a.s.fs.Metrics(ctx)
	a.s.mu.Lock()
	if err == nil {
		a.s.last = keep(m)
	}
	a.s.base, a.s.last = a.s.base.add(a.s.last), nil
	a.s.gen++
	a.s.leaves++
	a.s.mu.Unlock()
	if err := a.fl.StopSpeaker(a.s.i, 10*time.Second); err != nil {
		a.log.Warn("stopping for churn", "err", err)
	}
	down := a.cfg.wall(time.Duration(a.l.Uniform(0.5, 1.5) * float64(a.cfg.ChurnDown)))
	t := time.NewTimer(down)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if err := a.fl.RestartSpeaker(ctx, a.s.i); err != nil && ctx.Err() == nil {
		a.log.Warn("rejoining after churn", "err", err)
	}
	a.cur = -1
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
