#!/usr/bin/env bash
# Runs the README's "Talking to it" commands against a fresh server, so the
# README cannot drift from the code. Called by `make readme-smoke`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-bin/wasmchannel}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# The section's shell block, pointed at this server and this binary.
awk '/^## Talking to it/{on=1} on&&/^```sh/{code=1; next} code&&/^```/{exit} code' README.md |
	sed -e "s#127.0.0.1:8080#127.0.0.1:$port#g" -e "s#go run ./cmd/wasmchannel#$bin#g" \
		-e "s#/tmp/signup.json#$work/signup.json#g" \
		-e "s#--url http://127.0.0.1:$port##" \
		-e "s#^$bin chat #echo 'hello from the readme' | $bin chat --url http://127.0.0.1:$port #" >"$work/readme.sh"
[ -s "$work/readme.sh" ] || { echo "readme-smoke: no shell block under '## Talking to it'"; exit 1; }

(cd "$work" && exec "$OLDPWD/$bin" serve --addr "127.0.0.1:$port" --db "$work/readme.db" --log-level warn) &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

out=$(bash -euo pipefail "$work/readme.sh" 2>&1)
echo "$out" | tail -n 20
for want in 'hello from the readme' '"token":' '"session":' 'hello from curl' '"kind":"online_users"' '"status":"ok"' 'wasmchannel_connections' '"openapi":'; do
	grep -qF "$want" <<<"$out" || { echo "readme-smoke: output lacks $want"; exit 1; }
done
echo "readme-smoke: every README command ran"
