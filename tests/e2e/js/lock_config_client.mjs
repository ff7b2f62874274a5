// Takes and releases locks (HTTP and gRPC) and reads and watches
// configuration (gRPC: the SDK's HTTP client has no configuration calls) with
// the official JavaScript SDK's DaprClient; prints what it saw as one JSON
// object (the last line). Sidecar ports: DAPR_HTTP_PORT, DAPR_GRPC_PORT;
// argv: the lock store, the configuration store, a key; READY_FILE is
// written once the subscription is open, and the client waits for one update.
import { writeFileSync } from "node:fs";
import { CommunicationProtocolEnum, DaprClient } from "@dapr/dapr";

const [lockStore, configStore, key] = process.argv.slice(2);
const client = (protocol, port) =>
  new DaprClient({ daprHost: "127.0.0.1", daprPort: port, communicationProtocol: protocol });
const seen = {};
for (const [name, protocol, port] of [
  ["http", CommunicationProtocolEnum.HTTP, process.env.DAPR_HTTP_PORT],
  ["grpc", CommunicationProtocolEnum.GRPC, process.env.DAPR_GRPC_PORT],
]) {
  const c = client(protocol, port);
  const resource = `js-${name}`;
  seen[name] = {
    first: (await c.lock.lock(lockStore, resource, "a", 60)).success,
    second: (await c.lock.lock(lockStore, resource, "b", 60)).success,
    unlockOther: (await c.lock.unlock(lockStore, resource, "b")).status,
    unlockOwner: (await c.lock.unlock(lockStore, resource, "a")).status,
    unlockAgain: (await c.lock.unlock(lockStore, resource, "a")).status,
  };
}

const grpc = client(CommunicationProtocolEnum.GRPC, process.env.DAPR_GRPC_PORT);
const got = await grpc.configuration.get(configStore, [key]);
seen.get = { value: got.items[key]?.value, version: got.items[key]?.version };
const update = new Promise((resolve) => {
  grpc.configuration
    .subscribeWithKeys(configStore, [key], (r) => {
      if (r.items[key]) resolve(r.items[key]);
    })
    .then((stream) => {
      seen.subscribed = true;
      writeFileSync(process.env.READY_FILE, "ready");
      update.then(() => stream.stop());
    });
});
const item = await Promise.race([update, new Promise((r) => setTimeout(() => r(null), 30000))]);
seen.update = item && { value: item.value, version: item.version };
console.log(JSON.stringify(seen));
process.exit(0);
