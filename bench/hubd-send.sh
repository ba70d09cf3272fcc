#!/usr/bin/env bash
# Send throughput of `hubfs serve` (SQLite, synchronous=FULL) through the Go
# client: 16 senders, 1 KiB bodies, 10 s (bench/sendload), for hubs built
# from two revisions, alternating rounds in one run so both see the same
# machine. Prints sends/s and the hub's CPU per send for each round.
#
# Usage: bench/hubd-send.sh [BASE_REV [ROUNDS [DURATION]]]   (default: main, 3, 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-main}
rounds=${2:-3}
duration=${3:-10s}
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  git worktree remove --force "$tmp/base" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
git worktree add -q --detach "$tmp/base" "$base"
(cd "$tmp/base" && go build -o "$tmp/hubfs-base" ./cmd/hubfs)
go build -o "$tmp/hubfs-head" ./cmd/hubfs
go build -o "$tmp/sendload" ./bench/sendload
tick=$(getconf CLK_TCK)

run() { # name binary
  local data=$tmp/data-$1-$RANDOM
  "$2" keys create --data "$data" --json >"$tmp/key.json"
  "$2" serve --listen 127.0.0.1:0 --data "$data" >"$tmp/addr" 2>"$tmp/log" &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/addr" ] && break; sleep 0.1; done
  local addr key secret before after out sends
  addr=$(head -1 "$tmp/addr")
  key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$tmp/key.json")
  secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$tmp/key.json")
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(HUBFS_SECRET=$secret "$tmp/sendload" -hub "$addr" -key "$key" -senders 16 -duration "$duration")
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  sends=$(sed -n 's/.*(\([0-9]*\) sends in.*/\1/p' <<<"$out")
  printf '%-5s %s; hub CPU %d µs/send\n' "$1" "$out" $(( (after - before) * 1000000 / tick / sends ))
}
for r in $(seq "$rounds"); do
  run base "$tmp/hubfs-base"
  run head "$tmp/hubfs-head"
done
