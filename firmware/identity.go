package firmware

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/starling-audio/starling/firmware/internal/atomicfile"
)

// loadOrCreateDeviceKey returns the speaker's ed25519 identity, stored as
// PKCS#8 PEM at path (mode 0600), creating it on first start. The peer ID is
// derived from it, so it must survive restarts and updates.
func loadOrCreateDeviceKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) > 4096 {
			return nil, fmt.Errorf("reading device key %s: %d bytes is not a key (remove it to make a new identity)", path, len(b))
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("reading device key %s: not a PEM private key (remove it to make a new identity)", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("reading device key %s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("reading device key %s: not an ed25519 key", path)
		}
		return ek, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading device key: %w (is the state directory owned by the daemon's user?)", err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating device key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("saving device key: %w", err)
	}
	return k, nil
}
