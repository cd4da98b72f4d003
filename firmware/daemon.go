package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/starling-audio/starling/audio"
	"github.com/starling-audio/starling/board"
	"github.com/starling-audio/starling/cache"
	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/origin"
	"github.com/starling-audio/starling/p2p/session"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
)

// Daemon is a running speaker: New checks the configuration and starts
// nothing; Run opens every subsystem in order, runs them until ctx ends and
// shuts them down in reverse order; Close is idempotent and safe at any
// time.
type Daemon struct {
	cfg     Config
	version string
	log     *slog.Logger

	// Output, when set, replaces the audio device (tests and benchmarks
	// use audio.VirtualOutput). Set before Run.
	Output audio.Output
	// Ready, when set, is called once every subsystem is up.
	Ready func(*Daemon)

	mu       sync.Mutex
	closers  []func() error // in opening order; closed in reverse
	closed   bool
	playback *playback
	metrics  *metrics
	ctlAddr  string
	cache    *cache.Cache

	readySent atomic.Bool // sd_notify READY sent: part of the update health gate
}

// New checks cfg and returns an idle daemon.
func New(cfg Config, version string, log *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Daemon{cfg: cfg, version: version, log: log}, nil
}

func (d *Daemon) onClose(f func() error) {
	d.mu.Lock()
	d.closers = append(d.closers, f)
	d.mu.Unlock()
}

// Close shuts everything down in reverse opening order. Idempotent.
func (d *Daemon) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	cs := d.closers
	d.closers = nil
	d.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ControlAddr is the control API's bound address once Ready has run.
func (d *Daemon) ControlAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctlAddr
}

// Player returns the control API's view of the daemon (for tests and the
// self-test).
func (d *Daemon) Player() control.Player { return d.playback }

