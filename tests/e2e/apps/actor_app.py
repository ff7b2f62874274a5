"""An actor host for Jetway's end-to-end tests, written with the official Dapr
Python SDK (FastAPI + dapr.ext.fastapi.DaprActor).

Environment:
  APP_PORT      port to listen on (127.0.0.1)
  HOST_NAME     this host's name, returned by `Whoami` (default `host`)
  IDLE_SECONDS  actorIdleTimeout; the scan interval is one second (default 60)
  EVENTS_FILE   if set, each activation and deactivation is appended to it as
                a JSON line {"event", "id", "host", "t"} (t: Unix seconds)

Actor type `Counter`:
  Increment(by) -> the count after adding `by`; the count is actor state
  SlowIncrement(ms) -> like Increment(1), with <ms> milliseconds between
                   reading the count and saving it
  Slow()        -> spends 50 ms in the actor; records an overlap if another
                   call of the same actor id is inside at the same time
  Whoami()      -> {"host": HOST_NAME, "activation": <n>}: which host and
                   which activation of the actor answered
  StartTimer(ms)      registers timer `tick` firing every <ms> milliseconds
  StartReminder(ms)   registers reminder `ping` (data b"ping") firing every
                      <ms> milliseconds, first after one period
  StopReminder()      unregisters reminder `ping`
Actor type `Reentrant` (reentrancy enabled, maxStackDepth 4):
  Nest(depth)   calls Nest(depth - 1) on itself through an ActorProxy until
                depth is 0, and returns how many calls deep it went
Timer and reminder fires are counted in /stats as "timers" and "reminders"
(id -> number) and, with EVENTS_FILE, recorded there as events `timer` and
`reminder` (a reminder event also has "data", the payload it carried).

Also: GET /health answers 200, or 500 after POST /sick (until POST /well).
GET /stats answers {"overlaps", "activations", "deactivations"}, where
the last two count (type, id) pairs as "<id>" -> number.
"""

import asyncio
import json
import os
import time
from datetime import timedelta

import uvicorn
from fastapi import FastAPI, Response

from dapr.actor import Actor, ActorId, ActorInterface, ActorProxy, Remindable, actormethod
from dapr.actor.runtime.config import ActorReentrancyConfig, ActorRuntimeConfig, ActorTypeConfig
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.ext.fastapi import DaprActor

HOST_NAME = os.environ.get('HOST_NAME', 'host')
EVENTS_FILE = os.environ.get('EVENTS_FILE')
inside = {}
stats = {'overlaps': 0, 'activations': {}, 'deactivations': {}, 'timers': {}, 'reminders': {}}


def record(event: str, actor_id: str, **extra) -> None:
    stats[event + 's'][actor_id] = stats[event + 's'].get(actor_id, 0) + 1
    if EVENTS_FILE:
        fields = {'event': event, 'id': actor_id, 'host': HOST_NAME, 't': time.time(), **extra}
        line = json.dumps(fields)
        with open(EVENTS_FILE, 'a') as f:
            f.write(line + '\n')


class CounterInterface(ActorInterface):
    @actormethod(name='Increment')
    async def increment(self, by: int) -> int: ...

    @actormethod(name='SlowIncrement')
    async def slow_increment(self, ms: int) -> int: ...

    @actormethod(name='Slow')
    async def slow(self) -> None: ...

    @actormethod(name='Whoami')
    async def whoami(self) -> dict: ...

    @actormethod(name='StartTimer')
    async def start_timer(self, ms: int) -> None: ...

    @actormethod(name='StartReminder')
    async def start_reminder(self, ms: int) -> None: ...

    @actormethod(name='StopReminder')
    async def stop_reminder(self) -> None: ...


class Counter(Actor, CounterInterface, Remindable):
    async def _on_activate(self) -> None:
        record('activation', self.id.id)

    async def _on_deactivate(self) -> None:
        record('deactivation', self.id.id)

    async def increment(self, by: int) -> int:
        found, count = await self._state_manager.try_get_state('count')
        count = (count if found else 0) + by
        await self._state_manager.set_state('count', count)
        await self._state_manager.save_state()
        return count

    async def slow_increment(self, ms: int) -> int:
        found, count = await self._state_manager.try_get_state('count')
        await asyncio.sleep(ms / 1000)
        count = (count if found else 0) + 1
        await self._state_manager.set_state('count', count)
        await self._state_manager.save_state()
        return count

    async def slow(self) -> None:
        key = self.id.id
        inside[key] = inside.get(key, 0) + 1
        if inside[key] > 1:
            stats['overlaps'] += 1
        await asyncio.sleep(0.05)
        inside[key] -= 1

    async def whoami(self) -> dict:
        return {'host': HOST_NAME, 'activation': stats['activations'].get(self.id.id, 0)}

    async def start_timer(self, ms: int) -> None:
        every = timedelta(milliseconds=ms)
        await self.register_timer('tick', self.on_tick, None, every, every)

    async def on_tick(self, _state) -> None:
        record('timer', self.id.id)

    async def start_reminder(self, ms: int) -> None:
        every = timedelta(milliseconds=ms)
        await self.register_reminder('ping', b'ping', every, every)

    async def stop_reminder(self) -> None:
        await self.unregister_reminder('ping')

    async def receive_reminder(self, name, state, due_time, period, ttl=None) -> None:
        record('reminder', self.id.id, data=state.decode())


class ReentrantInterface(ActorInterface):
    @actormethod(name='Nest')
    async def nest(self, depth: int) -> int: ...


class Reentrant(Actor, ReentrantInterface):
    async def nest(self, depth: int) -> int:
        if depth == 0:
            return 0
        me = ActorProxy.create('Reentrant', ActorId(self.id.id), ReentrantInterface)
        return 1 + await me.Nest(depth - 1)


idle = timedelta(seconds=float(os.environ.get('IDLE_SECONDS', '60')))
ActorRuntime.set_actor_config(
    ActorRuntimeConfig(
        actor_idle_timeout=idle,
        actor_scan_interval=timedelta(seconds=1),
        actor_type_configs=[
            ActorTypeConfig(
                'Reentrant', reentrancy=ActorReentrancyConfig(enabled=True, maxStackDepth=4)
            )
        ],
    )
)
app = FastAPI()
actor = DaprActor(app)


@app.on_event('startup')
async def startup():
    await actor.register_actor(Counter)
    await actor.register_actor(Reentrant)


@app.get('/stats')
async def get_stats():
    return stats


healthy = True


@app.get('/health')
async def healthz():
    return Response(status_code=200 if healthy else 500)


@app.post('/sick')
async def sick():
    global healthy
    healthy = False


@app.post('/well')
async def well():
    global healthy
    healthy = True


if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=int(os.environ['APP_PORT']), log_level='warning')
