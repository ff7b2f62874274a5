// Drives a sidecar with the official JavaScript SDK's DaprClient, over HTTP and
// over gRPC, and prints what it observed as one JSON object (the last line).
// Sidecar ports: DAPR_HTTP_PORT, DAPR_GRPC_PORT. argv: the apps to invoke
// (`echo`), then the topics to publish one event to each.
import { CommunicationProtocolEnum, DaprClient, HttpMethod } from "@dapr/dapr";

const [apps, topics] = [process.argv[2].split(","), process.argv[3].split(",")];
const seen = {};
for (const [name, protocol, port] of [
  ["http", CommunicationProtocolEnum.HTTP, process.env.DAPR_HTTP_PORT],
  ["grpc", CommunicationProtocolEnum.GRPC, process.env.DAPR_GRPC_PORT],
]) {
  const client = new DaprClient({ daprHost: "127.0.0.1", daprPort: port, communicationProtocol: protocol });
  const key = (k) => `${name}-${k}`;
  const out = {};
  await client.state.save("statestore", [
    { key: key("a"), value: { n: 1 } },
    { key: key("b"), value: "plain" },
  ]);
  out.get = await client.state.get("statestore", key("a"));
  await client.state.transaction("statestore", [
    { operation: "upsert", request: { key: key("c"), value: "from a transaction" } },
    { operation: "delete", request: { key: key("b") } },
  ]);
  const bulk = await client.state.getBulk("statestore", [key("a"), key("b"), key("c")]);
  // A missing key reads as null over HTTP and as "" over gRPC.
  out.bulk = Object.fromEntries(bulk.map((i) => [i.key.replace(`${name}-`, ""), i.data || null]));
  await client.state.delete("statestore", key("a"));
  out.deleted = await client.state.get("statestore", key("a"));
  for (const topic of topics) {
    await client.pubsub.publish("pubsub", topic, { from: name, topic });
  }
  out.invoke = {};
  for (const app of apps) {
    out.invoke[app] = await client.invoker.invoke(app, "echo", HttpMethod.POST, { from: name });
  }
  const metadata = await client.metadata.get();
  out.metadata = { id: metadata.id, components: metadata.components.map((c) => c.name).sort() };
  seen[name] = out;
}
console.log(JSON.stringify(seen));
process.exit(0);
