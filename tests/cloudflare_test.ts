/**
 * The Cloudflare server adapters in workerd (Cloudflare's open-source Workers runtime, from npm), with
 * Durable Objects configured (two namespaces, in-memory storage): tests/_cloudflare_fixture.ts bundled with
 * `deno bundle`, which serves the chat example's `ChatRoom` (`durableObjectServe`), a test room, and the
 * plain Worker path (`cloudflareServe`). Hibernation is forced between messages with workerd's
 * `evictAllDurableObjects()` (the `workerd:unsafe` module, `unsafe_module` flag, `--experimental`): every
 * Durable Object is dropped from memory while the runtime keeps their hibernatable sockets open, and the
 * next message constructs the object anew (the tests check it is a new instance), as on Cloudflare.
 *
 * Clients: this library's (`openClient`, over node:net) and `ws`. Checked: joining rooms, broadcasts,
 * `ws.publish` leaving the sender out, topics, `data`, `user`, the subprotocol surviving hibernation, the
 * runtime's auto-response without waking the object, the 16 KiB attachment limit, the handshake refusals
 * (403 hook, 403 origin, 426 no upgrade, 400 bad key) on both paths, a throwing handler's 1011, and what
 * workerd does with permessage-deflate (on the wire, through a tapping proxy).
 *
 * Runs on Deno, Bun and Node: the clients are this library's on each runtime; workerd is the same process
 * for all (one per run, about 1 s to bundle and start).
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import WsWebSocket from "ws";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openClient } from "../lib/client/open_client.ts";
import { cloudflareServe } from "../lib/adapters/cloudflare.ts";
import { httpExchange } from "./_raw_client.ts";
import {
  canonicalExtensions,
  REQUIRE_PEERS,
  startTapProxy,
  STEP_MS,
  webSocketSession,
  withTimeout,
} from "./_interop.ts";
import { fetchWorker, probeWorkerd, ROOT, startWorkerd, type Workerd } from "./_workerd.ts";

const availability = probeWorkerd();
const skip = availability.available || (REQUIRE_PEERS && availability.required)
  ? undefined
  : availability.reason;
/** Bound for a whole test (the first may bundle and start workerd). */
const TEST_MS = 150_000;

const DURABLE_OBJECTS = `durableObjectNamespaces = [
    (className = "ChatRoom", uniqueKey = "wsengine-chat-room"),
    (className = "TestRoom", uniqueKey = "wsengine-test-room"),
  ],
  durableObjectStorage = (inMemory = void),
  bindings = [
    (name = "SECRET", text = "a test secret of more than 16 characters"),
    (name = "ROOMS", durableObjectNamespace = "ChatRoom"),
    (name = "TEST_ROOMS", durableObjectNamespace = "TestRoom"),
  ],`;

let started: Promise<Workerd> | undefined;

/** The fixture's workerd, started by the first test that needs it (its failure is that test's). */
function workerd(): Promise<Workerd> {
  if (!availability.available) {
    throw new Error(`Cannot run workerd: ${availability.reason}, and REQUIRE_PEERS=1`);
  }
  return started ??= startWorkerd(join(ROOT, "tests/_cloudflare_fixture.ts"), {
    flags: ["unsafe_module"],
    experimental: true,
    external: ["cloudflare:sockets", "workerd:unsafe"],
    worker: DURABLE_OBJECTS,
  }).then((running) => {
    workerdOutput = running.output;
    return running;
  });
}

after(async () => {
  await (await started?.catch(() => undefined))?.stop();
});

/** What workerd has written so far (uncaught errors of the Worker among it). */
let workerdOutput = () => "";

/** Waits (at most 5 s, polling) until workerd's output matches, then asserts it. */
async function outputMatches(pattern: RegExp): Promise<void> {
  for (const end = Date.now() + 5000; !pattern.test(workerdOutput()) && Date.now() < end;) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.match(workerdOutput(), pattern);
}

/** Drops every Durable Object from memory; their hibernatable sockets stay open. */
async function evict(): Promise<void> {
  const { status, body } = await fetchWorker(await workerd(), "/evict");
  assert.equal(status, 200, `the eviction: ${body}`);
}

// ---------------------------------------------------------------------------------------------------------
// Two clients behind one interface

