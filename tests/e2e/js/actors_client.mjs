// Calls `JsCounter` actors through the official JavaScript SDK's
// ActorProxyBuilder, over HTTP or gRPC (argv[2]) to the sidecar port DAPR_PORT.
// Usage: actors_client.mjs <http|grpc> <actor id> <method> [arg]
// Prints the method's result as one JSON line.
import { ActorId, ActorProxyBuilder, CommunicationProtocolEnum, DaprClient } from "@dapr/dapr";

const [protocolName, id, method, arg] = process.argv.slice(2);
const client = new DaprClient({
  daprHost: "127.0.0.1",
  daprPort: process.env.DAPR_PORT,
  communicationProtocol:
    protocolName === "grpc" ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP,
});
// The proxy takes the actor type's name from the class.
class JsCounter {}
const actor = new ActorProxyBuilder(JsCounter, client).build(new ActorId(id));
const result = arg === undefined ? await actor[method]() : await actor[method](JSON.parse(arg));
console.log(JSON.stringify(result ?? null));
process.exit(0);
