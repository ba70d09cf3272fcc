#!/usr/bin/env bash
# Benchmarks of the self-hosted hub (hubd) on loopback: SendMessage and
# ListInboxMessages with 1,000 and 10,000 messages already stored. The store
# is SQLite with synchronous=FULL in a temporary directory, so SendMessage
# includes an fsync. Figures go to stdout; docs/protocol.md explains the setup.
#
# Usage: bench/hubd.sh [BENCHTIME]   (default 3s)
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'SendMessage|ListInboxMessages' -benchmem -benchtime "${1:-3s}" ./hubd/
