/**
 * Refused upgrades on every server path this runtime has (`serve()` everywhere; `listenDeno()` and
 * `Deno.serve` + `denoServe()` on Deno; `Bun.serve` + `bunServe()` on Bun; the others are skipped with the
 * reason):
 *
 * - a refused socket is really released: the process's open file descriptors (`/proc/self/fd`, Linux) are
 *   counted before and after 500 refusals of each kind, and must come back within a small slack in a few
 *   seconds (Deno's `node:net` kept every paused-then-ended socket open for good);
 * - where this library ends the socket itself (`serve()`, `listenDeno()`), it does so without cutting the
 *   response short: a client still sending gets the whole refusal and no reset, and a client that never
 *   closes is cut after `closeTimeout`;
 * - an upgrade request that declares a body (`Content-Length` other than 0, any `Transfer-Encoding`) is
 *   refused with 400 before any 101, so its body is never read as WebSocket frames (request smuggling
 *   behind a proxy that forwards the body); the same frame sent after a head without a body is echoed,
 *   which shows the refusal is what stops it.
 *
 * One process holds both the servers and the raw clients, so the count covers both; each exchange waits
 * for its socket to close, so only the server's side can be left open.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { bunServe } from "../lib/adapters/bun_serve.ts";
import { denoServe } from "../lib/adapters/deno_serve.ts";
import { listenDeno } from "../lib/adapters/deno_listen.ts";
import { listenBun } from "../lib/adapters/bun_listen.ts";
import { serve, type WebSocketHandler } from "../lib/adapters/serve.ts";
import { frame, utf8, WAIT_MS, withTimeout } from "./_raw_client.ts";
import { concatBytes } from "./_vectors.ts";

// ---------------------------------------------------------------------------------------------------------
// Server paths

interface Started {
  port: number;
  close(): Promise<void>;
}

/** Refuses `/deny` with 403, as an application's `upgrade` hook would. */
const hook = (request: Request) =>
  new URL(request.url).pathname === "/deny"
    ? new Response("Refused by the test hook\n", { status: 403 })
    : undefined;

/** Echoes every message. */
const websocket: WebSocketHandler = { message: (socket, data) => void socket.send(data).catch(() => {}) };

const isDeno = "Deno" in globalThis, isBun = "Bun" in globalThis;

const PATHS: {
  name: string;
  skip: string | false;
  /** Starts the server; `closeTimeout` goes to the paths that end refused sockets themselves. */
  start: (closeTimeout?: number) => Promise<Started>;
  /** This library ends the refused socket (the runtime's own server does on the others). */
  ownsSocket?: boolean;
  /** The runtime upgrades an HTTP/1.0 request before the handler could tell (its Request has no version). */
  acceptsHttp10?: boolean;
  /** The runtime refuses an upgrade with any Content-Length or Transfer-Encoding itself (its own 400). */
  refusesBodiesItself?: boolean;
}[] = [
  {
    name: "serve() (node:http)",
    skip: false,
    ownsSocket: true,
    start: async (closeTimeout) => {
      const server = await serve({ port: 0, upgrade: hook, websocket, closeTimeout });
      return { port: server.port, close: () => server.close() };
    },
  },
  {
    name: "listenDeno()",
    skip: isDeno ? false : "Deno.listen exists only on Deno",
    ownsSocket: true,
    start: async (closeTimeout) => {
      const server = await listenDeno({ port: 0, upgrade: hook, websocket, closeTimeout });
      return { port: server.port, close: () => server.close() };
    },
  },
  {
    name: "listenBun()",
    skip: isBun ? false : "Bun.listen exists only on Bun",
    ownsSocket: true,
    start: async (closeTimeout) => {
      const server = await listenBun({ port: 0, upgrade: hook, websocket, closeTimeout });
      return { port: server.port, close: () => server.close() };
    },
  },
  {
    name: "Deno.serve + denoServe()",
    skip: isDeno ? false : "Deno.serve exists only on Deno",
    acceptsHttp10: true,
    refusesBodiesItself: true,
    start: async () => {
      const controller = new AbortController();
      let port = 0, finished: Promise<void> = Promise.resolve();
      await new Promise<void>((resolve) => {
        finished = Deno.serve({
          port: 0,
          hostname: "127.0.0.1",
          signal: controller.signal,
          onListen: (address) => {
            port = address.port;
            resolve();
          },
        }, denoServe({ upgrade: hook, websocket })).finished;
      });
      return { port, close: async () => (controller.abort(), await finished) };
    },
  },
  {
    name: "Bun.serve + bunServe()",
    skip: isBun ? false : "Bun.serve exists only on Bun",
    acceptsHttp10: true,
    start: () => {
      const bun = (globalThis as unknown as {
        Bun: { serve(options: unknown): { port: number; stop(force?: boolean): Promise<void> | void } };
      }).Bun;
      const server = bun.serve({ port: 0, hostname: "127.0.0.1", ...bunServe({ upgrade: hook, websocket }) });
      return Promise.resolve({ port: server.port, close: async () => void await server.stop(true) });
    },
  },
];

