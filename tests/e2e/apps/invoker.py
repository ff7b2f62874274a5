"""Invokes a method on another app through the sidecar with the official Dapr
Python SDK (DaprClient().invoke_method: over the Dapr HTTP API by default, over
gRPC with DAPR_API_METHOD_INVOCATION_PROTOCOL=grpc).

Usage: invoker.py APP_ID METHOD [DATA [VERB]]
  METHOD may carry a query string (`echo?status=201`); VERB defaults to POST.
  The sidecar is found through DAPR_HTTP_PORT (default 3500).

Prints one JSON line to stdout (always the last line):
  success (exit 0): {"status": 200, "text": "...", "content_type": "...", "headers": {...}}
  failure (exit 1): {"error": "...", "type": "DaprHttpError", "status": 404, "text": "..."}
A non-2xx answer is a failure: the SDK raises DaprHttpError for it.
"""

import contextlib
import json
import sys


def main() -> int:
    if len(sys.argv) < 3:
        print('usage: invoker.py APP_ID METHOD [DATA [VERB]]', file=sys.stderr)
        return 2
    app_id, method = sys.argv[1], sys.argv[2]
    data = sys.argv[3] if len(sys.argv) > 3 else ''
    verb = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else 'POST'
    try:
        from dapr.clients import DaprClient

        # DaprClient() waits for the sidecar and prints failed probes to stdout;
        # keep stdout for the one JSON line.
        with contextlib.redirect_stdout(sys.stderr):
            client = DaprClient()
        with client:
            resp = client.invoke_method(app_id, method, data=data, http_verb=verb)
        headers: dict = {}
        for name, value in getattr(resp, 'get_headers', lambda: ())() or ():
            name = str(name).lower()
            headers[name] = f'{headers[name]}, {value}' if name in headers else str(value)
        print(
            json.dumps(
                {
                    'status': getattr(resp, 'status_code', None),
                    'text': resp.text(),
                    'content_type': resp.content_type,
                    'headers': headers,
                }
            ),
            flush=True,
        )
        return 0
    except Exception as e:  # noqa: BLE001 - report any failure as one JSON line
        raw = getattr(e, 'raw_response_bytes', None)
        print(
            json.dumps(
                {
                    'error': str(e),
                    'type': type(e).__name__,
                    'status': getattr(e, 'status_code', None),
                    'text': raw.decode('utf-8', errors='replace') if raw else None,
                }
            ),
            flush=True,
        )
        return 1


if __name__ == '__main__':
    sys.exit(main())
