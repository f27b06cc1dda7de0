/**
 * Topics with real peers as subscribers: our server (`serve()`, and `listenDeno()` on Deno) with one topic
 * that `ws` clients (3 offering permessage-deflate, 2 not) and, where Chromium is installed, 2 Chromium
 * pages (the browser's own WebSocket, which always offers permessage-deflate) are all subscribed to. The
 * server publishes 200 messages in a row (`server.publish`), then one of the `ws` clients sends 100 that
 * the server publishes from its socket (`ws.publish`: to everyone but itself), then the server publishes an
 * end marker. Text and binary of 0 B, 100 B, 2 KiB, 16 KiB (JSON) and 256 KiB.
 *
 * Every subscriber must receive exactly every message, in order (SHA-256, type and length of each), the
 * publisher none of its own; the wire (every subscriber goes through the tapping proxy of tests/_interop.ts)
 * must show compression exactly where it was negotiated; and `server.pubsub.stats.deflates` must be the
 * number of shared compressions: one per compressible publish for the broadcast profile with one server
 * window in use, two with two windows, none with context takeover (each connection compresses on its own)
 * or with compression off.
 *
 * The publish queue's bound is raised (64 MiB, policy "close"): these tests are about what arrives, and a
 * burst of 256 KiB messages to a browser may outrun the 1 MiB default (tests/pubsub_paths_test.ts covers
 * the slow-consumer policies). No message may be dropped all the same.
 *
 * Rows go to `.test-results/interop-<runtime>.jsonl` (peer "ws" for the `ws`-only runs, "Chromium" for the
 * runs with the pages and the `ws` clients together), with the server path in the compression column.
 */

