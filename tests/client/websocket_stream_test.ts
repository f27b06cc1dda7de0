/**
 * WebSocketStream (whatwg/websockets PR 48) on the client, and WebSocketStream.from on the server, over
 * loopback.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { NodeUpgrade } from "../../lib/adapters/node_http.ts";
import type { CloseResult } from "../../lib/connection.ts";
import { WebSocketError } from "../../lib/client/websocket_error.ts";
import { WebSocketStream } from "../../lib/client/websocket_stream.ts";
import { startServer, type TestServer, type TestServerOptions, WAIT_MS, withTimeout } from "../_raw_client.ts";

/** A server whose connections echo through the WebSocketStream shape: readable piped into writable. */
function streamEcho(upgrade: NodeUpgrade): void {
  const stream = WebSocketStream.from(upgrade.connection, {
    url: upgrade.request.url,
    protocol: upgrade.protocol,
    extensions: upgrade.extensions,
  });
  // The writable takes strings and any BufferSource, a superset of what the readable yields; TypeScript
  // checks pipeTo's chunk type invariantly, hence the cast.
  stream.opened.then(({ readable, writable }) =>
    readable.pipeTo(writable as WritableStream<string | Uint8Array>).catch(() => {})
  );
}

async function withServer(body: (server: TestServer) => Promise<void>, options: TestServerOptions = {}): Promise<void> {
  const server = await startServer({ onUpgrade: streamEcho, ...options });
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

async function readN(reader: ReadableStreamDefaultReader<string | Uint8Array>, n: number): Promise<(string | Uint8Array)[]> {
  const out: (string | Uint8Array)[] = [];
  while (out.length < n) {
    const { value, done } = await withTimeout(reader.read(), WAIT_MS, `message ${out.length + 1} of ${n}`);
    if (done) break;
    out.push(value);
  }
  return out;
}

describe("WebSocketStream: opening and messages", () => {
  test("opened gives readable, writable, protocol and extensions; text and binary round-trip", async () => {
    await withServer(async (server) => {
      const socket = new WebSocketStream(server.url, { protocols: ["chat"] });
      assert.equal(socket.url, server.url);
      const { readable, writable, protocol, extensions } = await withTimeout(socket.opened, WAIT_MS, "opened");
      assert.equal(protocol, "chat");
      assert.equal(extensions, "permessage-deflate");
      const writer = writable.getWriter();
      const reader = readable.getReader();
      await writer.write("hello");
      await writer.write(new Uint8Array([1, 2, 3]));
      await writer.write(new Uint8Array([0, 9, 8, 0]).subarray(1, 3));
      await writer.write(new Uint16Array([0x0201]).buffer);
      assert.deepEqual(await readN(reader, 4), ["hello", new Uint8Array([1, 2, 3]), new Uint8Array([9, 8]), new Uint8Array([1, 2])]);
      socket.close({ closeCode: 1000, reason: "done" });
      assert.deepEqual(await withTimeout(socket.closed, WAIT_MS, "closed"), { closeCode: 1000, reason: "" });
      assert.equal((await reader.read()).done, true, "readable closes after a clean close");
      await assert.rejects(writer.write("late"), (e: unknown) => e instanceof DOMException && e.name === "InvalidStateError");
    }, { upgrade: { protocols: ["chat"] } });
  });

  test("the server side has the same shape and sees what the client sent", async () => {
    let serverStream!: WebSocketStream;
    await withServer(async (server) => {
      const client = new WebSocketStream(server.url);
      const { writable } = await client.opened;
      const upgrade = await server.nextUpgrade();
      void upgrade;
      const { readable, protocol } = await serverStream.opened;
      assert.equal(protocol, "");
      assert.equal(serverStream.url, server.url);
      await writable.getWriter().write("to the server");
      const [message] = await readN(readable.getReader(), 1);
      assert.equal(message, "to the server");
      client.close();
      await client.closed;
    }, {
      onUpgrade: (upgrade) => {
        serverStream = WebSocketStream.from(upgrade.connection, { url: upgrade.request.url });
      },
    });
  });
});

describe("WebSocketStream and textAsBytes", () => {
  test("WebSocketStream.from a connection made with textAsBytes still reads text as strings, binary as bytes", async () => {
    let serverStream!: WebSocketStream;
    await withServer(async (server) => {
      const client = new WebSocketStream(server.url);
      const { writable } = await client.opened;
      await server.nextUpgrade();
      const { readable } = await serverStream.opened;
      const writer = writable.getWriter();
      await writer.write("héllo");
      await writer.write(new Uint8Array([0xff, 0x00]));
      assert.deepEqual(await readN(readable.getReader(), 2), ["héllo", new Uint8Array([0xff, 0x00])]);
      client.close();
      await client.closed;
    }, {
      upgrade: { textAsBytes: true },
      onUpgrade: (upgrade) => {
        serverStream = WebSocketStream.from(upgrade.connection, { url: upgrade.request.url });
      },
    });
  });

  test("a WebSocketStream client reads text as strings even when a script passes textAsBytes", async () => {
    await withServer(async (server) => {
      const options = { textAsBytes: true } as unknown as ConstructorParameters<typeof WebSocketStream>[1];
      const socket = new WebSocketStream(server.url, options);
      const { readable, writable } = await withTimeout(socket.opened, WAIT_MS, "opened");
      await writable.getWriter().write("plain text");
      assert.deepEqual(await readN(readable.getReader(), 1), ["plain text"]);
      socket.close();
      await socket.closed;
    });
  });
});

describe("WebSocketStream: closing", () => {
  test("writable.close() closes the connection cleanly", async () => {
    await withServer(async (server) => {
      const socket = new WebSocketStream(server.url);
      const { writable } = await socket.opened;
      await writable.close();
      assert.deepEqual(await withTimeout(socket.closed, WAIT_MS, "closed"), { closeCode: 1005, reason: "" });
    });
  });

  test("readable.cancel(WebSocketError) and writable.abort(WebSocketError) choose the close code and reason", async () => {
    for (const how of ["cancel", "abort"] as const) {
      const results: Promise<CloseResult>[] = [];
      await withServer(async (server) => {
        const socket = new WebSocketStream(server.url);
        const { readable, writable } = await socket.opened;
        const upgrade = await server.nextUpgrade();
        results.push(upgrade.connection.closed);
        const error = new WebSocketError("bye", { closeCode: 4001, reason: `by ${how}` });
        if (how === "cancel") await readable.cancel(error);
        else await writable.abort(error);
        const serverResult = await withTimeout(results[0], WAIT_MS, "the server's close");
        assert.equal(serverResult.code, 4001, how);
        assert.equal(serverResult.reason, `by ${how}`, how);
        assert.deepEqual(await withTimeout(socket.closed, WAIT_MS, "closed"), { closeCode: 4001, reason: "" });
      }, { onUpgrade: () => {} });
    }
  });

  test("close() validates: InvalidAccessError for 1001, SyntaxError for a long reason", async () => {
    await withServer(async (server) => {
      const socket = new WebSocketStream(server.url);
      await socket.opened;
      assert.throws(() => socket.close({ closeCode: 1001 }), (e: unknown) => e instanceof DOMException && e.name === "InvalidAccessError");
      assert.throws(() => socket.close({ reason: "x".repeat(124) }), (e: unknown) => e instanceof DOMException && e.name === "SyntaxError");
      assert.throws(() => new WebSocketError("", { closeCode: 999 }), (e: unknown) => e instanceof DOMException && e.name === "InvalidAccessError");
      socket.close();
      await socket.closed;
    });
  });

  test("an unclean close rejects closed with a WebSocketError carrying 1006 and errors the streams", async () => {
    await withServer(async (server) => {
      const socket = new WebSocketStream(server.url);
      const { readable } = await socket.opened;
      const upgrade = await server.nextUpgrade();
      upgrade.connection.fail(1006); // the transport is cut, no close frame
      await assert.rejects(withTimeout(socket.closed, WAIT_MS, "closed"), (e: unknown) => e instanceof WebSocketError && e.closeCode === 1006);
      await assert.rejects(readable.getReader().read(), (e: unknown) => e instanceof WebSocketError);
    }, { onUpgrade: () => {} });
  });
});

describe("WebSocketStream: failures and aborts", () => {
  test("a refused connection rejects opened and closed with a WebSocketError", async () => {
    const server = await startServer();
    const url = server.url;
    await server.close();
    const socket = new WebSocketStream(url);
    await assert.rejects(withTimeout(socket.opened, WAIT_MS, "opened"), (e: unknown) => e instanceof WebSocketError);
    await assert.rejects(socket.closed, (e: unknown) => e instanceof WebSocketError && e.closeCode === 1006);
  });

  test("a refused handshake rejects opened with a WebSocketError whose message names the status and the body", async () => {
    const server = await startServer({ upgrade: { authorize: () => new Response("Cannot upgrade: no token\n", { status: 401 }) } });
    try {
      const socket = new WebSocketStream(server.url);
      await assert.rejects(withTimeout(socket.opened, WAIT_MS, "opened"), (e: unknown) =>
        e instanceof WebSocketError && e.closeCode === 1006 &&
        e.message === `The WebSocket connection could not be established: Cannot connect to ${server.url}: the server answered 401: Cannot upgrade: no token`);
    } finally {
      await server.close();
    }
  });

  test("an already aborted signal rejects both promises with its reason; so does aborting during the handshake", async () => {
    await withServer(async (server) => {
      const reason = new Error("changed my mind");
      const early = new WebSocketStream(server.url, { signal: AbortSignal.abort(reason) });
      await assert.rejects(early.opened, (e: unknown) => e === reason);
      await assert.rejects(early.closed, (e: unknown) => e === reason);
      const controller = new AbortController();
      const late = new WebSocketStream(server.url, { signal: controller.signal });
      controller.abort(reason);
      await assert.rejects(late.opened, (e: unknown) => e === reason);
      await assert.rejects(late.closed, (e: unknown) => e === reason);
    });
  });

  test("constructor throws SyntaxError for a bad URL or repeated subprotocols", () => {
    assert.throws(() => new WebSocketStream("ftp://127.0.0.1/"), (e: unknown) => e instanceof DOMException && e.name === "SyntaxError");
    assert.throws(() => new WebSocketStream("ws://127.0.0.1/", { protocols: ["a", "a"] }), (e: unknown) => e instanceof DOMException && e.name === "SyntaxError");
  });
});

describe("WebSocketStream: backpressure", () => {
  test("a reader that does not read pauses the network: the server's sends stall, then all arrive intact", async () => {
    let serverSide!: NodeUpgrade;
    await withServer(async (server) => {
      const socket = new WebSocketStream(server.url, { highWaterMark: 2 });
      const { readable } = await socket.opened;
      serverSide = await server.nextUpgrade();
      const chunk = new Uint8Array(256 * 1024);
      const count = 64; // 16 MiB, far more than socket buffers hold
      let sent = 0;
      const sending = (async () => {
        for (let i = 0; i < count; i++) {
          chunk[0] = i;
          await serverSide.connection.send(chunk.slice(), { compress: false });
          sent++;
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(sent < count, `the sender is held back while nobody reads (sent ${sent} of ${count})`);
      const reader = readable.getReader();
      const received = await readN(reader, count);
      await withTimeout(sending, WAIT_MS, "the sender to finish");
      assert.equal(received.length, count);
      received.forEach((message, i) => assert.equal((message as Uint8Array)[0], i));
      socket.close();
      await socket.closed;
    }, { onUpgrade: () => {}, upgrade: { deflate: false } });
  });
});
