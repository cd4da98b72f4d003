#!/usr/bin/env bash
# Regenerates oggdec-blocks.tsv: oggdec's decode of every fixture in
# tools/fixtures, summarised per 1024-frame block (per channel: sum of the
# s16 samples, sum of their absolute values; then the block's frame count).
# The audio tests compare the Go decoder with it within +-1 per sample.
# Needs oggdec (vorbis-tools) and go.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fix="$here/../../tools/fixtures"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$here/blocksum" && go build -o "$tmp/blocksum" main.go)
{
  for f in "$fix"/*.ogg; do
    name=$(basename "$f")
    ch=$(soxi -c "$f")
    echo "# $name $ch"
    oggdec -Q -R -b 16 -e 0 -s 1 -o - "$f" | "$tmp/blocksum" "$ch"
  done
} > "$here/oggdec-blocks.tsv"
wc -l "$here/oggdec-blocks.tsv"
