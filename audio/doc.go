// Package audio turns Ogg Vorbis bytes into sound: a streaming decoder that
// reads from a byte source which blocks until bytes arrive, a PCM ring buffer
// drained by the miniaudio (malgo) device callback, software volume, a gapless
// player actor, and always-on accounting of playback latency and stutters.
//
// The byte source interface is declared here and satisfied by p2p's streamer.
// cgo (malgo) is confined to one file behind build tags with a stub for
// CGO_ENABLED=0.
//
// Imports: the standard library, the Vorbis decoder and malgo. Never p2p,
// cache or board.
package audio
