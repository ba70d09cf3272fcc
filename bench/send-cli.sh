#!/usr/bin/env bash
# Wall time of one `hubfs send` process (1 KiB from stdin) against a local
# `hubfs serve`, for hubfs built from two revisions, alternating, medians of
# RUNS. Each revision has its own identity and $XDG_STATE_HOME, so the
# head's token cache is warm after its first send, as a user's is.
#
# Usage: bench/send-cli.sh [BASE_REV [RUNS]]   (default: main, 21)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-main}
runs=${2:-21}
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
bin=$tmp/hubfs-head
"$bin" keys create --data "$tmp/data" --json >"$tmp/key.json"
"$bin" serve --listen 127.0.0.1:0 --data "$tmp/data" >"$tmp/addr" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/addr" ] && break; sleep 0.1; done
export HUBFS_HUB=$(head -1 "$tmp/addr")
export HUBFS_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$tmp/key.json")
export HUBFS_SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$tmp/key.json")
to=$("$bin" init --identity "$tmp/bob.key")
"$bin" ls inbox --identity "$tmp/bob.key" >/dev/null
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$tmp/body"
for v in base head; do
  "$bin" init --identity "$tmp/$v.key" >/dev/null
  mkdir -p "$tmp/state-$v"
  XDG_STATE_HOME=$tmp/state-$v "$tmp/hubfs-$v" send --identity "$tmp/$v.key" --to "$to" <"$tmp/body" >/dev/null # first run: token, mailbox
done
for _ in $(seq "$runs"); do
  for v in base head; do
    s=$(date +%s%N)
    XDG_STATE_HOME=$tmp/state-$v "$tmp/hubfs-$v" send --identity "$tmp/$v.key" --to "$to" <"$tmp/body" >/dev/null
    echo "$v $(( ($(date +%s%N) - s) / 1000 ))" >>"$tmp/times"
  done
done
for v in base head; do
  awk -v v="$v" '$1 == v { print $2 }' "$tmp/times" | sort -n | awk -v v="$v" '{ a[NR] = $1 } END { printf "%s: median %.1f ms per hubfs send process (%d runs)\n", v, a[int((NR + 1) / 2)] / 1000, NR }'
done
