// Package systemd holds the speaker's systemd units and snippets as files
// (starlingd.service, sysusers.d/starling.conf, tmpfiles.d/starling.conf,
// udev/60-starling.rules) and embeds them in Files, so that an installer
// (or a future `starlingd install`) can write exactly what was tested.
//
// The unit is Type=notify with WatchdogSec=30: the daemon reports READY=1
// and feeds the watchdog only while its audio pipeline is alive, so a hung
// pipeline is restarted by systemd (Restart=on-failure). It runs as the
// unprivileged user starling with the groups audio, i2c and gpio, inside a
// 64 MiB memory cgroup, behind ProtectSystem=strict and DevicePolicy=closed
// with only ALSA, I2C and GPIO-chip devices allowed.
//
// units_test.go checks the files with go-systemd's unit parser for the keys
// we depend on, and runs systemd-analyze verify, systemd-sysusers and
// systemd-tmpfiles on them (in a scratch root) when those tools exist.
//
// Imports: the standard library only.
package systemd

import "embed"

// Files holds the unit and snippet files, by their paths in this directory.
//
//go:embed starlingd.service starling-update.service starling-update.timer sysusers.d/starling.conf tmpfiles.d/starling.conf udev/60-starling.rules
var Files embed.FS
