"""Calls Counter actors through the official Dapr Python SDK's ActorProxy,
via the sidecar at DAPR_HTTP_PORT, and prints who answered.

Usage: client.py <actor id prefix> <number of actors> <increments each>
"""

import asyncio
import sys

from dapr.actor import ActorId, ActorProxy

from counter import CounterInterface


async def main(prefix: str, actors: int, times: int) -> None:
    for i in range(1, actors + 1):
        proxy = ActorProxy.create('Counter', ActorId(f'{prefix}-{i}'), CounterInterface)
        for _ in range(times):
            result = await proxy.Increment(1)
        print(f"  {prefix}-{i}: count {result['count']} on {result['host']}")


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
