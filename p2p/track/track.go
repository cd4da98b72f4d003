package track

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
)

// ChunkSize is the size in bytes of every chunk but a track's last.
const ChunkSize = 16 << 10

// MaxTrackSize bounds the encrypted size of one track (1 GiB, about 14 hours
// at 160 kbit/s). Decoders refuse manifests that claim more.
const MaxTrackSize = 1 << 30

// MaxChunks is the number of chunks of a track of MaxTrackSize.
const MaxChunks = MaxTrackSize / ChunkSize

// ID identifies a track: the SHA-256 of its manifest's canonical encoding.
type ID [32]byte

// String returns the ID as 64 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs.
func (id ID) Short() string { return id.String()[:12] }

// LogValue logs the short form.
func (id ID) LogValue() slog.Value { return slog.StringValue(id.Short()) }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler (hex).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ErrBadID is returned for a malformed textual track ID.
var ErrBadID = errors.New("track: malformed track ID (want 64 hex digits)")

// ParseID parses the 64-hex-digit form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: got %d characters", ErrBadID, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: %v", ErrBadID, err)
	}
	return id, nil
}

// Hash is a SHA-256 digest of one encrypted chunk.
type Hash [sha256.Size]byte

// HashChunk returns the SHA-256 of an encrypted chunk.
func HashChunk(b []byte) Hash { return sha256.Sum256(b) }
