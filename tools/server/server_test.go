package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/p2p/session"
	"github.com/starling-audio/starling/p2p/track"
	"github.com/starling-audio/starling/p2p/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCatalog is an in-memory Catalog for tests.
type fakeCatalog struct {
	tracks map[track.ID]fakeTrack
	order  []track.ID
}

type fakeTrack struct {
	raw   []byte
	key   track.Key
	entry wire.SearchEntry
}

var _ Catalog = (*fakeCatalog)(nil)

func newFakeCatalog(t testing.TB, titles ...string) *fakeCatalog {
	c := &fakeCatalog{tracks: map[track.ID]fakeTrack{}}
	for i, title := range titles {
		size := 3*track.ChunkSize + 100*i + 1
		data := make([]byte, size)
		rand.Read(data)
		m := &track.Manifest{Size: int64(size), DurationMs: 1000, Codec: track.CodecVorbis, SampleRate: 44100, Channels: 2}
		for off := 0; off < size; off += track.ChunkSize {
			m.Chunks = append(m.Chunks, track.HashChunk(data[off:min(off+track.ChunkSize, size)]))
		}
		raw, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := m.ID()
		k, _ := track.NewKey()
		c.tracks[id] = fakeTrack{raw: raw, key: k, entry: wire.SearchEntry{ID: id, Title: title, Artist: "Artist " + title, Size: uint64(size)}}
		c.order = append(c.order, id)
	}
	return c
}

func (c *fakeCatalog) Has(id track.ID) bool { _, ok := c.tracks[id]; return ok }
func (c *fakeCatalog) ManifestRaw(id track.ID) ([]byte, error) {
	t, ok := c.tracks[id]
	if !ok {
		return nil, ErrNotFound
	}
	return t.raw, nil
}
func (c *fakeCatalog) Key(id track.ID) (track.Key, error) {
	t, ok := c.tracks[id]
	if !ok {
		return track.Key{}, ErrNotFound
	}
	return t.key, nil
}
func (c *fakeCatalog) Search(q string, offset, limit int) ([]wire.SearchEntry, int) {
	var hits []wire.SearchEntry
	for _, id := range c.order {
		e := c.tracks[id].entry
		if strings.Contains(strings.ToLower(e.Title+" "+e.Artist), strings.ToLower(q)) {
			hits = append(hits, e)
		}
	}
	total := len(hits)
	if offset >= len(hits) {
		return nil, total
	}
	return hits[offset:min(offset+limit, len(hits))], total
}