/** A connected client, whichever library. */
interface Client {
  protocol: string;
  extensions: string;
  /** The next message (text as a string), within a bound. */
  next(): Promise<string | Uint8Array>;
  /** The next message, parsed as JSON. */
  json(): Promise<Record<string, unknown>>;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  closed: Promise<{ code: number; reason: string }>;
}

type Connect = (path: string, protocols?: string[], headers?: Record<string, string>) => Promise<Client>;

/** Clients not closed yet: a failed test's are cut when it ends, so that none outlives it. */
const live = new Set<() => void>();

/** A queue of messages read with a bounded wait. */
function inbox(): {
  push(message: string | Uint8Array): void;
  next(): Promise<string | Uint8Array>;
  pending(): number;
} {
  const messages: (string | Uint8Array)[] = [];
  const waiters: ((message: string | Uint8Array) => void)[] = [];
  return {
    push: (message) => {
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else messages.push(message);
    },
    next: () => {
      if (messages.length > 0) return Promise.resolve(messages.shift()!);
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), STEP_MS, "a message");
    },
    pending: () => messages.length,
  };
}

/** This library's client, offering permessage-deflate. */
const ours: Connect = async (path, protocols = [], headers = {}) => {
  const { origin } = await workerd();
  const { connection, protocol, extensions } = await openClient(
    new URL(origin.replace("http:", "ws:") + path),
    { protocols, headers },
  );
  const box = inbox();
  connection.onmessage = (data) => box.push(data);
  const cut = () => connection.fail(1001);
  live.add(cut);
  connection.closed.then(() => live.delete(cut));
  return {
    protocol,
    extensions,
    next: box.next,
    json: async () => JSON.parse(String(await box.next())),
    send: (data) => void connection.send(data).catch(() => {}),
    close: (code, reason) => void connection.close(code, reason),
    closed: connection.closed.then(({ code, reason }) => ({ code, reason })),
  };
};

/** `ws`, offering permessage-deflate. */
const wsClient: Connect = async (path, protocols = [], headers = {}) => {
  const { origin } = await workerd();
  const socket = new WsWebSocket(origin.replace("http:", "ws:") + path, protocols, {
    perMessageDeflate: true,
    headers,
  });
  const box = inbox();
  socket.on(
    "message",
    (data: Uint8Array, binary: boolean) => box.push(binary ? new Uint8Array(data) : String(data)),
  );
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on("close", (code: number, reason: Uint8Array) => resolve({ code, reason: String(reason) }))
  );
  const cut = () => socket.terminate();
  live.add(cut);
  closed.then(() => live.delete(cut));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
      socket.once(
        "unexpected-response",
        (_request: unknown, response: { statusCode: number }) =>
          reject(new Error(`ws: the server answered ${response.statusCode}`)),
      );
    }),
    STEP_MS,
    "ws to open",
  );
  return {
    protocol: socket.protocol,
    extensions: socket.extensions,
    next: box.next,
    json: async () => JSON.parse(String(await box.next())),
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
    closed,
  };
};

const CLIENTS: [string, Connect][] = [["our client", ours], ["ws", wsClient]];

/** Closes clients and waits for the close to complete. */
async function closeAll(...clients: Client[]): Promise<void> {
  for (const client of clients) client.close(1000, "done");
  await Promise.all(clients.map((client) => withTimeout(client.closed, STEP_MS, "the close")));
}

// ---------------------------------------------------------------------------------------------------------

/** A test that needs workerd: skipped with the reason where it cannot run (failing under REQUIRE_PEERS=1). */
function cfTest(name: string, fn: () => Promise<void>): void {
  test(name, { skip, timeout: TEST_MS }, async () => {
    try {
      await fn();
    } finally {
      for (const cut of live) cut();
      live.clear();
    }
  });
}

