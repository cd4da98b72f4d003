// Package fleet runs a whole Starling system on this machine as real
// processes: one starling-server with a catalogue ingested from Ogg files,
// and N starlingd speakers, each with its own state, cache, identity and
// config, talking over loopback only. The demo (tools/starling-demo) and the
// end-to-end tests drive it through each speaker's control API.
//
// Children are started with a parent-death signal and stopped with SIGTERM
// (SIGKILL after a grace period) by Close, so no process outlives the fleet,
// also when its owner is interrupted.
//
// Imports: the standard library, firmware/control (client) and p2p/track.
// It is test and tooling code; the firmware never imports it.
package fleet
