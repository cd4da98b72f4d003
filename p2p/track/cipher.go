package track

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// Key is a track's 256-bit AES key.
type Key [32]byte

// NewKey returns a fresh random key.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("generating track key: %w", err)
	}
	return k, nil
}

// XORKeyStreamAt encrypts or decrypts src into dst (which may alias src) as
// the bytes at offset off of the track, with AES-256-CTR under key and an
// all-zero initial counter. Each track has its own random key, so the fixed
// IV never repeats a key stream across tracks. off must be non-negative.
func XORKeyStreamAt(key Key, dst, src []byte, off int64) error {
	if off < 0 {
		return fmt.Errorf("track: negative offset %d", off)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return fmt.Errorf("track: %w", err)
	}
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	s := cipher.NewCTR(block, iv[:])
	if skip := int(off % aes.BlockSize); skip > 0 {
		var pad [aes.BlockSize]byte
		s.XORKeyStream(pad[:skip], pad[:skip])
	}
	s.XORKeyStream(dst[:len(src)], src)
	return nil
}
