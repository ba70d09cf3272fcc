#!/usr/bin/env bash
# The hub's memory under a flood of unauthenticated requests (issue 10, "Memory
# before auth"): 256 connections on loopback, each sending 8 MB SendMessage
# requests without an API key for 10 s. Prints the hub's RSS when idle and its
# peak (VmHWM) during the flood.
#
# Usage: bench/unauth-flood.sh [HUBFS_BINARY]   (default: built from this tree)
# Compare with the code before the fix:
#   git worktree add /tmp/hubfs-old 6b04199 && (cd /tmp/hubfs-old && go build -o /tmp/hubfs-old.bin ./cmd/hubfs)
#   bench/unauth-flood.sh /tmp/hubfs-old.bin
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
bin=${1:-}
if [ -z "$bin" ]; then
  bin=$tmp/hubfs
  go build -o "$bin" ./cmd/hubfs
fi
go build -o "$tmp/unauthflood" ./bench/unauthflood

# 2 MiB per copy: an 8 MB request is within grpc's receive limit both before
# the fix (8x) and after (4x), so the old hub decodes it whole.
"$bin" serve --listen 127.0.0.1:0 --data "$tmp/data" --max-message-size 2097152 >"$tmp/addr" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/addr" ] && break; sleep 0.1; done
addr=$(head -1 "$tmp/addr")
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
idle=$(rss VmRSS)
"$tmp/unauthflood" -addr "$addr" -clients 256 -size 8000000 -duration 10s
echo "hub $bin: idle RSS $((idle / 1024)) MiB, peak RSS during the flood $(($(rss VmHWM) / 1024)) MiB"
