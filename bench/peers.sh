#!/usr/bin/env bash
# hubfs beside its peers, in one run (issue 13, item 7): the same files of
# 1 KiB (PEERS_FILES, default 1000) served by
#   tmpfs      the kernel's own, the reference of every ratio;
#   floor      bench/floor, a minimal go-fuse filesystem serving them from
#              memory (1 h timeouts, FOPEN_KEEP_CACHE, FOPEN_CACHE_DIR,
#              getxattr ENODATA);
#   gocryptfs  Debian's package, default options, cipher dir on local disk;
#   rclone     Debian's package, `rclone mount` of a local directory with
#              the defaults (--vfs-cache-mode off);
#   hubfs      the built binary on its embedded hub (temp XDG dirs, --data),
#              the files sent to itself first through the Go client
#              (bench/peerseed), listed in inbox/;
#   hubfs-noopen  the same with --no-open (inbox/ served on a FUSE
#              connection of its own that the kernel opens files on without
#              asking), its own hub seeded alike.
# Each run times, per system and in an order that rotates run by run (the
# machine is shared and noisy): warm `ls -l`, warm `cat *`, warm
# `grep -c x -r`, then a remount and a cold `cat *` (the FUSE systems' kernel
# caches go with the mount; their backing store stays in the page cache;
# tmpfs has no cold state, its row is a `cat *` like the warm one), then an
# untimed warm-up pass. It prints medians of PEERS_RUNS (default 11) runs with
# their ratios to tmpfs, the FUSE requests per operation of the go-fuse
# systems (go-fuse's debug log, on mounts of their own), and the RSS of the
# hubfs mount with 1,000, 10,000 and 100,000 messages listed and read
# (PEERS_RSS; 100,000 stored straight into the hub's database).
# Root, /dev/fuse, loopback only. Everything is under one temp dir, unmounted
# and removed on exit; PEERS_BUDGET (default 600 s) bounds the run.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${PEERS_FILES:-1000}
RUNS=${PEERS_RUNS:-11}
RSS_SIZES=${PEERS_RSS:-1000 10000 100000}
BUDGET=${PEERS_BUDGET:-600}
SYSTEMS=(tmpfs floor gocryptfs rclone hubfs hubfs-noopen)

[ "$(id -u)" = 0 ] || { echo "peers.sh: run as root (mounts, tmpfs)" >&2; exit 1; }
if ! command -v gocryptfs >/dev/null || ! command -v rclone >/dev/null; then
	apt-get install -y gocryptfs rclone >/dev/null
fi

work=$(mktemp -d /tmp/peers.XXXXXX)
declare -A PID # the FUSE server of each system mounted, by name
cleanup() {
	trap - EXIT INT TERM
	[ -n "${watchdog:-}" ] && kill "$watchdog" 2>/dev/null
	for m in "$work"/mnt/* "$work"/rss/*/mnt; do
		[ -d "$m" ] && mountpoint -q "$m" && { umount -R "$m" 2>/dev/null || umount -l "$m"; }
	done
	for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "peers.sh: stopped" >&2; exit 1' INT TERM
(
	trap 'kill "$sp"; exit' TERM
	sleep "$BUDGET" &
	sp=$!
	wait "$sp"
	echo "peers.sh: over the ${BUDGET}s budget, stopping" >&2
	kill -TERM $$
) &
watchdog=$!

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

log "building into $work/bin"
go build -o "$work/bin/hubfs" ./cmd/hubfs
go build -o "$work/bin/floor" ./bench/floor
go build -o "$work/bin/peerseed" ./bench/peerseed

# The files: base64 text (so grep has lines and x's), 1 KiB each.
mkdir -p "$work/src" "$work/mnt"
{ base64 -w 63 </dev/urandom || true; } | head -c $((FILES * 1024)) | split -b 1024 -a 6 -d - "$work/src/m"
echo pw >"$work/pass"

waitmount() { # dir: until it is a mountpoint (10 s at most)
	for _ in $(seq 200); do mountpoint -q "$1" && return 0; sleep 0.05; done
	echo "peers.sh: $1 did not mount" >&2; return 1
}
waitexit() { # pid: until it has exited (10 s at most)
	for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
	echo "peers.sh: pid $1 did not exit" >&2; return 1
}

# dir of each system: where its files are listed.
dir() { case $1 in hubfs*) echo "$work/mnt/$1/inbox" ;; *) echo "$work/mnt/$1" ;; esac; }

hubenv() { # prefix: the XDG dirs of a hubfs instance
	env XDG_CONFIG_HOME="$1/config" XDG_STATE_HOME="$1/state" XDG_CACHE_HOME="$1/cache" XDG_DATA_HOME="$1/share" "${@:2}"
}
hubmount() { # prefix mnt [flags...]: mount hubfs, print its pid
	local out
	out=$(hubenv "$1" "$work/bin/hubfs" mount --daemon --data "$1/data" --listen 127.0.0.1:0 "${@:3}" "$2" 2>&1) ||
		{ echo "$out" >&2; return 1; }
	sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$out" | head -1
}

