#!/usr/bin/env bash
# Hub benchmarks through gRPC (bench/hubs): the built `hubfs serve` on
# SQLite, on PostgreSQL as one node and as two nodes on one database, with
# the Go client on loopback: sends/s with 16 concurrent senders, a
# ListInboxMessages page of 1,000 at 100,000 stored, send -> Listen event
# latency (one node, and node 2 -> node 1). Prints one Markdown table with
# ratios to SQLite. Not part of `make test`; a few minutes.
#
# PostgreSQL: HUBFS_TEST_POSTGRES as for the tests (a database is created in
# it and dropped); unset, a throwaway server is started on loopback for the
# run (initdb + pg_ctl as the postgres user in a temp dir, trust auth, as
# .ci/run does; needs root) and removed after. Extra arguments go to the
# program (go run ./bench/hubs -h lists them).
#
# Usage: [HUBFS_TEST_POSTGRES=postgres://...] bench/hubs.sh [-duration 10s ...]
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hubfs-bench-hubs.XXXXXX")
pgbin= pgdir= base= db= prog=
cleanup() {
  # The program stops its hubs on SIGTERM (and the kernel kills them if it dies).
  if [ -n "$prog" ]; then kill "$prog" 2>/dev/null || true; wait "$prog" 2>/dev/null || true; fi
  if [ -n "$db" ]; then psql "$base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  if [ -n "$pgdir" ]; then
    su postgres -s /bin/sh -c "'$pgbin/pg_ctl' -D '$pgdir/data' -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$pgdir"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' INT TERM # so that EXIT's cleanup runs

go build -o "$tmp/hubfs" ./cmd/hubfs
go build -o "$tmp/hubs" ./bench/hubs

if [ -n "${HUBFS_TEST_POSTGRES:-}" ]; then
  base=$HUBFS_TEST_POSTGRES
else
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -x "$pgbin/initdb" ] || { echo "hubs.sh: no PostgreSQL server binaries (apt-get install postgresql), and HUBFS_TEST_POSTGRES is unset" >&2; exit 1; }
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/hubfs-bench-pg.XXXXXX")
  chown postgres "$pgdir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  su postgres -s /bin/sh -c "'$pgbin/initdb' -D '$pgdir/data' -A trust -U postgres" >"$pgdir/initdb.log" ||
    { cat "$pgdir/initdb.log" >&2; exit 1; }
  # Debian's defaults otherwise: fsync and synchronous_commit on.
  su postgres -s /bin/sh -c "'$pgbin/pg_ctl' -D '$pgdir/data' -l '$pgdir/server.log' -w -o \"-c listen_addresses=127.0.0.1 -p $port -k '$pgdir'\" start" >/dev/null ||
    { cat "$pgdir/server.log" >&2; exit 1; }
  base="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
fi
db=hubfs_bench_$$
psql "$base" -qc "CREATE DATABASE $db"
url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(u.urlunparse(p._replace(path="/" + sys.argv[2])))' "$base" "$db")
# In the background, so that a signal to this script is handled at once, not after the run.
"$tmp/hubs" -hubfs "$tmp/hubfs" -postgres "$url" "$@" &
prog=$!
status=0
wait "$prog" || status=$?
prog=
exit "$status"
