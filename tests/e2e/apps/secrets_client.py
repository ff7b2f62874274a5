"""Reads secrets with the official Python SDK's DaprClient (gRPC) and prints
what it got as one JSON object (the last line of stdout).

Usage: secrets_client.py STORE KEY [DENIED_KEY]
  Needs DAPR_GRPC_PORT and DAPR_HTTP_PORT.
"""

import contextlib
import json
import sys

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError


def failure(call):
    """Runs `call`, which must fail; returns its gRPC code and message."""
    try:
        call()
    except grpc.RpcError as e:
        e = e if isinstance(e, DaprGrpcError) else DaprGrpcError(e)
        return {'code': e.code().name, 'message': e.details()}
    return {'code': 'OK'}


def main() -> int:
    store, key = sys.argv[1], sys.argv[2]
    denied = sys.argv[3] if len(sys.argv) > 3 else None
    seen: dict = {}
    with contextlib.redirect_stdout(sys.stderr):
        with DaprClient() as d:
            seen['secret'] = dict(d.get_secret(store, key).secret)
            bulk = d.get_bulk_secret(store).secrets
            seen['bulk'] = {name: dict(values) for name, values in bulk.items()}
            seen['unknown_store'] = failure(lambda: d.get_secret('nosuchstore', key))
            seen['missing'] = failure(lambda: d.get_secret(store, 'no-such-secret'))
            if denied:
                seen['denied'] = failure(lambda: d.get_secret(store, denied))
    print(json.dumps(seen))
    return 0


if __name__ == '__main__':
    sys.exit(main())
