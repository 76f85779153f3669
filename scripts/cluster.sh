#!/usr/bin/env bash
# Runs a private Redis and three Herald nodes on loopback, prints their URLs,
# and stops them all on Ctrl-C (or when any of them exits).
#   scripts/cluster.sh [first-port]    (default 8081: nodes on 8081..8083)
set -euo pipefail
cd "$(dirname "$0")/.."

first=${1:-8081}
redis_port=${REDIS_PORT:-6390}
command -v redis-server >/dev/null || { echo "cluster: redis-server is missing (apt-get install -y redis-server)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
stop() {
	trap - INT TERM EXIT
	echo; echo "stopping..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap stop INT TERM EXIT

go build -o "$work/herald" ./cmd/herald

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
	sleep 0.1
done

for i in 1 2 3; do
	port=$((first + i - 1))
	HERALD_ADDR=127.0.0.1:$port HERALD_NODE_ID=node-$i \
		HERALD_REDIS_URL=redis://127.0.0.1:$redis_port/0 HERALD_LOG_FORMAT=console \
		"$work/herald" >"$work/node-$i.log" 2>&1 &
	pids+=($!)
done

for i in 1 2 3; do
	port=$((first + i - 1))
	for _ in $(seq 50); do
		curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	echo "node-$i  http://127.0.0.1:$port/   ws://127.0.0.1:$port/ws   log $work/node-$i.log"
done
echo "redis   redis://127.0.0.1:$redis_port/0"
echo "Ctrl-C stops all of them."
wait -n "${pids[@]}"
echo "a process exited; see the logs above" >&2