// Run runs the speaker until ctx ends. It returns nil on a clean shutdown.
// ErrRestartRequested when the update agent installed a version or
// rolled one back: the caller restarts the process.
func (d *Daemon) Run(parent context.Context) (err error) {
	cfg := d.cfg
	log := d.log
	ctx, cancelRun := context.WithCancel(parent)
	defer cancelRun()
	restart := &restartFlag{cancel: cancelRun}
	defer func() {
		if cerr := d.Close(); err == nil {
			err = cerr
		}
	}()
	if lim, _ := cfg.Runtime.MemoryLimitBytes(); lim > 0 {
		debug.SetMemoryLimit(lim)
	}
	for _, dir := range []string{cfg.Device.StateDir, cfg.Device.CacheDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w (set device.state_dir/cache_dir to a directory the daemon's user owns)", dir, err)
		}
	}

	// 0. Update boot gate: count this start of a version on probation,
	// finish an interrupted install or rollback. A broken update directory
	// does not stop the speaker playing.
	var upd *updates
	if cfg.Update.Enabled {
		agent, err := NewUpdateAgent(cfg, d.version, restart, log)
		if err != nil {
			return err
		}
		exe, _ := os.Executable()
		if res, err := agent.Boot(exe); err != nil {
			log.Error("update boot gate failed; running without updates", "dir", cfg.Update.Dir, "err", err)
		} else if res.RolledBack != "" {
			return ErrRestartRequested
		} else {
			upd = &updates{agent: agent, d: d, trigger: make(chan struct{}, 1)}
		}
	}

	// 1. Cache: a corrupt one is moved aside by cache.Open itself.
	capBytes, capPct, _ := cfg.Cache.CapacitySpec()
	capCap, _ := cfg.Cache.CapBytes()
	c, err := cache.Open(ctx, cache.Options{
		Dir: cfg.Device.CacheDir, DeviceKeyPath: filepath.Join(cfg.Device.StateDir, "cache.key"),
		CapacityBytes: int64(capBytes), CapacityPercent: capPct, CapacityCap: int64(capCap),
	}, log)
	if err != nil {
		return fmt.Errorf("opening the track cache in %s: %w", cfg.Device.CacheDir, err)
	}
	d.cache = c
	d.onClose(c.Close)

	// 2. Identity and the service link (optional: without credentials the
	// speaker plays only what it has cached).
	key, err := loadOrCreateDeviceKey(filepath.Join(cfg.Device.StateDir, "device.key"))
	if err != nil {
		return err
	}
	var link *serviceLink
	originURL := cfg.Service.Origin
	if creds, cerr := loadCredentials(cfg.Service.Credentials); cerr == nil {
		link, err = newServiceLink(creds, cfg.Service.Address, key, d.version, log)
		if err != nil {
			return fmt.Errorf("device credentials %s: %w", cfg.Service.Credentials, err)
		}
		if originURL == "" {
			originURL = creds.OriginURL
		}
	} else {
		log.Warn("no catalogue service: playing from the cache only", "err", cerr)
	}

	// 3. Audio output and player.
	out := d.Output
	var virtual *audio.VirtualOutput
	if out == nil && cfg.Audio.Backend == "virtual" {
		virtual, err = audio.NewVirtualOutput(audio.VirtualConfig{})
		if err != nil {
			return err
		}
		out = virtual
		log.Info("audio on the virtual clock", "speed", cfg.Audio.Speed)
	}
	if out == nil {
		out, err = audio.OpenDevice(audio.DeviceConfig{Backend: cfg.Audio.Backend}, log)
		if err != nil {
			return fmt.Errorf("opening the audio output: %w", err)
		}
	}
	d.onClose(out.Close)

	// 4. Board: knobs, LED, amplifier, DAC volume.
	b, err := OpenBoard(ctx, cfg.Board, log)
	if err != nil {
		return err
	}
	d.onClose(b.Close)
	mode, err := audio.ParseDecodeMode(cfg.Audio.Decode)
	if err != nil {
		return fmt.Errorf("audio.decode: %w", err)
	}
	pcfg := audio.PlayerConfig{Volume: 40, Decode: mode}
	if v := b.Volume(); v != nil {
		pcfg.HardwareVolume = dacVolume{v}
		pcfg.Volume = v.Get()
	}
	player, err := audio.NewPlayer(pcfg, out, log)
	if err != nil {
		return fmt.Errorf("creating the player: %w", err)
	}
	d.onClose(player.Close)

	// 5. Origin and streamer.
	var org stream.Origin = offlineOrigin{}
	if originURL != "" {
		oc, err := origin.New(origin.Config{BaseURL: originURL, Logger: log.With("component", "origin")})
		if err != nil {
			return fmt.Errorf("origin %q: %w", originURL, err)
		}
		d.onClose(oc.Close)
		org = oc
	}
	var cat stream.Catalog = offlineCatalog{}
	if link != nil {
		cat = link
	}
	scfg := stream.DefaultConfig()
	scfg.WellFilled = seconds(cfg.Stream.WellFilledSeconds)
	scfg.Low = seconds(cfg.Stream.LowSeconds)
	scfg.VeryLow = seconds(cfg.Stream.VeryLowSeconds)
	scfg.OriginAhead = seconds(cfg.Stream.OriginAheadSeconds)
	scfg.PrefetchSearch = seconds(cfg.Stream.PrefetchSeconds)
	scfg.PrefetchOrigin = seconds(cfg.Stream.OriginPrefetchSeconds)
	scfg.Logger = log
	deps := stream.Deps{Store: c, Catalog: cat, Origin: org}
	if virtual != nil && cfg.Audio.Speed != 1 {
		// The streamer's seconds are the player's: buffer levels and
		// deadlines in audio time (the network looks Speed times slower).
		deps.Clock = stream.ScaledClock(nil, cfg.Audio.Speed)
	}
	var peers *peerLink
	if link != nil && cfg.Peer.Enabled && cfg.Peer.Listen != "" {
		peers = &peerLink{cfg: cfg.Peer, link: link, c: c, log: log}
		deps.Peers, deps.Uploads = peers, peers
	}
	streamer, err := stream.New(scfg, deps)
	if err != nil {
		return fmt.Errorf("creating the streamer: %w", err)
	}
	d.onClose(streamer.Close)

	pb := &playback{
		life: ctx, log: log.With("component", "playback"), version: d.version,
		player: player, streamer: streamer, link: link,
		meta: map[track.ID]control.Track{}, streams: map[string]*openStream{},
	}
	d.onClose(func() error { pb.closeAll(); return nil })
	msrc := metricSources{player: player, streamer: streamer, cache: c,
		loggedIn: link.online}
	if peers != nil {
		pb.neigh, msrc.neighbours, msrc.uploaded = peers.neighbours, peers.neighbours, peers.uploaded
	}
	m := newMetrics(msrc)
	if upd != nil {
		upd.register(m.reg)
	}
	d.mu.Lock()
	d.playback, d.metrics = pb, m
	d.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	if err := player.Start(gctx); err != nil {
		return fmt.Errorf("starting the player: %w", err)
	}
	if virtual != nil {
		g.Go(func() error { return virtual.Run(gctx, cfg.Audio.Speed) })
	}
	g.Go(func() error { return b.Run(gctx) })
	g.Go(func() error { return b.Dispatch(gctx, pb) })
	g.Go(func() error { return streamer.Run(gctx) })
	if link != nil {
		g.Go(func() error { return link.Run(gctx) })
		g.Go(func() error { return d.announceLoop(gctx, link, c) })
	}
	if peers != nil {
		g.Go(func() error { return peers.Run(gctx) })
	}
	g.Go(func() error { return d.eventLoop(gctx, player, pb, m, b) })
	if upd != nil {
		every, _, _ := cfg.Update.Durations()
		g.Go(func() error { return upd.loop(gctx, link, every) })
	}

	// 6. Control API with /metrics.
	if cfg.Control.Listen != "" {
		tok, err := control.LoadOrCreateToken(cfg.Control.TokenFile)
		if err != nil {
			return fmt.Errorf("control API token: %w", err)
		}
		mounts := []control.Mount{{Pattern: "GET /metrics", Handler: promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})}}
		if upd != nil {
			mounts = append(mounts, upd.mounts(tok)...)
		}
		srv, err := control.New(control.Config{
			Addr: cfg.Control.Listen, Token: tok, Player: pb, Logger: log, Version: d.version,
			DeviceName: cfg.Device.Name, MDNS: cfg.Control.MDNS, Mounts: mounts,
		})
		if err != nil {
			return fmt.Errorf("control API: %w", err)
		}
		ln, err := listen(gctx, cfg.Control.Listen)
		if err != nil {
			return fmt.Errorf("control API on %s: %w (another starlingd running? change control.listen)", cfg.Control.Listen, err)
		}
		d.mu.Lock()
		d.ctlAddr = ln.Addr().String()
		d.mu.Unlock()
		g.Go(func() error { return srv.Serve(gctx, ln) })
		d.onClose(srv.Close)
	}

	// 7. Ready: tell systemd, then feed its watchdog while audio is alive.
	if _, err := sddaemon.SdNotify(false, sddaemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	}
	d.readySent.Store(true)
	if upd != nil {
		g.Go(func() error {
			if err := upd.agent.Gate(gctx, upd.health(player, link)); err != nil {
				log.Error("update health gate", "err", err)
			}
			return nil
		})
	}
	g.Go(func() error { return d.watchdog(gctx, player) })
	b.SetStatus(gctx, board.StatusIdle)
	log.Info("starlingd ready", "version", d.version, "control", d.ControlAddr(), "board", cfg.Board.Name, "service", link != nil)
	if d.Ready != nil {
		d.Ready(d)
	}
	<-gctx.Done()
	sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
	log.Info("starlingd stopping")
	werr := g.Wait()
	if restart.requested.Load() && parent.Err() == nil {
		return ErrRestartRequested
	}
	if ctx.Err() != nil {
		return nil // a cancelled context is a clean exit
	}
	return werr
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// eventLoop feeds metrics, the playback queue, the board's LED and amplifier
// from the player's events.
func (d *Daemon) eventLoop(ctx context.Context, p *audio.Player, pb *playback, m *metrics, b *board.Board) error {
	ev, unsub := p.Subscribe(64)
	defer unsub()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-ev:
			if !ok {
				return nil
			}
			m.observe(e)
			switch e.Kind {
			case audio.EventStarted:
				pb.trackStarted(e.TrackID)
				b.SetPlaying(ctx, true)
				b.SetStatus(ctx, board.StatusPlaying)
				d.log.Info("track started", "track", e.TrackID, "latency", e.Latency)
			case audio.EventEnded, audio.EventError:
				pb.trackEnded(e.TrackID)
				if e.Err != nil {
					d.log.Warn("track ended early", "track", e.TrackID, "err", e.Err)
				}
				if st, err := p.Stats(ctx); err == nil && st.State == audio.StateStopped {
					b.SetPlaying(ctx, false)
					b.SetStatus(ctx, board.StatusIdle)
				}
			case audio.EventUnderrun:
				d.log.Warn("stutter: audio buffer ran dry", "track", e.TrackID, "position", e.Position)
			}
		}
	}
}

