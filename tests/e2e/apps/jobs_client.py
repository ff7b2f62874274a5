"""Schedules, reads and deletes jobs with the official Python SDK's
DaprClient (gRPC: the stable job rpcs, falling back to the Alpha1 ones) and
prints what it saw as one JSON object (the last line of stdout).

Usage: jobs_client.py
  Needs DAPR_GRPC_PORT and DAPR_HTTP_PORT.
"""

import contextlib
import json
import sys
import warnings

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._jobs import ConstantFailurePolicy, Job
from google.protobuf.any_pb2 import Any as GrpcAny


def code(e: Exception) -> str:
    if isinstance(e, grpc.RpcError):
        return (e if isinstance(e, DaprGrpcError) else DaprGrpcError(e)).code().name
    return type(e).__name__


def main() -> int:
    seen: dict = {}
    warnings.simplefilter('ignore', DeprecationWarning)
    with contextlib.redirect_stdout(sys.stderr):
        with DaprClient() as d:
            # The trigger the gRPC app records: due in a second, JSON bytes in an untyped Any.
            data = GrpcAny(value=json.dumps({'from': 'sdk'}).encode())
            d.schedule_job_alpha1(Job(name='grpc-job', due_time='1s', data=data), overwrite=True)
            kept = Job(
                name='sdk-kept',
                schedule='@every 1h',
                repeats=5,
                ttl='2h',
                data=data,
                failure_policy=ConstantFailurePolicy(max_retries=2, interval_seconds=5),
            )
            d.schedule_job_alpha1(kept, overwrite=True)
            got = d.get_job_alpha1('sdk-kept')
            seen['got'] = {
                'name': got.name,
                'schedule': got.schedule,
                'repeats': got.repeats,
                'ttl': got.ttl,
                'data': json.loads(got.data.value),
                'retries': got.failure_policy.max_retries,
                'interval': got.failure_policy.interval_seconds,
            }
            try:
                d.schedule_job_alpha1(kept)
                seen['again'] = 'OK'
            except Exception as e:
                seen['again'] = code(e)
            d.delete_job_alpha1('sdk-kept')
            try:
                d.get_job_alpha1('sdk-kept')
                seen['deleted'] = 'still there'
            except Exception as e:
                seen['deleted'] = code(e)
            try:
                d.schedule_job_alpha1(Job(name='bad', schedule='not a schedule'))
                seen['bad'] = 'OK'
            except Exception as e:
                seen['bad'] = code(e)
    print(json.dumps(seen))
    return 0


if __name__ == '__main__':
    sys.exit(main())
