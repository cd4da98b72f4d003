package p2ptest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/starling-audio/starling/p2p/peer"
)

// CA is a throwaway service CA (ed25519) for tests.
type CA struct {
	Cert *x509.Certificate
	key  ed25519.PrivateKey
	pool *x509.CertPool
}

// NewCA makes a CA valid from an hour ago for a year.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test service CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &CA{Cert: c, key: key, pool: pool}
}

// CertOpts vary an issued certificate (for refusal tests).
type CertOpts struct {
	EKU       []x509.ExtKeyUsage // default client and server auth
	NotBefore time.Time          // default an hour ago
	NotAfter  time.Time          // default in 24 h
}

// Issue makes a device certificate as the service does (SPEC.md of
// p2p/wire): CN = name, ed25519, EKU client and server auth.
func (ca *CA) Issue(tb testing.TB, name string) *Creds { return ca.IssueWith(tb, name, CertOpts{}) }

// IssueWith is Issue with options.
func (ca *CA) IssueWith(tb testing.TB, name string, o CertOpts) *Creds {
	tb.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	if o.EKU == nil {
		o.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: o.EKU,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &Creds{cert: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: ca.pool}
}

// Creds are fixed credentials; they satisfy peer.Credentials.
type Creds struct {
	cert *tls.Certificate
	pool *x509.CertPool
}

var _ peer.Credentials = (*Creds)(nil)

// Certificate implements peer.Credentials.
func (c *Creds) Certificate() (*tls.Certificate, error) { return c.cert, nil }

// CAPool implements peer.Credentials.
func (c *Creds) CAPool() (*x509.CertPool, error) { return c.pool, nil }