// testEnv is a running server on loopback with a temp state dir.
type testEnv struct {
	t      testing.TB
	dir    string
	id     *Identity
	reg    *Registry
	cat    *fakeCatalog
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startEnv(t testing.TB, dir, addr string, cat *fakeCatalog) *testEnv {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if cat == nil {
		cat = newFakeCatalog(t, "Waterloo", "Dancing Queen", "Take On Me")
	}
	id, err := LoadOrCreateIdentity(dir, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Identity: id, Devices: reg, Catalog: cat, Logger: quietLogger(),
		HandshakeTimeout: 5 * time.Second, KeepaliveInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for range 100 { // the port of a just-stopped server may take a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEnv{t: t, dir: dir, id: id, reg: reg, cat: cat, srv: srv, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(e.stop)
	return e
}

func (e *testEnv) stop() {
	if e.cancel != nil {
		e.cancel()
		if err := <-e.done; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
		e.cancel = nil
	}
}

func (e *testEnv) device(name string) session.Config {
	e.t.Helper()
	d, secret, err := e.reg.Add(name, "stable", time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return session.Config{Addr: e.addr, DeviceID: d.ID, Secret: secret, ServicePin: e.id.Pinned,
		Logger: quietLogger(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, KeepaliveInterval: -1}
}

func (e *testEnv) dial(cfg session.Config) *session.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := session.Dial(ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoginSearchManifestKey(t *testing.T) {
	e := startEnv(t, "", "", nil)
	c := e.dial(e.device("kitchen"))
	ctx := ctxT(t)
	res, err := c.Search(ctx, "QUEEN", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || len(res.Entries) != 1 || res.Entries[0].Title != "Dancing Queen" {
		t.Fatalf("search: %+v", res)
	}
	id := res.Entries[0].ID
	m, raw, err := c.Manifest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256.Sum256(raw); track.ID(got) != id || m.Size != int64(res.Entries[0].Size) {
		t.Fatal("manifest does not match its ID")
	}
	k, err := c.Key(ctx, id)
	if err != nil || k != e.cat.tracks[id].key {
		t.Fatalf("key: %v", err)
	}
	if _, err := c.Key(ctx, track.ID{1}); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("unknown track key: %v", err)
	}
	// the device certificate chains to the CA and carries our key
	cert, pool, err := c.PeerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := session.VerifyPeerCert([]*x509.Certificate{cert.Leaf}, pool, time.Now())
	if err != nil || pid != c.PeerID() {
		t.Fatalf("device cert: %v", err)
	}
	if exp := c.CertExpiry(); exp.Before(time.Now().Add(23*time.Hour)) || exp.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("cert validity ends %v, want about 24 h from now", exp)
	}
	if err := c.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if c.PeerID() != pid {
		t.Fatal("peer ID changed on renewal")
	}
	// pushes
	n, err := e.srv.Push("firmware-release", []byte(`{"version":"1.2.3"}`), "stable")
	if err != nil || n != 1 {
		t.Fatalf("push: %d %v", n, err)
	}
	select {
	case p := <-c.Pushes():
		if p.Kind != "firmware-release" || string(p.Payload) != `{"version":"1.2.3"}` {
			t.Fatalf("push %+v", p)
		}
	case <-ctx.Done():
		t.Fatal("push not delivered")
	}
	if n, _ := e.srv.Push("x", nil, "beta"); n != 0 {
		t.Fatalf("push to another channel reached %d sessions", n)
	}
}

func TestTracker30Devices(t *testing.T) {
	e := startEnv(t, "", "", nil)
	ctx := ctxT(t)
	id := e.cat.order[0]
	clients := make([]*session.Client, 30)
	for i := range clients {
		clients[i] = e.dial(e.device("spk" + string(rune('A'+i))))
	}
	// announce in order 0..29: the last 20 announcers are 10..29
	for i, c := range clients {
		if err := c.Announce(ctx, "127.0.0.1:"+itoa(20000+i), []track.ID{id}); err != nil {
			t.Fatal(err)
		}
	}
	addrOf := map[wire.PeerID]int{}
	for i, c := range clients {
		addrOf[c.PeerID()] = i
	}
	check := func(asker int, wantMax int, allowed func(i int) bool) {
		t.Helper()
		peers, err := clients[asker].Peers(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) > 10 || len(peers) != wantMax {
			t.Fatalf("asker %d got %d peers, want %d", asker, len(peers), wantMax)
		}
		for _, p := range peers {
			i, ok := addrOf[p.ID]
			if !ok || i == asker || !allowed(i) || p.Addr != "127.0.0.1:"+itoa(20000+i) {
				t.Fatalf("asker %d got peer %d (%s) not allowed", asker, i, p.Addr)
			}
		}
	}
	check(29, 10, func(i int) bool { return i >= 10 })
	check(0, 10, func(i int) bool { return i >= 10 })
	// take 15 of the last 20 offline: only 25..29 remain online among them
	for i := 10; i < 25; i++ {
		clients[i].Close()
	}
	for e.srv.Sessions() != 15 {
		time.Sleep(5 * time.Millisecond)
	}
	check(0, 5, func(i int) bool { return i >= 25 })
	check(27, 4, func(i int) bool { return i >= 25 })
	// withdraw
	if err := clients[29].Withdraw(ctx, []track.ID{id}); err != nil {
		t.Fatal(err)
	}
	check(0, 4, func(i int) bool { return i >= 25 && i != 29 })
	// announcing a track not in the catalogue is refused
	if err := clients[0].Announce(ctx, ":7450", []track.ID{{9}}); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("unknown track announce: %v", err)
	}
}

func itoa(i int) string   { return strconv.Itoa(i) }
func fmtInt(i int) string { return strconv.Itoa(i) }

func TestWrongCredentialsRefused(t *testing.T) {
	e := startEnv(t, "", "", nil)
	good := e.device("good")
	ctx := ctxT(t)
	bad := good
	bad.Secret = make([]byte, 32)
	if _, err := session.Dial(ctx, bad); !errors.Is(err, wire.ErrUnauth) {
		t.Fatalf("wrong secret: %v", err)
	}
	unknown := good
	unknown.DeviceID = "dev-nope"
	if _, err := session.Dial(ctx, unknown); !errors.Is(err, wire.ErrUnauth) {
		t.Fatalf("unknown device: %v", err)
	}
	pin := good
	pin.ServicePin[0] ^= 1
	if _, err := session.Dial(ctx, pin); !errors.Is(err, session.ErrPinMismatch) {
		t.Fatalf("wrong pin: %v", err)
	}
}

func TestRequestsBeforeLoginRefused(t *testing.T) {
	e := startEnv(t, "", "", nil)
	tc, err := tls.Dial("tcp", e.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := wire.Open(ctxT(t), tc, wire.Config{Logger: quietLogger(), KeepaliveInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Request(ctxT(t), wire.TypeManifest, wire.MarshalTrackID(e.cat.order[0]), wire.PrioUrgent); !errors.Is(err, wire.ErrUnauth) {
		t.Fatalf("manifest before login: %v", err)
	}
	if _, err := conn.Request(ctxT(t), wire.TypeLogin, []byte("junk"), wire.PrioUrgent); !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("junk login: %v", err)
	}
	<-conn.Done() // a failed login closes the session
}

func TestPeerCertificates(t *testing.T) {
	e := startEnv(t, "", "", nil)
	a := e.dial(e.device("a"))
	b := e.dial(e.device("b"))
	now := time.Now
	// a foreign service's CA issues a certificate to a third device
	other := startEnv(t, "", "", nil)
	f := other.dial(other.device("foreign"))

	run := func(srv, cli session.PeerCredentials, srvNow, cliNow func() time.Time, expect *wire.PeerID) error {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", session.PeerTLSConfig(srv, nil, srvNow))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		errc := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			errc <- c.(*tls.Conn).Handshake()
		}()
		c, err := tls.Dial("tcp", ln.Addr().String(), session.PeerTLSConfig(cli, expect, cliNow))
		if err == nil {
			err = c.Handshake()
			c.Close()
		}
		serr := <-errc
		return errors.Join(err, serr)
	}
	bid := b.PeerID()
	if err := run(b, a, now, now, &bid); err != nil {
		t.Fatalf("mutual auth between logged-in speakers: %v", err)
	}
	later := func() time.Time { return time.Now().Add(25 * time.Hour) }
	if err := run(b, a, now, later, nil); err == nil {
		t.Fatal("expired certificate accepted")
	}
	if err := run(b, f, now, now, nil); err == nil {
		t.Fatal("certificate from a foreign CA accepted")
	}
	aid := a.PeerID()
	if err := run(b, a, now, now, &aid); err == nil {
		t.Fatal("wrong expected peer accepted")
	}
}

func TestGarbageClientsDisconnectedWithoutMemoryGrowth(t *testing.T) {
	e := startEnv(t, "", "", nil)
	attacks := []func() error{
		func() error { // plaintext garbage instead of TLS
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				return err
			}
			defer c.Close()
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			io.Copy(io.Discard, c) // any end of stream: we were disconnected
			return nil
		},
		func() error { // TLS, then a huge length prefix
			c, err := tls.Dial("tcp", e.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
			if err != nil {
				return err
			}
			defer c.Close()
			c.Write([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0})
			io.Copy(io.Discard, c) // any end of stream: we were disconnected
			return nil
		},
		func() error { // TLS, hello, then a huge fragmented message
			tc, err := tls.Dial("tcp", e.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
			if err != nil {
				return err
			}
			defer tc.Close()
			p, _ := (&wire.Hello{Version: 1, MinVersion: 1}).Marshal()
			b, _ := wire.AppendFrame(nil, wire.Header{Type: wire.TypeHello}, p)
			chunk := make([]byte, wire.MaxFramePayload)
			go func() {
				tc.Write(b)
				for range 400 { // 6.6 MiB claimed as one message: over the limit
					f, _ := wire.AppendFrame(nil, wire.Header{Type: wire.TypeSearch, Flags: wire.FlagMore, ID: 1}, chunk)
					if _, err := tc.Write(f); err != nil {
						return
					}
				}
			}()
			io.Copy(io.Discard, tc)
			return nil
		},
	}
	runAll := func(rounds int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range rounds {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := attacks[i%len(attacks)](); err != nil && !isReset(err) {
					t.Errorf("attack %d: %v", i%len(attacks), err)
				}
			}()
		}
		wg.Wait()
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	runAll(24) // warm up pools
	before := heap()
	runAll(120)
	after := heap()
	t.Logf("heap before %d KiB, after 120 hostile clients %d KiB", before>>10, after>>10)
	if after > before+16<<20 {
		t.Fatalf("heap grew from %d to %d bytes over 120 hostile clients", before, after)
	}
	// the server still serves honest clients
	c := e.dial(e.device("honest"))
	if _, err := c.Search(ctxT(t), "a", 0, 5); err != nil {
		t.Fatal(err)
	}
}

func isReset(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe")
}

func TestReconnectAfterServerRestart(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, dir, "", nil)
	cfg := e.device("living-room")
	c := e.dial(cfg)
	ctx := ctxT(t)
	id := e.cat.order[1]
	if err := c.Announce(ctx, ":7450", []track.ID{id}); err != nil {
		t.Fatal(err)
	}
	if !c.Connected() {
		t.Fatal("client not connected after login")
	}
	addr := e.addr
	e.stop()
	for c.Connected() { // the supervisor notices the loss
		select {
		case <-ctx.Done():
			t.Fatal("client still reports connected after the server stopped")
		case <-time.After(5 * time.Millisecond):
		}
	}
	// same state dir (same identity and devices), same address, same catalogue
	e2 := startEnv(t, dir, addr, e.cat)
	res, err := c.Search(ctx, "waterloo", 0, 10)
	if err != nil || res.Total != 1 {
		t.Fatalf("search after restart: %+v %v", res, err)
	}
	if !c.Connected() {
		t.Fatal("client not connected after a request over the new session")
	}
	// the client re-announced: another device finds it
	o := e2.dial(e2.device("bedroom"))
	for {
		peers, err := o.Peers(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) == 1 {
			if peers[0].ID != c.PeerID() || peers[0].Addr != "127.0.0.1:7450" {
				t.Fatalf("tracker after restart: %+v", peers)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegistryAndIdentityFiles(t *testing.T) {
	dir := t.TempDir()
	id1, err := LoadOrCreateIdentity(dir, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id2, err := LoadOrCreateIdentity(dir, "", "", time.Now())
	if err != nil || id1.Pin() != id2.Pin() {
		t.Fatalf("identity not persisted: %v", err)
	}
	reg, _ := OpenRegistry(dir)
	d, secret, err := reg.Add("x", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(readFile(t, dir+"/"+DevicesFile), hex.EncodeToString(secret)) {
		t.Fatal("secret stored in clear")
	}
	if _, _, err := reg.Add("x", "", time.Now()); !errors.Is(err, ErrDeviceExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	reg2, _ := OpenRegistry(dir)
	if _, err := reg2.Verify(d.ID, secret); err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 1
	if _, err := reg2.Verify(d.ID, secret); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("bad secret: %v", err)
	}
	_, pub, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := id1.IssueDeviceCert("d", pub.Public().(ed25519.PublicKey), time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAKeyFile, ServiceKeyFile, DevicesFile} {
		st, err := osStat(dir + "/" + f)
		if err != nil || st&0o077 != 0 {
			t.Fatalf("%s mode %o: %v", f, st, err)
		}
	}
}

func TestTrackerUnit(t *testing.T) {
	tr := NewTracker()
	var id track.ID
	peers := make([]wire.PeerID, 25)
	for i := range peers {
		peers[i][0] = byte(i + 1)
		tr.Announce(id, peers[i], "h:"+fmtInt(i+1))
	}
	tr.Announce(id, peers[3], "h:4") // re-announce moves 3 to the front
	all := func(wire.PeerID) bool { return true }
	got := tr.Query(id, peers[24], all)
	want := []byte{4, 24, 23, 22, 21, 20, 19, 18, 17, 16}
	var gotB []byte
	for _, p := range got {
		gotB = append(gotB, p.ID[0])
	}
	if !slices.Equal(gotB, want) {
		t.Fatalf("query order %v, want %v", gotB, want)
	}
	none := tr.Query(id, wire.PeerID{}, func(p wire.PeerID) bool { return p[0] < 5 })
	if len(none) != 1 || none[0].ID[0] != 4 { // 1..3 fell out of the last 20
		t.Fatalf("offline filter: %+v", none)
	}
}

// TestClientRenewsCertificate: a client whose clock says a third of the
// certificate's validity is left renews it by itself, keeping its peer ID.
func TestClientRenewsCertificate(t *testing.T) {
	e := startEnv(t, "", "", nil)
	cfg := e.device("renewer")
	cfg.Now = func() time.Time { return time.Now().Add(20 * time.Hour) } // 4 h of 24 left
	c := e.dial(cfg)
	first, pid := c.CertExpiry(), c.PeerID()
	ctx := ctxT(t)
	for c.CertExpiry().Equal(first) {
		select {
		case <-ctx.Done():
			t.Fatal("certificate not renewed")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if c.PeerID() != pid {
		t.Fatal("peer ID changed on renewal")
	}
}
