package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"
)

// HardwareVolume is a volume control outside the PCM path (a DAC's
// register). When PlayerConfig.HardwareVolume is set the player calls it
// instead of scaling samples.
type HardwareVolume interface {
	SetVolume(pct int) error
}

// PlayerConfig configures a Player. Zero values take the documented
// defaults.
type PlayerConfig struct {
	// Buffer is the PCM ring size in time. Default 1 s.
	Buffer time.Duration
	// FillInterval is how often the player tops up the ring when the
	// output gives no wake-ups (the real device). Default 5 ms.
	FillInterval time.Duration
	// PositionInterval is how often Position events are sent. Default 1 s.
	PositionInterval time.Duration
	// HardwareVolume, when set, receives volume changes instead of the
	// software gain.
	HardwareVolume HardwareVolume
	// Volume is the starting volume in percent. Default 100.
	Volume int
	// Clock is used for latency; default the system clock.
	Clock Clock
	// Decode is DecodeFull (the zero value: decode and play the music) or
	// DecodeBitrate (benchmarks: read and demux the bytes as DecodeFull
	// does, play silence of the same length instead of decoding).
	Decode DecodeMode
}

func (c PlayerConfig) withDefaults() PlayerConfig {
	if c.Buffer == 0 {
		c.Buffer = time.Second
	}
	if c.FillInterval == 0 {
		c.FillInterval = 5 * time.Millisecond
	}
	if c.PositionInterval == 0 {
		c.PositionInterval = time.Second
	}
	if c.Volume == 0 {
		c.Volume = 100
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c PlayerConfig) Validate() error {
	c = c.withDefaults()
	if c.Buffer < 50*time.Millisecond || c.Buffer > 30*time.Second {
		return fmt.Errorf("%w: buffer %v (50ms..30s)", ErrConfig, c.Buffer)
	}
	if c.FillInterval < 100*time.Microsecond || c.FillInterval > c.Buffer/4 {
		return fmt.Errorf("%w: fill interval %v (100µs..buffer/4)", ErrConfig, c.FillInterval)
	}
	if c.PositionInterval <= 0 {
		return fmt.Errorf("%w: position interval %v", ErrConfig, c.PositionInterval)
	}
	if c.Volume < 0 || c.Volume > 100 {
		return fmt.Errorf("%w: volume %d%% (0..100)", ErrConfig, c.Volume)
	}
	if c.Decode != DecodeFull && c.Decode != DecodeBitrate {
		return fmt.Errorf("%w: decode mode %v", ErrConfig, c.Decode)
	}
	return nil
}

// EventKind says what happened.
type EventKind int

const (
	EventStarted  EventKind = iota + 1 // a track's first frame reached the device
	EventPosition                      // periodic playback position
	EventEnded                         // a track's last frame reached the device (Err set if it ended early)
	EventUnderrun                      // the device ran dry while playing (a stutter)
	EventError                         // a track cannot go on (corrupt, truncated, unreadable)
)

func (k EventKind) String() string {
	switch k {
	case EventStarted:
		return "started"
	case EventPosition:
		return "position"
	case EventEnded:
		return "ended"
	case EventUnderrun:
		return "underrun"
	case EventError:
		return "error"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is sent to subscribers.
type Event struct {
	Kind     EventKind
	TrackID  string
	Position time.Duration // playback position in the track
	Latency  time.Duration // Started after a command: command to first frame at the device
	Err      error         // Ended early or Error
}

// State is the player's coarse state.
type State int

const (
	StateStopped State = iota
	StatePlaying
	StatePaused
)

func (s State) String() string {
	return [...]string{"stopped", "playing", "paused"}[s]
}

// Stats is a snapshot of the player's accounting.
type Stats struct {
	State           State
	TrackID         string
	Position        time.Duration
	Buffered        time.Duration // audio in the ring, ahead of the device
	Underruns       uint64        // stutters since creation
	UnderrunTime    time.Duration // silence inserted by them
	Starts          uint64        // latency samples
	LastLatency     time.Duration
	MaxLatency      time.Duration
	TotalLatency    time.Duration // sum, for a mean
	FramesPlayed    uint64        // track frames handed to the device (device rate)
	SilentFrames    uint64        // frames of silence the callback wrote (paused, idle, underrun)
	Callbacks       uint64
	EventsDropped   uint64 // events a slow subscriber did not take
	TracksPlayed    uint64
	TracksFailed    uint64
	Volume          int
	DeviceFormat    Format
	BufferCapFrames int
}

// waker is implemented by outputs driven from Go (VirtualOutput): a
// wake-up after each render so the player refills at once.
type waker interface{ wake() <-chan struct{} }

// trackState is the player's view of one queued track.
type trackState struct {
	tr      Track
	f       *fetcher
	pcm     pcmStage
	conv    converter
	convSet bool
	gen     uint64
	waitGen bool // drop packets until the reset of gen

	wrote     bool   // frames of it are in the ring
	segStart  uint64 // ring index of its first frame
	segEnd    uint64 // ring index after its last frame, valid when closed
	closed    bool   // nothing more will be written
	base      time.Duration
	err       error
	started   bool
	nextPos   time.Duration
	latencyAt int64 // command time (ns since engine base) to measure, -1 if none
	// stampWaits counts service rounds that waited for the callback to
	// stamp this track's first frame (bounded by maxStampWaits).
	stampWaits int
}

type command struct {
	fn    func() error
	reply chan error
}

// Player plays a queue of tracks through an Output. One goroutine (the
// actor, started by Start) owns the queue, the decoders and the producer
// side of the ring; methods send it commands and wait for the reply.
type Player struct {
	cfg  PlayerConfig
	out  Output
	log  *slog.Logger
	eng  *engine
	ring *Ring
	dev  Format

	cmds chan command

	subMu   sync.Mutex
	subs    map[chan Event]struct{}
	dropped uint64 // guarded by subMu

	startOnce, closeOnce sync.Once
	cancel               context.CancelFunc
	wg                   sync.WaitGroup // the actor and the fetchers
	closed               chan struct{}

	// owned by the actor
	q          []*trackState
	history    []Track
	volume     int
	state      State
	waiters    []waiter
	seenUnder  uint64
	stats      Stats
	convBuf    []float32
	fetchCtx   context.Context
	lastLatSet int64
}

// stopGrace is how long stopping a track waits for its fetcher before
// closing the source to unblock a Read.
const stopGrace = 200 * time.Millisecond

type waiter struct {
	frames int
	reply  chan error
}

// NewPlayer builds a player on out. It starts nothing: call Start. The
// player takes ownership of every Source queued on it (and closes them);
// the caller keeps ownership of out and closes it after the player.
func NewPlayer(cfg PlayerConfig, out Output, log *slog.Logger) (*Player, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("%w: nil output", ErrConfig)
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dev := out.Format()
	if err := dev.validate(); err != nil {
		return nil, fmt.Errorf("%w: output format: %w", ErrConfig, err)
	}
	ring, err := NewRing(int(int64(cfg.Buffer)*int64(dev.SampleRate)/int64(time.Second)), dev.Channels)
	if err != nil {
		return nil, err
	}
	p := &Player{
		cfg: cfg, out: out, log: log.With("component", "audio-player"),
		ring: ring, dev: dev, eng: newEngine(ring, dev, cfg.Clock),
		cmds: make(chan command), subs: map[chan Event]struct{}{},
		closed: make(chan struct{}), volume: cfg.Volume,
		convBuf: make([]float32, 4096*dev.Channels), lastLatSet: -1,
	}
	p.applyGain()
	return p, nil
}

// Start starts the output and the player's goroutine. The goroutine stops
// when ctx is done or Close is called.
func (p *Player) Start(ctx context.Context) error {
	err := ErrClosed
	p.startOnce.Do(func() {
		if err = p.out.Start(p.eng.render); err != nil {
			return
		}
		ctx, p.cancel = context.WithCancel(ctx)
		p.fetchCtx = ctx
		p.wg.Add(1)
		go p.run(ctx)
	})
	return err
}

// Close stops the player, closes every queued source and waits for its
// goroutines. Idempotent.
func (p *Player) Close() error {
	p.closeOnce.Do(func() {
		p.startOnce.Do(func() {}) // a never-started player stays unstarted
		if p.cancel != nil {
			p.cancel()
		}
		p.wg.Wait()
		close(p.closed)
		p.subMu.Lock()
		for c := range p.subs {
			close(c)
			delete(p.subs, c)
		}
		p.subMu.Unlock()
	})
	return nil
}

// Subscribe returns a channel of events with the given buffer and a function
// that unsubscribes. The player never waits for a subscriber: when the
// buffer is full the event is dropped and counted in Stats.EventsDropped.
// The channel is closed by unsubscribe or Close.
func (p *Player) Subscribe(buffer int) (<-chan Event, func()) {
	c := make(chan Event, max(buffer, 1))
	p.subMu.Lock()
	select {
	case <-p.closed:
		close(c)
		p.subMu.Unlock()
		return c, func() {}
	default:
	}
	p.subs[c] = struct{}{}
	p.subMu.Unlock()
	return c, func() {
		p.subMu.Lock()
		if _, ok := p.subs[c]; ok {
			delete(p.subs, c)
			close(c)
		}
		p.subMu.Unlock()
	}
}

func (p *Player) emit(e Event) {
	p.subMu.Lock()
	for c := range p.subs {
		select {
		case c <- e:
		default:
			p.dropped++
		}
	}
	p.subMu.Unlock()
}

// do runs fn on the actor and returns its error.
func (p *Player) do(ctx context.Context, fn func() error) error {
	c := command{fn: fn, reply: make(chan error, 1)}
	select {
	case p.cmds <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closed:
		return ErrClosed
	}
	select {
	case err := <-c.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Play replaces the queue with tracks and starts the first.
func (p *Player) Play(ctx context.Context, tracks ...Track) error {
	return p.do(ctx, func() error {
		p.clearQueue(nil)
		for _, t := range tracks {
			p.q = append(p.q, p.newTrack(t))
		}
		if len(p.q) == 0 {
			return ErrEmptyQueue
		}
		p.q[0].latencyAt = p.eng.sinceBase()
		p.setState(StatePlaying)
		return nil
	})
}

// Enqueue appends a track to the queue (it plays gaplessly after the
// previous one). If nothing is playing it starts.
func (p *Player) Enqueue(ctx context.Context, t Track) error {
	return p.do(ctx, func() error {
		ts := p.newTrack(t)
		if len(p.q) == 0 {
			ts.latencyAt = p.eng.sinceBase()
			p.setState(StatePlaying)
		}
		p.q = append(p.q, ts)
		return nil
	})
}

// Pause fades out and holds the position.
func (p *Player) Pause(ctx context.Context) error {
	return p.do(ctx, func() error {
		if p.state == StatePlaying {
			p.setState(StatePaused)
		}
		return nil
	})
}

// Resume continues after Pause.
func (p *Player) Resume(ctx context.Context) error {
	return p.do(ctx, func() error {
		if p.state == StatePaused {
			p.setState(StatePlaying)
		}
		return nil
	})
}

// Stop ends playback and empties the queue.
func (p *Player) Stop(ctx context.Context) error {
	return p.do(ctx, func() error {
		p.clearQueue(nil)
		p.setState(StateStopped)
		return nil
	})
}

// Next skips to the next queued track (or stops at the end of the queue).
func (p *Player) Next(ctx context.Context) error {
	return p.do(ctx, func() error {
		if len(p.q) == 0 {
			return ErrEmptyQueue
		}
		p.eng.requestFlush()
		cur := p.q[0]
		p.q = p.q[1:]
		p.history = appendHistory(p.history, cur.tr)
		p.stopTrack(cur, false)
		if err := p.rewindQueued(); err != nil {
			return err
		}
		if len(p.q) == 0 {
			p.setState(StateStopped)
			return nil
		}
		p.q[0].latencyAt = p.eng.sinceBase()
		if p.state == StateStopped {
			p.setState(StatePlaying)
		}
		return nil
	})
}

// Previous restarts the current track if it has played more than 3 s (or
// nothing was played before it), else goes back to the previous track. Both
// need sources that implement io.Seeker.
func (p *Player) Previous(ctx context.Context) error {
	return p.do(ctx, func() error {
		if len(p.q) == 0 && len(p.history) == 0 {
			return ErrEmptyQueue
		}
		if len(p.q) > 0 && (len(p.history) == 0 || p.position(p.q[0]) > 3*time.Second) {
			return p.seekCurrent(0)
		}
		prev := p.history[len(p.history)-1]
		s, ok := prev.Source.(io.Seeker)
		if !ok {
			return fmt.Errorf("going back to %s: %w", prev.ID, ErrNotSeekable)
		}
		if _, err := s.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewinding %s: %w", prev.ID, err)
		}
		p.history = p.history[:len(p.history)-1]
		p.eng.requestFlush()
		ts := p.newTrack(prev)
		ts.latencyAt = p.eng.sinceBase()
		p.q = append([]*trackState{ts}, p.q...)
		if err := p.rewindQueued(); err != nil {
			return err
		}
		if p.state == StateStopped {
			p.setState(StatePlaying)
		}
		return nil
	})
}

// Seek moves the current track to offset d. The source must implement
// io.Seeker.
func (p *Player) Seek(ctx context.Context, d time.Duration) error {
	return p.do(ctx, func() error { return p.seekCurrent(d) })
}

// SetVolume sets the volume in percent (0..100): through HardwareVolume if
// configured, else as a software gain of (pct/100)^2, ramped without clicks.
func (p *Player) SetVolume(ctx context.Context, pct int) error {
	if pct < 0 || pct > 100 {
		return fmt.Errorf("%w: volume %d%% (0..100)", ErrConfig, pct)
	}
	return p.do(ctx, func() error {
		if hv := p.cfg.HardwareVolume; hv != nil {
			if err := hv.SetVolume(pct); err != nil {
				return fmt.Errorf("setting hardware volume to %d%%: %w", pct, err)
			}
		}
		p.volume = pct
		p.applyGain()
		return nil
	})
}

// Stats returns a snapshot of the accounting.
func (p *Player) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := p.do(ctx, func() error {
		p.service()
		s = p.snapshot()
		return nil
	})
	return s, err
}

// WaitBuffered returns when the ring holds at least d of audio (capped at
// its capacity), or when nothing more can be buffered (the queue is fully
// decoded or empty). Tests and benchmarks use it to drive a VirtualOutput
// deterministically; a stalled source makes it wait for ctx.
func (p *Player) WaitBuffered(ctx context.Context, d time.Duration) error {
	reply := make(chan error, 1)
	frames := min(int(int64(d)*int64(p.dev.SampleRate)/int64(time.Second)), p.ring.Cap())
	if err := p.do(ctx, func() error {
		p.waiters = append(p.waiters, waiter{frames: frames, reply: reply})
		p.service()
		return nil
	}); err != nil {
		return err
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closed:
		return ErrClosed
	}
}

func appendHistory(h []Track, t Track) []Track {
	const keep = 8
	h = append(h, t)
	if len(h) > keep {
		_ = h[0].Source.Close()
		h = h[1:]
	}
	return h
}

func (p *Player) newTrack(t Track) *trackState {
	return &trackState{tr: t, latencyAt: -1, pcm: pcmStage{mode: p.cfg.Decode}}
}

func (p *Player) setState(s State) {
	p.state = s
	p.eng.playing.Store(s == StatePlaying)
}

func (p *Player) applyGain() {
	g := float32(1)
	if p.cfg.HardwareVolume == nil {
		v := float32(p.volume) / 100
		g = v * v
	}
	p.eng.gainBits.Store(math.Float32bits(g))
}

// stopTrack stops a track's fetcher; closeSrc also closes its source.
// It waits for the fetcher goroutine to exit, so the source is never read
// by two fetchers; a fetcher stuck in Read on a stalled source gets its
// source closed after stopGrace.
func (p *Player) stopTrack(ts *trackState, closeSrc bool) {
	if closeSrc {
		_ = ts.tr.Source.Close()
	}
	if ts.f == nil {
		return
	}
	f := ts.f
	ts.f = nil
	f.stop()
	select {
	case <-f.done:
	case <-time.After(stopGrace):
		if !closeSrc {
			_ = ts.tr.Source.Close()
		}
		<-f.done
	}
}

// clearQueue stops and closes every queued track.
func (p *Player) clearQueue(err error) {
	p.eng.requestFlush()
	for _, ts := range p.q {
		p.stopTrack(ts, true)
	}
	p.q = nil
	_ = err
}

// rewindQueued makes the queued tracks that already decoded audio into the
// (now flushed) ring start again from their beginning.
func (p *Player) rewindQueued() error {
	for i := 0; i < len(p.q); i++ {
		ts := p.q[i]
		if ts.f == nil && !ts.wrote && ts.pcm.headers == 0 {
			continue
		}
		if !ts.wrote && ts.pcm.position() == 0 && ts.err == nil && !ts.closed {
			// Primed but nothing consumed yet: keep it as is.
			ts.latencyAt = -1
			continue
		}
		if err := p.restartAt(ts, 0); err != nil {
			p.failTrack(ts, err)
			p.q = append(p.q[:i], p.q[i+1:]...)
			i--
		}
	}
	return nil
}

// restartAt asks a track's fetcher to seek to d and resets its state.
func (p *Player) restartAt(ts *trackState, d time.Duration) error {
	if _, ok := ts.tr.Source.(io.Seeker); !ok {
		return fmt.Errorf("seeking in %s: %w", ts.tr.ID, ErrNotSeekable)
	}
	if ts.f == nil {
		p.startFetcher(ts)
	}
	ts.gen = ts.f.requestSeek(d)
	ts.waitGen = true
	ts.wrote, ts.closed, ts.started, ts.err = false, false, false, nil
	ts.base, ts.nextPos = d, d
	ts.pcm.out = nil
	ts.convSet = false
	return nil
}

func (p *Player) seekCurrent(d time.Duration) error {
	if len(p.q) == 0 {
		return ErrEmptyQueue
	}
	if d < 0 {
		d = 0
	}
	if _, ok := p.q[0].tr.Source.(io.Seeker); !ok {
		return fmt.Errorf("seeking in %s: %w", p.q[0].tr.ID, ErrNotSeekable)
	}
	p.eng.requestFlush()
	if err := p.restartAt(p.q[0], d); err != nil {
		return err
	}
	p.q[0].latencyAt = p.eng.sinceBase()
	for _, ts := range p.q[1:] {
		if ts.wrote || ts.pcm.position() > 0 {
			if err := p.restartAt(ts, 0); err != nil {
				p.failTrack(ts, err)
			}
		}
	}
	return nil
}

func (p *Player) failTrack(ts *trackState, err error) {
	p.stats.TracksFailed++
	p.log.Warn("track failed", "track", ts.tr, "err", err)
	p.emit(Event{Kind: EventError, TrackID: ts.tr.ID, Err: err})
	p.stopTrack(ts, true)
}

func (p *Player) startFetcher(ts *trackState) {
	f := newFetcher(ts.tr.Source)
	ctx, cancel := context.WithCancel(p.fetchCtx)
	f.stop = cancel
	ts.f = f
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f.run(ctx)
	}()
	ts.gen = f.gen.Load()
}

func (p *Player) run(ctx context.Context) {
	defer p.wg.Done()
	tick := time.NewTicker(p.cfg.FillInterval)
	defer tick.Stop()
	var wake <-chan struct{}
	if w, ok := p.out.(waker); ok {
		wake = w.wake()
	}
	for {
		var pkts <-chan fetchMsg
		if ts := p.decoding(); ts != nil && ts.f != nil && p.ring.Free() > 0 && len(ts.pcm.out) == 0 {
			pkts = ts.f.pkts
		}
		select {
		case <-ctx.Done():
			for _, ts := range p.q {
				p.stopTrack(ts, true)
			}
			for _, t := range p.history {
				_ = t.Source.Close()
			}
			p.q, p.history = nil, nil
			for _, w := range p.waiters {
				w.reply <- ErrClosed
			}
			return
		case c := <-p.cmds:
			c.reply <- c.fn()
		case m := <-pkts:
			p.handleMsg(p.decoding(), m)
		case <-tick.C:
		case <-wake:
		}
		p.service()
	}
}

// decoding is the first queued track whose audio is not all in the ring.
func (p *Player) decoding() *trackState {
	for _, ts := range p.q {
		if !ts.closed {
			return ts
		}
	}
	return nil
}

// handleMsg applies one message from a fetcher to its track.
func (p *Player) handleMsg(ts *trackState, m fetchMsg) {
	defer func() {
		if m.data != nil && ts.f != nil {
			ts.f.recycle(m.data)
		}
	}()
	// The three header packets are the first a fetcher sends and are never
	// stale; anything else read before the latest seek is.
	header := ts.pcm.headers < 3 && m.data != nil
	if !header && (m.gen != ts.gen || (ts.waitGen && !m.reset)) {
		return
	}
	if m.reset {
		ts.waitGen = false
		if m.err != nil {
			p.endTrack(ts, fmt.Errorf("seeking in %s: %w", ts.tr.ID, m.err))
			return
		}
		ts.pcm.reset(m.target)
		return
	}
	if m.err != nil {
		if errors.Is(m.err, io.EOF) {
			if ts.pcm.headers < 3 {
				p.endTrack(ts, fmt.Errorf("%w: %s ended inside the headers", ErrTruncated, ts.tr.ID))
				return
			}
			ts.pcm.eos = true
			return
		}
		p.endTrack(ts, fmt.Errorf("reading %s: %w", ts.tr.ID, m.err))
		return
	}
	if err := ts.pcm.feed(packet{data: m.data, granule: m.granule, eos: m.eos}); err != nil {
		p.endTrack(ts, fmt.Errorf("decoding %s: %w", ts.tr.ID, err))
	}
}

// endTrack closes a track's segment early because of err.
func (p *Player) endTrack(ts *trackState, err error) {
	ts.err = err
	ts.pcm.out = nil
	p.stats.TracksFailed++
	p.log.Warn("track ends early", "track", ts.tr, "err", err)
	p.emit(Event{Kind: EventError, TrackID: ts.tr.ID, Err: err})
	p.closeSegment(ts)
}

func (p *Player) closeSegment(ts *trackState) {
	ts.closed = true
	if !ts.wrote {
		ts.segStart = p.ring.Written()
	}
	ts.segEnd = p.ring.Written()
}

// fill moves decoded audio into the ring until it is full or no packet is
// ready, priming the following track's fetcher.
func (p *Player) fill() {
	for p.ring.Free() > 0 {
		ts := p.decoding()
		if ts == nil {
			return
		}
		if ts.f == nil {
			p.startFetcher(ts)
		}
		// Prime the next track once this one's source is read to its end
		// (its last packets and the ring still play, about 3 s): headers
		// and first packets arrive in the background for a gapless change.
		if i := p.indexOf(ts); i+1 < len(p.q) && p.q[i+1].f == nil && !p.q[i+1].closed && ts.f.drained.Load() {
			p.startFetcher(p.q[i+1])
		}
		if len(ts.pcm.out) > 0 {
			p.writeFrames(ts)
			continue
		}
		if ts.pcm.eos {
			p.closeSegment(ts)
			continue
		}
		select {
		case m := <-ts.f.pkts:
			p.handleMsg(ts, m)
		default:
			return
		}
	}
}

func (p *Player) indexOf(ts *trackState) int {
	for i, t := range p.q {
		if t == ts {
			return i
		}
	}
	return -1
}

func (p *Player) writeFrames(ts *trackState) {
	if !ts.convSet {
		ts.conv = newConverter(ts.pcm.format, p.dev)
		ts.convSet = true
	}
	room := min(p.ring.Free(), len(p.convBuf)/p.dev.Channels)
	src := ts.pcm.out
	consumed, produced := ts.conv.process(src, p.convBuf[:room*p.dev.Channels])
	ts.pcm.out = src[consumed*ts.pcm.format.Channels:]
	if produced == 0 {
		return
	}
	clampSamples(p.convBuf[:produced*p.dev.Channels])
	if !ts.wrote {
		ts.wrote = true
		ts.segStart = p.ring.Written()
		if ts.latencyAt >= 0 {
			p.eng.markAt.Store(-1)
			p.eng.markFrame.Store(int64(ts.segStart))
			p.lastLatSet = ts.latencyAt
			ts.latencyAt = -1
		}
	}
	p.ring.Write(p.convBuf[:produced*p.dev.Channels])
	p.eng.expect.Store(true)
}

func (p *Player) position(ts *trackState) time.Duration {
	if !ts.wrote {
		return ts.base
	}
	r := p.ring.ReadTotal()
	if r < ts.segStart {
		return ts.base
	}
	end := r
	if ts.closed && end > ts.segEnd {
		end = ts.segEnd
	}
	return ts.base + framesToDuration(int64(end-ts.segStart), p.dev.SampleRate)
}

// maxStampWaits bounds how many service rounds a Started event waits for
// the device callback's timestamp of the first frame.
const maxStampWaits = 8

// service fills the ring, turns the device's progress into events and
// answers waiters.
func (p *Player) service() {
	p.fill()
	if p.decoding() == nil {
		p.eng.expect.Store(false) // nothing more to come: an empty ring is the end, not a stutter
	}
	r := p.ring.ReadTotal()
	for len(p.q) > 0 {
		ts := p.q[0]
		if ts.wrote && !ts.started && r > ts.segStart {
			if p.lastLatSet >= 0 && p.eng.markAt.Load() < 0 && p.eng.markFrame.Load() >= 0 && ts.stampWaits < maxStampWaits {
				// The callback has read the first frame but not yet
				// stamped it (it advances the ring first): look again next
				// round, or the play's latency would be lost.
				ts.stampWaits++
				break
			}
			ts.started = true
			ev := Event{Kind: EventStarted, TrackID: ts.tr.ID, Position: ts.base}
			if p.lastLatSet >= 0 {
				if at := p.eng.markAt.Load(); at >= 0 {
					lat := time.Duration(at - p.lastLatSet)
					ev.Latency = lat
					p.stats.Starts++
					p.stats.LastLatency = lat
					p.stats.TotalLatency += lat
					p.stats.MaxLatency = max(p.stats.MaxLatency, lat)
					p.lastLatSet = -1
				}
			}
			p.emit(ev)
		}
		if ts.closed && (r >= ts.segEnd || !ts.wrote) {
			if ts.err == nil {
				p.stats.TracksPlayed++
			}
			p.emit(Event{Kind: EventEnded, TrackID: ts.tr.ID, Position: p.position(ts), Err: ts.err})
			p.q = p.q[1:]
			p.stopTrack(ts, ts.err != nil)
			if ts.err == nil {
				p.history = appendHistory(p.history, ts.tr)
			}
			continue
		}
		if ts.started {
			if pos := p.position(ts); pos >= ts.nextPos {
				p.emit(Event{Kind: EventPosition, TrackID: ts.tr.ID, Position: pos})
				ts.nextPos = pos + p.cfg.PositionInterval
			}
		}
		break
	}
	if len(p.q) == 0 && p.state != StateStopped {
		p.setState(StateStopped)
	}
	if u := p.eng.underruns.Load(); u != p.seenUnder {
		p.seenUnder = u
		ev := Event{Kind: EventUnderrun}
		if len(p.q) > 0 {
			ev.TrackID, ev.Position = p.q[0].tr.ID, p.position(p.q[0])
		}
		p.log.Warn("audio underrun", "count", u)
		p.emit(ev)
	}
	if len(p.waiters) > 0 {
		done := p.decoding() == nil
		kept := p.waiters[:0]
		for _, w := range p.waiters {
			if done || p.ring.Buffered() >= w.frames {
				w.reply <- nil
			} else {
				kept = append(kept, w)
			}
		}
		p.waiters = kept
	}
}

func (p *Player) snapshot() Stats {
	s := p.stats
	s.State = p.state
	if len(p.q) > 0 {
		s.TrackID = p.q[0].tr.ID
		s.Position = p.position(p.q[0])
	}
	s.Buffered = framesToDuration(int64(p.ring.Buffered()), p.dev.SampleRate)
	s.Underruns = p.eng.underruns.Load()
	s.UnderrunTime = framesToDuration(int64(p.eng.underrunFrames.Load()), p.dev.SampleRate)
	s.FramesPlayed = p.eng.played.Load()
	s.SilentFrames = p.eng.silentFrames.Load()
	s.Callbacks = p.eng.callbacks.Load()
	p.subMu.Lock()
	s.EventsDropped = p.dropped
	p.subMu.Unlock()
	s.Volume = p.volume
	s.DeviceFormat = p.dev
	s.BufferCapFrames = p.ring.Cap()
	return s
}
