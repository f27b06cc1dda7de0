// This library's serve() on Node, from the build (`npm run build`): fan-out server for
// bench/fanout_bench.ts, bench/fanout/ours.ts on Node. Args: PORT DEFLATE(0|1). Run with
// `node --experimental-websocket` (Node 20: the self-check's probe clients). Every socket subscribes to
// "room" on open; a message is published with ws.publish (the sender left out). DEFLATE 1:
// deflate { broadcast: true }, or {} if that is refused at startup. Prints `config ...` lines, then its URL
// once two probe clients saw a publish go through (else exits with 2 and says why); `counters {json}` on
// SIGUSR2 and when it ends (the pub/sub stats, and drops, closes, closes1013 from its callbacks).
import { serve } from "../../dist/lib/adapters/serve.js";
import { slowAccounting } from "./_slow_accounting.mjs";

const [port, deflateArg] = process.argv.slice(2);
const compress = deflateArg === "1";
const fail = (why) => {
  console.error(`ours (serve on Node): ${why}`);
  process.exit(2);
};
let apiError;
// Published messages dropped for slow sockets (the drop callback), sockets closed, those with 1013.
const mine = { drops: 0, closes: 0, closes1013: 0 };
// The slow scenario's accounting (_slow_accounting.mjs); FANOUT_PUBLISH_POLICY: the publish queue's policy.
const accounting = slowAccounting();
const policy = process.env.FANOUT_PUBLISH_POLICY;
const websocket = {
  open(ws) {
    if (typeof ws.subscribe !== "function") {
      apiError ??= "ws.subscribe is not a function (the pub/sub API is not in dist/: npm run build)";
    } else ws.subscribe("room");
    accounting.open(ws);
  },
  message(ws, data, binary) {
    if (typeof ws.publish !== "function") {
      apiError ??= "ws.publish is not a function (the pub/sub API is not in dist/: npm run build)";
    } else ws.publish("room", data, { binary });
    accounting.published();
  },
  close(ws, code) {
    mine.closes++;
    if (code === 1013) mine.closes1013++;
    accounting.close(ws);
  },
  error(ws, error) {
    accounting.error(ws, error);
  },
  drop(ws, _topic, count) {
    mine.drops += count;
    accounting.drop(ws);
  },
};
const start = (deflate) =>
  serve({
    port: Number(port),
    hostname: "127.0.0.1",
    deflate,
    textAsBytes: true,
    websocket,
    ...(policy ? { publishQueue: { policy } } : {}),
    // FANOUT_HEARTBEAT=off: no heartbeat (it closes a peer that never reads); a number of ms: its interval
    // and timeout.
    ...(process.env.FANOUT_HEARTBEAT === "off"
      ? { heartbeat: false }
      : Number(process.env.FANOUT_HEARTBEAT) > 0
      ? { heartbeat: { interval: Number(process.env.FANOUT_HEARTBEAT), timeout: Number(process.env.FANOUT_HEARTBEAT) } }
      : {}),
  });
let deflate = compress ? { broadcast: true } : false, server;
try {
  server = await start(deflate);
} catch (error) {
  if (!compress) throw error;
  console.log(`config the broadcast profile was refused at startup (${error.message})`);
  server = await start(deflate = {});
}
console.log(`config deflate ${JSON.stringify(deflate)}`);
if (policy) console.log(`config publishQueue.policy ${policy}`);
if (process.env.FANOUT_HEARTBEAT === "off") console.log("config heartbeat false");
if (typeof server.publish !== "function") {
  await server.close();
  fail("server.publish is missing (the pub/sub API is not in dist/: npm run build)");
}

const probes = [];
try {
  const opened = () =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(server.url);
      probes.push(ws);
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error("a probe client could not connect"));
    });
  const [a, b] = [await opened(), await opened()];
  await new Promise((resolve, reject) => {
    b.onmessage = () => resolve();
    a.onmessage = () => reject(new Error("ws.publish sent the message back to its sender"));
    b.onclose = (event) => reject(new Error(`a probe client was closed (${event.code} ${event.reason})`));
    setTimeout(
      () =>
        reject(new Error(apiError ?? "a published message did not reach the other subscriber within 3 s")),
      3000,
    );
    a.send('{"probe":true}');
  });
  if (apiError !== undefined) throw new Error(apiError);
  const subscribers = server.subscriberCount?.("room");
  if (subscribers !== 2) throw new Error(`subscriberCount("room") is ${subscribers} with 2 subscribers`);
} catch (error) {
  await server.close();
  fail(error.message);
} finally {
  for (const ws of probes) ws.close();
}
await new Promise((resolve) => setTimeout(resolve, 100));

const printCounters = () =>
  console.log(`counters ${JSON.stringify({ ...server.pubsub?.stats, ...mine, ...accounting.counters() })}`);
process.on("SIGUSR2", printCounters);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    printCounters();
    process.exit(0);
  });
}
console.log(server.url);
