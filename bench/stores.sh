#!/usr/bin/env bash
# Store benchmarks (bench/stores): sends/s with 16 concurrent senders on
# SQLite, PostgreSQL through one node and through two, and the latency from
# a send on one node to its event on the other. Needs a PostgreSQL server:
# HUBFS_TEST_POSTGRES as for the tests (a database is created and dropped).
# Not part of `make test`. Figures (one run) go to stdout as table rows.
#
# Usage: HUBFS_TEST_POSTGRES=postgres://... bench/stores.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HUBFS_TEST_POSTGRES:?set HUBFS_TEST_POSTGRES to a PostgreSQL server URL}"
db=hubfs_bench_$$
psql "$HUBFS_TEST_POSTGRES" -qc "CREATE DATABASE $db"
trap 'psql "$HUBFS_TEST_POSTGRES" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(u.urlunparse(p._replace(path="/" + sys.argv[2])))' "$HUBFS_TEST_POSTGRES" "$db")
go run ./bench/stores -postgres "$url" "$@"
