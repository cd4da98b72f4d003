#!/usr/bin/env bash
# Boots Debian's arm64 kernel under qemu-system-aarch64 with an initramfs whose
# init is the arm64 starlingd running its self-test, and passes only if the
# self-test's success line appears on the console.
# Usage: tools/scripts/qemu-boot.sh path/to/arm64/starlingd
# The kernel is downloaded once with apt into ${XDG_CACHE_HOME:-~/.cache}/starling/kernel.
set -euo pipefail
bin=${1:?usage: qemu-boot.sh path/to/arm64/starlingd}
root=$(cd "$(dirname "$0")/../.." && pwd)
success="starlingd self-test: OK"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/starling/kernel
sysroot=/usr/aarch64-linux-gnu
mkdir -p "$cache"

fetch_kernel() {
  # A private apt state for arm64, so the host needs no dpkg --add-architecture.
  local st="$cache/apt"
  mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/etc"
  local opts=(-o "Dir::State=$st" -o "Dir::State::Lists=$st/lists" -o "Dir::Cache=$st/cache"
              -o "Dir::State::status=$st/status" -o "APT::Architecture=arm64"
              -o "APT::Architectures::=arm64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  : > "$st/status"
  echo "qemu-boot: fetching Debian's arm64 kernel (once; cached in $cache)"
  apt-get "${opts[@]}" update -q >/dev/null
  local pkg
  pkg=$(apt-cache "${opts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$pkg" ] || { echo "qemu-boot: cannot resolve linux-image-arm64 to a kernel package" >&2; exit 1; }
  (cd "$cache" && rm -f ./*.deb && apt-get "${opts[@]}" download "$pkg:arm64" >/dev/null)
  rm -rf "$cache/x" && dpkg-deb -x "$cache"/linux-image-*.deb "$cache/x"
  cp "$(ls "$cache"/x/boot/vmlinuz-* | head -1)" "$cache/vmlinuz"
  rm -rf "$cache/x" "$cache"/*.deb
}
[ -s "$cache/vmlinuz" ] || fetch_kernel

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
ir=$work/root
mkdir -p "$ir"/{bin,dev,proc,sys,tmp,lib,lib64}
cp "$bin" "$ir/bin/starlingd"
# A cgo binary needs the arm64 dynamic loader and the libraries it links;
# miniaudio also dlopens nothing on the null backend.
for lib in ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2; do
  [ -e "$sysroot/lib/$lib" ] && cp -L "$sysroot/lib/$lib" "$ir/lib/"
done
if [ "$(id -u)" -eq 0 ]; then
  mknod -m 600 "$ir/dev/console" c 5 1
  mknod -m 666 "$ir/dev/null" c 1 3
fi
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1 > "$work/initrd.cpio.gz")

echo "qemu-boot: booting $(file -b "$bin" | cut -d, -f1-2) under qemu-system-aarch64"
log=$work/console.log
# Everything after "--" goes to init as arguments. When init exits the kernel
# panics; panic=-1 reboots at once and -no-reboot ends qemu.
timeout 180 qemu-system-aarch64 -M virt -cpu cortex-a53 -m 512 -nographic -nic none \
  -kernel "$cache/vmlinuz" -initrd "$work/initrd.cpio.gz" \
  -append "console=ttyAMA0 panic=-1 quiet rdinit=/bin/starlingd -- self-test --dir=/tmp" \
  -no-reboot </dev/null >"$log" 2>&1 || true
grep -a -E 'self-test|^  (ok|FAIL) ' "$log" | tr -d '\r' || true
if grep -a -q "$success" "$log"; then
  echo "qemu-boot: PASS"
else
  echo "qemu-boot: FAIL: no success line; the console said:" >&2
  tail -n 40 "$log" | tr -d '\r' >&2
  exit 1
fi
