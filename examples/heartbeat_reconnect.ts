/**
 * A client that stays connected: `ReconnectingWebSocket` reconnects (with backoff and jitter) when the
 * server goes away and comes back, and its heartbeat (protocol pings) finds a dead link, a connection that
 * looks open but gets no answer, which TCP alone can take minutes to notice. The script plays it out and
 * prints what happens:
 *
 *   1. connect; 2. the server stops (1001) and restarts on the same port: the client reconnects;
 *   3. the server stops reading this connection (a dead link): no pong, the heartbeat gives up, reconnect.
 *
 *   deno run --allow-net --allow-env examples/heartbeat_reconnect.ts
 *   bun examples/heartbeat_reconnect.ts
 *
 * @module
 */

import process from "node:process";
import { serve, type WebSocketServer } from "../lib/adapters/serve.ts";
import { ReconnectingWebSocket } from "../lib/client/reconnecting_websocket.ts";

let generation = 0;
function start(port: number): Promise<WebSocketServer> {
  const name = `server #${++generation}`;
  return serve({
    port,
    websocket: {
      open: (ws) => void ws.send(`hello from ${name}`),
      message: (ws, data) => {
        // Plays a dead link: nothing more is read from this socket (so no pong), nothing is closed.
        if (data === "go silent") ws.connection?.pauseReading();
      },
    },
  });
}

const guard = setTimeout(() => {
  console.log("gave up: took over 60 s");
  process.exit(1);
}, 60_000);
let server = await start(0);
const { port } = server;

const socket = new ReconnectingWebSocket(server.url, [], {
  minDelay: 100, // backoff: 100 ms, 200, 400 ... up to 1 s, with full jitter
  maxDelay: 1000,
  firstDelay: 200, // the first retry after a connection that was up
  // A ping after 500 ms of silence; no answer within 1.5 s and the link is taken for dead.
  webSocketOptions: { heartbeat: { interval: 500, timeout: 1500 } },
  logger: { debug: () => {}, warn: (message) => console.log(`warning: ${message}`), error: console.error },
});
const said = (text: string) =>
  new Promise<void>((resolve) => {
    const listener = (event: Event) => {
      if ((event as MessageEvent).data !== text) return;
      socket.removeEventListener("message", listener);
      resolve();
    };
    socket.addEventListener("message", listener);
  });
socket.onopen = (event) =>
  console.log(`open (attempt ${event.attempt}${event.reconnected ? ", reconnected" : ""})`);
socket.onclose = (event) =>
  console.log(
    `close ${event.code}${event.willReconnect ? `, reconnecting in ${Math.round(event.delay ?? 0)} ms` : ""}`,
  );
socket.onmessage = (event) => console.log(`message: ${event.data}`);

await said("hello from server #1");
console.log("stopping the server");
await server.close();
await new Promise((resolve) => setTimeout(resolve, 500)); // an attempt or two is refused meanwhile
server = await start(port);
console.log("server restarted");
await said("hello from server #2");

socket.send("go silent");
await said("hello from server #2"); // again: reconnected after the heartbeat gave up
const closed = new Promise((resolve) => socket.addEventListener("close", resolve, { once: true }));
socket.close(1000);
await closed;
await server.close();
clearTimeout(guard);
console.log("done");
