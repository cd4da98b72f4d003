package cache

import (
	"github.com/starling-audio/starling/p2p/track"
)

// streamerStore is the method set the p2p streamer and uploader declare
// (their interface lives in p2p, the consumer); this copy pins the exact
// signatures here so a change on either side fails to compile.
type streamerStore interface {
	PutManifest(id track.ID, raw []byte) error
	Manifest(id track.ID) (*track.Manifest, error)
	PutKey(id track.ID, k track.Key) error
	Key(id track.ID) (track.Key, error)
	PutChunk(id track.ID, i int, data []byte) error
	ReadChunk(id track.ID, i int, dst []byte) ([]byte, error)
	HasChunk(id track.ID, i int) bool
	Complete(id track.ID) bool
	Touch(id track.ID) error
	Pin(id track.ID) (unpin func())
	CompleteTracks() ([]track.ID, error)
	Stats() Stats
	Close() error
}

var _ streamerStore = (*Cache)(nil)
