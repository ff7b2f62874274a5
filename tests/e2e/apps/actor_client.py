"""Calls `Counter` actors through the official Dapr Python SDK's ActorProxy
(over the sidecar at DAPR_HTTP_PORT), for Jetway's end-to-end tests.

Usage: actor_client.py <actor id> <times>
Calls Increment(1) on the actor <times> times, then prints the results as one
JSON list.
"""

import asyncio
import json
import sys

from dapr.actor import ActorId, ActorProxy

from actor_app import CounterInterface


async def main(actor_id: str, times: int) -> None:
    proxy = ActorProxy.create('Counter', ActorId(actor_id), CounterInterface)
    results = [await proxy.Increment(1) for _ in range(times)]
    print(json.dumps(results))


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
