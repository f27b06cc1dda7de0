/**
 * permessage-deflate through the whole stack over loopback (the kinds of cases in Autobahn groups 12 and
 * 13): our client and our server, every combination of negotiated parameters, messages from tiny to
 * large, text and binary; the wire is tapped to prove RSV1 was used and bytes shrank.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { handleNodeUpgrade } from "../lib/adapters/node_http.ts";
import { socketToTransport } from "../lib/adapters/node_socket.ts";
import type { ClientDeflateOptions } from "../lib/handshake/client_handshake.ts";
import { connectTransport } from "../lib/client/connect_transport.ts";
import type { Connection, Transport } from "../lib/connection.ts";
import type { ServerDeflateOptions } from "../lib/handshake/server_handshake.ts";
import { tapStream, type WireStats } from "./_wire_tap.ts";

async function startServer(deflate: false | ServerDeflateOptions, serverSide: { extensions?: string }): Promise<Server> {
  const server = createServer((_req, res) => res.end());
  server.on("upgrade", async (req, socket, head) => {
    const upgrade = await handleNodeUpgrade(req, socket, head, { deflate, maxMessageSize: 8 * 1024 * 1024 });
    if (upgrade === undefined) return;
    serverSide.extensions = upgrade.extensions;
    const { connection } = upgrade;
    connection.onmessage = (data) => {
      connection.send(data).catch(() => {});
    };
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function openClient(
  port: number,
  deflate: false | ClientDeflateOptions,
): Promise<{ connection: Connection; extensions: string; sent: WireStats; received: WireStats }> {
  const socket = connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const raw = socketToTransport(socket);
  const sent: WireStats = { bytes: 0, frames: 0, rsv1Frames: 0 };
  const received: WireStats = { bytes: 0, frames: 0, rsv1Frames: 0 };
  const outTap = tapStream("server", sent); // frames we send are read as a server would
  const inTap = tapStream("client", received);
  // Sent bytes: the first write is the HTTP request head; skip it by starting the tap after the handshake.
  let handshakeDone = false;
  const outWritable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (handshakeDone) await outWriter.write(chunk);
      else await rawWriter.write(chunk);
    },
    async close() {
      await outWriter.close();
    },
    async abort(reason) {
      await outWriter.abort(reason);
    },
  });
  const rawWriter = raw.writable.getWriter();
  const outWriter = outTap.writable.getWriter();
  const piped = outTap.readable.pipeTo(new WritableStream({
    write: (chunk) => rawWriter.write(chunk),
    close: () => rawWriter.close(),
    abort: (reason) => rawWriter.abort(reason),
  })).catch(() => {});
  void piped;
  const transport: Transport = { readable: raw.readable.pipeThrough(inTap), writable: outWritable };
  const client = await connectTransport(`ws://127.0.0.1:${port}/`, transport, { deflate, maxMessageSize: 8 * 1024 * 1024 });
  handshakeDone = true;
  return { connection: client.connection, extensions: client.extensions, sent, received };
}

/** JSON-like text of about `size` bytes: compressible, like real traffic. */
function jsonText(size: number, seed: number): string {
  let text = "";
  let i = seed;
  while (text.length < size) {
    text += JSON.stringify({ id: i, user: `user${i % 37}`, text: `message number ${i} from the test`, ok: i % 2 === 0 }) + "\n";
    i++;
  }
  return text.slice(0, size);
}

/** Binary of `size` bytes, half repetitive and half random. */
function mixedBytes(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = i % 64 < 32 ? (i & 0x0f) : x >>> 24;
  }
  return bytes;
}

