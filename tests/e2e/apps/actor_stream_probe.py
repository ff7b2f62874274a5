"""Opens a second SubscribeActorEventsAlpha1 stream that names no actor types,
as the Python SDK's tests do to learn whether the sidecar supports actor
streams, and prints whether the sidecar acknowledged it (one JSON line).

Reaches the sidecar on DAPR_GRPC_PORT."""

import asyncio
import json
import os

import grpc.aio

from dapr.proto import api_service_v1, api_v1


async def probe() -> dict:
    address = f"127.0.0.1:{os.environ['DAPR_GRPC_PORT']}"
    async with grpc.aio.insecure_channel(address) as channel:
        stream = api_service_v1.DaprStub(channel).SubscribeActorEventsAlpha1()
        initial = api_v1.SubscribeActorEventsRequestInitialAlpha1()
        await stream.write(api_v1.SubscribeActorEventsRequestAlpha1(initial_request=initial))
        await stream.done_writing()
        try:
            first = await asyncio.wait_for(stream.read(), 10)
            acked = first is not None and first.HasField('initial_response')
            return {'acked': acked}
        except grpc.aio.AioRpcError as e:
            return {'acked': False, 'code': e.code().name, 'message': e.details()}
        finally:
            stream.cancel()


print(json.dumps(asyncio.run(probe())))
