// Package cache is the speaker's bounded, encrypted, crash-safe track cache
// on Badger. It satisfies the store interface that p2p's streamer and
// uploader declare (PutManifest, Manifest, PutKey, Key, PutChunk,
// ReadChunk, HasChunk, Complete, Touch, Pin, CompleteTracks, Stats).
//
// # What is stored
//
// Per track, under one 33-byte key prefix ('t' + track ID): the manifest
// (canonical encoding, re-verified against the ID whenever it is read back
// from disk), the encrypted chunks exactly as they travel (one key per
// chunk, so chunks arrive in any order and are readable while the track is
// still arriving), the track key sealed with AES-256-GCM under a device key
// (with the track ID as additional data), and a small record (size, chunk
// count, added and last-played times, CRC-32C). The device key is a 32-byte
// file created with mode 0600 outside the Badger directory (default
// Dir/device.key). No plaintext audio and no clear track key touch the disk.
//
// Completion state is not stored separately: a chunk is written only after
// it matched its manifest hash, and at Open the index (a bitmap per track)
// is rebuilt from the chunk keys, which cannot disagree with the data after
// a crash. Every ReadChunk verifies the SHA-256 again; a chunk that fails is
// deleted and its track becomes incomplete, so a damaged chunk is never
// served and is fetched again by the caller.
//
// # Capacity and eviction
//
// Capacity is a byte count on disk (blocks allocated, not bytes written):
// CapacityBytes, or CapacityPercent (10) of the space available when the
// cache opens (free space plus the cache's own use, so a full cache does
// not shrink at every restart), capped at CapacityCap (10 GB). One
// background goroutine, owned by the Cache and stopped by Close, runs
// Maintain when live data passes 90% of capacity or every 2% of capacity
// written: it evicts down to 80% in one batch, least-recently-played
// complete tracks first, then incomplete tracks idle for IncompleteGrace
// (one minute) — never a pinned track (the one playing, the one being
// prefetched). Eviction is one DropPrefix for the whole batch followed by
// RunValueLogGC until Badger finds nothing to rewrite: per-key deletes do
// not free value-log space in a small LSM, DropPrefix + GC does, and the
// tests measure the directory before and after. DropPrefix makes Badger
// refuse writes, so our writers hold a read lock that eviction takes for
// writing: writes queue for the duration instead of failing.
//
// # Crash safety
//
// Writes are not fsynced (a chunk lost to a power cut is fetched again);
// a kill -9 at any moment leaves a cache that opens (tested by re-executing
// the test binary and killing it mid-write many times). Two Badger v4.9.6
// defects are worked around: an empty value-log file left by a crash makes
// Open fail, so empty *.vlog files are removed first; and GC reads a
// memtable field racily against the write goroutine, so writes pause during
// each value-log rewrite. A database that cannot be opened or indexed is
// logged, moved aside to Dir/db.corrupt-<time> (only the newest is kept)
// and replaced by an empty one. Badger opens table files on its own
// goroutines, where a damaged table panics past any recover; an opening
// marker (Dir/db.opening) makes the next start treat that database as
// corrupt, so the daemon restarted by systemd comes back with an empty cache.
//
// # Memory
//
// BadgerOptions defaults are tuned for a 512 MB board (1 MiB memtable, no
// block or index cache, no compression, chunks in 16 MiB value-log files);
// Validate rejects the combinations Badger panics on. The index holds a
// bitmap and a record per track; parsed manifests are cached for 32 tracks.
// cache/cmd/cachebench measures memory, throughput, latency and disk use.
//
// # Imports
//
// The standard library, Badger, golang.org/x/sys/unix and p2p/track. Never
// p2p's other packages, audio, board or firmware; tools/fixtures only in tests.
package cache
