package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/starling-audio/starling/p2p/track"
)

// Key layout. Every key of a track starts with the same 33-byte prefix
// ('t' + ID), so evicting a track is one DropPrefix, which is what really
// frees value-log space in Badger (per-key deletes did not).
//
//	t<id>c<u32 index>  encrypted chunk, exactly as it travels
//	t<id>k             track key sealed with AES-256-GCM under the device key
//	t<id>m             manifest, canonical encoding
//	t<id>r             track record (recordLen bytes, see encodeRecord)
const (
	keyTrack    = 't'
	kindChunk   = 'c'
	kindKey     = 'k'
	kindMani    = 'm'
	kindRecord  = 'r'
	prefixLen   = 1 + len(track.ID{})
	chunkKeyLen = prefixLen + 1 + 4
)

func trackPrefix(id track.ID) []byte {
	b := make([]byte, prefixLen, chunkKeyLen)
	b[0] = keyTrack
	copy(b[1:], id[:])
	return b
}

func kindKeyOf(id track.ID, kind byte) []byte { return append(trackPrefix(id), kind) }

func chunkKey(id track.ID, i int) []byte {
	return binary.BigEndian.AppendUint32(append(trackPrefix(id), kindChunk), uint32(i))
}

// record is the per-track metadata row. It duplicates the manifest's size
// and chunk count so Open can rebuild the index from keys and records
// alone, without reading or hashing manifests.
type record struct {
	Size      int64 // encrypted track size, as in the manifest
	NumChunks int   // as in the manifest
	ManiLen   int   // length of the stored manifest
	Added     int64 // Unix nanoseconds when the manifest was stored
	Played    int64 // Unix nanoseconds of the last Touch (0: never)
}

// Record encoding, big-endian, recordLen bytes:
//
//	version:u8=1 size:u64 numChunks:u32 maniLen:u32 added:i64 played:i64 crc32c:u32
//
// The CRC (Castagnoli) covers everything before it.
const (
	recordVersion = 1
	recordLen     = 1 + 8 + 4 + 4 + 8 + 8 + 4
)

// ErrBadRecord is returned when a stored track record does not decode.
var ErrBadRecord = errors.New("cache: corrupt track record")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func (r record) encode() []byte {
	b := make([]byte, 0, recordLen)
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint32(b, uint32(r.NumChunks))
	b = binary.BigEndian.AppendUint32(b, uint32(r.ManiLen))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Added))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Played))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeRecord parses a stored record, checking its length, version,
// checksum and that size and chunk count agree with the track rules.
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) != recordLen {
		return r, fmt.Errorf("%w: %d bytes, want %d", ErrBadRecord, len(b), recordLen)
	}
	if b[0] != recordVersion {
		return r, fmt.Errorf("%w: version %d", ErrBadRecord, b[0])
	}
	if got, want := binary.BigEndian.Uint32(b[recordLen-4:]), crc32.Checksum(b[:recordLen-4], crcTable); got != want {
		return r, fmt.Errorf("%w: checksum %08x, want %08x", ErrBadRecord, got, want)
	}
	size := binary.BigEndian.Uint64(b[1:])
	n := binary.BigEndian.Uint32(b[9:])
	ml := binary.BigEndian.Uint32(b[13:])
	if size == 0 || size > track.MaxTrackSize || uint64(n) != (size+track.ChunkSize-1)/track.ChunkSize {
		return r, fmt.Errorf("%w: %d chunks for %d bytes", ErrBadRecord, n, size)
	}
	if ml == 0 || ml > track.MaxManifestSize {
		return r, fmt.Errorf("%w: manifest length %d", ErrBadRecord, ml)
	}
	r.Size = int64(size)
	r.NumChunks = int(n)
	r.ManiLen = int(ml)
	r.Added = int64(binary.BigEndian.Uint64(b[17:]))
	r.Played = int64(binary.BigEndian.Uint64(b[25:]))
	return r, nil
}

// chunkLen is the length of chunk i of a track of the given size.
func chunkLen(size int64, n, i int) int {
	if i == n-1 {
		return int(size - int64(i)*track.ChunkSize)
	}
	return track.ChunkSize
}
