#!/usr/bin/env bash
# Crypto benchmarks of package identity, before and after a change, in one
# run: Encrypt, Decrypt, Sign and Verify at 256 B to 1 MiB, parsing keys, and
# opening one 1 KiB message as the mount does (parse the sender's key,
# Verify, Decrypt). BASE's identity package is built with this tree's
# bench_test.go, so both sides run the same benchmarks, and the two test
# binaries alternate COUNT times because the machine is shared and noisy.
# With benchstat on PATH (go install golang.org/x/perf/cmd/benchstat@latest)
# the comparison is printed; the raw figures stay in OUT either way.
#
# Usage: bench/crypto.sh [BASE [COUNT [BENCHTIME]]]  (default main, 6, 0.5s)
# Env:   OUT=dir  where before.txt and after.txt go (default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-main} count=${2:-6} benchtime=${3:-0.5s}
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/hubfs-crypto-bench.XXXXXX")}
mkdir -p "$out"
old=$(mktemp -d "${TMPDIR:-/tmp}/hubfs-crypto-base.XXXXXX")
trap 'rm -rf "$old"' EXIT

git archive "$base" | tar -x -C "$old"
cp identity/bench_test.go "$old/identity/"
(cd "$old" && go test -c -o "$out/before.test" ./identity)
go test -c -o "$out/after.test" ./identity
: >"$out/before.txt"
: >"$out/after.txt"
for i in $(seq "$count"); do
	echo "crypto bench: run $i of $count" >&2
	for side in before after; do
		"$out/$side.test" -test.run '^$' -test.bench . -test.benchmem \
			-test.benchtime "$benchtime" -test.count 1 >>"$out/$side.txt"
	done
done
if command -v benchstat >/dev/null; then
	benchstat "$out/before.txt" "$out/after.txt"
else
	echo "crypto bench: benchstat not on PATH; raw figures in $out" >&2
fi
echo "crypto bench: figures in $out" >&2
