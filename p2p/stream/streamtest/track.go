package streamtest

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/starling-audio/starling/p2p/track"
)

// Track is a generated encrypted track: random plaintext (not audio; the
// streamer never decodes), its ciphertext under a fresh key, the manifest,
// and the ID.
type Track struct {
	ID     track.ID
	M      *track.Manifest
	Raw    []byte // canonical manifest bytes
	Key    track.Key
	Plain  []byte
	Cipher []byte
}

// NewTrack makes a track of size bytes that plays for dur milliseconds.
func NewTrack(tb testing.TB, size int, durMs uint32) *Track {
	tb.Helper()
	t, err := MakeTrack(size, durMs)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// MakeTrack is NewTrack for callers without a testing.TB (benchmark programs).
func MakeTrack(size int, durMs uint32) (*Track, error) {
	key, err := track.NewKey()
	if err != nil {
		return nil, err
	}
	plain := make([]byte, size)
	if _, err := rand.Read(plain); err != nil {
		return nil, fmt.Errorf("generating plaintext: %w", err)
	}
	m, ct, err := track.Seal(key, plain, track.Format{DurationMs: durMs, SampleRate: 44100, Channels: 2})
	if err != nil {
		return nil, err
	}
	raw, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	id, err := m.ID()
	if err != nil {
		return nil, err
	}
	return &Track{ID: id, M: m, Raw: raw, Key: key, Plain: plain, Cipher: ct}, nil
}

// Chunk returns a copy of encrypted chunk i.
func (t *Track) Chunk(i int) []byte {
	off := t.M.ChunkOffset(i)
	return append([]byte(nil), t.Cipher[off:off+int64(t.M.ChunkLen(i))]...)
}
