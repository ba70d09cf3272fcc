#!/usr/bin/env bash
# Warm ls -l and cat * of 1,000 messages, a baseline commit against this
# tree, in one run (TestPerfSideBySide: medians of 11 alternating runs and
# the FUSE requests of each). Usage: bench/sidebyside.sh [BASE_REV] [OUT]
# BASE_REV is any commit, e.g. the merge base with main.
# Needs root (or fusermount3) and /dev/fuse.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/sidebyside.sh BASE_REV [OUT]}
out=${2:-bench/sidebyside-figures.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$rev" | tar -x -C "$tmp"
(cd "$tmp" && go build -o "$tmp/hubfs-base" ./cmd/hubfs)
HUBFS_PERF_BASE_BIN="$tmp/hubfs-base" HUBFS_PERF_OUT="$PWD/$out" \
  go test -count=1 -run '^TestPerfSideBySide$' -v -timeout 20m ./integration \
  | grep -v '^ *time=\|^ *hubfs: \|^ *fuse: '
echo "figures written to $out"
