// Package catalog is the service's track catalogue: ingest of Ogg Vorbis
// files into encrypted, content-addressed tracks, the in-memory index with
// search, and the origin HTTP handler that serves the encrypted bytes.
//
// # Storage
//
// A catalogue is a plain directory, so that nginx, a CDN or an
// S3-compatible store can serve its public half unchanged:
//
//	DIR/public/tracks/<id>          encrypted blob (chunk i = [i*16384, (i+1)*16384))
//	DIR/public/manifests/<id>       canonical manifest (track.Manifest.MarshalBinary)
//	DIR/private/keys/<id>           32-byte track key, mode 0600, never served
//	DIR/private/meta/<id>.json      the catalogue Entry, written last
//	DIR/private/tmp/                transcoder output while ingesting
//	DIR/private/ingest.lock         flock: shared while ingesting, exclusive to clean up
//
// Every file is written to a ".tmp-" name in its final directory, fsynced,
// renamed into place and its directory fsynced. The metadata entry is
// written last, and only tracks with an entry are visible (to Entry, Search
// and the origin), so a crash at any moment leaves nothing half-published:
// at worst temp files and unreferenced content-addressed files, which the
// next Open removes when no ingest holds the lock.
//
// # Trust
//
// Source files, transcoder output and everything read back from the
// directory are untrusted. The Ogg page structure is checked here (CRC,
// one logical stream, contiguous sequence numbers, BOS and EOS pages, no
// trailing bytes) before the Vorbis decoder sees a byte, and the whole
// stream must decode; metadata comments are sanitised and bounded; entries
// are read through limited readers and validated; a manifest is re-verified
// against its ID on every read.
//
// # Concurrency
//
// A Catalog is safe for concurrent use. Lookups and search take a read lock
// on the in-memory index; Ingest does its heavy work (hashing, decoding,
// encrypting) without locks and publishes under a mutex that also
// re-checks idempotency. Catalog starts no goroutines; Ingest runs the
// transcoder as a child process bound to its context.
//
// # Imports
//
// The standard library, p2p/track (the shared vocabulary), audio/oggpage
// (the one Ogg page reader, standard library only) and
// github.com/jfreymuth/oggvorbis for decoding. It must not import the
// firmware, the rest of audio, board, cache or the rest of p2p: the server
// and the ingest tool consume it, the appliance never does.
package catalog
