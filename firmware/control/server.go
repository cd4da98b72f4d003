package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"
)

// DefaultPort is the control API's TCP port unless configured otherwise.
const DefaultPort = 7410

// APIPrefix is the path prefix of every versioned endpoint.
const APIPrefix = "/api/v1/"

// Defaults for Config's zero fields.
const (
	DefaultAddr              = ":7410"
	DefaultMaxBodyBytes      = 4 << 10
	DefaultMaxStreams        = 8
	DefaultKeepAlive         = 15 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 15 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultShutdownTimeout   = 5 * time.Second
)

// Mount is an extra handler served on the API's listener, outside the
// token check (e.g. /metrics for Prometheus). Pattern is a net/http ServeMux
// pattern and must not fall under /api/.
type Mount struct {
	Pattern string
	Handler http.Handler
}

// Config configures a Server. Zero fields take the defaults above.
type Config struct {
	// Addr is the TCP listen address (default ":7410", every interface:
	// the API is meant for the LAN). Honoured by Run.
	Addr string
	// Token is the bearer token clients must present (required); see
	// LoadOrCreateToken.
	Token string
	// Player is what the API drives (required).
	Player Player
	// Logger receives the server's logs (default: discard).
	Logger *slog.Logger
	// Version is reported by /api/v1/health, Status (when the Player leaves
	// it empty) and the mDNS TXT record.
	Version string
	// DeviceName names the speaker on the LAN (mDNS instance name and TXT
	// record). Default: the host name.
	DeviceName string
	// MDNS advertises the API as _starling._tcp on the LAN while serving
	// (config control.mdns). Default false.
	MDNS bool
	// Mounts are extra unauthenticated handlers on the same listener.
	Mounts []Mount
	// MaxBodyBytes limits request bodies (default 4 KiB).
	MaxBodyBytes int64
	// MaxStreams limits concurrent event streams (default 8); more get 503.
	MaxStreams int
	// KeepAlive is the interval of SSE comment lines that keep idle event
	// streams open through proxies and detect gone clients (default 15 s).
	KeepAlive time.Duration
	// Timeouts of the http.Server. WriteTimeout also bounds each write on an
	// event stream.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown (default 5 s).
	ShutdownTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// Validate checks the configuration (after defaults are applied by New).
func (c *Config) Validate() error {
	if c.Player == nil {
		return errors.New("control config: no Player")
	}
	if _, err := ParseToken([]byte(c.Token)); err != nil {
		return fmt.Errorf("control config: token: %w (use LoadOrCreateToken)", err)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("control config: addr %q: %w (want host:port, e.g. :7410)", c.Addr, err)
	}
	if c.MaxBodyBytes < 256 || c.MaxBodyBytes > 1<<20 {
		return fmt.Errorf("control config: max body %d bytes out of range [256, 1 MiB]", c.MaxBodyBytes)
	}
	if c.MaxStreams < 1 || c.MaxStreams > 1024 {
		return fmt.Errorf("control config: max streams %d out of range [1, 1024]", c.MaxStreams)
	}
	for _, d := range []time.Duration{c.KeepAlive, c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout, c.ShutdownTimeout} {
		if d < 0 {
			return fmt.Errorf("control config: negative duration %v", d)
		}
	}
	if c.DeviceName != "" {
		if err := validInstance(c.DeviceName); err != nil {
			return fmt.Errorf("control config: device name: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, m := range c.Mounts {
		path := m.Pattern
		if i := strings.IndexByte(path, ' '); i >= 0 {
			path = strings.TrimSpace(path[i+1:])
		}
		switch {
		case m.Handler == nil:
			return fmt.Errorf("control config: mount %q has no handler", m.Pattern)
		case !strings.HasPrefix(path, "/") || path == "/":
			return fmt.Errorf("control config: mount %q: want a path such as /metrics", m.Pattern)
		case strings.HasPrefix(path, "/api/") || path == "/api":
			return fmt.Errorf("control config: mount %q: /api/ is reserved for the control API", m.Pattern)
		case seen[m.Pattern]:
			return fmt.Errorf("control config: mount %q given twice", m.Pattern)
		}
		seen[m.Pattern] = true
	}
	return nil
}

// Server is the control API. New starts nothing; Run or Serve serve until
// their context is done or Close is called.
type Server struct {
	cfg     Config
	log     *slog.Logger
	player  Player
	handler http.Handler
	streams chan struct{} // semaphore of event streams

	quit     chan struct{} // closed by Close: ends event streams and Serve
	quitOnce sync.Once

	mu      sync.Mutex
	serving bool
}

// New checks cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "control"),
		player:  cfg.Player,
		streams: make(chan struct{}, cfg.MaxStreams),
		quit:    make(chan struct{}),
	}
	h, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = h
	return s, nil
}

// Handler returns the server's handler (the API, /api/v1/health and the
// mounts), for embedding or httptest. Event streams served through it end
// when Close is called.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Config.Addr and serves until ctx is done or Close is
// called; it then shuts down gracefully and returns nil.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening for the control API on %s: %w (is another starlingd running, or is control.addr wrong?)", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (which it closes) until ctx is done or Close is
// called; it then ends event streams, shuts the HTTP server down gracefully,
// stops the mDNS responder and returns nil. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		ln.Close()
		return errors.New("control: Serve called twice")
	}
	s.serving = true
	s.mu.Unlock()
	select {
	case <-s.quit:
		ln.Close()
		return ErrClosed
	default:
	}

	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var adv *mdns.Server
	if s.cfg.MDNS {
		var err error
		adv, err = s.startMDNS(ln.Addr())
		if err != nil {
			// The API still works by address; discovery is a convenience.
			s.log.Warn("mDNS advertisement not started; clients need the address", "err", err)
		}
	}
	s.log.Info("control API listening", "addr", ln.Addr().String(), "mdns", adv != nil)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case <-s.quit:
	case serveErr = <-errc:
	}
	s.closeQuit()
	if serveErr == nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		if err := hs.Shutdown(sctx); err != nil {
			s.log.Warn("control API graceful shutdown timed out; closing connections", "err", err)
			hs.Close()
		}
		cancel()
		<-errc // http.ErrServerClosed
	}
	if adv != nil {
		_ = adv.Shutdown()
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serving the control API: %w", serveErr)
	}
	s.log.Info("control API stopped")
	return nil
}

// Close ends event streams and makes Run/Serve return. It is idempotent and
// safe to call before, during or after serving.
func (s *Server) Close() error {
	s.closeQuit()
	return nil
}

func (s *Server) closeQuit() { s.quitOnce.Do(func() { close(s.quit) }) }
