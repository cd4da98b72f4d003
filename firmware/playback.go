package firmware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/starling-audio/starling/audio"
	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
)

// playback is the speaker's front: it implements control.Player (the LAN
// API) and board.Controls (the knobs) over the audio player, the streamer
// and the service link. It keeps only what neither of those knows: the
// metadata of tracks it has seen and the streams it opened.
type playback struct {
	life     context.Context // the daemon's: streams outlive API requests
	log      *slog.Logger
	version  string
	player   *audio.Player
	streamer *stream.Streamer
	link     *serviceLink // nil: no service configured
	neigh    func() int   // connected overlay neighbours

	mu      sync.Mutex
	meta    map[track.ID]control.Track
	streams map[string]*openStream // by hex track ID
	queue   []track.ID             // queued after the current track
}

// openStream is one track source handed to the player: the stream is
// opened on first use, so queued tracks cost nothing until the player
// primes them for a gapless change.
type openStream struct {
	id   track.ID
	open func() (*stream.Stream, error)

	once sync.Once
	s    *stream.Stream
	err  error
	mu   sync.Mutex
	shut bool
}

func (o *openStream) get() (*stream.Stream, error) {
	o.once.Do(func() {
		o.mu.Lock()
		shut := o.shut
		o.mu.Unlock()
		if shut {
			o.err = io.ErrClosedPipe
			return
		}
		o.s, o.err = o.open()
	})
	return o.s, o.err
}

func (o *openStream) Read(p []byte) (int, error) {
	s, err := o.get()
	if err != nil {
		return 0, err
	}
	return s.Read(p)
}

func (o *openStream) Seek(off int64, whence int) (int64, error) {
	s, err := o.get()
	if err != nil {
		return 0, err
	}
	return s.Seek(off, whence)
}

func (o *openStream) Close() error {
	o.mu.Lock()
	o.shut = true
	o.mu.Unlock()
	o.once.Do(func() { o.err = io.ErrClosedPipe })
	if o.s != nil {
		return o.s.Close()
	}
	return nil
}

// cached reports whether the track was complete in the cache when its
// stream opened (false before it opens).
func (o *openStream) cached() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.s != nil && o.s.WasCached()
}

// buffered is the stream's audio downloaded ahead of the read position.
func (o *openStream) buffered() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.s == nil {
		return 0
	}
	return o.s.BufferedAhead()
}

var (
	_ audio.Source   = (*openStream)(nil)
	_ io.Seeker      = (*openStream)(nil)
	_ control.Player = (*playback)(nil)
)

func (p *playback) newSource(id track.ID) *openStream {
	o := &openStream{id: id}
	o.open = func() (*stream.Stream, error) {
		s, err := p.streamer.Open(p.life, id)
		if err != nil {
			return nil, fmt.Errorf("opening track %s: %w", id.Short(), err)
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.shut {
			s.Close()
			return nil, io.ErrClosedPipe
		}
		o.s = s
		return s, nil
	}
	p.mu.Lock()
	if old := p.streams[id.String()]; old != nil {
		old.Close()
	}
	p.streams[id.String()] = o
	p.mu.Unlock()
	return o
}

// resolve turns a request into a track: by ID (metadata if known), or the
// catalogue's best match for a query.
func (p *playback) resolve(ctx context.Context, req control.PlayRequest) (control.Track, error) {
	if err := req.Validate(); err != nil {
		return control.Track{}, fmt.Errorf("%w: %v", control.ErrInvalid, err)
	}
	if !req.TrackID.IsZero() {
		p.mu.Lock()
		t, ok := p.meta[req.TrackID]
		p.mu.Unlock()
		if !ok {
			t = control.Track{ID: req.TrackID}
		}
		return t, nil
	}
	res, _, err := p.Search(ctx, req.Query, 0, 1)
	if err != nil {
		return control.Track{}, err
	}
	if len(res) == 0 {
		return control.Track{}, fmt.Errorf("%w: no track matches %q", control.ErrNotFound, req.Query)
	}
	return res[0], nil
}

func (p *playback) remember(ts ...control.Track) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range ts {
		if len(p.meta) > 4096 {
			clear(p.meta) // bounded: metadata is only for display
		}
		p.meta[t.ID] = t
	}
}

