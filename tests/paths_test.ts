/**
 * One behaviour suite against every server path and every client path available on the runtime under
 * test, with capability flags for the genuine gaps (Bun.serve and Deno.serve carry their own WebSocket:
 * no compression from this library).
 *
 * Server paths: serve(), the node:http upgrade event with handleNodeUpgrade, listenDeno (Deno),
 * bunServe on Bun.serve (Bun), denoServe on Deno.serve (Deno). Client paths: connectNode, the WebSocket
 * class, WebSocketStream, connectTransport over a caller's transport.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { connectNode } from "../lib/adapters/node_client.ts";
import { socketToTransport } from "../lib/adapters/node_socket.ts";
import { connectTransport } from "../lib/client/connect_transport.ts";
import { WebSocket } from "../lib/client/websocket.ts";
import { WebSocketStream } from "../lib/client/websocket_stream.ts";
import { WAIT_MS, withTimeout } from "./_raw_client.ts";
import { type PathOptions, SERVER_PATHS } from "./_server_paths.ts";

/** An echo exchange through one client path: returns what came back, the protocol and extensions seen. */
interface ClientPath {
  name: string;
  exchange(url: string, messages: (string | Uint8Array)[]): Promise<{
    received: (string | Uint8Array)[];
    protocol: string;
    extensions: string;
    closeCode: number;
  }>;
}

const CLIENT_PATHS: ClientPath[] = [
  {
    name: "connectNode",
    exchange: async (url, messages) => {
      const { connection, protocol, extensions } = await connectNode(url, { protocols: ["a", "b"] });
      const received = await collect((on) => connection.onmessage = on, messages.length, () => {
        for (const m of messages) connection.send(m);
      });
      const closed = await connection.close(1000, "done");
      return { received, protocol, extensions, closeCode: closed.code };
    },
  },
  {
    name: "WebSocket",
    exchange: async (url, messages) => {
      const socket = new WebSocket(url, ["a", "b"]);
      socket.binaryType = "arraybuffer";
      await withTimeout(new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onclose = () => reject(new Error("closed before open"));
      }), WAIT_MS, "open");
      const received = await collect((on) => {
        socket.onmessage = (event) => {
          const data = (event as MessageEvent).data;
          on(typeof data === "string" ? data : new Uint8Array(data));
        };
      }, messages.length, () => {
        for (const m of messages) socket.send(m as string | Uint8Array<ArrayBuffer>);
      });
      const closed = new Promise<CloseEvent>((resolve) => socket.onclose = (e) => resolve(e as CloseEvent));
      socket.close(1000, "done");
      const event = await withTimeout(closed, WAIT_MS, "close");
      return { received, protocol: socket.protocol, extensions: socket.extensions, closeCode: event.code };
    },
  },
  {
    name: "WebSocketStream",
    exchange: async (url, messages) => {
      const socket = new WebSocketStream(url, { protocols: ["a", "b"] });
      const { readable, writable, protocol, extensions } = await withTimeout(socket.opened, WAIT_MS, "opened");
      const writer = writable.getWriter();
      for (const m of messages) await writer.write(m as string | Uint8Array<ArrayBuffer>);
      const reader = readable.getReader();
      const received: (string | Uint8Array)[] = [];
      while (received.length < messages.length) {
        const { value, done } = await withTimeout(reader.read(), WAIT_MS, "a message");
        if (done) break;
        received.push(value);
      }
      socket.close({ closeCode: 1000, reason: "done" });
      const closed = await withTimeout(socket.closed, WAIT_MS, "closed");
      return { received, protocol, extensions, closeCode: closed.closeCode ?? 0 };
    },
  },
  {
    name: "connectTransport over a caller's transport",
    exchange: async (url, messages) => {
      const { hostname, port } = new URL(url);
      const socket = connect(Number(port), hostname);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      });
      const { connection, protocol, extensions } = await connectTransport(url, socketToTransport(socket), { protocols: ["a", "b"] });
      const received = await collect((on) => connection.onmessage = on, messages.length, () => {
        for (const m of messages) connection.send(m);
      });
      const closed = await connection.close(1000, "done");
      return { received, protocol, extensions, closeCode: closed.code };
    },
  },
];

