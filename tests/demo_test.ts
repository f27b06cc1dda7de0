/**
 * The chat demo that `npm start` runs (demo/, through `cli.ts serve`), driven from outside as its users
 * would: the CLI as a subprocess, `ws` clients with the cookie a login gave them, a real redis-server for
 * `--workers 2 --redis`, and headless Chromium (playwright-core) for the page. Every process started (the
 * server and its workers, Redis, the browser) is stopped in a `finally`.
 *
 * Under Deno and Bun the source runs (`deno run -A cli.ts`, `bun cli.ts`); under Node, the build
 * (`node dist/cli.js`). The Chromium test runs under `deno test` only: the page, the server and the
 * browser are the same under every runner, and one browser run keeps the suite's time in bounds.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import {
  connect as connectTcp,
  createServer as createTcpServer,
  type Server as TcpServer,
  type Socket,
} from "node:net";
import process from "node:process";
import WebSocket from "ws";
import { COMPILED, repoPath, RUNTIME, runtimeArgs } from "./_files.ts";
import { redisTest } from "./_redis.ts";
import { buildDemoClient, DEMO_CLIENT_PATH } from "../scripts/build_demo_client.ts";

const CLI = repoPath(COMPILED ? "dist/cli.js" : "cli.ts");
const SECRET = "a test secret of the demo, 42 characters.";
const CHROMIUM = "/usr/bin/chromium";
const REQUIRE_PEERS = process.env.REQUIRE_PEERS === "1";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A running `cli.ts serve`. */
interface Serve {
  child: ChildProcess;
  port: number;
  output(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
}

/** Starts `cli.ts serve` and resolves once its listening line appears (bounded). */
function startServe(args: string[], env: Record<string, string> = {}): Promise<Serve> {
  const child = spawn(process.execPath, runtimeArgs(CLI, ["serve", ...args]), {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WSENGINE_DEMO_SECRET: SECRET, ...env },
  });
  let out = "";
  const waiters = new Set<() => void>();
  const onChunk = (chunk: Uint8Array) => {
    out += chunk;
    for (const waiter of waiters) waiter();
  };
  child.stdout!.on("data", onChunk);
  child.stderr!.on("data", onChunk);
  const waitFor = (pattern: RegExp, ms = 20_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(out);
        if (match === null) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(match);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`serve printed nothing matching ${pattern} within ${ms} ms:\n${out}`));
      }, ms);
      if (!check()) waiters.add(check);
    });
  return new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`serve exited with ${code}:\n${out}`));
    child.once("exit", exited);
    waitFor(/^Echo server listening on ws:\/\/127\.0\.0\.1:(\d+)\//m).then((match) => {
      child.off("exit", exited);
      resolve({ child, port: Number(match[1]), output: () => out, waitFor });
    }, (error) => {
      stop(child, "SIGKILL").then(() => reject(error));
    });
  });
}

/** Stops a process (the signal, SIGKILL after 5 s) and waits for it to exit. */
function stop(child: ChildProcess, signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => kill(child.pid!, "SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    kill(child.pid!, signal);
  });
}

function kill(pid: number, signal: "SIGTERM" | "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

/** Logs in at the door: the `Cookie` header value for the name. */
async function login(port: number, name: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const cookie = response.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^wsdemo=[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=86400$/);
  await response.body?.cancel();
  return cookie.split(";")[0];
}

/** A `ws` client in a room, with every message it got. */
interface ChatClient {
  socket: WebSocket;
  messages: { type: string; [key: string]: unknown }[];
  welcome: { worker: string; name: string; room: string; extensions: string };
  waitFor(
    predicate: (message: { type: string; [key: string]: unknown }) => boolean,
    ms?: number,
  ): Promise<void>;
  close(): Promise<void>;
}

async function openChat(port: number, cookie: string | undefined, room: string): Promise<ChatClient> {
  const headers: Record<string, string> = cookie === undefined ? {} : { cookie };
  const socket = new WebSocket(`ws://127.0.0.1:${port}/chat?room=${room}`, {
    headers,
    perMessageDeflate: true,
  });
  const messages: ChatClient["messages"] = [];
  const waiters = new Set<() => void>();
  socket.on("message", (data) => {
    messages.push(JSON.parse(String(data)));
    for (const waiter of waiters) waiter();
  });
  const waitFor = (predicate: (message: ChatClient["messages"][number]) => boolean, ms = 15_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!messages.some(predicate)) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no such message within ${ms} ms; got ${JSON.stringify(messages).slice(0, 2000)}`));
      }, ms);
      if (!check()) waiters.add(check);
    });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  await waitFor((message) => message.type === "welcome");
  const welcome = messages.find((message) => message.type === "welcome") as unknown as ChatClient["welcome"];
  const close = () =>
    new Promise<void>((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve();
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 5_000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.close(1000);
    });
  return { socket, messages, welcome, waitFor, close };
}

/** Sends a raw upgrade request and reads the response head (and whatever came with it) until the server ends it. */
function rawUpgrade(port: number, path: string, cookie?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of the answer within 10 s: ${answer}`));
    }, 10_000);
    socket.on("data", (chunk) => answer += chunk);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
        (cookie === undefined ? "" : `Cookie: ${cookie}\r\n`) + "\r\n",
    );
  });
}

