/**
 * The chat demo that `npm start` runs (through `cli.ts serve`): rooms, a name chosen at the door and
 * carried in a signed cookie checked before the 101, and live figures per connection (bytes on the wire
 * against payload bytes, the negotiated extension, the heartbeat's round trip). It is built on the
 * library's lower layer, `handleNodeUpgrade` and `TopicSocket` over `node:http`, because its figures need
 * the socket's own byte counts, which `serve()` does not expose.
 *
 * HTTP: `GET /` the page (demo/public/), `GET /api/me` who the cookie says you are (401 without one),
 * `POST /api/login` `{ "name": "..." }` sets the cookie, `POST /api/logout` clears it.
 * WebSocket: `/chat?room=NAME` (a valid cookie or 401 before any WebSocket state exists). Messages are
 * JSON: the page sends `{ "type": "say", "text": "..." }` and `{ "type": "stats?" }`; the server sends
 * `welcome`, `message`, `stats` and `error`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import type { Connection } from "../lib/connection.ts";
import { handleNodeUpgrade } from "../lib/adapters/node_http.ts";
import type { ServerDeflateOptions, UpgradeAcceptance, UpgradeHook } from "../lib/handshake/server_handshake.ts";
import type { PreparedMessage } from "../lib/pubsub/prepared_message.ts";
import type { PresenceEvent, PubSub, Recovery, StreamPosition } from "../lib/pubsub/pubsub.ts";
import { TopicSocket } from "../lib/pubsub/topic_socket.ts";

/** Options for {@linkcode createDemo}. */
export interface DemoOptions {
  /**
   * The key that signs the name cookie (HMAC-SHA-256): every process serving the same page must share it.
   * At least 16 characters.
   */
  secret: string;
  /**
   * The topics: give every worker one over the same backplane to share rooms across processes. With
   * history on the `room:` topics (`createPubSub({ history })`, see {@linkcode DEMO_HISTORY}), a page gets
   * the room's last messages when it joins and what it missed when it reconnects.
   */
  pubsub: PubSub;
  /** This process's name, shown on the page and in the `x-demo-worker` header. @default {"1"} */
  worker?: string;
  /** permessage-deflate for the chat's connections. @default {{}} */
  deflate?: false | ServerDeflateOptions;
  /**
   * The heartbeat: a ping after `interval` ms of silence from the page, whose pong gives the round trip
   * shown. @default {{ interval: 2000, timeout: 10000 }}
   */
  heartbeat?: { interval: number; timeout: number } | false;
  /** Larger messages close the connection with 1009. @default {65536} */
  maxMessageSize?: number;
  /** How often each page gets its connection's figures, in ms. @default {1000} */
  statsInterval?: number;
  /** Where a line per chat connection goes. @default nowhere */
  log?: (line: string) => void;
}

/** The demo's handlers, for a `node:http` server. */
export interface Demo {
  /**
   * Answers a plain HTTP request if its path is the demo's.
   *
   * @returns Whether it was the demo's (and answered).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Takes an upgrade request if its path is `/chat`.
   *
   * @returns Whether it was the demo's (and taken).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Uint8Array): boolean;
  /**
   * Takes an upgrade request if its path is `/chat`, on a server other than `node:http`: `upgrade` runs
   * the handshake with the chat's options and gives the connection.
   *
   * @param target The request's path and query.
   * @param upgrade Runs the handshake (or refuses, then resolves `undefined`).
   * @param fail Ends the connection after an error.
   * @returns Whether it was the demo's (and taken).
   */
  handleChatUpgrade(target: string, upgrade: ChatUpgrader, fail: () => void): boolean;
  /** The open chat connections. */
  readonly connections: ReadonlySet<Connection>;
  /** Closes every chat connection with 1001 and stops the timers. */
  close(): Promise<void>;
}

/** The options a chat connection's handshake and connection take. */
export interface ChatUpgradeOptions {
  deflate: false | ServerDeflateOptions;
  heartbeat: { interval: number; timeout: number } | false;
  maxMessageSize: number;
  /** Checks the cookie and the room before the 101. */
  authorize: UpgradeHook;
}

/** An accepted chat connection, and its bytes on the wire since the 101 (frames only). */
export interface ChatUpgrade {
  connection: Connection;
  extensions: string;
  acceptance: UpgradeAcceptance | undefined;
  wire(): { read: number; written: number };
}

