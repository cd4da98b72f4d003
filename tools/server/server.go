package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
)

// ErrNotFound is what a Catalog returns (wrapped) for an unknown track.
var ErrNotFound = errors.New("server: no such track")

// Catalog is what the session server needs from the catalogue. The main
// adapts tools/catalog to it.
type Catalog interface {
	// Has reports whether id is a catalogue track.
	Has(id track.ID) bool
	// ManifestRaw returns the canonical manifest bytes of id.
	ManifestRaw(id track.ID) ([]byte, error)
	// Key returns the track key of id.
	Key(id track.ID) (track.Key, error)
	// Search returns a ranked page of matches and the total match count.
	Search(query string, offset, limit int) ([]wire.SearchEntry, int)
}

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	Identity *Identity // required
	Devices  *Registry // required
	Catalog  Catalog   // required
	Tracker  *Tracker  // default: a new in-memory tracker
	Logger   *slog.Logger
	// Registry receives the server's metrics; default a new registry.
	Registry *prometheus.Registry
	// Now is the clock for certificates; default time.Now.
	Now func() time.Time
	// CertValidity of device certificates; default 24 h.
	CertValidity time.Duration
	// HandshakeTimeout bounds TLS + Hello; default 10 s.
	HandshakeTimeout time.Duration
	// KeepaliveInterval/Timeout of sessions; defaults 30 s / 20 s.
	KeepaliveInterval, KeepaliveTimeout time.Duration
	// MaxSessions bounds concurrent connections; default 10000.
	MaxSessions int
	// Agent is sent in Hello; default "starling-server".
	Agent string
}

// Validate checks cfg and fills defaults.
func (c *Config) Validate() error {
	if c.Identity == nil || c.Devices == nil || c.Catalog == nil {
		return errors.New("server: config needs Identity, Devices and Catalog")
	}
	if c.Tracker == nil {
		c.Tracker = NewTracker()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CertValidity <= 0 {
		c.CertValidity = 24 * time.Hour
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = 30 * time.Second
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = 20 * time.Second
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10000
	}
	if c.Agent == "" {
		c.Agent = "starling-server"
	}
	return nil
}

// Server is the session server. New starts nothing; Serve runs it.
type Server struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	tls  *tls.Config
	slot chan struct{}

	mu     sync.Mutex
	byPeer map[wire.PeerID]*devSession
	all    map[*devSession]struct{}
}

type devSession struct {
	conn     *wire.Conn
	remoteIP string
	log      *slog.Logger
	loggedIn atomic.Bool
	mu       sync.Mutex
	dev      Device
	peer     wire.PeerID
	pub      ed25519.PublicKey
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "session-server"),
		m:      newMetrics(cfg.Registry, cfg.Tracker),
		slot:   make(chan struct{}, cfg.MaxSessions),
		byPeer: map[wire.PeerID]*devSession{},
		all:    map[*devSession]struct{}{},
	}
	s.tls = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cfg.Identity.TLS},
		NextProtos:   []string{"starling/1"},
	}
	return s, nil
}

// MetricsHandler serves the server's registry in the Prometheus format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{Registry: s.cfg.Registry})
}

// Tracker returns the server's tracker.
func (s *Server) Tracker() *Tracker { return s.cfg.Tracker }

// Sessions returns the number of logged-in sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byPeer)
}

// Serve accepts sessions on ln until ctx ends, then tells every session to
// go away, closes them and returns nil. ln is closed on return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	s.log.Info("serving sessions", "addr", ln.Addr().String())
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("accepting sessions on %s: %w", ln.Addr(), err)
		}
		delay = 0
		select {
		case s.slot <- struct{}{}:
		default:
			s.m.rejected.WithLabelValues("max_sessions").Inc()
			nc.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.slot }()
			s.handleConn(ctx, nc)
		}()
	}
}

