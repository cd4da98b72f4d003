package audio

import "errors"

// Sentinel errors. Wrapped errors returned by this package match one of these
// with errors.Is.
var (
	// ErrCorrupt: the Ogg Vorbis bytes are malformed (bad page checksum,
	// impossible header values, a packet the decoder rejects, or a panic in
	// the third-party decoder turned into an error).
	ErrCorrupt = errors.New("audio: corrupt ogg vorbis stream")
	// ErrTruncated: the byte source ended before the stream's last page.
	ErrTruncated = errors.New("audio: truncated ogg vorbis stream")
	// ErrUnsupported: a valid stream this player does not play (more than two
	// channels, an odd sample rate, a codec other than Vorbis).
	ErrUnsupported = errors.New("audio: unsupported stream")
	// ErrNotSeekable: seeking needs a source that also implements io.Seeker.
	ErrNotSeekable = errors.New("audio: source is not seekable")
	// ErrClosed: the player or output was closed.
	ErrClosed = errors.New("audio: closed")
	// ErrNoCgo: the binary was built with CGO_ENABLED=0, so miniaudio is absent.
	ErrNoCgo = errors.New("audio: built without cgo, miniaudio output unavailable")
	// ErrBackend: the audio backend or device could not be opened.
	ErrBackend = errors.New("audio: output backend unavailable")
	// ErrConfig: a configuration value is invalid.
	ErrConfig = errors.New("audio: invalid configuration")
	// ErrEmptyQueue: next/previous/seek with nothing to act on.
	ErrEmptyQueue = errors.New("audio: nothing is playing")
)
