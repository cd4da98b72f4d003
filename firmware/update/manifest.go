package update

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Limits on what the agent reads before it trusts anything.
const (
	MaxManifestBytes  = 16 << 10  // a release manifest
	MaxSignatureBytes = 512       // a detached signature file
	MaxImageBytes     = 256 << 20 // a firmware image
	MaxVersionLen     = 32
	MaxNotesLen       = 4096
)

// Exported sentinel errors: every refusal wraps exactly one of them.
var (
	ErrMalformed      = errors.New("malformed release manifest")
	ErrBadSignature   = errors.New("release signature does not verify")
	ErrUnknownKey     = errors.New("release signed by a key this speaker does not trust")
	ErrExpired        = errors.New("release manifest expired")
	ErrNotYetValid    = errors.New("release manifest created in the future")
	ErrWrongArch      = errors.New("release is for another architecture")
	ErrWrongChannel   = errors.New("release is for another channel")
	ErrNotNewer       = errors.New("release is not newer than the running version")
	ErrTooOld         = errors.New("running version is older than the release's minimum")
	ErrMarkedBad      = errors.New("release version was marked bad on this speaker")
	ErrImageMismatch  = errors.New("downloaded image does not match the manifest")
	ErrBadKey         = errors.New("malformed release key")
	ErrNoTrustedKeys  = errors.New("no trusted release keys configured")
	ErrNothingPending = errors.New("no update pending")
)

// Manifest describes one release. It is signed as the exact bytes served
// (detached signature), so the JSON is never re-encoded before checking.
type Manifest struct {
	Version    string    `json:"version"`     // dotted numbers, e.g. 2.1.0
	Arch       string    `json:"arch"`        // GOARCH, e.g. arm64
	Channel    string    `json:"channel"`     // e.g. stable
	Image      string    `json:"image"`       // file name beside the manifest
	Size       int64     `json:"size"`        // bytes of the image
	SHA256     string    `json:"sha256"`      // hex SHA-256 of the image
	MinVersion string    `json:"min_version"` // oldest version that may install it; empty = any
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	Notes      string    `json:"notes,omitempty"`
}

// Digest returns the decoded SHA-256.
func (m *Manifest) Digest() ([32]byte, error) {
	var d [32]byte
	b, err := hex.DecodeString(m.SHA256)
	if err != nil || len(b) != 32 {
		return d, fmt.Errorf("%w: sha256 is not 64 hex digits", ErrMalformed)
	}
	copy(d[:], b)
	return d, nil
}

// validate checks the manifest's own fields (not its policy).
func (m *Manifest) validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(f, a...)) }
	if _, err := ParseVersion(m.Version); err != nil {
		return bad("version: %v", err)
	}
	if m.MinVersion != "" {
		if _, err := ParseVersion(m.MinVersion); err != nil {
			return bad("min_version: %v", err)
		}
	}
	if !safeName(m.Arch) || !safeName(m.Channel) || !safeName(m.Image) {
		return bad("arch, channel and image must be short names of [a-z0-9._-]")
	}
	if m.Size <= 0 || m.Size > MaxImageBytes {
		return bad("size %d outside 1..%d", m.Size, MaxImageBytes)
	}
	if _, err := m.Digest(); err != nil {
		return err
	}
	if m.Created.IsZero() || m.Expires.IsZero() || !m.Expires.After(m.Created) {
		return bad("want created < expires, both set")
	}
	if len(m.Notes) > MaxNotesLen {
		return bad("notes longer than %d bytes", MaxNotesLen)
	}
	return nil
}

// safeName accepts a file-name component that cannot climb or hide.
func safeName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Version is a parsed dotted-number version (up to four parts).
type Version [4]uint32

// ParseVersion accepts "2", "2.1", "v2.1.3" and "2.1.3.4".
func ParseVersion(s string) (Version, error) {
	var v Version
	if len(s) == 0 || len(s) > MaxVersionLen {
		return v, fmt.Errorf("version %q: want 1..%d characters", s, MaxVersionLen)
	}
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) > len(v) {
		return v, fmt.Errorf("version %q: at most %d dotted numbers", s, len(v))
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || p == "" || (len(p) > 1 && p[0] == '0') {
			return v, fmt.Errorf("version %q: want dotted decimal numbers like 2.1.0", s)
		}
		v[i] = uint32(n)
	}
	return v, nil
}

