// Package peer is a speaker's peer side: the TLS 1.3 transport between
// speakers, the unstructured overlay, the TTL-2 search flood and the
// uploader. A Node implements the streamer's stream.PeerSource and
// stream.UploadGate; its neighbours are stream.Peer values.
//
// Transport: mutual TLS 1.3; a peer's certificate must chain to the
// service CA (Credentials, asked on every handshake because both renew),
// be valid now and carry client and server auth. The peer ID is
// wire.PeerIDFromCert. One wire.Conn per pair: if both sides dial at once,
// the connection dialed by the lower peer ID is kept by both.
//
// Overlay: at most MaxNeighbours (60); above SoftNeighbours (50) the
// neighbour of least Utility (NOTES.md) is evicted; newcomers are protected
// for a grace period. New neighbours come from tracker results and search
// hits, so the overlay clusters by interest.
//
// Search: Search asks the Tracker and floods a SearchQuery (SPEC.md) with
// TTL 2; query IDs are remembered in a bounded LRU with a time window,
// which also routes hits back; each neighbour's queries and hits are
// rate-limited (golang.org/x/time/rate).
//
// Uploader: only complete tracks (Store.Complete), read through
// Store.ReadChunk which verifies; at most MaxUploads peers at a time, others
// BUSY; the most urgent waiting request first; at most MaxQueued requests
// per peer; while paused every request is refused UNAVAILABLE and
// neighbours are told with UploadState.
//
// Imports: p2p/wire, p2p/track, p2p/stream (its interfaces only) and
// golang.org/x/time/rate. Never cache, tools, audio or board.
package peer
