package wire

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// transport makes a connected pair of net.Conns.
type transport struct {
	name string
	pair func(t *testing.T) (net.Conn, net.Conn)
}

func pipePair(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }

func tlsPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvCfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		tc := tls.Server(c, srvCfg)
		if err := tc.Handshake(); err != nil {
			c.Close()
			ch <- nil
			return
		}
		ch <- tc
	}()
	cc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sc := <-ch
	if sc == nil {
		t.Fatal("accept failed")
	}
	return cc, sc
}

var transports = []transport{{"pipe", pipePair}, {"tls", tlsPair}}

// openPair opens two Conns over a transport with the given handlers.
func openPair(t *testing.T, tr transport, ha, hb Handler, tweak func(*Config)) (*Conn, *Conn) {
	t.Helper()
	a, b := tr.pair(t)
	cfg := func(h Handler) Config {
		c := Config{Role: "test", Logger: testLogger(t), Handler: h, KeepaliveInterval: -1, HandshakeTimeout: 5 * time.Second}
		if tweak != nil {
			tweak(&c)
		}
		return c
	}
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := Open(context.Background(), b, cfg(hb)); ch <- res{c, err} }()
	ca, err := Open(context.Background(), a, cfg(ha))
	r := <-ch
	if err != nil || r.err != nil {
		t.Fatalf("open: %v / %v", err, r.err)
	}
	t.Cleanup(func() { ca.Close(); r.c.Close() })
	return ca, r.c
}

const typeEcho Type = 0xF001
const typeBlock Type = 0xF002
const typeNote Type = 0xF003

func echoRouter(blocked chan<- struct{}, notes chan<- []byte) Router {
	return Router{
		typeEcho: func(ctx context.Context, c *Conn, m *Message) ([]byte, error) { return m.Payload, nil },
		typeBlock: func(ctx context.Context, c *Conn, m *Message) ([]byte, error) {
			<-ctx.Done()
			if blocked != nil {
				blocked <- struct{}{}
			}
			return nil, ctx.Err()
		},
		typeNote: func(ctx context.Context, c *Conn, m *Message) ([]byte, error) {
			if notes != nil {
				notes <- m.Payload
			}
			return nil, nil
		},
	}
}

func TestConnSuite(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("echo-concurrent", func(t *testing.T) { testEchoConcurrent(t, tr) })
			t.Run("large-fragmented", func(t *testing.T) { testLarge(t, tr) })
			t.Run("unknown-type", func(t *testing.T) { testUnknown(t, tr) })
			t.Run("cancel", func(t *testing.T) { testCancel(t, tr) })
			t.Run("notify", func(t *testing.T) { testNotify(t, tr) })
			t.Run("close-idempotent", func(t *testing.T) { testClose(t, tr) })
			t.Run("keepalive-timeout", func(t *testing.T) { testKeepaliveTimeout(t, tr) })
			t.Run("busy", func(t *testing.T) { testBusy(t, tr) })
			t.Run("fatal-error-closes", func(t *testing.T) { testFatalError(t, tr) })
		})
	}
}

