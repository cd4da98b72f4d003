// Package cache is the speaker's bounded, encrypted, crash-safe track cache
// on Badger: per track the manifest, the encrypted chunks exactly as they
// travel, completion state, last-played time and the track key encrypted
// under a device key. Capacity is 10% of the filesystem's free space capped at
// 10 GB; least-recently-played complete tracks are evicted first.
//
// Imports: the standard library, Badger and p2p/track. Never p2p, audio,
// board or firmware; it satisfies the store interface that p2p declares.
package cache
