// A Dapr app written with the official JavaScript SDK (@dapr/dapr), unchanged:
// a DaprServer over HTTP or gRPC (argv[2]) that subscribes to TOPIC on `pubsub`,
// and to BULK_TOPIC as a bulk subscription (appending each event's data to
// EVENTS_FILE as one JSON line), and serves `echo`.
// Listens on APP_PORT; reaches its sidecar on DAPR_PORT (the sidecar's HTTP or
// gRPC port, matching the protocol).
import { appendFileSync } from "node:fs";
import {
  CommunicationProtocolEnum,
  DaprPubSubStatusEnum,
  DaprServer,
  HttpMethod,
} from "@dapr/dapr";

const protocol =
  process.argv[2] === "grpc" ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP;
const server = new DaprServer({
  serverHost: "127.0.0.1",
  serverPort: process.env.APP_PORT,
  communicationProtocol: protocol,
  clientOptions: { daprHost: "127.0.0.1", daprPort: process.env.DAPR_PORT },
});
const record = async (data) => {
  appendFileSync(process.env.EVENTS_FILE, JSON.stringify(data) + "\n");
  return DaprPubSubStatusEnum.SUCCESS;
};
await server.pubsub.subscribe("pubsub", process.env.TOPIC, record);
await server.pubsub.subscribeBulk("pubsub", process.env.BULK_TOPIC, record, {
  maxMessagesCount: 10,
  maxAwaitDurationMs: 200,
});
await server.invoker.listen(
  "echo",
  async ({ body }) => ({ echo: JSON.parse(body), protocol: process.argv[2] }),
  { method: HttpMethod.POST },
);
await server.start();
console.log("started");
