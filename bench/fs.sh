#!/usr/bin/env bash
# Filesystem benchmarks of issues 5 and 6, in one run.
#  - issue 5 (TestPerf): ls -l of 1,000 and 10,000 messages (cold and warm), cat of
#    all of them, 1,000 sends through outbox/, each with its hub calls, against the
#    Go client and a plain directory -> bench/fs-figures.md
#  - issue 6 (TestPerfLive): send -> visible at the mount (median and worst of 100),
#    hub calls and FUSE requests of 100 warm ls -l of 1,000 messages with the watch
#    up -> bench/live-figures.md
# docs/perf.md quotes both. Needs root (or fusermount3) and /dev/fuse. Takes a few
# minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/fs-figures.md}
live=${2:-bench/live-figures.md}
HUBFS_PERF=1 HUBFS_PERF_OUT="$PWD/$out" HUBFS_PERF_LIVE_OUT="$PWD/$live" \
  go test -count=1 -run '^TestPerf(Live)?$' -v -timeout 30m ./integration \
  | grep -v '^ *time=\|^ *hubfs: \|^ *fuse: '
echo "figures written to $out and $live"
