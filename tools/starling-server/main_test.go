package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/p2p/session"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/tools/catalog"
	"github.com/starling-audio/starling/tools/fixtures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServeIntegration runs the real service (real catalogue, session
// server, origin and metrics listeners on loopback), logs a provisioned
// device in, finds a track, fetches its manifest and key, and reads a chunk
// range from the origin that verifies and decrypts to Ogg.
func TestServeIntegration(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	catDir, stateDir := filepath.Join(dir, "catalog"), filepath.Join(dir, "state")

	// ingest a fixture with the catalogue's own API (what starling-ingest does)
	cat, err := catalog.Open(catDir, log)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "chord.ogg")
	b, err := fixtures.Read(fixtures.Chord44kStereo)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, b, 0o644)
	entry, _, err := cat.Ingest(context.Background(), src, catalog.IngestOptions{Title: "Integration Chord", Artist: "Fixture Band"})
	if err != nil {
		t.Fatal(err)
	}

	cmd := &serveCmd{Catalog: catDir, State: stateDir, Listen: "127.0.0.1:0", OriginListen: "127.0.0.1:0",
		MetricsListen: "127.0.0.1:0", CertValidity: 24 * time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan running, 1)
	done := make(chan error, 1)
	go func() { done <- cmd.serve(ctx, log, func(r running) { started <- r }) }()
	var r running
	select {
	case r = <-started:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	credJSON, err := (&deviceAddCmd{Name: "speaker-1", State: stateDir, Channel: "stable", ServiceAddr: r.SessionAddr}).add(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := session.ParseCredentials(credJSON)
	if err != nil {
		t.Fatal(err)
	}
	cfg := session.Config{Logger: log, KeepaliveInterval: -1}
	if err := creds.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	c, err := session.Dial(rctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	res, err := c.Search(rctx, "fixture", 0, 10)
	if err != nil || res.Total != 1 || res.Entries[0].ID != entry.ID {
		t.Fatalf("search: %+v %v", res, err)
	}
	m, _, err := c.Manifest(rctx, entry.ID)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.Key(rctx, entry.ID)
	if err != nil {
		t.Fatal(err)
	}
	// chunk 0 by range request from the origin
	req, _ := http.NewRequestWithContext(rctx, "GET", fmt.Sprintf("http://%s/tracks/%s", r.OriginAddr, entry.ID), nil)
	n := m.ChunkLen(0)
	req.Header.Set("Range", fmt.Sprintf("bytes=0-%d", n-1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	chunk, err := io.ReadAll(io.LimitReader(resp.Body, track.ChunkSize+1))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("origin range GET: %d %v", resp.StatusCode, err)
	}
	if err := m.VerifyChunk(0, chunk); err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(chunk))
	track.XORKeyStreamAt(key, plain, chunk, 0)
	if !bytes.HasPrefix(plain, []byte("OggS")) {
		t.Fatal("chunk 0 does not decrypt to an Ogg page")
	}
	// metrics and admin push
	mresp, err := http.Get("http://" + r.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), `starling_server_logins_total{result="ok"} 1`) {
		t.Fatalf("metrics lack the login:\n%s", mb)
	}
	presp, err := http.Post("http://"+r.MetricsAddr+"/admin/push?kind=firmware-release&channel=stable", "application/json", strings.NewReader(`{"v":"2"}`))
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	select {
	case p := <-c.Pushes():
		if p.Kind != "firmware-release" || string(p.Payload) != `{"v":"2"}` {
			t.Fatalf("push %+v", p)
		}
	case <-rctx.Done():
		t.Fatal("push not delivered")
	}
	http.DefaultClient.CloseIdleConnections()
}