import { after, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import WsWebSocket from "ws";
import type { ServerSocket } from "../lib/adapters/_socket_handler.ts";
import { listenDeno } from "../lib/adapters/deno_listen.ts";
import { listenBun } from "../lib/adapters/bun_listen.ts";
import { serve, type WebSocketServer } from "../lib/adapters/serve.ts";
import type { CloseResult } from "../lib/connection.ts";
import type { ServerDeflateOptions } from "../lib/handshake/server_handshake.ts";
import {
  type Availability,
  binaryMessage,
  canonicalExtensions,
  CHROMIUM_PATH,
  chromiumAvailability,
  interopTest,
  type MessageDigest,
  OUR_SERVER,
  startTapProxy,
  type TapProxy,
  type TapSession,
  withTimeout,
} from "./_interop.ts";

const TOPIC = "room";
const END = "__end__";
/** Messages the server publishes, then messages the publishing `ws` client sends. */
const SERVER_PUBLISHES = 200, CLIENT_PUBLISHES = 100;
/** The publish queue's bound in these tests (see the module's documentation). */
const QUEUE_LIMIT = 64 * 1024 * 1024;
/** Our server's default permessage-deflate threshold: shorter messages are never compressed. */
const THRESHOLD = 32;
/** Compressing subscribers must get every message of at least this many bytes with RSV1. */
const MUST_COMPRESS_FROM = 1000;
const STEP_MS = 20_000;
const TEST_MS = 60_000;
const PAGES = 2;
const onDeno = "Deno" in globalThis;

// ---------------------------------------------------------------------------------------------------------
// The messages

const encoder = new TextEncoder();
const byteLength = (message: string | Uint8Array) => typeof message === "string" ? encoder.encode(message).length : message.length;

/** Valid JSON of exactly `size` UTF-8 bytes (from 12 on; 0 gives ""), with 2- and 3-byte characters. */
function jsonMessage(size: number, seed: number): string {
  if (size === 0) return "";
  const rows: string[] = [];
  let bytes = 2; // [ ]
  for (let i = 0;; i++) {
    const row = JSON.stringify({ id: seed * 10_000 + i, user: `usér${(seed + i) % 37}`, text: `message ✓ ${i} — жук`, ok: i % 2 === 0 });
    const rowBytes = encoder.encode(row).length + (rows.length > 0 ? 1 : 0);
    if (bytes + rowBytes + 11 > size) break; // room for the padding object and its comma
    rows.push(row);
    bytes += rowBytes;
  }
  const pad = size - bytes - (rows.length > 0 ? 1 : 0) - 10; // {"pad":""} is 10 bytes
  rows.push(`{"pad":"${"x".repeat(pad)}"}`);
  return `[${rows.join(",")}]`;
}

const SIZES = [0, 100, 2048, 16 * 1024];
const BIG = 256 * 1024;

/** Message `i`: text (JSON) when even, binary when odd; two of every 40 are 256 KiB. */
function message(i: number): string | Uint8Array {
  const size = i % 40 >= 38 ? BIG : SIZES[Math.floor(i / 2) % SIZES.length];
  return i % 2 === 0 ? jsonMessage(size, i) : binaryMessage(size, i);
}

const serverMessages = Array.from({ length: SERVER_PUBLISHES }, (_, i) => message(i));
const clientMessages = Array.from({ length: CLIENT_PUBLISHES }, (_, i) => message(SERVER_PUBLISHES + i));
for (const m of [...serverMessages, ...clientMessages]) {
  const size = byteLength(m);
  if (![...SIZES, BIG].includes(size)) throw new Error(`a message of ${size} bytes`);
}

function digest(message: string | Uint8Array): MessageDigest {
  const bytes = typeof message === "string" ? encoder.encode(message) : message;
  return {
    type: typeof message === "string" ? "text" : "binary",
    length: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/** Asserts two lists of digests are equal, naming the first difference rather than printing both lists. */
function assertSameMessages(who: string, got: readonly MessageDigest[], expected: readonly MessageDigest[]): void {
  const first = got.findIndex((d, i) =>
    i >= expected.length || d.type !== expected[i].type || d.length !== expected[i].length || d.sha256 !== expected[i].sha256
  );
  if (first !== -1) {
    assert.fail(`${who}: message ${first} is ${JSON.stringify(got[first])}, expected ${JSON.stringify(expected[first] ?? "none")}`);
  }
  assert.equal(got.length, expected.length, `${who}: messages received`);
}

// ---------------------------------------------------------------------------------------------------------
// The configurations

interface Config {
  /** The matrix's compression column, before the server path. */
  compression: string;
  /** Our server's permessage-deflate. */
  deflate: false | ServerDeflateOptions;
  /** The `perMessageDeflate` of each of the 3 `ws` clients that offer it (the first one publishes). */
  wsOffers: (true | Record<string, unknown>)[];
  /** Our server's answer to each of them. */
  wsAnswers: (string | null)[];
  /** Our server's answer to Chromium (`permessage-deflate; client_max_window_bits`). */
  chromiumAnswer: string | null;
  /** Shared compressions per published message of at least {@linkcode THRESHOLD} bytes. */
  deflatesPerPublish: number;
  /** Subscribers with the same answer get byte-identical frames: compare their compressed sizes. */
  sharedFrames: boolean;
}

const BROADCAST_ANSWER = "permessage-deflate; server_no_context_takeover";

const CONFIGS: Config[] = [
  {
    compression: "on (broadcast: server_no_context_takeover, one shared deflate per publish",
    deflate: { broadcast: true },
    wsOffers: [true, true, true],
    wsAnswers: [BROADCAST_ANSWER, BROADCAST_ANSWER, BROADCAST_ANSWER],
    chromiumAnswer: BROADCAST_ANSWER,
    deflatesPerPublish: 1,
    sharedFrames: true,
  },
  {
    compression: "on (broadcast, server windows 15 and 10: two shared deflates per publish",
    deflate: { broadcast: true },
    wsOffers: [true, true, { serverMaxWindowBits: 10 }],
    wsAnswers: [BROADCAST_ANSWER, BROADCAST_ANSWER, `${BROADCAST_ANSWER}; server_max_window_bits=10`],
    chromiumAnswer: BROADCAST_ANSWER,
    deflatesPerPublish: 2,
    sharedFrames: true,
  },
  {
    compression: "on (context takeover: each connection compresses",
    deflate: {},
    wsOffers: [true, true, true],
    wsAnswers: ["permessage-deflate", "permessage-deflate", "permessage-deflate"],
    chromiumAnswer: "permessage-deflate",
    deflatesPerPublish: 0,
    sharedFrames: false,
  },
  {
    compression: "off (deflate: false",
    deflate: false,
    wsOffers: [true, true, true],
    wsAnswers: [null, null, null],
    chromiumAnswer: null,
    deflatesPerPublish: 0,
    sharedFrames: false,
  },
];

type ServerPath = "serve()" | "listenDeno" | "listenBun";

function startServer(path: ServerPath, config: Config, handler: Parameters<typeof serve>[0]["websocket"]): Promise<WebSocketServer> {
  const options = { port: 0, deflate: config.deflate, publishQueue: { limit: QUEUE_LIMIT }, websocket: handler };
  return path === "serve()" ? serve(options) : path === "listenDeno" ? listenDeno(options) : listenBun(options);
}

// ---------------------------------------------------------------------------------------------------------
// Subscribers

/** A subscriber as the test sees it, whatever the peer. */
interface Subscriber {
  id: string;
  /** The server's answer it must see. */
  answer: string | null;
  /** The server's answer as the peer reports it. */
  negotiated(): Promise<string>;
  /** Resolves with what it received before the end marker. */
  received(): Promise<MessageDigest[]>;
  /** Closes with 1000 and resolves with what the peer saw of the close. */
  close(): Promise<{ code: number; wasClean?: boolean }>;
  /** Ends it at once (cleanup). */
  destroy(): void;
}

interface WsSubscriber extends Subscriber {
  send(message: string | Uint8Array): void;
}

/** The parts of `ws`'s client used here (the package ships no types). */
interface WsClient {
  send(data: string | Uint8Array): void;
  close(code: number, reason: string): void;
  terminate(): void;
  on(event: "upgrade", listener: (response: { headers: Record<string, string | undefined> }) => void): void;
  on(event: "message", listener: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
  once(event: "open", listener: () => void): void;
}

async function connectWs(
  url: string,
  id: string,
  perMessageDeflate: false | true | Record<string, unknown>,
  answer: string | null,
): Promise<WsSubscriber> {
  const socket = new WsWebSocket(`${url}?id=${id}`, { perMessageDeflate, maxPayload: 16 * 1024 * 1024 }) as unknown as WsClient;
  let negotiated = "";
  const digests: MessageDigest[] = [];
  let ended: (() => void) | undefined;
  let error: Error | undefined;
  const closed = new Promise<{ code: number }>((resolve) => socket.on("close", (code) => resolve({ code })));
  // Resolves with `undefined` at the end marker, or with what went wrong if the socket closed first.
  const outcome = new Promise<string | undefined>((resolve) => {
    ended = () => resolve(undefined);
    closed.then(({ code }) => resolve(`${id} closed with ${code} before the end marker, after ${digests.length} messages`));
  });
  socket.on("error", (e) => error = e);
  socket.on("upgrade", (response) => negotiated = response.headers["sec-websocket-extensions"] ?? "");
  socket.on("message", (data, isBinary) => {
    if (!isBinary && data.length === END.length && new TextDecoder().decode(data) === END) ended!();
    else digests.push({ type: isBinary ? "binary" : "text", length: data.length, sha256: createHash("sha256").update(data).digest("hex") });
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      void closed.then(() => reject(new Error(`${id} closed before it opened: ${error?.message}`)));
    }),
    STEP_MS,
    `${id} to open`,
  );
  return {
    id,
    answer,
    negotiated: () => Promise.resolve(negotiated),
    received: async () => {
      const failure = await withTimeout(outcome, STEP_MS, `${id} to receive the end marker (it has ${digests.length} messages)`);
      if (failure !== undefined) throw new Error(failure);
      return digests;
    },
    close: () => {
      socket.close(1000, "subscriber done");
      return withTimeout(closed, STEP_MS, `${id} to close`);
    },
    destroy: () => socket.terminate(),
    send: (message) => socket.send(message),
  };
}

/** The page: one WebSocket to `?ws=`, a digest of every message until the end marker. */
const PAGE = `<!doctype html>
<meta charset="utf-8"><title>wsengine topics</title>
<script>
const END = ${JSON.stringify(END)};
const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
const socket = new WebSocket(new URLSearchParams(location.search).get("ws"));
socket.binaryType = "arraybuffer";
const digests = [];
let extensions = "";
let closed;
let endSeen;
window.opened = new Promise((resolve, reject) => {
  socket.onopen = () => { extensions = socket.extensions; resolve(extensions); };
  socket.onerror = () => reject(new Error("the WebSocket failed to open"));
});
window.ended = new Promise((resolve) => endSeen = resolve);
socket.onmessage = (event) => {
  if (event.data === END) return endSeen();
  const text = typeof event.data === "string";
  const bytes = text ? new TextEncoder().encode(event.data) : new Uint8Array(event.data);
  digests.push(crypto.subtle.digest("SHA-256", bytes).then((d) => ({ type: text ? "text" : "binary", length: bytes.length, sha256: hex(d) })));
};
window.socketClosed = new Promise((resolve) => socket.onclose = (event) => {
  closed = { code: event.code, reason: event.reason, wasClean: event.wasClean };
  endSeen();
  resolve(closed);
});
window.received = async () => {
  await window.ended;
  if (closed) throw new Error("closed with " + closed.code + " before the end marker, after " + digests.length + " messages");
  return Promise.all(digests);
};
window.closeSocket = () => (socket.close(1000, "subscriber done"), window.socketClosed);
</script>
`;

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** One Chromium with a fresh profile for the whole file (launched on first use, closed by `after`). */
interface Browser {
  context: BrowserContext;
  stop(): Promise<void>;
}

async function startChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "wsengine-chromium-"));
  let context: BrowserContext | undefined;
  const stop = async () => {
    try {
      if (context !== undefined) await withTimeout(context.close(), 10_000, "Chromium to close");
    } catch {
      killByProfile(profile);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  };
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      timeout: STEP_MS,
    });
    return { context, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

let browser: Promise<Browser> | undefined;

after(async () => {
  await (await browser?.catch(() => undefined))?.stop();
});

/** When Chromium does not close: kills, by process id, the processes started with our user-data-dir. */
function killByProfile(profile: string): void {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(`--user-data-dir=${profile}`)) {
        process.kill(Number(pid), "SIGKILL");
      }
    } catch {
      // Gone already, or not ours to read.
    }
  }
}