/** Installs a message listener, runs `send`, and resolves with `count` messages (bounded). */
function collect(
  install: (on: (data: string | Uint8Array) => void) => void,
  count: number,
  send: () => void,
): Promise<(string | Uint8Array)[]> {
  const received: (string | Uint8Array)[] = [];
  const done = new Promise<(string | Uint8Array)[]>((resolve) => {
    install((data) => {
      received.push(data);
      if (received.length === count) resolve(received);
    });
  });
  send();
  return withTimeout(done, WAIT_MS, `${count} echoes (got ${received.length})`);
}

const MESSAGES: (string | Uint8Array)[] = [
  "hello",
  "é🙂".repeat(2000),
  new Uint8Array(64 * 1024).map((_, i) => i & 0xff),
  new Uint8Array(0),
];

function pathOptions(calls: string[]): PathOptions {
  return {
    protocols: ["b", "a"],
    upgrade: (request) => new URL(request.url).searchParams.get("deny") === null ? undefined : new Response("denied\n", { status: 403 }),
    websocket: {
      open: (socket) => calls.push(`open ${socket.protocol}`),
      message: (socket, data) => void socket.send(data).catch(() => {}),
      close: (_socket, code, reason) => calls.push(`close ${code} ${reason}`),
    },
  };
}

for (const server of SERVER_PATHS) {
  describe(`server path: ${server.name}`, () => {
    for (const client of CLIENT_PATHS) {
      test(`${server.name} x ${client.name}: echo (text, 64 KiB binary, empty), server-order subprotocol, close 1000`, { skip: server.skip }, async () => {
        const calls: string[] = [];
        const running = await server.start(pathOptions(calls));
        try {
          const result = await client.exchange(running.url, MESSAGES);
          assert.deepEqual(result.received, MESSAGES);
          assert.equal(result.protocol, "b", "the server's order wins");
          assert.equal(result.extensions, server.compresses ? "permessage-deflate" : "", "compression where the path has ours");
          assert.equal(result.closeCode, 1000);
          await withTimeout((async () => {
            while (!calls.some((c) => c.startsWith("close"))) await new Promise((r) => setTimeout(r, 10));
          })(), WAIT_MS, "the close callback");
          assert.deepEqual(calls, ["open b", "close 1000 done"]);
        } finally {
          await running.stop();
        }
      });
    }

    test(`${server.name} x connectNode: message() tells text from binary, and textAsBytes text echoes as text with send(data, { binary })`, { skip: server.skip }, async () => {
      const seen: string[] = [];
      const options = pathOptions([]);
      options.textAsBytes = true;
      options.websocket.message = (socket, data, binary) => {
        seen.push(`${typeof data === "string" ? "string" : "bytes"} ${binary ? "binary" : "text"}`);
        void socket.send(data, { binary }).catch(() => {});
      };
      const running = await server.start(options);
      try {
        const result = await CLIENT_PATHS[0].exchange(running.url, MESSAGES);
        assert.deepEqual(result.received, MESSAGES);
        // Where the runtime's own WebSocket carries the socket (compresses: false here), text is a string.
        const textForm = server.compresses ? "bytes" : "string";
        assert.deepEqual(seen, [`${textForm} text`, `${textForm} text`, "bytes binary", "bytes binary"]);
      } finally {
        await running.stop();
      }
    });

    test(`${server.name}: the upgrade hook's refusal reaches the client as an error naming the status`, { skip: server.skip }, async () => {
      const running = await server.start(pathOptions([]));
      try {
        await assert.rejects(connectNode(running.url + "?deny=1"), /answered 403/);
      } finally {
        await running.stop();
      }
    });
  });
}
