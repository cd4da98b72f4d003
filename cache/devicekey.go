package cache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/starling-audio/starling/p2p/track"
)

// deviceKeyLen is the size of the device key file.
const deviceKeyLen = 32

// ErrDeviceKey is wrapped when the device key file cannot be used.
var ErrDeviceKey = errors.New("cache: device key unusable")

// sealer encrypts track keys under the device key with AES-256-GCM; the
// track ID is the additional data, so a sealed key cannot be moved to
// another track.
type sealer struct{ aead cipher.AEAD }

// sealedLen is nonce + ciphertext + tag.
const sealedLen = 12 + len(track.Key{}) + 16

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDeviceKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDeviceKey, err)
	}
	return &sealer{aead}, nil
}

func (s *sealer) seal(id track.ID, k track.Key) ([]byte, error) {
	out := make([]byte, 12, sealedLen)
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("sealing track key: %w", err)
	}
	return s.aead.Seal(out, out[:12], k[:], id[:]), nil
}

func (s *sealer) open(id track.ID, b []byte) (track.Key, error) {
	var k track.Key
	if len(b) != sealedLen {
		return k, fmt.Errorf("%w: sealed key is %d bytes, want %d", ErrBadRecord, len(b), sealedLen)
	}
	plain, err := s.aead.Open(nil, b[:12], b[12:], id[:])
	if err != nil {
		return k, fmt.Errorf("%w: sealed key does not open under this device key: %w", ErrBadRecord, err)
	}
	copy(k[:], plain)
	return k, nil
}

// loadDeviceKey reads the device key at path, creating it (mode 0600,
// directory 0700) on first start. It returns created=true when it made a
// new key.
func loadDeviceKey(path string) (key []byte, created bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createDeviceKey(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: opening %s: %w (check its owner and mode 0600)", ErrDeviceKey, path, err)
	}
	defer f.Close()
	key, err = io.ReadAll(io.LimitReader(f, deviceKeyLen+1))
	if err != nil {
		return nil, false, fmt.Errorf("%w: reading %s: %w", ErrDeviceKey, path, err)
	}
	if len(key) != deviceKeyLen {
		return nil, false, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrDeviceKey, path, len(key), deviceKeyLen)
	}
	return key, false, nil
}

func createDeviceKey(path string) ([]byte, bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("%w: creating directory for %s: %w", ErrDeviceKey, path, err)
	}
	key := make([]byte, deviceKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("%w: generating: %w", ErrDeviceKey, err)
	}
	// Write to a temporary file and rename, so a crash never leaves a short key.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".device.key-*")
	if err != nil {
		return nil, false, fmt.Errorf("%w: creating %s: %w", ErrDeviceKey, path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("%w: chmod %s: %w", ErrDeviceKey, tmp.Name(), err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("%w: writing %s: %w", ErrDeviceKey, tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("%w: syncing %s: %w", ErrDeviceKey, tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("%w: closing %s: %w", ErrDeviceKey, tmp.Name(), err)
	}
	// Link fails if another process created the key meanwhile: use theirs.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			k, _, err := loadDeviceKey(path)
			return k, false, err
		}
		return nil, false, fmt.Errorf("%w: installing %s: %w", ErrDeviceKey, path, err)
	}
	return key, true, nil
}
