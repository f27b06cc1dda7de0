/**
 * The Bun.serve and Deno.serve integrations: the runtime's own WebSocket behind this library's rules and
 * callbacks. Each runs only on its runtime (skipped with the reason on the other).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { bunServe } from "../../lib/adapters/bun_serve.ts";
import { denoServe } from "../../lib/adapters/deno_serve.ts";
import { connectNode } from "../../lib/adapters/node_client.ts";
import type { WebSocketHandler } from "../../lib/adapters/_socket_handler.ts";
import { WAIT_MS, withTimeout } from "../_raw_client.ts";

interface Started {
  url: string;
  stop: () => Promise<void>;
}

type Options = {
  protocols?: string[];
  upgrade?: (request: Request) => Response | undefined;
  fetch?: (request: Request) => Response;
  websocket: WebSocketHandler;
};

const runtimes: { name: string; skip: string | false; start: (options: Options) => Promise<Started> }[] = [
  {
    name: "Bun.serve",
    skip: "Bun" in globalThis ? false : "Bun.serve exists only on Bun",
    start: (options) => {
      const bun = (globalThis as unknown as {
        Bun: { serve(o: unknown): { port: number; stop(force?: boolean): Promise<void> | void } };
      }).Bun;
      const server = bun.serve({ port: 0, hostname: "127.0.0.1", ...bunServe(options) });
      return Promise.resolve({ url: `ws://127.0.0.1:${server.port}/`, stop: async () => void await server.stop(true) });
    },
  },
  {
    name: "Deno.serve",
    skip: "Deno" in globalThis ? false : "Deno.serve exists only on Deno",
    start: async (options) => {
      const controller = new AbortController();
      let port = 0;
      const listening = new Promise<void>((resolve) => {
        const server = Deno.serve({
          port: 0,
          hostname: "127.0.0.1",
          signal: controller.signal,
          onListen: (addr) => {
            port = addr.port;
            resolve();
          },
        }, denoServe(options));
        stopped = server.finished;
      });
      let stopped: Promise<void> = Promise.resolve();
      await listening;
      return { url: `ws://127.0.0.1:${port}/`, stop: async () => (controller.abort(), await stopped) };
    },
  },
];

for (const runtime of runtimes) {
  describe(runtime.name, () => {
    test(`${runtime.name}: callbacks in order, echo, server-order subprotocol; no extensions from this library`, { skip: runtime.skip }, async () => {
      const calls: string[] = [];
      let closed!: () => void;
      const done = new Promise<void>((resolve) => closed = resolve);
      const server = await runtime.start({
        protocols: ["b", "a"],
        websocket: {
          open: (socket) => calls.push(`open ${socket.protocol} ${new URL(socket.request.url).pathname}`),
          message: (socket, data) => {
            calls.push(`message ${typeof data === "string" ? data : `bytes ${data.length}`}`);
            socket.send(data);
          },
          close: (_socket, code, _reason, wasClean) => {
            calls.push(`close ${code} ${wasClean}`);
            closed();
          },
        },
      });
      try {
        const { connection, protocol } = await connectNode(server.url + "room", { protocols: ["a", "b"], deflate: false });
        assert.equal(protocol, "b");
        const received: unknown[] = [];
        const both = new Promise<void>((resolve) => {
          connection.onmessage = (data) => {
            received.push(data);
            if (received.length === 2) resolve();
          };
        });
        await connection.send("hello");
        await connection.send(new Uint8Array([1, 2, 3]));
        await withTimeout(both, WAIT_MS, "two echoes");
        assert.deepEqual(received, ["hello", new Uint8Array([1, 2, 3])]);
        await connection.close(1000, "bye");
        await withTimeout(done, WAIT_MS, "the close callback");
        assert.deepEqual(calls, ["open b /room", "message hello", "message bytes 3", "close 1000 true"]);
      } finally {
        await server.stop();
      }
    });

    test(`${runtime.name}: the upgrade hook refuses with its Response; plain requests go to fetch`, { skip: runtime.skip }, async () => {
      const server = await runtime.start({
        upgrade: (request) => new URL(request.url).searchParams.has("token") ? undefined : new Response("no\n", { status: 401 }),
        fetch: () => new Response("plain http\n"),
        websocket: {},
      });
      try {
        await assert.rejects(connectNode(server.url, { deflate: false }), /answered 401/);
        const plain = await fetch(server.url.replace("ws:", "http:"));
        assert.equal(await plain.text(), "plain http\n");
        const { connection } = await connectNode(server.url + "?token=1", { deflate: false });
        await connection.close(1000);
      } finally {
        await server.stop();
      }
    });

    test(`${runtime.name}: send() waits while the runtime holds 256 KiB or more for a client that does not read`, {
      skip: runtime.skip,
      timeout: 30_000,
    }, async () => {
      let resolved = 0;
      let stalled!: () => void;
      const stall = new Promise<void>((resolve) => stalled = resolve);
      const server = await runtime.start({
        websocket: {
          open: async (ws) => {
            const chunk = new Uint8Array(64 * 1024);
            // 64 MiB offered; without backpressure every send resolves at once and the runtime buffers it all.
            for (let i = 0; i < 1024; i++) {
              const sent = ws.send(chunk).then(() => true);
              const late = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500));
              if (!await Promise.race([sent, late])) break;
              resolved++;
            }
            stalled();
          },
        },
      });
      const { connection } = await connectNode(server.url, { deflate: false });
      try {
        connection.pauseReading();
        await withTimeout(stall, 20_000, "send() to stall");
        assert.ok(resolved < 512, `${resolved} of 1,024 sends of 64 KiB resolved while nothing was read`);
      } finally {
        connection.fail(1001);
        await server.stop();
      }
    });
  });
}
