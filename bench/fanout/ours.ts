/**
 * This library's pub/sub: fan-out server for bench/fanout_bench.ts, on Deno or Bun (Node: ours_node.mjs,
 * the same on the build). Every socket subscribes to "room" on open; a message is published to the room
 * with `ws.publish`, which leaves the sender out. Text stays its UTF-8 bytes (`textAsBytes`).
 *
 *   deno run -A bench/fanout/ours.ts PORT DEFLATE(0|1) serve|listenDeno
 *   bun bench/fanout/ours.ts PORT DEFLATE(0|1) serve|listenBun|bunServe|bunServeNative
 *
 * DEFLATE 1: `deflate: { broadcast: true }` (one compressed frame serves every subscriber), or `{}` if that
 * is refused at startup; bunServe: Bun's `perMessageDeflate: true` (its shared compressor);
 * bunServeNative: bunServe with `nativeTopics: true` (Bun's own topics). Prints
 * `config ...` lines (what it runs with), then its URL once a self-check passed: two probe clients, one
 * publishes, the other must receive it (else it exits with 2 and says why, e.g. the API is not there).
 * Prints `counters {json}` on SIGUSR2 and when it ends (SIGTERM, SIGINT): the pub/sub stats (publishes,
 * deliveries, deflates, refused ...), and from its callbacks: drops (messages dropped for slow sockets),
 * closes, closes1013 (the slow-consumer close).
 *
 * @module
 */

import process from "node:process";
import type { ServerSocket, WebSocketHandler } from "../../lib/adapters/serve.ts";
import type { SlowConsumerPolicy } from "../../lib/connection.ts";
import { slowAccounting } from "./_slow_accounting.mjs";

const Bun = (globalThis as unknown as {
  Bun?: { serve(options: object): { port: number; stop(closeActive?: boolean): void } };
}).Bun;

const [port, deflateArg, adapter = "serve"] = process.argv.slice(2);
const compress = deflateArg === "1";

function fail(why: string): never {
  console.error(`ours (${adapter}): ${why}`);
  process.exit(2);
}

/** The first thing the pub/sub API lacked when a socket used it. */
let apiError: string | undefined;
/** Published messages dropped for slow sockets (the `drop` callback), sockets closed, those with 1013. */
const mine = { drops: 0, closes: 0, closes1013: 0 };
/** The slow scenario's accounting (bench/fanout/_slow_accounting.mjs). */
const accounting = slowAccounting();
/** FANOUT_PUBLISH_POLICY (the slow scenario's --policies): the publish queue's policy, else the default. */
const policy = process.env.FANOUT_PUBLISH_POLICY as SlowConsumerPolicy | undefined;
const publishQueue = policy ? { policy } : undefined;
/**
 * FANOUT_HEARTBEAT=off (the slow scenario's --heartbeat off): no heartbeat, which closes a peer that never reads;
 * a number of ms (--heartbeat MS): the heartbeat's interval and timeout.
 */
const heartbeatMs = Number(process.env.FANOUT_HEARTBEAT);
const heartbeat = process.env.FANOUT_HEARTBEAT === "off"
  ? { heartbeat: false as const }
  : heartbeatMs > 0
  ? { heartbeat: { interval: heartbeatMs, timeout: heartbeatMs } }
  : {};
