#!/usr/bin/env bash
# Runs the actors example: two hosts of the Counter actor type (counter.py,
# each under `jetway run`), calls six actors through the first host's sidecar,
# stops that host, and calls them again through the second: they move there
# with their state. Exit 0 when every count is right, 1 otherwise.
#
# Usage: examples/actors/run.sh          (from anywhere)
# Environment (all optional): NATS_URL (default: Jetway's embedded local
# server), JETWAY_BIN (default <repo>/target/debug/jetway).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$ROOT/.venv"
JETWAY="${JETWAY_BIN:-$ROOT/target/debug/jetway}"
say() { printf '==> %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    say "Creating $VENV"
    python3 -m venv "$VENV"
fi
say "Installing tests/requirements.txt into $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tests/requirements.txt" </dev/null
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python"
if [ -z "${JETWAY_BIN:-}" ]; then
    say "Building jetway"
    (cd "$ROOT" && cargo build --quiet -p jetway-runtime --bin jetway)
fi
NATS_ARGS=()
if [ -n "${NATS_URL:-}" ]; then NATS_ARGS=(--nats-url "$NATS_URL"); fi
unset APP_ID APP_PORT DAPR_HTTP_PORT DAPR_GRPC_PORT

LOGS="$(mktemp -d "${TMPDIR:-/tmp}/jetway-actors.XXXXXX")"
declare -A PIDS=()
stop() {   # stop NAME: SIGTERM, which `jetway run` forwards to its app; both drain
    local pid=${PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$1]"
}
on_exit() {
    local code=$?
    for name in "${!PIDS[@]}"; do stop "$name"; done
    if [ "$code" = 0 ]; then rm -rf "$LOGS"; else echo "--- logs kept in $LOGS" >&2; fi
}
trap on_exit EXIT

# start NAME APP_PORT HTTP_PORT GRPC_PORT, then wait until its sidecar is ready
start() {
    local name=$1 app_port=$2 http_port=$3 grpc_port=$4
    say "Starting $name (app port $app_port, Dapr HTTP port $http_port)"
    HOST_NAME="$name" NO_COLOR=1 "$JETWAY" run --app-id counter --app-port "$app_port" \
        --dapr-http-port "$http_port" --dapr-grpc-port "$grpc_port" \
        --resources-path "$HERE/resources" ${NATS_ARGS[@]+"${NATS_ARGS[@]}"} \
        -- "$PY" "$HERE/counter.py" </dev/null >"$LOGS/$name.log" 2>&1 &
    PIDS[$name]=$!
    for _ in $(seq 1 200); do
        if "$PY" -c 'import sys, urllib.request as u; sys.exit(u.urlopen(sys.argv[1], timeout=2).status != 204)' \
            "http://127.0.0.1:$http_port/v1.0/healthz" 2>/dev/null; then return 0; fi
        sleep 0.3
    done
    echo "$name did not become ready" >&2
    tail -n 20 "$LOGS/$name.log" >&2
    return 1
}

start host-a 6101 3601 50101
start host-b 6102 3602 50102
sleep 2   # the hosts settle which partitions each holds

RUN="counter-$(date +%s)-$$"   # fresh actors each run: their state outlives it
say "Two increments on each of six actors, through host-a's sidecar"
DAPR_HTTP_PORT=3601 "$PY" "$HERE/client.py" "$RUN" 6 2 | tee "$LOGS/first.txt"
say "Stopping host-a: its actors are deactivated and its partitions handed to host-b"
stop host-a
say "One more increment each, through host-b's sidecar"
DAPR_HTTP_PORT=3602 "$PY" "$HERE/client.py" "$RUN" 6 1 | tee "$LOGS/second.txt"

if grep -q "count 2 on" "$LOGS/first.txt" && [ "$(grep -c 'count 3 on host-b' "$LOGS/second.txt")" = 6 ]; then
    say "Every actor kept its count across the move"
else
    echo "FAILED: some actor lost its count" >&2
    exit 1
fi
