#!/usr/bin/env bash
# Stagehand and nchan side by side, on the same machine in the same run.
#
#   load-tests/compare.sh            # full sizes (a few minutes)
#   QUICK=1 load-tests/compare.sh    # small sizes, to check the setup
#
# Builds the hub and the harness in release, then runs ROUNDS (default 3) rounds. In each round,
# for each server in turn (never both at once), it starts the server pinned to SERVER_CPU
# (default 0), runs the same scenarios with the load generator pinned to LOADGEN_CPU (default 1)
# and stops it, then runs the floor. Prints every summary, then the side-by-side table with ratios
# (medians over the rounds). JSON reports land in $OUT (default load-tests/results/<date>-<time>/).
#
# Scenarios (sizes overridable through the environment):
#   fanout/cpu       CPU_VIEWERS (5000) viewers × 10 events/s for DURATION (20) s: server CPU µs/delivery
#   fanout/latency   LAT_VIEWERS (2000) viewers × 10 events/s: publish → receive p50/p99
#   fanout/saturate  SAT_VIEWERS (5000) viewers, closed loop (publish as fast as delivered, 8
#                    requests in flight): events/s; first round only
#   idle/idle        IDLE_VIEWERS (10000) idle viewers: server KiB per connection; first round only
#   floor/cpu, floor/latency   no server: one plain write per viewer per event from a thread on
#                    SERVER_CPU, at the sizes of fanout/cpu and fanout/latency. Any server pays at
#                    least this much kernel time per delivery; the table shows it as "floor".
#
# Needs root on Debian for nchan's install (apt-get, done by nchan/run-nchan.sh when missing),
# taskset (util-linux) and curl. Run it on an otherwise idle machine: every report says how much
# CPU other processes used meanwhile ("other processes"), and a figure from a busy machine is not one.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${OUT:-$HERE/results/$(date +%Y%m%d-%H%M%S)}"
SERVER_CPU="${SERVER_CPU:-0}"
LOADGEN_CPU="${LOADGEN_CPU:-1}"
HUB_PORT="${HUB_PORT:-18080}"
NCHAN_PORT="${NCHAN_PORT:-18090}"
if [ -n "${QUICK:-}" ]; then
    : "${CPU_VIEWERS:=500}" "${LAT_VIEWERS:=200}" "${SAT_VIEWERS:=500}" "${IDLE_VIEWERS:=1000}" "${DURATION:=3}" \
        "${ROUNDS:=1}"
fi
CPU_VIEWERS="${CPU_VIEWERS:-5000}"
LAT_VIEWERS="${LAT_VIEWERS:-2000}"
SAT_VIEWERS="${SAT_VIEWERS:-5000}"
IDLE_VIEWERS="${IDLE_VIEWERS:-10000}"
DURATION="${DURATION:-20}"
ROUNDS="${ROUNDS:-3}"
SECRET=compare-secret
API_KEY=compare-key

mkdir -p "$OUT"
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "compare: building (release) into $TARGET_DIR" >&2
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -q -p stagehand -p stagehand-load)
LOAD="$TARGET_DIR/release/stagehand-load"
HUB="$TARGET_DIR/release/stagehand"

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
trap stop_server EXIT

wait_healthy() {
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "compare: the server exited" >&2; return 1; }
        sleep 0.1
    done
    echo "compare: the server on port $1 never became healthy" >&2
    return 1
}

# Wait (up to QUIET_WAIT seconds, default 300) until the machine is idle: no other process using
# more than 10% of a core over a second. The server under test is idle between runs, so anything
# busy now is someone else's (a build, a benchmark) and would distort the next run.
wait_quiet() {
    local waited=0 busy
    while :; do
        busy=$(awk '/^cpu /{b=$2+$3+$4+$7+$8; t=b+$5+$6} END{print b, t}' /proc/stat; sleep 1; \
               awk '/^cpu /{b=$2+$3+$4+$7+$8; t=b+$5+$6} END{print b, t}' /proc/stat)
        # busy share of one core, in percent
        busy=$(echo "$busy" | awk 'NR==1{b=$1;t=$2} NR==2{printf "%d", ($1-b)*100*'"$(nproc)"'/(($2-t)>0?($2-t):1)}')
        [ "$busy" -le 10 ] && return 0
        if [ "$waited" -ge "${QUIET_WAIT:-300}" ]; then
            echo "compare: the machine is still busy (${busy}% of a core); measuring anyway" >&2
            return 0
        fi
        [ "$waited" -eq 0 ] && echo "compare: waiting for the machine to be idle (${busy}% of a core busy)" >&2
        waited=$((waited + 1))
    done
}

