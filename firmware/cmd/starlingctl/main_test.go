package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/track"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var songID = track.ID{0xab, 0xcd}

var song = control.Track{ID: songID, Title: "Song One", Artist: "The Band", Album: "First", DurationMs: 225_000}

// player is a small fake: it records calls and feeds one event stream.
type player struct {
	mu     sync.Mutex
	calls  []string
	events chan control.Event
	subbed chan struct{}
}

var _ control.Player = (*player)(nil)

func (p *player) rec(s string, args ...any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprintf(s, args...))
	return nil
}

func (p *player) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[len(p.calls)-1]
}

func (p *player) Status(context.Context) (control.Status, error) {
	return control.Status{State: control.StatePlaying, Track: &song, PositionMs: 83_000, DurationMs: 225_000, Volume: 40,
		BufferSeconds: 12.5, Sources: control.Sources{Origin: 1536, Peers: 3 << 20}, Neighbours: 7, QueueLength: 1, LoggedIn: true}, p.rec("status")
}

func (p *player) Search(_ context.Context, q string, off, lim int) ([]control.Track, int, error) {
	if q == "nothing" {
		return nil, 0, p.rec("search %q %d %d", q, off, lim)
	}
	return []control.Track{song}, 1, p.rec("search %q %d %d", q, off, lim)
}

func (p *player) Play(_ context.Context, r control.PlayRequest) (control.Track, error) {
	if r.Query == "missing" {
		return control.Track{}, fmt.Errorf("no match for %q: %w", r.Query, control.ErrNotFound)
	}
	return song, p.rec("play %s %q", r.TrackID.Short(), r.Query)
}

func (p *player) Queue(_ context.Context, r control.PlayRequest) (control.Track, error) {
	return song, p.rec("queue %s %q", r.TrackID.Short(), r.Query)
}
func (p *player) Pause(context.Context) error    { return p.rec("pause") }
func (p *player) Resume(context.Context) error   { return p.rec("resume") }
func (p *player) Next(context.Context) error     { return p.rec("next") }
func (p *player) Previous(context.Context) error { return p.rec("previous") }
func (p *player) Seek(_ context.Context, d time.Duration) error {
	return p.rec("seek %v", d)
}
func (p *player) SetVolume(_ context.Context, v int) error { return p.rec("volume %d", v) }

