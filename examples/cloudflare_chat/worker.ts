/**
 * The chat demo (demo/, `npm start`) on Cloudflare Workers: the same page (demo/public/, served as the
 * Worker's static assets by wrangler.toml), the same HTTP API and the same JSON messages, with one Durable
 * Object per room on the WebSocket hibernation API through this library's `durableObjectServe()`.
 *
 * HTTP: `GET /api/me` who the name cookie says you are (401 without one), `POST /api/login`
 * `{ "name": "..." }` sets the cookie (HMAC-SHA-256 with the `SECRET` variable), `POST /api/logout` clears it.
 * WebSocket: `/chat?room=NAME`; the Worker checks the cookie (401) and the room (400) before anything of a
 * WebSocket exists, then hands the request to the room's object with the verified name in `x-chat-name`
 * (an object is reachable only through its Worker). Messages, as demo/server.ts sends them:
 * - page → room: `{ "type": "say", "text": "..." }` (at most 2,000 characters are kept)
 * - room → the new member: `{ "type": "welcome", "name", "room", "worker": "cloudflare", "extensions", "connection" }`
 *   then `{ "type": "joined", "count": 0 }` (no history here)
 * - room → everyone: `{ "type": "presence", "room", "members", "joins", "leaves" }` on each join and leave,
 *   `{ "type": "message", "id", "room", "from", "text", "at", "worker" }` (the sender included)
 * - room → a sender of something else: `{ "type": "error", "error": "..." }`
 * What the demo has and this has not: the per-connection byte figures (`stats`: workerd exposes no byte
 * counts; `{ "type": "stats?" }` is ignored), the heartbeat's round trip (the runtime answers pings
 * itself), history and recovery after a reconnect (a Durable Object could keep them in its storage).
 * A room's members, names and topics survive the object's hibernation (in each socket's attachment).
 *
 * Deploy as is: `npx wrangler deploy -c examples/cloudflare_chat/wrangler.toml` (then set a secret:
 * `npx wrangler secret put SECRET -c examples/cloudflare_chat/wrangler.toml`). Tested in workerd by
 * tests/cloudflare_test.ts.
 *
 * @module
 */

import {
  type CloudflareWebSocket,
  durableObjectServe,
  type DurableObjectServer,
  type DurableObjectStateLike,
} from "../../lib/adapters/cloudflare.ts";

/** The Worker's bindings (wrangler.toml). */
interface Env {
  ROOMS: {
    idFromName(name: string): unknown;
    get(id: unknown): { fetch(request: Request): Promise<Response> };
  };
  /** The key that signs the name cookie (at least 16 characters). */
  SECRET?: string;
}

/** What each socket keeps (in its attachment, across hibernation). */
interface Member {
  name: string;
  connection: number;
}

const ROOM = /^[a-z0-9][a-z0-9-]{0,31}$/;
const MAX_NAME = 32;
const MAX_TEXT = 2000;
const COOKIE_NAME = "wsdemo";
/** The room's topic, also its sockets' tag. */
const TOPIC = "room";
const WORKER = "cloudflare";
const encoder = new TextEncoder();

/** One chat room: a Durable Object. */
export class ChatRoom {
  readonly #server: DurableObjectServer<Member>;
  #messages = 0;

  constructor(ctx: DurableObjectStateLike) {
    const server: DurableObjectServer<Member> = durableObjectServe<Member>(ctx, {
      // The Worker verified the cookie and the room: the name comes from it alone.
      upgrade: (request) => {
        const name = request.headers.get("x-chat-name");
        if (name === null) return new Response("Connect through the Worker\n", { status: 400 });
        return { data: { name, connection: Date.now() }, user: name };
      },
      tags: () => [TOPIC],
      websocket: {
        open: (socket) => {
          const roomName = new URL(socket.request.url).searchParams.get("room") ?? "lobby";
          const { name, connection } = socket.data;
          const send = (message: unknown) => socket.send(JSON.stringify(message));
          send({
            type: "welcome",
            name,
            room: roomName,
            worker: WORKER,
            extensions: socket.extensions,
            connection,
          });
          send({ type: "joined", count: 0 });
          presence(roomName, [name], []);
        },
        message: (socket, data) => {
          let message: { type?: unknown; text?: unknown };
          try {
            message = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
          } catch {
            return void socket.send(JSON.stringify({ type: "error", error: "not JSON" }));
          }
          if (message?.type === "stats?") return; // no byte counts in workerd
          if (message?.type !== "say" || typeof message.text !== "string" || message.text.trim() === "") {
            return void socket.send(
              JSON.stringify({ type: "error", error: 'expected { "type": "say", "text": "..." }' }),
            );
          }
          const roomName = new URL(socket.request.url).searchParams.get("room") ?? "lobby";
          const at = Date.now();
          server.publish(
            TOPIC,
            JSON.stringify({
              type: "message",
              id: `${WORKER}-${++this.#messages}-${at.toString(36)}`,
              room: roomName,
              from: socket.data.name,
              text: message.text.slice(0, MAX_TEXT),
              at,
              worker: WORKER,
            }),
          );
        },
        close: (socket) => {
          presence(new URL(socket.request.url).searchParams.get("room") ?? "lobby", [], [socket.data.name]);
        },
      },
    });
    /** The room's members (a name once, however many pages it has open) to everyone in it. */
    const presence = (roomName: string, joins: string[], leaves: string[]) => {
      const members = [...new Set(server.sockets().map((s) => s.data.name))].sort();
      server.publish(TOPIC, JSON.stringify({ type: "presence", room: roomName, members, joins, leaves }));
    };
    this.#server = server;
  }