describe(`Cloudflare adapters in workerd (${availability.version || "not installed"})`, () => {
  describe("the chat demo on a Worker (examples/cloudflare_chat): the demo's API and JSON, one Durable Object per room", () => {
    /** Logs in as the demo's page does; returns the cookie. */
    const login = async (name: string) => {
      const { origin } = await workerd();
      const response = await fetch(`${origin}/api/login`, {
        method: "POST",
        body: JSON.stringify({ name }),
        signal: AbortSignal.timeout(STEP_MS),
      });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { name, worker: "cloudflare" });
      const cookie = /^(wsdemo=[^;]+)/.exec(response.headers.get("set-cookie") ?? "")?.[1];
      assert.ok(cookie !== undefined, "the name cookie");
      return cookie;
    };
    const chatOurs = async (room: string, cookie: string) => await ours(`/chat?room=${room}`, [], { cookie });
    const chatWs = async (room: string, cookie: string) =>
      await wsClient(`/chat?room=${room}`, [], { cookie });
    /** welcome, joined, then the presence its join causes. */
    const joined = async (client: Client, name: string, room: string, members: string[]) => {
      const welcome = await client.json();
      assert.equal(welcome.type, "welcome");
      assert.equal(welcome.name, name);
      assert.equal(welcome.room, room);
      assert.equal(welcome.worker, "cloudflare");
      assert.equal(welcome.extensions, "permessage-deflate");
      assert.deepEqual(await client.json(), { type: "joined", count: 0 });
      assert.deepEqual(await client.json(), { type: "presence", room, members, joins: [name], leaves: [] });
    };
    const said = async (client: Client, from: string, text: string, room: string) => {
      const message = await client.json();
      assert.equal(message.type, "message");
      assert.equal(message.from, from);
      assert.equal(message.text, text);
      assert.equal(message.room, room);
      assert.equal(typeof message.id, "string");
      assert.equal(typeof message.at, "number");
    };

    cfTest(
      "our client and ws join a room, receive every message and presence, and still do after it hibernates",
      async () => {
        const alice = await chatOurs("lobby-1", await login("alice"));
        await joined(alice, "alice", "lobby-1", ["alice"]);
        const bob = await chatWs("lobby-1", await login("bob"));
        await joined(bob, "bob", "lobby-1", ["alice", "bob"]);
        assert.deepEqual(await alice.json(), {
          type: "presence",
          room: "lobby-1",
          members: ["alice", "bob"],
          joins: ["bob"],
          leaves: [],
        });

        alice.send(JSON.stringify({ type: "say", text: "hello" }));
        await said(alice, "alice", "hello", "lobby-1");
        await said(bob, "alice", "hello", "lobby-1");

        await evict();
        // The room is constructed anew on bob's message: its sockets and their names come from the attachments.
        bob.send(JSON.stringify({ type: "say", text: "still here" }));
        await said(alice, "bob", "still here", "lobby-1");
        await said(bob, "bob", "still here", "lobby-1");
        const carol = await chatOurs("lobby-1", await login("carol"));
        await joined(carol, "carol", "lobby-1", ["alice", "bob", "carol"]);
        for (const client of [alice, bob]) {
          assert.deepEqual(await client.json(), {
            type: "presence",
            room: "lobby-1",
            members: ["alice", "bob", "carol"],
            joins: ["carol"],
            leaves: [],
          });
        }

        // Another room is another object: nothing crosses.
        const dave = await chatWs("other-1", await login("dave"));
        await joined(dave, "dave", "other-1", ["dave"]);

        await evict();
        carol.close(1000, "bye");
        for (const client of [alice, bob]) {
          assert.deepEqual(await client.json(), {
            type: "presence",
            room: "lobby-1",
            members: ["alice", "bob"],
            joins: [],
            leaves: ["carol"],
          });
        }
        assert.equal((await carol.closed).code, 1000);

        alice.send("not json");
        assert.deepEqual(await alice.json(), { type: "error", error: "not JSON" });
        alice.send(JSON.stringify({ type: "stats?" })); // ignored: workerd exposes no byte counts
        alice.send(JSON.stringify({ type: "shout" }));
        assert.deepEqual(await alice.json(), {
          type: "error",
          error: 'expected { "type": "say", "text": "..." }',
        });
        await closeAll(alice, bob, dave);
      },
    );

    cfTest(
      "the demo's refusals: 401 without a valid cookie, 400 for a bad room or name, 401 from /api/me",
      async () => {
        const { origin } = await workerd();
        await assert.rejects(
          ours("/chat?room=lobby"),
          (error: Error & { status?: number }) => error.status === 401,
        );
        await assert.rejects(
          ours("/chat?room=lobby", [], { cookie: "wsdemo=YWxpY2U.forged" }),
          (error: Error & { status?: number }) => error.status === 401,
        );
        const cookie = await login("erin");
        await assert.rejects(
          ours("/chat?room=-bad", [], { cookie }),
          (error: Error & { status?: number }) => error.status === 400,
        );
        const me = await fetch(`${origin}/api/me`, {
          headers: { cookie },
          signal: AbortSignal.timeout(STEP_MS),
        });
        assert.deepEqual(await me.json(), { name: "erin", worker: "cloudflare" });
        assert.equal((await fetchWorker(await workerd(), "/api/me")).status, 401);
        const bad = await fetch(`${origin}/api/login`, {
          method: "POST",
          body: JSON.stringify({ name: " " }),
          signal: AbortSignal.timeout(STEP_MS),
        });
        assert.equal(bad.status, 400);
        await bad.body?.cancel();
      },
    );
  });

  describe("durableObjectServe: topics, data and user across hibernation", () => {
    for (const [name, connect] of CLIENTS) {
      cfTest(
        `${name}: subscriptions, data, user, subprotocol and the socket's publish survive eviction`,
        async () => {
          const room = `/do/state-${name.replace(" ", "-")}`;
          const a = await connect(`${room}?token=secret&name=alice&tag=lobby`, ["chat", "v2.chat"]);
          const b = await connect(`${room}?token=secret&name=bob`, ["chat"]);
          // Server order: v2.chat is preferred, whichever order the client offered.
          assert.equal(a.protocol, "v2.chat");
          assert.equal(b.protocol, "chat");
          b.send(JSON.stringify({ op: "subscribe", topic: "lobby" }));
          assert.deepEqual(await b.json(), { op: "subscribed", topic: "lobby", result: true });
          a.send(JSON.stringify({ op: "setData", value: { score: 7 } }));
          assert.deepEqual(await a.json(), { op: "dataSet" });
          a.send(JSON.stringify({ op: "state", topic: "lobby" }));
          const before = await a.json();

          await evict();
          a.send(JSON.stringify({ op: "state", topic: "lobby" }));
          const afterA = await a.json();
          assert.notEqual(afterA.instance, before.instance, "a new instance of the object (it was evicted)");
          assert.deepEqual({ ...afterA, instance: undefined }, { ...before, instance: undefined });
          assert.deepEqual(afterA.data, { name: "alice", note: { score: 7 } });
          assert.equal(afterA.user, "alice");
          assert.equal(afterA.protocol, "v2.chat");
          assert.deepEqual(afterA.subscriptions, ["lobby"], "the tag's topic");
          assert.equal(afterA.count, 2);
          assert.equal(afterA.sockets, 2);

          a.send(JSON.stringify({ op: "publish", topic: "lobby", text: "from a" }));
          assert.equal(await b.next(), "from a");
          assert.deepEqual(await a.json(), { op: "published", count: 1 }, "the sender is left out");

          await evict();
          b.send(JSON.stringify({ op: "unsubscribe", topic: "lobby" }));
          assert.deepEqual(await b.json(), { op: "unsubscribed", topic: "lobby", result: true });
          await evict();
          b.send(JSON.stringify({ op: "broadcast", topic: "lobby", text: "to all" }));
          assert.equal(await a.next(), "to all");
          assert.deepEqual(
            await b.json(),
            { op: "broadcasted", count: 1 },
            "b left the topic, across an eviction",
          );

          const bytes = new Uint8Array([0, 1, 2, 255]);
          b.send(bytes);
          assert.deepEqual(await b.next(), bytes);
          await closeAll(a, b);
        },
      );
    }

    cfTest("the runtime answers the heartbeat of an evicted object (setWebSocketAutoResponse)", async () => {
      const client = await wsClient("/do/heartbeat-1?token=secret&name=erin");
      await evict();
      client.send("ping");
      assert.equal(await client.next(), "pong");
      client.send(JSON.stringify({ op: "state" }));
      assert.deepEqual((await client.json()).data, { name: "erin" });
      await closeAll(client);
    });

    cfTest("a subscribe past the 16 KiB attachment throws a RangeError and is undone", async () => {
      const a = await ours("/do/attachment-1?token=secret&name=alice&tag=lobby");
      a.send(JSON.stringify({ op: "fill" }));
      const filled = await a.json();
      assert.equal(filled.error, "RangeError");
      assert.match(String(filled.message), /16 KiB/);
      assert.ok(
        Number(filled.subscribed) > 50 && Number(filled.subscribed) < 70,
        `subscribed ${filled.subscribed}`,
      );
      assert.equal(filled.kept, Number(filled.subscribed) + 1, "the failed topic is not kept (the tag's is)");
      await evict();
      a.send(JSON.stringify({ op: "state" }));
      assert.deepEqual((await a.json()).subscriptions, ["lobby"]);
      await closeAll(a);
    });

    cfTest("subscribe with since or presence, which hibernation would lose, is a TypeError and subscribes nothing", async () => {
      const a = await ours("/do/lost-on-hibernation-1?token=secret&name=alice");
      a.send(JSON.stringify({ op: "refusals" }));
      assert.deepEqual(await a.json(), { op: "refusals", since: "TypeError", presence: "TypeError", subscriptions: [] });
      await closeAll(a);
    });

    cfTest("a handler that throws closes its socket with 1011, and the others stay", async () => {
      const a = await ours("/do/throw-1?token=secret&name=alice");
      const b = await wsClient("/do/throw-1?token=secret&name=bob");
      a.send(JSON.stringify({ op: "throw" }));
      assert.equal((await withTimeout(a.closed, STEP_MS, "the 1011")).code, 1011);
      b.send(JSON.stringify({ op: "state" }));
      assert.equal((await b.json()).sockets, 1);
      await closeAll(b);
    });
  });

  describe("cloudflareServe (a Worker's WebSocketPair)", () => {
    for (const [name, connect] of CLIENTS) {
      cfTest(`${name}: text and binary echo, the subprotocol in server order`, async () => {
        const client = await connect("/plain?token=secret", ["chat", "v2.chat"]);
        assert.equal(client.protocol, "v2.chat");
        const text = "héllo ".repeat(2000);
        client.send(text);
        assert.equal(await client.next(), text);
        const bytes = new Uint8Array(70_000).map((_, i) => i * 7);
        client.send(bytes);
        assert.deepEqual(await client.next(), bytes);
        await closeAll(client);
      });
    }

    cfTest("a handler that throws closes its socket with 1011", async () => {
      const client = await wsClient("/plain?token=secret");
      client.send("throw");
      assert.equal((await withTimeout(client.closed, STEP_MS, "the 1011")).code, 1011);
    });
  });

  describe("the handshake's checks and refusals, as on this library's other servers", () => {
    const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
    const request = (path: string, headers: Record<string, string>) =>
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("") + "\r\n";
    const upgrade = {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-version": "13",
      "sec-websocket-key": KEY,
    };

    for (const path of ["/plain", "/do/refusals-1"]) {
      cfTest(
        `${path}: 403 from the upgrade hook, 403 for an origin, 426 without Upgrade, 400 for a bad key`,
        async () => {
          const { port } = await workerd();
          const hook = await httpExchange(port, request(`${path}?token=bad`, upgrade));
          assert.equal(hook.status, 403);
          assert.equal(hook.body, "Cannot upgrade: bad token\n");
          const origin = await httpExchange(
            port,
            request(`${path}?token=secret`, { ...upgrade, origin: "https://evil.example" }),
          );
          assert.equal(origin.status, 403);
          assert.match(origin.body, /origin https:\/\/evil\.example is not allowed/);
          const plain = await httpExchange(port, request(`${path}?token=secret`, {}));
          assert.equal(
            plain.status,
            426,
            "workerd alone turns a 101 to a request without Upgrade into a 500",
          );
          assert.match(plain.body, /This is a WebSocket server/);
          // workerd alone accepts a malformed key (a 101 with an accept value computed from it).
          const key = await httpExchange(
            port,
            request(`${path}?token=secret`, { ...upgrade, "sec-websocket-key": "bad" }),
          );
          assert.equal(key.status, 400);
          assert.match(key.body, /Sec-WebSocket-Key is not base64 of 16 bytes/);
          // A version other than 13 is refused by workerd itself, before the Worker runs, as this library would.
          const version = await httpExchange(
            port,
            request(`${path}?token=secret`, { ...upgrade, "sec-websocket-version": "8" }),
          );
          assert.equal(version.status, 426);
          assert.equal(version.headers.get("sec-websocket-version"), "13");
          await assert.rejects(
            ours(`${path}?token=bad`),
            (error: Error & { status?: number }) => error.status === 403,
          );
          if (path.startsWith("/do/")) {
            // More than 10 tags, or one over 256 characters, is the server's mistake: a RangeError, a 500.
            const tags = Array.from({ length: 11 }, (_, i) => `tag=t${i}`).join("&");
            const many = await httpExchange(port, request(`${path}?token=secret&${tags}`, upgrade));
            assert.equal(many.status, 500);
            const long = await httpExchange(
              port,
              request(`${path}?token=secret&tag=${"x".repeat(257)}`, upgrade),
            );
            assert.equal(long.status, 500);
            // workerd logs the exception on its stderr, which may reach us after the response did.
            await outputMatches(/Cannot accept: 11 tags, at most 10/);
            await outputMatches(/Cannot accept: a tag must be a string of 1 to 256 characters/);
          }
        },
      );
    }
  });

  describe("permessage-deflate: workerd compresses by the answer the adapter chose", () => {
    for (const path of ["/plain?token=secret", "/do/deflate-1?token=secret"]) {
      cfTest(
        `${path}: negotiated with our client's offer, RSV1 on the server's messages of 1000 bytes or more`,
        async () => {
          const { port } = await workerd();
          const proxy = await startTapProxy(port);
          try {
            const { connection, extensions } = await openClient(
              new URL(`ws://127.0.0.1:${proxy.port}${path}`),
              {},
            );
            // The offer is "permessage-deflate; client_max_window_bits": this library's answer needs no parameter.
            assert.equal(canonicalExtensions(extensions), "permessage-deflate");
            const box = inbox();
            connection.onmessage = (data) => box.push(data);
            // Both paths echo binary messages.
            const bytes = new Uint8Array(4000).map((_, i) => 65 + (i % 7));
            await connection.send(bytes);
            assert.deepEqual(await box.next(), bytes);
            connection.close(1000, "done");
            assert.equal((await withTimeout(connection.closed, STEP_MS, "the close")).code, 1000);
            const session = webSocketSession(proxy);
            await withTimeout(session.ended, STEP_MS, "the TCP connection to end");
            assert.match(session.down.head ?? "", /sec-websocket-extensions: permessage-deflate/i);
            const down = session.down.messages;
            assert.equal(down.length, 1);
            assert.equal(down[0].rsv1, true, "workerd compressed the server's message");
            assert.ok(down[0].wireBytes < 1000, `compressed to ${down[0].wireBytes} bytes`);
            assert.equal(session.up.messages[0].rsv1, true, "our client compressed too");
            assert.deepEqual(session.down.violations, []);
          } finally {
            await proxy.close();
          }
        },
      );
    }

    cfTest(
      "ws's offer with server_no_context_takeover: workerd sends the adapter's answer as is",
      async () => {
        const { port } = await workerd();
        const proxy = await startTapProxy(port);
        try {
          const socket = new WsWebSocket(`ws://127.0.0.1:${proxy.port}/plain?token=secret`, [], {
            perMessageDeflate: { serverNoContextTakeover: true },
          });
          const closed = new Promise((resolve) => socket.once("close", resolve));
          await withTimeout(
            new Promise((resolve, reject) => {
              socket.once("open", resolve);
              socket.once("error", reject);
            }),
            STEP_MS,
            "ws to open",
          );
          socket.close(1000);
          await withTimeout(closed, STEP_MS, "ws to close");
          const answer =
            /^sec-websocket-extensions:(.*)$/im.exec(webSocketSession(proxy).down.head ?? "")?.[1] ?? null;
          assert.equal(canonicalExtensions(answer), "permessage-deflate; server_no_context_takeover");
        } finally {
          await proxy.close();
        }
      },
    );
  });

  describe("the README's Durable Object example (examples/cloudflare_room.ts until the README has it)", () => {
    cfTest(
      "two clients join a room by its path, the subprotocol is chosen, a message reaches both, 400 without a name",
      async () => {
        const readme = readFileSync(join(ROOT, "README.md"), "utf8");
        const readmeBlocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1])
          .filter((code) => code.includes("durableObjectServe(") && code.includes("export class Room"));
        assert.ok(readmeBlocks.length <= 1, "at most one README Durable Object example");
        const source = readmeBlocks[0] ?? readFileSync(join(ROOT, "examples/cloudflare_room.ts"), "utf8");
        const dir = mkdtempSync(join(tmpdir(), "wsengine-room-"));
        let room: Workerd | undefined;
        try {
          const file = join(dir, "room.ts");
          const entry = JSON.stringify(join(ROOT, "lib/adapters/cloudflare.ts"));
          writeFileSync(file, source.replace(/"(?:\.\/|\.\.\/)lib\/adapters\/cloudflare\.ts"/, entry));
          room = await startWorkerd(file, {
            worker: `durableObjectNamespaces = [(className = "Room", uniqueKey = "wsengine-readme-room")],
  durableObjectStorage = (inMemory = void),
  bindings = [(name = "ROOMS", durableObjectNamespace = "Room")],`,
          });
          const url = room.origin.replace("http:", "ws:");
          const alice = await openClient(new URL(`${url}/lobby?name=alice`), { protocols: ["chat"] });
          assert.equal(alice.protocol, "chat");
          const aliceInbox = inbox();
          alice.connection.onmessage = (data) => aliceInbox.push(data);
          const bob = new WsWebSocket(`${url}/lobby?name=bob`);
          const bobInbox = inbox();
          bob.on("message", (data: Uint8Array) => bobInbox.push(String(data)));
          await withTimeout(
            new Promise((resolve, reject) => {
              bob.once("open", resolve);
              bob.once("error", reject);
            }),
            STEP_MS,
            "ws to open",
          );
          await alice.connection.send("hi");
          assert.equal(await aliceInbox.next(), "alice: hi");
          assert.equal(await bobInbox.next(), "alice: hi");
          bob.send("hello");
          assert.equal(await aliceInbox.next(), "bob: hello");
          assert.equal(await bobInbox.next(), "bob: hello");
          const other = await openClient(new URL(`${url}/elsewhere?name=carol`), {});
          await other.connection.send("nobody in the lobby hears this");
          other.connection.close(1000);
          await assert.rejects(
            openClient(new URL(`${url}/lobby`), {}),
            (error: Error & { status?: number }) => error.status === 400,
          );
          const bobClosed = new Promise((resolve) => bob.once("close", resolve));
          bob.close(1000);
          alice.connection.close(1000);
          await withTimeout(
            Promise.all([bobClosed, alice.connection.closed, other.connection.closed]),
            STEP_MS,
            "the closes",
          );
          assert.equal(aliceInbox.pending(), 0, "alice received nothing from the other room");
        } finally {
          await room?.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );
  });
});

