package session

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/starling-audio/starling/p2p/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseCredentials(t *testing.T) {
	good := `{"device_id":"dev-1","secret":"` + strings.Repeat("ab", 32) + `","service_addr":"127.0.0.1:7440","service_pin":"` + strings.Repeat("01", 32) + `"}`
	c, err := ParseCredentials([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := c.Apply(&cfg); err != nil || cfg.Addr != "127.0.0.1:7440" || hex.EncodeToString(cfg.Secret) != strings.Repeat("ab", 32) {
		t.Fatalf("apply: %+v %v", cfg, err)
	}
	for _, bad := range []string{
		`{}`, `not json`,
		strings.Replace(good, strings.Repeat("ab", 32), "abcd", 1),
		strings.Replace(good, strings.Repeat("01", 32), "zz", 1),
		strings.Replace(good, `"dev-1"`, `""`, 1),
		`{"device_id":"` + strings.Repeat("x", 5000) + `"}`,
	} {
		if _, err := ParseCredentials([]byte(bad)); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("%.40q accepted: %v", bad, err)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte(`{"device_id":"d","secret":"` + strings.Repeat("ab", 32) + `","service_addr":"a:1","service_pin":"` + strings.Repeat("01", 32) + `"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredentials(b)
		if err != nil {
			return
		}
		var cfg Config
		if err := c.Apply(&cfg); err != nil {
			t.Fatalf("parsed credentials do not apply: %v", err)
		}
	})
}

// staticCreds is a PeerCredentials from a CA made in the test.
type staticCreds struct {
	cert *tls.Certificate
	pool *x509.CertPool
}

func (s staticCreds) PeerCertificate() (*tls.Certificate, *x509.CertPool, error) {
	return s.cert, s.pool, nil
}

func newCA(t *testing.T) (*x509.Certificate, ed25519.PrivateKey) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour * 48)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey ed25519.PrivateKey, pool *x509.CertPool) staticCreds {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dev"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		NotBefore:   time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return staticCreds{cert: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool}
}

func TestPeerTLSConfig(t *testing.T) {
	ca, caKey := newCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	a, b := issue(t, ca, caKey, pool), issue(t, ca, caKey, pool)
	fca, fkey := newCA(t)
	foreign := issue(t, fca, fkey, pool) // chains to another CA, checked against ours

	handshake := func(srv, cli PeerCredentials, cliNow func() time.Time, expect *wire.PeerID) error {
		x, y := tcpPair(t)
		errc := make(chan error, 1)
		go func() {
			s := tls.Server(y, PeerTLSConfig(srv, nil, nil))
			errc <- s.Handshake()
			s.Close()
		}()
		c := tls.Client(x, PeerTLSConfig(cli, expect, cliNow))
		err := c.Handshake()
		c.Close()
		return errors.Join(err, <-errc)
	}
	bid := wire.PeerIDFromCert(b.cert.Leaf)
	if err := handshake(b, a, nil, &bid); err != nil {
		t.Fatalf("valid peers: %v", err)
	}
	if err := handshake(b, foreign, nil, nil); err == nil {
		t.Fatal("foreign certificate accepted")
	}
	if err := handshake(b, a, func() time.Time { return time.Now().Add(30 * time.Hour) }, nil); err == nil {
		t.Fatal("expired certificate accepted")
	}
	aid := wire.PeerIDFromCert(a.cert.Leaf)
	if err := handshake(b, a, nil, &aid); !errors.Is(err, ErrPeerCert) {
		t.Fatalf("unexpected peer accepted: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	var c Config
	if err := c.Validate(); err == nil {
		t.Fatal("empty config accepted")
	}
	c = Config{Addr: "x:1", DeviceID: "d", Secret: make([]byte, 32), ServicePin: [32]byte{1}}
	if err := c.Validate(); err != nil || c.DeviceKey == nil || c.MaxBackoff < c.MinBackoff {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	x, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	y := <-ch
	if y == nil {
		t.Fatal("accept failed")
	}
	return x, y
}
