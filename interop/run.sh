#!/usr/bin/env bash
# Interop test (issues 7 and 12): the official @textile/hub JavaScript clients
# (Users and the ThreadDB Client) against a fresh `hubfs serve`, plus Go <-> JS
# crypto, and mail and thread documents across clients and a real mount.
#
# It builds hubfs and interop/gocrypto, installs the pinned npm packages with
# `npm ci`, starts `hubfs serve` on a free loopback port with a new data
# directory, creates an API key with `hubfs keys create --json`, runs
# `node --test` on interop/js, and stops the server. The exit status is
# node's: 0 only if every step passed (skipped steps are printed, with why).
#
# Usage: interop/run.sh            (from anywhere; needs go, node >= 20, npm)
# Env:   HUBFS_INTEROP_BENCH=1     after a passing test, print JS client latencies (interop/js/bench.mjs)
#        HUBFS_INTEROP_KEEP=1      keep the work directory (server log, data) for a look afterwards
#        HUBFS_INTEROP_NO_NPM_CI=1 reuse interop/js/node_modules as it is (offline reruns)
#        HUBFS_INTEROP_STORE=URL   serve (and create the key in) this store instead of a new
#                                  data directory's, e.g. postgres://USER@HOST:PORT/DB (the
#                                  Makefile's interop target runs once more on $HUBFS_TEST_POSTGRES)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/hubfs-interop.XXXXXX")
bin=$work/bin
data=$work/data
server_pid=
# --store for serve and keys when HUBFS_INTEROP_STORE is set; never printed
# (a URL may hold a password).
store_args=()
if [ -n "${HUBFS_INTEROP_STORE:-}" ]; then
	store_args=(--store "$HUBFS_INTEROP_STORE")
fi

say() { echo "interop: $*" >&2; }

cleanup() {
	local status=$?
	# The mail steps mount on mnt, the threads-as-files steps on mnt-threads.
	for m in "$work/mnt" "$work/mnt-threads"; do
		if [ -d "$m" ] && mountpoint -q "$m" 2>/dev/null; then
			umount "$m" 2>/dev/null || fusermount3 -u "$m" 2>/dev/null || umount -l "$m" || true
		fi
	done
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$server_pid" 2>/dev/null; then
			say "hubfs serve did not stop within 5 s of SIGTERM; killing it"
			kill -KILL "$server_pid" 2>/dev/null || true
		fi
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ "$status" -ne 0 ] && [ -s "$work/serve.log" ]; then
		say "last lines of the hubfs serve log:"
		tail -n 40 "$work/serve.log" >&2
	fi
	if [ "$status" -ne 0 ] && [ -s "$work/mount.log" ]; then
		say "last lines of the hubfs mount log:"
		tail -n 40 "$work/mount.log" >&2
	fi
	if [ "${HUBFS_INTEROP_KEEP:-}" = 1 ]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in go node npm; do
	command -v "$tool" >/dev/null || { say "$tool is not installed"; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
	say "node $(node --version) is too old: the test needs node 20 or later"
	exit 1
fi

say "building hubfs and gocrypto"
mkdir -p "$bin"
(cd "$top" && go build -o "$bin/hubfs" ./cmd/hubfs && go build -o "$bin/gocrypto" ./interop/gocrypto)

if [ "${HUBFS_INTEROP_NO_NPM_CI:-}" != 1 ]; then
	say "npm ci in interop/js"
	(cd "$here/js" && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! "$bin/hubfs" serve --help >/dev/null 2>&1; then
	say "this hubfs has no serve command yet: nothing to test against"
	exit 1
fi

# The hub's default limit, given explicitly because the test checks its edge.
max_message=1048576

# Port 0: the kernel picks a free port and serve prints the address it got
# as its first line on stdout, so there is no window for another process to
# take a port chosen here.
say "starting hubfs serve${HUBFS_INTEROP_STORE:+ on the store of HUBFS_INTEROP_STORE}"
mkdir -p "$data"
"$bin/hubfs" serve --listen 127.0.0.1:0 --data "$data" "${store_args[@]}" --max-message-size "$max_message" >"$work/serve.addr" 2>"$work/serve.log" &
server_pid=$!
addr=
for _ in $(seq 200); do
	addr=$(head -n 1 "$work/serve.addr" 2>/dev/null || true)
	[ -n "$addr" ] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then
		say "hubfs serve exited before it listened"
		exit 1
	fi
	sleep 0.1
done
[ -n "$addr" ] || { say "hubfs serve printed no address within 20 s"; exit 1; }
case $addr in
127.0.0.1:[0-9]*) ;;
*) say "hubfs serve printed $addr, want 127.0.0.1:PORT"; exit 1 ;;
esac
say "hubfs serve is listening on $addr"

