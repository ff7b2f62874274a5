"""A workflow worker with the official Python SDK (dapr.ext.workflow), for
durability tests: it runs until killed, and appends one JSON line per
activity run and one per workflow turn to RUNS_FILE (with its own pid), so
a test can count runs across crashes and see which worker ran what.

Workflows: `long_chain` (STEPS activities `step`, each STEP_SECONDS long,
returns the list of step results) and `sleeper` (a SLEEP_SECONDS durable
timer, then "woke").
"""

import json
import os
import signal
import threading
import time
from datetime import timedelta

import dapr.ext.workflow as wf

RUNS_FILE = os.environ["RUNS_FILE"]
STEPS = int(os.environ.get("STEPS", "8"))
STEP_SECONDS = float(os.environ.get("STEP_SECONDS", "0.3"))
SLEEP_SECONDS = float(os.environ.get("SLEEP_SECONDS", "3"))
lock = threading.Lock()

wfr = wf.WorkflowRuntime()


@wfr.activity(name="step")
def step(ctx, i):
    time.sleep(STEP_SECONDS)
    log_run({"step": i})
    return i * 10


def log_run(record):
    with lock, open(RUNS_FILE, "a") as f:
        f.write(json.dumps({**record, "pid": os.getpid()}) + "\n")


@wfr.workflow(name="long_chain")
def long_chain(ctx: wf.DaprWorkflowContext, _):
    # Every turn runs the function again: one line per turn, for tests that
    # look at which worker (and so which sidecar) ran an instance's turns.
    log_run({"turn": ctx.instance_id})
    results = []
    for i in range(STEPS):
        results.append((yield ctx.call_activity(step, input=i)))
    return results


@wfr.workflow(name="sleeper")
def sleeper(ctx: wf.DaprWorkflowContext, _):
    yield ctx.create_timer(timedelta(seconds=SLEEP_SECONDS))
    return "woke"


def main():
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    wfr.start()
    print("worker started", flush=True)
    stop.wait()
    wfr.shutdown()


if __name__ == "__main__":
    main()
