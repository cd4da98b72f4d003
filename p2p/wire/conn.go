package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of a Conn.
var (
	ErrClosed           = errors.New("wire: connection closed")
	ErrKeepaliveTimeout = errors.New("wire: keepalive ping not answered in time (peer dead or link stalled)")
	ErrGoAway           = errors.New("wire: peer closed the connection")
)

// GoAwayError is the error a Conn ends with when the other side sent GoAway.
type GoAwayError struct{ GoAway }

func (e *GoAwayError) Error() string {
	return fmt.Sprintf("wire: peer closed the connection: %s: %s", e.Code, e.Reason)
}

// Unwrap lets errors.Is match ErrGoAway and the code's sentinel.
func (e *GoAwayError) Unwrap() []error {
	return []error{ErrGoAway, &RemoteError{Code: e.Code, Message: e.Reason}}
}

// Message is a complete incoming request or notification.
type Message struct {
	Type    Type
	Prio    Priority
	ID      uint32
	NoReply bool // a notification: the handler's response is discarded
	Payload []byte
}

// Handler serves incoming requests and notifications. It runs on its own
// goroutine per message; ctx is cancelled when the requester cancels or the
// connection closes. The returned bytes are the response payload. To fail,
// return a *RemoteError (its Code is sent; with Close set the connection is
// closed after the error is sent) or any error (sent as INTERNAL, or
// BAD_REQUEST if it wraps ErrMalformed).
type Handler interface {
	Handle(ctx context.Context, c *Conn, m *Message) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Conn, m *Message) ([]byte, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, c *Conn, m *Message) ([]byte, error) {
	return f(ctx, c, m)
}

// Router dispatches by message type; unknown requests get UNKNOWN_TYPE and
// unknown notifications are dropped. Register routes before use.
type Router map[Type]HandlerFunc

var _ Handler = Router(nil)

// Handle implements Handler.
func (r Router) Handle(ctx context.Context, c *Conn, m *Message) ([]byte, error) {
	if f, ok := r[m.Type]; ok {
		return f(ctx, c, m)
	}
	return nil, Errorf(CodeUnknownType, "unknown message type 0x%04x", uint16(m.Type))
}

// Config configures a Conn. Zero values take the documented defaults.
type Config struct {
	Role  string // sent in Hello, e.g. "speaker"; ≤ MaxRoleLen
	Agent string // sent in Hello, e.g. "starlingd/1.2"; ≤ MaxAgentLen
	// Logger receives the connection's logs; default slog.Default().
	Logger *slog.Logger
	// Handler serves incoming messages; nil answers UNKNOWN_TYPE to all.
	Handler Handler
	// HandshakeTimeout bounds the Hello exchange; default 10 s.
	HandshakeTimeout time.Duration
	// KeepaliveInterval: when nothing was received for this long, ping;
	// default 30 s; negative disables keepalive.
	KeepaliveInterval time.Duration
	// KeepaliveTimeout: an unanswered ping closes the conn; default 20 s.
	KeepaliveTimeout time.Duration
	// MaxHandlers bounds concurrent incoming requests; beyond it requests
	// are answered BUSY. Default 64.
	MaxHandlers int
	// MaxMessage bounds one message each way; default and max MaxMessageSize.
	MaxMessage int
	// MaxQueued bounds the bytes waiting in the send queue: handlers wait
	// to queue their responses and the reader stops reading (back-pressure
	// on a peer that sends but does not read) while it is exceeded.
	// Default 8 MiB.
	MaxQueued int
}

func (c *Config) defaults() error {
	if len(c.Role) > MaxRoleLen || len(c.Agent) > MaxAgentLen {
		return fmt.Errorf("wire: config: role ≤ %d and agent ≤ %d bytes", MaxRoleLen, MaxAgentLen)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
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
	if c.MaxHandlers <= 0 {
		c.MaxHandlers = 64
	}
	if c.MaxMessage <= 0 || c.MaxMessage > MaxMessageSize {
		c.MaxMessage = MaxMessageSize
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 8 << 20
	}
	return nil
}

type call struct {
	out  *outMsg
	done chan struct{}
	resp []byte
	err  error
}

type asmKey struct {
	resp bool
	id   uint32
}

type assembly struct {
	buf     []byte
	prio    Priority
	typ     Type
	flags   uint8
	discard bool
}

// Conn is a multiplexed connection (SPEC.md). Open starts its reader,
// writer and keepalive goroutines; Close stops them and every handler.
type Conn struct {
	nc    net.Conn
	cfg   Config
	log   *slog.Logger
	peer  Hello
	sq    *sendQueue
	sem   chan struct{}
	ctx   context.Context // cancelled at shutdown; parent of handler contexts
	stop  context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once
	done  chan struct{}
	errMu sync.Mutex
	err   error

	lastRecv atomic.Int64 // unix nanos of the last frame received

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]*call
	serving map[uint32]context.CancelFunc
	asm     map[asmKey]*assembly
	asmSize int
}

