"""An actor host for Jetway's end-to-end tests served over gRPC: the official
Dapr Python SDK's ActorGrpcHost (Dapr.SubscribeActorEventsAlpha1) hosting the
`Counter` type of actor_app.py, with its settings and EVENTS_FILE records.

Environment: APP_PORT (the empty gRPC app-channel listener the host starts),
DAPR_GRPC_PORT (the sidecar's gRPC API), and actor_app.py's variables.
"""

import asyncio

from dapr.actor.runtime.grpc_host import ActorGrpcHost

from actor_app import Counter


async def main() -> None:
    host = ActorGrpcHost()
    await host.register_actor(Counter)
    await host.run_forever()


if __name__ == '__main__':
    asyncio.run(main())