# mount sys [debuglog]: mount it (with go-fuse's debug log to debuglog).
mount_sys() {
	local m="$work/mnt/$1" dbg=${2:-}
	mkdir -p "$m"
	case $1 in
	tmpfs) mount -t tmpfs -o size=$((FILES * 8 + 64))k tmpfs "$m" && cp "$work/src/"* "$m/" ;;
	floor)
		if [ -n "$dbg" ]; then "$work/bin/floor" -src "$work/src" -debug "$m" 2>"$dbg" &
		else "$work/bin/floor" -src "$work/src" "$m" & fi
		PID[$1]=$!
		waitmount "$m"
		;;
	gocryptfs)
		if [ ! -e "$work/gocryptfs.cipher/gocryptfs.conf" ]; then
			mkdir -p "$work/gocryptfs.cipher"
			gocryptfs -init -q -passfile "$work/pass" "$work/gocryptfs.cipher"
			gocryptfs -q -nosyslog -passfile "$work/pass" "$work/gocryptfs.cipher" "$m"
			cp "$work/src/"* "$m/"
			umount "$m"
		fi
		if [ -n "$dbg" ]; then gocryptfs -fg -fusedebug -nosyslog -q -passfile "$work/pass" "$work/gocryptfs.cipher" "$m" >"$dbg" 2>&1 &
		else gocryptfs -fg -nosyslog -q -passfile "$work/pass" "$work/gocryptfs.cipher" "$m" & fi
		PID[$1]=$!
		waitmount "$m"
		;;
	rclone)
		if [ ! -d "$work/rclone.back" ]; then mkdir "$work/rclone.back" && cp "$work/src/"* "$work/rclone.back/"; fi
		: >"$work/rclone.conf"
		rclone mount --config "$work/rclone.conf" --cache-dir "$work/rclone.cache" "$work/rclone.back" "$m" 2>>"$work/rclone.log" &
		PID[$1]=$!
		waitmount "$m"
		;;
	hubfs | hubfs-noopen)
		# Each its own hub and identity, seeded alike; hubfs-noopen is the
		# same mount with --no-open (inbox/ on a connection of its own).
		local h="$work/$1" flags=()
		[ "$1" = hubfs-noopen ] && flags=(--no-open)
		if [ ! -d "$h/data" ]; then
			mkdir -p "$h"
			"$work/bin/peerseed" -data "$h/data" -identity "$h/config/hubfs/identity" -src "$work/src" -n "$FILES" 2>&1 | sed 's/^/  /' >&2
		fi
		if [ -n "$dbg" ]; then PID[$1]=$(hubmount "$h" "$m" "${flags[@]}" --debug --log-file "$dbg")
		else PID[$1]=$(hubmount "$h" "$m" "${flags[@]}"); fi
		;;
	esac
}

umount_sys() {
	local m="$work/mnt/$1"
	if [ "$1" = tmpfs ]; then umount "$m"; return; fi
	# --no-open's boxes are mounts on top of the mount: -R takes them first.
	if [ "$1" = hubfs-noopen ]; then umount -R "$m"; else umount "$m"; fi
	[ -n "${PID[$1]:-}" ] && waitexit "${PID[$1]}"
	unset "PID[$1]"
}

# run sys op: the operation, output to a file (grep stops at the first match
# when its output is /dev/null).
run() {
	local d
	d=$(dir "$1")
	case $2 in
	ls) ls -l "$d" >"$work/out" ;;
	cat | cold) (cd "$d" && cat -- * >"$work/out") ;;
	grep) grep -c x -r "$d" >"$work/out" ;;
	esac
}
timed() { # sys op: run it, append its ms to $work/t/sys.op
	local t0 t1
	t0=$(date +%s%N)
	run "$1" "$2"
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000))" >>"$work/t/$1.$2"
}
warmup() { run "$1" ls; run "$1" cat; run "$1" grep; }

mkdir -p "$work/t"
log "mounting and warming up ${SYSTEMS[*]} ($FILES files)"
for s in "${SYSTEMS[@]}"; do mount_sys "$s"; warmup "$s"; done
for s in hubfs hubfs-noopen; do
	[ "$(ls "$(dir $s)" | wc -l)" = "$FILES" ] || { echo "peers.sh: $s lists $(ls "$(dir $s)" | wc -l), not $FILES" >&2; exit 1; }
done

