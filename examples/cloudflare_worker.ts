/// <reference path="./_cloudflare_sockets.d.ts" />
/**
 * A Cloudflare Worker that is a WebSocket client: for each HTTP request it connects to the server named by
 * `?url=` over `connect()` from `cloudflare:sockets`, offers permessage-deflate, sends text and binary
 * messages of 0 B to 64 KiB, reads the echoes, asks the server what it received (the text `__report__`),
 * closes with 1000, and answers with a JSON {@linkcode WorkerReport}.
 *
 *   GET /?url=ws://127.0.0.1:9001/&api=connection    connectTransport() and the Connection it returns
 *   GET /?url=ws://127.0.0.1:9001/&api=stream        WebSocketStream with the `transport` option
 *   GET /?url=ws://127.0.0.1:9001/&api=websocket     WebSocket with the `transport` option
 *   &sizes=0,20,65536                                 other message sizes (bytes; each sent as text and binary)
 *
 * The messages are those of the interop tests (`messageSet` in tests/_interop.ts), so a test can check
 * them against its own digests. Any echo server works; one that does not answer `__report__` with JSON
 * echoes it, and `peerReport` is then `null`. tests/interop_edge_test.ts bundles this file with
 * `deno bundle` and runs it in workerd.
 *
 * @module
 */

import { connect, type Socket } from "cloudflare:sockets";
import { connectTransport, WebSocket, WebSocketStream } from "../mod.ts";

/** A message as the Worker saw it. */
export interface Digest {
  type: "text" | "binary";
  /** Bytes (UTF-8 bytes for text). */
  length: number;
  /** SHA-256, lowercase hex. */
  sha256: string;
}

/** What the Worker answers. */
export interface WorkerReport {
  /** `connection`, `stream` or `websocket`. */
  api: string;
  /** The server's URL. */
  url: string;
  /** The `Sec-WebSocket-Extensions` the server answered, as the client API reports it. */
  extensions: string;
  /** What the Worker sent, in order. */
  sent: Digest[];
  /** What came back, in order. */
  echoes: Digest[];
  /** Every echo equals, byte for byte, what was sent. */
  intact: boolean;
  /** The server's answer to `__report__`, parsed; `null` when it was not a JSON object. */
  peerReport: unknown;
  /** The close frame received (code, reason) and whether the closing handshake completed. */
  close: { code: number; reason: string; wasClean: boolean };
  /** Milliseconds from connecting to closed. */
  ms: number;
}

/** Bound for each step (connect, each message, the close). */
const STEP_MS = 10_000;
const DEFAULT_SIZES = [0, 20, 125, 1000, 65536];
const MAX_SIZE = 4 * 1024 * 1024;
const REASON = "wsengine done";
const encoder = new TextEncoder();

/** A message to send. */
type Message = string | Uint8Array<ArrayBuffer>;

/** One client connection, whichever API opened it. */
interface Session {
  extensions: string;
  send(message: Message): Promise<void>;
  receive(): Promise<string | Uint8Array>;
  /** Closes with 1000 and {@linkcode REASON}; resolves with what the server answered. */
  close(): Promise<WorkerReport["close"]>;
}

/** The transport: a TCP socket from workerd (TLS for `wss:`, which the tests do not cover). */
function openSocket(url: URL): Socket {
  const secure = url.protocol === "wss:";
  return connect(
    { hostname: url.hostname, port: Number(url.port || (secure ? 443 : 80)) },
    { secureTransport: secure ? "on" : "off" },
  );
}

export default {
  async fetch(request: Request): Promise<Response> {
    const params = new URL(request.url).searchParams;
    const target = params.get("url");
    const api = params.get("api") ?? "stream";
    if (target === null || !["connection", "stream", "websocket"].includes(api)) {
      const usage = "Usage: /?url=ws://host:port/&api=connection|stream|websocket[&sizes=0,20,65536]\n";
      return new Response(usage, { status: 400 });
    }
    const sizes = params.get("sizes")?.split(",").map(Number) ?? DEFAULT_SIZES;
    if (sizes.some((size) => !Number.isInteger(size) || size < 0 || size > MAX_SIZE)) {
      return new Response(`Cannot send: sizes must be integers in 0..${MAX_SIZE}\n`, { status: 400 });
    }
    try {
      return Response.json(await exchange(api, target, sizes));
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 500 });
    }
  },
};

async function exchange(api: string, url: string, sizes: number[]): Promise<WorkerReport> {
  const messages: Message[] = [];
  sizes.forEach((size, i) => messages.push(textMessage(size, 2 * i), binaryMessage(size, 2 * i + 1)));
  const started = Date.now();
  const session = await within(open(api, url), "the opening handshake");
  const echoes: (string | Uint8Array)[] = [];
  for (const message of messages) {
    await within(session.send(message), "a send");
    echoes.push(await within(session.receive(), "an echo"));
  }
  await session.send("__report__");
  const answer = await within(session.receive(), "the answer to __report__");
  const close = await within(session.close(), "the closing handshake");
  return {
    api,
    url,
    extensions: session.extensions,
    sent: await Promise.all(messages.map(digest)),
    echoes: await Promise.all(echoes.map(digest)),
    intact: messages.every((message, i) => same(message, echoes[i])),
    peerReport: parseReport(answer),
    close,
    ms: Date.now() - started,
  };
}

