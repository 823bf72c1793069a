#!/usr/bin/env bash
# tls-peers.sh — TLS termination, mosnctl against nginx, on loopback.
#
# Both serve a 3-byte direct answer over TLS with the same ECDSA P-256
# certificate (made here), X25519 first, session tickets issued as both do
# by default, 2 workers each (GOMAXPROCS=2, worker_processes 2).
# Alternating rounds of:
#   keep-alive   wrk -t2 -c50: HTTP/1.1 requests on kept-alive TLS 1.3 connections
#   handshakes   mosnctl bench -c50 with "Connection: close": a full TLS 1.3
#                handshake per request (the client resumes no session)
# Prints the median of each, and the server's CPU per operation (from /proc,
# all its processes), which moves less than req/s on a busy host.
#
#   scripts/tls-peers.sh [--rounds N (5)] [--duration S (5)] [--bin bin/mosnctl]
set -euo pipefail
rounds=5 duration=5 bin=bin/mosnctl
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--bin) bin=$2; shift 2 ;;
	*) echo "tls-peers.sh: unknown flag $1" >&2; exit 2 ;;
	esac
done
for c in nginx wrk openssl; do command -v $c >/dev/null || { echo "tls-peers.sh: needs $c" >&2; exit 2; }; done
[ -x "$bin" ] || { echo "tls-peers.sh: $bin not built (make build)" >&2; exit 2; }
bin=$(realpath "$bin")

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 2;
daemon off;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  server {
    listen 127.0.0.1:18443 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1;
    location / { return 200 "ok\n"; }
  }
}
CONF
cat >"$work/mosnctl.json" <<CONF
{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"],
      "routers": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": "ok\n"}}]}]}],
    "listeners": [{"name": "tls", "address": "127.0.0.1:18444",
      "filter_chains": [{"tls_context": {"status": true, "cert_chain": "$work/cert.pem", "private_key": "$work/key.pem",
        "ecdh_curves": "x25519,p256"},
        "filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }]
}
CONF

wait_port() {
	for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
	echo "tls-peers.sh: nothing listens on 127.0.0.1:$1" >&2; return 1
}
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
GOMAXPROCS=2 "$bin" serve -c "$work/mosnctl.json" --admin-address off >"$work/mosnctl.log" 2>&1 &
mpid=$!
pids+=($mpid)
wait_port 18443
wait_port 18444 || { cat "$work/mosnctl.log" >&2; exit 1; }
npids=$(pgrep -d' ' -f "nginx -c $work/nginx/nginx.conf"; pgrep -d' ' -P "$(pgrep -f "nginx -c $work/nginx/nginx.conf" | head -1)" || true)

# cpu PID...: user+system ticks of the processes.
cpu() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
hz=$(getconf CLK_TCK)

declare -A ka hs kacpu hscpu
for r in $(seq 1 "$rounds"); do
	for name in nginx mosnctl; do
		if [ $name = nginx ]; then port=18443 procs=$npids; else port=18444 procs=$mpid; fi
		c0=$(cpu $procs)
		out=$(wrk -t2 -c50 -d"${duration}s" "https://127.0.0.1:$port/" 2>&1)
		c1=$(cpu $procs)
		n=$(awk '/requests in/{print $1}' <<<"$out")
		ka[$name]+="$(awk '/Requests\/sec/{print $2}' <<<"$out") "
		kacpu[$name]+="$(awk -v c=$((c1 - c0)) -v n="$n" -v hz="$hz" 'BEGIN{printf "%.1f", c/hz*1e6/n}') "
		c0=$(cpu $procs)
		out=$("$bin" bench -k -c 50 -d "${duration}s" -H "Connection: close" -o json "https://127.0.0.1:$port/" 2>/dev/null)
		c1=$(cpu $procs)
		rps=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests_per_second"] if "requests_per_second" in d else d["rps"])' <<<"$out")
		n=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("requests", d.get("completed", 0)))' <<<"$out")
		hs[$name]+="$rps "
		hscpu[$name]+="$(awk -v c=$((c1 - c0)) -v n="$n" -v hz="$hz" 'BEGIN{printf "%.0f", c/hz*1e6/n}') "
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
printf '%-8s %14s %14s %14s %16s\n' server "keep-alive/s" "µs CPU/req" "handshakes/s" "µs CPU/handshake"
for name in nginx mosnctl; do
	printf '%-8s %14.0f %14s %14.0f %16s\n' $name "$(median <<<"${ka[$name]}")" "$(median <<<"${kacpu[$name]}")" \
		"$(median <<<"${hs[$name]}")" "$(median <<<"${hscpu[$name]}")"
done
echo "($rounds alternating rounds of ${duration}s, medians; wrk -t2 -c50 keep-alive, mosnctl bench -c50 Connection: close)"
