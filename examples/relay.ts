/**
 * A WebSocket relay (a reverse proxy): each client connection is paired with one to the upstream server,
 * opened during the client's handshake (so an unreachable upstream is a 502, not an open-then-closed
 * socket), and messages flow both ways with backpressure: a side stops reading while the other cannot
 * take more, so a fast sender is slowed to the pace of the slow reader instead of filling memory.
 * Closes travel across too.
 *
 *   deno run --allow-net --allow-env examples/relay.ts --upstream ws://127.0.0.1:9000/ [--port 8080]
 *   bun examples/relay.ts --upstream ws://127.0.0.1:9000/ [--port 8080]
 *
 * @module
 */

import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";
import { connectNode } from "../lib/adapters/node_client.ts";
import type { Connection } from "../lib/connection.ts";

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const upstream = new URL(option("upstream", "ws://127.0.0.1:9000/"));
/** The subprotocol upstream chose, per upgrade request (the hook runs before the choice). */
const chosen = new WeakMap<Request, string>();

/**
 * Forwards every message of `from` to `to`. `send()` resolves when `to`'s transport can take more; until
 * then `from` is not read (its TCP window closes and its peer is slowed down).
 */
function forward(from: Connection, to: Connection): void {
  let pending = 0;
  from.onmessage = (data, binary) => {
    pending++;
    from.pauseReading();
    to.send(data, { binary }).then(
      () => --pending === 0 && from.resumeReading(),
      () => {}, // `to` closed: its close is forwarded below
    );
  };
  // A close received on one side is passed on (1005/1006 cannot be sent: 1000 and 1011 stand for them).
  from.closed.then(({ code, reason }) => {
    const sendable = code === 1005 ? 1000 : code === 1006 || code === 1015 ? 1011 : code;
    if (to.readyState === 1) to.close(sendable, reason).catch(() => {});
  });
}

const server = await serve<{ upstream: Connection }>({
  port: Number(option("port", "8080")),
  upgrade: async (request) => {
    const target = new URL(new URL(request.url).pathname + new URL(request.url).search, upstream);
    const offered = request.headers.get("sec-websocket-protocol")?.split(",").map((p) => p.trim()) ?? [];
    try {
      // The same subprotocols and cookies go upstream; each hop negotiates its own compression.
      const { connection, protocol } = await connectNode(target, {
        protocols: offered,
        headers: request.headers.has("cookie") ? { cookie: request.headers.get("cookie")! } : {},
      });
      chosen.set(request, protocol);
      return { data: { upstream: connection } };
    } catch (error) {
      return new Response(`Cannot reach the upstream server: ${(error as Error).message}\n`, { status: 502 });
    }
  },
  // The subprotocol is the one upstream chose (one the client offered).
  protocols: (_offered, request) => chosen.get(request),
  websocket: {
    open: (ws) => {
      forward(ws.connection!, ws.data.upstream);
      forward(ws.data.upstream, ws.connection!);
    },
  },
});
console.log(`Relay to ${upstream.href} listening on ${server.url}`);
