package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starling-audio/starling/firmware/control"
)

// testLogger logs everything (exercising the log calls) to nowhere: a
// handler still serving after the test ended must not call t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rawDo sends a request with an optional token and returns status, headers
// and body.
func (e *testEnv) rawDo(t *testing.T, method, path, auth, contentType, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestAuth(t *testing.T) {
	e := newTestEnv(t, nil)
	other, _ := control.NewToken()
	cases := []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer " + other, http.StatusUnauthorized},
		{"truncated token", "Bearer " + e.token[:20], http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"wrong scheme", "Basic " + e.token, http.StatusUnauthorized},
		{"token without scheme", e.token, http.StatusUnauthorized},
		{"right token", "Bearer " + e.token, http.StatusOK},
		{"scheme is case-insensitive", "bearer " + e.token, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := e.rawDo(t, http.MethodGet, "/api/v1/status", c.auth, "", "")
			if code != c.want {
				t.Fatalf("status %d, want %d (body %s)", code, c.want, body)
			}
			if code == http.StatusUnauthorized {
				if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
				}
				var eb struct{ Error string }
				if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == "" {
					t.Errorf("401 body %q is not a JSON error", body)
				}
			}
		})
	}
	// Every API endpoint is protected, including unknown ones.
	for _, p := range []string{"/api/v1/search?q=x", "/api/v1/events", "/api/v1/nope"} {
		if code, _, _ := e.rawDo(t, http.MethodGet, p, "", "", ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", p, code)
		}
	}
	for _, p := range []string{"play", "queue", "pause", "resume", "next", "previous", "seek", "volume"} {
		if code, _, _ := e.rawDo(t, http.MethodPost, "/api/v1/"+p, "", "", "{}"); code != http.StatusUnauthorized {
			t.Errorf("POST %s without token: %d, want 401", p, code)
		}
	}
	if n := e.player.ncalls(); n != 2 { // the two right-token status calls
		t.Errorf("player saw %d calls, want 2", n)
	}
	// Health is open and tells only the version.
	code, _, body := e.rawDo(t, http.MethodGet, "/api/v1/health", "", "", "")
	if code != http.StatusOK || !strings.Contains(body, "v1.2.3-test") {
		t.Errorf("health: %d %s", code, body)
	}
}

