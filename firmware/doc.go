// Package firmware is the one wiring package of the speaker: it loads the
// configuration, builds the session, cache, streamer, player and board from
// the libraries beside it, runs them under one context with an ordered
// shutdown, and owns the process-level concerns (systemd notify and
// watchdog, control API, metrics, self-test, OTA agent).
//
// Imports: anything in the module except tools/ (server-side code has no
// place on a speaker; TestDependencyGuard enforces it). Nothing imports
// firmware but its thin mains in firmware/cmd.
package firmware
