/**
 * The Worker that tests/cloudflare_test.ts runs in workerd: the chat example's `ChatRoom` (at `/rooms/...`),
 * a test room on `durableObjectServe()` (at `/do/<room>`), the plain `cloudflareServe()` path (at
 * `/plain`), and `/evict`, which evicts every Durable Object from memory through workerd's `workerd:unsafe`
 * module (test-only: it needs the `unsafe_module` flag and `--experimental`), as hibernation does, while
 * the runtime keeps their hibernatable sockets open.
 *
 * The test room answers JSON commands: `{op:"subscribe",topic}`, `{op:"unsubscribe",topic}`,
 * `{op:"publish",topic,text}` (the socket's publish: everyone but the sender), `{op:"broadcast",topic,text}`
 * (the server's), `{op:"state",topic?}` (what the object knows of this socket, and which instance it is),
 * `{op:"setData",value}`, `{op:"fill"}` (subscribes to long topics until the attachment is full); binary
 * messages come back as they are.
 *
 * @module
 */

import chat, { ChatRoom } from "../examples/cloudflare_chat/worker.ts";
import {
  cloudflareServe,
  durableObjectServe,
  type DurableObjectServer,
  type DurableObjectStateLike,
} from "../lib/adapters/cloudflare.ts";
import type { UpgradeHook } from "../lib/handshake/server_handshake.ts";

export { ChatRoom };

/** The sockets' `data`. */
interface Data {
  name: string;
  note?: unknown;
}

type Stub = { fetch(request: Request): Promise<Response> };
interface Env {
  ROOMS: { idFromName(name: string): unknown; get(id: unknown): Stub };
  TEST_ROOMS: { idFromName(name: string): unknown; get(id: unknown): Stub };
}

/** The same check on both paths: `?token=secret`, else 403; the name goes into `data`. */
const upgrade: UpgradeHook = (request) => {
  const url = new URL(request.url);
  if (url.searchParams.get("token") !== "secret") {
    return new Response("Cannot upgrade: bad token\n", { status: 403 });
  }
  const name = url.searchParams.get("name") ?? "anonymous";
  return { data: { name }, user: name };
};
const rules = { protocols: ["v2.chat", "chat"], origins: ["https://good.example"], upgrade };

/** A Durable Object for the tests (see the module doc). */
export class TestRoom {
  readonly #server: DurableObjectServer<Data>;
  /** Which instance: a new one after every eviction. */
  readonly #instance = crypto.randomUUID();

  constructor(ctx: DurableObjectStateLike) {
    const server: DurableObjectServer<Data> = durableObjectServe<Data>(ctx, {
      ...rules,
      tags: (request) => new URL(request.url).searchParams.getAll("tag"),
      autoResponse: { request: "ping", response: "pong" },
      websocket: {
        message: (socket, data) => {
          if (typeof data !== "string") return void socket.send(data);
          const command = JSON.parse(data);
          const reply = (value: unknown) => socket.send(JSON.stringify(value));
          switch (command.op) {
            case "subscribe":
              return void reply({
                op: "subscribed",
                topic: command.topic,
                result: socket.subscribe(command.topic),
              });
            case "unsubscribe":
              return void reply({
                op: "unsubscribed",
                topic: command.topic,
                result: socket.unsubscribe(command.topic),
              });
            case "publish":
              return void reply({ op: "published", count: socket.publish(command.topic, command.text) });
            case "broadcast":
              return void reply({ op: "broadcasted", count: server.publish(command.topic, command.text) });
            case "setData":
              socket.data = { ...socket.data, note: command.value };
              return void reply({ op: "dataSet" });
            case "fill": {
              let subscribed = 0;
              try {
                for (; subscribed < 1000; subscribed++) socket.subscribe(`${subscribed}:${"x".repeat(250)}`);
                return void reply({ op: "filled", error: null, subscribed });
              } catch (error) {
                const { name, message } = error as Error;
                return void reply({
                  op: "filled",
                  error: name,
                  message,
                  subscribed,
                  kept: socket.subscriptions.length,
                });
              }
            }
            case "state":
              return void reply({
                op: "state",
                instance: this.#instance,
                data: socket.data,
                user: socket.user,
                protocol: socket.protocol,
                extensions: socket.extensions,
                url: socket.request.url,
                subscriptions: socket.subscriptions.filter((t) => !t.includes(":")).sort(),
                count: command.topic === undefined ? null : server.subscriberCount(command.topic),
                sockets: server.sockets().length,
              });
            case "refusals": {
              // What a Durable Object cannot keep across hibernation is refused, not ignored.
              const outcome = async (attempt: () => unknown) => {
                try {
                  await attempt();
                  return "accepted";
                } catch (error) {
                  return (error as Error).name;
                }
              };
              return void (async () =>
                reply({
                  op: "refusals",
                  since: await outcome(() => socket.subscribe("a", { since: { epoch: "e", offset: 1 } })),
                  presence: await outcome(() => socket.subscribe("b", { presence: true })),
                  subscriptions: socket.subscriptions.filter((t) => t === "a" || t === "b"),
                }))();
            }
            case "throw":
              throw new Error("the handler threw on purpose");
          }
        },
        error: () => {},
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

/** The plain Worker path: an echo, with the same rules. */
const plain = cloudflareServe<Data>({
  ...rules,
  websocket: {
    message: (socket, data) => {
      if (data === "throw") throw new Error("the handler threw on purpose");
      socket.send(data);
    },
    error: () => {},
  },
});

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/evict") {
      // A specifier esbuild leaves alone: workerd provides the module.
      const specifier = "workerd:unsafe";
      const { default: unsafe } = await import(specifier);
      await unsafe.evictAllDurableObjects();
      return new Response("evicted\n");
    }
    if (url.pathname === "/plain") return plain(request);
    const room = /^\/do\/([^/]+)$/.exec(url.pathname);
    if (room !== null) return env.TEST_ROOMS.get(env.TEST_ROOMS.idFromName(room[1])).fetch(request);
    return chat.fetch(request, env);
  },
};
