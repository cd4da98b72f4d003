package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/starling-audio/starling/p2p/stream"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
)

var (
	_ stream.PeerSource = (*Node)(nil)
	_ stream.UploadGate = (*Node)(nil)
	_ stream.Peer       = (*remote)(nil)
)

// Bounds on what a node remembers about tracks other peers have.
const (
	maxKnownTracks   = 1024
	maxHoldersTrack  = 32
	dialFailBackoff  = 10 * time.Second
	goAwayTimeout    = time.Second
	maxSearchesAtOnc = 16
)

// Node is one speaker's peer side: listener, neighbour connections, the
// uploader, search, and the streamer's PeerSource. New starts nothing; Run
// listens and serves until its context ends or Close.
type Node struct {
	cfg Config
	log *slog.Logger
	id  wire.PeerID
	up  *uploader

	ctx    context.Context // ends at Close; parent of everything the node starts
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}
	// upState is signalled when the upload state changes; uploadStateLoop
	// tells the neighbours, so SetUploadPaused never waits on a socket.
	upState chan struct{}
	once    sync.Once

	hsSem     chan struct{}
	dialSem   chan struct{}
	searchSem chan struct{}

	mu       sync.Mutex
	closed   bool
	running  bool
	ln       net.Listener
	conns    map[wire.PeerID]*pconn
	remotes  map[wire.PeerID]*remote
	have     map[track.ID]map[wire.PeerID]Holder
	banned   map[wire.PeerID]time.Time
	dialing  map[wire.PeerID]bool
	dialFail map[wire.PeerID]time.Time
	seen     *seenSet

	c counters
}

type counters struct {
	uploadStops, chunksServed, bytesUp, bytesDown, choked           atomic.Int64
	searches, queriesSent, queriesRecv, queriesFwd, queriesAnswered atomic.Int64
	queriesDup, queriesLimited, hits, trackerHits                   atomic.Int64
	hitsByHops                                                      [maxTTL + 1]atomic.Int64
	evictions, refused, dropped, handshakeFail, penalties           atomic.Int64
}

// pconn is one neighbour connection.
type pconn struct {
	id       wire.PeerID
	key      string // id.String()
	c        *wire.Conn
	dialer   wire.PeerID // who dialed it: resolves simultaneous dials
	outbound bool
	addr     string
	since    time.Time
	lim      *rate.Limiter
	stopped  atomic.Bool  // the remote stopped uploading
	inflight atomic.Int64 // our chunk requests to it
	up, down atomic.Int64 // total bytes

	mu       sync.Mutex // guards the fields below
	rDown    Decayed
	rUp      Decayed
	rHits    Decayed
	faults   int
	rtt      time.Duration
	evicting bool
}

// New checks cfg and returns an idle node.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	id, err := selfID(cfg.Credentials)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	n := &Node{
		cfg: cfg, id: id, up: newUploader(cfg.MaxUploads, cfg.MaxQueued),
		log:       cfg.Logger.With("component", "peer", "self", id),
		ready:     make(chan struct{}),
		upState:   make(chan struct{}, 1),
		hsSem:     make(chan struct{}, cfg.MaxHandshakes),
		dialSem:   make(chan struct{}, cfg.MaxDials),
		searchSem: make(chan struct{}, maxSearchesAtOnc),
		conns:     map[wire.PeerID]*pconn{}, remotes: map[wire.PeerID]*remote{},
		have: map[track.ID]map[wire.PeerID]Holder{}, banned: map[wire.PeerID]time.Time{},
		dialing: map[wire.PeerID]bool{}, dialFail: map[wire.PeerID]time.Time{},
		seen: newSeenSet(cfg.SeenQueries, cfg.SeenWindow),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// ID is this node's peer ID.
func (n *Node) ID() wire.PeerID { return n.id }

func (n *Node) self() wire.PeerID { return n.id }

// Ready is closed once Run listens.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addr is the listen address (nil before Ready).
func (n *Node) Addr() net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ln == nil {
		return nil
	}
	return n.ln.Addr()
}