// The checks: an older build or checkout has no pub/sub API (ours_node.mjs runs dist/).
const websocket: WebSocketHandler = {
  open(ws: ServerSocket) {
    if (typeof ws.subscribe !== "function") {
      apiError ??= "ws.subscribe is not a function (the pub/sub API has not landed)";
    } else ws.subscribe("room");
    accounting.open(ws);
  },
  message(ws, data, binary) {
    if (typeof ws.publish !== "function") {
      apiError ??= "ws.publish is not a function (the pub/sub API has not landed)";
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

let url: string,
  stats: () => object | undefined,
  count: ((topic: string) => number) | undefined,
  stop: () => unknown;
if (adapter === "bunServe" || adapter === "bunServeNative") {
  if (Bun === undefined) fail("bunServe needs Bun");
  const { bunServe } = await import("../../lib/adapters/bun_serve.ts");
  const nativeTopics = adapter === "bunServeNative";
  const handlers = bunServe({
    perMessageDeflate: compress,
    ...(publishQueue ? { publishQueue } : {}),
    websocket,
    ...(nativeTopics ? { nativeTopics } : {}),
  });
  console.log(`config perMessageDeflate ${compress}${nativeTopics ? " nativeTopics true" : ""}`);
  const server = Bun.serve({ port: Number(port), hostname: "127.0.0.1", ...handlers });
  url = `ws://127.0.0.1:${server.port}/`;
  if (typeof handlers.publish !== "function") {
    fail("bunServe(...).publish is missing (the pub/sub API has not landed)");
  }
  stats = () => (nativeTopics
    ? (handlers as { nativeTopicStats?: object }).nativeTopicStats
    : handlers.pubsub?.stats);
  count = handlers.subscriberCount?.bind(handlers);
  stop = () =>
    server.stop(true);
} else {
  const serve = adapter === "listenDeno"
    ? (await import("../../lib/adapters/deno_listen.ts")).listenDeno
    : adapter === "listenBun"
    ? (await import("../../lib/adapters/bun_listen.ts")).listenBun
    : (await import("../../lib/adapters/serve.ts")).serve;
  const start = (deflate: false | { broadcast?: boolean }) =>
    serve({
      port: Number(port),
      hostname: "127.0.0.1",
      deflate,
      textAsBytes: true,
      websocket,
      ...(publishQueue ? { publishQueue } : {}),
      ...heartbeat,
    });
  let server: Awaited<ReturnType<typeof start>>;
  let deflate: false | { broadcast?: boolean } = compress ? { broadcast: true } : false;
  try {
    server = await start(deflate);
  } catch (error) {
    if (!compress) throw error;
    console.log(`config the broadcast profile was refused at startup (${(error as Error).message})`);
    server = await start(deflate = {});
  }
  console.log(`config deflate ${JSON.stringify(deflate)}`);
  if (policy) console.log(`config publishQueue.policy ${policy}`);
  if (process.env.FANOUT_HEARTBEAT === "off") console.log("config heartbeat false");
  if (heartbeatMs > 0) console.log(`config heartbeat ${heartbeatMs} ms (interval and timeout)`);
  url = server.url;
  stop = () => server.close();
  if (typeof server.publish !== "function") {
    await server.close();
    fail("server.publish is missing (the pub/sub API has not landed)");
  }
  stats = () => server.pubsub?.stats;
  count = server.subscriberCount?.bind(server);
}

/** Two probe clients: one publishes, the other must get it. */
async function selfCheck(): Promise<void> {
  const probes: WebSocket[] = [];
  try {
    const opened = () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url);
        probes.push(ws);
        ws.onopen = () => resolve(ws);
        ws.onerror = () => reject(new Error("a probe client could not connect"));
      });
    const [a, b] = [await opened(), await opened()];
    const received = new Promise<void>((resolve, reject) => {
      b.onmessage = () => resolve();
      a.onmessage = () => reject(new Error("ws.publish sent the message back to its sender"));
      b.onclose = (event) => reject(new Error(`a probe client was closed (${event.code} ${event.reason})`));
      setTimeout(
        () =>
          reject(new Error(apiError ?? "a published message did not reach the other subscriber within 3 s")),
        3000,
      );
    });
    a.send('{"probe":true}');
    await received;
    if (apiError !== undefined) throw new Error(apiError);
    const subscribers = count?.("room");
    if (subscribers !== 2) throw new Error(`subscriberCount("room") is ${subscribers} with 2 subscribers`);
  } finally {
    await Promise.all(probes.map((ws) =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.addEventListener("close", () => resolve());
        setTimeout(resolve, 1000);
        ws.close();
      })
    ));
  }
}

try {
  await selfCheck();
} catch (error) {
  await stop();
  fail((error as Error).message);
}

const printCounters = () =>
  console.log(`counters ${JSON.stringify({ ...stats(), ...mine, ...accounting.counters() })}`);
const end = () => {
  printCounters();
  process.exit(0);
};
const deno = (globalThis as { Deno?: typeof Deno }).Deno;
if (deno !== undefined) {
  deno.addSignalListener("SIGUSR2", printCounters);
  deno.addSignalListener("SIGTERM", end);
  deno.addSignalListener("SIGINT", end);
} else {
  process.on("SIGUSR2", printCounters);
  process.on("SIGTERM", end);
  process.on("SIGINT", end);
}
console.log(url);
