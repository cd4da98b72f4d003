package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
)

// Errors of the client.
var (
	ErrClosed      = errors.New("session: client closed")
	ErrPinMismatch = errors.New("session: service certificate does not match the pinned fingerprint (wrong address, or the service's identity changed: update service_pin)")
	ErrNoCert      = errors.New("session: no device certificate yet")
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	Addr       string   // service session address, host:port (required)
	DeviceID   string   // required
	Secret     []byte   // 32 bytes (required)
	ServicePin [32]byte // SHA-256 of the service certificate DER (required)
	// DeviceKey is the device's ed25519 identity; default a fresh key (the
	// firmware should persist one so the peer ID is stable).
	DeviceKey ed25519.PrivateKey
	Logger    *slog.Logger
	Agent     string // default "starling"
	// MinBackoff/MaxBackoff bound reconnect delays; defaults 250 ms / 30 s.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds one connect+login; default 10 s.
	DialTimeout time.Duration
	// KeepaliveInterval/Timeout of the connection; defaults 30 s / 20 s.
	KeepaliveInterval, KeepaliveTimeout time.Duration
	// PushBuffer is the Pushes channel's capacity; default 16.
	PushBuffer int
	// Now is the clock used to schedule renewals; default time.Now.
	Now func() time.Time
}

// Validate checks cfg and fills defaults.
func (c *Config) Validate() error {
	if c.Addr == "" || c.DeviceID == "" || len(c.Secret) != wire.SecretLen || c.ServicePin == ([32]byte{}) {
		return errors.New("session: config needs Addr, DeviceID, a 32-byte Secret and ServicePin (use Credentials.Apply)")
	}
	if c.DeviceKey == nil {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("generating device key: %w", err)
		}
		c.DeviceKey = k
	}
	if len(c.DeviceKey) != ed25519.PrivateKeySize {
		return errors.New("session: DeviceKey is not an ed25519 private key")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Agent == "" {
		c.Agent = "starling"
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(30*time.Second, c.MinBackoff)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.PushBuffer <= 0 {
		c.PushBuffer = 16
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Client is a logged-in session to the service.
type Client struct {
	cfg    Config
	log    *slog.Logger
	pushes chan wire.Push
	quit   chan struct{}
	life   context.Context // cancelled by Close: bounds reconnect attempts
	kill   context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup

	mu        sync.Mutex
	conn      *wire.Conn
	ready     chan struct{} // closed while conn is usable
	err       error         // permanent failure
	cert      *tls.Certificate
	leaf      *x509.Certificate
	ca        *x509.CertPool
	peer      wire.PeerID
	announced map[track.ID]struct{}
	listen    string
}

// Dial connects, logs in and starts the supervisor. It fails if the first
// login fails; later disconnections are retried in the background.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "session"),
		pushes:    make(chan wire.Push, cfg.PushBuffer),
		quit:      make(chan struct{}),
		ready:     make(chan struct{}),
		announced: map[track.ID]struct{}{},
	}
	c.life, c.kill = context.WithCancel(context.Background())
	conn, err := c.connect(ctx)
	if err != nil {
		c.kill()
		return nil, err
	}
	c.setConn(conn)
	c.wg.Add(1)
	go c.supervise()
	return c, nil
}

// Pushes delivers server pushes.
func (c *Client) Pushes() <-chan wire.Push { return c.pushes }

// PeerID returns this device's peer ID.
func (c *Client) PeerID() wire.PeerID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer
}

// PeerCertificate returns the current device certificate and the service CA.
func (c *Client) PeerCertificate() (*tls.Certificate, *x509.CertPool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert == nil {
		return nil, nil, ErrNoCert
	}
	return c.cert, c.ca, nil
}

// CertExpiry returns when the current device certificate expires.
func (c *Client) CertExpiry() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaf == nil {
		return time.Time{}
	}
	return c.leaf.NotAfter
}

// Err returns the permanent error that stopped the client, if any.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops the client. It is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.quit); c.kill() })
	c.wg.Wait()
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	return nil
}

func (c *Client) connect(ctx context.Context) (*wire.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to the service at %s: %w", c.cfg.Addr, err)
	}
	tc := tls.Client(nc, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // the pin below is the verification
		NextProtos:         []string{"starling/1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			if sha256.Sum256(cs.PeerCertificates[0].Raw) != c.cfg.ServicePin {
				return ErrPinMismatch
			}
			return nil
		},
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", c.cfg.Addr, err)
	}
	conn, err := wire.Open(ctx, tc, wire.Config{
		Role: "speaker", Agent: wire.TruncUTF8(c.cfg.Agent, wire.MaxAgentLen), Logger: c.log,
		Handler:           wire.Router{wire.TypePush: c.onPush},
		KeepaliveInterval: c.cfg.KeepaliveInterval, KeepaliveTimeout: c.cfg.KeepaliveTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("opening session with %s: %w", c.cfg.Addr, err)
	}
	pub := c.cfg.DeviceKey.Public().(ed25519.PublicKey)
	req := wire.LoginRequest{DeviceID: c.cfg.DeviceID, Secret: c.cfg.Secret, PublicKey: pub, Agent: wire.TruncUTF8(c.cfg.Agent, wire.MaxAgentLen)}
	b, err := req.Marshal()
	if err == nil {
		b, err = conn.Request(ctx, wire.TypeLogin, b, wire.PrioUrgent)
	}
	if err == nil {
		err = c.takeCert(b)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("logging in as %s: %w", c.cfg.DeviceID, err)
	}
	return conn, nil
}

