"""Takes and releases distributed locks with the official Python SDK's
DaprClient (gRPC, TryLockAlpha1/UnlockAlpha1) and prints what it saw as one
JSON object (the last line of stdout).

Usage: lock_client.py STORE RESOURCE
  Needs DAPR_GRPC_PORT and DAPR_HTTP_PORT.
"""

import contextlib
import json
import sys

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError


def main() -> int:
    store, resource = sys.argv[1], sys.argv[2]
    seen: dict = {}
    with contextlib.redirect_stdout(sys.stderr):
        with DaprClient() as d:
            seen['first'] = bool(d.try_lock(store, resource, 'py-a', 60).success)
            seen['second'] = bool(d.try_lock(store, resource, 'py-b', 60).success)
            seen['unlock_other'] = d.unlock(store, resource, 'py-b').status.name
            seen['unlock_owner'] = d.unlock(store, resource, 'py-a').status.name
            seen['unlock_again'] = d.unlock(store, resource, 'py-a').status.name
            seen['after'] = bool(d.try_lock(store, resource, 'py-b', 60).success)
            try:
                d.try_lock(store, resource, 'py-c', 0)
                seen['bad_expiry'] = 'OK'
            except (grpc.RpcError, ValueError) as e:
                if isinstance(e, grpc.RpcError):
                    e = e if isinstance(e, DaprGrpcError) else DaprGrpcError(e)
                    seen['bad_expiry'] = e.code().name
                else:
                    seen['bad_expiry'] = 'refused by the SDK'
    print(json.dumps(seen))
    return 0


if __name__ == '__main__':
    sys.exit(main())