function open(api: string, url: string): Promise<Session> {
  if (api === "connection") return openConnection(url);
  if (api === "websocket") return openWebSocket(url);
  return openStream(url);
}

/** `connectTransport`: the handshake over the socket, then the `Connection` it returns. */
async function openConnection(url: string): Promise<Session> {
  const { connection, extensions } = await connectTransport(url, openSocket(new URL(url)));
  const inbox = new Inbox();
  connection.onmessage = (data) => inbox.push(data);
  return {
    extensions,
    send: (message) => connection.send(message),
    receive: () => inbox.next(),
    close: () => connection.close(1000, REASON),
  };
}

/** `WebSocketStream` with the `transport` option. */
async function openStream(url: string): Promise<Session> {
  const socket = new WebSocketStream(url, { transport: openSocket });
  const { readable, writable, extensions } = await socket.opened;
  const writer = writable.getWriter();
  const reader = readable.getReader();
  return {
    extensions,
    send: (message) => writer.write(message),
    async receive() {
      const { value, done } = await reader.read();
      if (done) throw new Error("Cannot receive: the stream ended");
      return value;
    },
    async close() {
      socket.close({ closeCode: 1000, reason: REASON });
      // `closed` resolves only after a clean closing handshake (it rejects otherwise).
      const { closeCode, reason } = await socket.closed;
      return { code: closeCode ?? 1005, reason: reason ?? "", wasClean: true };
    },
  };
}

/** The WHATWG `WebSocket` with the `transport` option. */
function openWebSocket(url: string): Promise<Session> {
  const socket = new WebSocket(url, [], { transport: openSocket });
  socket.binaryType = "arraybuffer";
  const inbox = new Inbox();
  socket.onmessage = (event) => {
    const data = (event as MessageEvent).data;
    inbox.push(typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer));
  };
  const closed = new Promise<WorkerReport["close"]>((resolve) => {
    socket.onclose = (event) => {
      const { code, reason, wasClean } = event as CloseEvent;
      resolve({ code, reason, wasClean });
    };
  });
  return new Promise((resolve, reject) => {
    socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    socket.onopen = () =>
      resolve({
        extensions: socket.extensions,
        send: (message) => Promise.resolve(socket.send(message)),
        receive: () => inbox.next(),
        close: () => {
          socket.close(1000, REASON);
          return closed;
        },
      });
  });
}

/** Messages in arrival order, read with `next()`. */
class Inbox {
  readonly #messages: (string | Uint8Array)[] = [];
  readonly #waiters: ((message: string | Uint8Array) => void)[] = [];

  push(message: string | Uint8Array): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(message);
    else this.#messages.push(message);
  }

  next(): Promise<string | Uint8Array> {
    const message = this.#messages.shift();
    if (message !== undefined) return Promise.resolve(message);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${STEP_MS} ms waiting for ${what}`)), STEP_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function digest(message: string | Uint8Array): Promise<Digest> {
  const bytes = typeof message === "string" ? encoder.encode(message) : message.slice();
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return {
    type: typeof message === "string" ? "text" : "binary",
    length: bytes.length,
    sha256: Array.from(hash, (byte) => byte.toString(16).padStart(2, "0")).join(""),
  };
}

function same(sent: string | Uint8Array, echo: string | Uint8Array): boolean {
  if (typeof sent === "string" || typeof echo === "string") return sent === echo;
  return sent.length === echo.length && sent.every((byte, i) => byte === echo[i]);
}

function parseReport(answer: string | Uint8Array): unknown {
  if (typeof answer !== "string") return null;
  try {
    const report = JSON.parse(answer);
    return typeof report === "object" ? report : null;
  } catch {
    return null;
  }
}

/**
 * JSON-like text of `size` UTF-16 units with 2- and 3-byte UTF-8 characters (no surrogate pairs, so any
 * cut is valid): compressible, like real traffic. The same as `textMessage` in tests/_interop.ts.
 */
function textMessage(size: number, seed: number): string {
  let text = "";
  for (let i = seed; text.length < size; i++) {
    text +=
      JSON.stringify({ id: i, user: `usér${i % 37}`, text: `message ✓ number ${i} — жук`, ok: i % 2 === 0 }) +
      "\n";
  }
  return text.slice(0, size);
}

/** Alternately 32 bytes of a pattern and 32 pseudo-random bytes. The same as `binaryMessage` in tests/_interop.ts. */
function binaryMessage(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = i % 64 < 32 ? i & 0x0f : x >>> 24;
  }
  return bytes;
}