say "creating an API key"
keyjson=$("$bin/hubfs" keys create --data "$data" "${store_args[@]}" --json) || { say "hubfs keys create --json failed"; exit 1; }
# Parsed by node so the secret never appears in argv.
key=$(node -e 'const k=JSON.parse(require("fs").readFileSync(0,"utf8")); if(!k.key) throw new Error("no key field"); console.log(k.key)' <<<"$keyjson")
secret=$(node -e 'const k=JSON.parse(require("fs").readFileSync(0,"utf8")); if(!k.secret) throw new Error("no secret field"); console.log(k.secret)' <<<"$keyjson")
(umask 077 && printf '%s\n' "$secret" >"$work/secret")
# A non-signing key for the step that uses one (the hub is on loopback, so
# it takes it); the JSON must say so.
insecurejson=$("$bin/hubfs" keys create --data "$data" "${store_args[@]}" --insecure --json 2>/dev/null) || { say "hubfs keys create --insecure --json failed"; exit 1; }
insecure_key=$(node -e 'const k=JSON.parse(require("fs").readFileSync(0,"utf8")); if(!k.key || k.secret !== "" || k.insecure !== true) throw new Error("not an insecure key: " + Object.keys(k)); console.log(k.key)' <<<"$insecurejson")

say "running node --test"
set +e
(
	cd "$here/js"
	HUBFS_INTEROP_ADDR=$addr \
	HUBFS_INTEROP_KEY=$key \
	HUBFS_INTEROP_SECRET=$secret \
	HUBFS_INTEROP_SECRET_FILE=$work/secret \
	HUBFS_INTEROP_BIN=$bin/hubfs \
	HUBFS_INTEROP_GOCRYPTO=$bin/gocrypto \
	HUBFS_INTEROP_WORK=$work \
	HUBFS_INTEROP_MAX_MESSAGE=$max_message \
	HUBFS_INTEROP_INSECURE_KEY=$insecure_key \
	timeout 900 node --test --test-force-exit --test-reporter=spec interop.test.mjs threads-client.test.mjs threads-files.test.mjs
)
status=$?
if [ "$status" -eq 0 ] && [ "${HUBFS_INTEROP_BENCH:-}" = 1 ]; then
	say "benchmark (HUBFS_INTEROP_BENCH=1)"
	(
		cd "$here/js"
		HUBFS_INTEROP_ADDR=$addr HUBFS_INTEROP_KEY=$key HUBFS_INTEROP_SECRET=$secret \
		HUBFS_INTEROP_SECRET_FILE=$work/secret HUBFS_INTEROP_BIN=$bin/hubfs \
		HUBFS_INTEROP_GOCRYPTO=$bin/gocrypto HUBFS_INTEROP_WORK=$work \
		HUBFS_INTEROP_MAX_MESSAGE=$max_message timeout 600 node bench.mjs
	)
	status=$?
fi
set -e
if [ "$status" -eq 124 ]; then
	say "node --test did not finish within 15 minutes"
fi
exit "$status"