test(
  `${DEMO_CLIENT_PATH} is what scripts/build_demo_client.ts builds from lib/client/reconnecting_websocket.ts`,
  {
    timeout: 60_000,
  },
  async () => {
    const built = await buildDemoClient();
    const current = readFileSync(repoPath(DEMO_CLIENT_PATH), "utf8");
    assert.ok(
      current === built,
      `${DEMO_CLIENT_PATH} is stale: run \`deno run -A scripts/build_demo_client.ts\` (${current.length} bytes checked in, ${built.length} built)`,
    );
    assert.match(
      built,
      /^var WebSocket = globalThis\.WebSocket;$/m,
      "the page's client drives the browser's WebSocket",
    );
    assert.match(built, /^export \{[^}]*\bReconnectingWebSocket\b/m);
    assert.doesNotMatch(built, /node:|from "/, "nothing left to import in the page");
  },
);

test(
  "the door: a signed cookie from /api/login; /chat without one, with a forged one, or one signed with another secret is refused with 401 before the 101",
  {
    timeout: 60_000,
  },
  async () => {
    const server = await startServe(["--port", "0"]);
    let other: Serve | undefined;
    try {
      const { port } = server;
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module" src="\/app\.js"><\/script>/);
      for (
        const [path, type] of [["/app.js", "text/javascript"], ["/style.css", "text/css"], [
          "/reconnecting_websocket.js",
          "text/javascript",
        ]]
      ) {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.equal(response.status, 200, path);
        assert.match(response.headers.get("content-type") ?? "", new RegExp(`^${type}`), path);
        await response.body?.cancel();
      }
      const echoPage = await fetch(`http://127.0.0.1:${port}/echo`);
      assert.match(await echoPage.text(), /the server sends it back/);
      const missing = await fetch(`http://127.0.0.1:${port}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();

      const me = await fetch(`http://127.0.0.1:${port}/api/me`);
      assert.equal(me.status, 401);
      assert.match((await me.json()).error, /no valid name cookie/);
      for (const name of ["", "   ", "x".repeat(33), "tab\there"]) {
        const refused = await fetch(`http://127.0.0.1:${port}/api/login`, {
          method: "POST",
          body: JSON.stringify({ name }),
        });
        assert.equal(refused.status, 400, JSON.stringify(name));
        await refused.body?.cancel();
      }
      const notJson = await fetch(`http://127.0.0.1:${port}/api/login`, { method: "POST", body: "name=Ada" });
      assert.equal(notJson.status, 400);
      await notJson.body?.cancel();

      const cookie = await login(port, "Ada Lovelace");
      const meNow = await fetch(`http://127.0.0.1:${port}/api/me`, { headers: { cookie } });
      assert.equal(meNow.status, 200);
      assert.equal((await meNow.json()).name, "Ada Lovelace");

      // The same name signed with another secret (another server's cookie), and forgeries of ours.
      other = await startServe(["--port", "0"], { WSENGINE_DEMO_SECRET: "another secret, also long enough" });
      const foreign = await login(other.port, "Ada Lovelace");
      assert.notEqual(foreign, cookie);
      const [value, mac] = cookie.slice("wsdemo=".length).split(".");
      const mallory = btoa("Mallory").replace(/=+$/, "");
      const forged = [
        undefined,
        foreign,
        `wsdemo=${mallory}.${mac}`, // another name under Ada's signature
        `wsdemo=${value}.${mac.slice(0, -2)}AA`, // a changed signature
        `wsdemo=${value}`,
        "wsdemo=",
        `other=${value}.${mac}`,
      ];
      for (const bad of forged) {
        const answer = await rawUpgrade(port, "/chat?room=lobby", bad);
        assert.match(answer, /^HTTP\/1\.1 401 /, String(bad));
        assert.doesNotMatch(answer, /sec-websocket-accept/i, String(bad));
        assert.match(answer, /No valid name cookie/, String(bad));
      }
      const badRoom = await rawUpgrade(port, "/chat?room=Not%20A%20Room", cookie);
      assert.match(badRoom, /^HTTP\/1\.1 400 /);
      // Refused before any WebSocket state: a "refused" line each, no chat connection ever opened.
      await server.waitFor(/(?:chat #\d+ refused .*\n[^]*){8}/);
      assert.doesNotMatch(server.output(), /chat #\d+ open/);

      // With the cookie, the upgrade goes through; the echo still answers on every other path.
      const chat = await openChat(port, cookie, "lobby");
      assert.equal(chat.welcome.name, "Ada Lovelace");
      assert.equal(chat.welcome.extensions, "permessage-deflate");
      await chat.close();
      const echo = new WebSocket(`ws://127.0.0.1:${port}/echo`);
      const echoed = await new Promise<string>((resolve, reject) => {
        echo.once("open", () => echo.send("still echoing"));
        echo.once("message", (data) => resolve(String(data)));
        echo.once("error", reject);
      });
      assert.equal(echoed, "still echoing");
      echo.close();
    } finally {
      await stop(server.child);
      if (other !== undefined) await stop(other.child);
    }
  },
);

test(
  "rooms: messages reach the room's members (the sender included) and no one else; presence lists update; figures per connection",
  {
    timeout: 60_000,
  },
  async () => {
    const server = await startServe(["--port", "0"]);
    try {
      const { port } = server;
      const [ada, bob, cy] = await Promise.all([login(port, "Ada"), login(port, "Bob"), login(port, "Cy")]);
      const a = await openChat(port, ada, "lobby");
      const b = await openChat(port, bob, "lobby");
      const c = await openChat(port, cy, "random");
      const members = (client: ChatClient, names: string[]) =>
        client.waitFor((m) =>
          m.type === "presence" &&
          JSON.stringify((m.members as { id: string }[]).map((x) => x.id).sort()) === JSON.stringify(names)
        );
      await members(a, ["Ada", "Bob"]);
      await members(b, ["Ada", "Bob"]);
      await members(c, ["Cy"]);

      const text = "hello from Ada: " + "the same words again and again, ".repeat(20);
      a.socket.send(JSON.stringify({ type: "say", text }));
      c.socket.send(JSON.stringify({ type: "say", text: "only for random" }));
      for (const client of [a, b]) {
        await client.waitFor((m) => m.type === "message" && m.text === text && m.from === "Ada");
      }
      await c.waitFor((m) => m.type === "message" && m.text === "only for random");
      // Bad input gets an error message, not a closed connection.
      a.socket.send("not json");
      await a.waitFor((m) => m.type === "error" && m.error === "not JSON");

      // The figures: after a compressible message, wire bytes below payload bytes.
      a.socket.send(JSON.stringify({ type: "stats?" }));
      await a.waitFor((m) => m.type === "stats" && (m.messagesIn as number) >= 3);
      const stats = a.messages.filter((m) => m.type === "stats").at(-1)!;
      assert.equal(stats.extensions, "permessage-deflate");
      assert.ok((stats.payloadOut as number) > text.length, JSON.stringify(stats));
      assert.ok(
        (stats.wireOut as number) > 0 && (stats.wireOut as number) < (stats.payloadOut as number),
        JSON.stringify(stats),
      );

      // History: a page that joins later gets the room's last messages, each with its position, then "joined".
      const late = await openChat(port, bob, "lobby");
      await late.waitFor((m) => m.type === "joined");
      const history = late.messages.filter((m) => m.type === "message");
      assert.deepEqual(history.map((m) => [m.text, m.history]), [[text, true]]);
      const position = history[0].position as { epoch: string; offset: number };
      assert.equal(position.offset, 1);
      assert.deepEqual(late.messages.find((m) => m.type === "joined"), { type: "joined", count: 1 });
      await late.close();
      // Recovery: what was said while it was away, from its position, in order, then "recovered".
      a.socket.send(JSON.stringify({ type: "say", text: "while away 1" }));
      a.socket.send(JSON.stringify({ type: "say", text: "while away 2" }));
      await a.waitFor((m) => m.type === "message" && m.text === "while away 2");
      const back = await openChat(
        port,
        bob,
        `lobby&since=${encodeURIComponent(`${position.epoch}:${position.offset}`)}`,
      );
      await back.waitFor((m) => m.type === "recovered");
      assert.deepEqual(
        back.messages.filter((m) => m.type === "message").map((
          m,
        ) => [m.text, (m.position as { offset: number }).offset]),
        [["while away 1", 2], ["while away 2", 3]],
      );
      assert.deepEqual(back.messages.find((m) => m.type === "recovered"), {
        type: "recovered",
        recovered: true,
        count: 2,
        position: { epoch: position.epoch, offset: 3 },
      });
      // From a position of another epoch (a restarted server's): the history as it is now, and why.
      const stale = await openChat(port, bob, "lobby&since=gone:7");
      await stale.waitFor((m) => m.type === "recovered");
      assert.equal(stale.messages.filter((m) => m.type === "message" && m.history === true).length, 3);
      const answer = stale.messages.find((m) => m.type === "recovered")!;
      assert.equal(answer.recovered, false);
      assert.equal(answer.count, 3);
      assert.match(String(answer.reason), /epoch/);
      await Promise.all([back.close(), stale.close()]);

      await b.close();
      await members(a, ["Ada"]);
      await pause(300);
      for (const message of [...a.messages, ...b.messages]) assert.notEqual(message.text, "only for random");
      for (const message of c.messages) assert.notEqual(message.text, text);
      await Promise.all([a.close(), c.close()]);
    } finally {
      await stop(server.child);
    }
  },
);

redisTest(
  "--workers 2 --redis: two processes on one port, rooms shared over Redis: a message said on one worker reaches a client on the other",
  async (redis) => {
    const server = await startServe(["--port", "0", "--workers", "2", "--redis", redis.url]);
    const clients: ChatClient[] = [];
    try {
      const { port } = server;
      assert.match(server.output(), /2 workers, pids \d+, \d+, rooms over redis:\/\/127\.0\.0\.1:\d+/);
      // Bun's workers run the raw listener (SO_REUSEPORT); Deno's and Node's, node:cluster's node:http.
      const engine = RUNTIME === "bun" ? "raw \\(listenBun\\)" : "node-http";
      await server.waitFor(new RegExp(`^\\[worker \\d+\\] engine: ${engine}$`, "m"));
      const cookie = await login(port, "Ada");
      // Which worker takes a connection is the kernel's (reusePort) or the primary's (round robin) choice:
      // connect until both have one.
      const byWorker = new Map<string, ChatClient>();
      for (let i = 0; i < 24 && byWorker.size < 2; i++) {
        const client = await openChat(port, cookie, "lobby");
        clients.push(client);
        if (!byWorker.has(client.welcome.worker)) byWorker.set(client.welcome.worker, client);
      }
      assert.equal(byWorker.size, 2, `every connection landed on ${[...byWorker.keys()]}`);
      const [one, two] = [...byWorker.values()];
      assert.notEqual(one.welcome.worker, two.welcome.worker);
      // The cookie signed by one process is accepted by the other: the primary gave both one secret.
      one.socket.send(JSON.stringify({ type: "say", text: "across processes" }));
      await two.waitFor((m) =>
        m.type === "message" && m.text === "across processes" && m.worker === one.welcome.worker
      );
      two.socket.send(JSON.stringify({ type: "say", text: "and back" }));
      await one.waitFor((m) =>
        m.type === "message" && m.text === "and back" && m.worker === two.welcome.worker
      );
      // Each worker's room history has both (a page that joins on either gets them).
      for (const client of [one, two]) {
        const late = await openChat(port, cookie, "lobby");
        clients.push(late);
        await late.waitFor((m) => m.type === "joined");
        const texts = late.messages.filter((m) => m.type === "message").map((m) => m.text);
        assert.deepEqual(
          texts,
          ["across processes", "and back"],
          `history on ${late.welcome.worker} (${client.welcome.worker})`,
        );
      }
      // HTTP requests are spread too, each answered with the worker's name.
      const workers = new Set<string>();
      for (let i = 0; i < 24 && workers.size < 2; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/api/me`, {
          headers: { cookie, connection: "close" },
        });
        workers.add(response.headers.get("x-demo-worker") ?? "");
        await response.body?.cancel();
      }
      assert.equal(workers.size, 2);

      // A worker that dies is replaced: its pages lose their connection (1006), a new worker listens, and
      // a new connection gets through.
      const [first] = /pids (\d+), (\d+)/.exec(server.output())!.slice(1).map(Number);
      kill(first, "SIGKILL");
      await server.waitFor(/^worker \d+ exited with SIGKILL: starting another$/m);
      await server.waitFor(/^\[worker 3\] listening, pid \d+$/m);
      const again = await openChat(port, cookie, "lobby");
      clients.push(again);
      assert.match(again.welcome.worker, /^\d+ \(pid \d+\)$/);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await stop(server.child);
    }
    // SIGTERM to the primary stopped every worker.
    assert.equal(server.child.exitCode, 0, server.output());
    const pids = [
      ...(/pids (\d+), (\d+)/.exec(server.output())!.slice(1)),
      /^\[worker 3\] listening, pid (\d+)$/m.exec(server.output())![1],
    ].map(Number);
    for (const pid of pids) {
      let alive = true;
      for (let i = 0; i < 50 && alive; i++) {
        try {
          process.kill(pid, 0);
          await pause(100);
        } catch {
          alive = false;
        }
      }
      assert.equal(alive, false, `worker ${pid} still runs after the primary stopped`);
    }
  },
  { timeout: 60_000 },
);

// ---------------------------------------------------------------------------------------------------------
// The page, in headless Chromium

/** One TCP connection through the tapping proxy: every byte each way, as it passed. */
interface Tapped {
  up: Uint8Array[];
  down: Uint8Array[];
}

/** A TCP proxy to the server's port that keeps every byte of every connection (it keeps listening while the server restarts). */
async function startTapProxy(
  target: number,
): Promise<{ port: number; connections: Tapped[]; close(): Promise<void> }> {
  const connections: Tapped[] = [];
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((client) => {
    const tapped: Tapped = { up: [], down: [] };
    connections.push(tapped);
    const upstream = connectTcp(target, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.on("data", (chunk: Uint8Array) => {
      tapped.up.push(new Uint8Array(chunk));
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Uint8Array) => {
      tapped.down.push(new Uint8Array(chunk));
      client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function joined(chunks: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** A frame as it crossed the wire: where it starts (bytes after the HTTP head), its header and payload sizes. */
interface WireFrame {
  start: number;
  opcode: number;
  rsv1: boolean;
  size: number;
}

/** Splits one direction of a WebSocket connection into its HTTP head and its frames (header fields only). */
function frames(bytes: Uint8Array): { head: string; frames: WireFrame[] } {
  let end = -1;
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      end = i + 4;
      break;
    }
  }
  assert.notEqual(end, -1, "no HTTP head");
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, end));
  const body = bytes.subarray(end);
  const list: WireFrame[] = [];
  for (let at = 0; at + 2 <= body.length;) {
    const length7 = body[at + 1] & 0x7f;
    let header = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (body[at + 1] & 0x80 ? 4 : 0);
    if (at + header > body.length) break;
    const view = new DataView(body.buffer, body.byteOffset + at);
    const payload = length7 === 126
      ? view.getUint16(2)
      : length7 === 127
      ? Number(view.getBigUint64(2))
      : length7;
    header += payload;
    if (at + header > body.length) break;
    list.push({ start: at, opcode: body[at] & 0x0f, rsv1: (body[at] & 0x40) !== 0, size: header });
    at += header;
  }
  return { head, frames: list };
}

/** The pids of the Chromium processes this test process started (its children running /usr/bin/chromium). */
function chromiumChildren(): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return pids;
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, "latin1").startsWith(CHROMIUM)) {
        pids.push(Number(pid));
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

/** Where the test's screenshots go: docs/screenshots/ with UPDATE_SCREENSHOTS=1 (or when missing), else .test-results/. */
function screenshotPath(name: string): string {
  const checkedIn = repoPath(`docs/screenshots/${name}`);
  if (process.env.UPDATE_SCREENSHOTS === "1" || !existsSync(checkedIn)) {
    mkdirSync(repoPath("docs/screenshots"), { recursive: true });
    return checkedIn;
  }
  mkdirSync(repoPath(".test-results/screenshots"), { recursive: true });
  return repoPath(`.test-results/screenshots/${name}`);
}

const chromiumSkip = RUNTIME !== "deno"
  ? "runs under deno test only: the page, the server and the browser are the same under every runner"
  : !existsSync(CHROMIUM)
  ? (REQUIRE_PEERS ? false : `${CHROMIUM} is missing (apt-get install chromium)`)
  : false;

/** How the server of a Chromium run is started. */
interface ChromiumSetup {
  /** Extra flags: `--workers 2 --redis URL`, or none (one process, history in memory). */
  flags: string[];
  /** Whether the history outlives the server (Redis): the pages then recover from where they were. */
  durableHistory: boolean;
  /** Whether to put the two pages of a room on different workers (and so have its presence span them). */
  acrossWorkers: boolean;
  /** Screenshots are made by one setup only. */
  screenshots: boolean;
}

/** The pids of `serve`'s processes: the primary and the workers it printed (to kill it as a crash would). */
function servePids(server: Serve): number[] {
  const workers = [...server.output().matchAll(/^\[worker \d+\] listening, pid (\d+)$/gm)].map((match) =>
    Number(match[1])
  );
  return [server.child.pid!, ...workers];
}

async function chromiumScenario(setup: ChromiumSetup): Promise<void> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing and REQUIRE_PEERS=1`);
  const { chromium } = await import("playwright-core");
  const port = await new Promise<number>((resolve) => {
    const probe = createTcpServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  let server = await startServe(["--port", String(port), ...setup.flags]);
  const proxy = await startTapProxy(port);
  const base = `http://127.0.0.1:${proxy.port}`;
  let browser: import("playwright-core").Browser | undefined;
  let pids: number[] = [];
  const dee: ChatClient[] = [];
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      timeout: 30_000,
    });
    pids = chromiumChildren();
    type Demo = {
      state: string;
      messages: { id: string; from: string; text: string; missed: boolean }[];
      members: { id: string }[];
      received: { type: string; [key: string]: unknown }[];
      receivedBytes: number[];
      missed: number[];
      socket: { send(data: string): void };
    };
    const demoOf = (page: import("playwright-core").Page) =>
      page.evaluate(() => (globalThis as unknown as { demo: Demo }).demo);
    const enter = async (name: string, room: string) => {
      const context = await browser!.newContext({ viewport: { width: 1200, height: 720 } });
      const page = await context.newPage();
      await page.goto(`${base}/?room=${room}`, { timeout: 20_000 });
      await page.fill("#name", name);
      await page.click("#door-form button");
      await page.waitForFunction(
        () => (globalThis as unknown as { demo: Demo }).demo.state === "open",
        undefined,
        { timeout: 20_000 },
      );
      return { context, page };
    };
    const waitText = (page: import("playwright-core").Page, text: string) =>
      page.waitForFunction(
        (text) => document.getElementById("messages")!.textContent!.includes(text),
        text,
        { timeout: 20_000 },
      );
    const waitMembers = (page: import("playwright-core").Page, names: string[]) =>
      page.waitForFunction(
        (names) =>
          [...document.querySelectorAll("#members li")].map((li) => li.textContent).sort().join(",") ===
            names.join(","),
        names,
        { timeout: 20_000 },
      );
    const say = async (page: import("playwright-core").Page, text: string) => {
      await page.fill("#text", text);
      await page.press("#text", "Enter");
    };

    const a = await enter("Ada", "lobby");
    const b = await enter("Bob", "lobby");
    const workerOf = async (page: import("playwright-core").Page) =>
      (await demoOf(page)).received.findLast((m) => m.type === "welcome")?.worker;
    if (setup.acrossWorkers) {
      // Which process takes a connection is not the page's choice: reload Bob's until it is not Ada's.
      for (let i = 0; i < 10 && await workerOf(b.page) === await workerOf(a.page); i++) {
        await b.page.reload();
        await b.page.waitForFunction(
          () => (globalThis as unknown as { demo: Demo }).demo?.state === "open",
          undefined,
          { timeout: 20_000 },
        );
      }
      assert.notEqual(
        await workerOf(b.page),
        await workerOf(a.page),
        "Ada's and Bob's pages on two processes",
      );
    }
    const c = await enter("Cy", "random");
    await waitMembers(a.page, ["Ada", "Bob"]);
    await waitMembers(b.page, ["Ada", "Bob"]);
    await waitMembers(c.page, ["Cy"]);

    const hello = "Hello Bob! " + "Compression likes repetition, and chat has plenty of it. ".repeat(4);
    await say(a.page, hello);
    await waitText(b.page, hello);
    await say(b.page, "Hi Ada, I see you.");
    await waitText(a.page, "Hi Ada, I see you.");
    await say(c.page, "Anyone in random?");
    await waitText(c.page, "Anyone in random?");
    await pause(500);
    const [textA, textB, textC] = await Promise.all(
      [a, b, c].map(({ page }) => page.textContent("#messages")),
    );
    assert.doesNotMatch(textA!, /Anyone in random/);
    assert.doesNotMatch(textB!, /Anyone in random/);
    assert.doesNotMatch(textC!, /Hello Bob|Hi Ada/);

    // The figures against the tapping proxy: Ada asks, and her page's last figures must be exactly what
    // the proxy saw go to her before that message (frames after the 101: headers, compressed payloads,
    // pings), and the payload bytes exactly what her page received before it.
    const chats = () =>
      proxy.connections.map((tapped) => ({
        tapped,
        request: new TextDecoder("latin1").decode(joined(tapped.up).subarray(0, 2048)),
      }))
        .filter(({ request }) => request.startsWith("GET /chat"));
    const adaCookie = `wsdemo=${btoa("Ada").replace(/=+$/, "")}.`;
    let matched = false;
    let lastMiss = "";
    for (let attempt = 0; attempt < 5 && !matched; attempt++) {
      const before = (await demoOf(a.page)).received.length;
      await a.page.evaluate(() =>
        (globalThis as unknown as { demo: Demo }).demo.socket.send('{"type":"stats?"}')
      );
      await a.page.waitForFunction(
        (before) =>
          (globalThis as unknown as { demo: Demo }).demo.received.slice(before).some((m) =>
            m.type === "stats"
          ),
        before,
        { timeout: 10_000 },
      );
      await pause(200);
      const demo = await demoOf(a.page);
      const index = demo.received.findLastIndex((m) => m.type === "stats");
      const stats = demo.received[index] as unknown as {
        wireOut: number;
        payloadOut: number;
        messagesOut: number;
        extensions: string;
      };
      const ada = chats().filter(({ request }) => request.includes(adaCookie)).at(-1)!;
      const { head, frames: down } = frames(joined(ada.tapped.down));
      assert.match(head, /^HTTP\/1\.1 101 /);
      assert.match(head, /sec-websocket-extensions: permessage-deflate/i);
      const data = down.filter((frame) => frame.opcode === 1 || frame.opcode === 2);
      // The proxy is read after the page, so it can only be ahead: by a frame it has passed on that has not
      // reached the page yet (the periodic figures, once a second). Ask again then.
      assert.ok(
        data.length >= demo.received.length,
        "one frame per message (the page has one the wire has not)",
      );
      if (data.length > demo.received.length) {
        lastMiss = `${data.length} frames on the wire, ${demo.received.length} messages on the page`;
        continue;
      }
      assert.ok(data.some((frame) => frame.rsv1), "compressed frames on the wire");
      assert.equal(stats.extensions, "permessage-deflate");
      assert.equal(stats.messagesOut, index);
      assert.equal(stats.payloadOut, demo.receivedBytes.slice(0, index).reduce((sum, n) => sum + n, 0));
      assert.ok(stats.wireOut > 0 && stats.wireOut < stats.payloadOut, JSON.stringify(stats));
      // A frame still on its way inside the server when the figures were taken would be missing from
      // them (the periodic figures can cross the request): ask again then.
      matched = stats.wireOut === data[index].start;
      lastMiss = `${stats.wireOut} bytes reported, ${data[index].start} on the wire`;
      assert.ok(
        stats.wireOut <= data[index].start,
        `${stats.wireOut} reported, ${data[index].start} on the wire`,
      );
    }
    assert.ok(matched, `the reported wire bytes never matched the proxy's in 5 tries: ${lastMiss}`);
    assert.match(await a.page.textContent("#extension") ?? "", /^permessage-deflate$/);
    assert.match(
      await a.page.textContent("#ratio") ?? "",
      /^\d+% of the payload went on the wire \(\d+\.\d\d:1\)$/,
    );
    await a.page.waitForFunction(
      () => document.getElementById("rtt")!.textContent!.endsWith(" ms"),
      undefined,
      { timeout: 20_000 },
    );
    if (setup.screenshots) await a.page.screenshot({ path: screenshotPath("demo-chat.png") });

    // Bob leaves and comes back: Ada's list follows.
    await b.page.goto("about:blank");
    await waitMembers(a.page, ["Ada"]);
    await b.page.goto(`${base}/?room=lobby`);
    await b.page.waitForFunction(
      () => (globalThis as unknown as { demo: Demo }).demo?.state === "open",
      undefined,
      { timeout: 20_000 },
    );
    await waitMembers(a.page, ["Ada", "Bob"]);
    await waitText(b.page, "Hi Ada, I see you."); // the history on joining

    // The server dies (SIGKILL: no close frame). Both pages say so, then wait offline while it restarts and
    // Dee says three things; back online, they reconnect and show them.
    const crashed = servePids(server);
    for (const pid of crashed.slice(1)) kill(pid, "SIGKILL");
    await stop(server.child, "SIGKILL");
    for (const { page } of [a, b]) {
      await page.waitForFunction(
        () => /^Connection lost, reconnecting/.test(document.getElementById("banner")!.textContent!),
        undefined,
        {
          timeout: 20_000,
        },
      );
    }
    if (setup.screenshots) await a.page.screenshot({ path: screenshotPath("demo-reconnecting.png") });
    await Promise.all([a.context.setOffline(true), b.context.setOffline(true)]);
    server = await startServe(["--port", String(port), ...setup.flags]);
    const deeCookie = await login(port, "Dee");
    dee.push(await openChat(port, deeCookie, "lobby"));
    for (let i = 1; i <= 3; i++) {
      dee[0].socket.send(
        JSON.stringify({ type: "say", text: `said while you were away #${i}` }),
      );
    }
    await dee[0].waitFor((m) => m.type === "message" && m.text === "said while you were away #3");
    await Promise.all([a.context.setOffline(false), b.context.setOffline(false)]);
    for (const { page } of [a, b]) {
      await page.waitForFunction(
        () => (globalThis as unknown as { demo: Demo }).demo.missed.length === 1,
        undefined,
        { timeout: 30_000 },
      );
      await waitText(page, "said while you were away #3");
      const demo = await demoOf(page);
      assert.deepEqual(demo.missed, [3]);
      assert.deepEqual(
        demo.messages.filter((m) => m.missed).map((m) => m.text),
        [1, 2, 3].map((i) => `said while you were away #${i}`),
      );
      assert.match(await page.textContent("#banner") ?? "", /^Reconnected: 3 missed messages shown\.$/);
      const answer = demo.received.findLast((m) => m.type === "recovered")!;
      if (setup.durableHistory) {
        // The history is on Redis: the pages resume from the position of the last message they saw.
        assert.equal(answer.recovered, true, JSON.stringify(answer));
        assert.equal(answer.count, 3);
      } else {
        // The history died with the process: a new epoch, and the room's history as it is now instead.
        assert.equal(answer.recovered, false, JSON.stringify(answer));
        assert.match(String(answer.reason), /epoch/);
      }
    }
    await a.page.waitForFunction(
      () => (globalThis as unknown as { demo: Demo & { stats: unknown[] } }).demo.stats.length >= 3,
      undefined,
      {
        timeout: 20_000,
      },
    );
    if (setup.screenshots) await a.page.screenshot({ path: screenshotPath("demo-reconnected.png") });
    // And they go on live.
    await say(a.page, "Back, Bob?");
    await waitText(b.page, "Back, Bob?");
    await dee[0].waitFor((m) => m.type === "message" && m.text === "Back, Bob?");
  } finally {
    await Promise.all(dee.map((client) => client.close()));
    if (browser !== undefined) {
      await Promise.race([browser.close().catch(() => {}), pause(10_000)]);
    }
    for (const pid of pids) kill(pid, "SIGKILL");
    await stop(server.child);
    await proxy.close();
  }
}

const CHROMIUM_TEST =
  "two pages in a room talk, a third in another room hears none of it, presence updates, the figures match the wire; the server is killed and restarted, both pages reconnect and show what was said meanwhile";

test(
  `Chromium, one process (history in memory): ${CHROMIUM_TEST}`,
  { skip: chromiumSkip, timeout: 90_000 },
  () => chromiumScenario({ flags: [], durableHistory: false, acrossWorkers: false, screenshots: true }),
);

if (chromiumSkip === false) {
  redisTest(
    `Chromium, --workers 2 --redis (the room's pages on two processes, history on Redis): ${CHROMIUM_TEST}`,
    (redis) =>
      chromiumScenario({
        flags: ["--workers", "2", "--redis", redis.url],
        durableHistory: true,
        acrossWorkers: true,
        screenshots: false,
      }),
    { timeout: 90_000 },
  );
} else {
  test(`Chromium, --workers 2 --redis: ${CHROMIUM_TEST}`, { skip: chromiumSkip }, () => {});
}
