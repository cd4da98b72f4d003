#!/usr/bin/env bash
# Installs what building and testing Starling needs on a Debian machine with Go:
# the aarch64 cross compiler and libc, QEMU (user mode and system), vorbis-tools,
# sox and cpio. Idempotent: when everything is present it returns at once.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have aarch64-linux-gnu-gcc || need+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ] || need+=(libc6-dev-arm64-cross)
have qemu-aarch64-static || need+=(qemu-user-static)
have qemu-system-aarch64 || need+=(qemu-system-arm)
{ have oggenc && have oggdec; } || need+=(vorbis-tools)
have sox || need+=(sox)
have cpio || need+=(cpio)
have gzip || need+=(gzip)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! have go; then
  echo "setup: Go is not on PATH; install Go 1.26 (https://go.dev/dl) first" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  have sudo || { echo "setup: need root or sudo to install: ${need[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup: installing ${need[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
