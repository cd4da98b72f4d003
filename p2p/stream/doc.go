// Package stream turns a track into a blocking, in-order source of
// decrypted bytes for the player, fetching its 16 KiB chunks from the local
// store, the origin and peers.
//
// A Streamer (one per speaker) owns one scheduling goroutine (Run) and the
// request goroutines it starts; Open returns a Stream (io.ReadSeekCloser)
// and Prefetch prepares the next track. The scheduler is an actor: all
// per-request and per-peer state belongs to the Run goroutine; a Stream
// shares with it only a small, mutex-guarded record of which chunks are
// present and where the reader is.
//
// The decisions are pure functions in select.go (Select, OriginMode,
// PeersCarryIn), tested with tables; NOTES.md explains the policy and the
// buffer thresholds. Every chunk, whatever its source (the store included),
// is checked against the manifest before it is stored or decrypted; a peer
// that sends bad bytes is penalised and, after Config.MaxPeerFaults, dropped.
// Plaintext lives only in memory.
//
// The collaborators are small interfaces declared here and owned by this
// package: Store (satisfied by cache.Cache), Catalog (the session), Origin
// (origin.Client), PeerSource/Peer (the peer transport), UploadGate (the
// uploader) and Clock. Package streamtest has in-memory doubles.
//
// Imports: the standard library and p2p/track. Never cache, session, wire,
// audio or firmware: the daemon wires them together.
package stream
