/**
 * The WHATWG `WebSocket` class, tested from the standard's steps (constructor, send, close, bufferedAmount,
 * binaryType, the events and their order) against an in-process server over loopback.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer as createTcpServer } from "node:net";
import type { NodeUpgrade } from "../../lib/adapters/node_http.ts";
import { CloseEvent, WebSocket } from "../../lib/client/websocket.ts";
import { HandshakeRefusedError } from "../../lib/handshake/handshake_refused_error.ts";
import { echo, startServer, type TestServer, type TestServerOptions, WAIT_MS, withTimeout } from "../_raw_client.ts";

async function withServer(body: (server: TestServer) => Promise<void>, options: TestServerOptions = {}): Promise<void> {
  const server = await startServer(options);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** Resolves with the next event of `type`. */
function next<T extends Event = Event>(socket: WebSocket, type: string): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => socket.addEventListener(type, (event) => resolve(event as T), { once: true })),
    WAIT_MS,
    `a ${type} event`,
  );
}

/** Records the types of all events, in order. */
function record(socket: WebSocket): string[] {
  const seen: string[] = [];
  for (const type of ["open", "message", "error", "close"]) socket.addEventListener(type, () => seen.push(type));
  return seen;
}

function dom(name: string) {
  return (error: unknown) => error instanceof DOMException && error.name === name;
}

describe("new WebSocket(url, protocols)", () => {
  test("throws SyntaxError for a bad scheme, a fragment, a relative URL, bad or repeated subprotocols", () => {
    assert.throws(() => new WebSocket("ftp://127.0.0.1/"), dom("SyntaxError"));
    assert.throws(() => new WebSocket("ws://127.0.0.1/#fragment"), dom("SyntaxError"));
    assert.throws(() => new WebSocket("/relative"), dom("SyntaxError"));
    assert.throws(() => new WebSocket("ws://127.0.0.1/", ["a b"]), dom("SyntaxError"));
    assert.throws(() => new WebSocket("ws://127.0.0.1/", ["chat", "chat"]), dom("SyntaxError"));
  });

  test("maps http: to ws:, starts CONNECTING, and has the four constants on the class and instances", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url.replace("ws:", "http:"));
      assert.equal(socket.url, server.url);
      assert.equal(socket.readyState, WebSocket.CONNECTING);
      assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], [0, 1, 2, 3]);
      assert.deepEqual([socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED], [0, 1, 2, 3]);
      assert.equal(socket.protocol, "");
      assert.equal(socket.extensions, "");
      assert.equal(socket.binaryType, "blob");
      await next(socket, "open");
      socket.close();
      await next(socket, "close");
    });
  });

  test("send() while CONNECTING throws InvalidStateError", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      assert.throws(() => socket.send("too early"), dom("InvalidStateError"));
      await next(socket, "open");
      socket.close();
      await next(socket, "close");
    });
  });
});

describe("opening", () => {
  test("open sets OPEN, the chosen protocol (server order) and the extensions in use", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url, ["a", "b"]);
      await next(socket, "open");
      assert.equal(socket.readyState, WebSocket.OPEN);
      assert.equal(socket.protocol, "b");
      assert.equal(socket.extensions, "permessage-deflate");
      socket.close();
      await next(socket, "close");
    }, { upgrade: { protocols: ["b", "a"] } });
  });

  test("a refused connection fires error then close with 1006, not clean, and ends CLOSED", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createTcpServer();
      probe.listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    const seen = record(socket);
    const close = await next<CloseEvent>(socket, "close");
    assert.deepEqual(seen, ["error", "close"]);
    assert.equal(close.code, 1006);
    assert.equal(close.wasClean, false);
    assert.equal(socket.readyState, WebSocket.CLOSED);
  });

  test("a handshake the server refuses (403) looks the same as any failure: error, close 1006; failure says why", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      const seen = record(socket);
      const before = socket.failure;
      assert.equal(before, undefined);
      const close = await next<CloseEvent>(socket, "close");
      assert.deepEqual(seen, ["error", "close"]);
      assert.equal(close.code, 1006);
      // Not in the events (the standard hides it from scripts), but on a documented property.
      const failure = socket.failure;
      assert.ok(failure instanceof HandshakeRefusedError);
      assert.equal(failure.status, 403);
      assert.equal(failure.body, "Cannot upgrade: origin (none) is not allowed");
      assert.equal(failure.message, `Cannot connect to ${server.url}: the server answered 403: Cannot upgrade: origin (none) is not allowed`);
    }, { upgrade: { origins: () => false } });
  });

  test("close() while CONNECTING: CLOSING at once, then error and close 1006", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      const seen = record(socket);
      socket.close();
      assert.equal(socket.readyState, WebSocket.CLOSING);
      const close = await next<CloseEvent>(socket, "close");
      assert.deepEqual(seen, ["error", "close"]);
      assert.equal(close.code, 1006);
      assert.equal(close.wasClean, false);
    });
  });
});