// Open performs the Hello handshake on nc (SPEC.md §3.1) and starts the
// connection. On error nc is closed. ctx bounds only the handshake.
func Open(ctx context.Context, nc net.Conn, cfg Config) (*Conn, error) {
	if err := cfg.defaults(); err != nil {
		nc.Close()
		return nil, err
	}
	peer, err := handshake(ctx, nc, &cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{
		nc:      nc,
		cfg:     cfg,
		log:     cfg.Logger,
		peer:    peer,
		sq:      newSendQueue(cfg.MaxQueued),
		sem:     make(chan struct{}, cfg.MaxHandlers),
		done:    make(chan struct{}),
		pending: make(map[uint32]*call),
		serving: make(map[uint32]context.CancelFunc),
		asm:     make(map[asmKey]*assembly),
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.lastRecv.Store(time.Now().UnixNano())
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	if cfg.KeepaliveInterval > 0 {
		c.wg.Add(1)
		go c.keepaliveLoop()
	}
	return c, nil
}

// handshake sends our Hello and reads theirs, concurrently (net.Pipe has
// no buffer), under the handshake deadline.
func handshake(ctx context.Context, nc net.Conn, cfg *Config) (Hello, error) {
	hctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if stop() {
			nc.SetDeadline(time.Time{})
		}
	}()
	ours := Hello{Version: Version, MinVersion: Version, Role: cfg.Role, Agent: cfg.Agent}
	payload, err := ours.Marshal()
	if err != nil {
		return Hello{}, fmt.Errorf("%w: encoding hello: %v", ErrHandshake, err)
	}
	buf, _ := AppendFrame(nil, Header{Type: TypeHello}, payload)
	werr := make(chan error, 1)
	go func() { _, err := nc.Write(buf); werr <- err }()

	f, rerr := ReadFrame(nc, nil)
	if rerr != nil {
		nc.SetDeadline(time.Unix(1, 0)) // unblock the writer
	}
	if err := <-werr; err != nil && rerr == nil {
		rerr = fmt.Errorf("sending hello: %w", err)
	}
	if rerr != nil {
		if hctx.Err() != nil {
			rerr = fmt.Errorf("%w (%v)", hctx.Err(), rerr)
		}
		return Hello{}, fmt.Errorf("%w: %w", ErrHandshake, rerr)
	}
	if f.Type != TypeHello || f.ID != 0 || f.Flags != 0 {
		return Hello{}, fmt.Errorf("%w: first frame is type 0x%04x id %d flags %#x, want Hello", ErrHandshake, uint16(f.Type), f.ID, f.Flags)
	}
	h, err := UnmarshalHello(f.Payload)
	if err != nil {
		return Hello{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if !h.Compatible() {
		return Hello{}, fmt.Errorf("%w: peer speaks versions %d..%d, we speak %d (upgrade the older side)", ErrHandshake, h.MinVersion, h.Version, Version)
	}
	return h, nil
}

// Peer returns the other side's Hello.
func (c *Conn) Peer() Hello { return c.peer }

// NetConn returns the underlying connection (e.g. for TLS state).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Done is closed when the connection has shut down.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection shut down (nil while open).
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Abort shuts the connection down without waiting for its goroutines; a
// Handler may call it. Close must still be called to wait.
func (c *Conn) Abort(err error) { c.shutdown(err) }

// Close shuts the connection down and waits for every goroutine it started.
// It is idempotent and must not be called from a Handler (use Abort).
func (c *Conn) Close() error {
	c.shutdown(ErrClosed)
	c.wg.Wait()
	return nil
}

func (c *Conn) shutdown(err error) {
	c.once.Do(func() {
		if err == nil {
			err = ErrClosed
		}
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		c.stop()
		c.nc.Close()
	})
}

// Request sends a request and waits for its response, ctx's end or the
// connection's. When ctx ends first, the request is withdrawn (a Cancel
// frame is sent if the other side has seen part of it).
func (c *Conn) Request(ctx context.Context, t Type, payload []byte, prio Priority) ([]byte, error) {
	if len(payload) > c.cfg.MaxMessage {
		return nil, fmt.Errorf("%w: request of %d bytes (max %d)", ErrMessageTooLarge, len(payload), c.cfg.MaxMessage)
	}
	cl := &call{done: make(chan struct{})}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, c.Err()
	default:
	}
	id := c.allocID()
	cl.out = &outMsg{h: Header{Type: t, Prio: prio, ID: id}, payload: payload}
	c.pending[id] = cl
	c.mu.Unlock()
	if !c.sq.pushWait(cl.out, ctx.Done(), c.done) {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("request 0x%04x: waiting to send: %w", uint16(t), ctx.Err())
		}
		return nil, c.Err()
	}

	select {
	case <-cl.done:
		return cl.resp, cl.err
	case <-ctx.Done():
		c.mu.Lock()
		_, still := c.pending[id]
		delete(c.pending, id)
		if a := c.asm[asmKey{true, id}]; a != nil {
			c.asmSize -= len(a.buf)
			delete(c.asm, asmKey{true, id})
		}
		c.mu.Unlock()
		if !still {
			<-cl.done // the response won the race
			return cl.resp, cl.err
		}
		if c.sq.cancel(cl.out) {
			var e Encoder
			e.U32(id)
			c.sq.push(&outMsg{h: Header{Type: TypeCancel, Flags: FlagNoReply, Prio: PrioUrgent, ID: c.newNotifyID()}, payload: e.B})
		}
		return nil, fmt.Errorf("request 0x%04x: %w", uint16(t), ctx.Err())
	case <-c.done:
		return nil, c.Err()
	}
}

// Notify queues a one-way message; it returns once queued.
func (c *Conn) Notify(t Type, payload []byte, prio Priority) error {
	if len(payload) > c.cfg.MaxMessage {
		return fmt.Errorf("%w: notification of %d bytes (max %d)", ErrMessageTooLarge, len(payload), c.cfg.MaxMessage)
	}
	select {
	case <-c.done:
		return c.Err()
	default:
	}
	if !c.sq.pushWait(&outMsg{h: Header{Type: t, Flags: FlagNoReply, Prio: prio, ID: c.newNotifyID()}, payload: payload}, c.done, nil) {
		return c.Err()
	}
	return nil
}

// GoAway sends GoAway and closes the connection once it has been written
// (or when ctx ends), then waits like Close.
func (c *Conn) GoAway(ctx context.Context, code ErrCode, reason string) error {
	sent := make(chan struct{})
	g := GoAway{Code: code, Reason: reason}
	c.sq.push(&outMsg{h: Header{Type: TypeGoAway, Flags: FlagNoReply, Prio: PrioBulk, ID: c.newNotifyID()},
		payload: g.Marshal(), after: func() { close(sent) }})
	select {
	case <-sent:
	case <-ctx.Done():
	case <-c.done:
	}
	return c.Close()
}

func (c *Conn) newNotifyID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.allocID()
}