func (p *playback) audioTrack(t control.Track) audio.Track {
	title := t.Title
	if t.Artist != "" {
		title = t.Artist + " - " + t.Title
	}
	return audio.Track{ID: t.ID.String(), Title: title, Source: p.newSource(t.ID)}
}

// Search implements control.Player.
func (p *playback) Search(ctx context.Context, q string, offset, limit int) ([]control.Track, int, error) {
	if p.link == nil {
		return nil, 0, fmt.Errorf("%w: %v", control.ErrUnavailable, errNoService)
	}
	res, total, err := p.link.search(ctx, q, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	p.remember(res...)
	return res, total, nil
}

// Play implements control.Player: the track plays now and the queue is
// cleared.
func (p *playback) Play(ctx context.Context, req control.PlayRequest) (control.Track, error) {
	t, err := p.resolve(ctx, req)
	if err != nil {
		return t, err
	}
	if err := p.player.Play(ctx, p.audioTrack(t)); err != nil {
		return t, fmt.Errorf("playing %s: %w", t.ID.Short(), err)
	}
	p.mu.Lock()
	p.queue = p.queue[:0]
	p.mu.Unlock()
	return t, nil
}

// Queue implements control.Player; the first queued track is prefetched
// (the streamer times it against the end of the playing track).
func (p *playback) Queue(ctx context.Context, req control.PlayRequest) (control.Track, error) {
	t, err := p.resolve(ctx, req)
	if err != nil {
		return t, err
	}
	if err := p.player.Enqueue(ctx, p.audioTrack(t)); err != nil {
		return t, fmt.Errorf("queueing %s: %w", t.ID.Short(), err)
	}
	p.mu.Lock()
	p.queue = append(p.queue, t.ID)
	first := len(p.queue) == 1
	p.mu.Unlock()
	if first {
		p.prefetch(t.ID)
	}
	return t, nil
}

func (p *playback) prefetch(id track.ID) {
	if err := p.streamer.Prefetch(p.life, id); err != nil && !errors.Is(err, stream.ErrClosed) {
		p.log.Warn("prefetch failed", "track", id, "err", err)
	}
}

// trackStarted is called by the daemon's event loop: the started track
// leaves the queue and the next one is prefetched.
func (p *playback) trackStarted(hexID string) {
	p.mu.Lock()
	var next track.ID
	if len(p.queue) > 0 && p.queue[0].String() == hexID {
		p.queue = p.queue[1:]
	}
	if len(p.queue) > 0 {
		next = p.queue[0]
	}
	p.mu.Unlock()
	if !next.IsZero() {
		p.prefetch(next)
	}
}

// trackEnded forgets the stream of a finished track.
func (p *playback) trackEnded(hexID string) {
	p.mu.Lock()
	o := p.streams[hexID]
	delete(p.streams, hexID)
	p.mu.Unlock()
	if o != nil {
		o.Close()
	}
}

func (p *playback) Pause(ctx context.Context) error  { return p.player.Pause(ctx) }
func (p *playback) Resume(ctx context.Context) error { return p.player.Resume(ctx) }
func (p *playback) Next(ctx context.Context) error   { return p.player.Next(ctx) }
func (p *playback) Previous(ctx context.Context) error {
	return p.player.Previous(ctx)
}
func (p *playback) Seek(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: negative position", control.ErrInvalid)
	}
	return p.player.Seek(ctx, d)
}

// SetVolume implements control.Player: the DAC when the board has one
// (through the player's HardwareVolume hook), software gain otherwise.
func (p *playback) SetVolume(ctx context.Context, pct int) error {
	if pct < 0 || pct > 100 {
		return fmt.Errorf("%w: volume %d (0..100)", control.ErrInvalid, pct)
	}
	return p.player.SetVolume(ctx, pct)
}

// Status implements control.Player.
func (p *playback) Status(ctx context.Context) (control.Status, error) {
	st, err := p.player.Stats(ctx)
	if err != nil {
		return control.Status{}, err
	}
	ss := p.streamer.Stats()
	s := control.Status{
		State:   st.State.String(),
		Volume:  st.Volume,
		Sources: control.Sources{Origin: ss.BytesOrigin, Peers: ss.BytesPeers, Cache: ss.BytesCache},
		Version: p.version,
	}
	s.PositionMs = st.Position.Milliseconds()
	s.LoggedIn = p.link.online()
	if p.neigh != nil {
		s.Neighbours = p.neigh()
	}
	p.mu.Lock()
	s.QueueLength = len(p.queue)
	o := p.streams[st.TrackID]
	if id, err := track.ParseID(st.TrackID); err == nil {
		t, ok := p.meta[id]
		if !ok {
			t = control.Track{ID: id}
		}
		s.Track = &t
		s.DurationMs = t.DurationMs
	}
	p.mu.Unlock()
	if o != nil {
		s.BufferSeconds = o.buffered().Seconds()
		if s.Track != nil && s.DurationMs == 0 {
			if str, err := o.get(); err == nil {
				s.DurationMs = int64(str.Manifest().DurationMs)
			}
		}
	}
	return s, nil
}

