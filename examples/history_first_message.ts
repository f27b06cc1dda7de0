/**
 * A client cut off for 5 s loses nothing, its position carried in its first message: the topic keeps
 * history, every message carries its position (`{ epoch, offset }`, put in by the server when it
 * publishes), and the reconnecting client, once open, sends `{"since": <the last position it got>}` (or
 * `{"since": null}` the first time). The server subscribes it `since` that position and answers with the
 * recovery: what it missed comes next, in order, then the live messages; or `recovered: false` and where to
 * start again. (The same, with the position in the URL's query string: examples/history_query.ts.)
 *
 * The script plays it out: a ticker publishes every 20 ms; the server goes away for `--cutoff` ms (5000)
 * and comes back on the same port, the ticker going on meanwhile; the client checks that every offset came
 * once, in order, and prints what it got. Exits with 1 if anything was missed.
 *
 *   deno run --allow-net --allow-env examples/history_first_message.ts [--cutoff 5000]
 *   bun examples/history_first_message.ts [--cutoff 5000]
 *
 * @module
 */

import process from "node:process";
import { serve, type WebSocketServer } from "../lib/adapters/serve.ts";
import { ReconnectingWebSocket } from "../lib/client/reconnecting_websocket.ts";
import { createPubSub, type StreamPosition } from "../lib/pubsub/pubsub.ts";

const cutoffArg = process.argv.indexOf("--cutoff");
const CUTOFF = cutoffArg >= 0 ? Number(process.argv[cutoffArg + 1]) : 5000;

// History in memory here; with `backplane: await redisBackplane()` it is in Redis Streams, for every node.
const pubsub = createPubSub({ history: { size: 1000, ttl: 60_000 } });

/** The server's side: the first message says where the client is. */
function start(port: number): Promise<WebSocketServer> {
  return serve<{ joined: boolean }>({
    port,
    pubsub,
    websocket: {
      open(ws) {
        ws.data = { joined: false };
      },
      async message(ws, data) {
        if (ws.data.joined) return; // this example's clients only listen
        ws.data.joined = true;
        const since = JSON.parse(String(data)).since as StreamPosition | null;
        if (since === null) {
          ws.subscribe("ticks");
          ws.send(JSON.stringify({ recovered: false, position: await pubsub.position("ticks") }));
          return;
        }
        // A malformed position from the client is a TypeError (a rejection): the connection is closed.
        const recovery = await ws.subscribe("ticks", { since }).catch(() => undefined);
        if (recovery === undefined) return ws.close(1008, "bad position");
        // Sent after the replay: the client knows by then whether what came before it was everything.
        ws.send(JSON.stringify({ recovered: recovery.recovered, position: recovery.position }));
      },
    },
  });
}

const guard = setTimeout(() => {
  console.log("gave up: took over 60 s");
  process.exit(1);
}, 60_000 + CUTOFF);

let server = await start(0);
const { port } = server;
let tick = 0;
const ticker = setInterval(() => {
  // The message is made once its position is known, and carries it.
  pubsub.publish("ticks", (at) => JSON.stringify({ ...at, tick: ++tick }));
}, 20);

// The client's side: it keeps the last position it got, and asks from there when it reconnects.
let last: StreamPosition | undefined;
const received: number[] = [];
let duplicates = 0, missed = 0, resets = 0;
const socket = new ReconnectingWebSocket(() => server.url, [], {
  minDelay: 50,
  maxDelay: 200,
  firstDelay: 50,
});
let first = true;
socket.onmessage = (event) => {
  const message = JSON.parse(String(event.data));
  if (message.recovered !== undefined) {
    // Not recovered after the first time: messages were lost, start again from the position given.
    if (!message.recovered && !first) resets++;
    if (!message.recovered) last = message.position;
    first = false;
    return;
  }
  if (last !== undefined && message.epoch === last.epoch) {
    if (message.offset <= last.offset) return void duplicates++;
    missed += message.offset - last.offset - 1;
  }
  last = { epoch: message.epoch, offset: message.offset };
  received.push(message.offset);
};
let reconnects = 0;
socket.onopen = (event) => {
  if (event.reconnected) reconnects++;
  socket.send(JSON.stringify({ since: last ?? null }));
};

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
};
await until(() => received.length >= 10);
console.log(`connected; got offsets up to ${last?.offset}; the server goes away for ${CUTOFF} ms`);
await server.close();
const cutAt = last!.offset;
await new Promise((resolve) => setTimeout(resolve, CUTOFF));
server = await start(port);
const published = tick;
await until(() => (last?.offset ?? 0) >= published + 10);
console.log(
  `back: ${published - cutAt} published while cut off; received ${received.length} in all, ` +
    `${missed} missed, ${duplicates} twice, ${resets} reset, ${reconnects} reconnect(s)`,
);
clearInterval(ticker);
socket.close(1000);
await new Promise((resolve) => socket.addEventListener("close", resolve, { once: true }));
await server.close();
pubsub.close();
clearTimeout(guard);
const inOrder = received.every((offset, i) => i === 0 || offset === received[i - 1] + 1);
console.log(missed === 0 && duplicates === 0 && resets === 0 && inOrder ? "nothing lost" : "LOST MESSAGES");
process.exitCode = missed === 0 && duplicates === 0 && resets === 0 && inOrder ? 0 : 1;
