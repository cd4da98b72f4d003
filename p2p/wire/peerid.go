package wire

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// PeerID identifies a speaker: the SHA-256 of the SubjectPublicKeyInfo DER
// of its certificate. The device key is stable across certificate renewals,
// so the ID is too.
type PeerID [32]byte

// ErrBadPeerID is returned for a malformed or mistyped textual peer ID.
var ErrBadPeerID = errors.New("wire: malformed peer ID")

var peerB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

const (
	peerCheckLen  = 3
	peerGroupLen  = 7
	peerTextRunes = 56 // base32 of 35 bytes
)

// PeerIDFromCert returns the peer ID of a certificate.
func PeerIDFromCert(c *x509.Certificate) PeerID { return PeerIDFromSPKI(c.RawSubjectPublicKeyInfo) }

// PeerIDFromSPKI returns the peer ID of a DER SubjectPublicKeyInfo.
func PeerIDFromSPKI(spki []byte) PeerID { return sha256.Sum256(spki) }

// String returns the checked text form: base32 of the ID and a 3-byte
// check, 8 groups of 7 characters joined by '-'.
func (p PeerID) String() string {
	sum := sha256.Sum256(p[:])
	raw := append(append(make([]byte, 0, 35), p[:]...), sum[:peerCheckLen]...)
	s := peerB32.EncodeToString(raw)
	var b strings.Builder
	for i := 0; i < len(s); i += peerGroupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+peerGroupLen])
	}
	return b.String()
}

// Short returns the first group, for logs.
func (p PeerID) Short() string { return p.String()[:peerGroupLen] }

// LogValue logs the short form.
func (p PeerID) LogValue() slog.Value { return slog.StringValue(p.Short()) }

// IsZero reports whether p is the zero ID.
func (p PeerID) IsZero() bool { return p == PeerID{} }

// MarshalText implements encoding.TextMarshaler.
func (p PeerID) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *PeerID) UnmarshalText(b []byte) error {
	q, err := ParsePeerID(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// ParsePeerID parses the text form; dashes, spaces and case are ignored,
// and the check bytes must match.
func ParsePeerID(s string) (PeerID, error) {
	if len(s) > 2*peerTextRunes {
		return PeerID{}, fmt.Errorf("%w: %d characters", ErrBadPeerID, len(s))
	}
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != peerTextRunes {
		return PeerID{}, fmt.Errorf("%w: %d base32 characters, want %d", ErrBadPeerID, len(s), peerTextRunes)
	}
	raw, err := peerB32.DecodeString(s)
	if err != nil || len(raw) != 32+peerCheckLen {
		return PeerID{}, fmt.Errorf("%w: not base32", ErrBadPeerID)
	}
	var p PeerID
	copy(p[:], raw)
	sum := sha256.Sum256(p[:])
	if !bytes.Equal(sum[:peerCheckLen], raw[32:]) {
		return PeerID{}, fmt.Errorf("%w: check characters do not match (typo?)", ErrBadPeerID)
	}
	return p, nil
}
