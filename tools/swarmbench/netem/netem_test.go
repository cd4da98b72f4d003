package netem

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestShaperDelayOnly(t *testing.T) {
	s, err := NewShaper(Link{Delay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		at, err := s.Schedule(now, MaxSegment)
		if err != nil {
			t.Fatal(err)
		}
		if got := at.Sub(now); got != 20*time.Millisecond {
			t.Fatalf("segment %d delivered after %v, want 20ms", i, got)
		}
	}
}

// TestShaperRate sends 1 MiB through a 128 KiB/s (1 Mbit/s) uplink at
// once, by the injected clock: the last byte must arrive after about
// 8 s minus the one-segment burst, plus the delay, within 2%.
func TestShaperRate(t *testing.T) {
	const rateBps = 128 << 10
	delay := 30 * time.Millisecond
	s, err := NewShaper(Link{Delay: delay, Rate: rateBps})
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	total := 0
	for total < 1<<20 {
		n := 1500 + total%MaxSegment // uneven segments
		n = min(n, MaxSegment)
		at, err := s.Schedule(t0, n)
		if err != nil {
			t.Fatal(err)
		}
		if at.Before(last) {
			t.Fatalf("delivery went backwards: %v after %v", at, last)
		}
		last = at
		total += n
	}
	want := time.Duration(float64(total-MaxSegment)/rateBps*float64(time.Second)) + delay
	got := last.Sub(t0)
	if diff := got - want; diff < -want/50 || diff > want/50 {
		t.Fatalf("%d bytes at %d B/s delivered after %v, want %v ±2%%", total, rateBps, got, want)
	}
	// An idle link refills: a segment sent much later leaves at once.
	later := last.Add(time.Minute)
	at, _ := s.Schedule(later, 1000)
	if at.Sub(later) != delay {
		t.Fatalf("after idling, a small segment took %v, want the bare delay %v", at.Sub(later), delay)
	}
}

func TestShaperRejects(t *testing.T) {
	for _, l := range []Link{{Delay: -1}, {Rate: -5}, {Rate: 10}, {Delay: 2 * time.Minute}} {
		if _, err := NewShaper(l); !errors.Is(err, ErrBadLink) {
			t.Errorf("NewShaper(%+v) = %v, want ErrBadLink", l, err)
		}
	}
	s, _ := NewShaper(Link{Rate: 1 << 20})
	if _, err := s.Schedule(t0, MaxSegment+1); err == nil {
		t.Fatal("oversized segment accepted")
	}
}

// fakeClock advances only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	added   chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan struct{}
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0, added: make(chan struct{}, 1024)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Until(t time.Time, done <-chan struct{}) bool {
	c.mu.Lock()
	if !t.After(c.now) {
		c.mu.Unlock()
		return true
	}
	w := fakeWaiter{at: t, ch: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	c.added <- struct{}{}
	select {
	case <-w.ch:
		return true
	case <-done:
		return false
	}
}

// advanceToNext moves the clock to the earliest waiter and releases it.
func (c *fakeClock) advanceToNext() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return
	}
	i := 0
	for j, w := range c.waiters {
		if w.at.Before(c.waiters[i].at) {
			i = j
		}
	}
	w := c.waiters[i]
	c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
	if w.at.After(c.now) {
		c.now = w.at
	}
	close(w.ch)
}

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestProxyFakeClock pushes 256 KiB through an echo server behind a proxy
// with 20 ms each way and a 64 KiB/s downlink: the bytes come back intact,
// and the fake clock shows the round trip cost the delay both ways plus
// the downlink's pacing.
func TestProxyFakeClock(t *testing.T) {
	clk := newFakeClock()
	up, _ := NewShaper(Link{Delay: 20 * time.Millisecond})
	down, _ := NewShaper(Link{Delay: 20 * time.Millisecond, Rate: 64 << 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := Listen(ctx, ProxyConfig{Target: echoServer(t), Up: up, Down: down, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 256<<10)
	rand.Read(msg)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(msg))
		_, err := io.ReadFull(c, b)
		if err != nil {
			b = nil
		}
		got <- b
	}()
	go func() { c.Write(msg) }()
	var back []byte
	for back == nil {
		select {
		case <-clk.added:
			clk.advanceToNext()
		case back = <-got:
			if back == nil {
				t.Fatal("reading the echo failed")
			}
		}
	}
	if !bytes.Equal(back, msg) {
		t.Fatal("echo through the proxy differs")
	}
	elapsed := clk.Now().Sub(t0)
	// The downlink paces 256 KiB at 64 KiB/s: 4 s less one burst; plus
	// 40 ms of delay. Upstream segments pipeline behind it.
	min := time.Duration(float64(len(msg)-MaxSegment)/(64<<10)*float64(time.Second)) + 40*time.Millisecond
	if elapsed < min-time.Millisecond || elapsed > min+min/10 {
		t.Fatalf("fake clock advanced %v, want %v..+10%%", elapsed, min)
	}
	if u, d := p.Bytes(); u != int64(len(msg)) || d != int64(len(msg)) {
		t.Fatalf("proxy counted %d up, %d down; want %d each", u, d, len(msg))
	}
}

func TestProxyRealClockCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Listen(ctx, ProxyConfig{Target: echoServer(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("echo = %q, %v", b, err)
	}
	cancel() // the context closes the proxy and its connections
	if _, err := c.Read(b); err == nil {
		t.Fatal("connection still open after the proxy's context ended")
	}
	c.Close()
	if err := p.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
}

// TestBucketSharedAcrossLinks offers 1 MiB on each of three links of one
// uplink at once (injected time): together they take as long as 3 MiB on
// one link, while three links with buckets of their own finish three times
// sooner. Each link keeps its own delay.
func TestBucketSharedAcrossLinks(t *testing.T) {
	const rateBps = 256 << 10
	finish := func(shared bool) (time.Duration, []time.Duration) {
		b, err := NewBucket(rateBps)
		if err != nil {
			t.Fatal(err)
		}
		delays := []time.Duration{5 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond}
		var links []*Shaper
		for _, d := range delays {
			bb := b
			if !shared {
				bb, _ = NewBucket(rateBps)
			}
			s, err := NewLinkShaper(d, bb)
			if err != nil {
				t.Fatal(err)
			}
			links = append(links, s)
		}
		var last time.Time
		firsts := make([]time.Duration, len(links))
		for seg := 0; seg < (1<<20)/MaxSegment; seg++ {
			for i, s := range links { // interleaved, as concurrent readers would be
				at, err := s.Schedule(t0, MaxSegment)
				if err != nil {
					t.Fatal(err)
				}
				if seg == 0 {
					firsts[i] = at.Sub(t0)
				}
				if at.After(last) {
					last = at
				}
			}
		}
		return last.Sub(t0), firsts
	}
	sharedEnd, firsts := finish(true)
	ownEnd, _ := finish(false)
	want := time.Duration(float64(3<<20-MaxSegment) / rateBps * float64(time.Second))
	if d := sharedEnd - want; d < 0 || d > 100*time.Millisecond {
		t.Fatalf("3 MiB over one shared %d B/s uplink done after %v, want %v + at most the largest delay", rateBps, sharedEnd, want)
	}
	if ratio := float64(sharedEnd) / float64(ownEnd); ratio < 2.7 || ratio > 3.3 {
		t.Fatalf("shared bucket took %v, separate buckets %v: ratio %.2f, want about 3", sharedEnd, ownEnd, ratio)
	}
	// The first segment of link 0 leaves with the initial burst: only its delay.
	if firsts[0] != 5*time.Millisecond {
		t.Fatalf("first segment of link 0 delivered after %v, want its 5ms delay", firsts[0])
	}
	if firsts[1] <= 30*time.Millisecond || firsts[2] <= 60*time.Millisecond {
		t.Fatalf("later links' first segments %v did not wait for the shared bucket", firsts[1:])
	}
}

func TestBucketRejects(t *testing.T) {
	for _, r := range []float64{0, -1, 100} {
		if _, err := NewBucket(r); !errors.Is(err, ErrBadLink) {
			t.Errorf("NewBucket(%v) = %v, want ErrBadLink", r, err)
		}
	}
	if _, err := NewLinkShaper(-time.Second, nil); !errors.Is(err, ErrBadLink) {
		t.Errorf("negative delay accepted: %v", err)
	}
}

// TestProxyRouteSeesDialer dials the proxy from a chosen loopback address
// (as a speaker dialling from its own IP does): Route is called with that
// address, and its shapers are used.
func TestProxyRouteSeesDialer(t *testing.T) {
	clk := newFakeClock()
	var seen []netip.Addr
	var mu sync.Mutex
	slow, _ := NewLinkShaper(50*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := Listen(ctx, ProxyConfig{Target: echoServer(t), Clock: clk, Route: func(a netip.Addr) (up, down *Shaper) {
		mu.Lock()
		seen = append(seen, a)
		mu.Unlock()
		return slow, slow
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	from := netip.MustParseAddr("127.0.1.7")
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
	c, err := d.Dial("tcp", p.Addr())
	if err != nil {
		t.Skipf("cannot dial from %v (no 127/8 loopback here?): %v", from, err)
	}
	defer c.Close()
	got := make(chan error, 1)
	go func() {
		b := make([]byte, 4)
		_, err := io.ReadFull(c, b)
		got <- err
	}()
	c.Write([]byte("ping"))
	for done := false; !done; {
		select {
		case <-clk.added:
			clk.advanceToNext()
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		}
	}
	if el := clk.Now().Sub(t0); el != 100*time.Millisecond {
		t.Fatalf("round trip took %v by the fake clock, want 2 x 50ms from the routed shapers", el)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != from {
		t.Fatalf("Route saw %v, want [%v]", seen, from)
	}
}
