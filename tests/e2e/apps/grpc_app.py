"""An app served over gRPC with the official Python SDK's extension
(dapr.ext.grpc), unchanged.

- method `echo` answers JSON with the body, content type and caller metadata;
- method `typed` answers a protobuf message (a `StringValue`), as the SDK's
  custom-data invocation example does with its own message type;
- topic `pubsub`/`grpc-orders` appends each event to EVENTS_FILE (one JSON line);
- topic `pubsub`/`grpc-flaky` asks for a retry of each event's first delivery,
  then records it to EVENTS_FILE;
- input binding `grpc-orders-in` appends each event to EVENTS_FILE, failing
  the first delivery of data `"flaky"` so that it comes again;
- job `grpc-job` appends each trigger (name, data as text) to EVENTS_FILE;
- a health check that always passes.

Listens on APP_PORT.
"""

import json
import os
import threading

from cloudevents.sdk.event import v1
from google.protobuf.wrappers_pb2 import StringValue
from dapr.clients.grpc._response import TopicEventResponse
from dapr.ext.grpc import App, BindingRequest, InvokeMethodRequest, InvokeMethodResponse, JobEvent

app = App()
app.register_health_check(lambda: None)
lock = threading.Lock()
seen_once: set = set()


def record(event: v1.Event, topic: str) -> None:
    line = {
        'topic': topic,
        'id': event.EventID(),
        'type': event.EventType(),
        'content_type': event.ContentType(),
        'data': json.loads(event.Data()),
    }
    with lock, open(os.environ['EVENTS_FILE'], 'a') as f:
        f.write(json.dumps(line) + '\n')


@app.binding('grpc-orders-in')
def orders_in(request: BindingRequest) -> None:
    data = request.text()
    with lock:
        if data == '"flaky"' and 'binding-flaky' not in seen_once:
            seen_once.add('binding-flaky')
            raise RuntimeError('fail the first delivery')
        line = {'binding': 'grpc-orders-in', 'data': data, 'metadata': request.binding_metadata}
        with open(os.environ['EVENTS_FILE'], 'a') as f:
            f.write(json.dumps(line) + '\n')


@app.method(name='echo')
def echo(request: InvokeMethodRequest) -> InvokeMethodResponse:
    metadata = request.metadata
    body = {
        'body': request.text(),
        'content_type': request.content_type,
        'caller': metadata.get('dapr-caller-app-id', [''])[0],
        'custom': metadata.get('x-custom', [''])[0],
    }
    return InvokeMethodResponse(json.dumps(body), 'application/json')


@app.method(name='typed')
def typed(request: InvokeMethodRequest) -> InvokeMethodResponse:
    response = InvokeMethodResponse()
    response.set_data(StringValue(value=f'typed: {request.text()}'))
    return response


@app.subscribe(pubsub_name='pubsub', topic='grpc-orders')
def orders(event: v1.Event) -> TopicEventResponse:
    record(event, 'grpc-orders')
    return TopicEventResponse('success')


@app.subscribe(pubsub_name='pubsub', topic='grpc-flaky')
def flaky(event: v1.Event) -> TopicEventResponse:
    with lock:
        first = event.EventID() not in seen_once
        seen_once.add(event.EventID())
    if first:
        return TopicEventResponse('retry')
    record(event, 'grpc-flaky')
    return TopicEventResponse('success')


@app.job_event('grpc-job')
def grpc_job(event: JobEvent) -> None:
    line = {'job': event.name, 'data': event.get_data_as_string()}
    with lock, open(os.environ['EVENTS_FILE'], 'a') as f:
        f.write(json.dumps(line) + '\n')


app.run(int(os.environ['APP_PORT']))
