#!/usr/bin/env bash
# The fault soak: integration's TestFaults at length, outside `make test`.
# A mount of the built binary sends through a loopback fault proxy
# (faultnet: reset, blackhole, refuse, drop replies, stall) to a `hubfs serve`
# that is also SIGKILLed and restarted on its data; then the hub's boxes are
# read directly and every send is held to the contract: accepted means
# delivered exactly once and whole, a failed send is not delivered, and the
# mount's queue drains to empty. Prints the figures table (sends, faults by
# kind, hub kills, losses, duplicates, truncations, failed closes, max queue
# length, drain time); docs/perf.md quotes it.
#
# Usage: bench/soak.sh [FIGURES_FILE]   (default bench/soak-figures.md)
# Knobs (environment), with the soak's defaults:
#   HUBFS_SOAK_SENDS=3000    sends through MNT/outbox, paced over the run
#   HUBFS_SOAK_FAULTS=1000   injected network faults
#   HUBFS_SOAK_KILLS=20      SIGKILLs of the hub
#   HUBFS_SOAK_WORKERS=4     concurrent writers
#   HUBFS_SOAK_SEED=N        repeat a run's schedule and bodies (printed in the log)
#   HUBFS_SOAK_BUDGET=50m    how long sends and faults may run
#   HUBFS_SOAK_DRAIN=5m      how long the queue may take to drain once healed
#   HUBFS_SOAK_RACE=1        build test and binary with the race detector (0: without)
# Needs root (or fusermount3) and /dev/fuse. 1,000 faults take about 20 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/soak-figures.md}
export HUBFS_SOAK_SENDS=${HUBFS_SOAK_SENDS:-3000}
export HUBFS_SOAK_FAULTS=${HUBFS_SOAK_FAULTS:-1000}
export HUBFS_SOAK_KILLS=${HUBFS_SOAK_KILLS:-20}
export HUBFS_SOAK_WORKERS=${HUBFS_SOAK_WORKERS:-4}
export HUBFS_SOAK_BUDGET=${HUBFS_SOAK_BUDGET:-50m}
export HUBFS_SOAK_DRAIN=${HUBFS_SOAK_DRAIN:-5m}
race=()
if [ "${HUBFS_SOAK_RACE:-1}" != 0 ]; then race=(-race); fi

report=$(mktemp)
log=$(mktemp)
trap 'rm -f "$report" "$log"' EXIT
HUBFS_SOAK_REPORT=$report go test "${race[@]}" -count=1 -run '^TestFaults$' -v -timeout 60m ./integration >"$log" 2>&1
status=$?
# The log without the mount's and hub's own lines: the plan, the findings.
grep -v '^ *time=\|^ *hubfs: \|^ *fuse: ' "$log" | grep -v '^        |' | head -200
if [ -s "$report" ]; then
  {
    echo "# Fault soak figures"
    echo
    echo "\`bench/soak.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, race detector: ${HUBFS_SOAK_RACE:-1}."
    echo
    cat "$report"
  } >"$out"
  echo
  cat "$report"
  echo "figures written to $out"
else
  echo "no figures: the test stopped before the end (full log below)"
  tail -100 "$log"
fi
exit $status