// allocID returns a fresh non-zero id not in pending. c.mu must be held.
func (c *Conn) allocID() uint32 {
	for {
		c.nextID++
		if c.nextID == 0 {
			continue
		}
		if _, busy := c.pending[c.nextID]; !busy {
			return c.nextID
		}
	}
}

func (c *Conn) writeLoop() {
	defer c.wg.Done()
	bw := bufio.NewWriterSize(c.nc, 2*(HeaderSize+MaxFramePayload))
	hdr := make([]byte, 0, HeaderSize)
	for {
		f, ok := c.sq.pop()
		if !ok {
			if bw.Buffered() > 0 {
				if err := bw.Flush(); err != nil {
					c.shutdown(fmt.Errorf("writing frames: %w", err))
					return
				}
			}
			select {
			case <-c.sq.wake:
				continue
			case <-c.done:
				return
			}
		}
		f.h.Length = uint32(len(f.payload))
		hdr = AppendHeader(hdr[:0], f.h)
		_, err := bw.Write(hdr)
		if err == nil {
			_, err = bw.Write(f.payload)
		}
		if err != nil {
			c.shutdown(fmt.Errorf("writing frames: %w", err))
			return
		}
		if f.last != nil && f.last.after != nil {
			if err := bw.Flush(); err != nil {
				c.shutdown(fmt.Errorf("writing frames: %w", err))
				return
			}
			f.last.after()
		}
		select {
		case <-c.done:
			return
		default:
		}
	}
}