func (n *Node) advertise() string {
	if n.cfg.AdvertiseAddr != "" {
		return n.cfg.AdvertiseAddr
	}
	if a := n.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// goTracked runs f on a goroutine owned by the node, unless it is closed.
func (n *Node) goTracked(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// Run listens on cfg.ListenAddr and serves until ctx ends or Close; then it
// closes every connection and returns nil (or the listen error).
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	if n.running {
		n.mu.Unlock()
		return fmt.Errorf("peer: Run called twice")
	}
	n.running = true
	n.mu.Unlock()
	ln, err := net.Listen("tcp", n.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("peer: listening on %s (address in use? set peer.listen): %w", n.cfg.ListenAddr, err)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		ln.Close()
		return nil
	}
	n.ln = ln
	n.mu.Unlock()
	close(n.ready)
	n.log.Info("peer node listening", "addr", ln.Addr().String())
	n.goTracked(func() { n.acceptLoop(ln) })
	n.goTracked(n.maintLoop)
	n.goTracked(n.uploadStateLoop)
	select {
	case <-ctx.Done():
	case <-n.ctx.Done():
	}
	n.Close()
	return nil
}

// Close stops the node: the listener, every connection (with GoAway) and
// every goroutine. It is idempotent.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.mu.Lock()
		n.closed = true
		ln := n.ln
		conns := make([]*pconn, 0, len(n.conns))
		for _, pc := range n.conns {
			conns = append(conns, pc)
		}
		n.mu.Unlock()
		n.cancel()
		if ln != nil {
			ln.Close()
		}
		var wg sync.WaitGroup
		for _, pc := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), goAwayTimeout)
				defer cancel()
				pc.c.GoAway(ctx, wire.CodeUnavailable, "shutting down")
			}()
		}
		wg.Wait()
	})
	n.wg.Wait()
	return nil
}

func (n *Node) acceptLoop(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if n.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				n.log.Error("accepting peer connections failed; peers cannot reach us", "err", err)
			}
			return
		}
		select {
		case n.hsSem <- struct{}{}:
		default:
			n.c.refused.Add(1)
			nc.Close() // too many handshakes at once
			continue
		}
		if !n.goTracked(func() {
			defer func() { <-n.hsSem }()
			n.accept(nc)
		}) {
			<-n.hsSem
			nc.Close()
			return
		}
	}
}

func (n *Node) accept(nc net.Conn) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DialTimeout)
	defer cancel()
	tc := tls.Server(nc, n.tlsConfig(true, func(wire.PeerID) {}))
	if err := tc.HandshakeContext(ctx); err != nil {
		n.c.handshakeFail.Add(1)
		n.log.Debug("inbound TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		nc.Close()
		return
	}
	id := wire.PeerIDFromCert(tc.ConnectionState().PeerCertificates[0])
	if n.isBanned(id) {
		n.c.refused.Add(1)
		tc.Close()
		return
	}
	pc, err := n.open(ctx, tc, id, id, false, "")
	if err != nil {
		n.c.handshakeFail.Add(1)
		n.log.Debug("inbound peer handshake failed", "peer", id, "err", err)
		return
	}
	n.register(pc)
}

// Connect dials a peer at addr (its ID, if not zero, must match the
// certificate) and adds it as a neighbour. Connecting to a neighbour
// already connected is a no-op.
func (n *Node) Connect(ctx context.Context, h Holder) error {
	if h.ID == n.id {
		return ErrSelf
	}
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return ErrClosed
	case !h.ID.IsZero() && n.conns[h.ID] != nil:
		n.mu.Unlock()
		return nil
	case !h.ID.IsZero() && n.dialing[h.ID]:
		n.mu.Unlock()
		return nil
	case len(n.conns) >= n.cfg.MaxNeighbours:
		n.mu.Unlock()
		return ErrFull
	}
	if t, ok := n.banned[h.ID]; ok && n.cfg.Now().Before(t) {
		n.mu.Unlock()
		return ErrBanned
	}
	if !h.ID.IsZero() {
		n.dialing[h.ID] = true
	}
	n.mu.Unlock()
	err := n.dial(ctx, h)
	n.mu.Lock()
	delete(n.dialing, h.ID)
	if err != nil && !h.ID.IsZero() {
		n.dialFail[h.ID] = n.cfg.Now()
	}
	n.mu.Unlock()
	return err
}

