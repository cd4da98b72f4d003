// Package audio turns Ogg Vorbis bytes into sound on a speaker.
//
// # Pipeline
//
//	Source (blocking bytes) -> fetcher goroutine: Ogg demuxer (CRC, bounds)
//	  -> packets on a bounded channel (buffers recycled)
//	  -> player goroutine: Vorbis decode (jfreymuth/vorbis), granule trim,
//	     format conversion, gain-free copy into the Ring
//	  -> device callback (malgo, or VirtualOutput): render = ring read, gain
//	     ramp, underrun and latency accounting
//
// A track's bytes are read by its own fetcher goroutine so that a Read that
// blocks on a slow peer never blocks the player: the player keeps answering
// commands, the ring drains, and the callback counts the stutter. The
// player is an actor: one goroutine owns the queue, the decoders and the
// producer side of the ring; its methods send it typed commands (closures
// with reply channels) and wait. The ring is a lock-free single-producer
// single-consumer buffer of float32 frames; the callback never allocates,
// locks or blocks (its shared state is atomics, and the state it owns —
// the current gain, the underrun flag — is touched by it alone).
//
// Gapless: the next track's fetcher starts (headers read, packets queued)
// as soon as the current one starts decoding, and its first frame is
// written to the ring right after the current one's last, so the device
// never sees a gap. Tracks in another format are converted to the device's
// (mono duplicated, 44.1 <-> 48 kHz by linear interpolation) instead of
// reopening the device, so a format change never clicks. Pause, resume,
// volume, seek and skip ramp the gain over 5 ms in the callback.
//
// Decode modes: PlayerConfig.Decode is DecodeFull (the zero value: the
// music) or DecodeBitrate, for the fleet benchmark, where hundreds of
// speakers share two cores. DecodeBitrate keeps every stage but one: the
// fetcher reads and demuxes the same bytes (CRC-checked), the three Vorbis
// headers are checked as before, and the granule rules (start offset, end
// trim, seek), converter, ring, callback, underruns, events and latency are
// the same code. Only the synthesizer differs: instead of running the
// Vorbis decoder it reads each audio packet's mode number (and long-window
// flag) and emits zeros in the number of frames the decoder would have
// produced, using the block flags walked out of the setup header. So a
// track lasts exactly as long, frame for frame, and its bytes are pulled
// from the Source as the ring drains, at its bitrate, for about an eighth
// of the CPU (BenchmarkDecodeMode). It outputs silence: never for
// listening. The synthesizer interface (synth.go) is the seam.
//
// Accounting: latency is measured from the command (play, next, previous,
// seek) to the callback handing the track's first frame to the device, with
// a timestamp taken in the callback. A stutter is an underrun while audio
// was due. Stats and events (started, position, ended, underrun, error)
// expose both; subscribers never block the player (a full subscriber drops
// events, counted).
//
// Untrusted input: every Ogg page is CRC-checked and every size bounded
// before allocation; the Vorbis identification and setup headers are
// checked before the third-party decoder sees them (it trusts their sizes
// and loops forever on an incomplete Huffman tree); decoder panics become
// ErrCorrupt; samples are clamped. A corrupt or truncated track ends with an
// error event and the queue goes on.
//
// cgo lives in device_cgo.go only; device_nocgo.go makes OpenDevice return
// ErrNoCgo so that everything else builds and tests with CGO_ENABLED=0. Its
// backend numbers follow miniaudio.h (malgo v0.11.24's BackendNull is off by
// one and selects the custom backend).
//
// Imports: the standard library, audio/oggpage (the Ogg page reader, shared
// with the catalogue's ingest), github.com/jfreymuth/vorbis (through
// oggvorbis's module), github.com/gen2brain/malgo (device_cgo.go only). Never
// p2p, cache, board or firmware; tests may import tools/fixtures.
package audio