/** Runs a chat handshake with these options: the connection, or `undefined` when it was refused (answered). */
export type ChatUpgrader = (options: ChatUpgradeOptions) => Promise<ChatUpgrade | undefined>;

/** The history the demo's rooms keep: the last 100 messages of the last 10 minutes. */
export const DEMO_HISTORY = { size: 100, ttl: 600_000 } as const;

/** The cookie that carries the name. */
export const COOKIE_NAME = "wsdemo";
/** Room names: lower-case letters, digits and dashes, at most 32. */
const ROOM = /^[a-z0-9][a-z0-9-]{0,31}$/;
const MAX_NAME = 32;
const MAX_TEXT = 2000;
const STATIC_FILES: Record<string, [file: string, type: string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/reconnecting_websocket.js": ["reconnecting_websocket.js", "text/javascript; charset=utf-8"],
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** demo/public/, next to this module, or from the Node build (dist/demo/server.js) in the package. */
function publicDir(): string {
  for (const relative of ["./public/", "../../demo/public/"]) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    try {
      readFileSync(dir + "index.html");
      return dir;
    } catch {
      // Try the next.
    }
  }
  throw new Error("Cannot start the demo: demo/public/index.html not found");
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * Checks a name chosen at the door.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkName } from "./server.ts";
 * assert.equal(checkName("  Ada "), "Ada");
 * assert.equal(checkName(""), undefined);
 * assert.equal(checkName("x".repeat(33)), undefined);
 * ```
 *
 * @returns The name, trimmed, or `undefined` when it is empty, too long or has control characters.
 */
export function checkName(name: unknown): string | undefined {
  if (typeof name !== "string") return undefined;
  const trimmed = name.trim();
  // deno-lint-ignore no-control-regex
  if (trimmed.length === 0 || trimmed.length > MAX_NAME || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    return undefined;
  }
  return trimmed;
}

/**
 * Signs and verifies the name cookie: `base64url(name) "." base64url(HMAC-SHA-256(secret, name))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CookieSigner } from "./server.ts";
 * const signer = new CookieSigner("a secret of at least 16 characters");
 * const value = await signer.sign("Ada");
 * assert.equal(await signer.verify(value), "Ada");
 * assert.equal(await new CookieSigner("another secret, 16 or more").verify(value), undefined);
 * assert.equal(await signer.fromHeader(`theme=dark; wsdemo=${value}`), "Ada");
 * ```
 */
export class CookieSigner {
  readonly #key: Promise<CryptoKey>;

  /** @param secret The key, at least 16 characters. */
  constructor(secret: string) {
    if (typeof secret !== "string" || secret.length < 16) {
      throw new RangeError(
        "Cannot create the demo: the cookie secret must be a string of at least 16 characters",
      );
    }
    this.#key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      [
        "sign",
        "verify",
      ],
    );
  }

  /**
   * @param name A checked name.
   * @returns The cookie's value.
   */
  async sign(name: string): Promise<string> {
    const bytes = encoder.encode(name);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await this.#key, bytes));
    return `${base64url(bytes)}.${base64url(mac)}`;
  }

  /**
   * @param value A cookie's value.
   * @returns The name it carries, or `undefined` when it is malformed or its signature is not ours.
   */
  async verify(value: string): Promise<string | undefined> {
    const dot = value.indexOf(".");
    if (dot === -1) return undefined;
    const bytes = fromBase64url(value.slice(0, dot)), mac = fromBase64url(value.slice(dot + 1));
    if (bytes === undefined || mac === undefined || mac.length !== 32) return undefined;
    // crypto.subtle.verify compares in constant time.
    if (!await crypto.subtle.verify("HMAC", await this.#key, mac, bytes)) return undefined;
    try {
      return checkName(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      return undefined;
    }
  }

  /**
   * @param header A `Cookie` header, or `undefined`.
   * @returns The name of a valid {@linkcode COOKIE_NAME} cookie in it, or `undefined`.
   */
  async fromHeader(header: string | undefined): Promise<string | undefined> {
    if (header === undefined) return undefined;
    for (const part of header.split(";")) {
      const equals = part.indexOf("=");
      if (equals !== -1 && part.slice(0, equals).trim() === COOKIE_NAME) {
        return await this.verify(part.slice(equals + 1).trim());
      }
    }
    return undefined;
  }
}

/** Per-connection counts for the page's figures. */
interface Counts {
  payloadOut: number;
  messagesOut: number;
  payloadIn: number;
  messagesIn: number;
}

/** A TopicSocket that counts the payload bytes of what it is handed, for the page's figures. */
class CountingTopicSocket extends TopicSocket {
  readonly counts: Counts;

  constructor(pubsub: PubSub, connection: Connection, counts: Counts) {
    super(pubsub, connection);
    this.counts = counts;
  }

  override deliver(message: PreparedMessage, topic: string): boolean {
    const delivered = super.deliver(message, topic);
    if (delivered) {
      this.counts.payloadOut += message.payload.length;
      this.counts.messagesOut++;
    }
    return delivered;
  }
}

/** Reads `?since=EPOCH:OFFSET` (the position of the last message a page saw). */
function parseSince(value: string | null): StreamPosition | undefined {
  if (value === null) return undefined;
  const colon = value.lastIndexOf(":");
  const offset = Number(value.slice(colon + 1));
  if (colon < 1 || !Number.isSafeInteger(offset) || offset < 0) return undefined;
  return { epoch: value.slice(0, colon), offset };
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    ...headers,
  });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    req.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      const bytes = new Uint8Array(size);
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
      resolve(decoder.decode(bytes));
    });
    req.on("error", () => resolve(undefined));
  });
}

/**
 * Creates the chat demo's handlers.
 *
 * @param options The cookie secret, the topics, and the chat connections' options.
 * @returns The handlers to call from a `node:http` server's `request` and `upgrade` events.
 * @throws {RangeError} For a secret shorter than 16 characters.
 * @example
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { createPubSub } from "../lib/pubsub/pubsub.ts";
 * import { createDemo } from "./server.ts";
 * const demo = createDemo({ secret: crypto.randomUUID(), pubsub: createPubSub() });
 * const server = createServer((req, res) => {
 *   if (!demo.handleRequest(req, res)) res.writeHead(404).end();
 * });
 * server.on("upgrade", (req, socket, head) => {
 *   if (!demo.handleUpgrade(req, socket, head)) socket.destroy();
 * });
 * server.listen(8080, "127.0.0.1");
 * ```
 */
