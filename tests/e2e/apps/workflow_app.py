"""Workflows with the official Python SDK (dapr.ext.workflow), unchanged.

Starts a WorkflowRuntime worker against the sidecar at DAPR_GRPC_PORT, then
runs each scenario named in SCENARIOS (comma-separated, default all) with a
DaprWorkflowClient and prints one JSON line per scenario: its name, final
status and output. Activity runs are counted per activity in `runs`.
"""

import json
import os
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import dapr.ext.workflow as wf

runs = Counter()
runs_lock = threading.Lock()
attempts = Counter()

wfr = wf.WorkflowRuntime()


def counted(name):
    with runs_lock:
        runs[name] += 1


@wfr.activity(name="hello")
def hello(ctx, name):
    counted("hello")
    return f"Hello {name}"


@wfr.activity(name="slow_square")
def slow_square(ctx, n):
    counted("slow_square")
    time.sleep(0.5)
    return n * n


@wfr.activity(name="flaky")
def flaky(ctx, key):
    counted("flaky")
    with runs_lock:
        attempts[key] += 1
        attempt = attempts[key]
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


@wfr.activity(name="always_fails")
def always_fails(ctx, _):
    counted("always_fails")
    raise ValueError("this activity always fails")


@wfr.activity(name="big")
def big(ctx, size):
    counted("big")
    return "x" * size


@wfr.workflow(name="big_result")
def big_result(ctx: wf.DaprWorkflowContext, size):
    return len((yield ctx.call_activity(big, input=size)))


@wfr.workflow(name="size_of")
def size_of(ctx: wf.DaprWorkflowContext, text):
    return len(text)


@wfr.workflow(name="chain")
def chain(ctx: wf.DaprWorkflowContext, names):
    results = []
    for name in names:
        results.append((yield ctx.call_activity(hello, input=name)))
    return results


@wfr.workflow(name="fan_out")
def fan_out(ctx: wf.DaprWorkflowContext, count):
    tasks = [ctx.call_activity(slow_square, input=n) for n in range(count)]
    squares = yield wf.when_all(tasks)
    return sum(squares)


@wfr.workflow(name="approval")
def approval(ctx: wf.DaprWorkflowContext, _):
    ctx.set_custom_status("waiting")
    approved = yield ctx.wait_for_external_event("approve")
    return {"approved": approved}


@wfr.workflow(name="timeout")
def timeout(ctx: wf.DaprWorkflowContext, seconds):
    event = ctx.wait_for_external_event("never")
    timer = ctx.create_timer(timedelta(seconds=seconds))
    winner = yield wf.when_any([event, timer])
    return "timed out" if winner == timer else "event"


@wfr.workflow(name="parent")
def parent(ctx: wf.DaprWorkflowContext, names):
    child = yield ctx.call_child_workflow(chain, input=names)
    return {"child": child}


@wfr.workflow(name="retries")
def retries(ctx: wf.DaprWorkflowContext, key):
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=200),
        max_number_of_attempts=5,
    )
    return (yield ctx.call_activity(flaky, input=key, retry_policy=policy))


@wfr.workflow(name="failing")
def failing(ctx: wf.DaprWorkflowContext, _):
    yield ctx.call_activity(always_fails, input=None)


@wfr.workflow(name="counter")
def counter(ctx: wf.DaprWorkflowContext, n):
    if n < 3:
        ctx.continue_as_new(n + 1)
        return None
    return n


def state_of(state):
    if state is None:
        return {"status": None}
    out = {
        "status": state.runtime_status.name,
        "output": json.loads(state.serialized_output) if state.serialized_output else None,
        "custom_status": state.serialized_custom_status,
    }
    if state.failure_details is not None:
        out["failure"] = state.failure_details.message
    return out


def run(client, name, workflow, payload, timeout=60, **kw):
    instance = client.schedule_new_workflow(workflow=workflow, input=payload, **kw)
    state = client.wait_for_workflow_completion(instance, timeout_in_seconds=timeout)
    return instance, state_of(state)


