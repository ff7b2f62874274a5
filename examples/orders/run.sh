#!/usr/bin/env bash
# Runs the orders example end to end: inventory and order-service, each under
# `jetway run`, places a few orders, waits until inventory has every order event
# and reservation, prints a summary, stops both apps. Exit 0 when everything
# arrived, 1 otherwise.
#
# Usage: examples/orders/run.sh          (from anywhere)
# Environment (all optional):
#   NATS_URL        NATS server to use; default: Jetway's embedded local server
#   ORDERS          how many orders to place (default 3)
#   WAIT_SECONDS    how long to wait for deliveries (default 30)
#   JETWAY_BIN      the jetway binary (default <repo>/target/debug/jetway)
#   INVENTORY_APP_PORT / INVENTORY_HTTP_PORT / INVENTORY_GRPC_PORT  (6001/3501/50011)
#   ORDERS_APP_PORT    / ORDERS_HTTP_PORT    / ORDERS_GRPC_PORT     (6002/3502/50012)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$ROOT/.venv"
JETWAY="${JETWAY_BIN:-$ROOT/target/debug/jetway}"
ORDERS="${ORDERS:-3}"
WAIT_SECONDS="${WAIT_SECONDS:-30}"
INVENTORY_APP_PORT="${INVENTORY_APP_PORT:-6001}"
INVENTORY_HTTP_PORT="${INVENTORY_HTTP_PORT:-3501}"
INVENTORY_GRPC_PORT="${INVENTORY_GRPC_PORT:-50011}"
ORDERS_APP_PORT="${ORDERS_APP_PORT:-6002}"
ORDERS_HTTP_PORT="${ORDERS_HTTP_PORT:-3502}"
ORDERS_GRPC_PORT="${ORDERS_GRPC_PORT:-50012}"

say() { printf '==> %s\n' "$*"; }

# --- Python environment: <repo>/.venv with tests/requirements.txt -----------
if [ ! -x "$VENV/bin/python" ]; then
    say "Creating $VENV"
    python3 -m venv "$VENV"
fi
say "Installing tests/requirements.txt into $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tests/requirements.txt" </dev/null
# .venv/bin first: its nats-server (>= 2.12) is the one Jetway's embedded server uses.
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python"

# --- jetway binary -----------------------------------------------------------
if [ -z "${JETWAY_BIN:-}" ]; then
    say "Building jetway"
    (cd "$ROOT" && cargo build --quiet -p jetway-runtime --bin jetway)
fi

# --- NATS: embedded by default, NATS_URL if set --------------------------------
NATS_ARGS=()
if [ -n "${NATS_URL:-}" ]; then
    NATS_ARGS=(--nats-url "$NATS_URL")
    say "Using NATS at $NATS_URL"
else
    unset NATS_URL
    say "Using Jetway's embedded NATS server (127.0.0.1:${JETWAY_EMBEDDED_NATS_PORT:-4250})"
fi
# Flags below set these; keep stray values from leaking into both sidecars.
unset APP_ID APP_PORT DAPR_HTTP_PORT DAPR_GRPC_PORT

# --- processes and cleanup ---------------------------------------------------
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/jetway-orders.XXXXXX")"
PIDS=()
OK=0