// dialFrom is the local address outbound connections use: the listen IP
// when ListenAddr names a specific one (a multi-homed speaker, or a test
// bed giving each speaker its own loopback address), so that peers see
// connections come from the address this node is known by; nil (the
// system's choice) for an unspecified or host-name listen address.
func (n *Node) dialFrom() net.Addr {
	host, _, err := net.SplitHostPort(n.cfg.ListenAddr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

func (n *Node) dial(ctx context.Context, h Holder) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()
	d := net.Dialer{LocalAddr: n.dialFrom()}
	nc, err := d.DialContext(ctx, "tcp", h.Addr)
	if err != nil {
		return fmt.Errorf("dialing peer %s: %w", h.Addr, err)
	}
	tc := tls.Client(nc, n.tlsConfig(false, func(wire.PeerID) {}))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return fmt.Errorf("TLS handshake with peer %s: %w", h.Addr, err)
	}
	id := wire.PeerIDFromCert(tc.ConnectionState().PeerCertificates[0])
	if !h.ID.IsZero() && id != h.ID {
		tc.Close()
		return fmt.Errorf("%w: peer at %s is %s, expected %s", ErrBadCert, h.Addr, id.Short(), h.ID.Short())
	}
	pc, err := n.open(ctx, tc, id, n.id, true, h.Addr)
	if err != nil {
		return fmt.Errorf("opening peer connection to %s: %w", h.Addr, err)
	}
	return n.register(pc)
}

// open runs the wire handshake over an authenticated TLS connection.
func (n *Node) open(ctx context.Context, tc *tls.Conn, id, dialer wire.PeerID, outbound bool, addr string) (*pconn, error) {
	pc := &pconn{id: id, key: id.String(), dialer: dialer, outbound: outbound, addr: addr, since: n.cfg.Now(),
		lim: rate.NewLimiter(n.cfg.SearchRate, n.cfg.SearchBurst)}
	var holder atomic.Pointer[pconn]
	h := wire.HandlerFunc(func(ctx context.Context, c *wire.Conn, m *wire.Message) ([]byte, error) {
		p := holder.Load()
		if p == nil {
			return nil, wire.Errorf(wire.CodeUnavailable, "connection not registered yet")
		}
		return n.handle(ctx, p, m)
	})
	c, err := wire.Open(ctx, tc, wire.Config{Role: "speaker", Agent: n.cfg.Agent, Handler: h,
		Logger: n.log.With("peer", id), KeepaliveInterval: n.cfg.Keepalive, MaxHandlers: n.cfg.MaxQueued + 8})
	if err != nil {
		return nil, err
	}
	pc.c = c
	holder.Store(pc)
	return pc, nil
}

// register adds pc as a neighbour, resolving a duplicate connection to the
// same peer (the one dialed by the lower peer ID wins) and enforcing the
// hard cap (refused with GoAway BUSY).
func (n *Node) register(pc *pconn) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		pc.c.Close()
		return ErrClosed
	}
	var loser *pconn
	if old := n.conns[pc.id]; old != nil {
		if old.dialer == pc.dialer || bytes.Compare(old.dialer[:], pc.dialer[:]) < 0 {
			loser = pc
		} else {
			loser = old
		}
	} else if len(n.conns) >= n.cfg.MaxNeighbours {
		n.mu.Unlock()
		n.c.refused.Add(1)
		ctx, cancel := context.WithTimeout(n.ctx, goAwayTimeout)
		defer cancel()
		pc.c.GoAway(ctx, wire.CodeBusy, "neighbour limit reached")
		return ErrFull
	}
	if loser == pc {
		n.mu.Unlock()
		pc.c.Close()
		return nil // the existing connection carries on
	}
	n.conns[pc.id] = pc
	n.wg.Add(1)
	go n.watch(pc)
	paused := n.up.isPaused()
	n.mu.Unlock()
	if loser != nil {
		loser.c.Close()
	}
	if paused {
		pc.c.Notify(TypeUploadState, UploadState{Stopped: true}.Marshal(), wire.PrioUrgent)
	}
	n.log.Debug("neighbour connected", "peer", pc.id, "outbound", pc.outbound)
	n.evictOverSoft()
	return nil
}