func (s *Server) handleConn(ctx context.Context, nc net.Conn) {
	remote := nc.RemoteAddr().String()
	log := s.log.With("remote", remote)
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	tc := tls.Server(nc, s.tls)
	if err := tc.HandshakeContext(hctx); err != nil {
		s.m.rejected.WithLabelValues("tls").Inc()
		log.Debug("TLS handshake failed", "err", err)
		tc.Close()
		return
	}
	sess := &devSession{log: log}
	if host, _, err := net.SplitHostPort(remote); err == nil {
		sess.remoteIP = host
	}
	conn, err := wire.Open(hctx, tc, wire.Config{
		Role: "service", Agent: s.cfg.Agent, Logger: log,
		Handler: wire.HandlerFunc(func(ctx context.Context, c *wire.Conn, m *wire.Message) ([]byte, error) {
			return s.handle(ctx, sess, m)
		}),
		KeepaliveInterval: s.cfg.KeepaliveInterval, KeepaliveTimeout: s.cfg.KeepaliveTimeout,
	})
	if err != nil {
		s.m.rejected.WithLabelValues("hello").Inc()
		log.Debug("session handshake failed", "err", err)
		return
	}
	sess.conn = conn
	s.mu.Lock()
	s.all[sess] = struct{}{}
	s.mu.Unlock()
	select {
	case <-conn.Done():
		conn.Close()
	case <-ctx.Done():
		gctx, gcancel := context.WithTimeout(context.Background(), time.Second)
		conn.GoAway(gctx, wire.CodeUnavailable, "service shutting down")
		gcancel()
	}
	s.mu.Lock()
	delete(s.all, sess)
	if sess.loggedIn.Load() && s.byPeer[sess.peer] == sess {
		delete(s.byPeer, sess.peer)
		s.m.sessions.Dec()
	}
	s.mu.Unlock()
	log.Debug("session ended", "err", conn.Err())
}

// online reports whether peer has a live session.
func (s *Server) online(p wire.PeerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byPeer[p]
	return ok
}

var typeNames = map[wire.Type]string{
	wire.TypeLogin: "login", wire.TypeRenewCert: "renew", wire.TypeManifest: "manifest", wire.TypeTrackKey: "key",
	wire.TypeSearch: "search", wire.TypeTrackerQuery: "tracker", wire.TypeAnnounce: "announce", wire.TypeWithdraw: "withdraw",
}

func (s *Server) handle(ctx context.Context, sess *devSession, m *wire.Message) ([]byte, error) {
	name, known := typeNames[m.Type]
	if !known {
		name = "unknown"
	}
	start := time.Now()
	resp, err := s.dispatch(ctx, sess, m)
	s.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	result := "ok"
	if err != nil {
		result = "internal error"
		var re *wire.RemoteError
		if errors.As(err, &re) {
			result = re.Code.String()
		} else if errors.Is(err, wire.ErrMalformed) {
			result = wire.CodeBadRequest.String()
		}
	}
	s.m.requests.WithLabelValues(name, result).Inc()
	return resp, err
}

func (s *Server) dispatch(ctx context.Context, sess *devSession, m *wire.Message) ([]byte, error) {
	if m.NoReply {
		return nil, nil // the service takes no notifications from speakers yet
	}
	if m.Type == wire.TypeLogin {
		return s.login(sess, m.Payload)
	}
	if !sess.loggedIn.Load() {
		return nil, wire.Errorf(wire.CodeUnauth, "log in first")
	}
	switch m.Type {
	case wire.TypeRenewCert:
		req, err := wire.UnmarshalRenewRequest(m.Payload)
		if err != nil {
			return nil, err
		}
		sess.mu.Lock()
		same := ed25519.PublicKey(req.PublicKey).Equal(sess.pub)
		dev := sess.dev
		sess.mu.Unlock()
		if !same {
			return nil, wire.Errorf(wire.CodeForbidden, "renewal must use the key given at login; log in again to change keys")
		}
		return s.issue(dev, req.PublicKey)
	case wire.TypeManifest:
		id, err := wire.UnmarshalTrackID(m.Payload)
		if err != nil {
			return nil, err
		}
		raw, err := s.cfg.Catalog.ManifestRaw(id)
		if err != nil {
			return nil, catalogErr(id, err)
		}
		return wire.MarshalManifestResponse(raw)
	case wire.TypeTrackKey:
		id, err := wire.UnmarshalTrackID(m.Payload)
		if err != nil {
			return nil, err
		}
		k, err := s.cfg.Catalog.Key(id)
		if err != nil {
			return nil, catalogErr(id, err)
		}
		return append([]byte(nil), k[:]...), nil
	case wire.TypeSearch:
		req, err := wire.UnmarshalSearchRequest(m.Payload)
		if err != nil {
			return nil, err
		}
		entries, total := s.cfg.Catalog.Search(req.Query, int(min(req.Offset, 1<<30)), int(req.Limit))
		if len(entries) > int(req.Limit) {
			entries = entries[:req.Limit]
		}
		resp := wire.SearchResponse{Total: uint32(min(max(total, 0), 1<<31)), Entries: entries}
		return resp.Marshal()
	case wire.TypeTrackerQuery:
		id, err := wire.UnmarshalTrackID(m.Payload)
		if err != nil {
			return nil, err
		}
		return wire.MarshalTrackerResponse(s.cfg.Tracker.Query(id, sess.peer, s.online))
	case wire.TypeAnnounce:
		a, err := wire.UnmarshalAnnounce(m.Payload)
		if err != nil {
			return nil, err
		}
		addr := a.ListenAddr
		host, port, _ := net.SplitHostPort(addr)
		if host == "" {
			addr = net.JoinHostPort(sess.remoteIP, port)
		}
		unknown := 0
		for _, id := range a.Tracks {
			if !s.cfg.Catalog.Has(id) {
				unknown++
				continue
			}
			s.cfg.Tracker.Announce(id, sess.peer, addr)
		}
		if unknown > 0 {
			return nil, wire.Errorf(wire.CodeNotFound, "%d of %d announced tracks are not in the catalogue (the others were recorded)", unknown, len(a.Tracks))
		}
		return nil, nil
	case wire.TypeWithdraw:
		ids, err := wire.UnmarshalWithdraw(m.Payload)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			s.cfg.Tracker.Withdraw(id, sess.peer)
		}
		return nil, nil
	}
	return nil, wire.Errorf(wire.CodeUnknownType, "unknown message type 0x%04x", uint16(m.Type))
}

