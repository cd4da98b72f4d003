package stream

import (
	"context"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// Store is the part of the local cache the streamer needs. *cache.Cache
// satisfies it. Chunks are stored as the encrypted bytes that travel.
type Store interface {
	PutManifest(id track.ID, raw []byte) error
	Manifest(id track.ID) (*track.Manifest, error)
	PutKey(id track.ID, k track.Key) error
	Key(id track.ID) (track.Key, error)
	PutChunk(id track.ID, i int, data []byte) error
	ReadChunk(id track.ID, i int, dst []byte) ([]byte, error)
	HasChunk(id track.ID, i int) bool
	Touch(id track.ID) error
	Pin(id track.ID) (unpin func())
}

// Catalog gives a track's manifest and key: the session to the service
// (the daemon adapts the session client to it).
type Catalog interface {
	Manifest(ctx context.Context, id track.ID) ([]byte, error)
	Key(ctx context.Context, id track.ID) (track.Key, error)
}

// Origin reads verified chunks by range request; *origin.Client satisfies
// it. fn is called in order, once per chunk, as chunks arrive.
type Origin interface {
	FetchChunks(ctx context.Context, id track.ID, m *track.Manifest, first, count int,
		fn func(i int, data []byte) error) error
}

// Urgency says why a chunk is wanted; a peer serves more urgent requests
// first. Lower is more urgent.
type Urgency uint8

const (
	UrgencyStreaming  Urgency = iota // playback is waiting for it
	UrgencyPrefetch                  // the next track, before it plays
	UrgencyBackground                // filling the cache, nobody waits
)

func (u Urgency) String() string {
	switch u {
	case UrgencyStreaming:
		return "streaming"
	case UrgencyPrefetch:
		return "prefetch"
	case UrgencyBackground:
		return "background"
	}
	return "unknown"
}

// Peer is one remote speaker that may serve chunks. The peer transport
// implements it.
type Peer interface {
	// ID is the peer's stable identity (the text form of its device ID).
	ID() string
	// RequestChunk asks for encrypted chunk i of track id. It returns when
	// the chunk arrived, the peer failed, or ctx ended (the transport then
	// cancels the request on the wire). The streamer verifies the bytes.
	RequestChunk(ctx context.Context, id track.ID, i int, u Urgency) ([]byte, error)
}

// PeerSource finds peers holding a track and hears about bad ones. The peer
// transport / overlay implements it; nil means "no peers, origin only".
type PeerSource interface {
	// Search starts looking for peers with track id (tracker query and
	// overlay search). It must not block; results show up in Candidates.
	Search(ctx context.Context, id track.ID)
	// Candidates returns the peers known now to have a complete copy of id.
	Candidates(id track.ID) []Peer
	// Penalize reports a fault by p (e.g. a chunk that failed its hash).
	Penalize(p Peer, reason error)
	// Drop reports that p faulted too often; the streamer no longer asks it
	// and the overlay should disconnect it.
	Drop(p Peer, reason error)
}

// UploadGate is told when the local buffer is too low to share bandwidth:
// the uploader stops serving (and tells its requesters to go elsewhere)
// while paused. Optional.
type UploadGate interface {
	SetUploadPaused(paused bool)
}

// Clock is time for the streamer: deadlines, rates and stall checks.
// Tests inject a manual clock.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

type realTimer struct{ t *time.Timer }

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }
func (t realTimer) C() <-chan time.Time          { return t.t.C }
func (t realTimer) Stop() bool                   { return t.t.Stop() }

// SystemClock returns the wall clock.
func SystemClock() Clock { return realClock{} }

// ScaledClock returns a clock that runs speed times as fast as base from
// now on: for a player on a virtual clock (audio backend "virtual" at K
// times real time), so that the streamer's deadlines, rates and thresholds
// are in the same seconds of audio the player consumes. Network delays then
// look K times longer to the streamer, as they would be for a speaker
// playing in real time on a network K times slower. A nil base is the wall
// clock; speed must be positive.
func ScaledClock(base Clock, speed float64) Clock {
	if base == nil {
		base = realClock{}
	}
	return &scaledClock{base: base, start: base.Now(), speed: speed}
}

type scaledClock struct {
	base  Clock
	start time.Time
	speed float64
}

func (c *scaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(c.base.Now().Sub(c.start)) * c.speed))
}

func (c *scaledClock) NewTimer(d time.Duration) Timer {
	return c.base.NewTimer(time.Duration(float64(d) / c.speed))
}
