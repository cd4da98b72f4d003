// Package track defines what a track is on the wire and on disk: its
// content-addressed ID, its manifest, the 16 KiB chunking of its encrypted
// bytes, and the per-track stream cipher.
//
// A track is an Ogg Vorbis file encrypted with its own random 256-bit key
// under AES-256-CTR (random access by byte offset) and cut into chunks of
// ChunkSize bytes; the last chunk may be shorter. The manifest records the
// encrypted size, duration, codec and the SHA-256 of every encrypted chunk,
// and the track ID is the SHA-256 of the manifest's canonical encoding, so
// anyone holding an ID can verify a manifest, and anyone holding a verified
// manifest can verify every chunk, whoever sent them.
//
// This package is the small shared vocabulary of the service, the peers, the
// cache and the ingest tool. It imports only the standard library; every
// other Starling package may import it.
package track
