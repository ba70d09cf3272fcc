#!/usr/bin/env bash
# A cold mount, a baseline commit against this tree, in one run
# (TestPerfCold): cold `ls -l` and the bodies it moved, cold `cat *` after
# it against the crypto floor, warm `ls -l`, the remount's first `ls -l`
# over the disk cache, and the mount's RSS; medians of 11 alternating runs.
# Usage: bench/cold.sh [BASE_REV] [OUT]; HUBFS_PERF_COLD_N messages
# (default 10000). Without BASE_REV only this tree runs.
# Needs root (or fusermount3) and /dev/fuse.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-}
out=${2:-bench/cold-figures.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$rev" ]; then
	git archive "$rev" | tar -x -C "$tmp"
	(cd "$tmp" && go build -o "$tmp/hubfs-base" ./cmd/hubfs)
	export HUBFS_PERF_BASE_BIN="$tmp/hubfs-base"
fi
HUBFS_PERF_COLD=1 HUBFS_PERF_OUT="$PWD/$out" \
  go test -count=1 -run '^TestPerfCold$' -v -timeout 60m ./integration \
  | grep -v '^ *time=\|^ *hubfs: \|^ *fuse: '
echo "figures written to $out"
