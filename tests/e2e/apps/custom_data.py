"""Invokes a gRPC app's method that answers a protobuf message and unpacks it,
as the official Python SDK's custom-data invocation example does: over the
Dapr HTTP API by default, over gRPC with DAPR_API_METHOD_INVOCATION_PROTOCOL=grpc.

Usage: custom_data.py APP_ID METHOD DATA. Prints one JSON line: the unpacked
`StringValue`, or the error."""

import contextlib
import json
import sys

from google.protobuf.wrappers_pb2 import StringValue

from dapr.clients import DaprClient

app_id, method, data = sys.argv[1:4]
with contextlib.redirect_stdout(sys.stderr):
    client = DaprClient()
with client:
    resp = client.invoke_method(app_id, method, data=data)
    message = StringValue()
    try:
        resp.unpack(message)
        print(json.dumps({'value': message.value, 'content_type': resp.content_type}))
    except ValueError as e:
        print(json.dumps({'error': str(e), 'content_type': resp.content_type}))