stop_all() {
    local pid child deadline
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true   # jetway run forwards it to its app
    done
    deadline=$((SECONDS + 15))
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "jetway run (pid $pid) did not stop within 15 s; killing it and its app" >&2
            for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -KILL "$child" 2>/dev/null || true; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

on_exit() {
    local code=$?
    trap - EXIT INT TERM
    stop_all
    if [ "$OK" = 1 ] && [ "$code" = 0 ]; then
        rm -rf "$LOGS"
    else
        echo "--- logs kept in $LOGS" >&2
        for f in "$LOGS"/*.log; do
            [ -f "$f" ] || continue
            echo "--- last lines of $f" >&2
            tail -n 25 "$f" >&2
        done
    fi
    exit "$code"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start APP_ID APP_PORT HTTP_PORT GRPC_PORT SCRIPT
start() {
    local id=$1 app_port=$2 http_port=$3 grpc_port=$4 script=$5
    say "Starting $id (app port $app_port, Dapr HTTP port $http_port, gRPC port $grpc_port)"
    NO_COLOR=1 PYTHONUNBUFFERED=1 "$JETWAY" run \
        --app-id "$id" --app-port "$app_port" \
        --dapr-http-port "$http_port" --dapr-grpc-port "$grpc_port" \
        --resources-path "$HERE/resources" ${NATS_ARGS[@]+"${NATS_ARGS[@]}"} \
        -- "$PY" "$HERE/$script" </dev/null >"$LOGS/$id.log" 2>&1 &
    PIDS+=("$!")
}

# wait_ready NAME HTTP_PORT PID: until the sidecar's /v1.0/healthz is 204 (app connected)
wait_ready() {
    local name=$1 port=$2 pid=$3 deadline=$((SECONDS + 60))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name: jetway run exited during startup" >&2
            return 1
        fi
        if "$PY" -c 'import sys, urllib.request as u; sys.exit(0 if u.urlopen(sys.argv[1], timeout=2).status == 204 else 1)' \
            "http://127.0.0.1:$port/v1.0/healthz" 2>/dev/null; then
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$name: sidecar not ready on port $port within 60 s" >&2
            return 1
        fi
        sleep 0.3
    done
}

# One after the other: the first sidecar starts the embedded NATS server if
# none runs yet, and two starting at the same moment would race to do it.
start inventory "$INVENTORY_APP_PORT" "$INVENTORY_HTTP_PORT" "$INVENTORY_GRPC_PORT" inventory.py
wait_ready inventory "$INVENTORY_HTTP_PORT" "${PIDS[0]}"
start order-service "$ORDERS_APP_PORT" "$ORDERS_HTTP_PORT" "$ORDERS_GRPC_PORT" order_service.py
wait_ready order-service "$ORDERS_HTTP_PORT" "${PIDS[1]}"
say "Both sidecars are ready"

# --- place orders, wait for deliveries, summarise -----------------------------
RUN_ID="$(date +%s)-$$"
say "Placing $ORDERS orders (run $RUN_ID) through order-service"
set +e
RUN_ID="$RUN_ID" ORDERS="$ORDERS" WAIT_SECONDS="$WAIT_SECONDS" \
    INVENTORY_HTTP_PORT="$INVENTORY_HTTP_PORT" ORDERS_HTTP_PORT="$ORDERS_HTTP_PORT" \
    "$PY" - <<'PY'
import json, os, sys, time
import httpx

run, n, wait = os.environ['RUN_ID'], int(os.environ['ORDERS']), float(os.environ['WAIT_SECONDS'])
inventory = f"http://127.0.0.1:{os.environ['INVENTORY_HTTP_PORT']}"
orders = f"http://127.0.0.1:{os.environ['ORDERS_HTTP_PORT']}"
items = ['apple', 'banana', 'cherry', 'durian', 'elderberry']
ids = [f'{run}-{i + 1}' for i in range(n)]
failed = False

with httpx.Client(timeout=20) as http:
    # Each order goes to order-service through its sidecar (service invocation).
    for i, order_id in enumerate(ids):
        order = {'orderId': order_id, 'item': items[i % len(items)], 'quantity': i + 1}
        r = http.post(f'{orders}/v1.0/invoke/order-service/method/orders', json=order)
        if r.status_code != 200:
            print(f'  order {order_id}: order-service answered {r.status_code}: {r.text}')
            failed = True
            continue
        res = r.json()['reservation']
        print(f"  order {order_id}: {order['quantity']} x {order['item']} placed; "
              f"inventory reserved={res['reserved']} ({res['remaining']} left)")

    # Wait (bounded) until inventory has seen every event and reservation.
    deadline = time.monotonic() + wait
    while True:
        stats = http.get(f'{inventory}/v1.0/invoke/inventory/method/stats').json()
        events = [i for i in ids if i in stats['events']]
        reserved = [i for i in ids if i in stats['reservations']]
        if (len(events) == n and len(reserved) == n) or time.monotonic() > deadline:
            break
        time.sleep(0.3)

    # The saved orders, read back from the state store by order-service's sidecar.
    saved = []
    for order_id in ids:
        r = http.get(f'{orders}/v1.0/state/statestore/order-{order_id}')
        if r.status_code == 200 and r.json().get('orderId') == order_id:
            saved.append(order_id)

print()
print('Summary')
print(f'  orders placed:                 {n}')
print(f'  saved in statestore:           {len(saved)}/{n}')
print(f'  order events inventory got:    {len(events)}/{n}')
print(f'  reservations inventory got:    {len(reserved)}/{n}')
missing = {
    'state': [i for i in ids if i not in saved],
    'events': [i for i in ids if i not in events],
    'reservations': [i for i in ids if i not in reserved],
}
if failed or any(missing.values()):
    print(f'  MISSING: {json.dumps(missing)}')
    sys.exit(1)
print('  all orders arrived')
PY
status=$?
set -e

echo
say "What inventory logged"
grep '^inventory:' "$LOGS/inventory.log" | grep -F -- "$RUN_ID" || true
say "What order-service logged"
grep '^order-service:' "$LOGS/order-service.log" | grep -F -- "$RUN_ID" || true

if [ "$status" != 0 ]; then
    echo "FAILED: not every order arrived" >&2
    exit 1
fi
say "Stopping both apps"
stop_all
OK=1
say "Done"
