#!/usr/bin/env bash
# Warm cat * and grep -c x -r of 1,000 messages of 1 KiB: tmpfs, a default
# hubfs mount and a --no-open one, in one run (TestPerfNoOpen: medians of 11
# alternating runs, and the FUSE requests of each). Usage:
# bench/noopen.sh [OUT]. Needs root (tmpfs, mount(2)) and /dev/fuse.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/noopen-figures.md}
HUBFS_PERF_NOOPEN=1 HUBFS_PERF_OUT="$PWD/$out" \
  go test -count=1 -run '^TestPerfNoOpen$' -v -timeout 20m ./integration \
  | grep -v '^ *time=\|^ *hubfs: \|^ *fuse: \|^ *inbox: \|^ *unread: \|^ *sentbox: '
echo "figures written to $out"