// watch measures the round trip once, then waits for the connection to end
// and forgets it.
func (n *Node) watch(pc *pconn) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DialTimeout)
	start := time.Now()
	if _, err := pc.c.Request(ctx, wire.TypePing, nil, wire.PrioUrgent); err == nil {
		pc.mu.Lock()
		pc.rtt = time.Since(start)
		pc.mu.Unlock()
	}
	cancel()
	<-pc.c.Done()
	pc.c.Close()
	n.mu.Lock()
	if n.conns[pc.id] == pc {
		delete(n.conns, pc.id)
	}
	n.mu.Unlock()
	n.log.Debug("neighbour disconnected", "peer", pc.id, "err", pc.c.Err())
}

func (n *Node) maintLoop() {
	t := time.NewTicker(n.cfg.Maintenance)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.evictOverSoft()
		now := n.cfg.Now()
		n.mu.Lock()
		for id, until := range n.banned {
			if now.After(until) {
				delete(n.banned, id)
			}
		}
		for id, at := range n.dialFail {
			if now.Sub(at) > dialFailBackoff {
				delete(n.dialFail, id)
			}
		}
		n.mu.Unlock()
	}
}

// evictOverSoft evicts the least useful neighbours while over the soft limit.
func (n *Node) evictOverSoft() {
	now := n.cfg.Now()
	n.mu.Lock()
	list := make([]*pconn, 0, len(n.conns))
	live := 0
	for _, pc := range n.conns {
		pc.mu.Lock()
		ev := pc.evicting
		pc.mu.Unlock()
		if !ev {
			list = append(list, pc)
			live++
		}
	}
	n.mu.Unlock()
	if live <= n.cfg.SoftNeighbours {
		return
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].since.Equal(list[j].since) {
			return list[i].since.Before(list[j].since)
		}
		return bytes.Compare(list[i].id[:], list[j].id[:]) < 0
	})
	us := make([]Usefulness, len(list))
	for i, pc := range list {
		us[i] = n.usefulness(pc, now)
	}
	var out []*pconn
	for live > n.cfg.SoftNeighbours {
		i := Evictee(us)
		if i < 0 {
			break
		}
		us[i].Protected = true
		list[i].mu.Lock()
		list[i].evicting = true
		list[i].mu.Unlock()
		out = append(out, list[i])
		live--
	}
	for _, pc := range out {
		n.c.evictions.Add(1)
		n.log.Debug("evicting neighbour of least utility", "peer", pc.id)
		n.goTracked(func() {
			ctx, cancel := context.WithTimeout(n.ctx, goAwayTimeout)
			defer cancel()
			pc.c.GoAway(ctx, wire.CodeBusy, "evicted: over the neighbour soft limit")
		})
	}
}

func (n *Node) usefulness(pc *pconn, now time.Time) Usefulness {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	hl := n.cfg.HalfLife
	return Usefulness{
		Down: pc.rDown.At(now, hl), Up: pc.rUp.At(now, hl), Hits: pc.rHits.At(now, hl),
		Faults: pc.faults, RTT: pc.rtt,
		Protected: now.Sub(pc.since) < n.cfg.NewcomerGrace || pc.inflight.Load() > 0,
	}
}

func (n *Node) isBanned(id wire.PeerID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.banned[id]
	return ok && n.cfg.Now().Before(t)
}

func (n *Node) conn(id wire.PeerID) *pconn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conns[id]
}

// Neighbours returns the number of connected neighbours.
func (n *Node) Neighbours() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.conns)
}

