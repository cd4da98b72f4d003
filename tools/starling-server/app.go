package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/starling-audio/starling/p2p/session"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
	"github.com/starling-audio/starling/tools/catalog"
	"github.com/starling-audio/starling/tools/server"
)

type serveCmd struct {
	Catalog       string        `help:"Catalogue directory (made if missing)." default:"starling-catalog" type:"path"`
	State         string        `help:"State directory: service key and certificate, CA, devices (made if missing, 0700)." default:"starling-state" type:"path"`
	Listen        string        `help:"Session listener (TLS 1.3)." default:"127.0.0.1:7440"`
	OriginListen  string        `help:"Origin HTTP listener (GET /tracks/<id>, /manifests/<id>)." default:"127.0.0.1:7441" name:"origin-listen"`
	MetricsListen string        `help:"Prometheus /metrics and POST /admin/push listener; empty disables. Keep it private." default:"127.0.0.1:7442" name:"metrics-listen"`
	TLSCert       string        `help:"Use this service certificate (PEM) instead of the generated one." name:"tls-cert" type:"path"`
	TLSKey        string        `help:"Key (PEM) of --tls-cert." name:"tls-key" type:"path"`
	CertValidity  time.Duration `help:"Validity of device certificates." default:"24h" name:"cert-validity"`
}

// catalogAdapter satisfies server.Catalog with the real catalogue.
type catalogAdapter struct{ c *catalog.Catalog }

var _ server.Catalog = catalogAdapter{}

func (a catalogAdapter) Has(id track.ID) bool { _, ok := a.c.Entry(id); return ok }

func (a catalogAdapter) ManifestRaw(id track.ID) ([]byte, error) {
	b, err := a.c.ManifestRaw(id)
	return b, mapNotFound(err)
}

func (a catalogAdapter) Key(id track.ID) (track.Key, error) {
	k, err := a.c.Key(id)
	return k, mapNotFound(err)
}

func (a catalogAdapter) Search(q string, offset, limit int) ([]wire.SearchEntry, int) {
	res, total := a.c.Search(q, offset, limit)
	out := make([]wire.SearchEntry, len(res))
	for i, e := range res {
		out[i] = wire.SearchEntry{ID: e.ID, Title: e.Title, Artist: e.Artist, Album: e.Album,
			TrackNo: uint16(min(max(e.TrackNo, 0), 0xFFFF)), DurationMs: e.DurationMs, Size: uint64(max(e.Size, 0))}
	}
	return out, total
}

func mapNotFound(err error) error {
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("%w: %w", server.ErrNotFound, err)
	}
	return err
}

// running is a started service, for the tests.
type running struct {
	SessionAddr, OriginAddr, MetricsAddr string
	Server                               *server.Server
	Identity                             *server.Identity
	Devices                              *server.Registry
}

func (s *serveCmd) Run(ctx context.Context, log *slog.Logger) error {
	return s.serve(ctx, log, nil)
}

// serve runs until ctx ends; started, if set, is called once listening.
func (s *serveCmd) serve(ctx context.Context, log *slog.Logger, started func(running)) error {
	cat, err := catalog.Open(s.Catalog, log.With("component", "catalog"))
	if err != nil {
		return fmt.Errorf("opening catalogue %s: %w", s.Catalog, err)
	}
	id, err := server.LoadOrCreateIdentity(s.State, s.TLSCert, s.TLSKey, time.Now())
	if err != nil {
		return err
	}
	reg, err := server.OpenRegistry(s.State)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Identity: id, Devices: reg, Catalog: catalogAdapter{cat},
		Logger: log, CertValidity: s.CertValidity, Agent: "starling-server/" + version})
	if err != nil {
		return err
	}
	sessLn, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("listening for sessions on %s: %w", s.Listen, err)
	}
	defer sessLn.Close()
	originLn, err := net.Listen("tcp", s.OriginListen)
	if err != nil {
		return fmt.Errorf("listening for origin requests on %s: %w", s.OriginListen, err)
	}
	servers := []*http.Server{{Handler: cat.OriginHandler(), ReadHeaderTimeout: 10 * time.Second}}
	lns := []net.Listener{originLn}
	r := running{SessionAddr: sessLn.Addr().String(), OriginAddr: originLn.Addr().String(), Server: srv, Identity: id, Devices: reg}
	if s.MetricsListen != "" {
		mln, err := net.Listen("tcp", s.MetricsListen)
		if err != nil {
			originLn.Close()
			return fmt.Errorf("listening for metrics on %s: %w", s.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		mux.HandleFunc("POST /admin/push", pushHandler(srv))
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second})
		lns = append(lns, mln)
		r.MetricsAddr = mln.Addr().String()
	}
	log.Info("starling-server started", "version", version, "sessions", r.SessionAddr, "origin", r.OriginAddr,
		"metrics", r.MetricsAddr, "pin", id.Pin(), "tracks", cat.Len())

	var wg sync.WaitGroup
	errc := make(chan error, len(servers)+1)
	for i, hs := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(lns[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http on %s: %w", lns[i].Addr(), err)
			}
		}()
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(sctx, sessLn); err != nil {
			errc <- err
		}
	}()
	if started != nil {
		started(r)
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("service failed; shutting down", "err", runErr)
	}
	cancel()
	shut, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	for _, hs := range servers {
		hs.Shutdown(shut)
	}
	wg.Wait()
	return runErr
}

func pushHandler(srv *server.Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kind, channel := r.URL.Query().Get("kind"), r.URL.Query().Get("channel")
		payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxPushPayload))
		if err != nil {
			http.Error(w, "reading push payload: "+err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		n, err := srv.Push(kind, payload, channel)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "{\"sessions\":%d}\n", n)
	}
}

type deviceAddCmd struct {
	Name        string `arg:"" help:"Device name (unique)."`
	State       string `help:"State directory of the service." default:"starling-state" type:"path"`
	Channel     string `help:"Release channel for pushes." default:"stable"`
	ServiceAddr string `help:"Session address the speaker should dial." default:"127.0.0.1:7440" name:"service-addr"`
	OriginURL   string `help:"Origin base URL for the speaker." default:"http://127.0.0.1:7441" name:"origin-url"`
}

func (d *deviceAddCmd) Run(ctx context.Context, log *slog.Logger) error {
	out, err := d.add(time.Now())
	if err != nil {
		return err
	}
	os.Stdout.Write(out)
	return nil
}

func (d *deviceAddCmd) add(now time.Time) ([]byte, error) {
	id, err := server.LoadOrCreateIdentity(d.State, "", "", now)
	if err != nil {
		return nil, err
	}
	reg, err := server.OpenRegistry(d.State)
	if err != nil {
		return nil, err
	}
	dev, secret, err := reg.Add(d.Name, d.Channel, now)
	if err != nil {
		return nil, fmt.Errorf("adding device %q: %w", d.Name, err)
	}
	creds := session.Credentials{DeviceID: dev.ID, Secret: hex.EncodeToString(secret), ServiceAddr: d.ServiceAddr,
		ServicePin: id.Pin(), OriginURL: d.OriginURL}
	b, err := json.MarshalIndent(creds, "", "  ")
	return append(b, '\n'), err
}

type pinCmd struct {
	State string `help:"State directory of the service." default:"starling-state" type:"path"`
}

func (p *pinCmd) Run(ctx context.Context, log *slog.Logger) error {
	id, err := server.LoadOrCreateIdentity(p.State, "", "", time.Now())
	if err != nil {
		return err
	}
	fmt.Println(id.Pin())
	return nil
}
