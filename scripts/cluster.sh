#!/usr/bin/env bash
# Runs a private Redis and three Herald nodes on loopback, waits until each
# node answers /healthz before printing its URL, and stops them all on
# Ctrl-C. A node that dies (or never becomes healthy) is named, everything
# is stopped, and the logs are kept: the script prints where.
#
#   scripts/cluster.sh            (make cluster builds first, then runs this)
#
# Environment:
#   BASE_PORT       the first node's port; nodes on BASE_PORT..+2 (8081)
#   REDIS_PORT      the private Redis's port (6390)
#   HEALTH_TIMEOUT  seconds each node, and Redis, may take to start (30)
#   LOG_DIR         where the logs go (a new temporary directory, removed
#                   after a clean Ctrl-C and kept otherwise)
#   BINARY          a herald binary to run (default: make build, into LOG_DIR)
#
# Sourced (for its tests), it only defines its functions.
set -euo pipefail

nodes=3
pids=()
names=()
logs=""
remove_logs=false

# wait_healthy URL PID TIMEOUT returns 0 once URL/healthz answers 200, 1
# when the process PID has exited first, 2 when TIMEOUT seconds passed.
wait_healthy() {
	local url=$1 pid=$2 timeout=$3
	local deadline=$((SECONDS + timeout))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		if curl -fs --max-time 1 "$url/healthz" >/dev/null 2>&1; then
			return 0
		fi
		if ((SECONDS >= deadline)); then
			return 2
		fi
		sleep 0.1
	done
}

# wait_redis PORT PID TIMEOUT is wait_healthy for Redis: a PING answered.
wait_redis() {
	local port=$1 pid=$2 timeout=$3
	local deadline=$((SECONDS + timeout))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		if redis-cli -p "$port" ping >/dev/null 2>&1; then
			return 0
		fi
		if ((SECONDS >= deadline)); then
			return 2
		fi
		sleep 0.1
	done
}

# stop CODE stops every process started, waits for them, and exits with
# CODE; the logs are kept unless the stop was a clean Ctrl-C.
stop() {
	local code=$1
	trap - INT TERM
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [[ $code == 0 && $remove_logs == true ]]; then
		rm -rf "$logs"
	elif [[ -n $logs ]]; then
		echo "logs kept in $logs" >&2
	fi
	exit "$code"
}

# failed NAME WHY says what went wrong with NAME, shows the end of its
# log, and stops everything.
failed() {
	local name=$1 why=$2
	echo "cluster: $name $why; its log: $logs/$name.log" >&2
	tail -n 20 "$logs/$name.log" >&2 || true
	stop 1
}

# started NAME PID WAIT_RESULT reports on a process waited for.
started() {
	local name=$1 pid=$2 result=$3
	case $result in
	0) ;;
	1)
		local status=0
		wait "$pid" || status=$?
		failed "$name" "(pid $pid) exited with status $status before it was ready"
		;;
	*) failed "$name" "(pid $pid) was not ready within ${HEALTH_TIMEOUT:-30}s" ;;
	esac
}

# start NAME COMMAND... runs COMMAND in the background, its output in
# NAME's log, and remembers it.
start() {
	local name=$1
	shift
	"$@" >"$logs/$name.log" 2>&1 &
	pids+=($!)
	names+=("$name")
}

# watch waits for the first process to end, names it and stops the rest.
watch() {
	local dead="" status=0 i
	wait -n -p dead "${pids[@]}" || status=$?
	for i in "${!pids[@]}"; do
		if [[ ${pids[$i]} == "$dead" ]]; then
			failed "${names[$i]}" "(pid $dead) exited with status $status"
		fi
	done
	failed "a process" "exited with status $status"
}

main() {
	cd "$(dirname "$0")/.."
	local base=${BASE_PORT:-8081} redis_port=${REDIS_PORT:-6390} timeout=${HEALTH_TIMEOUT:-30}
	local tool
	for tool in redis-server redis-cli curl; do
		command -v "$tool" >/dev/null || {
			echo "cluster: $tool is missing (Debian/Ubuntu: apt-get install -y redis-server curl)" >&2
			exit 1
		}
	done
	if [[ -n ${LOG_DIR:-} ]]; then
		logs=$LOG_DIR
		mkdir -p "$logs"
	else
		logs=$(mktemp -d "${TMPDIR:-/tmp}/herald-cluster.XXXXXX")
		remove_logs=true
	fi
	trap 'echo; echo "stopping..."; stop 0' INT
	trap 'stop 0' TERM

	local bin=${BINARY:-}
	if [[ -z $bin ]]; then
		make -s build BIN="$logs"
		bin=$logs/herald
	fi

	start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$logs"
	local result=0
	wait_redis "$redis_port" "${pids[0]}" "$timeout" || result=$?
	started redis "${pids[0]}" "$result"

	local i port
	for ((i = 1; i <= nodes; i++)); do
		port=$((base + i - 1))
		start "node-$i" env HERALD_ADDR="127.0.0.1:$port" HERALD_NODE_ID="node-$i" \
			HERALD_REDIS_URL="redis://127.0.0.1:$redis_port/0" HERALD_LOG_FORMAT=console "$bin"
	done
	for ((i = 1; i <= nodes; i++)); do
		port=$((base + i - 1))
		result=0
		wait_healthy "http://127.0.0.1:$port" "${pids[$i]}" "$timeout" || result=$?
		started "node-$i" "${pids[$i]}" "$result"
		echo "node-$i  http://127.0.0.1:$port/   ws://127.0.0.1:$port/ws   pid ${pids[$i]}   log $logs/node-$i.log"
	done
	echo "redis   redis://127.0.0.1:$redis_port/0   pid ${pids[0]}   log $logs/redis.log"
	echo "Ctrl-C stops all of them."
	watch
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
