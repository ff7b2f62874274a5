// An actor host written with the official JavaScript SDK (@dapr/dapr), unchanged:
// a DaprServer over HTTP hosting the actor type `JsCounter`. Listens on
// APP_PORT; reaches its sidecar's HTTP API on DAPR_HTTP_PORT.
//
// JsCounter:
//   increment(by)     adds `by` to the actor state "count" and returns it
//   startReminder(ms) registers reminder "ping" (data "hello from js") every <ms> ms
// Each reminder fire is appended to EVENTS_FILE as {"id", "data"}.
import { appendFileSync } from "node:fs";
import { AbstractActor, DaprServer } from "@dapr/dapr";
import { Temporal } from "@js-temporal/polyfill";

class JsCounter extends AbstractActor {
  async increment(by) {
    const state = this.getStateManager();
    const [found, count] = await state.tryGetState("count");
    const next = (found ? count : 0) + by;
    await state.setState("count", next);
    await state.saveState();
    return next;
  }

  async startReminder(ms) {
    const every = Temporal.Duration.from({ milliseconds: ms });
    await this.registerActorReminder("ping", every, every, undefined, "hello from js");
  }

  async receiveReminder(data) {
    const line = JSON.stringify({ id: this.getActorId().getId(), data });
    appendFileSync(process.env.EVENTS_FILE, line + "\n");
  }
}

const server = new DaprServer({
  serverHost: "127.0.0.1",
  serverPort: process.env.APP_PORT,
  clientOptions: { daprHost: "127.0.0.1", daprPort: process.env.DAPR_HTTP_PORT },
});
await server.actor.init();
await server.actor.registerActor(JsCounter);
await server.start();
console.log("started");