log "$RUNS runs, systems in rotating order"
n=${#SYSTEMS[@]}
for r in $(seq 0 $((RUNS - 1))); do
	for i in $(seq 0 $((n - 1))); do
		s=${SYSTEMS[$(((i + r) % n))]}
		timed "$s" ls
		timed "$s" cat
		timed "$s" grep
		if [ "$s" != tmpfs ]; then umount_sys "$s"; mount_sys "$s"; fi
		timed "$s" cold
		warmup "$s"
	done
	log "run $((r + 1)) of $RUNS done"
done

# The RSS of the timed hubfs mount: 1,000 listed and read, many times over.
declare -A RSS
RSS[$FILES]=$(awk '/VmRSS/ {print $2}' "/proc/${PID[hubfs]}/status")

median() { sort -n "$1" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ms() { awk -v us="$1" 'BEGIN {printf (us < 100000 ? "%.1f ms" : "%.0f ms"), us / 1000}'; }
table() {
	printf '\n| %s files of 1 KiB, medians of %s | %s |\n' "$FILES" "$RUNS" "$(IFS='|'; echo "${SYSTEMS[*]}" | sed 's/|/ | /g')"
	printf '|---|%s\n' "$(for _ in "${SYSTEMS[@]}"; do printf -- '---:|'; done)"
	for op in ls cat grep cold; do
		case $op in
		ls) label='warm `ls -l`' ;; cat) label='warm `cat *`' ;;
		grep) label='warm `grep -c x -r`' ;; cold) label='cold `cat *` after mount' ;;
		esac
		local base
		base=$(median "$work/t/tmpfs.$op")
		printf '| %s |' "$label"
		for s in "${SYSTEMS[@]}"; do
			local m
			m=$(median "$work/t/$s.$op")
			if [ "$s" = tmpfs ]; then printf ' %s |' "$(ms "$m")"
			else printf ' %s (%sx) |' "$(ms "$m")" "$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')"; fi
		done
		echo
	done
}
table | tee "$work/table.md"

# FUSE requests per operation, on debug mounts (slower; not timed).
requests() { # sys op log: run op, wait for the log to settle, print the count and the top opcodes
	local before after
	before=$(wc -l <"$3")
	run "$1" "$2"
	after=-1
	for _ in $(seq 30); do
		sleep 0.1
		local now
		now=$(wc -l <"$3")
		[ "$now" = "$after" ] && break
		after=$now
	done
	local ops
	ops=$(tail -n +$((before + 1)) "$3" | grep -o 'rx [0-9]*: [A-Z_]*' | awk '{print $3}' | sort | uniq -c | sort -rn)
	printf '%d' "$(awk '{t += $1} END {print t + 0}' <<<"$ops")"
	[ -n "$ops" ] && printf ' (%s)' "$(head -5 <<<"$ops" | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')"
	return 0
}
log "counting FUSE requests on debug mounts"
echo
echo "| FUSE requests, $FILES files | warm \`ls -l\` | warm \`cat *\` | warm \`grep -c x -r\` | cold \`cat *\` |"
echo "|---|---|---|---|---|"
for s in floor gocryptfs hubfs hubfs-noopen; do
	umount_sys "$s"
	dbg="$work/$s.debug.log"
	mount_sys "$s" "$dbg"
	warmup "$s"
	row="| $s | $(requests "$s" ls "$dbg") | $(requests "$s" cat "$dbg") | $(requests "$s" grep "$dbg")"
	umount_sys "$s"
	mount_sys "$s" "$dbg"
	echo "$row | $(requests "$s" cold "$dbg") |"
	umount_sys "$s"
done | tee "$work/requests.md"

# RSS of the hubfs mount with more messages: a fresh hub each, sent through
# the Go client (10,000) or stored directly (100,000), then mounted, listed
# and read whole.
for size in $RSS_SIZES; do
	[ "$size" = "$FILES" ] && continue
	h="$work/rss/$size"
	mkdir -p "$h/mnt"
	direct=
	[ "$size" -gt 20000 ] && direct=-direct
	log "RSS at $size messages: seeding ${direct:-through the client}"
	"$work/bin/peerseed" -data "$h/data" -identity "$h/config/hubfs/identity" -src "$work/src" -n "$size" $direct 2>&1 | sed 's/^/  /' >&2
	t0=$(date +%s%N)
	PID[rss$size]=$(hubmount "$h" "$h/mnt")
	ls -l "$h/mnt/inbox" >/dev/null
	t1=$(date +%s%N)
	grep -c x -r "$h/mnt/inbox" >"$work/out"
	t2=$(date +%s%N)
	RSS[$size]=$(awk '/VmRSS/ {print $2}' "/proc/${PID[rss$size]}/status")
	log "  mount + ls -l $(((t1 - t0) / 1000000)) ms, cold grep -r $(((t2 - t1) / 1000000)) ms, RSS ${RSS[$size]} KiB"
	umount "$h/mnt"
	waitexit "${PID[rss$size]}"
	unset "PID[rss$size]"
done
echo
echo "| hubfs mount RSS, messages listed and read | $(for k in $(printf '%s\n' "${!RSS[@]}" | sort -n); do printf '%s | ' "$k"; done)"
echo "|---|$(for _ in "${!RSS[@]}"; do printf -- '---:|'; done)"
echo "| VmRSS | $(for k in $(printf '%s\n' "${!RSS[@]}" | sort -n); do awk -v k="${RSS[$k]}" 'BEGIN {printf "%.1f MiB | ", k / 1024}'; done)"
log "done in ${SECONDS}s"
