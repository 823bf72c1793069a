#!/usr/bin/env bash
# sidebyside.sh — mosnctl bench against wrk (HTTP/1.1) and h2load (h2c) on
# the same origin, in alternating rounds, reporting medians of requests/s
# and of the CPU (user+sys) each load generator used per request.
#
# Usage: internal/bench/sidebyside.sh [--rounds N (5)] [--duration S (5)]
#        [--conns N (50)] [--h2-conns N (10)] [--streams N (10)] [--threads N (1)]
# Needs go, wrk and h2load (Debian: wrk, nghttp2-client). The origin is
# shared/bench/backend (beside the repository) on 127.0.0.1:18080.
# Numbers from a shared or loaded machine are noisy: compare within one run.
set -euo pipefail

rounds=5 duration=5 conns=50 h2conns=10 streams=10 threads=1
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--h2-conns) h2conns=$2; shift 2 ;;
	--streams) streams=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	*) echo "sidebyside.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
for t in wrk h2load; do
	command -v $t >/dev/null || { echo "sidebyside.sh: $t not installed" >&2; exit 2; }
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
backend_dir=${BACKEND_DIR:-$repo/../shared/bench/backend}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$backend_dir" && go build -o "$work/backend" .)
(cd "$repo" && go build -o "$work/mosnctl" .)
"$work/backend" -addr 127.0.0.1:18080 >"$work/backend.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:18080/

# measure NAME CMD...: runs CMD, appends "rps cpu_seconds" to $work/NAME.
measure() {
	local name=$1; shift
	local out cpu rps
	TIMEFORMAT='%U %S'
	{ time "$@" >"$work/out" 2>/dev/null; } 2>"$work/time"
	cpu=$(awk '{print $1+$2}' "$work/time")
	case "$name" in
	wrk*) rps=$(awk '/Requests\/sec/{print $2}' "$work/out") ;;
	h2load*) rps=$(awk '/^finished in/{print $4}' "$work/out") ;;
	*) rps=$(awk '/^requests\/s/{print $2}' "$work/out") ;;
	esac
	echo "$rps $cpu" >>"$work/$name"
	printf '  %-14s %10.0f req/s  %5.2fs CPU\n' "$name" "$rps" "$cpu"
}

for r in $(seq 1 "$rounds"); do
	echo "round $r"
	measure wrk "wrk" -t"$threads" -c"$conns" -d"${duration}s" "$url"
	measure mosnctl-http1 "$work/mosnctl" bench --threads "$threads" -c "$conns" -d "${duration}s" "$url"
	measure h2load "h2load" -t"$threads" -c"$h2conns" -m"$streams" -D"$duration" "$url"
	measure mosnctl-h2c "$work/mosnctl" bench --h2 --threads "$threads" -c "$h2conns" --streams "$streams" -d "${duration}s" "$url"
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
printf '%-14s %12s %12s %14s\n' tool "req/s" "CPU s" "CPU µs/req"
for name in wrk mosnctl-http1 h2load mosnctl-h2c; do
	rps=$(awk '{print $1}' "$work/$name" | median)
	cpu=$(awk '{print $2}' "$work/$name" | median)
	per=$(awk -v d="$duration" '{print $2*1e6/($1*d)}' "$work/$name" | median)
	printf '%-14s %12.0f %12.2f %14.2f\n' "$name" "$rps" "$cpu" "$per"
done
# Paired ratios (each round's mosnctl run against the peer run just
# before it) cancel much of the drift of a shared machine.
ratio() { paste "$work/$1" "$work/$2" | awk -v d="$duration" -v k="$3" '{ if (k == "rps") print $3/$1; else print ($4/($3*d))/($2/($1*d)) }' | median; }
echo
printf 'paired medians: HTTP/1.1 mosnctl/wrk req/s %.2f, CPU per request %.2f; h2c mosnctl/h2load req/s %.2f, CPU per request %.2f\n' \
	"$(ratio wrk mosnctl-http1 rps)" "$(ratio wrk mosnctl-http1 cpu)" "$(ratio h2load mosnctl-h2c rps)" "$(ratio h2load mosnctl-h2c cpu)"
echo "(medians of $rounds alternating rounds of ${duration}s; HTTP/1.1 -c $conns, h2c -c $h2conns x $streams streams, $threads thread(s) each)"