async function exchange(connection: Connection, messages: (string | Uint8Array)[]): Promise<void> {
  const received: (string | Uint8Array)[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Timed out: ${received.length} of ${messages.length} echoes`)), 15_000);
    connection.onmessage = (data) => {
      received.push(data);
      if (received.length === messages.length) {
        clearTimeout(timer);
        resolve();
      }
    };
    connection.closed.then(() => {
      clearTimeout(timer);
      reject(new Error(`Closed after ${received.length} of ${messages.length} echoes`));
    });
  });
  for (const message of messages) await connection.send(message);
  await done;
  for (let i = 0; i < messages.length; i++) {
    const expected = messages[i];
    const actual = received[i];
    if (typeof expected === "string") assert.equal(actual, expected, `message ${i}`);
    else assert.deepEqual(actual, expected, `message ${i}`);
  }
}

const SIZES = [16, 64, 256, 1024, 4096, 16384, 65536, 131072];
const PER_SIZE = 4;

const CLIENT_OFFERS: [string, ClientDeflateOptions][] = [
  ["default offer", {}],
  ["client_no_context_takeover", { clientNoContextTakeover: true }],
  ["client_max_window_bits=9", { clientMaxWindowBits: 9 }],
  ["client_max_window_bits=8", { clientMaxWindowBits: 8 }],
  ["client_no_context_takeover, client_max_window_bits=8", { clientNoContextTakeover: true, clientMaxWindowBits: 8 }],
  ["server_no_context_takeover, server_max_window_bits=10", { serverNoContextTakeover: true, serverMaxWindowBits: 10 }],
  ["server_max_window_bits=8", { serverMaxWindowBits: 8 }],
];

const SERVER_CONFIGS: [string, ServerDeflateOptions][] = [
  ["default server", {}],
  ["server_no_context_takeover", { serverNoContextTakeover: true }],
  ["server_max_window_bits 9", { serverMaxWindowBits: 9 }],
  ["client_max_window_bits 10 and client_no_context_takeover", { clientMaxWindowBits: 10, clientNoContextTakeover: true }],
];

describe("RFC 7692 through the full stack over loopback", () => {
  for (const [serverName, serverOptions] of SERVER_CONFIGS) {
    for (const [clientName, clientOptions] of CLIENT_OFFERS) {
      test(`${serverName} x ${clientName}: text and binary of 16 B..128 KiB echo intact, compressed both ways`, async () => {
        const serverSide: { extensions?: string } = {};
        const server = await startServer(serverOptions, serverSide);
        try {
          const port = (server.address() as AddressInfo).port;
          const client = await openClient(port, clientOptions);
          assert.match(client.extensions, /^permessage-deflate/);
          assert.equal(client.extensions, serverSide.extensions);
          const messages: (string | Uint8Array)[] = [];
          let seed = 1;
          for (const size of SIZES) {
            for (let i = 0; i < PER_SIZE; i++) {
              messages.push(jsonText(size, seed++));
              messages.push(mixedBytes(size, seed++));
            }
          }
          await exchange(client.connection, messages);
          const payload = messages.reduce((n, m) => n + (typeof m === "string" ? m.length : m.length), 0);
          // Compressed both ways (RSV1 on the wire) and fewer bytes than the payload.
          assert.ok(client.sent.rsv1Frames > 0, "client sent compressed frames");
          assert.ok(client.received.rsv1Frames > 0, "server sent compressed frames");
          assert.ok(client.sent.bytes < payload, `client sent ${client.sent.bytes} bytes for ${payload}`);
          assert.ok(client.received.bytes < payload, `server sent ${client.received.bytes} bytes for ${payload}`);
          const result = await client.connection.close(1000, "done");
          assert.deepEqual(result, { code: 1000, reason: "", wasClean: true });
        } finally {
          server.close();
        }
      });
    }
  }

  test("with deflate off on the server, the offer is declined and messages flow uncompressed", async () => {
    const serverSide: { extensions?: string } = {};
    const server = await startServer(false, serverSide);
    try {
      const client = await openClient((server.address() as AddressInfo).port, {});
      assert.equal(client.extensions, "");
      await exchange(client.connection, [jsonText(4096, 1), mixedBytes(4096, 2)]);
      assert.equal(client.sent.rsv1Frames, 0);
      assert.equal(client.received.rsv1Frames, 0);
      await client.connection.close(1000);
    } finally {
      server.close();
    }
  });

  test("context takeover makes a stream of similar chat messages far smaller than without", async () => {
    const sizes: Record<string, number> = {};
    for (const [name, options] of [["takeover", {}], ["no takeover", { serverNoContextTakeover: true, clientNoContextTakeover: true }]] as const) {
      const server = await startServer({}, {});
      try {
        const client = await openClient((server.address() as AddressInfo).port, options);
        const messages = Array.from({ length: 200 }, (_, i) => jsonText(100, i));
        await exchange(client.connection, messages);
        sizes[name] = client.received.bytes;
        await client.connection.close(1000);
      } finally {
        server.close();
      }
    }
    assert.ok(sizes["takeover"] < sizes["no takeover"] * 0.7, JSON.stringify(sizes));
  });
});