// announceLoop tells the tracker which complete tracks this speaker holds:
// every track that became complete within 2 s (the list is an in-memory
// scan of the cache's index); the session re-announces all after a
// reconnect.
func (d *Daemon) announceLoop(ctx context.Context, link *serviceLink, c *cache.Cache) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	sent := map[track.ID]bool{}
	var client *session.Client
	for {
		cur, _ := link.client()
		if cur != client { // a new login: the session has its own record
			clear(sent)
		}
		if ids, err := c.CompleteTracks(); err == nil && cur != nil {
			var fresh []track.ID
			for _, id := range ids {
				if !sent[id] {
					fresh = append(fresh, id)
				}
			}
			if err := link.announce(ctx, d.advertise(), fresh); err == nil {
				for _, id := range fresh {
					sent[id] = true
				}
				client = cur
			} else if !errors.Is(err, ErrOffline) && ctx.Err() == nil {
				d.log.Warn("announcing cached tracks failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// advertise is the peer address announced to the tracker; empty when this
// speaker does not serve peers.
func (d *Daemon) advertise() string {
	if !d.cfg.Peer.Enabled || d.cfg.Peer.Listen == "" {
		return ""
	}
	if d.cfg.Peer.Advertise != "" {
		return d.cfg.Peer.Advertise
	}
	return d.cfg.Peer.Listen
}

// watchdog feeds systemd's watchdog only while the audio device keeps
// calling back: a hung audio pipeline gets the daemon restarted.
func (d *Daemon) watchdog(ctx context.Context, p *audio.Player) error {
	interval, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return nil
	}
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := p.Stats(ctx)
		if err != nil {
			continue
		}
		if st.Callbacks != last {
			last = st.Callbacks
			sddaemon.SdNotify(false, sddaemon.SdNotifyWatchdog)
		} else {
			d.log.Error("audio device stopped calling back; withholding the watchdog")
		}
	}
}

// dacVolume adapts the board's DAC volume to the player's hook.
type dacVolume struct{ v *board.Volume }

func (h dacVolume) SetVolume(pct int) error { _, err := h.v.Set(pct); return err }

// offlineOrigin and offlineCatalog stand in when no service is configured:
// every fetch fails with ErrOffline, cached tracks still play.
type offlineOrigin struct{}

func (offlineOrigin) FetchChunks(context.Context, track.ID, *track.Manifest, int, int, func(int, []byte) error) error {
	return ErrOffline
}

type offlineCatalog struct{}

func (offlineCatalog) Manifest(context.Context, track.ID) ([]byte, error) { return nil, ErrOffline }
func (offlineCatalog) Key(context.Context, track.ID) (track.Key, error) {
	return track.Key{}, ErrOffline
}

// listen opens a TCP listener bound to ctx.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}
