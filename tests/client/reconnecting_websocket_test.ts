/**
 * ReconnectingWebSocket against real servers on 127.0.0.1 that die and come back (ours and `ws`), through
 * a TCP proxy that black-holes or resets, with the backoff computed by the functions the class uses, the
 * offline queue under both policies, the terminal cases, and the states and event fields. Every wait is
 * bounded and every server and proxy is stopped in a `finally`.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import process from "node:process";
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { chromium } from "playwright-core";
import {
  handleNodeUpgrade,
  type NodeUpgrade,
  type NodeUpgradeOptions,
} from "../../lib/adapters/node_http.ts";
import { socketToTransport } from "../../lib/adapters/node_socket.ts";
import { serve } from "../../lib/adapters/serve.ts";
import { backoffCap, backoffDelay, firstRetryDelay, resolveBackoff } from "../../lib/client/backoff.ts";
import {
  DEFAULT_TERMINAL_CODES,
  type NetworkStatus,
  ReconnectingCloseEvent,
  ReconnectingDropEvent,
  type ReconnectingErrorEvent,
  ReconnectingOpenEvent,
  ReconnectingWebSocket,
  type ReconnectingWebSocketOptions,
  type WebSocketClass,
} from "../../lib/client/reconnecting_websocket.ts";
import type { Connection } from "../../lib/connection.ts";
import { ReadyState } from "../../lib/core/ready_state.ts";
import { repoPath } from "../_files.ts";

/** The bound of any single wait. */
const WAIT_MS = 5000;
/** Short delays, so that a test reconnects in tens of milliseconds. */
const FAST: ReconnectingWebSocketOptions = { minDelay: 10, maxDelay: 50, firstDelay: 20, network: null };

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `condition` holds (every 5 ms), or fails after `ms`. */
async function until(condition: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms: ${what}`);
    await pause(5);
  }
}

/** The next event of `type` (that passes `accept`). */
function next<T extends Event>(
  socket: EventTarget,
  type: string,
  accept: (event: T) => boolean = () => true,
): Promise<T> {
  let listener!: (event: Event) => void;
  const promise = new Promise<T>((resolve) => {
    listener = (event) => {
      if (accept(event as T)) resolve(event as T);
    };
    socket.addEventListener(type, listener);
  });
  return withTimeout(promise, WAIT_MS, `a ${type} event`).finally(() =>
    socket.removeEventListener(type, listener)
  );
}

const nextOpen = (socket: EventTarget) => next<ReconnectingOpenEvent>(socket, "open");
const nextClose = (socket: EventTarget) => next<ReconnectingCloseEvent>(socket, "close");
const nextMessage = (socket: EventTarget, data: string) =>
  next<MessageEvent>(socket, "message", (event) => event.data === data);

/** Every event as a line: "open 1", "close 1006 true", "error", "message x". */
function record(socket: EventTarget): string[] {
  const seen: string[] = [];
  socket.addEventListener("open", (event) => seen.push(`open ${(event as ReconnectingOpenEvent).attempt}`));
  socket.addEventListener("error", () => seen.push("error"));
  socket.addEventListener("close", (event) => {
    const close = event as ReconnectingCloseEvent;
    seen.push(`close ${close.code} ${close.willReconnect}`);
  });
  return seen;
}

/** A port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createTcpServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function listen(server: Server | ReturnType<typeof createServer>, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** A server that can be killed (every socket destroyed: no close frame, no closing handshake). */
interface KillableServer {
  readonly port: number;
  /** The request URLs (path and query) of the upgrades, in order. */
  readonly urls: string[];
  /** The messages received, as text. */
  readonly received: string[];
  /** "code reason" of each connection's close, as the server saw it. */
  readonly closes: string[];
  kill(): Promise<void>;
}

/** This library's server (`handleNodeUpgrade` on `node:http`) on a given port: echoes text. */
async function startOurs(
  port: number,
  options: { upgrade?: NodeUpgradeOptions; onUpgrade?: (upgrade: NodeUpgrade) => void } = {},
): Promise<KillableServer> {
  const sockets = new Set<Duplex>();
  const connections: Connection[] = [];
  const urls: string[] = [];
  const received: string[] = [];
  const closes: string[] = [];
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("upgrade", async (req: IncomingMessage, socket: Duplex, head: Uint8Array) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    urls.push(req.url ?? "");
    const upgrade = await handleNodeUpgrade(req, socket, head, options.upgrade);
    if (upgrade === undefined) return;
    const { connection } = upgrade;
    connections.push(connection);
    connection.closed.then(({ code, reason }) => closes.push(`${code} ${reason}`));
    connection.onmessage = (data) => {
      const text = typeof data === "string" ? data : new TextDecoder().decode(data);
      received.push(text);
      if (connection.readyState === ReadyState.Open) connection.send(data).catch(() => {});
    };
    options.onUpgrade?.(upgrade);
  });
  await listen(server, port);
  return {
    port,
    urls,
    received,
    closes,
    async kill() {
      // Stop listening first: a client retrying within the kill would otherwise be accepted by the dying
      // server and stay connected to it (seen in Chromium: "reopened while offline").
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await withTimeout(Promise.all(connections.map((c) => c.closed)), WAIT_MS, "connections to close").catch(
        () => {},
      );
      server.closeAllConnections();
      await withTimeout(closed, WAIT_MS, "the server to close").catch(() => {});
    },
  };
}

/** The parts of `ws`'s server-side socket used here. */
interface WsSocket {
  send(data: string): void;
  terminate(): void;
  on(event: "message", listener: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
}

/** `ws`'s server on a given port: echoes text. */
async function startWs(port: number): Promise<KillableServer> {
  const urls: string[] = [];
  const received: string[] = [];
  const server = new WebSocketServer({ host: "127.0.0.1", port });
  await withTimeout(
    new Promise<void>((resolve) => server.once("listening", () => resolve())),
    WAIT_MS,
    "ws to listen",
  );
  server.on("connection", (socket: WsSocket, req: IncomingMessage) => {
    urls.push(req.url ?? "");
    socket.on("error", () => {});
    socket.on("message", (data) => {
      const text = new TextDecoder().decode(data);
      received.push(text);
      socket.send(text);
    });
  });
  return {
    port,
    urls,
    received,
    closes: [],
    async kill() {
      for (const client of server.clients) (client as unknown as WsSocket).terminate();
      await withTimeout(
        new Promise<void>((resolve) => server.close(() => resolve())),
        WAIT_MS,
        "ws to close",
      );
    },
  };
}

/** A TCP proxy in front of a port, which can stop forwarding (no FIN, no RST) or reset its connections. */
interface Proxy {
  readonly port: number;
  /** The open connections stop forwarding both ways and never close: a dead link. New ones forward. */
  blackhole(): void;
  /** The open connections are reset (RST) on both sides. */
  reset(): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number): Promise<Proxy> {
  interface Pair {
    client: Socket;
    upstream: Socket;
    dead: boolean;
  }
  const pairs = new Set<Pair>();
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    const pair: Pair = { client, upstream, dead: false };
    pairs.add(pair);
    client.on("data", (data) => {
      if (!pair.dead) upstream.write(data);
    });
    upstream.on("data", (data) => {
      if (!pair.dead) client.write(data);
    });
    const end = () => {
      if (pair.dead) return; // a black hole passes nothing on, not even a close
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("error", () => {});
      socket.on("close", end);
    }
  });
  await listen(server, 0);
  return {
    port: (server.address() as AddressInfo).port,
    blackhole() {
      for (const pair of pairs) pair.dead = true;
    },
    reset() {
      for (const pair of pairs) {
        pairs.delete(pair);
        pair.client.resetAndDestroy();
        pair.upstream.resetAndDestroy();
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await withTimeout(
        new Promise<void>((resolve) => server.close(() => resolve())),
        WAIT_MS,
        "the proxy to close",
      );
    },
  };
}

/** Closes a ReconnectingWebSocket and waits for its last close event. */
async function shut(socket: ReconnectingWebSocket): Promise<void> {
  if (socket.readyState === ReconnectingWebSocket.CLOSED) return;
  const closed = next<ReconnectingCloseEvent>(socket, "close", (event) => !event.willReconnect);
  socket.close();
  await closed;
}

/** A deterministic source of numbers in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The largest number of sorted values in any window [v, v + width). */
function busiestWindow(sorted: number[], width: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j] < sorted[i] + width) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

const RUNTIME = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const RuntimeWebSocket = (globalThis as { WebSocket?: WebSocketClass }).WebSocket;

describe("a server killed and restarted on the same port", () => {
  for (const [name, start] of [["ours", startOurs], ["ws", startWs]] as const) {
    test(`${name}: messages before and after, the queue in between, the url function called on every attempt`, async () => {
      const port = await freePort();
      let server = await start(port);
      let calls = 0;
      const socket = new ReconnectingWebSocket(() => `ws://127.0.0.1:${port}/?n=${++calls}`, undefined, FAST);
      try {
        const first = await nextOpen(socket);
        assert.equal(first.attempt, 1);
        assert.equal(first.reconnected, false);
        assert.equal(socket.url, `ws://127.0.0.1:${port}/?n=1`);
        socket.send("before");
        await nextMessage(socket, "before");

        const dropped = nextClose(socket);
        await server.kill();
        const close = await dropped;
        assert.equal(close.code, 1006);
        assert.equal(close.wasClean, false);
        assert.equal(close.willReconnect, true);
        assert.equal(socket.state, "reconnecting");
        assert.equal(socket.readyState, ReconnectingWebSocket.CONNECTING);
        socket.send("queued 1");
        socket.send("queued 2");
        await until(() => calls >= 4, "attempts while the server is down"); // they fail: nothing listens

        const reopened = nextOpen(socket);
        server = await start(port);
        const open = await reopened;
        assert.equal(open.reconnected, true);
        assert.equal(open.attempt, calls - 1, "one url call per attempt");
        assert.deepEqual(server.urls, [`/?n=${calls}`]);
        socket.send("after");
        await nextMessage(socket, "after");
        assert.deepEqual(server.received, ["queued 1", "queued 2", "after"]);
      } finally {
        await shut(socket);
        await server.kill();
      }
    });
  }
});