// ---------------------------------------------------------------------------------------------------------
// Raw exchanges

/** What a raw client saw. */
interface Exchange {
  /** The response status. */
  status: number;
  /** The response headers. */
  headers: Headers;
  /** The response body, as text. */
  body: string;
  /** Every byte after the response (frames after a 101). */
  after: Uint8Array;
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** An upgrade request head without its blank line. */
function upgradeHead(extra: string[] = [], requestLine = "GET / HTTP/1.1"): string {
  return [
    requestLine,
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${KEY}`,
    "Sec-WebSocket-Version: 13",
    ...extra,
  ].join("\r\n") + "\r\n";
}

function indexOf(bytes: Uint8Array, pattern: Uint8Array, from = 0): number {
  outer: for (let i = from; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

const CRLFCRLF = utf8("\r\n\r\n"), LAST_CHUNK = utf8("0\r\n\r\n");

/**
 * Parses a response from the bytes received so far: `undefined` until it is complete (a body without a
 * length is complete only at the close). `end` is where the bytes after it start.
 */
function parseResponse(
  received: Uint8Array,
  closed: boolean,
): Omit<Exchange, "after"> & { end: number } | undefined {
  const headEnd = indexOf(received, CRLFCRLF);
  if (headEnd === -1) return undefined;
  const lines = new TextDecoder().decode(received.subarray(0, headEnd)).split("\r\n");
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const status = Number(lines[0].split(" ")[1]);
  const start = headEnd + 4;
  const chunked = headers.get("transfer-encoding")?.toLowerCase().includes("chunked") === true;
  let end: number;
  if (status === 101 || status === 204 || status === 304) end = start;
  else if (chunked) {
    const last = indexOf(received, LAST_CHUNK, start);
    if (last === -1) return undefined;
    end = last + LAST_CHUNK.length;
  } else if (headers.has("content-length")) {
    end = start + Number(headers.get("content-length"));
    if (received.length < end) return undefined;
  } else if (closed) end = received.length;
  else return undefined;
  let body = new TextDecoder().decode(received.subarray(start, end));
  if (chunked) body = body.replace(/(?:^|\r\n)[0-9a-fA-F]+\r\n/g, "").replace(/\r\n$/, "");
  return { status, headers, body, end };
}

/**
 * Sends `request` and reads the response. After a 101 it sends `then`, reads until `enough(after)` or
 * `linger` ms, then cuts the socket; after any other response it ends its side (as a client does after a
 * failed handshake) and waits for the server to close, collecting whatever else arrives. Bounded: rejects
 * after `WAIT_MS`.
 */
function exchange(
  port: number,
  request: string | Uint8Array,
  { linger = 0, enough = () => false, then }: {
    linger?: number;
    enough?: (after: Uint8Array) => boolean;
    then?: Uint8Array;
  } = {},
): Promise<Exchange> {
  const socket = connect(port, "127.0.0.1");
  const done = new Promise<Exchange>((resolve, reject) => {
    let received: Uint8Array = new Uint8Array(0);
    let response: ReturnType<typeof parseResponse>;
    let timer: ReturnType<typeof setTimeout> | undefined;
    socket.setNoDelay(true);
    socket.on("error", () => {}); // a reset shows as a close before the response
    socket.on("connect", () => socket.write(typeof request === "string" ? utf8(request) : request));
    socket.on("data", (chunk: Uint8Array) => {
      received = concatBytes([received, new Uint8Array(chunk)]);
      if (response === undefined) {
        response = parseResponse(received, false);
        if (response?.status === 101) {
          if (then !== undefined) socket.write(then);
          timer = setTimeout(() => socket.destroy(), linger);
        } else if (response !== undefined) socket.end();
      }
      if (response?.status === 101 && enough(received.subarray(response.end))) socket.destroy();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      response ??= parseResponse(received, true);
      if (response === undefined) {
        reject(
          new Error(
            `The socket closed before a complete response: ${
              JSON.stringify(new TextDecoder().decode(received))
            }`,
          ),
        );
        return;
      }
      const { end, ...rest } = response;
      resolve({ ...rest, after: received.slice(end) });
    });
  });
  return withTimeout(done, WAIT_MS, `a response from port ${port} and the server's close`).catch((error) => {
    socket.destroy();
    throw error;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Refusals release their sockets

/** A masked text frame "smuggled": 2 + 4 + 8 = 14 bytes. */
const SMUGGLED = frame(0x1, "smuggled");

/** The refusals counted, each sent 500 times. */
const REFUSALS: { kind: string; request: string | Uint8Array }[] = [
  {
    kind: "no Sec-WebSocket-Key",
    request: upgradeHead().replace(`Sec-WebSocket-Key: ${KEY}\r\n`, "") + "\r\n",
  },
  { kind: "Sec-WebSocket-Version: 8", request: upgradeHead().replace("Version: 13", "Version: 8") + "\r\n" },
  { kind: "POST", request: upgradeHead([], "POST / HTTP/1.1") + "\r\n" },
  { kind: "refused by the upgrade hook", request: upgradeHead([], "GET /deny HTTP/1.1") + "\r\n" },
  { kind: "HTTP/1.0", request: upgradeHead([], "GET / HTTP/1.0") + "\r\n" },
  { kind: "plain GET", request: "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" },
  {
    kind: "a frame as the body (Content-Length: 14)",
    request: concatBytes([utf8(upgradeHead([`Content-Length: ${SMUGGLED.length}`]) + "\r\n"), SMUGGLED]),
  },
];

const ROUNDS = 500, CONCURRENCY = 25, SLACK = 10, RELEASE_MS = 3000;
const hasProcFd = existsSync("/proc/self/fd");

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Waits (up to `RELEASE_MS`) for the fd count to come back to `limit` or below; returns the last count. */
async function settledFds(limit: number): Promise<number> {
  const deadline = Date.now() + RELEASE_MS;
  let count = openFds();
  while (count > limit && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    count = openFds();
  }
  return count;
}

describe("refused upgrades release their sockets", () => {
  for (const path of PATHS) {
    const skip = path.skip || (hasProcFd ? false : "/proc/self/fd exists only on Linux");
    test(
      `${path.name}: ${ROUNDS} refusals of each kind leave no socket open (fds back within ${SLACK} in ${
        RELEASE_MS / 1000
      } s)`,
      {
        skip,
        timeout: 60_000,
      },
      async () => {
        const server = await path.start();
        try {
          // One of each first: whatever a server opens once (lazily) is not a leak.
          for (const { request } of REFUSALS) await exchange(server.port, request);
          const baseline = openFds();
          const rows: { kind: string; statuses: Map<number, number>; before: number; after: number }[] = [];
          for (const { kind, request } of REFUSALS) {
            const before = openFds();
            const statuses = new Map<number, number>();
            for (let sent = 0; sent < ROUNDS; sent += CONCURRENCY) {
              const batch = await Promise.all(
                Array.from(
                  { length: Math.min(CONCURRENCY, ROUNDS - sent) },
                  () => exchange(server.port, request),
                ),
              );
              for (const { status } of batch) statuses.set(status, (statuses.get(status) ?? 0) + 1);
            }
            rows.push({ kind, statuses, before, after: await settledFds(baseline + SLACK) });
          }
          const shown = (statuses: Map<number, number>) =>
            [...statuses].map(([s, n]) => `${n}x${s}`).join(" ");
          const table = rows.map((r) => `${r.kind}: ${shown(r.statuses)}, fds ${r.before} -> ${r.after}`)
            .join("; ");
          console.log(`${path.name}: ${table}`);
          const leaking = rows.filter((r) => r.after > baseline + SLACK).map((r) => r.kind);
          assert.deepEqual(leaking, [], `sockets left open after ${ROUNDS} refusals: ${table}`);
          const accepted = rows.filter((r) =>
            r.statuses.has(101) && !(path.acceptsHttp10 && r.kind === "HTTP/1.0")
          );
          assert.deepEqual(
            accepted.map((r) => r.kind),
            [],
            `upgrades accepted that should be refused: ${table}`,
          );
        } finally {
          await server.close();
        }
      },
    );
  }
});

describe("refused upgrades are ended without cutting the response short", () => {
  const MiB = 1024 * 1024;
  for (const path of PATHS.filter((p) => p.ownsSocket)) {
    test(
      `${path.name}: a client still sending 4 MiB when refused gets the whole 400, no reset, and the close`,
      {
        skip: path.skip,
      },
      async () => {
        const server = await path.start();
        try {
          const request = concatBytes([
            utf8(upgradeHead().replace(`Sec-WebSocket-Key: ${KEY}\r\n`, "") + "\r\n"),
            new Uint8Array(4 * MiB),
          ]);
          const socket = connect(server.port, "127.0.0.1");
          let received = "", error: string | undefined;
          const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
          socket.on("data", (chunk: Uint8Array) => received += new TextDecoder().decode(chunk));
          socket.on("error", (e: Error & { code?: string }) => error = e.code ?? e.message);
          socket.on("connect", () => socket.end(request));
          await withTimeout(closed, WAIT_MS, "the refused socket to close").finally(() => socket.destroy());
          // Closing with unread input makes the kernel answer with a RST: the client's writes fail (EPIPE,
          // ECONNRESET) and the response can be lost on its way.
          assert.equal(
            error,
            undefined,
            `the client's socket failed: ${error}; it had read ${JSON.stringify(received)}`,
          );
          const response = parseResponse(utf8(received), true);
          assert.equal(response?.status, 400);
          assert.equal(response?.body, "Cannot upgrade: Sec-WebSocket-Key is not base64 of 16 bytes\n");
        } finally {
          await server.close();
        }
      },
    );

    test(`${path.name}: refused sockets whose client never closes are released after closeTimeout`, {
      skip: path.skip || (hasProcFd ? false : "/proc/self/fd exists only on Linux"),
    }, async () => {
      const CLIENTS = 50, CLOSE_TIMEOUT = 300;
      const server = await path.start(CLOSE_TIMEOUT);
      const clients: ReturnType<typeof connect>[] = [];
      try {
        const before = openFds();
        const request = utf8(upgradeHead().replace(`Sec-WebSocket-Key: ${KEY}\r\n`, "") + "\r\n");
        // Half-open clients: they read the refusal and the server's FIN, and never end their side.
        await Promise.all(Array.from({ length: CLIENTS }, () =>
          new Promise<void>((resolve) => {
            const socket = connect({ port: server.port, host: "127.0.0.1", allowHalfOpen: true });
            clients.push(socket);
            socket.on("error", () => {});
            socket.on("end", () => resolve());
            socket.on("connect", () => socket.write(request));
            socket.resume();
          })));
        const open = openFds();
        // Our clients' fds stay open; the server's must go.
        const after = await settledFds(before + CLIENTS + SLACK);
        assert(
          after <= before + CLIENTS + SLACK,
          `fds ${before} before, ${open} with ${CLIENTS} half-open clients, ${after} ${RELEASE_MS} ms later`,
        );
      } finally {
        for (const socket of clients) socket.destroy();
        await server.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// An upgrade with a body

describe("RFC 9110 §9.3.1: an upgrade request that declares a body is refused before any 101", () => {
  const CASES: { name: string; request: Uint8Array }[] = [
    {
      name: "Content-Length: 14 and a masked frame as the body",
      request: concatBytes([utf8(upgradeHead([`Content-Length: ${SMUGGLED.length}`]) + "\r\n"), SMUGGLED]),
    },
    {
      name: "Transfer-Encoding: chunked and the frame as one chunk",
      request: concatBytes([
        utf8(upgradeHead(["Transfer-Encoding: chunked"]) + "\r\n" + `${SMUGGLED.length.toString(16)}\r\n`),
        SMUGGLED,
        utf8("\r\n0\r\n\r\n"),
      ]),
    },
  ];

  for (const path of PATHS) {
    for (const { name, request } of CASES) {
      test(`${path.name}: ${name} gets 400 and no frame`, { skip: path.skip }, async () => {
        const server = await path.start();
        try {
          const answer = await exchange(server.port, request, {
            linger: 500,
            enough: (after) => after.length > 0,
          });
          assert.equal(answer.status, 400, `status ${answer.status}, body ${JSON.stringify(answer.body)}`);
          assert.equal(
            answer.after.length,
            0,
            `bytes after the refusal: ${new TextDecoder().decode(answer.after)}`,
          );
          // Deno.serve refuses these itself (its own empty 400) before the handler runs.
          if (!path.refusesBodiesItself) {
            assert.match(answer.body, /^Cannot upgrade: the request declares a body/);
          }
        } finally {
          await server.close();
        }
      });
    }

    // The frame goes after the 101 (Bun.serve answers bytes that come with the head with its own 400).
    const ECHO = concatBytes([new Uint8Array([0x81, 8]), utf8("smuggled")]);
    test(`${path.name}: the same frame sent as a frame after a head without a body is echoed (control)`, {
      skip: path.skip,
    }, async () => {
      const server = await path.start();
      try {
        const answer = await exchange(server.port, upgradeHead() + "\r\n", {
          then: SMUGGLED,
          linger: WAIT_MS - 500,
          enough: (after) => after.length >= ECHO.length,
        });
        assert.equal(answer.status, 101);
        assert.deepEqual(answer.after.subarray(0, ECHO.length), ECHO);
      } finally {
        await server.close();
      }
    });

    // Deno.serve refuses an upgrade with any Content-Length itself, 0 included.
    const zeroSkip = path.skip || (path.refusesBodiesItself ? "this runtime refuses it itself" : false);
    test(`${path.name}: Content-Length: 0 declares no body: 101, and a frame after it is echoed`, {
      skip: zeroSkip,
    }, async () => {
      const server = await path.start();
      try {
        const answer = await exchange(server.port, upgradeHead(["Content-Length: 0"]) + "\r\n", {
          then: SMUGGLED,
          linger: WAIT_MS - 500,
          enough: (after) => after.length >= ECHO.length,
        });
        assert.equal(answer.status, 101);
        assert.deepEqual(answer.after.subarray(0, ECHO.length), ECHO);
      } finally {
        await server.close();
      }
    });
  }
});
