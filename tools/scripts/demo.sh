#!/usr/bin/env bash
# make demo: a catalogue service and three headless speakers on loopback.
# Extra flags go to starling-demo (e.g. DEMO_FLAGS=--audible, --no-p2p, --keep).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bin/starling-demo --bin bin "$@"
