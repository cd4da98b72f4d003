package control

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultTokenFile is where starlingd keeps its token: in the unit's
// StateDirectory, readable by the daemon's user (and root) only.
const DefaultTokenFile = "/var/lib/starling/control.token"

// tokenBytes is the entropy of a token: 256 bits.
const tokenBytes = 32

// TokenLen is the length of a token's text form (unpadded base64url).
const TokenLen = 43 // base64.RawURLEncoding.EncodedLen(tokenBytes)

// maxTokenFile bounds what is read from a token file.
const maxTokenFile = 256

// NewToken returns a fresh random 256-bit token in unpadded base64url.
func NewToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating control token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ParseToken checks the text form of a token (surrounding white space, such
// as a trailing newline, is ignored) and returns it.
func ParseToken(b []byte) (string, error) {
	s := bytes.TrimSpace(b)
	if len(s) != TokenLen {
		return "", fmt.Errorf("%w: got %d characters", ErrBadToken, len(s))
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(string(s))
	if err != nil || len(raw) != tokenBytes {
		return "", ErrBadToken
	}
	return string(s), nil
}

// ReadTokenFile reads and checks a token file (used by clients such as
// starlingctl). It reads at most a few hundred bytes whatever the file holds.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading control token: %w (the daemon creates it on first start; are you root or in the starling user?)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("reading control token %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("reading control token %s: %w: file larger than %d bytes", path, ErrBadToken, maxTokenFile)
	}
	tok, err := ParseToken(b)
	if err != nil {
		return "", fmt.Errorf("reading control token %s: %w", path, err)
	}
	return tok, nil
}

// LoadOrCreateToken returns the token stored at path, creating it on first
// use: a random 256-bit token, written with mode 0600 to a temporary file in
// the same directory, synced, and linked into place, so that a crash never
// leaves a half-written token and two processes racing agree on one token.
// An existing file must be a regular file that neither group nor others can
// access; otherwise LoadOrCreateToken refuses it rather than trusting a token
// that may have leaked.
func LoadOrCreateToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("control token: no token file path configured")
	}
	tok, err := loadOwnToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating control token directory: %w", err)
	}
	tok, err = NewToken()
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return "", fmt.Errorf("creating control token: %w (is %s writable by the daemon's user?)", err, dir)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	// CreateTemp uses 0600 already; be explicit against a future change.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("creating control token: %w", err)
	}
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing control token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("syncing control token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing control token: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process won the race: use its token.
			return loadOwnToken(path)
		}
		return "", fmt.Errorf("installing control token: %w", err)
	}
	syncDir(dir)
	return tok, nil
}

// loadOwnToken reads the daemon's own token file, refusing one that others
// can read.
func loadOwnToken(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("control token: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("control token %s is not a regular file (%v): remove it and restart to create a new one", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("control token %s has mode %#o, readable by others: run chmod 600 %s, or delete it to create a new token", path, perm, path)
	}
	return ReadTokenFile(path)
}

// syncDir makes the new directory entry durable; failures only weaken
// durability (the token would be recreated after a power cut), so they are
// ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// tokenMatches compares a presented token with the expected one in constant
// time. Both are hashed first so that even their lengths do not leak.
func tokenMatches(presented, expected string) bool {
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(expected))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && expected != ""
}
