"""Rich gRPC errors, read as the official Python SDK reads them: saves an
illegal state key (`key||`) to `statestore` over gRPC and prints what
DaprGrpcError parsed from the status details, as one JSON line."""

import json

from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError

with DaprClient() as client:
    try:
        client.save_state(store_name='statestore', key='key||', value='value')
        print(json.dumps({'error': None}))
    except DaprGrpcError as err:
        # Only the details daprd sent (the SDK lists every kind, unset ones as null).
        details = json.loads(err.json())['details']
        print(
            json.dumps(
                {
                    'code': err.code().name,
                    'message': err.details(),
                    'error_code': err.error_code(),
                    'details': {k: v for k, v in details.items() if v is not None},
                }
            )
        )
