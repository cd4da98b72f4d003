package track

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Codec names the audio format of a track's plaintext.
const CodecVorbis = "vorbis"

// manifestMagic starts every encoded manifest; manifestVersion follows it.
const (
	manifestMagic   = "STMF"
	manifestVersion = 1
	maxCodecLen     = 32
	// fixed part: magic(4) version(1) size(8) duration(4) rate(4)
	// channels(1) chunkSize(4) codecLen(1) chunkCount(4)
	manifestFixedLen = 4 + 1 + 8 + 4 + 4 + 1 + 4 + 1 + 4
)

// MaxManifestSize is the largest valid encoded manifest.
const MaxManifestSize = manifestFixedLen + maxCodecLen + MaxChunks*sha256.Size

// Errors returned when checking manifests and chunks.
var (
	ErrBadManifest = errors.New("track: invalid manifest")
	ErrChunkHash   = errors.New("track: chunk does not match its manifest hash")
	ErrChunkIndex  = errors.New("track: chunk index out of range")
	ErrManifestID  = errors.New("track: manifest does not hash to the track ID")
)

// Manifest describes one encrypted track. It is immutable once made.
type Manifest struct {
	Size       int64  // encrypted size in bytes = plaintext size (CTR)
	DurationMs uint32 // playing time
	Codec      string // CodecVorbis
	SampleRate uint32 // Hz
	Channels   uint8
	Chunks     []Hash // SHA-256 of each encrypted chunk, in order
}

// NumChunks returns how many chunks the track has.
func (m *Manifest) NumChunks() int { return len(m.Chunks) }

// ChunkLen returns the length of chunk i, or 0 if i is out of range.
func (m *Manifest) ChunkLen(i int) int {
	if i < 0 || i >= len(m.Chunks) {
		return 0
	}
	if i == len(m.Chunks)-1 {
		return int(m.Size - int64(i)*ChunkSize)
	}
	return ChunkSize
}

// ChunkOffset returns the byte offset of chunk i within the track.
func (m *Manifest) ChunkOffset(i int) int64 { return int64(i) * ChunkSize }

// BytesPerSecond is the track's average encoded rate, at least 1.
func (m *Manifest) BytesPerSecond() float64 {
	if m.DurationMs == 0 {
		return 1
	}
	r := float64(m.Size) * 1000 / float64(m.DurationMs)
	if r < 1 {
		return 1
	}
	return r
}

// VerifyChunk checks an encrypted chunk against the manifest.
func (m *Manifest) VerifyChunk(i int, data []byte) error {
	if i < 0 || i >= len(m.Chunks) {
		return fmt.Errorf("%w: chunk %d of %d", ErrChunkIndex, i, len(m.Chunks))
	}
	if len(data) != m.ChunkLen(i) {
		return fmt.Errorf("%w: chunk %d is %d bytes, want %d", ErrChunkHash, i, len(data), m.ChunkLen(i))
	}
	if HashChunk(data) != m.Chunks[i] {
		return fmt.Errorf("%w: chunk %d", ErrChunkHash, i)
	}
	return nil
}

// Validate checks the manifest's internal consistency.
func (m *Manifest) Validate() error {
	switch {
	case m.Size <= 0 || m.Size > MaxTrackSize:
		return fmt.Errorf("%w: size %d out of range (1..%d)", ErrBadManifest, m.Size, MaxTrackSize)
	case int64(len(m.Chunks)) != (m.Size+ChunkSize-1)/ChunkSize:
		return fmt.Errorf("%w: %d chunk hashes for %d bytes", ErrBadManifest, len(m.Chunks), m.Size)
	case len(m.Codec) == 0 || len(m.Codec) > maxCodecLen:
		return fmt.Errorf("%w: codec name length %d", ErrBadManifest, len(m.Codec))
	case m.Channels == 0 || m.Channels > 8:
		return fmt.Errorf("%w: %d channels", ErrBadManifest, m.Channels)
	case m.SampleRate < 8000 || m.SampleRate > 192000:
		return fmt.Errorf("%w: sample rate %d", ErrBadManifest, m.SampleRate)
	}
	return nil
}

// MarshalBinary returns the manifest's canonical encoding (big-endian):
//
//	"STMF" version:u8 size:u64 durationMs:u32 sampleRate:u32 channels:u8
//	chunkSize:u32 codecLen:u8 codec chunkCount:u32 hash[chunkCount]
func (m *Manifest) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, manifestFixedLen+len(m.Codec)+len(m.Chunks)*sha256.Size)
	b = append(b, manifestMagic...)
	b = append(b, manifestVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = binary.BigEndian.AppendUint32(b, m.DurationMs)
	b = binary.BigEndian.AppendUint32(b, m.SampleRate)
	b = append(b, m.Channels)
	b = binary.BigEndian.AppendUint32(b, ChunkSize)
	b = append(b, byte(len(m.Codec)))
	b = append(b, m.Codec...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Chunks)))
	for _, h := range m.Chunks {
		b = append(b, h[:]...)
	}
	return b, nil
}

// ID returns the track ID: the SHA-256 of the canonical encoding.
func (m *Manifest) ID() (ID, error) {
	b, err := m.MarshalBinary()
	if err != nil {
		return ID{}, err
	}
	return sha256.Sum256(b), nil
}

// ParseManifest decodes a canonical manifest, checking every length before
// allocating. It does not check the ID; use ParseVerifiedManifest for bytes
// from the network or a disk when the ID is known.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) < manifestFixedLen || len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadManifest, len(b))
	}
	if !bytes.Equal(b[:4], []byte(manifestMagic)) {
		return nil, fmt.Errorf("%w: bad magic", ErrBadManifest)
	}
	if b[4] != manifestVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrBadManifest, b[4])
	}
	m := &Manifest{}
	p := b[5:]
	size := binary.BigEndian.Uint64(p)
	if size == 0 || size > MaxTrackSize {
		return nil, fmt.Errorf("%w: size %d", ErrBadManifest, size)
	}
	m.Size = int64(size)
	m.DurationMs = binary.BigEndian.Uint32(p[8:])
	m.SampleRate = binary.BigEndian.Uint32(p[12:])
	m.Channels = p[16]
	if cs := binary.BigEndian.Uint32(p[17:]); cs != ChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d, want %d", ErrBadManifest, cs, ChunkSize)
	}
	codecLen := int(p[21])
	p = p[22:]
	if codecLen == 0 || codecLen > maxCodecLen || len(p) < codecLen+4 {
		return nil, fmt.Errorf("%w: codec length %d", ErrBadManifest, codecLen)
	}
	m.Codec = string(p[:codecLen])
	p = p[codecLen:]
	n := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(n) != (size+ChunkSize-1)/ChunkSize || len(p) != int(n)*sha256.Size {
		return nil, fmt.Errorf("%w: %d chunk hashes in %d bytes for a %d-byte track", ErrBadManifest, n, len(p), size)
	}
	m.Chunks = make([]Hash, n)
	for i := range m.Chunks {
		copy(m.Chunks[i][:], p[i*sha256.Size:])
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseVerifiedManifest decodes raw and checks that it hashes to id.
func ParseVerifiedManifest(id ID, raw []byte) (*Manifest, error) {
	if len(raw) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadManifest, len(raw))
	}
	if ID(sha256.Sum256(raw)) != id {
		return nil, fmt.Errorf("%w: %s", ErrManifestID, id.Short())
	}
	return ParseManifest(raw)
}