describe("messages", () => {
  test("text, ArrayBuffer, views and Blobs are sent in call order and echoed", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      socket.binaryType = "arraybuffer";
      await next(socket, "open");
      const received: unknown[] = [];
      const done = new Promise<void>((resolve) => {
        socket.onmessage = (event) => {
          const data = (event as MessageEvent).data;
          received.push(typeof data === "string" ? data : Array.from(new Uint8Array(data)));
          if (received.length === 5) resolve();
        };
      });
      socket.send(new Blob([new Uint8Array([1, 2, 3])])); // read asynchronously, yet first
      socket.send("after the blob");
      socket.send(new Uint8Array([9, 8, 7]).buffer);
      socket.send(new DataView(new Uint8Array([0, 5, 6, 0]).buffer, 1, 2));
      socket.send(new Uint16Array([0x0201]));
      await withTimeout(done, WAIT_MS, "five echoes");
      assert.deepEqual(received, [[1, 2, 3], "after the blob", [9, 8, 7], [5, 6], [1, 2]]);
      socket.close();
      await next(socket, "close");
    });
  });

  test("binaryType blob delivers Blobs; an invalid value is ignored", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      await next(socket, "open");
      socket.binaryType = "bogus" as "blob";
      assert.equal(socket.binaryType, "blob");
      socket.send(new Uint8Array([4, 5]));
      const event = await next<MessageEvent>(socket, "message");
      assert.ok(event.data instanceof Blob);
      assert.deepEqual(new Uint8Array(await (event.data as Blob).arrayBuffer()), new Uint8Array([4, 5]));
      assert.equal(event.origin, new URL(server.url).origin);
      socket.close();
      await next(socket, "close");
    });
  });

  test("bufferedAmount grows by the UTF-8 size on send and returns to 0 once written", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      await next(socket, "open");
      let echoes = 0;
      const both = new Promise<void>((resolve) => socket.onmessage = () => ++echoes === 2 && resolve());
      socket.send("héllo"); // 6 bytes of UTF-8
      assert.equal(socket.bufferedAmount, 6);
      socket.send(new Uint8Array(10));
      assert.equal(socket.bufferedAmount, 16);
      await withTimeout(both, WAIT_MS, "two echoes");
      assert.equal(socket.bufferedAmount, 0);
      socket.close();
      await next(socket, "close");
    });
  });

  test("on* handlers and addEventListener both fire; assigning a handler replaces the previous one", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      const calls: string[] = [];
      socket.onopen = () => calls.push("first onopen");
      socket.onopen = () => calls.push("second onopen");
      socket.addEventListener("open", () => calls.push("listener"));
      await next(socket, "open");
      assert.deepEqual(calls, ["second onopen", "listener"]);
      assert.equal(typeof socket.onopen, "function");
      socket.onopen = null;
      assert.equal(socket.onopen, null);
      socket.close();
      await next(socket, "close");
    });
  });
});

describe("closing", () => {
  test("close(code, reason) validates like the standard: InvalidAccessError, SyntaxError", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      await next(socket, "open");
      for (const code of [999, 1001, 1005, 2999, 5000, 1000.5]) {
        assert.throws(() => socket.close(code), dom("InvalidAccessError"), `code ${code}`);
      }
      assert.throws(() => socket.close(1000, "x".repeat(124)), dom("SyntaxError"));
      assert.equal(socket.readyState, WebSocket.OPEN, "a refused close() changes nothing");
      socket.close(1000, "x".repeat(123));
      await next(socket, "close");
    });
  });

  test("a clean close: CLOSING at once, then close with the code, wasClean true; later send() only counts", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      const seen = record(socket);
      await next(socket, "open");
      socket.send("before close"); // not discarded by close()
      socket.close(3001, "bye");
      assert.equal(socket.readyState, WebSocket.CLOSING);
      socket.close(1000); // no effect once CLOSING
      socket.send("after close");
      assert.equal(socket.bufferedAmount >= "after close".length, true);
      const close = await next<CloseEvent>(socket, "close");
      assert.ok(close instanceof CloseEvent);
      assert.equal(close.code, 3001);
      assert.equal(close.wasClean, true);
      assert.equal(socket.readyState, WebSocket.CLOSED);
      assert.deepEqual(seen, ["open", "close"], "messages after close() are not delivered, no error");
    });
  });

  test("the server's close code and reason reach the close event", async () => {
    let serverSide!: NodeUpgrade;
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      await next(socket, "open");
      const upgrade = await server.nextUpgrade();
      serverSide = upgrade;
      upgrade.connection.close(4000, "custom reason");
      const close = await next<CloseEvent>(socket, "close");
      assert.equal(close.code, 4000);
      assert.equal(close.reason, "custom reason");
      assert.equal(close.wasClean, true);
    }, { onUpgrade: (upgrade) => echo(upgrade) });
    assert.ok(serverSide);
  });

  test("a server that resets TCP after the closing handshake completed: close 1000, wasClean true (§7.1.4)", async () => {
    // A raw server: answers the handshake, sends a close frame, and once the client has replied, resets TCP.
    const server = createTcpServer((socket) => {
      let head = "", upgraded = false;
      socket.on("error", () => {});
      socket.on("data", (chunk) => {
        if (upgraded) {
          socket.resetAndDestroy(); // the client's close frame arrived: the handshake is complete
          return;
        }
        head += chunk.toString("latin1");
        if (!head.includes("\r\n\r\n")) return;
        const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
        const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        socket.write(new Uint8Array([0x88, 0x02, 0x03, 0xe8])); // close 1000
        upgraded = true;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
      const seen = record(socket);
      const close = await next<CloseEvent>(socket, "close");
      assert.equal(close.code, 1000);
      assert.equal(close.wasClean, true);
      assert.deepEqual(seen, ["open", "close"]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("a server that drops TCP without a close frame: error, then close 1006 not clean", async () => {
    await withServer(async (server) => {
      const socket = new WebSocket(server.url);
      const seen = record(socket);
      await next(socket, "open");
      const upgrade = await server.nextUpgrade();
      upgrade.connection.fail(1006); // 1006 is never sent: the transport is just closed
      const close = await next<CloseEvent>(socket, "close");
      assert.equal(close.code, 1006);
      assert.equal(close.wasClean, false);
      assert.deepEqual(seen, ["open", "error", "close"]);
    });
  });
});
