package audio

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Source is one track's plaintext Ogg Vorbis bytes, in order. Read blocks
// until bytes arrive and returns io.EOF at the end of the track. Close must
// unblock a Read in progress (the player closes a source it abandons). If a
// Source also implements io.Seeker (by byte offset), the player can seek by
// time and rewind for Previous.
type Source interface {
	io.Reader
	io.Closer
}

// Track is a source with an identity, as queued on the player.
type Track struct {
	ID     string // catalogue ID (hex), used in events and logs
	Title  string // optional, for logs
	Source Source
}

// LogValue implements slog.LogValuer.
func (t Track) LogValue() slog.Value {
	if t.Title == "" {
		return slog.StringValue(t.ID)
	}
	return slog.GroupValue(slog.String("id", t.ID), slog.String("title", t.Title))
}

// Format is an interleaved PCM layout.
type Format struct {
	SampleRate int // frames per second
	Channels   int // 1 or 2
}

func (f Format) String() string { return fmt.Sprintf("%d Hz/%dch", f.SampleRate, f.Channels) }

// validate reports whether the player can play or output this format.
func (f Format) validate() error {
	if f.Channels < 1 || f.Channels > 2 {
		return fmt.Errorf("%w: %d channels (mono and stereo are supported)", ErrUnsupported, f.Channels)
	}
	if f.SampleRate < 8000 || f.SampleRate > 192000 {
		return fmt.Errorf("%w: sample rate %d Hz (8000..192000 supported)", ErrUnsupported, f.SampleRate)
	}
	return nil
}

// framesToDuration converts a frame count at rate to a duration.
func framesToDuration(frames int64, rate int) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(frames) * time.Second / time.Duration(rate)
}

// Clock gives the time; PlayerConfig takes one so tests can inject theirs.
// Only differences between two Now values are used.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
