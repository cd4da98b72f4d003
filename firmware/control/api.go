package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/starling-audio/starling/p2p/track"
)

// Player is what the control API drives. The daemon implements it over its
// player actor, streamer and session; tests implement it with a fake.
//
// Errors returned by a Player should wrap one of this package's sentinels
// (ErrNotFound, ErrInvalid, ErrConflict, ErrUnavailable) so that the API can
// pick the right HTTP status; any other error becomes 500.
type Player interface {
	// Status reports a snapshot of the player and the network.
	Status(ctx context.Context) (Status, error)
	// Search queries the catalogue; it returns at most limit tracks starting
	// at offset, and the total number of matches.
	Search(ctx context.Context, query string, offset, limit int) ([]Track, int, error)
	// Play starts the requested track now (a query plays the best match).
	Play(ctx context.Context, req PlayRequest) (Track, error)
	// Queue appends the requested track to the play queue.
	Queue(ctx context.Context, req PlayRequest) (Track, error)
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	Next(ctx context.Context) error
	Previous(ctx context.Context) error
	// Seek moves the playback point of the current track.
	Seek(ctx context.Context, pos time.Duration) error
	// SetVolume sets the output volume in percent, 0 to 100.
	SetVolume(ctx context.Context, pct int) error
	// Subscribe returns a channel of state changes and a function that
	// cancels the subscription. The channel is closed when the subscription
	// ends (cancel called, ctx done, or the player shutting down). Cancel is
	// idempotent. A slow subscriber may miss events; it never blocks the player.
	Subscribe(ctx context.Context) (<-chan Event, func())
}

// Playback states reported in Status.State.
const (
	StatePlaying = "playing"
	StatePaused  = "paused"
	StateStopped = "stopped"
)

// Status is the answer of GET /api/v1/status.
type Status struct {
	// State is StatePlaying, StatePaused or StateStopped.
	State string `json:"state"`
	// Track is the current track, nil when stopped with nothing loaded.
	Track *Track `json:"track,omitempty"`
	// PositionMs and DurationMs locate the playback point in the track.
	PositionMs int64 `json:"position_ms"`
	DurationMs int64 `json:"duration_ms"`
	// Volume in percent, 0 to 100.
	Volume int `json:"volume"`
	// BufferSeconds is the audio downloaded ahead of the playback point.
	BufferSeconds float64 `json:"buffer_seconds"`
	// Sources splits the bytes of the current track by where they came from.
	Sources Sources `json:"sources"`
	// Neighbours is the number of connected overlay peers.
	Neighbours int `json:"neighbours"`
	// QueueLength is the number of tracks queued after the current one.
	QueueLength int  `json:"queue_length"`
	LoggedIn    bool `json:"logged_in"`
	// Version is the firmware version.
	Version string `json:"version"`
}

// Position returns PositionMs as a duration.
func (s Status) Position() time.Duration { return time.Duration(s.PositionMs) * time.Millisecond }

// Duration returns DurationMs as a duration.
func (s Status) Duration() time.Duration { return time.Duration(s.DurationMs) * time.Millisecond }

// Sources counts bytes by source.
type Sources struct {
	Origin int64 `json:"origin"`
	Peers  int64 `json:"peers"`
	Cache  int64 `json:"cache"`
}

// Track is one catalogue entry.
type Track struct {
	// ID is the content-addressed track ID, 64 hex digits in JSON.
	ID         track.ID `json:"id"`
	Title      string   `json:"title"`
	Artist     string   `json:"artist"`
	Album      string   `json:"album,omitempty"`
	DurationMs int64    `json:"duration_ms"`
}

// PlayRequest names a track by ID or by a search query (the best match is
// taken). Exactly one of the two must be set.
type PlayRequest struct {
	TrackID track.ID `json:"track_id,omitzero"`
	Query   string   `json:"query,omitempty"`
}

// MaxQueryLen bounds search queries and PlayRequest.Query, in bytes.
const MaxQueryLen = 256

// Validate checks that exactly one of TrackID and Query is set and that the
// query is of reasonable length.
func (r PlayRequest) Validate() error {
	switch {
	case r.TrackID.IsZero() && r.Query == "":
		return errors.New("give a track_id or a query")
	case !r.TrackID.IsZero() && r.Query != "":
		return errors.New("give a track_id or a query, not both")
	case len(r.Query) > MaxQueryLen:
		return errors.New("query longer than 256 bytes")
	}
	return nil
}

// Event types the daemon emits on the event stream. Clients must ignore
// types they do not know.
const (
	// EventStatus carries a full Status; the server sends one first on
	// every stream so that a client starts from a known state.
	EventStatus = "status"
	// EventState carries {"state": "..."} when playing/paused/stopped changes.
	EventState = "state"
	// EventTrack carries a Track when the current track changes.
	EventTrack = "track"
	// EventSeek carries {"position_ms": N} after a seek.
	EventSeek = "seek"
	// EventVolume carries {"volume": N}.
	EventVolume = "volume"
	// EventQueue carries {"queue_length": N} when the queue changes.
	EventQueue = "queue"
	// EventBuffer carries {"buffer_seconds": F, "sources": {...}} when the
	// buffer crosses a policy threshold.
	EventBuffer = "buffer"
	// EventNeighbours carries {"neighbours": N}.
	EventNeighbours = "neighbours"
	// EventLogin carries {"logged_in": B}.
	EventLogin = "login"
)

// Event is one state change on GET /api/v1/events.
type Event struct {
	// Type is one of the Event* constants (or a newer one).
	Type string `json:"type"`
	// Time is when the change happened, by the daemon's clock.
	Time time.Time `json:"time"`
	// Data is the type-specific JSON payload (see the Event* constants).
	Data json.RawMessage `json:"data,omitempty"`
}

// NewEvent builds an Event whose Data is the JSON encoding of v.
func NewEvent(typ string, at time.Time, v any) (Event, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Event{}, fmt.Errorf("encoding %s event: %w", typ, err)
	}
	return Event{Type: typ, Time: at, Data: b}, nil
}

// SearchResult is the answer of GET /api/v1/search.
type SearchResult struct {
	Tracks []Track `json:"tracks"`
	Total  int     `json:"total"`
	Offset int     `json:"offset"`
	Limit  int     `json:"limit"`
}
