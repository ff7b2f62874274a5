"""Drives a sidecar's gRPC API with the official Python SDK's DaprClient and
prints what it observed as one JSON object (the last line of stdout).

Usage: grpc_client.py TARGET_APP
  Needs DAPR_GRPC_PORT and DAPR_HTTP_PORT (the client probes HTTP health first),
  a state store `statestore` and a pub/sub `pubsub`. Invocations go over gRPC
  (DAPR_API_METHOD_INVOCATION_PROTOCOL=grpc) to TARGET_APP's `echo` method.
"""

import contextlib
import json
import os
import sys
import threading

import grpc

os.environ['DAPR_API_METHOD_INVOCATION_PROTOCOL'] = 'grpc'

from dapr.clients import DaprClient  # noqa: E402
from dapr.clients.exceptions import DaprGrpcError  # noqa: E402
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType  # noqa: E402
from dapr.clients.grpc._state import Concurrency, StateOptions  # noqa: E402


def failure(call):
    """Runs `call`, which must fail; returns its gRPC code, reason and message."""
    try:
        call()
    except grpc.RpcError as e:
        # Invocation raises grpc's own error; read its details the SDK's way.
        e = e if isinstance(e, DaprGrpcError) else DaprGrpcError(e)
        return {'code': e.code().name, 'reason': e.error_code(), 'message': e.details()}
    return {'code': 'OK'}


def main() -> int:
    target = sys.argv[1]
    seen: dict = {}
    with contextlib.redirect_stdout(sys.stderr):
        client = DaprClient()
    with client:
        # State with ETags.
        client.save_state('statestore', 'k1', 'v1')
        first = client.get_state('statestore', 'k1')
        seen['get'] = {'data': first.data.decode(), 'etag': first.etag}
        client.save_state('statestore', 'k1', 'v2', etag=first.etag)
        seen['stale_etag'] = failure(
            lambda: client.save_state('statestore', 'k1', 'v3', etag=first.etag)
        )
        seen['first_write'] = failure(
            lambda: client.save_state(
                'statestore', 'k1', 'v4', options=StateOptions(concurrency=Concurrency.first_write)
            )
        )
        seen['after'] = client.get_state('statestore', 'k1').data.decode()
        seen['unknown_store'] = failure(lambda: client.get_state('nostore', 'k1'))
        seen['bad_key'] = failure(lambda: client.save_state('statestore', 'a||b', 'x'))
        # Transactions: all or nothing.
        client.execute_state_transaction(
            'statestore',
            [
                TransactionalStateOperation(key='t1', data='one'),
                TransactionalStateOperation(key='t2', data='two'),
                TransactionalStateOperation(
                    key='k1', data='', operation_type=TransactionOperationType.delete
                ),
            ],
        )
        t2 = client.get_state('statestore', 't2')
        seen['tx_stale'] = failure(
            lambda: client.execute_state_transaction(
                'statestore',
                [
                    TransactionalStateOperation(key='t1', data='changed'),
                    TransactionalStateOperation(key='t2', data='changed', etag='1' + t2.etag),
                ],
            )
        )
        bulk = client.get_bulk_state('statestore', ['t1', 't2', 'k1'])
        seen['bulk'] = {i.key: i.data.decode() for i in bulk.items}
        client.delete_state('statestore', 't1')
        seen['deleted'] = client.get_state('statestore', 't1').data.decode()

        # Metadata.
        client.set_metadata('color', 'green')
        meta = client.get_metadata()
        seen['metadata'] = {
            'id': meta.application_id,
            'components': sorted(c.name for c in meta.registered_components),
            'color': meta.extended_metadata.get('color'),
        }

        # Invocation over gRPC, with a query string.
        resp = client.invoke_method(
            target,
            'echo',
            data='{"hello": "grpc"}',
            content_type='application/json',
            http_verb='PUT',
            http_querystring=(('q', '1'),),
        )
        seen['invoke'] = {'text': resp.text(), 'content_type': resp.content_type}
        seen['invoke_not_found'] = failure(
            lambda: client.invoke_method(
                target, 'echo', data='x', http_verb='GET', http_querystring=(('status', '404'),)
            )
        )
        seen['invoke_nobody'] = failure(
            lambda: client.invoke_method('no-such-app', 'echo', data='x', http_verb='POST')
        )

        # A streaming subscription: publish, then receive and ack over the stream.
        subscription = client.subscribe('pubsub', 'stream-orders')
        for n in range(3):
            client.publish_event(
                'pubsub', 'stream-orders', json.dumps({'n': n}), data_content_type='application/json'
            )
        got = []
        timer = threading.Timer(30, subscription.close)
        timer.start()
        while len(got) < 3:
            message = subscription.next_message()
            got.append(
                {
                    'data': message.data(),
                    'topic': message.topic(),
                    'pubsub': message.pubsub_name(),
                    'type': message.type(),
                }
            )
            subscription.respond_success(message)
        timer.cancel()
        subscription.close()
        seen['stream'] = got

        # An event the app never answered is delivered again to its next stream.
        first = client.subscribe('pubsub', 'stream-again')
        client.publish_event('pubsub', 'stream-again', '{"n": 99}', data_content_type='application/json')
        unanswered = first.next_message()
        first.close()
        second = client.subscribe('pubsub', 'stream-again')
        timer = threading.Timer(30, second.close)
        timer.start()
        again = second.next_message()
        second.respond_success(again)
        timer.cancel()
        second.close()
        seen['redelivered'] = {'same_id': unanswered.id() == again.id(), 'data': again.data()}
        seen['unknown_pubsub'] = failure(
            lambda: client.publish_event('nopubsub', 'orders', 'x')
        )
    print(json.dumps(seen), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