func TestEndpoints(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx := t.Context()
	c := e.client

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != control.StatePlaying || st.Track == nil || st.Track.ID != testTracks[0].ID || st.Position() != 83*time.Second ||
		st.Volume != 40 || st.Sources.Peers != 3<<20 || st.Neighbours != 7 || !st.LoggedIn || st.Version != "v1.2.3-test" {
		t.Errorf("status = %+v", st)
	}

	res, err := c.Search(ctx, "the band", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 2 || len(res.Tracks) != 1 || res.Tracks[0].Title != "Song Two" || res.Offset != 1 || res.Limit != 5 {
		t.Errorf("search = %+v", res)
	}
	if got := e.player.lastCall(); got != `search "the band" 1 5` {
		t.Errorf("player saw %q", got)
	}
	res, err = c.Search(ctx, "nothing like this", 0, 0)
	if err != nil || res.Total != 0 || res.Tracks == nil || len(res.Tracks) != 0 || res.Limit != control.DefaultSearchLimit {
		t.Errorf("empty search = %+v, %v (want an empty list, not null)", res, err)
	}

	tr, err := c.Play(ctx, control.PlayRequest{TrackID: testTracks[2].ID})
	if err != nil || tr.Title != "Other" {
		t.Errorf("play by id = %+v, %v", tr, err)
	}
	tr, err = c.Play(ctx, control.PlayRequest{Query: "  the band - song two "})
	if err != nil || tr.ID != testTracks[1].ID {
		t.Errorf("play by query = %+v, %v", tr, err)
	}
	if got := e.player.lastCall(); got != `play 000000000000 "the band - song two"` {
		t.Errorf("player saw %q (query should be trimmed)", got)
	}
	tr, err = c.Queue(ctx, control.PlayRequest{Query: "other"})
	if err != nil || tr.ID != testTracks[2].ID {
		t.Errorf("queue = %+v, %v", tr, err)
	}

	simple := []struct {
		name string
		call func(context.Context) error
		want string
	}{
		{"pause", c.Pause, "pause"},
		{"resume", c.Resume, "resume"},
		{"next", c.Next, "next"},
		{"previous", c.Previous, "previous"},
		{"seek", func(ctx context.Context) error { return c.Seek(ctx, 83500*time.Millisecond) }, "seek 1m23.5s"},
		{"volume", func(ctx context.Context) error { return c.SetVolume(ctx, 0) }, "volume 0"},
		{"volume max", func(ctx context.Context) error { return c.SetVolume(ctx, 100) }, "volume 100"},
	}
	for _, s := range simple {
		if err := s.call(ctx); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if got := e.player.lastCall(); got != s.want {
			t.Errorf("%s: player saw %q, want %q", s.name, got, s.want)
		}
	}
	if v, err := c.Health(ctx); err != nil || v != "v1.2.3-test" {
		t.Errorf("health = %q, %v", v, err)
	}
}

func TestPlayerErrorsMapToStatus(t *testing.T) {
	e := newTestEnv(t, nil)
	cases := []struct {
		err      error
		code     int
		sentinel error
	}{
		{fmt.Errorf("track gone: %w", control.ErrNotFound), 404, control.ErrNotFound},
		{fmt.Errorf("bad: %w", control.ErrInvalid), 400, control.ErrInvalid},
		{fmt.Errorf("nothing playing: %w", control.ErrConflict), 409, control.ErrConflict},
		{fmt.Errorf("not logged in: %w", control.ErrUnavailable), 503, control.ErrUnavailable},
		{errors.New("disk on fire"), 500, nil},
	}
	for _, c := range cases {
		e.player.setErr(c.err)
		err := e.client.Pause(t.Context())
		var ae *control.APIError
		if !errors.As(err, &ae) || ae.StatusCode != c.code || !strings.Contains(ae.Message, c.err.Error()) {
			t.Errorf("player error %v: client got %v, want status %d", c.err, err, c.code)
		}
		if c.sentinel != nil && !errors.Is(err, c.sentinel) {
			t.Errorf("player error %v: client error %v does not match %v", c.err, err, c.sentinel)
		}
		code, _, body := e.rawDo(t, http.MethodGet, "/api/v1/status", "Bearer "+e.token, "", "")
		var eb struct{ Error string }
		if code != c.code || json.Unmarshal([]byte(body), &eb) != nil || !strings.Contains(eb.Error, c.err.Error()) {
			t.Errorf("status with %v: %d %s", c.err, code, body)
		}
	}
	e.player.setErr(nil)
	if _, err := e.client.Play(t.Context(), control.PlayRequest{Query: "no such thing"}); !errors.Is(err, control.ErrNotFound) {
		t.Errorf("play of nothing: %v, want ErrNotFound", err)
	}
}

func TestBadRequests(t *testing.T) {
	e := newTestEnv(t, func(c *control.Config) { c.MaxBodyBytes = 512 })
	auth := "Bearer " + e.token
	big := `{"query": "` + strings.Repeat("x", 600) + `"}`
	cases := []struct {
		name, method, path, ctype, body string
		want                            int
	}{
		{"wrong method", http.MethodGet, "/api/v1/play", "", "", 405},
		{"wrong method on status", http.MethodDelete, "/api/v1/status", "", "", 405},
		{"unknown endpoint", http.MethodGet, "/api/v1/nope", "", "", 404},
		{"empty body", http.MethodPost, "/api/v1/play", "", "", 400},
		{"not JSON", http.MethodPost, "/api/v1/play", "", "play it", 400},
		{"unknown field", http.MethodPost, "/api/v1/play", "", `{"track": "x"}`, 400},
		{"trailing data", http.MethodPost, "/api/v1/play", "", `{"query": "a"} {}`, 400},
		{"neither id nor query", http.MethodPost, "/api/v1/play", "", `{}`, 400},
		{"both id and query", http.MethodPost, "/api/v1/queue", "", `{"query": "a", "track_id": "` + testTracks[0].ID.String() + `"}`, 400},
		{"short id", http.MethodPost, "/api/v1/play", "", `{"track_id": "abcd"}`, 400},
		{"long query", http.MethodPost, "/api/v1/play", "", `{"query": "` + strings.Repeat("q", 300) + `"}`, 400},
		{"wrong content type", http.MethodPost, "/api/v1/play", "text/plain", `{"query": "a"}`, 415},
		{"body too large", http.MethodPost, "/api/v1/play", "application/json", big, 413},
		{"seek without position", http.MethodPost, "/api/v1/seek", "", `{}`, 400},
		{"seek negative", http.MethodPost, "/api/v1/seek", "", `{"position_ms": -1}`, 400},
		{"seek too far", http.MethodPost, "/api/v1/seek", "", `{"position_ms": 90000000}`, 400},
		{"volume too loud", http.MethodPut, "/api/v1/volume", "", `{"volume": 101}`, 400},
		{"volume negative", http.MethodPut, "/api/v1/volume", "", `{"volume": -1}`, 400},
		{"volume not a number", http.MethodPut, "/api/v1/volume", "", `{"volume": "loud"}`, 400},
		{"search without q", http.MethodGet, "/api/v1/search", "", "", 400},
		{"search huge limit", http.MethodGet, "/api/v1/search?q=a&limit=1000", "", "", 400},
		{"search bad offset", http.MethodGet, "/api/v1/search?q=a&offset=-3", "", "", 400},
		{"search long query", http.MethodGet, "/api/v1/search?q=" + strings.Repeat("q", 300), "", "", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.player.ncalls()
			code, h, body := e.rawDo(t, c.method, c.path, auth, c.ctype, c.body)
			if code != c.want {
				t.Fatalf("status %d, want %d (body %s)", code, c.want, body)
			}
			var eb struct{ Error string }
			if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error == "" {
				t.Errorf("body %q is not a JSON error", body)
			}
			if h.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", h.Get("Content-Type"))
			}
			if c.want == 405 && h.Get("Allow") == "" {
				t.Errorf("405 without Allow header")
			}
			if n := e.player.ncalls(); n != before {
				t.Errorf("a refused request reached the player: %q", e.player.lastCall())
			}
		})
	}
}

