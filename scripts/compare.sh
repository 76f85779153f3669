#!/usr/bin/env bash
# Runs Herald and Centrifugo v6 side by side through the same herald-bench
# scenarios on loopback: one server at a time, started fresh for every run,
# history off and per-address limits off on both. Prints one Markdown table
# row per run; the JSON reports and logs stay in the work folder with
# --keep.
#
#   scripts/compare.sh [--quick] [--scenarios LIST] [--servers LIST] [--runs N]
#                      [--duration D] [--rate-duration D] [--hold D] [--drain D]
#                      [--publishers N] [--keep]
#
#   --scenarios  comma-separated, default all: idle,fanout-10k,fanout-1k,topics-100,rate-2
#       idle        19,000 subscribed connections over 100 topics, held; RSS per connection
#       fanout-10k  10,000 subscribers, 1 topic, max rate, --publishers closed-loop publishers
#       fanout-1k   1,000 subscribers, 1 topic, max rate
#       topics-100  10,000 subscribers over 100 topics, max rate
#       rate-2      2 messages/s in all to 10,000 subscribers of 1 topic
#   --servers    comma-separated, default herald,centrifugo
#   --quick      a smoke run: publish 2s (rate-2: 4s), hold 5s, drain 5s
#   defaults     publish 5s, rate-2 10s, hold two heartbeats plus 5s, drain 5s, 4 publishers
#
# Environment: CENTRIFUGO_VERSION (default v6.9.1) is built with
# "go install"; CENTRIFUGO_BIN uses that binary instead.
set -euo pipefail
cd "$(dirname "$0")/.."

all_scenarios=idle,fanout-10k,fanout-1k,topics-100,rate-2
scenarios=$all_scenarios
servers=herald,centrifugo
runs=1
duration=5s
rate_duration=10s
hold=0s # herald-bench's default: two heartbeats plus 5 s
drain=5s
publishers=4
keep=0
cf_version=${CENTRIFUGO_VERSION:-v6.9.1}
api_key=compare-$RANDOM$RANDOM

die() { echo "compare: $*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--quick) duration=2s rate_duration=4s hold=5s drain=5s ;;
		--scenarios) scenarios=${2:?}; shift ;;
		--servers) servers=${2:?}; shift ;;
		--runs) runs=${2:?}; shift ;;
		--duration) duration=${2:?}; shift ;;
		--rate-duration) rate_duration=${2:?}; shift ;;
		--hold) hold=${2:?}; shift ;;
		--drain) drain=${2:?}; shift ;;
		--publishers) publishers=${2:?}; shift ;;
		--keep) keep=1 ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done
	for s in ${scenarios//,/ }; do
		[[ ",$all_scenarios," == *",$s,"* ]] || die "unknown scenario $s (want some of $all_scenarios)"
	done
	for s in ${servers//,/ }; do
		[[ $s == herald || $s == centrifugo ]] || die "unknown server $s (want herald, centrifugo)"
	done
	command -v jq >/dev/null || die "jq is missing (apt-get install -y jq)"
}

# build puts herald, herald-bench and centrifugo into $work. Herald is
# built from a copy of the commit checked out (git archive), not from the
# working tree, so that the figures belong to a commit.
build() {
	local src=$work/src
	mkdir "$src"
	git archive HEAD | tar -x -C "$src"
	echo "building herald and herald-bench at $(git rev-parse HEAD)" >&2
	(cd "$src" && go build -o "$work/herald" ./cmd/herald && go build -o "$work/herald-bench" ./cmd/herald-bench)
	[[ ",$servers," == *,centrifugo,* ]] || return 0
	if [ -n "${CENTRIFUGO_BIN:-}" ]; then
		cp "$CENTRIFUGO_BIN" "$work/centrifugo"
		return
	fi
	echo "building centrifugo $cf_version (go install)" >&2
	# The release build stamps its version this way; go install alone
	# reports 0.0.0 and warns of a development build.
	GOBIN=$work go install \
		-ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=${cf_version#v}" \
		"github.com/centrifugal/centrifugo/v6@$cf_version"
}

# free_port prints a loopback port nothing listens on, below the
# ephemeral range so that no client socket takes it meanwhile.
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free loopback port found"
}

# centrifugo_config writes Centrifugo's settings for port: memory engine,
# no history, anonymous clients may connect without a token and subscribe
# to any channel without a namespace, HTTP API with a key, no connection
# limits, nothing sent anywhere (usage stats off).
centrifugo_config() {
	cat <<EOF
{
  "http_server": {"address": "127.0.0.1", "port": $1},
  "log": {"level": "warn"},
  "engine": {"type": "memory"},
  "usage_stats": {"disabled": true},
  "http_api": {"key": "$api_key"},
  "client": {
    "allow_anonymous_connect_without_token": true,
    "connection_limit": 0,
    "user_connection_limit": 0,
    "connection_rate_limit": 0
  },
  "channel": {
    "without_namespace": {
      "allow_subscribe_for_client": true,
      "allow_subscribe_for_anonymous": true,
      "history_size": 0
    }
  }
}
EOF
}

# start_server starts server $1 on a free port and sets server_pid and
# server_url once it accepts connections.
start_server() {
	local port log=$work/$1-$2.log
	port=$(free_port)
	case $1 in
	herald)
		HERALD_ADDR=127.0.0.1:$port HERALD_API_KEYS=$api_key HERALD_HISTORY_SIZE=0 \
			HERALD_MAX_CONNECTIONS_PER_IP=0 HERALD_CONNECT_RATE_PER_IP=0 HERALD_COMMAND_RATE_PER_IP=0 \
			HERALD_LOG_LEVEL=warn HERALD_SHUTDOWN_TIMEOUT=2s \
			"$work/herald" >"$log" 2>&1 &
		server_url=ws://127.0.0.1:$port/ws
		;;
	centrifugo)
		centrifugo_config "$port" >"$work/centrifugo.json"
		"$work/centrifugo" --config "$work/centrifugo.json" >"$log" 2>&1 &
		server_url=ws://127.0.0.1:$port/connection/websocket
		;;
	esac
	server_pid=$!
	wait_listening "$port" "$log"
}

