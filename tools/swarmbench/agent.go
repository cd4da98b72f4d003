package swarmbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/fleet"
)

// play is one track start seen on a speaker's event stream.
type play struct {
	track     int       // catalogue position
	start     time.Time // when the bench received the track event
	end       time.Time // ended, skipped, or cut by churn; zero while playing
	latencyMs float64   // > 0 only for a play that followed a command
	underrun  bool
	skipped   bool
}

// evKind is what the agent learned from a speaker's event stream.
type evKind int

const (
	evTrack    evKind = iota + 1 // a track started
	evEnded                      // a track ended (naturally or with an error)
	evUnderrun                   // the device ran dry
)

type benchEvent struct {
	kind      evKind
	id        track.ID
	latencyMs float64
	failed    bool // evEnded with an error
}

// parseEvent extracts what the agent needs from a daemon event; ok is
// false for events it ignores (positions, neighbours, buffer levels...).
// The payloads are bytes from another process: malformed ones are errors.
func parseEvent(ev control.Event) (benchEvent, bool, error) {
	switch ev.Type {
	case control.EventTrack:
		var d struct {
			ID        track.ID `json:"id"`
			LatencyMs float64  `json:"latency_ms"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return benchEvent{}, false, fmt.Errorf("track event: %w", err)
		}
		if d.LatencyMs < 0 || d.LatencyMs > 3.6e6 {
			return benchEvent{}, false, fmt.Errorf("track event: latency %v ms out of range", d.LatencyMs)
		}
		return benchEvent{kind: evTrack, id: d.ID, latencyMs: d.LatencyMs}, true, nil
	case control.EventState:
		var d struct {
			State   string `json:"state"`
			TrackID string `json:"track_id"`
			Error   string `json:"error"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return benchEvent{}, false, fmt.Errorf("state event: %w", err)
		}
		if d.State != "ended" {
			return benchEvent{}, false, nil
		}
		id, err := track.ParseID(d.TrackID)
		if err != nil {
			return benchEvent{}, false, fmt.Errorf("state event: %w", err)
		}
		return benchEvent{kind: evEnded, id: id, failed: d.Error != ""}, true, nil
	case control.EventBuffer:
		var d struct {
			Underrun bool   `json:"underrun"`
			TrackID  string `json:"track_id"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return benchEvent{}, false, fmt.Errorf("buffer event: %w", err)
		}
		if !d.Underrun {
			return benchEvent{}, false, nil
		}
		id, _ := track.ParseID(d.TrackID) // an underrun with no track still counts
		return benchEvent{kind: evUnderrun, id: id}, true, nil
	}
	return benchEvent{}, false, nil
}

// subscription is one event stream of one daemon process, owned by the
// agent: a goroutine reads it into ch until cancel.
type subscription struct {
	ch     chan benchEvent
	gone   chan struct{} // closed when the stream ends
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// subscribe opens the speaker's event stream and returns once the daemon
// has sent its first event (so nothing after it is missed).
func (a *agent) subscribe(ctx context.Context) (*subscription, error) {
	sctx, cancel := context.WithCancel(ctx)
	sub := &subscription{ch: make(chan benchEvent, 256), gone: make(chan struct{}), cancel: cancel}
	ready := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	sub.wg.Add(1)
	go func() {
		defer sub.wg.Done()
		defer close(sub.gone)
		err := a.s.fs.Control.Events(sctx, func(ev control.Event) error {
			once.Do(func() { close(ready) })
			be, ok, err := parseEvent(ev)
			if err != nil {
				a.s.mu.Lock()
				a.s.badEvents++
				a.s.mu.Unlock()
				return nil
			}
			if !ok {
				return nil
			}
			select {
			case sub.ch <- be:
				return nil
			case <-sctx.Done():
				return sctx.Err()
			}
		})
		errc <- err
	}()
	select {
	case <-ready:
		return sub, nil
	case err := <-errc:
		cancel()
		sub.wg.Wait()
		if err == nil {
			err = errors.New("stream ended before its first event")
		}
		return nil, fmt.Errorf("subscribing to %s's events: %w", a.s.fs.Name, err)
	case <-ctx.Done():
		cancel()
		sub.wg.Wait()
		return nil, ctx.Err()
	}
}

func (s *subscription) close() {
	if s != nil {
		s.cancel()
		s.wg.Wait()
	}
}

// agent plays one speaker's listener against its daemon. Its goroutine
// owns all of the fields below; the speaker's counters are shared with the
// sampler under s.mu.
type agent struct {
	cfg   *Config
	fl    *fleet.Fleet
	s     *speaker
	l     *Listener
	ids   []track.ID
	index map[track.ID]int
	durs  []time.Duration // wall duration of each catalogue track
	log   *slog.Logger

	sub      *subscription
	cur      *play  // the play in progress, nil when none
	act      Action // what the listener does with cur
	expect   int    // catalogue position whose start is awaited, -1 none
	fresh    bool   // the awaited start is a session's first play (act is decided)
	dead     bool   // the daemon could not be brought back
	skip     *time.Timer
	skipC    <-chan time.Time
	activity time.Time // last session change, for the stall watchdog
}

// watchEvery is how often the agent checks, by a status call, that it has
// not missed the end of a session (a dropped event).
const watchEvery = 5 * time.Second

func (a *agent) run(ctx context.Context) {
	a.expect = -1
	defer func() {
		a.stopSkip()
		a.sub.close()
		a.closePlay(time.Now(), false)
	}()
	if !a.resubscribe(ctx) {
		return
	}
	watch := time.NewTicker(watchEvery)
	defer watch.Stop()
	churn := time.NewTicker(pollEvery)
	defer churn.Stop()
	for {
		if a.dead {
			return
		}
		if a.cur == nil && a.expect < 0 {
			a.startSession(ctx)
		}
		var gone <-chan struct{}
		var evs <-chan benchEvent
		if a.sub != nil {
			gone, evs = a.sub.gone, a.sub.ch
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
			a.s.mu.Unlock()
			a.log.Warn("speaker exited unexpectedly; restarting", "log", a.s.fs.LogPath())
			a.down(time.Now())
			if err := a.fl.RestartSpeaker(ctx, a.s.i); err != nil {
				if ctx.Err() == nil {
					a.log.Warn("restart failed", "err", err)
					a.s.mu.Lock()
					a.s.lost = true
					a.s.mu.Unlock()
				}
				return
			}
			if !a.resubscribe(ctx) {
				return
			}
		case <-gone:
			// The daemon ended the stream (it may be restarting): the
			// process-exit case handles a dead daemon; otherwise reopen.
			if a.s.fs.Running() && !a.resubscribe(ctx) {
				return
			}
		case ev := <-evs:
			a.handle(ctx, ev)
		case <-a.skipC:
			a.skipNow(ctx)
		case <-watch.C:
			a.watchdog(ctx)
		case <-churn.C:
			if a.l.Leaves(a.cfg.Speed * pollEvery.Seconds()) {
				a.leave(ctx)
			}
		}
	}
}

// resubscribe (re)opens the event stream, retrying while the daemon
// starts; false when ctx ended.
func (a *agent) resubscribe(ctx context.Context) bool {
	a.sub.close()
	a.sub = nil
	for {
		sub, err := a.subscribe(ctx)
		if err == nil {
			a.sub = sub
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		a.ctlError("events", err)
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

func (a *agent) ctlError(op string, err error) {
	a.s.mu.Lock()
	a.s.ctlErrors++
	a.s.mu.Unlock()
	a.log.Debug("control call failed", "op", op, "err", err)
}

func (a *agent) stopSkip() {
	if a.skip != nil {
		a.skip.Stop()
		a.skip, a.skipC = nil, nil
	}
}

// closePlay ends the current play at t.
func (a *agent) closePlay(t time.Time, skipped bool) {
	if a.cur == nil {
		return
	}
	a.s.mu.Lock()
	a.cur.end, a.cur.skipped = t, skipped
	a.s.mu.Unlock()
	a.cur = nil
	a.stopSkip()
}

// down records that the daemon went away: the play is cut, the stream is
// dead, the session is over.
func (a *agent) down(t time.Time) {
	a.closePlay(t, false)
	a.sub.close()
	a.sub = nil
	a.expect, a.fresh = -1, false
	a.s.mu.Lock()
	a.s.base, a.s.last = a.s.base.add(a.s.last), nil
	a.s.gen++
	a.s.mu.Unlock()
}

func (a *agent) startSession(ctx context.Context) {
	act := a.l.Start()
	a.activity = time.Now()
	if _, err := a.s.fs.Control.Play(ctx, control.PlayRequest{TrackID: a.ids[act.Track]}); err != nil {
		if ctx.Err() == nil {
			a.ctlError("play", err)
		}
		return
	}
	a.act, a.expect, a.fresh = act, act.Track, true
	a.queueNext(ctx)
}

func (a *agent) queueNext(ctx context.Context) {
	if !a.act.Follow {
		return
	}
	if _, err := a.s.fs.Control.Queue(ctx, control.PlayRequest{TrackID: a.ids[a.act.Track+1]}); err != nil && ctx.Err() == nil {
		a.ctlError("queue", err)
		a.act.Follow = false
	}
}

func (a *agent) handle(ctx context.Context, ev benchEvent) {
	now := time.Now()
	switch ev.kind {
	case evTrack:
		t, ok := a.index[ev.id]
		if !ok {
			return
		}
		a.activity = now
		followOn := !(a.fresh && t == a.act.Track)
		a.closePlay(now, false)
		a.expect, a.fresh = -1, false
		p := &play{track: t, start: now, latencyMs: ev.latencyMs}
		a.s.mu.Lock()
		a.s.plays = append(a.s.plays, p)
		a.s.mu.Unlock()
		a.cur = p
		if followOn {
			// The queued track started (gaplessly or after a skip): the
			// listener decides what it does with it now.
			if t != a.act.Track+1 {
				a.s.mu.Lock()
				a.s.unexpectedTracks++
				a.s.mu.Unlock()
			}
			a.act = a.l.Then(t)
			a.queueNext(ctx)
		}
		if a.act.SkipAt > 0 && t < len(a.durs) {
			a.skip = time.NewTimer(time.Duration(a.act.SkipAt * float64(a.durs[t])))
			a.skipC = a.skip.C
		}
	case evEnded:
		t, ok := a.index[ev.id]
		if !ok {
			return
		}
		if a.cur != nil && a.cur.track == t {
			a.activity = now
			a.closePlay(now, false)
			if a.act.Follow {
				a.expect = t + 1 // the queued track starts next
			}
		} else if a.cur == nil && a.expect == t {
			a.expect, a.fresh = -1, false // it failed before it started: a new session
		}
	case evUnderrun:
		a.s.mu.Lock()
		a.s.underrunEvents++
		if t, ok := a.index[ev.id]; ok {
			for i := len(a.s.plays) - 1; i >= 0; i-- {
				if a.s.plays[i].track == t {
					a.s.plays[i].underrun = true
					break
				}
			}
		}
		a.s.mu.Unlock()
	}
}

func (a *agent) skipNow(ctx context.Context) {
	a.skip, a.skipC = nil, nil
	a.s.mu.Lock()
	a.s.skips++
	a.s.mu.Unlock()
	now := time.Now()
	a.activity = now
	follow := a.act.Follow
	var next int
	if a.cur != nil {
		next = a.cur.track + 1
	}
	a.closePlay(now, true)
	if err := a.s.fs.Control.Next(ctx); err != nil && ctx.Err() == nil {
		a.ctlError("next", err)
	}
	if follow {
		a.expect = next // the queued track starts now (a command-started play)
	}
}

// watchdog catches a session whose end the events did not show (an event
// dropped by a busy daemon): a stopped player with nothing awaited.
func (a *agent) watchdog(ctx context.Context) {
	if time.Since(a.activity) < watchEvery {
		return
	}
	st, err := a.s.fs.Control.Status(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.ctlError("status", err)
		}
		return
	}
	if st.State == control.StateStopped && st.QueueLength == 0 {
		a.s.mu.Lock()
		a.s.watchdogResets++
		a.s.mu.Unlock()
		a.closePlay(time.Now(), false)
		a.expect, a.fresh = -1, false
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
	a.s.leaves++
	a.s.mu.Unlock()
	a.down(time.Now())
	if err := a.fl.StopSpeaker(a.s.i, 10*time.Second); err != nil {
		a.log.Warn("stopping for churn", "err", err)
	}
	d := a.cfg.wall(time.Duration(a.l.Uniform(0.5, 1.5) * float64(a.cfg.ChurnDown)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if err := a.fl.RestartSpeaker(ctx, a.s.i); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("rejoining after churn", "err", err)
			a.dead = true
			a.s.mu.Lock()
			a.s.lost = true
			a.s.mu.Unlock()
		}
		return
	}
	a.resubscribe(ctx)
}

const pollEvery = 500 * time.Millisecond
