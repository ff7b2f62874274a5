// Workflows with the official JavaScript SDK (@dapr/dapr), unchanged: the JS
// twin of tests/e2e/apps/workflow_app.py.
//
// Starts a WorkflowRuntime worker against the sidecar at 127.0.0.1 and
// DAPR_GRPC_PORT, then runs each scenario named in SCENARIOS (comma-separated)
// with a DaprWorkflowClient and prints one JSON line per scenario: its name,
// final status and output. Activity runs are counted per activity in `runs`.
//
// Scenarios: chain, fan_out, events, timer, child, failing, continue_as_new,
// terminate, suspend. Not here, because SDK 3.18.0 lacks them: retries
// (callActivity takes no retry policy) and list (the client has no
// list-instances call).
//
// The SDK's loggers cannot be configured from the workflow classes (they are
// built without options, at level info) and ConsoleLoggerService writes info,
// verbose and debug lines through console.info/log/debug, which go to stdout.
// So every console method is pointed at stderr, and the JSON reports are
// written with process.stdout.write: stdout holds only the reports.
import { format } from "node:util";
import { DaprWorkflowClient, WorkflowRuntime, WorkflowRuntimeStatus } from "@dapr/dapr";

for (const method of ["log", "info", "debug", "warn", "error", "trace"]) {
  console[method] = (...args) => process.stderr.write(format(...args) + "\n");
}
const report = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const runs = {};
const attempts = {};
const counted = (name) => {
  runs[name] = (runs[name] ?? 0) + 1;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now() / 1000;

// Activities. Note the SDK drops a falsy activity input (it encodes
// `input ? JSON.stringify(input) : undefined`), so 0 arrives as undefined.
const hello = (ctx, name) => {
  counted("hello");
  return `Hello ${name}`;
};

const slowSquare = async (ctx, n) => {
  counted("slow_square");
  await sleep(500);
  const v = n ?? 0;
  return v * v;
};

const alwaysFails = (ctx, _) => {
  counted("always_fails");
  throw new Error("this activity always fails");
};

// Workflows: the SDK drives async generators (it checks Symbol.asyncIterator);
// a plain function's return value completes the workflow at once.
async function* chain(ctx, names) {
  const results = [];
  for (const name of names) {
    results.push(yield ctx.callActivity("hello", name));
  }
  return results;
}

async function* fanOut(ctx, count) {
  const tasks = [];
  for (let n = 0; n < count; n++) {
    tasks.push(ctx.callActivity("slow_square", n));
  }
  const squares = yield ctx.whenAll(tasks);
  return squares.reduce((a, b) => a + (b ?? 0), 0);
}

async function* approval(ctx, _) {
  ctx.setCustomStatus("waiting");
  const approved = yield ctx.waitForExternalEvent("approve");
  return { approved };
}

async function* timeout(ctx, seconds) {
  const event = ctx.waitForExternalEvent("never");
  // A number is taken as seconds from the workflow's current time.
  const timer = ctx.createTimer(seconds);
  const winner = yield ctx.whenAny([event, timer]);
  return winner === timer ? "timed out" : "event";
}

async function* parent(ctx, names) {
  const child = yield ctx.callChildWorkflow("chain", names);
  return { child };
}

async function* failing(ctx, _) {
  yield ctx.callActivity("always_fails");
}

function counter(ctx, n) {
  if (n < 3) {
    ctx.continueAsNew(n + 1, false);
    return undefined;
  }
  return n;
}

const statusName = (state) => WorkflowRuntimeStatus[state.runtimeStatus] ?? String(state.runtimeStatus);

function stateOf(state) {
  if (state === undefined || state === null) {
    return { status: null };
  }
  const out = {
    status: statusName(state),
    output: state.serializedOutput ? JSON.parse(state.serializedOutput) : null,
    custom_status: state.customStatus ?? null,
  };
  if (state.workflowFailureDetails !== undefined) {
    out.failure = state.workflowFailureDetails.getErrorMessage();
  }
  return out;
}

async function run(client, workflow, payload, timeoutSeconds = 60) {
  const instance = await client.scheduleNewWorkflow(workflow, payload);
  const state = await client.waitForWorkflowCompletion(instance, true, timeoutSeconds);
  return [instance, stateOf(state)];
}

async function scenario(client, name) {
  switch (name) {
    case "chain":
      return (await run(client, "chain", ["Tokyo", "Seattle", "London"]))[1];
    case "fan_out": {
      const started = now();
      const out = (await run(client, "fan_out", 5))[1];
      out.seconds = now() - started;
      return out;
    }
    case "events": {
      const instance = await client.scheduleNewWorkflow("approval", null);
      await client.waitForWorkflowStart(instance, true, 30);
      const deadline = now() + 30;
      while (now() < deadline) {
        const s = await client.getWorkflowState(instance, true);
        if (s && s.customStatus) {
          break;
        }
        await sleep(100);
      }
      await client.raiseEvent(instance, "approve", true);
      return stateOf(await client.waitForWorkflowCompletion(instance, true, 30));
    }
    case "timer": {
      const started = now();
      const out = (await run(client, "timeout", 1))[1];
      out.seconds = now() - started;
      return out;
    }
    case "child":
      return (await run(client, "parent", ["a", "b"]))[1];
    case "failing":
      return (await run(client, "failing", null))[1];
    case "continue_as_new":
      return (await run(client, "counter", 0))[1];
    case "terminate": {
      const instance = await client.scheduleNewWorkflow("approval", null);
      await client.waitForWorkflowStart(instance, true, 30);
      await client.terminateWorkflow(instance);
      const out = stateOf(await client.waitForWorkflowCompletion(instance, true, 30));
      out.purged = await client.purgeWorkflow(instance);
      out.after_purge = stateOf(await client.getWorkflowState(instance, true)).status;
      return out;
    }
    case "suspend": {
      const instance = await client.scheduleNewWorkflow("approval", null);
      await client.waitForWorkflowStart(instance, true, 30);
      await client.suspendWorkflow(instance);
      const deadline = now() + 30;
      let paused = null;
      while (now() < deadline) {
        paused = statusName(await client.getWorkflowState(instance, true));
        if (paused === "SUSPENDED") {
          break;
        }
        await sleep(100);
      }
      await client.raiseEvent(instance, "approve", "while paused");
      await sleep(500);
      const still = statusName(await client.getWorkflowState(instance, true));
      await client.resumeWorkflow(instance);
      const out = stateOf(await client.waitForWorkflowCompletion(instance, true, 30));
      out.paused = paused;
      out.while_paused = still;
      return out;
    }
    default:
      throw new Error(`unknown scenario ${name}`);
  }
}

async function main() {
  const names = (process.env.SCENARIOS ?? "").split(",").filter((n) => n !== "");
  const options = { daprHost: "127.0.0.1", daprPort: process.env.DAPR_GRPC_PORT ?? "50001" };
  const began = now();
  const runtime = new WorkflowRuntime({ ...options })
    .registerActivityWithName("hello", hello)
    .registerActivityWithName("slow_square", slowSquare)
    .registerActivityWithName("always_fails", alwaysFails)
    .registerWorkflowWithName("chain", chain)
    .registerWorkflowWithName("fan_out", fanOut)
    .registerWorkflowWithName("approval", approval)
    .registerWorkflowWithName("timeout", timeout)
    .registerWorkflowWithName("parent", parent)
    .registerWorkflowWithName("failing", failing)
    .registerWorkflowWithName("counter", counter);
  await runtime.start();
  const client = new DaprWorkflowClient({ ...options });
  report({ scenario: "started", elapsed: Math.round((now() - began) * 1000) / 1000 });
  try {
    for (const name of names) {
      const started = now();
      let out;
      try {
        out = await scenario(client, name);
      } catch (e) {
        // Reported, so the test shows what failed.
        out = { status: "ERROR", error: `${e?.name ?? "Error"}: ${e?.message ?? e}` };
      }
      out.scenario = name;
      out.elapsed = Math.round((now() - started) * 1000) / 1000;
      out.runs = { ...runs };
      report(out);
    }
  } finally {
    report({ scenario: "done" });
    const shutdown = now();
    await Promise.allSettled([runtime.stop(), client.stop()]);
    report({ scenario: "shutdown", elapsed: Math.round((now() - shutdown) * 1000) / 1000 });
  }
}

main().then(
  () => process.stdout.write("", () => process.exit(0)),
  (e) => {
    console.error("workflow_app failed:", e);
    process.stdout.write("", () => process.exit(1));
  },
);
