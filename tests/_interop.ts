/**
 * Shared machinery for the interop tests (`tests/interop_*_test.ts`): our server and our client against
 * real peers over 127.0.0.1, with a tapping TCP proxy between the two ends so that every test can prove
 * what crossed the wire (the extension offer and answer, RSV1 and compressed sizes, the close frames).
 *
 * Every exchange runs the same small protocol, whichever end is ours:
 * - the client end connects; the end that is ours sends N messages; the peer echoes each one back, text as
 *   text and binary as binary;
 * - then ours sends the text `__report__`; the peer answers with a JSON report of what it received
 *   (type, byte length and SHA-256 of each message), which proves the direction towards the peer by itself;
 * - then one end closes with 1000 and a reason: ours with "wsengine done", or the peer with "peer done" when
 *   ours sends the text `__close__`. By default the client end closes; the "server closes" cases turn it round.
 *
 * Each interop test appends a row to `.test-results/interop-<runtime>.jsonl`; `scripts/interop_matrix.ts`
 * turns the rows of every runtime (deno, bun, node) into the markdown matrix.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from "node:net";
import process from "node:process";
import { connectNode } from "../lib/adapters/node_client.ts";
import { handleNodeUpgrade, type NodeUpgradeOptions } from "../lib/adapters/node_http.ts";
import type { ClientDeflateOptions } from "../lib/handshake/client_handshake.ts";
import type { CloseResult, Connection } from "../lib/connection.ts";
import { repoPath, RUNTIME } from "./_files.ts";
import { WireTap } from "./_wire_tap.ts";

// ---------------------------------------------------------------------------------------------------------
// The matrix rows

/** Our server, the peer the client. */
export const OUR_SERVER = "our server ← peer client";
/** Our client, the peer the server. */
export const OUR_CLIENT = "our client → peer server";
/**
 * Which end is ours. Where the peer is the runtime our client runs in (workerd), the direction names the
 * server instead: "our client → ws server".
 */
export type Direction = typeof OUR_SERVER | typeof OUR_CLIENT | `our client → ${string} server`;

/** One line of `.test-results/interop-<runtime>.jsonl`. */
export interface MatrixRow {
  /** The peer: "Chromium", "ws", "python-websockets", "Bun", "Deno", "workerd client (cloudflare:sockets)". */
  peer: string;
  /** Which end is ours. */
  direction: Direction;
  /** `"off"` or `"on (parameters)"`. */
  compression: string;
  /** `"deno"`, `"bun"` or `"node"`. */
  runtime: string;
  /** `"n/a"`: the peer exists only in the other runtime; `"skip"`: the peer is not installed. */
  result: "pass" | "fail" | "skip" | "n/a";
  /** The test's name. */
  test: string;
  /** How long the test took. */
  ms?: number;
  /** The failure or the reason for a skip. */
  detail?: string;
  /** When the row was written (ISO 8601). */
  at: string;
}

const RESULTS_DIR = repoPath(".test-results/");

function record(row: Omit<MatrixRow, "runtime" | "at">): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const line: MatrixRow = { ...row, runtime: RUNTIME, at: new Date().toISOString() };
  appendFileSync(`${RESULTS_DIR}interop-${RUNTIME}.jsonl`, JSON.stringify(line) + "\n");
}

// ---------------------------------------------------------------------------------------------------------
// Peers: are they here?

/** Whether a peer can run here, and if not, whether its absence is a failure under `REQUIRE_PEERS=1`. */
export type Availability =
  | { available: true }
  | { available: false; reason: string; required: boolean };

/** CI sets `REQUIRE_PEERS=1`: a missing installed peer (Chromium, python3-websockets) then fails. */
export const REQUIRE_PEERS: boolean = process.env.REQUIRE_PEERS === "1";

/** Debian's Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";
/** Debian's python3, which sees Debian's python3-websockets (the python3 first on PATH may not). */
export const PYTHON_PATH = "/usr/bin/python3";

/** @returns Whether Debian's `chromium` package is installed. */
export function chromiumAvailability(): Availability {
  if (existsSync(CHROMIUM_PATH)) return { available: true };
  return {
    available: false,
    reason: `${CHROMIUM_PATH} is missing (apt-get install chromium)`,
    required: true,
  };
}

/** @returns Whether Debian's `python3-websockets` package is installed. */
export function pythonAvailability(): Availability {
  if (!existsSync(PYTHON_PATH)) {
    return {
      available: false,
      reason: `${PYTHON_PATH} is missing (apt-get install python3-websockets)`,
      required: true,
    };
  }
  const probe = spawnSync(PYTHON_PATH, ["-c", "import websockets"], { timeout: 10_000 });
  if (probe.status === 0) return { available: true };
  return {
    available: false,
    reason: "python3 cannot import websockets (apt-get install python3-websockets)",
    required: true,
  };
}