describe("dead links", () => {
  async function setup(onUpgrade?: (upgrade: NodeUpgrade) => void) {
    const port = await freePort();
    const server = await startOurs(port, { onUpgrade });
    const proxy = await startProxy(port);
    return { server, proxy, url: `ws://127.0.0.1:${proxy.port}/` };
  }

  const ticking = ({ connection }: NodeUpgrade) => {
    const timer = setInterval(() => {
      if (connection.readyState === ReadyState.Open) connection.send("tick").catch(() => {});
    }, 50);
    connection.closed.finally(() => clearInterval(timer));
  };

  const classes: [string, WebSocketClass | undefined][] = [["our WebSocket", undefined]];
  if (RuntimeWebSocket !== undefined) classes.push([`${RUNTIME}'s WebSocket`, RuntimeWebSocket]);
  for (const [name, WebSocketClass] of classes) {
    test(`idleTimeout notices a black-holed link and reconnects (${name})`, async () => {
      const { server, proxy, url } = await setup(ticking);
      const socket = new ReconnectingWebSocket(url, undefined, {
        ...FAST,
        WebSocket: WebSocketClass,
        idleTimeout: 500,
      });
      let lastMessage = 0;
      socket.addEventListener("message", () => lastMessage = Date.now());
      try {
        await nextOpen(socket);
        await nextMessage(socket, "tick");
        await pause(700); // ticks keep it alive past idleTimeout
        assert.equal(socket.state, "open");
        const closed = nextClose(socket);
        const cut = Date.now();
        proxy.blackhole();
        const close = await closed;
        const took = Date.now() - cut;
        const quiet = Date.now() - lastMessage;
        assert.equal(close.code, 1006);
        assert.equal(close.reason, "idle timeout");
        assert.equal(close.willReconnect, true);
        assert(quiet >= 490, `closed ${quiet} ms after the last message`);
        assert(took < 2500, `noticed ${took} ms after the cut`);
        const open = await nextOpen(socket);
        assert.equal(open.reconnected, true);
        socket.send("alive again");
        await nextMessage(socket, "alive again");
      } finally {
        await shut(socket);
        await proxy.close();
        await server.kill();
      }
    });
  }

  for (const [name, WebSocketClass] of classes) {
    test(`autoPing answered by serve()'s autoResponse measures latency, hides the pongs, and notices a black-holed link (${name})`, async () => {
      const handled: string[] = [];
      const server = await serve({
        port: 0,
        websocket: {
          autoResponse: { request: "ping?", response: "pong!" },
          message: (ws, data) => {
            handled.push(String(data));
            void ws.send(`echo ${data}`);
          },
        },
      });
      const proxy = await startProxy(Number(new URL(server.url).port));
      const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${proxy.port}/`, undefined, {
        ...FAST,
        WebSocket: WebSocketClass,
        autoPing: { request: "ping?", response: "pong!", interval: 100, timeout: 400 },
      });
      const seen: string[] = [];
      socket.addEventListener("message", (event) => seen.push(String((event as MessageEvent).data)));
      try {
        await nextOpen(socket);
        // A silent server: only the automatic answers arrive, and they keep the link open.
        const deadline = Date.now() + WAIT_MS;
        while (Number.isNaN(socket.latency) && Date.now() < deadline) await pause(20);
        assert(socket.latency >= 0, `latency ${socket.latency}`);
        await pause(600); // more than interval + timeout: answered pings keep it open
        assert.equal(socket.state, "open");
        socket.send("hello");
        await nextMessage(socket, "echo hello");
        assert.deepEqual(handled, ["hello"], "the handler never sees the pings");
        assert.deepEqual(seen, ["echo hello"], "the pongs are not dispatched");
        const closed = nextClose(socket);
        const cut = Date.now();
        proxy.blackhole();
        const close = await closed;
        assert.equal(close.code, 1006);
        assert.equal(close.reason, "ping timeout");
        assert.equal(close.willReconnect, true);
        assert(Date.now() - cut < 3000, `noticed ${Date.now() - cut} ms after the cut`);
        const open = await nextOpen(socket);
        assert.equal(open.reconnected, true);
      } finally {
        await shut(socket);
        await proxy.close();
        await server.close();
      }
    });
  }

  test("autoPing and autoResponse options are checked: TypeError or RangeError", async () => {
    const url = "ws://127.0.0.1:1/";
    const bad: [unknown, typeof TypeError | typeof RangeError][] = [
      [{ request: "a" }, TypeError],
      [{ request: "", response: "b" }, TypeError],
      [{ request: "a", response: "b", interval: -1 }, RangeError],
      [{ request: "a", response: "b", timeout: 0 }, RangeError],
      ["ping", TypeError],
    ];
    for (const [autoPing, kind] of bad) {
      assert.throws(
        () => new ReconnectingWebSocket(url, undefined, { ...FAST, autoPing: autoPing as never }),
        kind,
        JSON.stringify(autoPing),
      );
    }
    for (const autoResponse of [{ request: "a" }, { request: "", response: "b" }, { request: 1, response: "b" }]) {
      await assert.rejects(
        serve({ port: 0, websocket: { autoResponse: autoResponse as never } }),
        TypeError,
        JSON.stringify(autoResponse),
      );
    }
  });

  test("our WebSocket's heartbeat (webSocketOptions) notices a black-holed link and reconnects", async () => {
    const { server, proxy, url } = await setup(); // a silent server: only protocol pings can tell
    const socket = new ReconnectingWebSocket(url, undefined, {
      ...FAST,
      webSocketOptions: { heartbeat: { interval: 150, timeout: 300 } },
    });
    try {
      await nextOpen(socket);
      await pause(700); // pongs keep it alive
      assert.equal(socket.state, "open");
      const closed = nextClose(socket);
      const cut = Date.now();
      proxy.blackhole();
      const close = await closed;
      const took = Date.now() - cut;
      assert.equal(close.code, 1006);
      assert.equal(close.willReconnect, true);
      assert(took < 2500, `noticed after ${took} ms`);
      await nextOpen(socket);
      socket.send("alive again");
      await nextMessage(socket, "alive again");
    } finally {
      await shut(socket);
      await proxy.close();
      await server.kill();
    }
  });

  test("a proxy that resets the connection: 1006, then a new connection", async () => {
    const { server, proxy, url } = await setup();
    const socket = new ReconnectingWebSocket(url, undefined, FAST);
    try {
      await nextOpen(socket);
      const closed = nextClose(socket);
      proxy.reset();
      const close = await closed;
      assert.equal(close.code, 1006);
      assert.equal(close.wasClean, false);
      assert.equal(close.willReconnect, true);
      const open = await nextOpen(socket);
      assert.equal(open.reconnected, true);
      socket.send("after the reset");
      await nextMessage(socket, "after the reset");
    } finally {
      await shut(socket);
      await proxy.close();
      await server.kill();
    }
  });
});

describe("backoff", () => {
  test("1,000 clients dropped at once: no 100 ms window holds more than 5% of the first retries", () => {
    for (const [source, random] of [["seeded", seeded(6455)], ["Math.random", Math.random]] as const) {
      const delays = Array.from({ length: 1000 }, () => firstRetryDelay({}, random)).sort((a, b) => a - b);
      const busiest = busiestWindow(delays, 100);
      assert(busiest <= 50, `${source}: ${busiest} of 1,000 in one 100 ms window`);
      assert(delays[0] >= 0 && delays[999] < 5000, `${source}: within [0, 5000)`);
    }
    // A fixed delay puts them all in one window; the first-failure range alone (minDelay 500) a fifth.
    const fixedRange = Array.from({ length: 1000 }, () => backoffDelay(0, {}, seeded(1))).sort((a, b) =>
      a - b
    );
    assert(busiestWindow(fixedRange, 100) > 50);
  });

  test("the range grows by factor with each failure in a row and is capped at maxDelay", () => {
    assert.deepEqual(
      Array.from({ length: 8 }, (_, n) => backoffCap(n)),
      [500, 1000, 2000, 4000, 8000, 16_000, 20_000, 20_000],
    );
    assert.deepEqual(
      Array.from({ length: 5 }, (_, n) => backoffCap(n, { minDelay: 100, factor: 3, maxDelay: 2000 })),
      [100, 300, 900, 2000, 2000],
    );
    assert.equal(backoffCap(10_000), 20_000, "no overflow");
    assert.equal(backoffCap(10_000, { minDelay: 0 }), 0);
    const almostOne = () => 1 - Number.EPSILON;
    for (let n = 0; n < 10; n++) {
      assert.equal(backoffDelay(n, {}, () => 0), 0);
      assert.equal(backoffDelay(n, {}, almostOne), backoffCap(n) - 1);
    }
    // Full jitter: the mean of many draws is half the range.
    const random = seeded(7);
    const mean = (n: number) =>
      Array.from({ length: 2000 }, () => backoffDelay(n, {}, random)).reduce((a, b) => a + b) / 2000;
    const means = [0, 1, 2, 3, 4, 5, 6, 7].map(mean);
    for (let n = 0; n < means.length; n++) {
      assert(
        Math.abs(means[n] - backoffCap(n) / 2) < backoffCap(n) * 0.05,
        `mean ${means[n]} after ${n} failures`,
      );
    }
    assert.equal(
      firstRetryDelay({ firstDelay: 5000, maxDelay: 1000 }, almostOne),
      999,
      "maxDelay caps the first retry too",
    );
  });

  test("a bad schedule is refused with a RangeError", () => {
    assert.throws(() => resolveBackoff({ minDelay: -1 }), /Cannot use backoff: minDelay must be/);
    assert.throws(() => resolveBackoff({ maxDelay: Infinity }), RangeError);
    assert.throws(() => resolveBackoff({ factor: 0.9 }), RangeError);
    assert.throws(
      () => new ReconnectingWebSocket("ws://127.0.0.1:1/", undefined, { firstDelay: NaN }),
      RangeError,
    );
    assert.throws(
      () => new ReconnectingWebSocket("ws://127.0.0.1:1/", undefined, { maxRetries: -1 }),
      RangeError,
    );
    assert.throws(
      () =>
        new ReconnectingWebSocket("ws://127.0.0.1:1/", undefined, { queuePolicy: "drop-newest" as "reject" }),
      /unknown queuePolicy: drop-newest/,
    );
  });

  test("the class waits what those functions give: backoff after failures, firstDelay after a stable drop", async () => {
    const port = await freePort();
    const schedule = { minDelay: 40, maxDelay: 1000, factor: 2, firstDelay: 600 };
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...schedule,
      network: null,
      resetAfter: 0, // every open counts as stable
      random: () => 0.5,
    });
    let server: KillableServer | undefined;
    try {
      const delays: number[] = [];
      for (let i = 0; i < 3; i++) delays.push((await nextClose(socket)).delay as number);
      assert.deepEqual(delays, [0, 1, 2].map((n) => backoffDelay(n, schedule, () => 0.5)));
      assert.deepEqual(delays, [20, 40, 80]);
      server = await startOurs(port);
      await nextOpen(socket);
      const closed = nextClose(socket);
      await server.kill();
      assert.equal((await closed).delay, firstRetryDelay(schedule, () => 0.5));
      assert.equal((await nextClose(socket)).delay, 20, "then the backoff starts over");
    } finally {
      await shut(socket);
      await server?.kill();
    }
  });
});

describe("the offline queue", () => {
  /** A URL function held until `release()`: the socket stays connecting. */
  function gated(url: string) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    return { url: () => gate.then(() => url), release };
  }

  test("messages sent before open go first and in order; bufferedAmount counts their UTF-8 bytes", async () => {
    const port = await freePort();
    const server = await startOurs(port);
    const { url, release } = gated(`ws://127.0.0.1:${port}/`);
    const socket = new ReconnectingWebSocket(url, undefined, FAST);
    try {
      socket.send("a");
      socket.send("é"); // 2 bytes
      const bytes = new Uint8Array([104, 105]);
      socket.send(bytes);
      bytes[0] = 0; // the queue holds a copy
      socket.send(new Blob(["xyz"]));
      assert.equal(socket.bufferedAmount, 1 + 2 + 2 + 3);
      assert.equal(socket.queuedMessages, 4);
      socket.onopen = () => socket.send("from onopen");
      release();
      await nextOpen(socket);
      assert.equal(socket.queuedMessages, 0);
      await until(() => server.received.length === 5, "five messages");
      assert.deepEqual(server.received, ["a", "é", "hi", "xyz", "from onopen"]);
      await until(() => socket.bufferedAmount === 0, "bufferedAmount to drain");
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test('"reject": past maxQueuedMessages or maxQueuedBytes send() throws QuotaExceededError and queues nothing', async () => {
    const { url } = gated("ws://127.0.0.1:1/");
    const socket = new ReconnectingWebSocket(url, undefined, {
      ...FAST,
      maxQueuedMessages: 3,
      maxQueuedBytes: 10,
    });
    try {
      socket.send("1234");
      socket.send("5678");
      assert.throws(() => socket.send("abc"), (error: unknown) => {
        assert(error instanceof DOMException);
        assert.equal(error.name, "QuotaExceededError");
        assert.match(
          error.message,
          /^Cannot send: the queue is full: 2 of 3 messages, 8 of 10 bytes, and this message is 3 bytes$/,
        );
        return true;
      });
      socket.send("90");
      assert.throws(() => socket.send(""), { name: "QuotaExceededError" }); // the fourth message
      assert.equal(socket.queuedMessages, 3);
      assert.equal(socket.bufferedAmount, 10);
      assert.equal(socket.dropped, 0);
    } finally {
      await shut(socket);
    }
  });

  test('"drop-oldest": the oldest go until the new one fits, counted and reported; one that can never fit goes itself', async () => {
    const port = await freePort();
    const server = await startOurs(port);
    const { url, release } = gated(`ws://127.0.0.1:${port}/`);
    const socket = new ReconnectingWebSocket(url, undefined, {
      ...FAST,
      maxQueuedMessages: 3,
      maxQueuedBytes: 8,
      queuePolicy: "drop-oldest",
    });
    const drops: ReconnectingDropEvent[] = [];
    socket.addEventListener("drop", (event) => drops.push(event as ReconnectingDropEvent));
    try {
      for (const message of ["m1", "m2", "m3", "m4"]) socket.send(message); // m1 goes: 3 messages at most
      assert.deepEqual(drops.map((d) => [...d.messages]), [["m1"]]);
      socket.send("12345"); // 5 bytes: m2 and m3 go (m4 + it = 7 bytes)
      assert.deepEqual(drops.map((d) => [...d.messages]), [["m1"], ["m2", "m3"]]);
      socket.send("way too long"); // 12 bytes > 8: can never fit
      assert.deepEqual(drops[2].messages, ["way too long"]);
      assert.equal(drops[2].reason, "overflow");
      assert.equal(socket.dropped, 4);
      assert.equal(socket.bufferedAmount, 7);
      release();
      await nextOpen(socket);
      await until(() => server.received.length === 2, "the two kept");
      assert.deepEqual(server.received, ["m4", "12345"]);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test("close() drops what is queued (a drop event, reason closed); send() afterwards throws InvalidStateError", async () => {
    const { url } = gated("ws://127.0.0.1:1/");
    const socket = new ReconnectingWebSocket(url, undefined, FAST);
    socket.send("never sent");
    const drop = next<ReconnectingDropEvent>(socket, "drop");
    const closed = nextClose(socket);
    socket.close(4000, "bye");
    assert.deepEqual((await drop).messages, ["never sent"]);
    assert.equal((await drop).reason, "closed");
    assert.equal(socket.bufferedAmount, 0);
    assert.equal(socket.dropped, 1);
    const close = await closed;
    assert.deepEqual([close.code, close.reason, close.wasClean, close.willReconnect], [
      4000,
      "bye",
      true,
      false,
    ]);
    assert.throws(() => socket.send("late"), { name: "InvalidStateError" });
  });
});

describe("when to stop", () => {
  test("a 1008 close stops the loop: willReconnect false, state closed, no attempt afterwards", async () => {
    const port = await freePort();
    const server = await startOurs(port, {
      onUpgrade: ({ connection }) => void connection.close(1008, "not allowed"),
    });
    let calls = 0;
    const socket = new ReconnectingWebSocket(() => `ws://127.0.0.1:${port}/?n=${++calls}`, undefined, FAST);
    try {
      await nextOpen(socket);
      const close = await nextClose(socket);
      assert.deepEqual([close.code, close.reason, close.wasClean, close.willReconnect], [
        1008,
        "not allowed",
        true,
        false,
      ]);
      assert.equal(close.delay, undefined);
      assert.equal(socket.state, "closed");
      assert.equal(socket.readyState, ReconnectingWebSocket.CLOSED);
      await pause(200); // many times the longest delay
      assert.equal(calls, 1);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test("a code in terminalCodes (a range here) stops it; an unlisted 4xxx code does not", async () => {
    const port = await freePort();
    const codes = [4500, 4001];
    const server = await startOurs(port, {
      onUpgrade: ({ connection }) => void connection.close(codes.shift(), "app"),
    });
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      terminalCodes: [...DEFAULT_TERMINAL_CODES, [4000, 4099]],
    });
    try {
      const first = await nextClose(socket);
      assert.deepEqual([first.code, first.willReconnect], [4500, true]);
      const second = await nextClose(socket);
      assert.deepEqual([second.code, second.willReconnect], [4001, false]);
      assert.equal(socket.state, "closed");
      assert.equal(server.urls.length, 2);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  /** Our WebSocket over a `node:net` transport given by the caller (as on an edge runtime). */
  const viaTransport: ReconnectingWebSocketOptions["webSocketOptions"] = {
    transport: (url) => socketToTransport(connect(Number(url.port), url.hostname)),
  };

  test("a handshake refused with 403 stops it where the status can be read (our WebSocket over a given transport)", async () => {
    const port = await freePort();
    const server = await startOurs(port, {
      upgrade: { authorize: () => new Response(null, { status: 403 }) },
    });
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      webSocketOptions: viaTransport,
    });
    const seen = record(socket);
    try {
      const close = await nextClose(socket);
      assert.deepEqual([close.code, close.status, close.willReconnect], [1006, 403, false]);
      assert.deepEqual(seen, ["error", "close 1006 false"]);
      await pause(100);
      assert.equal(server.urls.length, 1);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test("a handshake refused with 429 (or 408) is retried, and then it opens", async () => {
    const port = await freePort();
    let refusals = 2;
    const server = await startOurs(port, {
      upgrade: {
        authorize: () =>
          refusals-- > 0 ? new Response(null, { status: refusals === 1 ? 429 : 408 }) : undefined,
      },
    });
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      webSocketOptions: viaTransport,
    });
    try {
      const first = await nextClose(socket);
      assert.deepEqual([first.status, first.willReconnect], [429, true]);
      const second = await nextClose(socket);
      assert.deepEqual([second.status, second.willReconnect], [408, true]);
      assert.equal((await nextOpen(socket)).attempt, 3);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test("our WebSocket over its default transport: a 403 is read from its failure property and stops it", async () => {
    const port = await freePort();
    const server = await startOurs(port, {
      upgrade: { authorize: () => new Response(null, { status: 403 }) },
    });
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      maxRetries: 3,
    });
    try {
      const close = await nextClose(socket);
      assert.deepEqual([close.code, close.status, close.willReconnect], [1006, 403, false]);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  if (RuntimeWebSocket !== undefined) {
    test(`${RUNTIME}'s WebSocket refused with 403: ${RUNTIME === "node" ? "no status given, retried" : "status read from its error event, stopped"}`, async () => {
      const port = await freePort();
      const server = await startOurs(port, {
        upgrade: { authorize: () => new Response(null, { status: 403 }) },
      });
      const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
        ...FAST,
        WebSocket: RuntimeWebSocket,
        maxRetries: 1,
        connectTimeout: 1000, // Node 20's WebSocket may never report a refused handshake
      });
      const errors: string[] = [];
      socket.addEventListener("error", (event) => errors.push((event as ReconnectingErrorEvent).message));
      try {
        const close = await nextClose(socket);
        if (RUNTIME === "node") {
          assert.deepEqual([close.status, close.willReconnect], [undefined, true]);
        } else {
          assert.deepEqual([close.code, close.status, close.willReconnect], [1006, 403, false]);
          assert.match(errors[0], /403/);
        }
      } finally {
        await shut(socket);
        await server.kill();
      }
    });
  }

  test("shouldReconnect sees the close and the attempt, and decides", async () => {
    const port = await freePort();
    const server = await startOurs(port, {
      onUpgrade: ({ connection }) => void connection.close(1008, "not yet"),
    });
    const asked: [number, string, number, boolean][] = [];
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      // 1008 is terminal by default; this application retries it twice.
      shouldReconnect: (event, info) => {
        asked.push([event.code, event.reason, info.retries, info.terminal]);
        return info.retries < 2;
      },
    });
    try {
      for (const willReconnect of [true, true, false]) {
        assert.equal((await nextClose(socket)).willReconnect, willReconnect);
      }
      assert.deepEqual(asked, [[1008, "not yet", 0, true], [1008, "not yet", 1, true], [
        1008,
        "not yet",
        2,
        true,
      ]]);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test("maxRetries: gives up after that many retries in a row", async () => {
    const port = await freePort(); // nothing listens
    let calls = 0;
    const socket = new ReconnectingWebSocket(() => `ws://127.0.0.1:${port}/?n=${++calls}`, undefined, {
      ...FAST,
      maxRetries: 2,
    });
    const seen = record(socket);
    const last = next<ReconnectingCloseEvent>(socket, "close", (event) => !event.willReconnect);
    await last;
    assert.deepEqual(seen, [
      "error",
      "close 1006 true",
      "error",
      "close 1006 true",
      "error",
      "close 1006 false",
    ]);
    assert.equal(calls, 3);
    assert.equal(socket.state, "closed");
    await pause(100);
    assert.equal(calls, 3);
  });

  test("close() while waiting to reconnect stops for good: no attempt afterwards", async () => {
    const port = await freePort(); // nothing listens
    let calls = 0;
    const socket = new ReconnectingWebSocket(() => `ws://127.0.0.1:${port}/?n=${++calls}`, undefined, {
      ...FAST,
      minDelay: 100,
      random: () => 0.99,
    });
    const failed = await nextClose(socket);
    assert.equal(failed.willReconnect, true);
    assert.equal(socket.state, "connecting", "never opened yet");
    const closed = nextClose(socket);
    socket.close();
    assert.equal(socket.state, "closed");
    assert.equal(socket.readyState, ReconnectingWebSocket.CLOSING);
    const close = await closed;
    assert.deepEqual([close.code, close.willReconnect], [1005, false]);
    assert.equal(socket.readyState, ReconnectingWebSocket.CLOSED);
    await pause(300);
    assert.equal(calls, 1);
    assert.throws(() => socket.reconnect(), { name: "InvalidStateError" });
  });

  test("close() on an open connection: its close event ends the loop", async () => {
    const port = await freePort();
    const server = await startOurs(port);
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, FAST);
    try {
      await nextOpen(socket);
      const closed = nextClose(socket);
      socket.close(1000, "done");
      assert.equal(socket.readyState, ReconnectingWebSocket.CLOSING);
      const close = await closed;
      // The code and reason of the server's close frame, as the standard has it (ours echoes the code).
      assert.deepEqual([close.code, close.reason, close.wasClean, close.willReconnect], [
        1000,
        "",
        true,
        false,
      ]);
      await until(() => server.closes.length === 1, "the server to see the close");
      assert.equal(server.closes[0], "1000 done");
      await pause(100);
      assert.equal(server.urls.length, 1);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test("reconnect() closes the open socket and connects at once; it also restarts a loop that gave up", async () => {
    const port = await freePort();
    const server = await startOurs(port);
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      maxRetries: 0,
    });
    try {
      await nextOpen(socket);
      const closed = nextClose(socket);
      const opened = nextOpen(socket);
      socket.reconnect(4000, "switching");
      const close = await closed;
      assert.deepEqual([close.code, close.reason, close.willReconnect, close.delay], [
        4000,
        "switching",
        true,
        0,
      ]);
      const open = await opened;
      assert.deepEqual([open.attempt, open.reconnected], [1, true]);
      await until(() => server.urls.length === 2, "a second connection");

      // maxRetries 0: a drop ends the loop; reconnect() starts it again.
      const gaveUp = nextClose(socket);
      await server.kill();
      assert.equal((await gaveUp).willReconnect, false);
      assert.equal(socket.state, "closed");
      const restarted = await startOurs(port);
      try {
        const again = nextOpen(socket);
        socket.reconnect();
        assert.equal(socket.state, "reconnecting");
        await again;
        assert.equal(socket.state, "open");
      } finally {
        await shut(socket);
        await restarted.kill();
      }
    } finally {
      await shut(socket);
    }
  });

  test("connectTimeout: an attempt that never opens is closed and counts as failed", async () => {
    const accepted = new Set<Socket>();
    const silent = createTcpServer((socket) => { // accepts, never answers
      accepted.add(socket);
      socket.on("error", () => {});
    });
    await listen(silent, 0);
    const port = (silent.address() as AddressInfo).port;
    const started = Date.now();
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      connectTimeout: 150,
      maxRetries: 1,
    });
    const errors: string[] = [];
    socket.addEventListener("error", (event) => errors.push((event as ReconnectingErrorEvent).message));
    try {
      const first = await nextClose(socket);
      const took = Date.now() - started;
      assert.deepEqual([first.code, first.reason, first.wasClean, first.willReconnect], [
        1006,
        "connect timeout",
        false,
        true,
      ]);
      assert(took >= 145 && took < 1500, `after ${took} ms`);
      assert.deepEqual(errors, ["Cannot connect: connect timeout"]);
      assert.equal((await nextClose(socket)).willReconnect, false);
    } finally {
      await shut(socket);
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe("events and state", () => {
  test("a life: connecting, open, reconnecting, open, closed, with attempt, reconnected, willReconnect and delay", async () => {
    const port = await freePort(); // down at first
    const states: string[] = [];
    const socket = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, undefined, {
      ...FAST,
      random: () => 0.5,
    });
    const seen = record(socket);
    for (const type of ["open", "close"]) socket.addEventListener(type, () => states.push(socket.state));
    let server: KillableServer | undefined;
    try {
      assert.equal(socket.state, "connecting");
      assert.equal(socket.readyState, ReconnectingWebSocket.CONNECTING);
      const failed = await nextClose(socket);
      assert.deepEqual([failed.code, failed.willReconnect, failed.delay, failed.attempt], [1006, true, 5, 1]);
      await nextClose(socket); // attempt 2 fails too
      server = await startOurs(port);
      const open = await nextOpen(socket);
      assert(open instanceof ReconnectingOpenEvent);
      assert(open.attempt >= 3);
      assert.equal(open.reconnected, false);
      assert.equal(socket.readyState, ReconnectingWebSocket.OPEN);
      const dropped = nextClose(socket);
      await server.kill();
      const drop = await dropped;
      assert(drop instanceof ReconnectingCloseEvent);
      // Open for less than resetAfter: the backoff goes on where it was (the third failure in a row).
      assert.deepEqual([drop.code, drop.willReconnect, drop.delay, drop.attempt], [
        1006,
        true,
        20,
        open.attempt,
      ]);
      server = await startOurs(port);
      const reopened = await nextOpen(socket);
      assert.equal(reopened.reconnected, true);
      await shut(socket);
      const closes = seen.filter((line) => line.startsWith("close"));
      assert.equal(closes.at(-1), "close 1005 false");
      assert.deepEqual(states.slice(0, 2), ["connecting", "connecting"]);
      assert.equal(states[states.indexOf("open") + 1], "reconnecting");
      assert.equal(states.at(-2), "open");
      assert.equal(states.at(-1), "closed");
    } finally {
      await shut(socket);
      await server?.kill();
    }
  });

  test("the WHATWG surface: constants, url, protocol, extensions, binaryType on every socket, on* handlers", async () => {
    const port = await freePort();
    const server = await startOurs(port, { upgrade: { protocols: ["b"] } });
    const socket = new ReconnectingWebSocket(`http://127.0.0.1:${port}/path`, ["a", "b"], FAST);
    try {
      assert.deepEqual(
        [
          ReconnectingWebSocket.CONNECTING,
          ReconnectingWebSocket.OPEN,
          ReconnectingWebSocket.CLOSING,
          ReconnectingWebSocket.CLOSED,
        ],
        [0, 1, 2, 3],
      );
      assert.deepEqual([socket.CONNECTING, socket.OPEN, socket.CLOSING, socket.CLOSED], [0, 1, 2, 3]);
      assert.equal(socket.url, `ws://127.0.0.1:${port}/path`, "as the socket serialized it");
      assert.equal(socket.protocol, "");
      assert.equal(socket.binaryType, "blob");
      socket.binaryType = "arraybuffer";
      socket.binaryType = "nodebuffer" as "blob"; // ignored, as the standard says
      const calls: string[] = [];
      socket.onopen = function (this: ReconnectingWebSocket) {
        assert.equal(this, socket);
        calls.push("onopen");
      };
      socket.onmessage = (event) => calls.push(`onmessage ${(event as MessageEvent).data.constructor.name}`);
      await nextOpen(socket);
      assert.equal(socket.protocol, "b");
      assert.equal(socket.extensions, "permessage-deflate");
      socket.send(new Uint8Array([1, 2]));
      await next(socket, "message");
      assert.deepEqual(calls, ["onopen", "onmessage ArrayBuffer"]);
      socket.onopen = null;
      assert.equal(socket.onopen, null);
    } finally {
      await shut(socket);
      await server.kill();
    }
  });

  test("a bad URL or subprotocol value throws SyntaxError from the constructor; a url function's is a failed attempt", async () => {
    assert.throws(() => new ReconnectingWebSocket("ftp://127.0.0.1/", undefined, FAST), {
      name: "SyntaxError",
    });
    assert.throws(() => new ReconnectingWebSocket("ws://127.0.0.1:1/", ["a b"], FAST), {
      name: "SyntaxError",
    });
    const socket = new ReconnectingWebSocket(() => "ftp://127.0.0.1/", undefined, { ...FAST, maxRetries: 0 });
    const error = next<ReconnectingErrorEvent>(socket, "error");
    const close = await nextClose(socket);
    assert.match((await error).message, /^Cannot connect: the WebSocket constructor threw: /);
    assert.deepEqual([close.code, close.willReconnect], [1006, false]);
  });

  test("online/offline: retries wait while offline and go at once on online; close() removes the listeners", async () => {
    const port = await freePort();
    class FakeNetwork extends EventTarget implements NetworkStatus {
      onLine = false;
      hidden = false;
      listeners = 0;
      override addEventListener(type: string, listener: () => void): void {
        this.listeners++;
        super.addEventListener(type, listener);
      }
      override removeEventListener(type: string, listener: () => void): void {
        this.listeners--;
        super.removeEventListener(type, listener);
      }
    }
    const network = new FakeNetwork();
    let calls = 0;
    const socket = new ReconnectingWebSocket(() => `ws://127.0.0.1:${port}/?n=${++calls}`, undefined, {
      ...FAST,
      network,
      // Every wait is 30 s: only the network and visibility events can make it retry within this test.
      minDelay: 60_000,
      maxDelay: 60_000,
      firstDelay: 60_000,
      random: () => 0.5,
    });
    let server: KillableServer | undefined;
    try {
      assert(network.listeners > 0);
      await nextClose(socket); // the first attempt fails (nothing listens)
      network.dispatchEvent(new Event("online")); // still offline: onLine is false
      await pause(100);
      assert.equal(calls, 1);
      server = await startOurs(port);
      network.onLine = true;
      const opened = nextOpen(socket);
      network.dispatchEvent(new Event("online"));
      await opened;
      assert.equal(calls, 2);

      // Visible again: a scheduled retry happens at once too.
      const dropped = nextClose(socket);
      await server.kill();
      assert.equal((await dropped).willReconnect, true);
      server = await startOurs(port);
      network.hidden = true; // hidden: nothing happens
      network.dispatchEvent(new Event("visibilitychange"));
      await pause(50);
      assert.equal(calls, 2);
      network.hidden = false;
      const reopened = nextOpen(socket);
      network.dispatchEvent(new Event("visibilitychange"));
      await reopened;
      assert.equal(calls, 3);

      await shut(socket);
      assert.equal(network.listeners, 0);
    } finally {
      await shut(socket);
      await server?.kill();
    }
  });

  test("offline when a retry is due: it waits for online", async () => {
    const port = await freePort();
    const network = Object.assign(new EventTarget(), { onLine: true });
    let calls = 0;
    const socket = new ReconnectingWebSocket(() => `ws://127.0.0.1:${port}/?n=${++calls}`, undefined, {
      ...FAST,
      network,
      random: () => 0,
    });
    try {
      network.onLine = false; // before the first attempt fails
      await nextClose(socket);
      await pause(100); // the retry fell due at once and found the network down
      assert.equal(calls, 1);
      assert.equal(socket.state, "connecting");
      network.onLine = true;
      const failedAgain = nextClose(socket);
      network.dispatchEvent(new Event("online"));
      await failedAgain;
      assert(calls >= 2);
    } finally {
      await shut(socket);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// The same module in a page

const CHROMIUM = "/usr/bin/chromium";
const DENO = repoPath("node_modules/.bin/deno");

/** The page: lib/client/reconnecting_websocket.ts (bundled) over Chromium's own WebSocket. */
function page(wsUrl: string): string {
  return `<!doctype html>
<meta charset="utf-8"><title>ReconnectingWebSocket</title>
<script type="module">
import { ReconnectingWebSocket } from "/reconnecting_websocket.js";
window.log = [];
window.calls = 0;
const socket = new ReconnectingWebSocket(() => ${JSON.stringify(wsUrl)} + "?n=" + ++window.calls, undefined, {
  WebSocket,
  minDelay: 20,
  maxDelay: 100,
  firstDelay: 50,
});
socket.onopen = (event) => log.push(\`open \${event.attempt} \${event.reconnected}\`);
socket.onmessage = (event) => log.push(\`message \${event.data}\`);
socket.onclose = (event) => log.push(\`close \${event.code} \${event.willReconnect}\`);
window.socket = socket;
</script>
`;
}

describe("in a browser", () => {
  const skip = !existsSync(CHROMIUM)
    ? `${CHROMIUM} is missing (apt-get install chromium)`
    : !existsSync(DENO)
    ? `${DENO} is missing (npm install), needed to bundle the module`
    : false;

  test(
    "Chromium: the same module over the browser's WebSocket reconnects, waits while offline, goes on online",
    {
      skip,
      timeout: 60_000,
    },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "wsengine-rws-"));
      const profile = mkdtempSync(join(tmpdir(), "wsengine-chromium-"));
      const bundle = spawnSync(DENO, [
        "bundle",
        "--config",
        repoPath("deno.json"),
        "--platform",
        "browser",
        "--output",
        join(dir, "reconnecting_websocket.js"),
        repoPath("lib/client/reconnecting_websocket.ts"),
      ], { timeout: 60_000, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
      assert.equal(bundle.status, 0, `deno bundle: ${bundle.stderr}`);
      const wsPort = await freePort();
      let server = await startOurs(wsPort);
      const site = createServer((req, res) => {
        if (req.url === "/reconnecting_websocket.js") {
          res.writeHead(200, { "content-type": "text/javascript" });
          res.end(readFileSync(join(dir, "reconnecting_websocket.js")));
        } else {
          res.writeHead(200, { "content-type": "text/html" });
          res.end(page(`ws://127.0.0.1:${wsPort}/`));
        }
      });
      await listen(site, 0);
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          "--disable-background-networking",
        ],
        timeout: 30_000,
      });
      try {
        const tab = await context.newPage();
        await tab.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`, { timeout: 30_000 });
        type Page = {
          log: string[];
          calls: number;
          socket: ReconnectingWebSocket;
          navigator: { onLine: boolean };
        };
        const log = () => tab.evaluate(() => (globalThis as unknown as Page).log);
        const calls = () => tab.evaluate(() => (globalThis as unknown as Page).calls);
        const waitForLine = (line: string) =>
          tab.waitForFunction((line) => (globalThis as unknown as Page).log.includes(line), line, {
            timeout: WAIT_MS,
          });

        await waitForLine("open 1 false");
        await tab.evaluate(() => (globalThis as unknown as Page).socket.send("before"));
        await waitForLine("message before");

        await server.kill();
        await waitForLine("close 1006 true");
        await context.setOffline(true);
        assert.equal(await tab.evaluate(() => (globalThis as unknown as Page).navigator.onLine), false);
        await pause(300); // delays are at most 100 ms: the loop now waits for the network
        const offlineCalls = await calls();
        server = await startOurs(wsPort);
        await pause(300);
        assert.equal(await calls(), offlineCalls, "no attempt while offline");
        const reopened = (lines: string[]) => lines.some((line) => /^open \d+ true$/.test(line));
        assert(!reopened(await log()), "not reopened while offline");

        await context.setOffline(false);
        await tab.waitForFunction(
          () => (globalThis as unknown as Page).log.some((line) => /^open \d+ true$/.test(line)),
          undefined,
          { timeout: WAIT_MS },
        );
        assert.equal(await calls(), offlineCalls + 1, "one attempt, at once, on online");
        await tab.evaluate(() => (globalThis as unknown as Page).socket.send("after"));
        await waitForLine("message after");
        await tab.evaluate(() => (globalThis as unknown as Page).socket.close(1000));
        await waitForLine("close 1000 false");
        assert.deepEqual(server.received, ["after"]);
      } finally {
        await context.close().catch(() => {});
        await server.kill();
        await new Promise<void>((resolve) => site.close(() => resolve()));
        rmSync(dir, { recursive: true, force: true });
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );
});
