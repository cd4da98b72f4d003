package p2ptest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/p2ptest"
	"github.com/starling-audio/starling/p2p/peer"
	"github.com/starling-audio/starling/p2p/track"
)

// mapStore has whole tracks by ID (search tests need no chunks).
type mapStore map[track.ID]bool

func (m mapStore) Complete(id track.ID) bool { return m[id] }
func (m mapStore) ReadChunk(id track.ID, i int, dst []byte) ([]byte, error) {
	return nil, errors.New("no chunks here")
}

// bareNode runs a node without a streamer; cleanup closes it.
func bareNode(t *testing.T, ca *p2ptest.CA, name string, st peer.Store, cfg peer.Config) *peer.Node {
	t.Helper()
	cfg.ListenAddr, cfg.Credentials, cfg.Store = "127.0.0.1:0", ca.Issue(t, name), st
	n, err := peer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background()) }()
	t.Cleanup(func() {
		n.Close()
		if err := <-done; err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
	})
	<-n.Ready()
	return n
}

func holder(n *peer.Node) peer.Holder { return peer.Holder{ID: n.ID(), Addr: n.Addr().String()} }

func TestSearchTwoHopsNotThree(t *testing.T) {
	ca := p2ptest.NewCA(t)
	var two, three track.ID
	two[0], three[0] = 2, 3
	a := bareNode(t, ca, "a", mapStore{}, peer.Config{})
	b := bareNode(t, ca, "b", mapStore{}, peer.Config{})
	c := bareNode(t, ca, "c", mapStore{two: true}, peer.Config{})
	d := bareNode(t, ca, "d", mapStore{three: true}, peer.Config{})
	ctx := t.Context()
	for _, l := range [][2]*peer.Node{{a, b}, {b, c}, {c, d}} { // a - b - c - d
		if err := l[0].Connect(ctx, holder(l[1])); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "chain connected", func() bool { return b.Neighbours() == 2 && c.Neighbours() == 2 && d.Neighbours() == 1 })
	a.Search(ctx, three)
	a.Search(ctx, two)
	eventually(t, "a finds c two hops away", func() bool { return len(a.Candidates(two)) == 1 })
	if !a.Connected(c.ID()) {
		t.Error("a did not connect to the holder it found")
	}
	eventually(t, "both queries reach c", func() bool { return c.Stats().QueriesRecv == 2 })
	// Closing waits for every handler: after it, the counters are final.
	for _, n := range []*peer.Node{a, b, c, d} {
		n.Close()
	}
	as, ds := a.Stats(), d.Stats()
	t.Logf("a: searches %d, hits %d by hops %v; b fwd %d; d received %d", as.Searches, as.Hits, as.HitsByHops, b.Stats().QueriesFwd, ds.QueriesRecv)
	if as.HitsByHops[2] != 1 || as.Hits != 1 {
		t.Errorf("hits %d by hops %v, want one at 2 hops", as.Hits, as.HitsByHops)
	}
	if ds.QueriesRecv != 0 || len(a.Candidates(three)) != 0 {
		t.Errorf("a query travelled 3 hops (d received %d)", ds.QueriesRecv)
	}
}

func TestSearchDuplicatesDropped(t *testing.T) {
	ca := p2ptest.NewCA(t)
	var x track.ID
	x[0] = 9
	// a triangle: a's query reaches c through b and directly.
	a := bareNode(t, ca, "a", mapStore{}, peer.Config{})
	b := bareNode(t, ca, "b", mapStore{}, peer.Config{})
	c := bareNode(t, ca, "c", mapStore{x: true}, peer.Config{})
	ctx := t.Context()
	for _, l := range [][2]*peer.Node{{a, b}, {b, c}, {a, c}} {
		if err := l[0].Connect(ctx, holder(l[1])); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "triangle", func() bool { return a.Neighbours() == 2 && b.Neighbours() == 2 && c.Neighbours() == 2 })
	a.Search(ctx, x)
	eventually(t, "found", func() bool { return len(a.Candidates(x)) == 1 })
	// Which copies meet depends on arrival order: if b first hears the
	// query through c it forwards it to a only, and c gets one copy. In
	// every order b or c receives a second copy and must drop it; c must
	// answer once. (Closing as soon as a found x raced the copy via b.)
	eventually(t, "a duplicate dropped", func() bool { return b.Stats().QueriesDup+c.Stats().QueriesDup >= 1 })
	for _, n := range []*peer.Node{a, b, c} {
		n.Close()
	}
	if cs := c.Stats(); cs.QueriesRecv < 1 || cs.QueriesRecv > 2 || cs.QueriesDup != cs.QueriesRecv-1 || cs.Answered != 1 {
		t.Errorf("c received %d, duplicates %d, answered %d; want 1 or 2, the rest, 1", cs.QueriesRecv, cs.QueriesDup, cs.Answered)
	}
	if bs := b.Stats(); bs.QueriesDup != bs.QueriesRecv-1 {
		t.Errorf("b received %d, duplicates %d; want all but the first dropped", bs.QueriesRecv, bs.QueriesDup)
	}
}