/**
 * @param name The runtime whose built-in WebSocket client and server are the peer.
 * @returns Available only under that runtime; elsewhere "n/a", never required.
 */
export function runtimeAvailability(name: "Bun" | "Deno"): Availability {
  if (name in globalThis) return { available: true };
  return {
    available: false,
    reason: `${name}'s own WebSocket exists only under ${name.toLowerCase()} test`,
    required: false,
  };
}

/** One cell of the matrix. */
export interface InteropCase {
  peer: string;
  direction: Direction;
  compression: string;
  /** What the test proves, for its name. */
  proves: string;
  /** @default available */
  availability?: Availability;
  /** Milliseconds for the whole test (bun's default, from bunfig.toml, is 20 s). @default {20000} */
  timeout?: number;
}

/**
 * Registers an interop test and records its row. An unavailable peer is skipped with the reason, except
 * that under `REQUIRE_PEERS=1` a required one fails.
 *
 * @param c The cell.
 * @param fn The test body.
 */
export function interopTest(c: InteropCase, fn: () => Promise<void>): void {
  const ends = c.direction === OUR_SERVER
    ? `our server ← ${c.peer} client`
    : c.direction === OUR_CLIENT
    ? `our client → ${c.peer} server`
    : `${c.peer}: ${c.direction}`;
  const name = `${ends}, compression ${c.compression}: ${c.proves}`;
  const row = { peer: c.peer, direction: c.direction, compression: c.compression, test: name };
  const availability = c.availability ?? { available: true };
  if (!availability.available) {
    if (availability.required && REQUIRE_PEERS) {
      test(name, () => {
        record({ ...row, result: "fail", detail: availability.reason });
        throw new Error(`Cannot run the interop test: ${availability.reason}, and REQUIRE_PEERS=1`);
      });
      return;
    }
    record({ ...row, result: availability.required ? "skip" : "n/a", detail: availability.reason });
    test(name, { skip: availability.reason }, () => {});
    return;
  }
  test(name, { timeout: c.timeout ?? 20_000 }, async () => {
    const start = performance.now();
    try {
      await fn();
      record({ ...row, result: "pass", ms: Math.round(performance.now() - start) });
    } catch (error) {
      record({
        ...row,
        result: "fail",
        ms: Math.round(performance.now() - start),
        detail: String(error).slice(0, 500),
      });
      throw error;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Time bounds

/** Default bound for one step (an exchange, a close, a process start). */
export const STEP_MS = 15_000;

/**
 * @param promise What to wait for.
 * @param ms The bound.
 * @param what What is awaited, for the error.
 * @returns The promise's value.
 * @throws {Error} When the bound passes first.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------------------
// Messages and the peer's report

/** Asks the peer for its report. */
export const REPORT_REQUEST = "__report__";
/** Asks the peer to close with 1000 and {@linkcode PEER_REASON}. */
export const CLOSE_REQUEST = "__close__";
/** The reason the peer closes with. */
export const PEER_REASON = "peer done";
/** The reason our end closes with. */
export const OUR_REASON = "wsengine done";

/** A message as the peer saw it. */
export interface MessageDigest {
  type: "text" | "binary";
  /** Bytes (UTF-8 bytes for text). */
  length: number;
  /** SHA-256, lowercase hex. */
  sha256: string;
}

/** The peer's answer to {@linkcode REPORT_REQUEST}. */
export interface PeerReport {
  count: number;
  messages: MessageDigest[];
}

/**
 * @param message A message.
 * @returns Its type, byte length and SHA-256.
 */
export function digest(message: string | Uint8Array): MessageDigest {
  const bytes = typeof message === "string" ? new TextEncoder().encode(message) : message;
  return {
    type: typeof message === "string" ? "text" : "binary",
    length: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/** @returns The message's length in bytes (UTF-8 for text). */
export function byteLength(message: string | Uint8Array): number {
  return typeof message === "string" ? new TextEncoder().encode(message).length : message.length;
}

/** The peer's side of the protocol for in-process peers: echo, report, close when asked. */
export class EchoRecorder {
  readonly #received: MessageDigest[] = [];

  /**
   * @param message A message from our end.
   * @returns What to send back: the message itself or the report; `undefined` for the close request (the
   * caller then closes with 1000 and {@linkcode PEER_REASON}).
   */
  reply(message: string | Uint8Array): string | Uint8Array | undefined {
    if (message === CLOSE_REQUEST) return undefined;
    if (message === REPORT_REQUEST) {
      return JSON.stringify({ count: this.#received.length, messages: this.#received });
    }
    this.#received.push(digest(message));
    return message;
  }
}

/**
 * JSON-like text of `size` UTF-16 units: compressible, like real traffic, with 2- and 3-byte UTF-8
 * characters (no surrogate pairs, so any cut is valid).
 */
export function textMessage(size: number, seed: number): string {
  let text = "";
  for (let i = seed; text.length < size; i++) {
    text +=
      JSON.stringify({ id: i, user: `usér${i % 37}`, text: `message ✓ number ${i} — жук`, ok: i % 2 === 0 }) +
      "\n";
  }
  return text.slice(0, size);
}

/** Binary of `size` bytes: alternately 32 bytes of a pattern and 32 pseudo-random bytes. */
export function binaryMessage(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = i % 64 < 32 ? i & 0x0f : x >>> 24;
  }
  return bytes;
}

/** A variation on a peer's main configuration. */
export interface Variant {
  /** Added to the configuration's label. */
  label: string;
  /** How our end sends. */
  sending?: Sending;
  /** The server end starts the closing handshake (by default the client end does). */
  serverCloses?: boolean;
}

/**
 * What every peer also gets, on its main configuration: our messages in frames of 16 KiB (one DEFLATE
 * stream cut into frames; pieces each compressed and flushed on their own), and the close started by the
 * server end.
 */
export const VARIANTS: readonly Variant[] = [
  { label: "ours fragmented: fragmentSize 16 KiB", sending: { fragmentSize: 16 * 1024 } },
  { label: "ours streamed: sendFragment 16 KiB", sending: { pieceSize: 16 * 1024 } },
  { label: "server closes", serverCloses: true },
];

/**
 * @param base A configuration's label, like `on (default)`.
 * @param variant The variant.
 * @returns The label of the variant, like `on (default; server closes)`.
 */
export function variantLabel(base: string, variant: Variant): string {
  return base.endsWith(")") ? `${base.slice(0, -1)}; ${variant.label})` : `${base} (${variant.label})`;
}

/** Sizes every peer gets: empty, small, 64 KiB. */
export const BASE_SIZES: readonly number[] = [0, 20, 125, 1000, 65536];

/**
 * @param sizes Message sizes.
 * @returns A text and a binary message of each size.
 */
export function messageSet(sizes: readonly number[]): (string | Uint8Array)[] {
  const out: (string | Uint8Array)[] = [];
  sizes.forEach((size, i) => out.push(textMessage(size, 2 * i), binaryMessage(size, 2 * i + 1)));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Our server, our exchange

/** Messages of a connection, read with a bounded wait. */
export class Inbox {
  readonly #messages: (string | Uint8Array)[] = [];
  #waiter: (() => void) | undefined;

  /** @param connection The connection whose messages to collect (its `onmessage` is taken). */
  constructor(connection: Connection) {
    connection.onmessage = (message) => {
      this.#messages.push(message);
      this.#waiter?.();
    };
  }

  /**
   * @param count How many messages.
   * @param ms The bound.
   * @returns The next `count` messages.
   */
  async take(count: number, ms: number): Promise<(string | Uint8Array)[]> {
    const deadline = Date.now() + ms;
    while (this.#messages.length < count) {
      const arrived = new Promise<void>((resolve) => this.#waiter = resolve);
      await withTimeout(
        arrived,
        Math.max(0, deadline - Date.now()),
        `message ${this.#messages.length + 1} of ${count}`,
      );
    }
    return this.#messages.splice(0, count);
  }
}

/** An accepted upgrade on our server. */
export interface OurUpgrade {
  connection: Connection;
  inbox: Inbox;
  /** What our server answered in `Sec-WebSocket-Extensions`. */
  extensions: string;
}

/** Our `node:http` server with the engine's upgrade adapter. */
export interface OurServer {
  port: number;
  /** The next accepted upgrade. */
  nextUpgrade(ms?: number): Promise<OurUpgrade>;
  /** Every connection accepted, for cleanup. */
  readonly connections: Connection[];
  close(): Promise<void>;
}

/**
 * Starts our server on 127.0.0.1 (a free port).
 *
 * @param options The upgrade options (`deflate` ...).
 * @param page HTML served for plain GET requests.
 * @returns The server.
 */
export async function startOurServer(
  options: NodeUpgradeOptions,
  page = "<!doctype html><title>wsengine</title>",
): Promise<OurServer> {
  const upgrades: OurUpgrade[] = [];
  const connections: Connection[] = [];
  const sockets = new Set<{ destroy(): void }>();
  let wake: (() => void) | undefined;
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(page);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("upgrade", async (req, socket, head) => {
    const upgrade = await handleNodeUpgrade(req, socket, head, options);
    if (upgrade === undefined) return;
    connections.push(upgrade.connection);
    upgrades.push({
      connection: upgrade.connection,
      inbox: new Inbox(upgrade.connection),
      extensions: upgrade.extensions,
    });
    wake?.();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    async nextUpgrade(ms = STEP_MS) {
      const deadline = Date.now() + ms;
      while (upgrades.length === 0) {
        const arrived = new Promise<void>((resolve) => wake = resolve);
        await withTimeout(arrived, Math.max(0, deadline - Date.now()), "a WebSocket upgrade on our server");
      }
      return upgrades.shift()!;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * How our end sends each message: whole (one frame, the default); split into frames of at most
 * `fragmentSize` payload bytes after compression (`send` with `fragmentSize`); or streamed with
 * `sendFragment` in pieces of `pieceSize` (UTF-16 units for text, bytes for binary), each piece compressed
 * and flushed on its own.
 */
export type Sending = { fragmentSize: number } | { pieceSize: number };

async function sendOne(
  connection: Connection,
  message: string | Uint8Array,
  sending: Sending | undefined,
): Promise<void> {
  if (sending === undefined) return connection.send(message);
  if ("fragmentSize" in sending) return connection.send(message, { fragmentSize: sending.fragmentSize });
  const size = sending.pieceSize;
  if (message.length <= size) return connection.send(message);
  for (let start = 0; start < message.length; start += size) {
    const end = Math.min(start + size, message.length);
    const piece = typeof message === "string" ? message.slice(start, end) : message.subarray(start, end);
    await connection.sendFragment(piece, end === message.length);
  }
}

/** Which end starts the closing handshake. */
export type Closer = "ours" | "peer";

/** What our end saw of an exchange. */
export interface Exchange {
  /** The peer's echoes. */
  echoes: (string | Uint8Array)[];
  /** The peer's report of what it received. */
  report: PeerReport;
  /** How the connection ended, for our end. */
  close: CloseResult;
}

/**
 * Runs our end of the exchange: sends the messages, collects the echoes, asks for the report, then either
 * closes with 1000 and {@linkcode OUR_REASON} or asks the peer to close and waits for it.
 *
 * @param connection Our connection.
 * @param inbox Its messages.
 * @param messages What to send.
 * @param options `closer`: which end closes; `sending`: how our end sends; `ms`: bound per step.
 * @returns What came back.
 */
export async function runExchange(
  connection: Connection,
  inbox: Inbox,
  messages: readonly (string | Uint8Array)[],
  options: { closer: Closer; ms?: number; sending?: Sending },
): Promise<Exchange> {
  const ms = options.ms ?? STEP_MS;
  for (const message of messages) {
    await withTimeout(sendOne(connection, message, options.sending), ms, "send backpressure to clear");
  }
  const echoes = await inbox.take(messages.length, ms);
  await connection.send(REPORT_REQUEST);
  const [answer] = await inbox.take(1, ms);
  assert.equal(typeof answer, "string", "the report is text");
  const report = JSON.parse(answer as string) as PeerReport;
  if (options.closer === "peer") await connection.send(CLOSE_REQUEST);
  const close = options.closer === "peer"
    ? await withTimeout(connection.closed, ms, "the peer to close")
    : await withTimeout(connection.close(1000, OUR_REASON), ms, "the closing handshake");
  return { echoes, report, close };
}

/**
 * Asserts that every message arrived intact both ways: the echoes equal what was sent (so the peer's
 * direction is intact), and the peer's report matches (so ours is).
 *
 * @param messages What our end sent.
 * @param exchange What came back.
 */
export function assertIntact(messages: readonly (string | Uint8Array)[], exchange: Exchange): void {
  assert.equal(exchange.echoes.length, messages.length, "echo count");
  messages.forEach((sent, i) => {
    const echo = exchange.echoes[i];
    const what = `echo ${i} (${typeof sent === "string" ? "text" : "binary"}, ${byteLength(sent)} bytes)`;
    if (typeof sent === "string") {
      assert.equal(typeof echo, "string", `${what} is text`);
      assert.ok(echo === sent, `${what} equals what was sent`);
    } else {
      assert.ok(echo instanceof Uint8Array, `${what} is binary`);
      assert.ok(sameBytes(echo, sent), `${what} equals what was sent`);
    }
  });
  assert.equal(exchange.report.count, messages.length, "messages the peer received");
  assert.deepEqual(exchange.report.messages, messages.map(digest), "the peer received every message intact");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// The tapping proxy

/** One TCP connection through the proxy, read both ways. */
export interface TapSession {
  /** Client to server: the request head, then masked frames. */
  up: WireTap;
  /** Server to client: the response head, then frames. */
  down: WireTap;
  /** Resolves when both sockets have closed. */
  ended: Promise<void>;
  /** Which end closed its side of the TCP connection first (FIN or reset), once one has. */
  firstToClose: "client" | "server" | undefined;
}

/** A TCP proxy on 127.0.0.1 that records what passes. */
export interface TapProxy {
  port: number;
  /** One per accepted TCP connection. */
  readonly sessions: TapSession[];
  close(): Promise<void>;
}

/**
 * Starts a proxy to `127.0.0.1:targetPort`. Each chunk is read by the tap before it is forwarded, so when an
 * end has received something, the tap has seen it.
 *
 * @param targetPort Where to forward.
 * @returns The proxy.
 */
export async function startTapProxy(targetPort: number): Promise<TapProxy> {
  const sessions: TapSession[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((inbound) => {
    const outbound = connect({ host: "127.0.0.1", port: targetPort });
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    sockets.add(inbound);
    sockets.add(outbound);
    const up = new WireTap({ role: "server", head: true });
    const down = new WireTap({ role: "client", head: true });
    const closedOnce = (socket: Socket) =>
      new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const ended = Promise.all([closedOnce(inbound), closedOnce(outbound)]).then(() => {});
    const session: TapSession = { up, down, ended, firstToClose: undefined };
    inbound.once("end", () => session.firstToClose ??= "client");
    inbound.once("close", () => session.firstToClose ??= "client");
    outbound.once("end", () => session.firstToClose ??= "server");
    outbound.once("close", () => session.firstToClose ??= "server");
    forward(inbound, outbound, up);
    forward(outbound, inbound, down);
    sessions.push(session);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function forward(from: Socket, to: Socket, tap: WireTap): void {
  from.on("data", (chunk: Uint8Array) => {
    tap.push(chunk);
    if (!to.destroyed && !to.write(chunk)) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  });
  from.on("end", () => to.end());
  from.on("error", () => to.destroy());
  from.on("close", () => {
    if (!to.writableEnded) to.destroy();
  });
}

/**
 * @param proxy The proxy.
 * @returns The one WebSocket session that went through it.
 */
export function webSocketSession(proxy: TapProxy): TapSession {
  const sessions = proxy.sessions.filter((s) => /^upgrade:\s*websocket/im.test(s.up.head ?? ""));
  assert.equal(
    sessions.length,
    1,
    `WebSocket sessions through the proxy (of ${proxy.sessions.length} TCP connections)`,
  );
  return sessions[0];
}

// ---------------------------------------------------------------------------------------------------------
// What the wire must show

/**
 * A `Sec-WebSocket-Extensions` value in a canonical form: lowercase, no spaces, parameters sorted, one
 * extension per `,`. `null` (no header) becomes `""`.
 *
 * @param value The header value.
 * @returns The canonical form.
 */
export function canonicalExtensions(value: string | null): string {
  if (value === null) return "";
  return value.split(",").map((extension) => {
    const [name, ...params] = extension.split(";").map((part) =>
      part.replace(/\s+/g, "").replace(/"/g, "").toLowerCase()
    );
    return [name, ...params.filter((p) => p !== "").sort()].join("; ");
  }).filter((e) => e !== "").join(", ");
}

/** What a test expects to see on the wire. */
export interface WireExpectation {
  /** Which end is ours. */
  ours: "server" | "client";
  /** The client's `Sec-WebSocket-Extensions` (any order, any case), or `null` when none is expected. */
  offer: string | null;
  /** The server's `Sec-WebSocket-Extensions`, or `null` when none is expected. */
  answer: string | null;
  /** Whether our end's data messages must be compressed (the large ones; small ones may go as they are). */
  weCompress: boolean;
  /** Whether the peer's must be. */
  peerCompresses: boolean;
  /** The peer's own threshold: its messages from this size on must be compressed. @default {MUST_COMPRESS_FROM} */
  peerCompressesFrom?: number;
  /** How our end sent (then checked on the wire: the frame sizes, RSV1 on the first frame only). */
  sending?: Sending;
  /** Which end sends the first close frame (with its reason: {@linkcode OUR_REASON}, {@linkcode PEER_REASON}). */
  closer: Closer;
}

/** Messages at least this long must be compressed when compression is expected. */
export const MUST_COMPRESS_FROM = 1000;

/**
 * Asserts what crossed the wire: the extension offer and answer, that compression was used (RSV1 set, and
 * compressible text smaller than its payload) exactly when expected, the message types, and the close
 * frames (1000 with the reason from the closer, 1000 back).
 *
 * @param session The proxy's session.
 * @param messages What our end sent (the peer echoed the same).
 * @param expected The expectation.
 */
export async function assertWire(
  session: TapSession,
  messages: readonly (string | Uint8Array)[],
  expected: WireExpectation,
): Promise<void> {
  await withTimeout(session.ended, STEP_MS, "both TCP connections through the proxy to close");
  const fromClient = session.up, fromServer = session.down;
  if (process.env.INTEROP_DEBUG === "1") console.log(JSON.stringify(describeSession(session), null, 1));
  const ours = expected.ours === "server" ? fromServer : fromClient;
  const peers = expected.ours === "server" ? fromClient : fromServer;
  for (const [who, tap] of [["client", fromClient], ["server", fromServer]] as const) {
    assert.equal(tap.error, undefined, `the ${who}'s bytes parse as frames`);
    assert.deepEqual(tap.violations, [], `the ${who}'s frames`);
  }
  assert.match(fromClient.head ?? "", /^GET \//, "the request line");
  assert.match(fromServer.head ?? "", /^HTTP\/1\.1 101/, "the status line");
  assert.equal(
    canonicalExtensions(fromClient.header("sec-websocket-extensions")),
    canonicalExtensions(expected.offer),
    "the offer",
  );
  assert.equal(
    canonicalExtensions(fromServer.header("sec-websocket-extensions")),
    canonicalExtensions(expected.answer),
    "the answer",
  );

  // Our messages, then the report request (and the close request); the peer's echoes, then the report.
  const requests = expected.closer === "peer" ? 2 : 1;
  assert.equal(ours.messages.length, messages.length + requests, "data messages from our end");
  assert.equal(peers.messages.length, messages.length + 1, "data messages from the peer");
  const sides = [
    ["our end", ours, expected.weCompress, MUST_COMPRESS_FROM],
    ["the peer", peers, expected.peerCompresses, expected.peerCompressesFrom ?? MUST_COMPRESS_FROM],
  ] as const;
  for (const [who, tap, compresses, from] of sides) {
    messages.forEach((message, i) => {
      const wire = tap.messages[i];
      const size = byteLength(message);
      const what = `${who}'s message ${i} (${
        typeof message === "string" ? "text" : "binary"
      }, ${size} bytes)`;
      assert.equal(wire.opcode, typeof message === "string" ? 1 : 2, `${what}: opcode`);
      if (!compresses) return;
      if (size >= from) assert.ok(wire.rsv1, `${what}: RSV1 set`);
      if (typeof message === "string" && size >= from) {
        assert.ok(
          wire.wireBytes < size,
          `${what}: ${wire.wireBytes} bytes on the wire, fewer than the payload`,
        );
      }
    });
    if (compresses) {
      const payload = messages.reduce((n, m) => n + byteLength(m), 0);
      const wire = tap.messages.slice(0, messages.length).reduce((n, m) => n + m.wireBytes, 0);
      assert.ok(wire < payload, `${who} put ${wire} payload bytes on the wire for ${payload}`);
    } else {
      assert.equal(tap.stats.rsv1Frames, 0, `${who} sent no compressed frame`);
    }
  }

  // Our fragments as configured (RSV1 on a continuation frame is already a violation above).
  const sending = expected.sending;
  if (sending !== undefined) {
    messages.forEach((message, i) => {
      const wire = ours.messages[i];
      const what = `our message ${i} (${typeof message === "string" ? "text" : "binary"}, ${
        byteLength(message)
      } bytes)`;
      if ("fragmentSize" in sending) {
        assert.ok(
          wire.largestFrame <= sending.fragmentSize,
          `${what}: frames of at most ${sending.fragmentSize} bytes`,
        );
        assert.equal(
          wire.frames,
          Math.max(1, Math.ceil(wire.wireBytes / sending.fragmentSize)),
          `${what}: frames`,
        );
      } else {
        assert.equal(
          wire.frames,
          Math.max(1, Math.ceil(message.length / sending.pieceSize)),
          `${what}: frames`,
        );
      }
    });
  }

  // §7.1.2 / §5.5.1: the closer's frame carries 1000 and its reason; the other end answers 1000.
  const closer = expected.closer === "ours" ? ours : peers;
  const answerer = expected.closer === "ours" ? peers : ours;
  const reason = expected.closer === "ours" ? OUR_REASON : PEER_REASON;
  assert.deepEqual(closer.closes, [{ code: 1000, reason }], "the first close frame");
  assert.equal(answerer.closes.length, 1, "close frames in answer");
  assert.equal(answerer.closes[0].code, 1000, "the answering close code");
  // §7.1.1: "the underlying TCP connection, in most normal cases, SHOULD be closed first by the server",
  // and a client "SHOULD wait for the server to close the connection but MAY close the connection at any
  // time after sending and receiving a Close message". So: our client waits; our server, answering the
  // client's close, closes TCP at once. When our server starts the close, the client may close first (ws,
  // Bun and Deno do, right after their answer; Chromium and python-websockets wait).
  if (expected.ours === "client" || expected.closer === "peer") {
    assert.equal(session.firstToClose, "server", "the end that closed TCP first");
  }
}

/** A summary of a session for `INTEROP_DEBUG=1`: heads, and per direction each message's frames, RSV1 and size. */
function describeSession(session: TapSession): Record<string, unknown> {
  const side = (tap: WireTap) => ({
    extensions: tap.header("sec-websocket-extensions"),
    stats: tap.stats,
    messages: tap.messages.map((m) =>
      `${m.opcode === 1 ? "text" : "binary"}${
        m.rsv1 ? " rsv1" : ""
      } ${m.wireBytes} B in ${m.frames} (largest ${m.largestFrame})`
    ),
    closes: tap.closes,
    violations: tap.violations,
    error: tap.error,
  });
  return { client: side(session.up), server: side(session.down) };
}

/**
 * @param close How our end saw the connection end.
 * @param reason The reason the peer sent, when the peer closed.
 */
export function assertCleanClose(close: CloseResult, reason?: string): void {
  assert.equal(close.code, 1000, "close code");
  assert.equal(close.wasClean, true, "the closing handshake completed");
  if (reason !== undefined) assert.equal(close.reason, reason, "close reason");
}

/** How a peer saw the connection end (its own API's view). */
export interface PeerView {
  /** The close code the peer received. */
  code: number;
  /** The close reason the peer received. */
  reason: string;
  /** `undefined` when the peer's API does not say. */
  wasClean?: boolean;
  /** The peer's idea of the negotiated extensions (`""`: none). */
  extensions: string;
}

// ---------------------------------------------------------------------------------------------------------
// Peers in-process: the WebSocket API, as Bun, Deno and `ws` give it

/** The part of the WHATWG WebSocket API the echo client uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly extensions: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
}

/**
 * Runs the peer client's side of the exchange on a WebSocket-API socket: echoes, reports, closes with 1000
 * and {@linkcode PEER_REASON} when asked.
 *
 * @param socket A socket just created (not yet open).
 * @param extensions Reads the negotiated extensions at open. @default `socket.extensions`
 * @returns How the peer saw the end.
 */
export function runEchoClient(
  socket: WebSocketLike,
  extensions: () => string = () => socket.extensions,
): Promise<PeerView> {
  const recorder = new EchoRecorder();
  let negotiated = "";
  socket.binaryType = "arraybuffer";
  socket.onopen = () => negotiated = extensions();
  socket.onmessage = (event) => {
    const data = event.data;
    const message = typeof data === "string" ? data : new Uint8Array(data as ArrayBuffer);
    const reply = recorder.reply(message);
    if (reply === undefined) socket.close(1000, PEER_REASON);
    else socket.send(reply as string | Uint8Array<ArrayBuffer>);
  };
  return new Promise<PeerView>((resolve) => {
    socket.onclose = (event) =>
      resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean, extensions: negotiated });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Peers as processes

/** A peer script running as a subprocess that prints one JSON object per line. */
export interface PeerProcess {
  /**
   * @param event The `event` field to wait for.
   * @param ms The bound.
   * @returns The next line with that event.
   */
  next(event: string, ms?: number): Promise<Record<string, unknown>>;
  /** What it wrote to stderr. */
  stderr(): string;
  /** Kills it (SIGTERM, then SIGKILL) and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts a script from `tests/peers/` with Debian's python3.
 *
 * @param script The file name in `tests/peers/`.
 * @param args Its arguments.
 * @returns The process.
 */
export function startPython(script: string, args: string[]): PeerProcess {
  const path = repoPath(`tests/peers/${script}`);
  const child = spawn(PYTHON_PATH, ["-B", "-u", path, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  let pending = "";
  let stderr = "";
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      wake?.();
      resolve();
    })
  );
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => {
    pending += text;
    for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line === "") continue;
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ event: "unparsed", line });
      }
    }
    wake?.();
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => stderr += text);
  return {
    async next(event, ms = STEP_MS) {
      const deadline = Date.now() + ms;
      for (;;) {
        const index = lines.findIndex((line) => line.event === event);
        if (index !== -1) return lines.splice(index, 1)[0];
        if (exited) throw new Error(`${script} exited before printing "${event}": ${stderr.slice(-1000)}`);
        const arrived = new Promise<void>((resolve) => wake = resolve);
        await withTimeout(arrived, Math.max(0, deadline - Date.now()), `"${event}" from ${script}`).catch(
          (error) => {
            throw new Error(`${(error as Error).message}; stderr: ${stderr.slice(-1000)}`);
          },
        );
      }
    },
    stderr: () => stderr,
    async stop() {
      if (exited) return;
      child.kill("SIGTERM");
      try {
        await withTimeout(exit, 3000, `${script} to exit`);
      } catch {
        child.kill("SIGKILL");
        await withTimeout(exit, 3000, `${script} to exit after SIGKILL`).catch(() => {});
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The two test shapes

/** A peer client, started against a URL. */
export interface StartedClient {
  /** Resolves when the peer has seen the connection end. */
  view: Promise<PeerView>;
  /** Ends it (kills the process, closes the browser). */
  stop(): Promise<void>;
}

/** What {@linkcode ourServerCase} and {@linkcode ourClientCase} expect on the wire. */
export type Expectation =
  & Pick<
    WireExpectation,
    "offer" | "answer" | "weCompress" | "peerCompresses" | "peerCompressesFrom" | "sending"
  >
  & {
    /** The server end starts the closing handshake. @default {false} (the client end does) */
    serverCloses?: boolean;
  };

/**
 * Checks how both ends saw the close: the closer's 1000 and reason reached the other end, and 1000 came back.
 */
function assertCloses(
  closer: Closer,
  ours: CloseResult,
  theirs: { code: number; reason: string; wasClean?: boolean },
): void {
  assertCleanClose(ours, closer === "peer" ? PEER_REASON : undefined);
  assert.equal(theirs.code, 1000, "the close code the peer received");
  if (closer === "ours") assert.equal(theirs.reason, OUR_REASON, "the close reason the peer received");
  if (theirs.wasClean !== undefined) assert.equal(theirs.wasClean, true, "the peer saw a clean close");
}

/** Largest message both ends accept in these tests. */
const MAX_MESSAGE = 16 * 1024 * 1024;

/**
 * Our server, a peer client: the exchange, then every check (intact both ways, negotiated and used as
 * expected; 1000 with the closer's reason, 1000 back). By default the peer closes.
 *
 * @param options `deflate`: our server's; `startPeer`: starts the peer client on the URL (the proxy's) and
 * gets our server's own port too (for a page); `page`: HTML our server serves; `ms`: bound per step.
 */
export async function ourServerCase(options: {
  deflate: NodeUpgradeOptions["deflate"];
  messages: readonly (string | Uint8Array)[];
  startPeer: (url: string, serverPort: number) => Promise<StartedClient>;
  expect: Expectation;
  page?: string;
  ms?: number;
}): Promise<void> {
  const ms = options.ms ?? STEP_MS;
  const server = await startOurServer(
    { deflate: options.deflate, maxMessageSize: MAX_MESSAGE },
    options.page,
  );
  let proxy: TapProxy | undefined;
  let peer: StartedClient | undefined;
  try {
    proxy = await startTapProxy(server.port);
    peer = await options.startPeer(`ws://127.0.0.1:${proxy.port}/`, server.port);
    const upgrade = await server.nextUpgrade(ms);
    const closer: Closer = options.expect.serverCloses === true ? "ours" : "peer";
    const exchange = await runExchange(upgrade.connection, upgrade.inbox, options.messages, {
      closer,
      ms,
      sending: options.expect.sending,
    });
    const view = await withTimeout(peer.view, ms, "the peer to see the close");
    assertIntact(options.messages, exchange);
    assertCloses(closer, exchange.close, view);
    const answer = canonicalExtensions(options.expect.answer);
    assert.equal(
      canonicalExtensions(upgrade.extensions || null),
      answer,
      "the answer, as our server reports it",
    );
    assert.equal(canonicalExtensions(view.extensions || null), answer, "the answer, as the peer reports it");
    await assertWire(webSocketSession(proxy), options.messages, {
      ...options.expect,
      ours: "server",
      closer,
    });
  } finally {
    await peer?.stop();
    for (const connection of server.connections) connection.fail(1001);
    await proxy?.close();
    await server.close();
  }
}

/** A peer server, started on a free port. */
export interface StartedServer {
  port: number;
  /** Resolves with the close code and reason the peer received. */
  closeSeen: Promise<{ code: number; reason: string }>;
  /** What the peer says it negotiated, once connected (`undefined`: its API does not say). */
  extensions(): string | undefined;
  stop(): Promise<void>;
}

/**
 * Our client, a peer server: the exchange, then every check (intact both ways, negotiated and used as
 * expected; 1000 with the closer's reason, 1000 back). By default our client closes.
 *
 * @param options `deflate`: our client's offer; `startPeer`: starts the peer server.
 */
export async function ourClientCase(options: {
  deflate: false | ClientDeflateOptions;
  messages: readonly (string | Uint8Array)[];
  startPeer: () => Promise<StartedServer>;
  expect: Expectation;
  ms?: number;
}): Promise<void> {
  const ms = options.ms ?? STEP_MS;
  const peer = await options.startPeer();
  let proxy: TapProxy | undefined;
  let connection: Connection | undefined;
  try {
    proxy = await startTapProxy(peer.port);
    const client = await connectNode(`ws://127.0.0.1:${proxy.port}/`, {
      deflate: options.deflate,
      maxMessageSize: MAX_MESSAGE,
      handshakeTimeout: ms,
    });
    connection = client.connection;
    const inbox = new Inbox(connection);
    const closer: Closer = options.expect.serverCloses === true ? "peer" : "ours";
    const exchange = await runExchange(connection, inbox, options.messages, {
      closer,
      ms,
      sending: options.expect.sending,
    });
    const seen = await withTimeout(peer.closeSeen, ms, "the peer to see the close");
    assertIntact(options.messages, exchange);
    assertCloses(closer, exchange.close, seen);
    const answer = canonicalExtensions(options.expect.answer);
    assert.equal(
      canonicalExtensions(client.extensions || null),
      answer,
      "the answer, as our client reports it",
    );
    const theirs = peer.extensions();
    if (theirs !== undefined) {
      assert.equal(canonicalExtensions(theirs || null), answer, "the answer, as the peer reports it");
    }
    await assertWire(webSocketSession(proxy), options.messages, {
      ...options.expect,
      ours: "client",
      closer,
    });
  } finally {
    connection?.fail(1001);
    await proxy?.close();
    await peer.stop();
  }
}