type PageGlobals = {
  opened: Promise<string>;
  received(): Promise<MessageDigest[]>;
  closeSocket(): Promise<{ code: number; reason: string; wasClean: boolean }>;
};

async function openPage(page: Page, pageUrl: string, wsUrl: string, id: string, answer: string | null): Promise<Subscriber> {
  await page.goto(`${pageUrl}?ws=${encodeURIComponent(`${wsUrl}?id=${id}`)}`, { timeout: STEP_MS });
  const extensions = await withTimeout(
    page.evaluate(() => (globalThis as unknown as PageGlobals).opened),
    STEP_MS,
    `${id} to open`,
  );
  return {
    id,
    answer,
    negotiated: () => Promise.resolve(extensions),
    received: () =>
      withTimeout(page.evaluate(() => (globalThis as unknown as PageGlobals).received()), STEP_MS, `${id} to receive the end marker`),
    close: () => withTimeout(page.evaluate(() => (globalThis as unknown as PageGlobals).closeSocket()), STEP_MS, `${id} to close`),
    destroy: () => {},
  };
}

async function startPageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: HttpServer = createHttpServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// One run

async function until(what: string, condition: () => boolean, ms = STEP_MS): Promise<void> {
  for (const start = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 5))) {
    if (Date.now() - start > ms) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
  }
}

