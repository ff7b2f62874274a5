"""A `Counter` actor host written with the official Dapr Python SDK
(FastAPI + dapr.ext.fastapi.DaprActor), for Jetway's actors example.

Counter.Increment(by) adds `by` to the actor's state `count` and returns
{"count": <new count>, "host": HOST_NAME}, so a caller sees which host ran it.
Listens on APP_PORT; its sidecar is at DAPR_HTTP_PORT (both set by `jetway run`).
"""

import os

import uvicorn
from fastapi import FastAPI

from dapr.actor import Actor, ActorInterface, actormethod
from dapr.ext.fastapi import DaprActor

HOST_NAME = os.environ.get('HOST_NAME', 'host')


class CounterInterface(ActorInterface):
    @actormethod(name='Increment')
    async def increment(self, by: int) -> dict: ...


class Counter(Actor, CounterInterface):
    async def increment(self, by: int) -> dict:
        found, count = await self._state_manager.try_get_state('count')
        count = (count if found else 0) + by
        await self._state_manager.set_state('count', count)
        await self._state_manager.save_state()
        return {'count': count, 'host': HOST_NAME}


app = FastAPI()
actors = DaprActor(app)


@app.on_event('startup')
async def startup():
    await actors.register_actor(Counter)


if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=int(os.environ['APP_PORT']), log_level='warning')
