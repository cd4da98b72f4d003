// Package swarmbench measures a whole Starling system on one machine
// against the numbers of the Spotify paper (Kreitz & Niemelä, P2P'10) and
// side by side with an origin-only baseline.
//
// It starts one starling-server and N starlingd speakers as processes
// (tools/fleet), each speaker on its own loopback IP (127.0.1.N), puts a
// user-space emulated network in front of every connection
// (tools/swarmbench/netem), and drives a seeded workload through each
// speaker's control API: Zipf popularity over a catalogue of distinct
// ciphertexts, listening sessions in which a fraction of plays follow in
// catalogue order (queued, so the daemon's prefetch is exercised), skips,
// and churn (speakers stopped and restarted with their caches). Speakers
// play on the virtual audio clock K times faster than real time, either
// decoding fully (--audio decode) or consuming the encoded bytes at the
// track's bitrate (--audio bitrate); every result says which.
//
// Network. A peer link {A,B} has a round trip drawn from a seeded hash of
// the unordered pair; each speaker has one upload token bucket shared by
// all its links. The proxy in front of B's peer listener tells the
// dialler A by the connection's source IP (the daemon dials from its
// listen IP), so A→B bytes are paced by A's bucket and B→A by B's. The
// service (session and origin) is OriginRTT away and uncapped.
//
// Figures. Plays, latencies and stutters come from each speaker's event
// stream, one record per track start: latency percentiles are exact over
// the latency_ms of command-started plays, stutter is the share of plays
// with at least one underrun event. Bytes by source come from the daemons'
// Prometheus counters, accumulated across restarts; memory from
// /proc/<pid>/status (RssAnon, VmHWM) and, optionally, the speakers' cgroup
// v1 memory groups (OOM kills, limit hits). The workload reacts to the
// events (a track started, ended, a skip timer) with a slow status check
// as a watchdog for dropped events.
//
// Time: network delays are real (wall clock) because playback latency is
// measured in real milliseconds; upload caps are given in simulated time and
// multiplied by the speed, so a 1 Mbit/s uplink carries the same seconds of
// audio per second of music at any K. The daemons' streamers run on the
// audio clock (stream.ScaledClock), so to them every network delay is K
// times longer than configured: stutter and origin figures at K are
// pessimistic for a speaker at 1x, latency figures are not.
//
// CPU: a speaker in bitrate mode costs about 2.7 ms of CPU per second of
// audio on these machines (Go scheduling and wake-ups dominate; decoding
// is 0.4 ms of it), so 2 cores hold about 40 speakers at 10x (1.5 cores);
// beyond that the machine saturates and latency figures measure the
// machine, not the system.
//
// Imports: the standard library, tools/fleet, tools/demo (track
// generation), firmware/control (client), p2p/track (manifests), netem, progressbar and gonum
// plot. Benchmark tooling; the firmware never imports it.
package swarmbench