// Subscribe implements control.Player by translating the audio player's
// events. The goroutine belongs to the subscription and ends with ctx,
// cancel or the player closing.
func (p *playback) Subscribe(ctx context.Context) (<-chan control.Event, func()) {
	in, unsub := p.player.Subscribe(32)
	out := make(chan control.Event, 32)
	stop := make(chan struct{})
	var once sync.Once
	cancel := func() { once.Do(func() { close(stop) }) }
	go func() {
		defer close(out)
		defer unsub()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case e, ok := <-in:
				if !ok {
					return
				}
				if ce, ok := p.translate(e); ok {
					select {
					case out <- ce:
					default: // a slow client misses events; never block
					}
				}
			}
		}
	}()
	return out, cancel
}

func (p *playback) translate(e audio.Event) (control.Event, bool) {
	data := func(v any) json.RawMessage {
		b, _ := json.Marshal(v)
		return b
	}
	ev := control.Event{Time: time.Now()}
	switch e.Kind {
	case audio.EventStarted:
		ev.Type = control.EventTrack
		t := control.Track{}
		if id, err := track.ParseID(e.TrackID); err == nil {
			p.mu.Lock()
			t = p.meta[id]
			p.mu.Unlock()
			t.ID = id
		}
		p.mu.Lock()
		o := p.streams[e.TrackID]
		p.mu.Unlock()
		ev.Data = data(struct {
			control.Track
			LatencyMs float64 `json:"latency_ms"`
			Cached    bool    `json:"cached"`
		}{t, float64(e.Latency.Microseconds()) / 1000, o != nil && o.cached()})
	case audio.EventEnded, audio.EventError:
		ev.Type = control.EventState
		msg := ""
		if e.Err != nil {
			msg = e.Err.Error()
		}
		ev.Data = data(map[string]any{"state": "ended", "track_id": e.TrackID, "error": msg})
	case audio.EventUnderrun:
		ev.Type = control.EventBuffer
		ev.Data = data(map[string]any{"underrun": true, "track_id": e.TrackID, "position_ms": e.Position.Milliseconds()})
	case audio.EventPosition:
		ev.Type = control.EventSeek
		ev.Data = data(map[string]any{"position_ms": e.Position.Milliseconds()})
	default:
		return ev, false
	}
	return ev, true
}

// Controls for the board's knobs.

func (p *playback) TogglePlay(ctx context.Context) error {
	st, err := p.player.Stats(ctx)
	if err != nil {
		return err
	}
	if st.State == audio.StatePlaying {
		return p.player.Pause(ctx)
	}
	return p.player.Resume(ctx)
}

func (p *playback) Stop(ctx context.Context) error { return p.player.Stop(ctx) }

// SkipAlbum skips queued tracks of the same album as the current one.
func (p *playback) SkipAlbum(ctx context.Context) error {
	st, err := p.player.Stats(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	var album string
	if id, err := track.ParseID(st.TrackID); err == nil {
		album = p.meta[id].Album
	}
	skips := 1
	for _, id := range p.queue {
		if album == "" || p.meta[id].Album != album {
			break
		}
		skips++
	}
	p.mu.Unlock()
	for range skips {
		if err := p.player.Next(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (p *playback) AdjustVolume(ctx context.Context, steps int) error {
	st, err := p.player.Stats(ctx)
	if err != nil {
		return err
	}
	return p.player.SetVolume(ctx, min(100, max(0, st.Volume+2*steps)))
}

// closeAll closes every stream the player was given.
func (p *playback) closeAll() {
	p.mu.Lock()
	streams := p.streams
	p.streams = map[string]*openStream{}
	p.mu.Unlock()
	for _, o := range streams {
		o.Close()
	}
}
