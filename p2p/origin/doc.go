// Package origin is the speaker's HTTP client for the origin: the plain
// HTTP(S) server (the catalogue service, nginx, an S3-compatible store or a
// CDN) that serves encrypted track blobs and manifests by content address.
//
// Two requests exist:
//
//	GET {base}/manifests/<hex id>            the manifest, checked with track.ParseVerifiedManifest
//	GET {base}/tracks/<hex id>  Range: a-b   206 Partial Content, chunks checked with Manifest.VerifyChunk
//
// Nothing the origin sends is trusted. A range response must be 206 with a
// Content-Range naming exactly the bytes asked for and the track's size;
// the body is read through an io.LimitReader one chunk at a time, and each
// chunk is verified against the manifest before the caller sees it, so a
// corrupt, truncated or oversized answer is an error and never a panic or an
// allocation the origin chose. Chunks are handed to a callback as they
// arrive, so a caller can start playing the first chunk of a multi-chunk
// range while the rest is still on the wire.
//
// The client keeps connections warm (keep-alive, a few idle connections per
// host) because the first chunks of every uncached track come from the
// origin, and a handshake there is latency the listener hears.
//
// Imports: the standard library and p2p/track only.
package origin