func catalogErr(id track.ID, err error) error {
	if errors.Is(err, ErrNotFound) {
		return wire.Errorf(wire.CodeNotFound, "track %s is not in the catalogue", id.Short())
	}
	return fmt.Errorf("reading catalogue for %s: %w", id.Short(), err)
}

func (s *Server) login(sess *devSession, payload []byte) ([]byte, error) {
	if sess.loggedIn.Load() {
		return nil, wire.Errorf(wire.CodeBadRequest, "already logged in")
	}
	req, err := wire.UnmarshalLoginRequest(payload)
	if err != nil {
		s.m.logins.WithLabelValues("malformed").Inc()
		return nil, &wire.RemoteError{Code: wire.CodeBadRequest, Message: err.Error(), Close: true}
	}
	dev, err := s.cfg.Devices.Verify(req.DeviceID, req.Secret)
	if err != nil {
		s.m.logins.WithLabelValues("refused").Inc()
		sess.log.Warn("login refused", "device", req.DeviceID, "err", err)
		if errors.Is(err, ErrBadCredentials) {
			return nil, &wire.RemoteError{Code: wire.CodeUnauth, Message: "unknown device or wrong secret", Close: true}
		}
		return nil, err
	}
	resp, err := s.issue(dev, req.PublicKey)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(mustCert(resp))
	peer := wire.PeerIDFromCert(cert)
	sess.mu.Lock()
	sess.dev, sess.peer, sess.pub = dev, peer, ed25519.PublicKey(req.PublicKey)
	sess.log = sess.log.With("device", dev.ID, "peer", peer)
	sess.mu.Unlock()
	s.mu.Lock()
	if old := s.byPeer[peer]; old != nil {
		old.conn.Abort(errors.New("replaced by a newer session of the same device"))
	} else {
		s.m.sessions.Inc()
	}
	s.byPeer[peer] = sess
	sess.loggedIn.Store(true)
	s.mu.Unlock()
	s.m.logins.WithLabelValues("ok").Inc()
	sess.log.Info("device logged in", "name", dev.Name, "agent", req.Agent)
	return resp, nil
}

// mustCert extracts the certificate from an encoded LoginResponse we made.
func mustCert(resp []byte) []byte {
	r, err := wire.UnmarshalLoginResponse(resp)
	if err != nil {
		return nil
	}
	return r.Cert
}

func (s *Server) issue(dev Device, pub []byte) ([]byte, error) {
	now := s.cfg.Now()
	der, err := s.cfg.Identity.IssueDeviceCert(dev.ID, ed25519.PublicKey(pub), now, s.cfg.CertValidity)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate just issued: %w", err)
	}
	s.m.certsIssd.Inc()
	r := wire.LoginResponse{Cert: der, CA: s.cfg.Identity.CADER, ServerTimeMs: uint64(now.UnixMilli()), PeerID: wire.PeerIDFromCert(cert)}
	return r.Marshal()
}

// Push sends a typed push to every logged-in session, or only to those of
// devices on channel if channel is not empty. It returns how many sessions
// it was queued to.
func (s *Server) Push(kind string, payload []byte, channel string) (int, error) {
	p := wire.Push{Kind: kind, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		return 0, fmt.Errorf("encoding push %q: %w", kind, err)
	}
	s.mu.Lock()
	targets := make([]*devSession, 0, len(s.byPeer))
	for _, sess := range s.byPeer {
		sess.mu.Lock()
		ch := sess.dev.Channel
		sess.mu.Unlock()
		if channel == "" || ch == channel {
			targets = append(targets, sess)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, sess := range targets {
		if sess.conn.Notify(wire.TypePush, b, wire.PrioBackground) == nil {
			n++
		}
	}
	s.m.pushes.Add(float64(n))
	s.log.Info("push queued", "kind", kind, "channel", channel, "sessions", n)
	return n, nil
}