func (c *Client) takeCert(b []byte) error {
	r, err := wire.UnmarshalLoginResponse(b)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(r.Cert)
	if err != nil {
		return fmt.Errorf("parsing device certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(r.CA)
	if err != nil {
		return fmt.Errorf("parsing service CA: %w", err)
	}
	if !bytes.Equal(leaf.RawSubjectPublicKeyInfo, mustSPKI(c.cfg.DeviceKey.Public())) {
		return errors.New("device certificate is not for this device's key")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := VerifyPeerCert([]*x509.Certificate{leaf}, pool, leaf.NotBefore.Add(time.Minute)); err != nil {
		return fmt.Errorf("device certificate does not chain to the CA sent with it: %w", err)
	}
	c.mu.Lock()
	c.cert = &tls.Certificate{Certificate: [][]byte{r.Cert}, PrivateKey: c.cfg.DeviceKey, Leaf: leaf}
	c.leaf, c.ca, c.peer = leaf, pool, wire.PeerIDFromCert(leaf)
	c.mu.Unlock()
	return nil
}

func mustSPKI(pub any) []byte {
	b, _ := x509.MarshalPKIXPublicKey(pub)
	return b
}

func (c *Client) onPush(ctx context.Context, _ *wire.Conn, m *wire.Message) ([]byte, error) {
	p, err := wire.UnmarshalPush(m.Payload)
	if err != nil {
		c.log.Warn("dropping malformed push", "err", err)
		return nil, nil
	}
	select {
	case c.pushes <- p:
	default:
		c.log.Warn("dropping push: consumer not keeping up", "kind", p.Kind)
	}
	return nil, nil
}

// setConn installs a live connection and wakes requests waiting for one.
func (c *Client) setConn(conn *wire.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = conn
	close(c.ready)
}

// current returns the live connection, waiting for a reconnection.
func (c *Client) current(ctx context.Context) (*wire.Conn, error) {
	for {
		c.mu.Lock()
		conn, ready, perr := c.conn, c.ready, c.err
		c.mu.Unlock()
		if perr != nil {
			return nil, perr
		}
		if conn != nil {
			return conn, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the service connection: %w", ctx.Err())
		case <-c.quit:
			return nil, ErrClosed
		}
	}
}

func (c *Client) supervise() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		conn, leaf := c.conn, c.leaf
		c.mu.Unlock()
		renewAt := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
		timer := time.NewTimer(max(renewAt.Sub(c.cfg.Now()), time.Second))
		select {
		case <-c.quit:
			timer.Stop()
			return
		case <-timer.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.DialTimeout)
			if err := c.Renew(ctx); err != nil {
				c.log.Warn("renewing device certificate failed; retrying", "err", err)
			}
			cancel()
			continue
		case <-conn.Done():
			timer.Stop()
		}
		c.log.Warn("service connection lost; reconnecting", "err", conn.Err())
		c.dropConn(conn)
		conn.Close()
		if !c.reconnect() {
			return
		}
	}
}

// reconnect retries with exponential backoff and full jitter until it
// succeeds (true), the client closes or login is refused (false).
func (c *Client) reconnect() bool {
	delay := c.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(delay)+1))
		t := time.NewTimer(delay/2 + time.Duration(j.Int64())/2)
		select {
		case <-c.quit:
			t.Stop()
			return false
		case <-t.C:
		}
		conn, err := c.connect(c.life)
		if err == nil {
			c.setConn(conn)
			c.log.Info("reconnected to the service", "attempt", attempt)
			c.reannounce(conn)
			return true
		}
		if errors.Is(err, wire.ErrUnauth) {
			c.mu.Lock()
			c.err = fmt.Errorf("session: login refused, not retrying (check the device credentials): %w", err)
			close(c.ready) // wake waiters; they see err
			c.mu.Unlock()
			c.log.Error("login refused; giving up", "err", err)
			return false
		}
		c.log.Warn("reconnect failed", "attempt", attempt, "err", err, "next_delay", delay)
		delay = min(2*delay, c.cfg.MaxBackoff)
	}
}

func (c *Client) reannounce(conn *wire.Conn) {
	c.mu.Lock()
	addr := c.listen
	ids := make([]track.ID, 0, len(c.announced))
	for id := range c.announced {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxAnnounceTracks)
		a := wire.Announce{ListenAddr: addr, Tracks: ids[:n]}
		ids = ids[n:]
		b, err := a.Marshal()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.DialTimeout)
			_, err = conn.Request(ctx, wire.TypeAnnounce, b, wire.PrioBackground)
			cancel()
		}
		if err != nil {
			c.log.Warn("re-announcing tracks after reconnect failed", "err", err)
			return
		}
	}
}

