package peer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/starling-audio/starling/p2p/wire"
)

// Credentials give the transport this device's current certificate and the
// service CA. Both renew (the session client re-logs in), so the transport
// asks on every handshake. The daemon adapts p2p/session to it.
type Credentials interface {
	// Certificate is the device certificate and its private key.
	Certificate() (*tls.Certificate, error)
	// CAPool holds the service CA that signs every speaker's certificate.
	CAPool() (*x509.CertPool, error)
}

// verifyPeerCert checks a peer's chain against the CA, at time now, for a
// certificate valid for both client and server auth (speakers are both),
// and returns its peer ID.
func verifyPeerCert(raw [][]byte, pool *x509.CertPool, now time.Time) (wire.PeerID, *x509.Certificate, error) {
	if len(raw) == 0 {
		return wire.PeerID{}, nil, fmt.Errorf("%w: no certificate presented", ErrBadCert)
	}
	if len(raw) > 4 {
		return wire.PeerID{}, nil, fmt.Errorf("%w: chain of %d certificates (max 4)", ErrBadCert, len(raw))
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return wire.PeerID{}, nil, fmt.Errorf("%w: parsing: %v", ErrBadCert, err)
	}
	inter := x509.NewCertPool()
	for _, r := range raw[1:] {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return wire.PeerID{}, nil, fmt.Errorf("%w: parsing intermediate: %v", ErrBadCert, err)
		}
		inter.AddCert(c)
	}
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if !slices.Contains(leaf.ExtKeyUsage, eku) {
			return wire.PeerID{}, nil, fmt.Errorf("%w: certificate lacks extended key usage %v (not a speaker certificate)", ErrBadCert, eku)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			return wire.PeerID{}, nil, fmt.Errorf("%w: %v", ErrBadCert, err)
		}
	}
	return wire.PeerIDFromCert(leaf), leaf, nil
}

// tlsConfig builds the TLS 1.3 config for one side. verified receives the
// peer's ID once the chain checks out.
func (n *Node) tlsConfig(server bool, verified func(wire.PeerID)) *tls.Config {
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		pool, err := n.cfg.Credentials.CAPool()
		if err != nil {
			return fmt.Errorf("getting the CA pool (logged in?): %w", err)
		}
		id, _, err := verifyPeerCert(raw, pool, n.cfg.Now())
		if err != nil {
			return err
		}
		if id == n.self() {
			return ErrSelf
		}
		verified(id)
		return nil
	}
	cert := func() (*tls.Certificate, error) {
		c, err := n.cfg.Credentials.Certificate()
		if err != nil {
			return nil, fmt.Errorf("getting our device certificate (logged in?): %w", err)
		}
		return c, nil
	}
	c := &tls.Config{
		MinVersion:            tls.VersionTLS13,
		VerifyPeerCertificate: verify,
		// Chains are checked by verify against the service CA; there is
		// no host name to check, the identity is the peer ID.
		InsecureSkipVerify: true,
		Time:               n.cfg.Now,
	}
	if server {
		c.ClientAuth = tls.RequireAnyClientCert
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert() }
	} else {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert() }
	}
	return c
}

// selfID is the peer ID of our current certificate.
func selfID(c Credentials) (wire.PeerID, error) {
	tc, err := c.Certificate()
	if err != nil {
		return wire.PeerID{}, fmt.Errorf("getting our device certificate: %w", err)
	}
	if tc.Leaf == nil {
		if len(tc.Certificate) == 0 {
			return wire.PeerID{}, fmt.Errorf("%w: our certificate is empty", ErrConfig)
		}
		leaf, err := x509.ParseCertificate(tc.Certificate[0])
		if err != nil {
			return wire.PeerID{}, fmt.Errorf("parsing our certificate: %w", err)
		}
		return wire.PeerIDFromCert(leaf), nil
	}
	return wire.PeerIDFromCert(tc.Leaf), nil
}
