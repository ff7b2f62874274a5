"""The Python SDK's side of `jetway bench --suite workflows`: a
dapr.ext.workflow worker for the sidecar at DAPR_GRPC_PORT that serves the
two measured shapes, five chained activities (`chain5`) and five fanned-out
ones (`fanout5`), each activity answering at once. Runs until SIGTERM.
"""

import signal
import threading

import dapr.ext.workflow as wf

STEPS = 5

wfr = wf.WorkflowRuntime()


@wfr.activity(name="step")
def step(ctx, i):
    return i


@wfr.workflow(name="chain5")
def chain5(ctx: wf.DaprWorkflowContext, _):
    done = 0
    for i in range(STEPS):
        done += (yield ctx.call_activity(step, input=i)) is not None
    return done


@wfr.workflow(name="fanout5")
def fanout5(ctx: wf.DaprWorkflowContext, _):
    results = yield wf.when_all([ctx.call_activity(step, input=i) for i in range(STEPS)])
    return len(results)


def main():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    wfr.start()
    print("worker started", flush=True)
    stop.wait()
    wfr.shutdown()


if __name__ == "__main__":
    main()