// request sends a request on the current connection. Every session
// request is idempotent, so one that fails because the connection went
// away is sent again on the next connection, until ctx ends.
func (c *Client) request(ctx context.Context, t wire.Type, payload []byte, prio wire.Priority) ([]byte, error) {
	for {
		conn, err := c.current(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := conn.Request(ctx, t, payload, prio)
		if err == nil || ctx.Err() != nil {
			return resp, err
		}
		var re *wire.RemoteError
		if errors.As(err, &re) && !errors.Is(err, wire.ErrGoAway) {
			return nil, err // answered: the request itself failed
		}
		select {
		case <-conn.Done():
			c.dropConn(conn) // the supervisor reconnects; try again then
		default:
			return nil, err
		}
	}
}

// dropConn forgets conn if it is still the current connection.
func (c *Client) dropConn(conn *wire.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn && conn != nil {
		c.conn = nil
		c.ready = make(chan struct{})
	}
}

// Renew asks for a fresh device certificate for the same key.
func (c *Client) Renew(ctx context.Context) error {
	r := wire.RenewRequest{PublicKey: c.cfg.DeviceKey.Public().(ed25519.PublicKey)}
	b, err := r.Marshal()
	if err != nil {
		return err
	}
	resp, err := c.request(ctx, wire.TypeRenewCert, b, wire.PrioBackground)
	if err != nil {
		return fmt.Errorf("renewing device certificate: %w", err)
	}
	return c.takeCert(resp)
}

// Manifest fetches and verifies a track's manifest.
func (c *Client) Manifest(ctx context.Context, id track.ID) (*track.Manifest, []byte, error) {
	b, err := c.request(ctx, wire.TypeManifest, wire.MarshalTrackID(id), wire.PrioUrgent)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching manifest of %s: %w", id.Short(), err)
	}
	return wire.UnmarshalManifestResponse(id, b)
}

// Key fetches a track's key.
func (c *Client) Key(ctx context.Context, id track.ID) (track.Key, error) {
	b, err := c.request(ctx, wire.TypeTrackKey, wire.MarshalTrackID(id), wire.PrioUrgent)
	if err != nil {
		return track.Key{}, fmt.Errorf("fetching key of %s: %w", id.Short(), err)
	}
	return wire.UnmarshalKeyResponse(b)
}

// Search queries the catalogue.
func (c *Client) Search(ctx context.Context, query string, offset, limit int) (wire.SearchResponse, error) {
	r := wire.SearchRequest{Query: query, Offset: uint32(max(offset, 0)), Limit: uint16(min(max(limit, 1), wire.MaxSearchLimit))}
	b, err := r.Marshal()
	if err != nil {
		return wire.SearchResponse{}, err
	}
	resp, err := c.request(ctx, wire.TypeSearch, b, wire.PrioPrefetch)
	if err != nil {
		return wire.SearchResponse{}, fmt.Errorf("searching for %q: %w", query, err)
	}
	return wire.UnmarshalSearchResponse(resp)
}

// Peers asks the tracker for online peers holding id.
func (c *Client) Peers(ctx context.Context, id track.ID) ([]wire.TrackerPeer, error) {
	b, err := c.request(ctx, wire.TypeTrackerQuery, wire.MarshalTrackID(id), wire.PrioUrgent)
	if err != nil {
		return nil, fmt.Errorf("asking the tracker for %s: %w", id.Short(), err)
	}
	return wire.UnmarshalTrackerResponse(b)
}

// Announce tells the tracker this speaker holds complete copies of ids and
// accepts peers at listenAddr (an empty host means "my address as the
// service sees it"). Announced tracks are re-announced after reconnects.
func (c *Client) Announce(ctx context.Context, listenAddr string, ids []track.ID) error {
	a := wire.Announce{ListenAddr: listenAddr, Tracks: ids}
	b, err := a.Marshal()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.listen = listenAddr
	for _, id := range ids {
		c.announced[id] = struct{}{}
	}
	c.mu.Unlock()
	if _, err := c.request(ctx, wire.TypeAnnounce, b, wire.PrioBackground); err != nil {
		return fmt.Errorf("announcing %d tracks: %w", len(ids), err)
	}
	return nil
}

// Withdraw tells the tracker this speaker no longer serves ids.
func (c *Client) Withdraw(ctx context.Context, ids []track.ID) error {
	b, err := wire.MarshalWithdraw(ids)
	if err != nil {
		return err
	}
	c.mu.Lock()
	for _, id := range ids {
		delete(c.announced, id)
	}
	c.mu.Unlock()
	if _, err := c.request(ctx, wire.TypeWithdraw, b, wire.PrioBackground); err != nil {
		return fmt.Errorf("withdrawing %d tracks: %w", len(ids), err)
	}
	return nil
}

// Connected reports whether the session is up now: false while the
// supervisor is reconnecting, and after a permanent failure or Close.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil && c.err == nil
}
