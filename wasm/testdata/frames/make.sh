#!/bin/sh
# Regenerates the LZ4 frames the codec's tests decode: frames written by the
# reference lz4 CLI (v1.9.4) in shapes our own encoder does not use, so the
# decoder is checked against an independent encoder. The payload is
# `payload N` below; tests/frames.rs rebuilds it byte for byte.
set -eu
cd "$(dirname "$0")"
payload() {
	awk 'BEGIN { for (i = 0; ; i++) printf "row %05d: wasmchannel codec fixture\n", i % 1000 }' |
		head -c "$1"
}
# lz4 writes the content size only when it reads a regular file.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while read -r name size opts; do
	case $name in '#'*) continue ;; esac
	payload "$size" >"$tmp"
	lz4 -q -z -c $opts "$tmp" >"$name.lz4"
done <<'LIST'
# name                     size    lz4 options
b4-independent-contentsum  300000  -B4 -BI
b4-linked-blocksum-size    300000  -B4 -BD -BX --content-size
b5-linked-nocontentsum     600000  -B5 -BD --no-frame-crc
b6-blocksum                2500000 -B6 -BX
b7-size-contentsum         4500000 -B7 --content-size
LIST
