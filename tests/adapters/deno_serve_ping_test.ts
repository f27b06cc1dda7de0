/**
 * denoServe()'s `ping()`: Deno's server WebSocket has no ping to call (Deno's ext/websocket sends pings
 * only from its own idle-timeout timer, through an internal op), so `ping()` throws `NotSupportedError`,
 * and the keepalive is Deno's `idleTimeout`, whose pings reach the client. Deno only.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { denoServe } from "../../lib/adapters/deno_serve.ts";
import { connectNode } from "../../lib/adapters/node_client.ts";
import { RUNTIME } from "../_files.ts";
import { withTimeout } from "../_raw_client.ts";

test("denoServe: ping() throws NotSupportedError; Deno's idleTimeout pings the client instead", {
  skip: RUNTIME !== "deno",
  timeout: 30_000,
}, async () => {
  let pingError: unknown;
  const handler = denoServe({
    idleTimeout: 2,
    websocket: {
      open: (socket) => {
        try {
          socket.ping();
        } catch (error) {
          pingError = error;
        }
        socket.send("opened");
      },
    },
  });
  const deno = (globalThis as unknown as { Deno: typeof Deno }).Deno;
  const server = deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    const { connection } = await connectNode(`ws://127.0.0.1:${server.addr.port}/`, { heartbeat: false });
    const opened = new Promise((resolve) => connection.onmessage = resolve);
    assert.equal(await withTimeout(opened, 10_000, "the first message"), "opened");
    assert.ok(pingError instanceof DOMException);
    assert.equal(pingError.name, "NotSupportedError");
    assert.match(pingError.message, /Deno\.serve's WebSocket exposes no ping \(see idleTimeout\)/);
    const pinged = new Promise((resolve) => connection.onping = resolve);
    await withTimeout(pinged, 15_000, "a ping from Deno's idleTimeout");
    assert.equal(connection.readyState, 1, "the pong kept it open");
    assert.equal((await connection.close(1000)).code, 1000);
  } finally {
    await server.shutdown();
  }
});
