"""Calls output bindings with the official Python SDK's DaprClient (gRPC) and
prints what each call returned as one JSON list (the last line of stdout).

Usage: bindings_client.py CALLS
  CALLS is a JSON list of {"name", "operation", "data" (text), "metadata"}.
  Needs DAPR_GRPC_PORT and DAPR_HTTP_PORT.
"""

import contextlib
import json
import sys

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError


def main() -> int:
    calls = json.loads(sys.argv[1])
    results = []
    with contextlib.redirect_stdout(sys.stderr):
        with DaprClient() as d:
            for c in calls:
                try:
                    r = d.invoke_binding(c['name'], c['operation'], c.get('data', ''), c.get('metadata') or {})
                    results.append({'data': r.text(), 'metadata': dict(r.binding_metadata)})
                except grpc.RpcError as e:
                    e = e if isinstance(e, DaprGrpcError) else DaprGrpcError(e)
                    results.append({'code': e.code().name, 'message': e.details()})
    print(json.dumps(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
