// Package control is the speaker's local control plane: an HTTP/JSON API on
// the LAN, a Go client for it (used by starlingctl), the bearer token that
// protects it, and its mDNS advertisement.
//
// The API drives a Player, a small interface declared here and implemented
// by the daemon's wiring in package firmware; this package knows nothing of
// audio, the network or the cache. Every path is versioned (/api/v1/...),
// every answer is JSON (errors are {"error": "..."} with a status that
// follows the sentinel the Player wrapped), bodies are capped with
// http.MaxBytesReader and the http.Server has header, read, write and idle
// timeouts. State changes stream as server-sent events; each stream is owned
// by its request handler and ends when the client goes, when the server is
// closed, or when its context ends, so nothing outlives Serve. The number of
// concurrent streams is bounded because the board has 512 MB.
//
// The token is 256 random bits in base64url, created on first start in a
// file of mode 0600 (written to a temporary file and linked into place, so a
// crash never leaves half a token), compared in constant time. The API is
// plain HTTP: on a LAN whose other hosts are not trusted the token can be
// sniffed, which is the price of a browser- and curl-friendly API on a device
// without a certificate a LAN client could check.
//
// Extra handlers (the daemon's /metrics) are mounted on the same listener,
// outside the token check. mDNS (github.com/hashicorp/mdns) advertises
// _starling._tcp with TXT records version=, name= and path= when enabled.
//
// Imports: the standard library, p2p/track (the shared vocabulary) and
// github.com/hashicorp/mdns. It must not import firmware or any subsystem;
// firmware imports it.
package control