export function createDemo(options: DemoOptions): Demo {
  const { pubsub, worker = "1", deflate = {}, heartbeat = { interval: 2000, timeout: 10_000 } } = options;
  const maxMessageSize = options.maxMessageSize ?? 64 * 1024;
  const statsInterval = options.statsInterval ?? 1000;
  const log = options.log ?? (() => {});
  const signer = new CookieSigner(options.secret);
  const dir = publicDir();
  const connections = new Set<Connection>();
  const timers = new Set<ReturnType<typeof setInterval>>();
  let messageCount = 0;
  let connectionCount = 0;
  /** This process's chat connections per room topic: who gets the room's member list. */
  const rooms = new Map<string, Set<(message: unknown) => void>>();

  // Presence: the library batches joins and leaves per room (at most one event a second); each process
  // sends the room's member list to its own connections in that room.
  const sendMembers = async (topic: string, changes?: PresenceEvent) => {
    const local = rooms.get(topic);
    if (local === undefined || local.size === 0) return;
    const members = await pubsub.presence(topic);
    const message = {
      type: "presence",
      room: topic.slice("room:".length),
      members,
      joins: changes?.joins.map((member) => member.id) ?? [],
      leaves: changes?.leaves.map((member) => member.id) ?? [],
    };
    for (const send of rooms.get(topic) ?? []) send(message);
  };
  const onPresence = (event: Event) => {
    const presence = event as PresenceEvent;
    sendMembers(presence.topic, presence).catch((error) =>
      log(`presence ${presence.topic}: ${(error as Error).message}`)
    );
  };
  pubsub.addEventListener("presence", onPresence);

  // Secure over TLS (https: pages), so that the browser never sends it in the clear.
  const cookieHeader = (value: string, maxAge: number, req: IncomingMessage) =>
    `${COOKIE_NAME}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${
      (req.socket as { encrypted?: boolean }).encrypted === true ? "; Secure" : ""
    }`;

  async function api(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === "/api/me" && req.method === "GET") {
      const name = await signer.fromHeader(req.headers.cookie);
      if (name === undefined) {
        return sendJson(res, 401, { error: "no valid name cookie: POST /api/login first" });
      }
      return sendJson(res, 200, { name, worker });
    }
    if (path === "/api/login" && req.method === "POST") {
      const body = await readBody(req, 4096);
      let name: string | undefined;
      try {
        name = checkName(body === undefined ? undefined : JSON.parse(body)?.name);
      } catch {
        name = undefined;
      }
      if (name === undefined) {
        return sendJson(res, 400, { error: `a name is 1 to ${MAX_NAME} characters, no control characters` });
      }
      return sendJson(res, 200, { name, worker }, {
        "set-cookie": cookieHeader(await signer.sign(name), 86400, req),
      });
    }
    if (path === "/api/logout" && req.method === "POST") {
      return sendJson(res, 200, {}, { "set-cookie": cookieHeader("", 0, req) });
    }
    sendJson(
      res,
      path.startsWith("/api/") && ["/api/me", "/api/login", "/api/logout"].includes(path) ? 405 : 404,
      {
        error: `no ${req.method} ${path}`,
      },
    );
  }

  /** Sends a room's history to one page, oldest first, each message marked `history`. */
  async function sendHistory(send: (message: unknown) => void, topic: string): Promise<number> {
    const page = await pubsub.history(topic);
    for (const entry of page.entries) {
      if (entry.binary) continue;
      send({ ...JSON.parse(decoder.decode(entry.payload)), history: true });
    }
    return page.entries.length;
  }

  function handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    res.setHeader("x-demo-worker", worker);
    const file = STATIC_FILES[path];
    if (file !== undefined && (req.method === "GET" || req.method === "HEAD")) {
      let body: Uint8Array;
      try {
        body = readFileSync(dir + file[0]);
      } catch {
        res.writeHead(500).end();
        return true;
      }
      res.writeHead(200, {
        "content-type": file[1],
        "content-length": String(body.length),
        "cache-control": "no-cache",
      });
      res.end(req.method === "HEAD" ? undefined : body);
      return true;
    }
    if (!path.startsWith("/api/")) return false;
    api(req, res, path).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
    return true;
  }

  function handleUpgrade(req: IncomingMessage, duplex: Duplex, head: Uint8Array): boolean {
    const socket = duplex as Socket;
    // What the socket carried before this connection's frames: the request head (read) and the 101 (written).
    const readBefore = socket.bytesRead - head.length;
    return handleChatUpgrade(req.url ?? "/", async (options) => {
      const upgrade = await handleNodeUpgrade(req, socket, head, options);
      if (upgrade === undefined) return undefined;
      const writtenBefore = socket.bytesWritten;
      return {
        connection: upgrade.connection,
        extensions: upgrade.extensions,
        acceptance: upgrade.acceptance,
        wire: () => ({ read: socket.bytesRead - readBefore, written: socket.bytesWritten - writtenBefore }),
      };
    }, () => socket.destroy());
  }

  function handleChatUpgrade(target: string, upgrader: ChatUpgrader, fail: () => void): boolean {
    const url = new URL(target, "http://x");
    if (url.pathname !== "/chat") return false;
    const id = ++connectionCount;
    accept(target, upgrader, url, id).catch((error) => {
      log(`chat #${id} error ${(error as Error).message}`);
      fail();
    });
    return true;
  }

  async function accept(target: string, upgrader: ChatUpgrader, url: URL, id: number): Promise<void> {
    const room = url.searchParams.get("room") ?? "lobby";
    const since = parseSince(url.searchParams.get("since"));
    const upgrade = await upgrader({
      deflate,
      heartbeat,
      maxMessageSize,
      // Checked before the 101: nothing of a WebSocket exists for a refused request.
      authorize: async (request) => {
        const name = await signer.fromHeader(request.headers.get("cookie") ?? undefined);
        if (name === undefined) {
          return new Response("No valid name cookie: choose a name at the door (POST /api/login)\n", {
            status: 401,
          });
        }
        if (!ROOM.test(room)) {
          return new Response("A room is 1 to 32 characters: a-z, 0-9 and -, not first\n", { status: 400 });
        }
        return { user: name, data: name };
      },
    });
    if (upgrade === undefined) {
      log(`chat #${id} refused ${target}`);
      return;
    }
    const { connection, extensions } = upgrade;
    const name = upgrade.acceptance!.user!;
    const counts: Counts = { payloadOut: 0, messagesOut: 0, payloadIn: 0, messagesIn: 0 };
    const topics = new CountingTopicSocket(pubsub, connection, counts);
    const topic = `room:${room}`;
    connections.add(connection);
    log(`chat #${id} open ${name} in ${room} extensions=${extensions || "(none)"}`);

    const send = (message: unknown) => {
      if (connection.readyState !== 1) return;
      const text = JSON.stringify(message);
      counts.payloadOut += encoder.encode(text).length;
      counts.messagesOut++;
      connection.send(text).catch(() => {});
    };
    const stats = () => {
      const wire = upgrade.wire();
      send({
        type: "stats",
        at: Date.now(),
        worker,
        extensions,
        // Everything written to and read from the socket since the handshake: frame headers, compressed
        // payloads, pings and pongs. A page cannot see these; they come from the server's socket.
        wireOut: wire.written,
        wireIn: wire.read,
        payloadOut: counts.payloadOut,
        payloadIn: counts.payloadIn,
        messagesOut: counts.messagesOut,
        messagesIn: counts.messagesIn,
        rtt: Number.isNaN(connection.latency) ? null : connection.latency,
        dropped: connection.dropped,
      });
    };

    send({ type: "welcome", name, room, worker, extensions, connection: id });
    let local = rooms.get(topic);
    if (local === undefined) rooms.set(topic, local = new Set());
    local.add(send);
    const presence = { presence: { id: name, data: { name } } };
    let history = false;
    try {
      await pubsub.position(topic);
      history = true;
    } catch {
      // A pubsub without history for the room: live messages only.
    }
    if (!history) {
      topics.subscribe(topic, presence);
      send({ type: "joined", count: 0 });
    } else if (since !== undefined) {
      // A page that reconnects says where it was: what it missed comes first, in order, then the live ones.
      const recovery: Recovery = await pubsub.subscribe(topics, topic, { ...presence, since });
      if (recovery.recovered) {
        send({ type: "recovered", recovered: true, count: recovery.replayed, position: recovery.position });
      } else {
        // Not from where it was (the server restarted, a new epoch; or the history no longer reaches back):
        // the room's history as it is now, which the page merges (by message id) with what it has.
        const count = await sendHistory(send, topic);
        send({ type: "recovered", recovered: false, reason: recovery.reason ?? "", count });
      }
    } else {
      topics.subscribe(topic, presence);
      send({ type: "joined", count: await sendHistory(send, topic) });
    }
    // The list as it is now (the batched event that this join causes comes within a second).
    pubsub.presence(topic).then(
      (members) => send({ type: "presence", room, members, joins: [], leaves: [] }),
      () => {},
    );
    stats();
    const timer = setInterval(stats, statsInterval);
    timers.add(timer);

    connection.onmessage = (data) => {
      const text = typeof data === "string" ? data : decoder.decode(data);
      counts.payloadIn += typeof data === "string" ? encoder.encode(data).length : data.length;
      counts.messagesIn++;
      let message: { type?: unknown; text?: unknown };
      try {
        message = JSON.parse(text);
      } catch {
        return send({ type: "error", error: "not JSON" });
      }
      if (message?.type === "stats?") return stats();
      if (message?.type !== "say" || typeof message.text !== "string" || message.text.trim() === "") {
        return send({ type: "error", error: 'expected { "type": "say", "text": "..." }' });
      }
      const chat = {
        type: "message",
        id: `${worker}-${++messageCount}-${Date.now().toString(36)}`,
        room,
        from: name,
        text: message.text.slice(0, MAX_TEXT),
        at: Date.now(),
        worker,
      };
      // To everyone in the room, the sender included (its copy confirms it went out), on every process;
      // with history, each message carries its position, from which the page reconnects (`since`).
      try {
        pubsub.publish(topic, (position: StreamPosition) => JSON.stringify({ ...chat, position }));
      } catch {
        pubsub.publish(topic, JSON.stringify(chat)); // a topic without history
      }
    };
    const { code } = await connection.closed;
    rooms.get(topic)?.delete(send);
    if (rooms.get(topic)?.size === 0) rooms.delete(topic);
    clearInterval(timer);
    timers.delete(timer);
    connections.delete(connection);
    log(`chat #${id} close ${code} ${name} in ${room}`);
  }

  return {
    handleRequest,
    handleUpgrade,
    handleChatUpgrade,
    connections,
    async close() {
      pubsub.removeEventListener("presence", onPresence);
      for (const timer of timers) clearInterval(timer);
      timers.clear();
      await Promise.all([...connections].map((connection) => connection.close(1001, "server shutting down")));
    },
  };
}
