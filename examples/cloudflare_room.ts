import {
  type CloudflareWebSocket,
  durableObjectServe,
  type DurableObjectStateLike,
} from "../lib/adapters/cloudflare.ts";

/** One room: a Durable Object. Its sockets survive hibernation, and so do their names and topics. */
export class Room {
  #server;
  constructor(ctx: DurableObjectStateLike) {
    const server = durableObjectServe<{ name: string }>(ctx, {
      protocols: ["chat"],
      upgrade: (request) => {
        const name = new URL(request.url).searchParams.get("name");
        if (!name) return new Response("?name= is required\n", { status: 400 });
        return { data: { name } };
      },
      tags: () => ["room"], // every socket is in the room's topic, from its first message to its last
      websocket: {
        message: (socket, data) => server.publish("room", `${socket.data.name}: ${data}`),
      },
    });
    this.#server = server;
  }
  fetch(request: Request) {
    return this.#server.fetch(request);
  }
  webSocketMessage(ws: CloudflareWebSocket, message: string | ArrayBuffer) {
    this.#server.webSocketMessage(ws, message);
  }
  webSocketClose(ws: CloudflareWebSocket, code: number, reason: string, wasClean: boolean) {
    this.#server.webSocketClose(ws, code, reason, wasClean);
  }
  webSocketError(ws: CloudflareWebSocket, error: unknown) {
    this.#server.webSocketError(ws, error);
  }
}

interface Env {
  ROOMS: {
    idFromName(name: string): unknown;
    get(id: unknown): { fetch(request: Request): Promise<Response> };
  };
}

/** The Worker: one room per path (wss://<worker>/lobby?name=alice). */
export default {
  fetch: (request: Request, env: Env) =>
    env.ROOMS.get(env.ROOMS.idFromName(new URL(request.url).pathname)).fetch(request),
};