describe("the Cloudflare adapters outside workerd", () => {
  const upgradeRequest = (headers: Record<string, string> = {}) =>
    new Request("http://example.com/chat", {
      headers: {
        host: "example.com",
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...headers,
      },
    });

  test("the checks run first: 426 without Upgrade, 400 for a bad key, 403 from the hook, 403 for an origin", async () => {
    const handler = cloudflareServe({
      origins: ["https://good.example"],
      upgrade: (request) =>
        request.headers.has("x-token") ? undefined : new Response("no token\n", { status: 403 }),
      websocket: {},
    });
    assert.equal((await handler(new Request("http://example.com/"))).status, 426);
    assert.equal((await handler(upgradeRequest({ "sec-websocket-key": "bad", "x-token": "1" }))).status, 400);
    assert.equal((await handler(upgradeRequest())).status, 403);
    const origin = await handler(upgradeRequest({ "x-token": "1", origin: "https://evil.example" }));
    assert.equal(origin.status, 403);
    assert.match(await origin.text(), /origin https:\/\/evil\.example is not allowed/);
  });

  test("an accepted upgrade needs workerd's WebSocketPair: a TypeError that says so", async () => {
    const handler = cloudflareServe({ websocket: {} });
    await assert.rejects(
      handler(upgradeRequest()),
      (error: Error) => error instanceof TypeError && /WebSocketPair is missing/.test(error.message),
    );
  });
});