func testEchoConcurrent(t *testing.T, tr transport) {
	a, b := openPair(t, tr, echoRouter(nil, nil), echoRouter(nil, nil), func(c *Config) { c.MaxHandlers = 128 })
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 100 {
		for _, c := range []*Conn{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := bytes.Repeat([]byte{byte(i)}, i*37)
				got, err := c.Request(context.Background(), typeEcho, msg, Priority(i%4))
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- errors.New("echo mismatch")
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testLarge(t *testing.T, tr transport) {
	a, _ := openPair(t, tr, nil, echoRouter(nil, nil), nil)
	msg := make([]byte, 3*MaxFramePayload+1234)
	rand.Read(msg)
	got, err := a.Request(context.Background(), typeEcho, msg, PrioBulk)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("large echo: %v (equal=%v)", err, bytes.Equal(got, msg))
	}
	if _, err := a.Request(context.Background(), typeEcho, make([]byte, MaxMessageSize+1), PrioBulk); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized request: %v", err)
	}
}

func testUnknown(t *testing.T, tr transport) {
	a, _ := openPair(t, tr, nil, echoRouter(nil, nil), nil)
	_, err := a.Request(context.Background(), 0xF0FF, []byte("x"), PrioUrgent)
	if !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
	if err := a.Notify(0xF0FF, []byte("x"), PrioUrgent); err != nil {
		t.Fatal(err)
	}
	// still usable after both
	if _, err := a.Request(context.Background(), typeEcho, []byte("ok"), PrioUrgent); err != nil {
		t.Fatal(err)
	}
}

func testCancel(t *testing.T, tr transport) {
	blocked := make(chan struct{}, 1)
	a, _ := openPair(t, tr, nil, echoRouter(blocked, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := a.Request(ctx, typeBlock, []byte("x"), PrioUrgent); errc <- err }()
	// wait until the remote handler is running: a ping round trip after
	// the request is queued proves the request frame was delivered first.
	for {
		a.mu.Lock()
		n := len(a.pending)
		a.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := a.Request(context.Background(), TypePing, nil, PrioBulk); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request returned %v", err)
	}
	<-blocked // the remote handler's context was cancelled by the Cancel frame
}

func testNotify(t *testing.T, tr transport) {
	notes := make(chan []byte, 1)
	a, _ := openPair(t, tr, nil, echoRouter(nil, notes), nil)
	big := bytes.Repeat([]byte("n"), 2*MaxFramePayload+5)
	if err := a.Notify(typeNote, big, PrioBackground); err != nil {
		t.Fatal(err)
	}
	if got := <-notes; !bytes.Equal(got, big) {
		t.Fatal("notification payload mismatch")
	}
}

func testClose(t *testing.T, tr transport) {
	a, b := openPair(t, tr, nil, echoRouter(nil, nil), nil)
	a.Close()
	a.Close()
	<-b.Done()
	if _, err := a.Request(context.Background(), typeEcho, nil, PrioUrgent); err == nil {
		t.Fatal("request on closed conn succeeded")
	}
	if err := b.Notify(typeNote, nil, PrioUrgent); err == nil {
		t.Fatal("notify on closed conn succeeded")
	}
}

func testKeepaliveTimeout(t *testing.T, tr transport) {
	x, y := tr.pair(t)
	// y completes the handshake by hand, then reads and never answers.
	go func() {
		p, _ := (&Hello{Version: Version, MinVersion: Version}).Marshal()
		buf, _ := AppendFrame(nil, Header{Type: TypeHello}, p)
		go y.Write(buf)
		io.Copy(io.Discard, y)
	}()
	c, err := Open(context.Background(), x, Config{Logger: testLogger(t), KeepaliveInterval: 20 * time.Millisecond, KeepaliveTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), ErrKeepaliveTimeout) {
		t.Fatalf("conn ended with %v, want keepalive timeout", c.Err())
	}
	c.Close()
	y.Close()
}

func testBusy(t *testing.T, tr transport) {
	blocked := make(chan struct{}, 4)
	a, b := openPair(t, tr, nil, echoRouter(blocked, nil), func(c *Config) { c.MaxHandlers = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Request(ctx, typeBlock, nil, PrioUrgent)
	for { // until the blocker occupies the only handler slot
		b.mu.Lock()
		n := len(b.serving)
		b.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, err := a.Request(context.Background(), typeEcho, nil, PrioUrgent)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("want busy, got %v", err)
	}
}

func testFatalError(t *testing.T, tr transport) {
	h := HandlerFunc(func(ctx context.Context, c *Conn, m *Message) ([]byte, error) {
		return nil, &RemoteError{Code: CodeUnauth, Message: "go away", Close: true}
	})
	a, b := openPair(t, tr, nil, h, nil)
	_, err := a.Request(context.Background(), typeEcho, nil, PrioUrgent)
	if !errors.Is(err, ErrUnauth) {
		t.Fatalf("want unauthorized, got %v", err)
	}
	<-a.Done()
	<-b.Done()
	if !errors.Is(a.Err(), ErrGoAway) || !errors.Is(a.Err(), ErrUnauth) {
		t.Fatalf("conn ended with %v, want GoAway(unauthorized)", a.Err())
	}
}

func TestHandshakeRejects(t *testing.T) {
	cases := map[string][]byte{
		"not-hello":   mustFrame(Header{Type: TypePing}, nil),
		"bad-magic":   mustFrame(Header{Type: TypeHello}, []byte("XXXX\x00\x01\x00\x01\x00\x00")),
		"version-99":  mustFrame(Header{Type: TypeHello}, []byte("STRL\x00\x63\x00\x63\x00\x00")),
		"huge-length": {0, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF},
		"garbage":     []byte("GET / HTTP/1.1\r\n\r\n"),
	}
	for name, first := range cases {
		t.Run(name, func(t *testing.T) {
			x, y := net.Pipe()
			go func() {
				y.Write(first)
				io.Copy(io.Discard, y)
			}()
			_, err := Open(context.Background(), x, Config{Logger: testLogger(t), HandshakeTimeout: 2 * time.Second})
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("want handshake error, got %v", err)
			}
			y.Close()
		})
	}
}

func mustFrame(h Header, p []byte) []byte {
	b, err := AppendFrame(nil, h, p)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSendQueuePriority(t *testing.T) {
	q := newSendQueue(1 << 30)
	bulk := &outMsg{h: Header{Type: typeEcho, Prio: PrioBulk, ID: 1}, payload: make([]byte, 10*MaxFramePayload)}
	q.push(bulk)
	f, _ := q.pop() // first bulk frame goes out
	if f.h.ID != 1 || f.h.Flags&FlagMore == 0 {
		t.Fatalf("first frame %+v", f.h)
	}
	q.push(&outMsg{h: Header{Type: typeEcho, Prio: PrioUrgent, ID: 2}, payload: []byte("now")})
	q.push(&outMsg{h: Header{Type: typeEcho, Prio: PrioBulk, ID: 3}, payload: []byte("b2")})
	f, _ = q.pop()
	if f.h.ID != 2 || f.last == nil {
		t.Fatalf("urgent message did not overtake the bulk one: %+v", f.h)
	}
	// bulk messages share round-robin: 1, 3, then 1 to the end
	order := []uint32{}
	for {
		f, ok := q.pop()
		if !ok {
			break
		}
		order = append(order, f.h.ID)
	}
	if order[0] != 1 || order[1] != 3 || len(order) != 10 {
		t.Fatalf("round robin order %v", order)
	}
	// a cancelled message not yet started is dropped
	m := &outMsg{h: Header{Type: typeEcho, ID: 4}, payload: []byte("x")}
	q.push(m)
	if q.cancel(m) {
		t.Fatal("unstarted message reported started")
	}
	if _, ok := q.pop(); ok || q.len() != 0 {
		t.Fatal("cancelled message was sent")
	}
}

func TestUrgentOvertakesBulkEndToEnd(t *testing.T) {
	// The receiver records the order messages complete; an urgent echo sent
	// right after a 4 MiB bulk echo must complete first.
	var mu sync.Mutex
	var order []string
	h := Router{typeEcho: func(ctx context.Context, c *Conn, m *Message) ([]byte, error) {
		mu.Lock()
		order = append(order, m.Prio.String())
		mu.Unlock()
		return nil, nil
	}}
	a, _ := openPair(t, transports[0], nil, h, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.Request(context.Background(), typeEcho, make([]byte, MaxMessageSize), PrioBulk)
	}()
	for a.sq.len() == 0 { // until the bulk message is queued
		time.Sleep(time.Millisecond)
	}
	if _, err := a.Request(context.Background(), typeEcho, []byte("u"), PrioUrgent); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(order) != 2 || order[0] != "urgent" {
		t.Fatalf("completion order %v, want urgent first", order)
	}
}

// TestSendQueueBoundedAgainstNonReader: a peer that sends requests but
// never reads the responses makes handlers wait and the reader stop; the
// queued bytes stay near MaxQueued instead of growing without bound.
func TestSendQueueBoundedAgainstNonReader(t *testing.T) {
	x, y := net.Pipe()
	const limit = 1 << 20
	big := make([]byte, 600<<10)
	h := Router{typeEcho: func(ctx context.Context, c *Conn, m *Message) ([]byte, error) { return big, nil }}
	srvc := make(chan *Conn, 1)
	go func() {
		c, err := Open(context.Background(), y, Config{Logger: testLogger(t), Handler: h, KeepaliveInterval: -1, MaxQueued: limit, MaxHandlers: 4})
		if err != nil {
			srvc <- nil
			return
		}
		srvc <- c
	}()
	// hand-rolled client: hello, then requests, reading only the hello
	p, _ := (&Hello{Version: Version, MinVersion: Version}).Marshal()
	go x.Write(mustFrame(Header{Type: TypeHello}, p))
	if _, err := ReadFrame(x, nil); err != nil {
		t.Fatal(err)
	}
	srv := <-srvc
	if srv == nil {
		t.Fatal("open failed")
	}
	sent := make(chan int, 1)
	go func() {
		n := 0
		for i := uint32(1); i <= 5000; i++ {
			if _, err := x.Write(mustFrame(Header{Type: typeEcho, ID: i}, nil)); err != nil {
				break
			}
			n++
		}
		sent <- n
	}()
	// the writer is blocked on the first frame; the reader stops once the
	// queue is over the limit, so the client's writes block too.
	for srv.sq.queued() < limit {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let any overshoot happen (not a sync point)
	if q := srv.sq.queued(); q > limit+len(big) {
		t.Fatalf("%d bytes queued, bound %d", q, limit+len(big))
	}
	srv.Close()
	x.Close()
	if n := <-sent; n >= 5000 {
		t.Fatalf("the server kept reading all %d requests", n)
	}
}
