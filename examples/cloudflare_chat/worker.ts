/**
 * A chat on Cloudflare Workers: one Durable Object per room, on the WebSocket hibernation API through this
 * library's `durableObjectServe()`. The Worker routes `/rooms/<room>?name=<name>` to the room's object;
 * the object checks the upgrade (a name of 1 to 32 characters, else 400), accepts the socket with the tag
 * `"room"` (so it is subscribed to the room's topic from the start, and stays subscribed across
 * hibernation), and broadcasts. A heartbeat text `"ping"` is answered `"pong"` by the runtime without
 * waking the object.
 *
 * The JSON messages:
 * - client → room: `{ "type": "message", "text": "..." }` (at most 2,000 characters)
 * - room → the new member: `{ "type": "welcome", "room", "name", "members": [names, sorted] }`
 * - room → everyone else: `{ "type": "join", "name", "count" }`, `{ "type": "leave", "name", "count" }`
 * - room → everyone, sender included: `{ "type": "message", "from", "text", "at" }` (`at`: ms since epoch)
 * - room → the sender of something else: `{ "type": "error", "error": "..." }`
 *
 * Deploy as is: `npx wrangler deploy -c examples/cloudflare_chat/wrangler.toml`; run locally:
 * `npx wrangler dev -c examples/cloudflare_chat/wrangler.toml`. Tested in workerd by
 * tests/cloudflare_test.ts.
 *
 * @module
 */

import {
  durableObjectServe,
  type DurableObjectServer,
  type DurableObjectStateLike,
} from "../../lib/adapters/cloudflare.ts";

/** What each socket keeps (in its attachment, across hibernation). */
interface Member {
  name: string;
}

/** The Worker's bindings (wrangler.toml). */
interface Env {
  ROOMS: {
    idFromName(name: string): unknown;
    get(id: unknown): { fetch(request: Request): Promise<Response> };
  };
}

/** The room's topic, also its sockets' tag. */
const TOPIC = "room";
const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TEXT = 2000;

/** One chat room: a Durable Object. */
export class ChatRoom {
  readonly #server: DurableObjectServer<Member>;

  constructor(ctx: DurableObjectStateLike) {
    const server: DurableObjectServer<Member> = durableObjectServe<Member>(ctx, {
      upgrade: (request) => {
        const name = new URL(request.url).searchParams.get("name")?.trim() ?? "";
        if (name.length < 1 || name.length > 32) {
          return new Response("Cannot join: a name of 1 to 32 characters is required (?name=...)\n", {
            status: 400,
          });
        }
        return { data: { name }, user: name };
      },
      tags: () => [TOPIC],
      autoResponse: { request: "ping", response: "pong" },
      websocket: {
        open: (socket) => {
          const room = new URL(socket.request.url).pathname.split("/").pop();
          const members = server.sockets().map((s) => s.data.name).sort();
          socket.send(JSON.stringify({ type: "welcome", room, name: socket.data.name, members }));
          socket.publish(
            TOPIC,
            JSON.stringify({ type: "join", name: socket.data.name, count: members.length }),
          );
        },
        message: (socket, data) => {
          let text: unknown;
          try {
            text = typeof data === "string" ? JSON.parse(data).text : undefined;
          } catch {
            // answered below
          }
          if (typeof text !== "string" || text.length === 0 || text.length > MAX_TEXT) {
            socket.send(
              JSON.stringify({
                type: "error",
                error: `send {"type":"message","text":"..."} (1 to ${MAX_TEXT} characters)`,
              }),
            );
            return;
          }
          server.publish(
            TOPIC,
            JSON.stringify({ type: "message", from: socket.data.name, text, at: Date.now() }),
          );
        },
        close: (socket) => {
          server.publish(
            TOPIC,
            JSON.stringify({ type: "leave", name: socket.data.name, count: server.subscriberCount(TOPIC) }),
          );
        },
      },
    });
    this.#server = server;
  }

  fetch(request: Request): Promise<Response> {
    return this.#server.fetch(request);
  }

  webSocketMessage(
    ws: Parameters<DurableObjectServer["webSocketMessage"]>[0],
    message: string | ArrayBuffer,
  ): void {
    this.#server.webSocketMessage(ws, message);
  }

  webSocketClose(
    ws: Parameters<DurableObjectServer["webSocketClose"]>[0],
    code: number,
    reason: string,
    wasClean: boolean,
  ): void {
    this.#server.webSocketClose(ws, code, reason, wasClean);
  }

  webSocketError(ws: Parameters<DurableObjectServer["webSocketError"]>[0], error: unknown): void {
    this.#server.webSocketError(ws, error);
  }
}

/** The Worker: `/rooms/<room>` goes to that room's object. */
export default {
  fetch(request: Request, env: Env): Promise<Response> | Response {
    const match = /^\/rooms\/([^/]+)$/.exec(new URL(request.url).pathname);
    if (match === null || !ROOM_NAME.test(match[1])) {
      return new Response("Connect a WebSocket to /rooms/<room>?name=<your name>\n", { status: 404 });
    }
    return env.ROOMS.get(env.ROOMS.idFromName(match[1])).fetch(request);
  },
};