def scenario(client, name):
    if name == "chain":
        return run(client, name, chain, ["Tokyo", "Seattle", "London"])[1]
    if name == "fan_out":
        started = time.monotonic()
        out = run(client, name, fan_out, 5)[1]
        out["seconds"] = time.monotonic() - started
        return out
    if name == "events":
        instance = client.schedule_new_workflow(workflow=approval, input=None)
        client.wait_for_workflow_start(instance, timeout_in_seconds=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = client.get_workflow_state(instance)
            if s and s.serialized_custom_status:
                break
            time.sleep(0.1)
        client.raise_workflow_event(instance, "approve", data=True)
        state = client.wait_for_workflow_completion(instance, timeout_in_seconds=30)
        return state_of(state)
    if name == "timer":
        started = time.monotonic()
        out = run(client, name, timeout, 1)[1]
        out["seconds"] = time.monotonic() - started
        return out
    if name == "child":
        return run(client, name, parent, ["a", "b"])[1]
    if name == "retries":
        return run(client, name, retries, "k1")[1]
    if name == "failing":
        return run(client, name, failing, None)[1]
    if name == "continue_as_new":
        return run(client, name, counter, 0)[1]
    if name == "terminate":
        instance = client.schedule_new_workflow(workflow=approval, input=None)
        client.wait_for_workflow_start(instance, timeout_in_seconds=30)
        client.terminate_workflow(instance)
        state = client.wait_for_workflow_completion(instance, timeout_in_seconds=30)
        out = state_of(state)
        client.purge_workflow(instance)
        out["after_purge"] = state_of(client.get_workflow_state(instance))["status"]
        return out
    if name == "suspend":
        instance = client.schedule_new_workflow(workflow=approval, input=None)
        client.wait_for_workflow_start(instance, timeout_in_seconds=30)
        client.pause_workflow(instance)
        deadline = time.monotonic() + 30
        paused = None
        while time.monotonic() < deadline:
            paused = client.get_workflow_state(instance).runtime_status.name
            if paused == "SUSPENDED":
                break
            time.sleep(0.1)
        client.raise_workflow_event(instance, "approve", data="while paused")
        time.sleep(0.5)
        still = client.get_workflow_state(instance).runtime_status.name
        client.resume_workflow(instance)
        state = client.wait_for_workflow_completion(instance, timeout_in_seconds=30)
        out = state_of(state)
        out["paused"] = paused
        out["while_paused"] = still
        return out
    if name == "large_payloads":
        # Beyond NATS's max_payload (1 MiB by default): carried by reference.
        out = run(client, name, big_result, 2_000_000)[1]
        out["big_input"] = run(client, name, size_of, "x" * 2_000_000)[1]["output"]
        instance = client.schedule_new_workflow(workflow=approval, input=None)
        client.wait_for_workflow_start(instance, timeout_in_seconds=30)
        client.raise_workflow_event(instance, "approve", data="y" * 1_500_000)
        state = client.wait_for_workflow_completion(instance, timeout_in_seconds=60)
        approved = state_of(state)["output"]
        out["big_event"] = len(approved["approved"]) if approved else None
        return out
    if name == "rerun":
        # Run the chain again from its second activity, with a new input.
        source, first = run(client, name, chain, ["Tokyo", "Seattle", "London"])
        history = client.get_workflow_history(source)
        tasks = [e.event_id for e in history if e.event_type.name == "TASK_SCHEDULED"]
        again = client.rerun_workflow_from_event(
            source, tasks[1], new_instance_id=f"{source}-again", input="Paris"
        )
        state = client.wait_for_workflow_completion(again, timeout_in_seconds=30)
        out = state_of(state)
        out["instance"] = again
        out["source_output"] = first["output"]
        try:
            client.rerun_workflow_from_event(source, 999)
            out["missing_event"] = "accepted"
        except Exception as e:
            out["missing_event"] = getattr(e, "code", lambda: type(e).__name__)().name
        return out
    if name == "list":
        page = client.list_workflow_instance_ids(page_size=1000)
        return {"status": "COMPLETED", "output": len(page.instance_ids)}
    raise ValueError(f"unknown scenario {name}")


def main():
    names = os.environ.get("SCENARIOS", "").split(",")
    began = time.monotonic()
    wfr.start()
    client = wf.DaprWorkflowClient()
    print(json.dumps({"scenario": "started", "elapsed": round(time.monotonic() - began, 3)}), flush=True)
    try:
        for name in names:
            started = time.monotonic()
            try:
                out = scenario(client, name)
            except Exception as e:  # reported, so the test shows what failed
                out = {"status": "ERROR", "error": f"{type(e).__name__}: {e}"}
            out["scenario"] = name
            out["elapsed"] = round(time.monotonic() - started, 3)
            with runs_lock:
                out["runs"] = dict(runs)
            print(json.dumps(out), flush=True)
    finally:
        print(json.dumps({"scenario": "done"}), flush=True)
        shutdown = time.monotonic()
        wfr.shutdown()
        print(json.dumps({"scenario": "shutdown", "elapsed": round(time.monotonic() - shutdown, 3)}), flush=True)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
