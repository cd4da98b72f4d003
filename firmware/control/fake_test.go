package control_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/track"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePlayer records what the API asked of it and answers from fields.
type fakePlayer struct {
	mu     sync.Mutex
	calls  []string
	status control.Status
	tracks []control.Track
	err    error // returned by every method when set

	subs         map[int]chan control.Event
	ends         map[int]func()
	nextSub      int
	subscribed   chan struct{} // one token per Subscribe
	unsubscribed chan struct{} // one token per ended subscription
}

var _ control.Player = (*fakePlayer)(nil)

func newFakePlayer() *fakePlayer {
	return &fakePlayer{
		status: control.Status{
			State: control.StatePlaying, Track: &testTracks[0], PositionMs: 83_000, DurationMs: 225_000,
			Volume: 40, BufferSeconds: 12.5, Sources: control.Sources{Origin: 1 << 20, Peers: 3 << 20, Cache: 0},
			Neighbours: 7, QueueLength: 2, LoggedIn: true,
		},
		tracks:       testTracks,
		subs:         map[int]chan control.Event{},
		ends:         map[int]func(){},
		subscribed:   make(chan struct{}, 64),
		unsubscribed: make(chan struct{}, 64),
	}
}

func mustID(s string) track.ID {
	id, err := track.ParseID(strings.Repeat(s, 64/len(s)))
	if err != nil {
		panic(err)
	}
	return id
}

var testTracks = []control.Track{
	{ID: mustID("a1"), Title: "Song One", Artist: "The Band", Album: "First", DurationMs: 225_000},
	{ID: mustID("b2"), Title: "Song Two", Artist: "The Band", Album: "First", DurationMs: 181_500},
	{ID: mustID("c3"), Title: "Other", Artist: "Someone Else", DurationMs: 62_000},
}

func (f *fakePlayer) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakePlayer) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakePlayer) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakePlayer) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakePlayer) Status(ctx context.Context) (control.Status, error) {
	err := f.record("status")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, err
}

func (f *fakePlayer) Search(ctx context.Context, q string, offset, limit int) ([]control.Track, int, error) {
	if err := f.record("search %q %d %d", q, offset, limit); err != nil {
		return nil, 0, err
	}
	var out []control.Track
	for _, t := range f.tracks {
		if strings.Contains(strings.ToLower(t.Artist+" "+t.Title), strings.ToLower(q)) {
			out = append(out, t)
		}
	}
	total := len(out)
	if offset > len(out) {
		offset = len(out)
	}
	out = out[offset:]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total, nil
}

func (f *fakePlayer) find(req control.PlayRequest) (control.Track, error) {
	for _, t := range f.tracks {
		if t.ID == req.TrackID || req.Query != "" && strings.Contains(strings.ToLower(t.Artist+" - "+t.Title), strings.ToLower(req.Query)) {
			return t, nil
		}
	}
	return control.Track{}, fmt.Errorf("no track matches: %w", control.ErrNotFound)
}

func (f *fakePlayer) Play(ctx context.Context, req control.PlayRequest) (control.Track, error) {
	if err := f.record("play %s %q", req.TrackID.Short(), req.Query); err != nil {
		return control.Track{}, err
	}
	return f.find(req)
}

func (f *fakePlayer) Queue(ctx context.Context, req control.PlayRequest) (control.Track, error) {
	if err := f.record("queue %s %q", req.TrackID.Short(), req.Query); err != nil {
		return control.Track{}, err
	}
	return f.find(req)
}

func (f *fakePlayer) Pause(ctx context.Context) error    { return f.record("pause") }
func (f *fakePlayer) Resume(ctx context.Context) error   { return f.record("resume") }
func (f *fakePlayer) Next(ctx context.Context) error     { return f.record("next") }
func (f *fakePlayer) Previous(ctx context.Context) error { return f.record("previous") }
func (f *fakePlayer) Seek(ctx context.Context, pos time.Duration) error {
	return f.record("seek %v", pos)
}
func (f *fakePlayer) SetVolume(ctx context.Context, pct int) error {
	return f.record("volume %d", pct)
}

func (f *fakePlayer) Subscribe(ctx context.Context) (<-chan control.Event, func()) {
	ch := make(chan control.Event, 16)
	f.mu.Lock()
	id := f.nextSub
	f.nextSub++
	f.subs[id] = ch
	f.mu.Unlock()
	f.subscribed <- struct{}{}
	end := sync.OnceFunc(func() {
		f.mu.Lock()
		delete(f.subs, id)
		delete(f.ends, id)
		close(ch)
		f.mu.Unlock()
		f.unsubscribed <- struct{}{}
	})
	f.mu.Lock()
	f.ends[id] = end
	f.mu.Unlock()
	stop := context.AfterFunc(ctx, end)
	return ch, func() { stop(); end() }
}

// publish sends ev to every subscriber without blocking.
func (f *fakePlayer) publish(ev control.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// endAll ends every subscription, as a player shutting down does.
func (f *fakePlayer) endAll() {
	f.mu.Lock()
	ends := make([]func(), 0, len(f.ends))
	for _, end := range f.ends {
		ends = append(ends, end)
	}
	f.mu.Unlock()
	for _, end := range ends {
		end()
	}
}

// subscribers counts live subscriptions.
func (f *fakePlayer) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

type testEnv struct {
	player *fakePlayer
	server *control.Server
	http   *httptest.Server
	client *control.Client
	token  string
}

// newTestEnv serves a fake player on an httptest loopback server.
func newTestEnv(t *testing.T, mod func(*control.Config)) *testEnv {
	t.Helper()
	tok, err := control.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	fp := newFakePlayer()
	cfg := control.Config{Token: tok, Player: fp, Version: "v1.2.3-test", Logger: testLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close() // ends event streams, so ts.Close does not wait on them
		ts.Close()
	})
	c, err := control.NewClient(ts.URL, tok, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{player: fp, server: srv, http: ts, client: c, token: tok}
}
