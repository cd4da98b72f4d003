// Package update is the speaker's over-the-air update agent: signed
// releases, two install slots, a health-gated switch and automatic
// rollback, in the manner of RAUC and Mender but without a bootloader —
// starlingd is one static-ish binary, so a "slot" is a directory and the
// switch is a symlink.
//
// A release is a JSON Manifest (version, architecture, channel, image
// name, size, SHA-256, minimum version, creation and expiry) and a detached
// ed25519 signature over the manifest's exact bytes, naming the key by ID so
// a speaker can trust several keys at once and an operator can rotate one.
// The private key lives only on the operator's machine (tools/starling-release);
// the service merely serves the files and pushes "release available".
//
// The agent verifies the signature, applies the Policy (not expired, this
// architecture and channel, strictly newer than the running version — no
// downgrade by replay —, not marked bad here, at least min_version),
// downloads the image resumably through Range requests into DIR/download,
// verifies size and SHA-256, and only then installs it into the inactive
// slot (never the running one), records it as pending and switches the
// `current` link with symlink+rename+fsync. Every step is durable and
// ordered so that a process killed between any two steps leaves a current
// slot that boots a verified version; Boot, run at every start, finishes or
// abandons what was interrupted. A pending version counts its starts (a
// crash loop rolls back after MaxAttempts) and must pass the daemon's
// health check within HealthTimeout (Gate), else the agent switches back,
// marks the version bad so it is never retried, and restarts.
//
// Restarts go through the Restarter interface, owned here: starlingd
// implements it by exiting with a status systemd restarts on, or by
// exec'ing the new binary when it runs without systemd (tests).
//
// Status is observable (Observe, Status); package firmware turns it into
// metrics and the control API's GET /update.
//
// Imports: the standard library only; it never imports the rest of the
// firmware, which wires it in.
package update