func TestNeighbourCapWith100Peers(t *testing.T) {
	ca := p2ptest.NewCA(t)
	hub := bareNode(t, ca, "hub", mapStore{}, peer.Config{})
	const peers = 100
	clients := make([]*peer.Node, peers)
	for i := range clients {
		n, err := peer.New(peer.Config{ListenAddr: "127.0.0.1:0", Credentials: ca.Issue(t, "c"), Store: mapStore{}})
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = n
		t.Cleanup(func() { n.Close() })
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	maxSeen := 0
	var mu sync.Mutex
	for _, n := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n.Connect(t.Context(), holder(hub)) // refused ones end with GoAway
			mu.Lock()
			maxSeen = max(maxSeen, hub.Neighbours())
			mu.Unlock()
		}()
	}
	wg.Wait()
	s := hub.Stats()
	t.Logf("hub: %d neighbours (max seen %d), refused %d, evictions %d", s.Neighbours, maxSeen, s.Refused, s.Evictions)
	if maxSeen > 60 || s.Neighbours > 60 {
		t.Errorf("neighbours reached %d (now %d), cap is 60", maxSeen, s.Neighbours)
	}
	if s.Neighbours < 50 || s.Refused < 30 {
		t.Errorf("neighbours %d, refused %d: want the cap filled and the rest refused", s.Neighbours, s.Refused)
	}
}

func TestEvictionOverSoftLimit(t *testing.T) {
	ca := p2ptest.NewCA(t)
	hub := bareNode(t, ca, "hub", mapStore{}, peer.Config{MaxNeighbours: 8, SoftNeighbours: 5, NewcomerGrace: time.Nanosecond})
	for i := 0; i < 8; i++ {
		n, err := peer.New(peer.Config{ListenAddr: "127.0.0.1:0", Credentials: ca.Issue(t, "c"), Store: mapStore{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Connect(t.Context(), holder(hub)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "evicted down to the soft limit", func() bool { return hub.Neighbours() <= 5 })
	if s := hub.Stats(); s.Evictions < 1 {
		t.Errorf("evictions %d, want >= 1", s.Evictions)
	}
}

func TestCertificatesRefused(t *testing.T) {
	ca := p2ptest.NewCA(t)
	hub := bareNode(t, ca, "hub", mapStore{}, peer.Config{})
	other := p2ptest.NewCA(t)
	cases := map[string]*p2ptest.Creds{
		"other CA":    other.Issue(t, "x"),
		"server only": ca.IssueWith(t, "x", p2ptest.CertOpts{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
		"expired": ca.IssueWith(t, "x", p2ptest.CertOpts{NotBefore: time.Now().Add(-48 * time.Hour),
			NotAfter: time.Now().Add(-24 * time.Hour)}),
	}
	for name, cr := range cases {
		t.Run(name, func(t *testing.T) {
			n, err := peer.New(peer.Config{ListenAddr: "127.0.0.1:0", Credentials: cr, Store: mapStore{}})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if err := n.Connect(t.Context(), holder(hub)); err == nil {
				t.Error("connected with a bad certificate")
			}
		})
	}
	if hub.Neighbours() != 0 {
		t.Errorf("hub has %d neighbours", hub.Neighbours())
	}
	good, err := peer.New(peer.Config{ListenAddr: "127.0.0.1:0", Credentials: ca.Issue(t, "good"), Store: mapStore{}})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if err := good.Connect(t.Context(), peer.Holder{ID: good.ID(), Addr: hub.Addr().String()}); !errors.Is(err, peer.ErrSelf) {
		t.Errorf("dial with our own ID: %v", err)
	}
	if err := good.Connect(t.Context(), holder(hub)); err != nil {
		t.Errorf("good certificate: %v", err)
	}
}

// trackerFunc adapts a function to peer.Tracker.
type trackerFunc func(context.Context, track.ID) ([]peer.Holder, error)

func (f trackerFunc) Query(ctx context.Context, id track.ID) ([]peer.Holder, error) {
	return f(ctx, id)
}

func TestNoOverlaySearchAsksTheTrackerOnly(t *testing.T) {
	ca := p2ptest.NewCA(t)
	var x track.ID
	x[0] = 7
	c := bareNode(t, ca, "c", mapStore{x: true}, peer.Config{})
	b := bareNode(t, ca, "b", mapStore{x: true}, peer.Config{})
	var asked sync.WaitGroup
	asked.Add(1)
	tr := trackerFunc(func(context.Context, track.ID) ([]peer.Holder, error) {
		defer asked.Done()
		return []peer.Holder{holder(c)}, nil
	})
	a := bareNode(t, ca, "a", mapStore{}, peer.Config{Tracker: tr, NoOverlaySearch: true})
	ctx := t.Context()
	if err := a.Connect(ctx, holder(b)); err != nil { // b holds x too, one hop away
		t.Fatal(err)
	}
	eventually(t, "a-b connected", func() bool { return b.Neighbours() == 1 })
	a.Search(ctx, x)
	asked.Wait()
	eventually(t, "the tracker's holder is a candidate", func() bool { return len(a.Candidates(x)) >= 1 })
	for _, n := range []*peer.Node{a, b, c} {
		n.Close()
	}
	if got := b.Stats().QueriesRecv; got != 0 {
		t.Errorf("the neighbour received %d overlay queries; want none with NoOverlaySearch", got)
	}
	if s := a.Stats(); s.QueriesSent != 0 || s.Searches != 1 {
		t.Errorf("a sent %d queries over %d searches; want 0 over 1", s.QueriesSent, s.Searches)
	}
}

// A node listening on a specific IP dials its peers from it, so that the
// peer (or a test bed's emulated network) sees who connects.
func TestDialsFromTheListenIP(t *testing.T) {
	ca := p2ptest.NewCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	from := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			from <- err.Error()
			return
		}
		from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close() // the handshake fails; only the source address matters
	}()
	n, err := peer.New(peer.Config{ListenAddr: "127.0.0.7:0", Credentials: ca.Issue(t, "a"), Store: mapStore{}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background()) }()
	defer func() {
		n.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-n.Ready()
	_ = n.Connect(t.Context(), peer.Holder{Addr: ln.Addr().String()}) // fails: not a peer
	if ip := <-from; ip != "127.0.0.7" {
		t.Errorf("the dial came from %s; want the listen IP 127.0.0.7", ip)
	}
}