func (p *player) Subscribe(ctx context.Context) (<-chan control.Event, func()) {
	out := make(chan control.Event)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		for {
			select {
			case ev := <-p.events:
				select {
				case out <- ev:
				case <-done:
					return
				case <-ctx.Done():
					return
				}
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	p.subbed <- struct{}{}
	stop := sync.OnceFunc(func() { close(done); wg.Wait() })
	return out, stop
}

type env struct {
	p     *player
	url   string
	token string
	srv   *control.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	tok, err := control.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	p := &player{events: make(chan control.Event, 8), subbed: make(chan struct{}, 8)}
	srv, err := control.New(control.Config{Token: tok, Player: p, Version: "v0.9.0",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); ts.Close() })
	return &env{p: p, url: ts.URL, token: tok, srv: srv}
}

// ctl runs starlingctl with args and returns its exit code and output.
func (e *env) ctl(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	t.Setenv("STARLING_ADDR", e.url)
	t.Setenv("STARLING_TOKEN", e.token)
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommands(t *testing.T) {
	e := newEnv(t)
	hexID := songID.String()
	cases := []struct {
		args     []string
		call     string   // what the player must have seen last
		contains []string // in the text output
	}{
		{[]string{"status"}, "status", []string{"playing: The Band - Song One  1:23 / 3:45", "volume 40%", "neighbours 7", "origin 1.5 KiB, peers 3.0 MiB, cache 0 B", "firmware v0.9.0"}},
		{[]string{"search", "the", "band", "--limit", "5"}, `search "the band" 0 5`, []string{hexID + "  The Band - Song One [First] (3:45)", "1 of 1 matches"}},
		{[]string{"play", "the band - song one"}, `play 000000000000 "the band - song one"`, []string{"playing The Band - Song One"}},
		{[]string{"play", "--id", hexID}, "play abcd00000000 \"\"", []string{"playing The Band"}},
		{[]string{"queue", "song", "one"}, `queue 000000000000 "song one"`, []string{"queued The Band - Song One"}},
		{[]string{"pause"}, "pause", []string{"paused"}},
		{[]string{"resume"}, "resume", []string{"resumed"}},
		{[]string{"next"}, "next", []string{"next track"}},
		{[]string{"prev"}, "previous", []string{"previous track"}},
		{[]string{"previous"}, "previous", []string{"previous track"}},
		{[]string{"seek", "1:23"}, "seek 1m23s", []string{"seeked to 1:23"}},
		{[]string{"volume", "40"}, "volume 40", []string{"volume 40%"}},
	}
	for _, c := range cases {
		code, out, errOut := e.ctl(t, t.Context(), c.args...)
		if code != 0 {
			t.Errorf("starlingctl %v: exit %d, stderr %s", c.args, code, errOut)
			continue
		}
		if got := e.p.last(); got != c.call {
			t.Errorf("starlingctl %v: player saw %q, want %q", c.args, got, c.call)
		}
		for _, want := range c.contains {
			if !strings.Contains(out, want) {
				t.Errorf("starlingctl %v: output %q lacks %q", c.args, out, want)
			}
		}
	}
}

func TestJSONOutput(t *testing.T) {
	e := newEnv(t)
	code, out, errOut := e.ctl(t, t.Context(), "--json", "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Track == nil || st.Track.ID != songID || st.Version != "v0.9.0" {
		t.Errorf("--json status: %q → %+v, %v", out, st, err)
	}
	code, out, _ = e.ctl(t, t.Context(), "search", "--json", "nothing")
	var res control.SearchResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Total != 0 || res.Tracks == nil {
		t.Errorf("--json search: %d %q", code, out)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"play", "missing"}, 1, "404"},
		{[]string{"play"}, 1, "give a query or --id"},
		{[]string{"play", "--id", "abc"}, 1, "malformed track ID"},
		{[]string{"play", "--id", songID.String(), "also", "query"}, 1, "not both"},
		{[]string{"seek", "1:99"}, 1, "position"},
		{[]string{"volume", "120"}, 1, "0 to 100"},
		{[]string{"frobnicate"}, 2, "unexpected argument"},
		{[]string{"--token", strings.Repeat("A", 43), "status"}, 1, "401"},
		{[]string{"--token", "short", "status"}, 1, "malformed token"},
		{[]string{"--addr", "ftp://x", "status"}, 1, "want host:port"},
	}
	for _, c := range cases {
		code, _, errOut := e.ctl(t, t.Context(), c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("starlingctl %v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	if code, out, _ := e.ctl(t, t.Context(), "--help"); code != 0 || !strings.Contains(out, "events") {
		t.Errorf("--help: %d %q", code, out)
	}
}

func TestTokenFile(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "control.token")
	if err := os.WriteFile(path, []byte(e.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STARLING_TOKEN", "")
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"--addr", e.url, "--token-file", path, "pause"}, &out, &errOut); code != 0 {
		t.Fatalf("with --token-file: exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(t.Context(), []string{"--addr", e.url, "--token-file", path + ".missing", "pause"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "STARLING_TOKEN") {
		t.Errorf("missing token file: %q", errOut.String())
	}
}

// syncWriter lets the test read what the events command printed so far.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
	ch chan struct{}
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	select {
	case w.ch <- struct{}{}:
	default:
	}
	return n, err
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestEvents(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			e := newEnv(t)
			t.Setenv("STARLING_ADDR", e.url)
			t.Setenv("STARLING_TOKEN", e.token)
			ctx, cancel := context.WithCancel(t.Context())
			out := &syncWriter{ch: make(chan struct{}, 1)}
			args := []string{"events"}
			if asJSON {
				args = append(args, "--json")
			}
			done := make(chan int, 1)
			go func() { done <- run(ctx, args, out, io.Discard) }()
			<-e.p.subbed
			ev, _ := control.NewEvent(control.EventVolume, time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), map[string]int{"volume": 33})
			e.p.events <- ev
			for !strings.Contains(out.String(), `"volume":33`) {
				select {
				case <-out.ch:
				case <-t.Context().Done():
					t.Fatal("event not printed")
				}
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("events exit %d after interrupt, want 0", code)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("printed %q, want the status line and the volume line", out.String())
			}
			if asJSON {
				var got control.Event
				if err := json.Unmarshal([]byte(lines[1]), &got); err != nil || got.Type != control.EventVolume {
					t.Errorf("JSON line %q: %v", lines[1], err)
				}
			} else if !strings.Contains(lines[0], "status") || !strings.Contains(lines[0], "The Band - Song One") ||
				!strings.Contains(lines[1], "volume") {
				t.Errorf("text lines %q", lines)
			}
		})
	}
}
