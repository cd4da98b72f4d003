// Package server is the Starling catalogue service as a library: the
// persistent session server (TLS 1.3, p2p/wire multiplexing), the service
// identity and device CA, the device registry, the tracker and the
// Prometheus metrics. tools/starling-server is a thin main over it.
//
// Design. A speaker keeps one TLS connection; the server pins nothing but
// is pinned by speakers (its certificate's SHA-256). The first request must
// be Login with the device's ID and secret (stored only as SHA-256, compared
// in constant time) and the device's own ed25519 public key; the server
// answers with a short-lived X.509 certificate signed by a CA key that lives
// beside the service key in the state directory. Peers accept only
// certificates from that CA, so only logged-in speakers join the overlay.
// The tracker keeps, per track, the last 20 peers that announced a complete
// copy and answers with up to 10 whose session is live, never the asker.
// The catalogue (metadata, search, manifests, keys) is consumed through the
// small Catalog interface declared here; tools/catalog satisfies it through
// an adapter in the main.
//
// Every connection's goroutines belong to its wire.Conn; Serve owns the
// accept loop and one goroutine per session, and returns when its context
// ends, after every session has closed.
//
// Imports: the standard library, p2p/track, p2p/wire and Prometheus'
// client library. Never firmware, audio, board or cache.
package server