// Compare returns -1, 0 or +1.
func (v Version) Compare(w Version) int {
	for i := range v {
		switch {
		case v[i] < w[i]:
			return -1
		case v[i] > w[i]:
			return 1
		}
	}
	return 0
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

const (
	sigMagic = "starling-release-sig-v1"
	pubMagic = "starling-release-pub-v1"
	keyMagic = "starling-release-key-v1"
)

// Sign returns the detached signature file for manifest bytes.
func Sign(priv ed25519.PrivateKey, manifest []byte) []byte {
	sig := ed25519.Sign(priv, manifest)
	pub := priv.Public().(ed25519.PublicKey)
	return []byte(fmt.Sprintf("%s %s %s\n", sigMagic, KeyID(pub), base64.StdEncoding.EncodeToString(sig)))
}

// FormatPublicKey is the text form of a public key used in configs.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return pubMagic + ":" + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads FormatPublicKey's output.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), pubMagic+":")
	if !ok {
		return nil, fmt.Errorf("%w: want %s:BASE64", ErrBadKey, pubMagic)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want %d bytes of base64", ErrBadKey, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// FormatPrivateKey is the text form of a private key file.
func FormatPrivateKey(priv ed25519.PrivateKey) []byte {
	return []byte(keyMagic + ":" + base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
}

// ParsePrivateKey reads FormatPrivateKey's output.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(string(b)), keyMagic+":")
	if !ok {
		return nil, fmt.Errorf("%w: want %s:BASE64", ErrBadKey, keyMagic)
	}
	seed, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: want a %d-byte seed in base64", ErrBadKey, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Verify checks sig over raw with whichever trusted key it names and
// decodes the manifest. It does not apply policy (see Policy.Check).
func Verify(raw, sig []byte, keys []ed25519.PublicKey) (*Manifest, error) {
	if len(keys) == 0 {
		return nil, ErrNoTrustedKeys
	}
	if len(raw) > MaxManifestBytes || len(sig) > MaxSignatureBytes {
		return nil, fmt.Errorf("%w: manifest or signature too large", ErrMalformed)
	}
	f := strings.Fields(string(sig))
	if len(f) != 3 || f[0] != sigMagic {
		return nil, fmt.Errorf("%w: signature file is not %q KEYID SIG", ErrBadSignature, sigMagic)
	}
	s, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil || len(s) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is not %d bytes of base64", ErrBadSignature, ed25519.SignatureSize)
	}
	var key ed25519.PublicKey
	for _, k := range keys {
		if KeyID(k) == f[1] {
			key = k
			break
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%w: key %s (add its public key to [update] keys to trust it)", ErrUnknownKey, f[1])
	}
	if !ed25519.Verify(key, raw, s) {
		return nil, fmt.Errorf("%w: key %s", ErrBadSignature, f[1])
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Policy is what a speaker accepts.
type Policy struct {
	Arch    string
	Channel string
	Running string          // the running version
	Bad     map[string]bool // versions marked bad here
	Now     time.Time
	// Skew tolerates a manifest created slightly in the future (clock
	// drift); default 10 minutes.
	Skew time.Duration
}

// Check applies p to a verified manifest.
func (p Policy) Check(m *Manifest) error {
	skew := p.Skew
	if skew == 0 {
		skew = 10 * time.Minute
	}
	if !p.Now.Before(m.Expires) {
		return fmt.Errorf("%w: %s expired at %s (the operator must re-sign it)", ErrExpired, m.Version, m.Expires.UTC().Format(time.RFC3339))
	}
	if m.Created.After(p.Now.Add(skew)) {
		return fmt.Errorf("%w: created %s (is the speaker's clock right?)", ErrNotYetValid, m.Created.UTC().Format(time.RFC3339))
	}
	if m.Arch != p.Arch {
		return fmt.Errorf("%w: release %s is for %s, this speaker is %s", ErrWrongArch, m.Version, m.Arch, p.Arch)
	}
	if p.Channel != "" && m.Channel != p.Channel {
		return fmt.Errorf("%w: release %s is on %q, this speaker follows %q", ErrWrongChannel, m.Version, m.Channel, p.Channel)
	}
	if p.Bad[m.Version] {
		return fmt.Errorf("%w: %s failed its health check here before", ErrMarkedBad, m.Version)
	}
	nv, _ := ParseVersion(m.Version)
	if cur, err := ParseVersion(p.Running); err == nil {
		if nv.Compare(cur) <= 0 {
			return fmt.Errorf("%w: release %s, running %s", ErrNotNewer, m.Version, p.Running)
		}
		if m.MinVersion != "" {
			mv, _ := ParseVersion(m.MinVersion)
			if cur.Compare(mv) < 0 {
				return fmt.Errorf("%w: release %s needs %s or later, running %s", ErrTooOld, m.Version, m.MinVersion, p.Running)
			}
		}
	}
	return nil
}
