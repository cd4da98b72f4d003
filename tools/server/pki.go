package server

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names in the state directory.
const (
	ServiceCertFile = "service.crt"
	ServiceKeyFile  = "service.key"
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
)

// ErrBadKey is returned for an unusable key or certificate file.
var ErrBadKey = errors.New("server: bad key or certificate")

// Identity is the service's TLS certificate and the device CA.
type Identity struct {
	TLS    tls.Certificate
	CA     *x509.Certificate
	CAKey  ed25519.PrivateKey
	Leaf   *x509.Certificate
	CADER  []byte
	Pinned [32]byte // SHA-256 of the service certificate DER: what speakers pin
}

// Pin returns the hex SHA-256 fingerprint of the service certificate.
func (id *Identity) Pin() string { return hex.EncodeToString(id.Pinned[:]) }

// LoadOrCreateIdentity loads the service certificate and the CA from dir,
// creating (0600) whichever is missing. tlsCert/tlsKey, if both non-empty,
// name a given service certificate (PEM) to use instead.
func LoadOrCreateIdentity(dir, tlsCert, tlsKey string, now time.Time) (*Identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	caDER, caKey, err := loadOrCreate(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile), now, true)
	if err != nil {
		return nil, fmt.Errorf("loading device CA: %w", err)
	}
	var svc tls.Certificate
	if tlsCert != "" && tlsKey != "" {
		svc, err = tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			return nil, fmt.Errorf("loading the given service certificate %s: %w", tlsCert, err)
		}
	} else {
		der, key, err := loadOrCreate(filepath.Join(dir, ServiceCertFile), filepath.Join(dir, ServiceKeyFile), now, false)
		if err != nil {
			return nil, fmt.Errorf("loading service certificate: %w", err)
		}
		svc = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	leaf, err := x509.ParseCertificate(svc.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%w: service certificate: %v", ErrBadKey, err)
	}
	svc.Leaf = leaf
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("%w: CA certificate: %v", ErrBadKey, err)
	}
	return &Identity{TLS: svc, CA: ca, CAKey: caKey, Leaf: leaf, CADER: caDER, Pinned: sha256.Sum256(svc.Certificate[0])}, nil
}

func loadOrCreate(certPath, keyPath string, now time.Time, isCA bool) ([]byte, ed25519.PrivateKey, error) {
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	if cerr == nil && kerr == nil {
		cb, _ := pem.Decode(certPEM)
		kb, _ := pem.Decode(keyPEM)
		if cb == nil || kb == nil {
			return nil, nil, fmt.Errorf("%w: %s or %s is not PEM", ErrBadKey, certPath, keyPath)
		}
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrBadKey, keyPath, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %s is not an ed25519 key", ErrBadKey, keyPath)
		}
		return cb.Bytes, ek, nil
	}
	if !errors.Is(cerr, os.ErrNotExist) && cerr != nil {
		return nil, nil, cerr
	}
	if !errors.Is(kerr, os.ErrNotExist) && kerr != nil {
		return nil, nil, kerr
	}
	if (cerr == nil) != (kerr == nil) {
		return nil, nil, fmt.Errorf("%w: only one of %s and %s exists; restore the other or delete both to make a new identity (speakers will need the new pin)", ErrBadKey, certPath, keyPath)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
	}
	if isCA {
		tmpl.Subject = pkix.Name{CommonName: "Starling device CA"}
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.Subject = pkix.Name{CommonName: "starling-server"}
		tmpl.DNSNames = []string{"starling-server", "localhost"}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, nil, err
	}
	return der, key, nil
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// IssueDeviceCert signs a device certificate for pub (ed25519) valid from
// now-5m for validity, usable for client and server auth between peers.
func (id *Identity) IssueDeviceCert(deviceID string, pub ed25519.PublicKey, now time.Time, validity time.Duration) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: device public key is %d bytes", ErrBadKey, len(pub))
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: deviceID, Organization: []string{"Starling speakers"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, id.CA, crypto.PublicKey(pub), id.CAKey)
	if err != nil {
		return nil, fmt.Errorf("signing device certificate: %w", err)
	}
	return der, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