wait_listening() {
	for _ in $(seq 100); do
		kill -0 "$server_pid" 2>/dev/null || die "the server exited; see $2: $(tail -3 "$2")"
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return
		fi
		sleep 0.1
	done
	die "the server does not listen on $1 after 10s; see $2"
}

# stop_server ends the server it started: TERM, then KILL after 15 s.
stop_server() {
	[ -n "${server_pid:-}" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# scenario_args prints herald-bench's arguments for scenario $1.
scenario_args() {
	local pubs="--publishers $publishers --duration $duration --drain $drain"
	case $1 in
	idle) echo "idle --conns 19000 --topics 100 --hold $hold" ;;
	fanout-10k) echo "fanout --conns 10000 --topics 1 $pubs" ;;
	fanout-1k) echo "fanout --conns 1000 --topics 1 $pubs" ;;
	topics-100) echo "fanout --conns 10000 --topics 100 $pubs" ;;
	rate-2) echo "fanout --conns 10000 --topics 1 --publishers 1 --rate 2 --duration $rate_duration --drain $drain" ;;
	esac
}

# run_one runs scenario $1 against a fresh server $2 (run $3) and prints
# its row.
run_one() {
	local base=$work/$1-$2-$3 args load
	args=$(scenario_args "$1")
	# The machine's load before the run: anything else running on these
	# cores moves the figures, and the row should say so.
	load=$(cut -d' ' -f1 /proc/loadavg)
	start_server "$2" "$1-$3"
	echo "  herald-bench $args --server $2 --url $server_url --api-key \$KEY --server-pid \$PID" >&2
	# shellcheck disable=SC2086 # args is a list of words on purpose
	"$work/herald-bench" $args --server "$2" --url "$server_url" --api-key "$api_key" \
		--server-pid "$server_pid" >"$base.json" 2>"$base.log" || true
	stop_server
	if [ ! -s "$base.json" ]; then
		echo "| $1 | $2 | no report: $(tail -1 "$base.log") | | | | | | | | $load |"
		return
	fi
	row "$1" "$2" "$load" <"$base.json"
}

# row turns one JSON report into a table row.
row() {
	jq -r --arg sc "$1" --arg sv "$2" --arg load "$3" '
	def n(d): if . == null then "—" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
	def mib: if . == null then "—" else (. / 1024 | n(1)) end;
	def notes: [
		(if .closed_by_server > 0 then "\(.closed_by_server) closed by server" else empty end),
		(if (.publish_errors // 0) > 0 then "\(.publish_errors) publishes failed" else empty end),
		(if .connect_errors > 0 then "\(.connect_errors) connects failed" else empty end),
		(if .reply_errors > 0 then "\(.reply_errors) error replies" else empty end),
		(.error_kinds // {} | to_entries | map("\(.key)=\(.value)") | join(" ") | select(. != ""))
	] | join(", ");
	if .scenario == "idle" then
		"| \($sc) | \($sv) | — | — | — | — | alive \(.alive // 0) of \(.conns) | \(.server_rss_end_kib | mib) | \(.rss_per_conn_held_bytes | n(0)) (\(.rss_per_conn_bytes | n(0)) subscribed) | \(notes) | \($load) |"
	else
		"| \($sc) | \($sv) | \(.published_per_s // 0 | n(0)) | \(.delivered_per_s // 0 | n(0)) | \(.latency.p50_ms | n(1)) | \(.latency.p99_ms | n(1)) | \(.completeness // 0 | n(6)) | \(.server_rss_end_kib | mib) | \(.rss_per_conn_bytes | n(0)) | \(notes) | \($load) |"
	end'
}

header() {
	echo "| scenario | server | published/s | delivered/s | p50 ms | p99 ms | completeness | server RSS at end, MiB | RSS per connection, bytes | notes | load before |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
}

cleanup() {
	trap - INT TERM EXIT
	stop_server
	if [ "$keep" = 1 ]; then
		echo "reports, logs and commands kept in $work" >&2
	else
		rm -rf "$work"
	fi
}

main() {
	parse_args "$@"
	work=$(mktemp -d)
	server_pid=
	trap cleanup INT TERM EXIT
	build
	echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); publishing $duration (rate-2: $rate_duration), drain $drain, hold $hold (0s: two heartbeats plus 5s)" >&2
	header
	for sc in ${scenarios//,/ }; do
		for run in $(seq "$runs"); do
			for sv in ${servers//,/ }; do
				echo "running $sc against $sv (run $run of $runs)" >&2
				run_one "$sc" "$sv" "$run"
			done
		done
	done
}

main "$@"