// Connected reports whether id is a neighbour.
func (n *Node) Connected(id wire.PeerID) bool { return n.conn(id) != nil }

// handle serves one message from a neighbour.
func (n *Node) handle(ctx context.Context, pc *pconn, m *wire.Message) ([]byte, error) {
	switch m.Type {
	case TypeChunkRequest:
		return n.serveChunk(ctx, pc, m)
	case TypeUploadState:
		s, err := UnmarshalUploadState(m.Payload)
		if err != nil {
			return nil, err
		}
		pc.stopped.Store(s.Stopped)
		return nil, nil
	case TypeSearchQuery:
		return nil, n.onQuery(pc, m.Payload)
	case TypeSearchHit:
		return nil, n.onHit(pc, m.Payload)
	}
	return nil, wire.Errorf(wire.CodeUnknownType, "unknown message type 0x%04x", uint16(m.Type))
}

func (n *Node) serveChunk(ctx context.Context, pc *pconn, m *wire.Message) ([]byte, error) {
	r, err := UnmarshalChunkRequest(m.Payload)
	if err != nil {
		return nil, err
	}
	if !n.cfg.Store.Complete(r.Track) {
		return nil, wire.Errorf(wire.CodeNotFound, "track not complete here")
	}
	adm, err := n.up.acquire(ctx, pc.key, r.Urgency)
	if err != nil {
		return nil, err
	}
	switch adm {
	case admitChoked:
		n.c.choked.Add(1)
		return nil, wire.Errorf(wire.CodeBusy, "choked: uploading to %d peers already; go elsewhere", n.cfg.MaxUploads)
	case admitQueueFull:
		n.c.choked.Add(1)
		return nil, wire.Errorf(wire.CodeBusy, "more than %d requests queued", n.cfg.MaxQueued)
	case admitPaused:
		return nil, wire.Errorf(wire.CodeUnavailable, "upload stopped: buffer low; go elsewhere")
	}
	defer n.up.release(pc.key)
	data, err := n.cfg.Store.ReadChunk(r.Track, int(r.Index), make([]byte, track.ChunkSize))
	if err != nil {
		return nil, wire.Errorf(wire.CodeNotFound, "chunk %d: %v", r.Index, err)
	}
	n.c.chunksServed.Add(1)
	n.c.bytesUp.Add(int64(len(data)))
	pc.up.Add(int64(len(data)))
	pc.mu.Lock()
	pc.rUp.AddF(n.cfg.Now(), float64(len(data)), n.cfg.HalfLife)
	pc.mu.Unlock()
	return data, nil
}

// SetUploadPaused implements stream.UploadGate: while paused every chunk
// request is refused (UNAVAILABLE) and neighbours are told to go elsewhere.
func (n *Node) SetUploadPaused(paused bool) {
	if !n.up.setPaused(paused) {
		return
	}
	if paused {
		n.c.uploadStops.Add(1)
		n.log.Info("upload stopped: local buffer very low")
	} else {
		n.log.Info("upload resumed")
	}
	select {
	case n.upState <- struct{}{}:
	default: // a notification is pending; it will send the latest state
	}
}

// uploadStateLoop sends the current upload state to every neighbour each
// time it changes. It runs apart from SetUploadPaused because Notify waits
// while a neighbour's send queue is full, and the caller is the streamer's
// scheduler: a slow neighbour must not stop it fetching for the speaker's
// own low buffer. States are sent in order per connection, and the last
// one sent is always the current one.
func (n *Node) uploadStateLoop() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.upState:
		}
		n.mu.Lock()
		conns := make([]*pconn, 0, len(n.conns))
		for _, pc := range n.conns {
			conns = append(conns, pc)
		}
		n.mu.Unlock()
		msg := UploadState{Stopped: n.up.isPaused()}.Marshal()
		for _, pc := range conns {
			pc.c.Notify(TypeUploadState, msg, wire.PrioUrgent)
		}
	}
}

// UploadPaused reports whether uploads are stopped.
func (n *Node) UploadPaused() bool { return n.up.isPaused() }
