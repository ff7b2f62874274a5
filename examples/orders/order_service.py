"""order-service: places orders.

For each order it, with the official SDK's DaprClient,
  1. saves it in the state store `statestore`   (Dapr gRPC state API),
  2. publishes an `orders` event on `pubsub`      (Dapr gRPC publish API),
  3. asks the `inventory` app to reserve stock    (service invocation, over HTTP).

Orders come in as `POST /orders` (JSON: {"orderId", "item", "quantity"}), or
at startup: set STARTUP_ORDERS=N to place N sample orders once the sidecar is up.

Run it under a sidecar: jetway run --app-id order-service --app-port 6002 ... -- python order_service.py
"""

import json
import os
import threading
import time
import uuid
from contextlib import asynccontextmanager

import uvicorn
from fastapi import Body, FastAPI, HTTPException

from dapr.clients import DaprClient

APP_PORT = int(os.environ.get('APP_PORT', '6002'))
STATE_STORE = 'statestore'
PUBSUB = 'pubsub'
TOPIC = 'orders'
INVENTORY_APP = 'inventory'


def log(message: str) -> None:
    print(f'order-service: {message}', flush=True)


def place_order(order: dict, retry_seconds: float = 0) -> dict:
    """Saves, publishes and reserves one order; returns what happened.

    The reservation is retried for `retry_seconds` (inventory may be starting).
    """
    order = dict(order)
    order.setdefault('orderId', uuid.uuid4().hex[:8])
    order_id = str(order['orderId'])
    key = f'order-{order_id}'
    with DaprClient() as client:
        # 1. State: save, then read back (the ETag is the KV revision).
        client.save_state(STATE_STORE, key, json.dumps(order))
        etag = client.get_state(STATE_STORE, key).etag
        log(f'saved {key} in {STATE_STORE} (etag {etag})')

        # 2. Publish: the sidecar wraps the JSON in a CloudEvent.
        client.publish_event(PUBSUB, TOPIC, json.dumps(order), data_content_type='application/json')
        log(f'published order {order_id} to {PUBSUB}/{TOPIC}')

    # 3. Invoke the inventory app through the sidecar.
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            with DaprClient() as client:
                resp = client.invoke_method(
                    INVENTORY_APP,
                    'reserve',
                    data=json.dumps(order),
                    content_type='application/json',
                    http_verb='POST',
                )
            break
        except Exception as e:  # noqa: BLE001
            if time.monotonic() >= deadline:
                raise
            log(f'invoking {INVENTORY_APP} failed ({e}); retrying')
            time.sleep(1)
    reservation = resp.json()
    log(f'inventory answered {resp.status_code}: {reservation}')
    return {'orderId': order_id, 'stateKey': key, 'etag': etag, 'reservation': reservation}


def sample_orders(n: int) -> list:
    items = ['apple', 'banana', 'cherry', 'durian', 'elderberry']
    run = uuid.uuid4().hex[:6]
    return [
        {'orderId': f'{run}-{i + 1}', 'item': items[i % len(items)], 'quantity': i + 1}
        for i in range(n)
    ]


def place_startup_orders(n: int) -> None:
    # The inventory app may still be starting: give each reservation 30 s.
    for order in sample_orders(n):
        try:
            place_order(order, retry_seconds=30)
        except Exception as e:  # noqa: BLE001
            log(f'order {order["orderId"]} failed: {e}')


@asynccontextmanager
async def lifespan(_app: FastAPI):
    n = int(os.environ.get('STARTUP_ORDERS', '0') or 0)
    if n > 0:
        threading.Thread(target=place_startup_orders, args=(n,), daemon=True).start()
    yield


app = FastAPI(lifespan=lifespan)


# A plain `def` handler: FastAPI runs it in a worker thread, where the SDK's
# synchronous invoke_method can run its own event loop.
@app.post('/orders')
def orders(order: dict = Body(...)) -> dict:
    try:
        return place_order(order)
    except Exception as e:  # noqa: BLE001
        raise HTTPException(status_code=502, detail=f'{type(e).__name__}: {e}')


if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=APP_PORT, log_level='warning')
