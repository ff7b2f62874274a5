"""Reads and watches configuration with the official Python SDK's DaprClient
(gRPC) and prints what it saw as one JSON object (the last line of stdout).

Usage: config_client.py STORE KEY...
  Needs DAPR_GRPC_PORT, DAPR_HTTP_PORT, and READY_FILE: created once the
  subscription is open, so the test changes an item only then.
"""

import contextlib
import json
import os
import sys
import threading

from dapr.clients import DaprClient


def main() -> int:
    store, keys = sys.argv[1], sys.argv[2:]
    seen: dict = {}
    updated = threading.Event()

    def on_update(_id, response):
        items = {k: {'value': v.value, 'version': v.version} for k, v in response.items.items()}
        if items:
            seen.setdefault('updates', []).append(items)
            updated.set()

    with contextlib.redirect_stdout(sys.stderr):
        with DaprClient() as d:
            got = d.get_configuration(store, keys)
            seen['get'] = {k: {'value': v.value, 'version': v.version} for k, v in got.items.items()}
            seen['id'] = d.subscribe_configuration(store, keys, on_update)
            open(os.environ['READY_FILE'], 'w').close()
            seen['updated'] = updated.wait(30)
            seen['unsubscribed'] = d.unsubscribe_configuration(store, seen['id'])
    print(json.dumps(seen))
    return 0


if __name__ == '__main__':
    sys.exit(main())