/** The proxy's session of a subscriber, by the `id` in its request line. */
function sessionOf(proxy: TapProxy, id: string): TapSession {
  const sessions = proxy.sessions.filter((s) => new RegExp(`^GET /\\?id=${id} `).test(s.up.head ?? ""));
  assert.equal(sessions.length, 1, `the proxy's sessions of ${id}`);
  return sessions[0];
}

async function topicsCase(path: ServerPath, config: Config, pageCount: number): Promise<void> {
  const serverCloses: CloseResult[] = [];
  const published: number[] = [];
  let fromClient = 0;
  let drops = 0;
  const server = await startServer(path, config, {
    open: (ws) => void ws.subscribe(TOPIC),
    message: (ws, data) => {
      fromClient++;
      published.push(ws.publish(TOPIC, data));
    },
    drop: (_ws, _topic, count) => drops += count,
    close: (_ws, code, reason, wasClean) => serverCloses.push({ code, reason, wasClean }),
  });
  const subscribers: Subscriber[] = [];
  let proxy: TapProxy | undefined;
  let pageServer: Awaited<ReturnType<typeof startPageServer>> | undefined;
  const pages: Page[] = [];
  try {
    proxy = await startTapProxy(Number(new URL(server.url).port));
    const url = `ws://127.0.0.1:${proxy.port}/`;
    const deflating: WsSubscriber[] = [];
    for (const [i, offer] of config.wsOffers.entries()) {
      deflating.push(await connectWs(url, `ws-deflate-${i + 1}`, offer, config.wsAnswers[i]));
    }
    subscribers.push(...deflating);
    for (let i = 1; i <= 2; i++) subscribers.push(await connectWs(url, `ws-plain-${i}`, false, null));
    if (pageCount > 0) {
      pageServer = await startPageServer();
      const { context } = await (browser ??= startChromium());
      for (let i = 1; i <= pageCount; i++) {
        const page = await context.newPage();
        pages.push(page);
        subscribers.push(await openPage(page, pageServer.url, url, `chromium-${i}`, config.chromiumAnswer));
      }
    }
    const publisher = deflating[0];
    const total = subscribers.length;
    await until(`${total} subscribers`, () => server.subscriberCount(TOPIC) === total);
    for (const subscriber of subscribers) {
      assert.equal(
        canonicalExtensions((await subscriber.negotiated()) || null),
        canonicalExtensions(subscriber.answer),
        `the answer, as ${subscriber.id} reports it`,
      );
    }
    assert.deepEqual(
      [...server.sockets].map((ws) => canonicalExtensions(ws.extensions || null)).sort(),
      subscribers.map((s) => canonicalExtensions(s.answer)).sort(),
      "the answers, as our server reports them",
    );

    // The server publishes, then the publisher's messages are published from its socket, then the end.
    for (const m of serverMessages) assert.equal(server.publish(TOPIC, m), total, "server.publish reaches every subscriber");
    for (const m of clientMessages) publisher.send(m);
    await until(`the server to receive the publisher's ${CLIENT_PUBLISHES} messages`, () => fromClient === CLIENT_PUBLISHES);
    assert.deepEqual(published, clientMessages.map(() => total - 1), "ws.publish reaches every subscriber but the publisher");
    assert.equal(server.publish(TOPIC, END), total);

    const everything = [...serverMessages, ...clientMessages].map(digest);
    const ownExcluded = serverMessages.map(digest);
    const receipts = await Promise.all(subscribers.map((s) => s.received()));
    subscribers.forEach((s, i) => assertSameMessages(s.id, receipts[i], s === publisher ? ownExcluded : everything));

    const compressible = [...serverMessages, ...clientMessages, END].filter((m) => byteLength(m) >= THRESHOLD).length;
    // The four counters of a local registry (others, like a backplane's, may join them).
    const { publishes, deliveries, deflates, refused } = server.pubsub.stats;
    assert.deepEqual({ publishes, deliveries, deflates, refused }, {
      publishes: SERVER_PUBLISHES + CLIENT_PUBLISHES + 1,
      deliveries: (SERVER_PUBLISHES + 1) * total + CLIENT_PUBLISHES * (total - 1),
      deflates: config.deflatesPerPublish * compressible,
      refused: 0,
    }, `the registry's counters (${compressible} publishes of at least ${THRESHOLD} bytes)`);
    assert.equal(drops, 0, "published messages dropped");
    for (const ws of server.sockets) assert.equal(ws.dropped, 0, "published messages dropped for a socket");

    // Every subscriber closes; our server answers each with 1000.
    const peerCloses = await Promise.all(subscribers.map((s) => s.close()));
    peerCloses.forEach((c, i) => {
      assert.equal(c.code, 1000, `the close code ${subscribers[i].id} received`);
      if (c.wasClean !== undefined) assert.equal(c.wasClean, true, `${subscribers[i].id} saw a clean close`);
    });
    await until("our server to see every close", () => serverCloses.length === total && server.sockets.size === 0);
    for (const c of serverCloses) assert.deepEqual({ code: c.code, wasClean: c.wasClean }, { code: 1000, wasClean: true });
    assert.equal(server.subscriberCount(TOPIC), 0, "closed sockets left the topic");

    // The wire: every message with its type, compressed exactly where negotiated, the shared frames.
    const wireSizes = new Map<string, number[]>();
    for (const [i, s] of subscribers.entries()) {
      const session = sessionOf(proxy, s.id);
      await withTimeout(session.ended, STEP_MS, `${s.id}'s TCP connection to close`);
      const down = session.down;
      assert.equal(down.error, undefined, `our server's bytes to ${s.id} parse as frames`);
      assert.deepEqual(down.violations, [], `our server's frames to ${s.id}`);
      const sent = s === publisher ? serverMessages : [...serverMessages, ...clientMessages];
      assert.equal(down.messages.length, sent.length + 1, `data messages to ${s.id}`);
      assert.equal(receipts[i].length, sent.length);
      const compresses = s.answer !== null;
      sent.forEach((m, j) => {
        const wire = down.messages[j];
        const what = `message ${j} to ${s.id} (${typeof m === "string" ? "text" : "binary"}, ${byteLength(m)} bytes)`;
        assert.equal(wire.opcode, typeof m === "string" ? 1 : 2, `${what}: opcode`);
        assert.equal(wire.frames, 1, `${what}: one frame`);
        if (compresses && byteLength(m) >= MUST_COMPRESS_FROM) assert.ok(wire.rsv1, `${what}: RSV1 set`);
        if (byteLength(m) < THRESHOLD) assert.ok(!wire.rsv1, `${what}: under the threshold, sent as it is`);
      });
      if (compresses) {
        const payload = sent.reduce((n, m) => n + byteLength(m), 0);
        const onWire = down.messages.slice(0, sent.length).reduce((n, m) => n + m.wireBytes, 0);
        assert.ok(onWire < payload / 2, `${s.id} got ${onWire} payload bytes on the wire for ${payload}`);
      } else {
        assert.equal(down.stats.rsv1Frames, 0, `${s.id} got no compressed frame`);
      }
      assert.deepEqual(session.up.closes, [{ code: 1000, reason: "subscriber done" }], `${s.id}'s close frame`);
      assert.equal(down.closes.length, 1, `our server's close frames to ${s.id}`);
      assert.equal(down.closes[0].code, 1000, `our server's close code to ${s.id}`);
      if (config.sharedFrames && compresses && s !== publisher) {
        const sizes = down.messages.slice(0, sent.length).map((m) => m.wireBytes);
        const same = wireSizes.get(s.answer!);
        if (same === undefined) wireSizes.set(s.answer!, sizes);
        else assert.deepEqual(sizes, same, `${s.id} got the same compressed frames as the others with "${s.answer}"`);
      }
    }
  } finally {
    for (const subscriber of subscribers) subscriber.destroy();
    for (const page of pages) await withTimeout(page.close(), STEP_MS, "a page to close").catch(() => {});
    await pageServer?.close();
    for (const ws of server.sockets as ReadonlySet<ServerSocket>) ws.connection?.fail(1001);
    await server.close();
    await proxy?.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The tests

const chromiumHere = chromiumAvailability();
const NOT_DENO: Availability = { available: false, reason: "Deno.listen exists only on Deno", required: false };
const NOT_BUN: Availability = { available: false, reason: "Bun.listen exists only on Bun", required: false };

describe("interop: topics with ws and Chromium subscribers", () => {
  for (const path of ["serve()", "listenDeno", "listenBun"] as const) {
    const pathHere: Availability = path === "listenDeno" && !onDeno
      ? NOT_DENO
      : path === "listenBun" && !("Bun" in globalThis)
      ? NOT_BUN
      : { available: true };
    for (const config of CONFIGS) {
      const compression = `${config.compression}; topics via ${path})`;
      interopTest({
        peer: "ws",
        direction: OUR_SERVER,
        compression,
        proves:
          `3 ws (deflate) + 2 ws (no deflate) subscribers get all ${SERVER_PUBLISHES} server.publish and ${CLIENT_PUBLISHES} ws.publish messages (0 B..256 KiB) in order, the publisher none of its own; compressed as negotiated; pubsub.stats.deflates = ${config.deflatesPerPublish} per publish`,
        availability: pathHere,
        timeout: TEST_MS,
      }, () => topicsCase(path, config, 0));
      interopTest({
        peer: "Chromium",
        direction: OUR_SERVER,
        compression,
        proves:
          `${PAGES} Chromium pages + 3 ws (deflate) + 2 ws (no deflate) subscribers get all ${SERVER_PUBLISHES} server.publish and ${CLIENT_PUBLISHES} ws.publish messages (0 B..256 KiB) in order, the publisher none of its own; compressed as negotiated; pubsub.stats.deflates = ${config.deflatesPerPublish} per publish`,
        availability: pathHere.available ? chromiumHere : pathHere,
        timeout: TEST_MS,
      }, () => topicsCase(path, config, PAGES));
    }
  }
});