  fetch(request: Request): Promise<Response> {
    return this.#server.fetch(request);
  }

  webSocketMessage(ws: CloudflareWebSocket, message: string | ArrayBuffer): void {
    this.#server.webSocketMessage(ws, message);
  }

  webSocketClose(ws: CloudflareWebSocket, code: number, reason: string, wasClean: boolean): void {
    this.#server.webSocketClose(ws, code, reason, wasClean);
  }

  webSocketError(ws: CloudflareWebSocket, error: unknown): void {
    this.#server.webSocketError(ws, error);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The name cookie: base64url(name) "." base64url(HMAC-SHA-256(SECRET, name)), as the demo's

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    return Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function hmacKey(env: Env): Promise<CryptoKey> {
  const secret = env.SECRET;
  if (secret === undefined || secret.length < 16) {
    throw new TypeError(
      "Cannot sign the name cookie: set SECRET (wrangler secret put SECRET), 16 characters or more",
    );
  }
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

async function sign(env: Env, name: string): Promise<string> {
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(env), encoder.encode(name));
  return `${base64url(encoder.encode(name))}.${base64url(new Uint8Array(signature))}`;
}

/** The name a request's cookie carries, if its signature is good. */
async function nameOf(env: Env, request: Request): Promise<string | undefined> {
  const cookie = (request.headers.get("cookie") ?? "").split(";").map((part) => part.trim())
    .find((part) => part.startsWith(`${COOKIE_NAME}=`))?.slice(COOKIE_NAME.length + 1);
  const [name, signature] = (cookie ?? "").split(".");
  const nameBytes = fromBase64url(name ?? ""), signatureBytes = fromBase64url(signature ?? "");
  if (!nameBytes || !signatureBytes || nameBytes.length === 0) return undefined;
  const good = await crypto.subtle.verify("HMAC", await hmacKey(env), signatureBytes, nameBytes);
  return good ? new TextDecoder().decode(nameBytes) : undefined;
}

/** Checks a name chosen at the door: trimmed, 1 to 32 characters, no control characters. */
function checkName(name: unknown): string | undefined {
  if (typeof name !== "string") return undefined;
  const trimmed = name.trim();
  // deno-lint-ignore no-control-regex
  if (trimmed.length === 0 || trimmed.length > MAX_NAME || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    return undefined;
  }
  return trimmed;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

function cookie(request: Request, value: string, maxAge: number): string {
  const secure = new URL(request.url).protocol === "https:" ? "; Secure" : "";
  return `${COOKIE_NAME}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`;
}

/** The Worker: the API, and `/chat?room=` to that room's object. (The page itself is the static assets.) */
export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      return await route(request, env);
    } catch (error) {
      return json(500, { error: (error as Error).message });
    }
  },
};

async function route(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/api/me" && request.method === "GET") {
    const name = await nameOf(env, request);
    if (name === undefined) return json(401, { error: "no valid name cookie: POST /api/login first" });
    return json(200, { name, worker: WORKER });
  }
  if (url.pathname === "/api/login" && request.method === "POST") {
    const body = await request.text();
    let name: string | undefined;
    try {
      name = body.length <= 4096 ? checkName(JSON.parse(body)?.name) : undefined;
    } catch {
      name = undefined;
    }
    if (name === undefined) {
      return json(400, { error: `a name is 1 to ${MAX_NAME} characters, no control characters` });
    }
    return json(200, { name, worker: WORKER }, {
      "set-cookie": cookie(request, await sign(env, name), 86400),
    });
  }
  if (url.pathname === "/api/logout" && request.method === "POST") {
    return json(200, {}, { "set-cookie": cookie(request, "", 0) });
  }
  if (url.pathname === "/chat") {
    const name = await nameOf(env, request);
    if (name === undefined) {
      return new Response("No valid name cookie: choose a name at the door (POST /api/login)\n", {
        status: 401,
      });
    }
    const room = url.searchParams.get("room") ?? "lobby";
    if (!ROOM.test(room)) {
      return new Response("A room is 1 to 32 characters: a-z, 0-9 and -, not first\n", { status: 400 });
    }
    const headers = new Headers(request.headers);
    headers.set("x-chat-name", name);
    return env.ROOMS.get(env.ROOMS.idFromName(room)).fetch(new Request(request, { headers }));
  }
  return json(404, { error: `no ${request.method} ${url.pathname}` });
}
