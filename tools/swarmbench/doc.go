// Package swarmbench measures a whole Starling system on one machine
// against the numbers of the Spotify paper (Kreitz & Niemelä, P2P'10) and
// side by side with an origin-only baseline.
//
// It starts one starling-server and N starlingd speakers as processes
// (tools/fleet), puts a user-space emulated network in front of every
// connection (tools/swarmbench/netem: one-way delays, a per-speaker
// upload cap), and drives a seeded workload through each speaker's control
// API: Zipf popularity over a catalogue of distinct ciphertexts, listening
// sessions in which a fraction of plays follow in catalogue order (queued,
// so the daemon's prefetch is exercised), skips, and churn (speakers
// stopped and restarted with their caches). Speakers play on the virtual
// audio clock K times faster than real time and decode fully; there is no
// decode-free mode yet, so every figure is from full decoding.
//
// Figures come from the daemons' own Prometheus metrics (bytes by source,
// the playback-latency histogram, underruns), accumulated across restarts,
// and from /proc/<pid>/status (RssAnon, VmHWM) and, optionally, the
// speakers' cgroup v1 memory groups (OOM kills, limit hits).
//
// Time: network delays are real (wall clock) because playback latency is
// measured in real milliseconds; upload caps are given in simulated time and
// multiplied by the speed, so a 1 Mbit/s uplink carries the same seconds of
// audio per second of music at any K.
//
// Imports: the standard library, tools/fleet, tools/demo (track
// generation), firmware/control (client), netem, progressbar and gonum
// plot. Benchmark tooling; the firmware never imports it.
package swarmbench
