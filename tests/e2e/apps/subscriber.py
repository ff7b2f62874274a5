"""A subscriber test app for Jetway's end-to-end tests, written with the
official Dapr Python SDK (FastAPI + dapr.ext.fastapi.DaprApp).

Environment:
  APP_PORT     port to listen on (127.0.0.1); set by `jetway run`
  PUBSUB       pub/sub component to subscribe to (default `pubsub`)
  EVENTS_FILE  file to append each delivered event to, as one JSON line
               (default `events.jsonl` in the working directory)
  DELAY_MS     milliseconds each delivery takes before it is recorded
               (default 0)

Subscriptions (GET /dapr/subscribe, built by DaprApp):
  topic `orders`      route /events/<PUBSUB>/orders
  topic `orders-raw`  route /events/<PUBSUB>/orders-raw, metadata rawPayload=true

Each delivery's whole JSON body (the CloudEvent) is appended to EVENTS_FILE as
one line; the app answers {"status": "SUCCESS"}.

Also: `/echo` (any verb) answers JSON
  {"method", "query", "raw_query", "body", "headers"}
with the status from the query parameter `status` (default 200). `query` maps
each parameter to its last value; `headers` has lowercase names (repeated
headers joined with ", "); `body` is the request body as text.
"""

import asyncio
import json
import os
import sys
import threading

import uvicorn
from fastapi import FastAPI, Request, Response

from dapr.ext.fastapi import DaprApp

PUBSUB = os.environ.get('PUBSUB', 'pubsub')
EVENTS_FILE = os.environ.get('EVENTS_FILE', 'events.jsonl')
DELAY = int(os.environ.get('DELAY_MS', '0')) / 1000

app = FastAPI()
dapr_app = DaprApp(app)
_lock = threading.Lock()


def _record(body: bytes) -> None:
    try:
        event = json.loads(body)
    except ValueError:
        # Not JSON (should not happen: deliveries are CloudEvents); keep the text.
        event = {'_not_json': body.decode('utf-8', errors='replace')}
    line = json.dumps(event, separators=(',', ':'), ensure_ascii=False) + '\n'
    with _lock:
        with open(EVENTS_FILE, 'a', encoding='utf-8') as f:
            f.write(line)
            f.flush()


@dapr_app.subscribe(pubsub=PUBSUB, topic='orders')
async def orders(request: Request):
    body = await request.body()
    await asyncio.sleep(DELAY)
    _record(body)
    return {'status': 'SUCCESS'}


@dapr_app.subscribe(pubsub=PUBSUB, topic='orders-raw', metadata={'rawPayload': 'true'})
async def orders_raw(request: Request):
    _record(await request.body())
    return {'status': 'SUCCESS'}


@app.api_route('/echo', methods=['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'])
async def echo(request: Request) -> Response:
    body = await request.body()
    headers: dict = {}
    for name, value in request.headers.items():
        name = name.lower()
        headers[name] = f'{headers[name]}, {value}' if name in headers else value
    try:
        status = int(request.query_params.get('status', '200'))
    except ValueError:
        status = 400
    answer = {
        'method': request.method,
        'query': dict(request.query_params),
        'raw_query': request.url.query,
        'body': body.decode('utf-8', errors='replace'),
        'headers': headers,
    }
    return Response(
        content=json.dumps(answer),
        status_code=status,
        media_type='application/json',
    )


@app.get('/healthz')
async def healthz():
    return {'ok': True}


if __name__ == '__main__':
    port = int(os.environ.get('APP_PORT', '0') or 0)
    if not port:
        sys.exit('APP_PORT is not set')
    uvicorn.run(app, host='127.0.0.1', port=port, log_level='warning')
