import { describe, test } from "node:test";
import assert from "node:assert/strict";
import WsWebSocket from "ws";
import type { CloseResult } from "../lib/connection.ts";
import { RUNTIME } from "./_files.ts";
import { startServer, type TestServer, type TestServerOptions, WAIT_MS, withTimeout } from "./_raw_client.ts";
import { pseudoRandomBytes } from "./_vectors.ts";

// Interop with real clients over 127.0.0.1: the runtime's own global WebSocket (Deno's under deno test,
// Bun's under bun test, undici's under node --test) and the `ws` package. One behaviour suite runs against
// each.

/** The runtime under test, for test names. */
const runtime = RUNTIME === "bun" ? "Bun" : RUNTIME === "deno" ? "Deno" : "Node";

/** Node 20 has its global WebSocket (undici's) only with --experimental-websocket (scripts/run_tests.ts passes it). */
const globalWebSocketSkip = typeof globalThis.WebSocket === "function"
  ? false
  : `${runtime} has no global WebSocket (Node 20 needs --experimental-websocket)`;

/** A client, reduced to what the suite needs. */
interface PeerClient {
  /** The subprotocol the server chose, as the client reports it. */
  readonly protocol: string;
  send(data: string | Uint8Array): void;
  /** The next message: a string for text, bytes for binary. */
  next(): Promise<string | Uint8Array>;
  close(code: number, reason: string): void;
  /** How the client saw the connection end. */
  readonly closed: Promise<CloseResult>;
  /** Ends the connection at once (cleanup). */
  terminate(): void;
}

type OpenClient = (url: string, protocols?: string[]) => Promise<PeerClient>;

/** Messages in arrival order, read with a bounded wait. */
class Inbox {
  #messages: (string | Uint8Array)[] = [];
  #waiter: (() => void) | undefined;

  push(message: string | Uint8Array): void {
    this.#messages.push(message);
    this.#waiter?.();
  }

  async next(): Promise<string | Uint8Array> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const message = this.#messages.shift();
      if (message !== undefined) return message;
      const arrived = new Promise<void>((resolve) => this.#waiter = resolve);
      await withTimeout(arrived, Math.max(0, deadline - Date.now()), "a message from the server");
    }
  }
}

const openGlobal: OpenClient = async (url, protocols) => {
  const socket = new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  const inbox = new Inbox();
  socket.onmessage = (event) =>
    inbox.push(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
  const closed = new Promise<CloseResult>((resolve) => {
    socket.onclose = (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
  });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error("The WebSocket failed to open"));
      }),
      WAIT_MS,
      "the WebSocket to open",
    );
  } catch (error) {
    socket.close();
    throw error;
  }
  socket.onerror = null;
  return {
    get protocol() {
      return socket.protocol;
    },
    // Our payloads are never backed by a SharedArrayBuffer.
    send: (data) => socket.send(typeof data === "string" ? data : data as Uint8Array<ArrayBuffer>),
    next: () => inbox.next(),
    close: (code, reason) => socket.close(code, reason),
    closed,
    terminate: () => socket.close(),
  };
};

const openWs: OpenClient = async (url, protocols) => {
  const socket = new WsWebSocket(url, protocols, { perMessageDeflate: false });
  const inbox = new Inbox();
  socket.on("message", (data: Uint8Array, isBinary: boolean) => {
    inbox.push(isBinary ? new Uint8Array(data) : new TextDecoder().decode(data));
  });
  const closed = new Promise<CloseResult>((resolve) => {
    socket.addEventListener("close", (event: { code: number; reason: string; wasClean: boolean }) => {
      resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
    });
  });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once("open", () => resolve());
        socket.once("error", reject);
      }),
      WAIT_MS,
      "the ws client to open",
    );
  } catch (error) {
    socket.terminate();
    throw error;
  }
  socket.on("error", () => {});
  return {
    get protocol() {
      return socket.protocol;
    },
    send: (data) => socket.send(data),
    next: () => inbox.next(),
    close: (code, reason) => socket.close(code, reason),
    closed,
    terminate: () => socket.terminate(),
  };
};

function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  return withTimeout(promise, WAIT_MS, what);
}

