package firmware_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-audio/starling/firmware/control"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/demo"
	"github.com/starling-audio/starling/tools/fleet"
)

// TestEndToEnd drives real starlingd processes and a real starling-server
// through the control API: play, queue, volume, pause, resume, next; checks
// the event stream and the metrics, and that a second speaker takes a track
// the first one played from it rather than from the origin.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes; skipped with -short")
	}
	if os.Getenv("STARLING_TEST_EXEC") != "" {
		t.Skip("runs host processes; the arm64 daemon is covered by the qemu-system boot test")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	build := exec.Command(gobin, "build", "-o", bin+"/",
		"github.com/starling-audio/starling/firmware/cmd/starlingd",
		"github.com/starling-audio/starling/tools/starling-server",
		"github.com/starling-audio/starling/tools/starling-ingest")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// 30 s tracks (37 chunks): long enough that the origin sends only the
	// start of a track a peer has. `make test` installs sox and oggenc.
	tracks, err := demo.MakeTracks(ctx, filepath.Join(dir, "music"), 2, 30)
	if err != nil {
		t.Skipf("cannot make test tracks: %v", err)
	}
	f, err := fleet.Start(ctx, fleet.Options{Dir: filepath.Join(dir, "fleet"), Bin: bin, Speakers: 2, Tracks: tracks, Speed: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s1, s2 := f.Speakers[0], f.Speakers[1]

	// Collect speaker 1's events.
	var mu sync.Mutex
	var events []control.Event
	evCtx, evStop := context.WithCancel(ctx)
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		s1.Control.Events(evCtx, func(e control.Event) error {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
			return nil
		})
	}()
	countEvents := func(typ string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range events {
			if e.Type == typ {
				n++
			}
		}
		return n
	}
	waitFor := func(what string, cond func(control.Status) bool) control.Status {
		t.Helper()
		for {
			st, err := s1.Control.Status(ctx)
			if err == nil && cond(st) {
				return st
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v (last status %+v, err %v; log %s)", what, ctx.Err(), st, err, s1.LogPath())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	chord, err := s1.Control.Play(ctx, control.PlayRequest{Query: "demo track 1"})
	if err != nil {
		t.Fatal(err)
	}
	pluck, err := s1.Control.Queue(ctx, control.PlayRequest{Query: "demo track 2"})
	if err != nil {
		t.Fatal(err)
	}
	if chord.ID == pluck.ID || chord.Title == "" {
		t.Fatalf("search resolved to %+v and %+v", chord, pluck)
	}
	waitFor("chord playing", func(s control.Status) bool {
		return s.State == control.StatePlaying && s.Track != nil && s.Track.ID == chord.ID && s.PositionMs > 0
	})
	if err := s1.Control.SetVolume(ctx, 30); err != nil {
		t.Fatal(err)
	}
	waitFor("volume 30", func(s control.Status) bool { return s.Volume == 30 })

	if err := s1.Control.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	paused := waitFor("paused", func(s control.Status) bool { return s.State == control.StatePaused })
	time.Sleep(300 * time.Millisecond) // let a playing clock move, if it wrongly does
	// Pause takes effect at the device's next period (1024 frames, 23 ms);
	// at 4x a running clock would have moved 1200 ms.
	if st, _ := s1.Control.Status(ctx); st.PositionMs-paused.PositionMs > 50 || st.State != control.StatePaused {
		t.Fatalf("position moved while paused: %d -> %d (%s)", paused.PositionMs, st.PositionMs, st.State)
	}
	if err := s1.Control.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("resumed", func(s control.Status) bool {
		return s.State == control.StatePlaying && s.PositionMs > paused.PositionMs
	})

	if err := s1.Control.Next(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("pluck playing after next", func(s control.Status) bool {
		return s.Track != nil && s.Track.ID == pluck.ID && s.State == control.StatePlaying
	})
	waitFor("queue played out", func(s control.Status) bool { return s.State == control.StateStopped })

	if n := countEvents(control.EventTrack); n < 2 {
		t.Errorf("saw %d track events, want at least 2 (one per started track)", n)
	}
	if n := countEvents(control.EventStatus); n < 1 {
		t.Errorf("the event stream did not start with a status event")
	}
	m, err := s1.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m["starling_playback_latency_seconds_count"] < 2 {
		t.Errorf("latency histogram has %v samples, want >= 2", m["starling_playback_latency_seconds_count"])
	}
	if m[`starling_stream_bytes_total{source="origin"}`] <= 0 {
		t.Errorf("speaker 1 fetched nothing from the origin: %v", m)
	}
	if m["starling_stutters_total"] != 0 {
		t.Errorf("speaker 1 stuttered %v times on loopback", m["starling_stutters_total"])
	}

	// Speaker 2 plays what speaker 1 has complete (pluck, played to its end;
	// chord was skipped, so speaker 1 holds only part of it), once the
	// tracker knows it: peers must carry part of it.
	for trackerTracks(ctx, t, f.MetricsAddr) < 1 {
		select {
		case <-ctx.Done():
			t.Fatalf("speaker 1 never announced its tracks: %v", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := s2.Control.Play(ctx, control.PlayRequest{TrackID: pluck.ID}); err != nil {
		t.Fatal(err)
	}
	for {
		st, err := s2.Control.Status(ctx)
		if err == nil && st.State == control.StateStopped && st.Sources.Origin+st.Sources.Peers > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("speaker 2 did not finish: %v", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	m2, err := s2.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if peers := m2[`starling_stream_bytes_total{source="peers"}`]; peers <= 0 {
		log, _ := os.ReadFile(s2.LogPath())
		t.Errorf("speaker 2 got no bytes from peers (origin %v); its log:\n%s", m2[`starling_stream_bytes_total{source="origin"}`], log)
	}

	// Service down: speaker 1 notices, and still plays what it has cached.
	if err := f.StopService(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor("logged out after the service stopped", func(s control.Status) bool { return !s.LoggedIn })
	if _, err := s1.Control.Play(ctx, control.PlayRequest{TrackID: pluck.ID}); err != nil {
		t.Fatalf("playing a cached track with the service down: %v", err)
	}
	waitFor("cached pluck playing offline", func(s control.Status) bool {
		return s.State == control.StatePlaying && s.Track != nil && s.Track.ID == pluck.ID && s.PositionMs > 0
	})
	waitFor("cached pluck played out offline", func(s control.Status) bool { return s.State == control.StateStopped })
	if m, err := s1.Metrics(ctx); err != nil || m["starling_tracks_failed_total"] != 0 {
		t.Errorf("offline play failed: metrics %v, err %v", m["starling_tracks_failed_total"], err)
	}

	evStop()
	<-evDone
	// Track events say whether the play came from the cache: pluck was
	// fetched the first time (after Next) and played from the cache offline.
	var pluckPlays []bool
	var lastLatency float64
	for _, e := range events {
		var d struct {
			ID        track.ID `json:"id"`
			LatencyMs float64  `json:"latency_ms"`
			Cached    bool     `json:"cached"`
		}
		if e.Type != control.EventTrack || json.Unmarshal(e.Data, &d) != nil || d.ID != pluck.ID {
			continue
		}
		pluckPlays, lastLatency = append(pluckPlays, d.Cached), d.LatencyMs
	}
	if len(pluckPlays) != 2 || pluckPlays[0] || !pluckPlays[1] {
		t.Errorf("pluck's track events said cached = %v; want [false true]", pluckPlays)
	}
	if lastLatency <= 0 {
		t.Errorf("the commanded offline play of pluck reported latency %v ms", lastLatency)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("a process did not stop cleanly: %v", err)
	}
}

// trackerTracks reads the service's starling_server_tracker_tracks gauge.
func trackerTracks(ctx context.Context, t *testing.T, addr string) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "starling_server_tracker_tracks "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
