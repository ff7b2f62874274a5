"""inventory: receives order events and reserves stock.

  * subscribes to topic `orders` on pub/sub `pubsub` with the Dapr SDK's
    FastAPI extension (DaprApp answers the sidecar's GET /dapr/subscribe);
  * serves `POST /reserve`, which order-service calls by service invocation;
  * `GET /stats` tells which orders it has seen (used by run.sh).

Run it under a sidecar: jetway run --app-id inventory --app-port 6001 ... -- python inventory.py
"""

import os
import threading

import uvicorn
from fastapi import Body, FastAPI

from dapr.ext.fastapi import DaprApp

APP_PORT = int(os.environ.get('APP_PORT', '6001'))

app = FastAPI()
dapr_app = DaprApp(app)

_lock = threading.Lock()
_stock = {'apple': 100, 'banana': 100, 'cherry': 100, 'durian': 100, 'elderberry': 100}
_events: list = []  # order ids from `orders` events, in arrival order
_reservations: list = []  # order ids reserved, in arrival order


def log(message: str) -> None:
    print(f'inventory: {message}', flush=True)


@dapr_app.subscribe(pubsub='pubsub', topic='orders')
def order_event(event: dict = Body(...)) -> dict:
    # The body is the CloudEvent; the published order is its `data`.
    order = event.get('data') or {}
    order_id = str(order.get('orderId')) if isinstance(order, dict) else '?'
    with _lock:
        _events.append(order_id)
    log(
        f"received event for order {order_id} (topic {event.get('topic')}, "
        f"from {event.get('source')}, CloudEvent id {event.get('id')})"
    )
    return {'status': 'SUCCESS'}


@app.post('/reserve')
def reserve(order: dict = Body(...)) -> dict:
    order_id = str(order.get('orderId'))
    item = str(order.get('item', ''))
    quantity = int(order.get('quantity', 1))
    with _lock:
        left = _stock.get(item, 0)
        ok = left >= quantity
        if ok:
            _stock[item] = left - quantity
        _reservations.append(order_id)
        remaining = _stock.get(item, 0)
    log(f'reserve order {order_id}: {quantity} x {item} -> {"reserved" if ok else "out of stock"}, {remaining} left')
    return {'orderId': order_id, 'reserved': ok, 'item': item, 'remaining': remaining}


@app.get('/stats')
def stats() -> dict:
    with _lock:
        return {'events': list(_events), 'reservations': list(_reservations), 'stock': dict(_stock)}


if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=APP_PORT, log_level='warning')