# start_server NAME: start Stagehand or nchan pinned to SERVER_CPU and wait until it answers.
start_server() {
    case "$1" in
    stagehand)
        DATA="$(mktemp -d /tmp/stagehand-compare.XXXXXX)"
        taskset -c "$SERVER_CPU" "$HUB" serve --listen "127.0.0.1:$HUB_PORT" --jwt-secret "$SECRET" \
            --api-key "$API_KEY" --data-dir "$DATA/data" --log-format json --connection-rate 1000000 \
            --connection-burst 1000000 >>"$OUT/stagehand.log" 2>&1 &
        SERVER_PID=$!
        wait_healthy "$HUB_PORT"
        FLAGS=(--addr "127.0.0.1:$HUB_PORT" --target stagehand --jwt-secret "$SECRET" --api-key "$API_KEY")
        ;;
    nchan)
        "$HERE/nchan/run-nchan.sh" "$NCHAN_PORT" "$SERVER_CPU" >>"$OUT/nchan.log" 2>&1 &
        SERVER_PID=$!
        wait_healthy "$NCHAN_PORT"
        FLAGS=(--addr "127.0.0.1:$NCHAN_PORT" --target nchan)
        ;;
    esac
    FLAGS+=(--server-pid "$SERVER_PID")
}

# run_round NAME ROUND: one round against one server, started fresh. The first round also
# measures idle memory (first, on the freshly started server: after the fanout runs, the
# allocator hands new connections memory freed by earlier ones and the per-connection figure
# reads low) and saturation; every round measures the two light loads.
run_round() {
    local name="$1" round="$2"
    local load=(taskset -c "$LOADGEN_CPU" "$LOAD")
    echo "== $name on cpu $SERVER_CPU, load generator on cpu $LOADGEN_CPU (round $round of $ROUNDS)" >&2
    start_server "$name"
    if [ "$round" -eq 1 ]; then
        wait_quiet
        "${load[@]}" idle "${FLAGS[@]}" --label idle --viewers "$IDLE_VIEWERS" --settle 3 --hold 5 \
            --json "$OUT/$name-idle.json"
    fi
    wait_quiet
    "${load[@]}" fanout "${FLAGS[@]}" --label cpu --viewers "$CPU_VIEWERS" --rate 10 --duration "$DURATION" \
        --json "$OUT/$name-fanout-cpu-$round.json"
    wait_quiet
    "${load[@]}" fanout "${FLAGS[@]}" --label latency --viewers "$LAT_VIEWERS" --rate 10 --duration "$DURATION" \
        --json "$OUT/$name-fanout-latency-$round.json"
    if [ "$round" -eq 1 ]; then
        wait_quiet
        "${load[@]}" fanout "${FLAGS[@]}" --label saturate --viewers "$SAT_VIEWERS" --rate 0 --window 64 \
            --pipeline 8 --duration "$DURATION" --json "$OUT/$name-fanout-saturate.json"
    fi
    stop_server
    if [ -n "${DATA:-}" ]; then rm -rf "$DATA"; DATA=""; fi
}

# run_floor ROUND: the floor at the two light loads (no server).
run_floor() {
    local round="$1" label viewers
    echo "== floor (no server): one write per delivery from a thread on cpu $SERVER_CPU (round $round of $ROUNDS)" >&2
    for run in "cpu $CPU_VIEWERS" "latency $LAT_VIEWERS"; do
        read -r label viewers <<<"$run"
        wait_quiet
        taskset -c "$LOADGEN_CPU" "$LOAD" floor --server-cpu "$SERVER_CPU" --label "$label" --viewers "$viewers" \
            --rate 10 --duration "$DURATION" --json "$OUT/floor-$label-$round.json"
    done
}

# Light-load figures on this kind of machine move by several per cent from one run to the next,
# in the floor and nchan as much as in the hub: each round runs all three in turn, and the table
# shows medians over the rounds.
for round in $(seq "$ROUNDS"); do
    run_round stagehand "$round"
    run_round nchan "$round"
    run_floor "$round"
done

echo
echo "== Stagehand vs nchan ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)); reports in $OUT"
"$LOAD" compare --stagehand "$OUT"/stagehand-*.json --nchan "$OUT"/nchan-*.json --floor "$OUT"/floor-*.json |
    tee "$OUT/compare.txt"
