package session

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/starling-audio/starling/p2p/wire"
)

// ErrPeerCert is returned when a peer's certificate is not one the service
// issued, has expired, or is not the expected peer.
var ErrPeerCert = errors.New("session: peer certificate refused")

// PeerCredentials supplies the current device certificate and the service
// CA that peers' certificates must chain to. *Client satisfies it.
type PeerCredentials interface {
	PeerCertificate() (*tls.Certificate, *x509.CertPool, error)
}

var _ PeerCredentials = (*Client)(nil)

// PeerTLSConfig returns the TLS 1.3 configuration for speaker-to-speaker
// connections, usable on both sides: each presents its current device
// certificate and requires the other's, verified against the service CA at
// now() (default time.Now). If expect is non-nil the peer must have that ID.
func PeerTLSConfig(src PeerCredentials, expect *wire.PeerID, now func() time.Time) *tls.Config {
	if now == nil {
		now = time.Now
	}
	get := func() (*tls.Certificate, error) {
		c, _, err := src.PeerCertificate()
		return c, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert,
		// Peers are dialled by address and have no DNS names: the chain is
		// verified against the service CA in VerifyConnection instead.
		InsecureSkipVerify:   true,
		GetCertificate:       func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return get() },
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return get() },
		NextProtos:           []string{"starling-peer/1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool, err := src.PeerCertificate()
			if err != nil {
				return err
			}
			id, err := VerifyPeerCert(cs.PeerCertificates, pool, now())
			if err != nil {
				return err
			}
			if expect != nil && id != *expect {
				return fmt.Errorf("%w: connected to %s, expected %s", ErrPeerCert, id.Short(), expect.Short())
			}
			return nil
		},
	}
}

// VerifyPeerCert checks that chain[0] was issued by the CA in pool and is
// valid at now, and returns its peer ID.
func VerifyPeerCert(chain []*x509.Certificate, pool *x509.CertPool, now time.Time) (wire.PeerID, error) {
	if len(chain) == 0 {
		return wire.PeerID{}, fmt.Errorf("%w: no certificate", ErrPeerCert)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return wire.PeerID{}, fmt.Errorf("%w: %v", ErrPeerCert, err)
	}
	return wire.PeerIDFromCert(chain[0]), nil
}