func (c *Conn) keepaliveLoop() {
	defer c.wg.Done()
	iv := c.cfg.KeepaliveInterval
	t := time.NewTicker(iv / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, c.lastRecv.Load())) < iv {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.KeepaliveTimeout)
		_, err := c.Request(ctx, TypePing, nil, PrioUrgent)
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		if timedOut {
			c.log.Warn("closing connection: keepalive ping not answered", "timeout", c.cfg.KeepaliveTimeout)
			c.shutdown(ErrKeepaliveTimeout)
			return
		}
		_ = err // a closed connection ends the loop at the top
	}
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	br := bufio.NewReaderSize(c.nc, HeaderSize+MaxFramePayload)
	hdr := make([]byte, HeaderSize)
	for {
		// a peer that sends but does not read gets back-pressure, not memory
		if !c.sq.waitSpace(c.done) {
			return
		}
		f, err := ReadFrame(br, hdr)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				c.shutdown(fmt.Errorf("%w: %v", ErrClosed, err))
			} else {
				c.shutdown(fmt.Errorf("reading frame: %w", err))
			}
			return
		}
		c.lastRecv.Store(time.Now().UnixNano())
		if err := c.onFrame(f); err != nil {
			c.log.Warn("closing connection: protocol error", "err", err)
			c.shutdown(err)
			return
		}
	}
}

// onFrame reassembles and dispatches one frame. An error is fatal.
func (c *Conn) onFrame(f Frame) error {
	if f.Type == TypeHello {
		return fmt.Errorf("%w: second Hello", ErrProtocol)
	}
	isResp := f.Flags&FlagResponse != 0
	key := asmKey{isResp, f.ID}
	c.mu.Lock()
	if isResp {
		if _, ok := c.pending[f.ID]; !ok {
			c.mu.Unlock()
			return nil // response to a request we gave up on
		}
	}
	a := c.asm[key]
	if a == nil && f.Flags&FlagMore == 0 {
		c.mu.Unlock()
		return c.dispatch(f.Header, f.Payload)
	}
	if a == nil {
		if len(c.asm) >= MaxAssembling {
			c.mu.Unlock()
			return fmt.Errorf("%w: more than %d messages in reassembly", ErrProtocol, MaxAssembling)
		}
		a = &assembly{prio: f.Prio, typ: f.Type, flags: f.Flags &^ FlagMore}
		c.asm[key] = a
	}
	if !a.discard {
		if len(a.buf)+len(f.Payload) > c.cfg.MaxMessage {
			c.mu.Unlock()
			return fmt.Errorf("%w: incoming message over %d bytes", ErrMessageTooLarge, c.cfg.MaxMessage)
		}
		if c.asmSize+len(f.Payload) > MaxAssemblyBytes {
			c.mu.Unlock()
			return fmt.Errorf("%w: more than %d bytes in reassembly", ErrProtocol, MaxAssemblyBytes)
		}
		a.buf = append(a.buf, f.Payload...)
		c.asmSize += len(f.Payload)
	}
	if f.Flags&FlagMore != 0 {
		c.mu.Unlock()
		return nil
	}
	delete(c.asm, key)
	c.asmSize -= len(a.buf)
	c.mu.Unlock()
	if a.discard {
		return nil
	}
	h := f.Header
	h.Flags, h.Type, h.Prio = a.flags, a.typ, a.prio
	return c.dispatch(h, a.buf)
}

