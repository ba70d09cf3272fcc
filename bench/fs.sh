#!/usr/bin/env bash
# Filesystem benchmarks of issue 5, in one run: ls -l of 1,000 and 10,000
# messages (cold and warm), cat of all of them, 1,000 sends through outbox/,
# each with its hub calls, against the Go client and a plain directory.
# Prints the table and writes it to bench/fs-figures.md; docs/perf.md quotes it.
# Needs root (or fusermount3) and /dev/fuse. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/fs-figures.md}
HUBFS_PERF=1 HUBFS_PERF_OUT="$PWD/$out" go test -count=1 -run '^TestPerf$' -v -timeout 30m ./integration \
  | grep -v '^ *time=\|^ *hubfs: '
echo "figures written to $out"