/** A server and a client connected to it; both closed afterwards. */
async function connected(
  open: OpenClient,
  options: TestServerOptions & { protocols?: string[] },
  body: (client: PeerClient, server: TestServer) => Promise<void>,
): Promise<void> {
  const server = await startServer(options);
  let client: PeerClient | undefined;
  try {
    client = await open(server.url, options.protocols);
    await body(client, server);
  } finally {
    client?.terminate();
    await server.close();
  }
}

function behaviourSuite(name: string, open: OpenClient, skip: string | false = false): void {
  describe(name, () => {
    test("exchanges small and 64 KiB text and binary messages with the echo server", { skip }, async () => {
      await connected(open, {}, async (client) => {
        const bigText = "0123456789abcdef".repeat(4096);
        const messages: (string | Uint8Array)[] = [
          "Hello, world!",
          "κόσμε – 👋",
          "",
          Uint8Array.of(0, 1, 2, 0xfe, 0xff),
          bigText,
          pseudoRandomBytes(65536, 1),
        ];
        for (const message of messages) client.send(message);
        for (const message of messages) {
          const echoed = await client.next();
          if (typeof message === "string") {
            assert.equal(typeof echoed, "string");
            assert.equal(echoed, message);
          } else {
            assert.ok(echoed instanceof Uint8Array, "a binary message arrives as bytes");
            assert.equal(echoed.length, message.length);
            assert.deepEqual(echoed, message);
          }
        }
      });
    });

    test("closes with 1000 and a reason: clean on both ends, the server sees the reason", { skip }, async () => {
      await connected(open, {}, async (client, server) => {
        const upgrade = await server.nextUpgrade();
        client.send("before closing");
        assert.equal(await client.next(), "before closing");
        client.close(1000, "client done");
        const seen = await bounded(client.closed, "the client's close event");
        assert.equal(seen.code, 1000);
        assert.equal(seen.wasClean, true);
        assert.deepEqual(await bounded(upgrade.connection.closed, "the server's closed"), {
          code: 1000,
          reason: "client done",
          wasClean: true,
        });
      });
    });

    test("sees a server-initiated close 1000 with its reason, cleanly", { skip }, async () => {
      const options: TestServerOptions = {
        onUpgrade: ({ connection }) => {
          connection.onmessage = (data) => {
            if (data === "close me") void connection.close(1000, "server done");
          };
        },
      };
      await connected(open, options, async (client, server) => {
        const upgrade = await server.nextUpgrade();
        client.send("close me");
        assert.deepEqual(await bounded(client.closed, "the client's close event"), {
          code: 1000,
          reason: "server done",
          wasClean: true,
        });
        const result = await bounded(upgrade.connection.closed, "the server's closed");
        assert.equal(result.code, 1000);
        assert.equal(result.wasClean, true);
      });
    });

    test("gets the server's first choice of subprotocol: offered a, b; server speaks b, a → b", { skip }, async () => {
      const options = { upgrade: { protocols: ["b", "a"] }, protocols: ["a", "b"] };
      await connected(open, options, async (client, server) => {
        assert.equal(client.protocol, "b");
        assert.equal((await server.nextUpgrade()).protocol, "b");
        client.send("with a subprotocol");
        assert.equal(await client.next(), "with a subprotocol");
        client.close(1000, "done");
        assert.equal((await bounded(client.closed, "the client's close event")).wasClean, true);
      });
    });
  });
}

behaviourSuite(`${runtime}'s global WebSocket`, openGlobal, globalWebSocketSkip);
behaviourSuite("the ws package client", openWs);

describe("the ws package client, ping", () => {
  test("a ping from the ws client gets a pong with identical payload", async () => {
    const server = await startServer();
    const socket = new WsWebSocket(server.url, { perMessageDeflate: false });
    try {
      await bounded(
        new Promise<void>((resolve, reject) => {
          socket.once("open", () => resolve());
          socket.once("error", reject);
        }),
        "the ws client to open",
      );
      const pong = new Promise<Uint8Array>((resolve) =>
        socket.once("pong", (data: Uint8Array) => resolve(new Uint8Array(data)))
      );
      socket.ping(Uint8Array.of(1, 2, 3, 250));
      assert.deepEqual(await bounded(pong, "a pong"), Uint8Array.of(1, 2, 3, 250));
    } finally {
      socket.terminate();
      await server.close();
    }
  });
});
