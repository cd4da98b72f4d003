// Package session is the speaker's client for the catalogue service: one
// persistent TLS 1.3 connection (the service certificate pinned by its
// SHA-256), multiplexed with p2p/wire, logged in with the device's
// credentials. Login hands back a short-lived device certificate for the
// device's own ed25519 key and the service CA; PeerTLSConfig turns them
// into the mutual-auth TLS configuration of the peer transport, so only
// logged-in speakers can talk to each other.
//
// Design. Dial connects and logs in synchronously, then one supervisor
// goroutine owns the connection: it reconnects with exponential backoff and
// full jitter when the connection drops, re-announces the tracks the
// speaker announced, and renews the certificate when a third of its
// validity is left. Requests take a context and wait for a connection if
// one is being re-established. Server pushes arrive on a buffered channel
// (dropped, with a warning, if the consumer does not keep up). Close stops
// the supervisor and the connection and is idempotent. A refused login is
// permanent: the client stops and Err says why.
//
// Imports: the standard library, p2p/track and p2p/wire.
package session
