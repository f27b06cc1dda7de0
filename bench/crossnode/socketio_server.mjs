// socket.io 4 on Node with a Redis adapter: one node of bench/crossnode_bench.ts (WebSocket transport only,
// no compression, as bench/fanout/socketio_server.mjs).
//
//   node bench/crossnode/socketio_server.mjs PORT REDIS_URL ADAPTER NODE_ID [KEY]
//
// ADAPTER: `classic` (@socket.io/redis-adapter createAdapter: PUBLISH, every node PSUBSCRIBEs
// `socket.io#/#*`), `sharded` (@socket.io/redis-adapter createShardedAdapter with subscriptionMode
// "dynamic": SPUBLISH, a channel per room, subscribed while the node has a member) or `streams`
// (@socket.io/redis-streams-adapter: XADD to one stream, every node XREADs it). The clients are ioredis (both
// adapters take it). A socket's role is in its handshake query, as for bench/crossnode/ours_server.mjs:
// `role=sub&room=rK` joins rK, `role=sub&topics=F:N` joins tF..; a `msg` event of `role=pub&room=rK` goes to
// rK with io.to(rK).emit (the publisher is in no room), of `role=pub&rotate=N` its k-th to t(k mod N).
// Prints its http base URL, `counters {json}` on SIGUSR2 and when it ends: `received`, the messages it read
// from Redis (pub/sub messages on its subscriber connection, or stream entries handed to the adapter).
import { createServer } from "node:http";
import process from "node:process";
import { Server } from "socket.io";
import { Redis } from "ioredis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";

const [port, redisUrl, kind, nodeId = "sio", key = "socket.io"] = process.argv.slice(2);
// Named, so that the bench finds this node's connections in CLIENT LIST (the streams adapter's reader is a
// duplicate of pubClient: the same name).
const pubClient = new Redis(redisUrl, { connectionName: nodeId });
const subClient = pubClient.duplicate({ connectionName: `${nodeId}-sub` });
for (const client of [pubClient, subClient]) client.on("error", () => {});
let received = 0;
for (const event of ["messageBuffer", "pmessageBuffer", "smessageBuffer"]) {
  subClient.on(event, () => received++);
}
// KEY: the adapter's channel prefix (and the stream's name): "socket.io" by default, as the adapters'.
const adapter = kind === "streams"
  ? createStreamsAdapter(pubClient, { streamName: key, channelPrefix: key })
  : kind === "sharded"
  ? createShardedAdapter(pubClient, subClient, { channelPrefix: key, subscriptionMode: "dynamic" })
  : createAdapter(pubClient, subClient, { key });

const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  adapter,
});
if (kind === "streams") {
  const nsp = io.of("/").adapter;
  const onRawMessage = nsp.onRawMessage.bind(nsp);
  nsp.onRawMessage = (message, offset) => {
    received++;
    return onRawMessage(message, offset);
  };
}
io.on("connection", (socket) => {
  const query = socket.handshake.query;
  const room = typeof query.room === "string" ? query.room : "";
  if (query.role === "sub") {
    if (room !== "") socket.join(room);
    if (typeof query.topics === "string") {
      const [first, count] = query.topics.split(":").map(Number);
      const rooms = [];
      for (let i = first; i < first + count; i++) rooms.push(`t${i}`);
      socket.join(rooms);
    }
    return;
  }
  const rotate = Number(query.rotate ?? 0);
  let sent = 0;
  socket.on("msg", (data) => {
    if (rotate > 0) io.to(`t${sent++ % rotate}`).emit("msg", data);
    else if (room !== "") io.to(room).emit("msg", data);
  });
});

const printCounters = () => console.log(`counters ${JSON.stringify({ received })}`);
process.on("SIGUSR2", printCounters);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    printCounters();
    io.close();
    pubClient.disconnect();
    subClient.disconnect();
    setTimeout(() => process.exit(0), 200);
  });
}
await Promise.all([
  pubClient.status === "ready" ? undefined : new Promise((resolve) => pubClient.once("ready", resolve)),
  subClient.status === "ready" ? undefined : new Promise((resolve) => subClient.once("ready", resolve)),
]);
console.log(`config socket.io ${kind} adapter, ioredis clients`);
http.listen(Number(port), "127.0.0.1", () => console.log(`http://127.0.0.1:${http.address().port}/`));