func (c *Conn) dispatch(h Header, payload []byte) error {
	if h.Flags&FlagResponse != 0 {
		c.mu.Lock()
		cl := c.pending[h.ID]
		delete(c.pending, h.ID)
		c.mu.Unlock()
		if cl == nil {
			return nil
		}
		if h.Flags&FlagError != 0 {
			re, err := UnmarshalRemoteError(payload)
			if err != nil {
				return fmt.Errorf("decoding error response: %w", err)
			}
			cl.err = re
		} else {
			cl.resp = payload
		}
		close(cl.done)
		return nil
	}
	switch h.Type {
	case TypePing:
		if h.Flags&FlagNoReply == 0 {
			c.sq.push(&outMsg{h: Header{Type: TypePing, Flags: FlagResponse, Prio: PrioUrgent, ID: h.ID}})
		}
		return nil
	case TypeCancel:
		id, err := UnmarshalCancel(payload)
		if err != nil {
			return err
		}
		c.mu.Lock()
		if cancel := c.serving[id]; cancel != nil {
			cancel()
		}
		if a := c.asm[asmKey{false, id}]; a != nil {
			c.asmSize -= len(a.buf)
			a.buf, a.discard = nil, true
		}
		c.mu.Unlock()
		return nil
	case TypeGoAway:
		g, err := UnmarshalGoAway(payload)
		if err != nil {
			return err
		}
		c.shutdown(&GoAwayError{g})
		return nil
	}
	m := &Message{Type: h.Type, Prio: h.Prio, ID: h.ID, NoReply: h.Flags&FlagNoReply != 0, Payload: payload}
	if m.NoReply {
		select {
		case c.sem <- struct{}{}:
		case <-c.done:
			return nil
		}
		c.wg.Add(1)
		go c.serve(c.ctx, nil, m)
		return nil
	}
	select {
	case c.sem <- struct{}{}:
	default:
		c.respondErr(m, Errorf(CodeBusy, "more than %d concurrent requests", c.cfg.MaxHandlers))
		return nil
	}
	c.mu.Lock()
	if _, dup := c.serving[m.ID]; dup {
		c.mu.Unlock()
		<-c.sem
		return fmt.Errorf("%w: request id %d reused while in flight", ErrProtocol, m.ID)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.serving[m.ID] = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go c.serve(ctx, cancel, m)
	return nil
}

func (c *Conn) serve(ctx context.Context, cancel context.CancelFunc, m *Message) {
	defer c.wg.Done()
	defer func() { <-c.sem }()
	var resp []byte
	var err error
	if c.cfg.Handler == nil {
		err = Errorf(CodeUnknownType, "no handler")
	} else {
		resp, err = c.cfg.Handler.Handle(ctx, c, m)
	}
	if m.NoReply {
		if err != nil && !errors.Is(err, ErrUnknownType) {
			c.log.Debug("notification handler failed", "type", fmt.Sprintf("0x%04x", uint16(m.Type)), "err", err)
		}
		return
	}
	c.mu.Lock()
	delete(c.serving, m.ID)
	c.mu.Unlock()
	remoteCancelled := ctx.Err() != nil && c.ctx.Err() == nil
	cancel()
	if remoteCancelled || c.ctx.Err() != nil {
		return
	}
	if err != nil {
		c.respondErr(m, err)
		return
	}
	if len(resp) > c.cfg.MaxMessage {
		c.respondErr(m, Errorf(CodeInternal, "response too large"))
		return
	}
	c.sq.pushWait(&outMsg{h: Header{Type: m.Type, Flags: FlagResponse, Prio: m.Prio, ID: m.ID}, payload: resp}, c.done, nil)
}

func (c *Conn) respondErr(m *Message, err error) {
	var re *RemoteError
	switch {
	case errors.As(err, &re):
	case errors.Is(err, ErrMalformed):
		re = &RemoteError{Code: CodeBadRequest, Message: err.Error()}
	default:
		c.log.Warn("request handler failed", "type", fmt.Sprintf("0x%04x", uint16(m.Type)), "err", err)
		re = &RemoteError{Code: CodeInternal, Message: "internal error"}
	}
	c.sq.push(&outMsg{h: Header{Type: m.Type, Flags: FlagResponse | FlagError, Prio: m.Prio, ID: m.ID}, payload: re.Marshal()})
	if re.Close {
		g := GoAway{Code: re.Code, Reason: re.Message}
		c.sq.push(&outMsg{h: Header{Type: TypeGoAway, Flags: FlagNoReply, Prio: m.Prio, ID: c.newNotifyID()},
			payload: g.Marshal(), after: func() { c.shutdown(&RemoteError{Code: re.Code, Message: "closed after error: " + re.Message}) }})
	}
}