func TestMount(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "starling_up 1\n")
	})
	e := newTestEnv(t, func(c *control.Config) {
		c.Mounts = []control.Mount{{Pattern: "GET /metrics", Handler: metrics}}
	})
	code, _, body := e.rawDo(t, http.MethodGet, "/metrics", "", "", "")
	if code != 200 || body != "starling_up 1\n" {
		t.Errorf("/metrics: %d %q", code, body)
	}
}

func TestConfigValidate(t *testing.T) {
	tok, _ := control.NewToken()
	h := http.NotFoundHandler()
	cases := []struct {
		name string
		mod  func(*control.Config)
	}{
		{"no player", func(c *control.Config) { c.Player = nil }},
		{"no token", func(c *control.Config) { c.Token = "" }},
		{"weak token", func(c *control.Config) { c.Token = "secret" }},
		{"bad addr", func(c *control.Config) { c.Addr = "7410" }},
		{"tiny body limit", func(c *control.Config) { c.MaxBodyBytes = 10 }},
		{"negative timeout", func(c *control.Config) { c.ReadTimeout = -time.Second }},
		{"mount under api", func(c *control.Config) { c.Mounts = []control.Mount{{Pattern: "/api/v1/x", Handler: h}} }},
		{"mount root", func(c *control.Config) { c.Mounts = []control.Mount{{Pattern: "/", Handler: h}} }},
		{"mount twice", func(c *control.Config) {
			c.Mounts = []control.Mount{{Pattern: "/metrics", Handler: h}, {Pattern: "/metrics", Handler: h}}
		}},
		{"mount without handler", func(c *control.Config) { c.Mounts = []control.Mount{{Pattern: "/metrics"}} }},
		{"mount conflicting", func(c *control.Config) {
			c.Mounts = []control.Mount{{Pattern: "/m/{x}", Handler: h}, {Pattern: "/{y}/n", Handler: h}}
		}},
		{"device name with dot", func(c *control.Config) { c.DeviceName = "kitchen.speaker" }},
	}
	for _, c := range cases {
		cfg := control.Config{Token: tok, Player: newFakePlayer()}
		c.mod(&cfg)
		if _, err := control.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", c.name, cfg)
		}
	}
	if _, err := control.New(control.Config{Token: tok, Player: newFakePlayer(), DeviceName: "Kitchen speaker"}); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestRun(t *testing.T) {
	tok, _ := control.NewToken()
	// Occupy a port so that Run's listen fails with a useful message.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv, err := control.New(control.Config{Addr: busy.Addr().String(), Token: tok, Player: newFakePlayer()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "control.addr") {
		t.Errorf("Run on a busy port: %v", err)
	}

	srv, err = control.New(control.Config{Addr: "127.0.0.1:0", Token: tok, Player: newFakePlayer()})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(t.Context()) }()
	srv.Close()
	// Close may land before or after Run starts serving.
	if err := <-ran; err != nil && !errors.Is(err, control.ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	srv.Close()
	if err := srv.Serve(t.Context(), busy); err == nil {
		t.Error("Serve after Close returned nil")
	}
}
