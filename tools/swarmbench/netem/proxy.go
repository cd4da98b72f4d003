package netem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the time source of a proxy; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// Until blocks until t or until done is closed; it reports whether t
	// was reached.
	Until(t time.Time, done <-chan struct{}) bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Until waits for t.
func (RealClock) Until(t time.Time, done <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-done:
		return false
	}
}

var _ Clock = RealClock{}

// ProxyConfig configures a Proxy.
type ProxyConfig struct {
	// Target is the host:port every accepted connection is forwarded to.
	Target string
	// Up shapes bytes from the client to the target; Down from the target
	// back to the client. Either may be nil (no delay, no cap). A shaper
	// may be shared between proxies.
	Up, Down *Shaper
	// Route, when set, chooses the shapers per accepted connection from
	// the client's IP address (which identifies the dialling host when
	// every host dials from its own loopback address), overriding Up and
	// Down. It must be safe for concurrent use.
	Route func(client netip.Addr) (up, down *Shaper)
	// ListenAddr is where the proxy listens (default "127.0.0.1:0").
	ListenAddr string
	// Clock defaults to RealClock.
	Clock Clock
	// Log defaults to discarding.
	Log *slog.Logger
	// QueueSegments bounds each direction's in-flight segments (default
	// 64, i.e. at most 1 MiB buffered per direction).
	QueueSegments int
}

// Proxy is a delaying, rate-limiting TCP forwarder on 127.0.0.1.
type Proxy struct {
	cfg  ProxyConfig
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	up, down atomic.Int64 // bytes delivered
}

// Listen starts a proxy on a free loopback port. It runs until ctx ends or
// Close is called.
func Listen(ctx context.Context, cfg ProxyConfig) (*Proxy, error) {
	if cfg.Target == "" {
		return nil, errors.New("netem: proxy needs a target")
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueSegments <= 0 {
		cfg.QueueSegments = 64
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("netem: listening on loopback: %w", err)
	}
	p := &Proxy{cfg: cfg, ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		select {
		case <-ctx.Done():
			p.shutdown()
		case <-p.done:
		}
	}()
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Bytes returns the bytes delivered upstream (client to target) and
// downstream so far.
func (p *Proxy) Bytes() (up, down int64) { return p.up.Load(), p.down.Load() }

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines. Idempotent.
func (p *Proxy) Close() error {
	p.shutdown()
	p.wg.Wait()
	return nil
}

func (p *Proxy) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.done)
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
			default:
				p.cfg.Log.Warn("accept failed; proxy stops", "err", err)
			}
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	d := net.Dialer{Timeout: 5 * time.Second}
	target, err := d.Dial("tcp", p.cfg.Target)
	if err != nil {
		p.cfg.Log.Debug("dialing target", "target", p.cfg.Target, "err", err)
		return
	}
	if !p.track(target) {
		return
	}
	defer p.untrack(target)
	up, down := p.cfg.Up, p.cfg.Down
	if p.cfg.Route != nil {
		up, down = p.cfg.Route(ClientAddr(client))
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(target, client, up, &p.up) }()
	go func() { defer wg.Done(); p.pipe(client, target, down, &p.down) }()
	wg.Wait()
}

// ClientAddr is the IP address of c's remote end (unmapped from IPv6);
// the zero Addr when c is not TCP.
func ClientAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

type segment struct {
	at   time.Time
	data []byte
}

// pipe copies src to dst through the shaper: this goroutine reads and
// stamps, a second one delivers. When either side ends, both connections
// are shut down in this direction.
func (p *Proxy) pipe(dst, src net.Conn, sh *Shaper, count *atomic.Int64) {
	q := make(chan segment, p.cfg.QueueSegments)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer closeWrite(dst)
		for s := range q {
			if !p.cfg.Clock.Until(s.at, p.done) {
				return
			}
			count.Add(int64(len(s.data))) // counted when due, before the write returns
			if _, err := dst.Write(s.data); err != nil {
				close(stop)
				src.Close() // the reader must not block on a dead pipe
				for range q {
				}
				return
			}
		}
	}()
	defer wg.Wait()
	defer close(q)
	buf := make([]byte, MaxSegment)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			at := p.cfg.Clock.Now()
			if sh != nil {
				var serr error
				if at, serr = sh.Schedule(at, n); serr != nil {
					p.cfg.Log.Warn("shaping", "err", serr)
					return
				}
			}
			select {
			case q <- segment{at: at, data: append([]byte(nil), buf[:n]...)}:
			case <-stop:
				return
			case <-p.done:
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.cfg.Log.Debug("reading", "err", err)
			}
			return
		}
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
		return
	}
	c.Close()
}
