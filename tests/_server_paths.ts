/**
 * Every server path of this library available on the runtime under test, started the same way, for the
 * behaviour suites that run on all of them (tests/paths_test.ts, tests/pubsub_paths_test.ts).
 *
 * @module
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { attachHandler, disconnectUser, type ServerSocket, type WebSocketHandler } from "../lib/adapters/_socket_handler.ts";
import { listenBun } from "../lib/adapters/bun_listen.ts";
import { bunServe } from "../lib/adapters/bun_serve.ts";
import { denoServe } from "../lib/adapters/deno_serve.ts";
import { listenDeno } from "../lib/adapters/deno_listen.ts";
import { handleNodeUpgrade, NODE_HTTP_SERVER_OPTIONS } from "../lib/adapters/node_http.ts";
import { serve } from "../lib/adapters/serve.ts";
import type { PublishQueueOptions } from "../lib/connection.ts";
import type { DeflateNegotiationOptions } from "../lib/deflate/negotiation.ts";
import type { UpgradeHook } from "../lib/handshake/server_handshake.ts";
import { createPubSub, type PublishData, type PublishOptions, type PubSub } from "../lib/pubsub/pubsub.ts";

/** What every server path is given: subprotocols in server order, a token check, echo callbacks. */
export interface PathOptions {
  protocols: string[];
  upgrade: UpgradeHook;
  websocket: WebSocketHandler;
  /** Text to the handler as bytes, where this library's engine carries the socket. */
  textAsBytes?: boolean;
  /** The server's topics. @default a registry of its own */
  pubsub?: PubSub;
  /** This library's permessage-deflate (ignored where the runtime's WebSocket carries the socket). */
  deflate?: DeflateNegotiationOptions | false;
  /** The publish queue's bound and policy. */
  publishQueue?: PublishQueueOptions;
}

/** A started server path. */
export interface StartedPath {
  url: string;
  stop(): Promise<void>;
  publish(topic: string, data: PublishData, options?: PublishOptions): number;
  subscriberCount(topic: string): number;
  disconnectUser(user: string, code?: number, reason?: string): number;
}

export interface ServerPath {
  name: string;
  skip: string | false;
  /** Whether this library's permessage-deflate is negotiated on this path. */
  compresses: boolean;
  start(options: PathOptions): Promise<StartedPath>;
}

const onDeno = "Deno" in globalThis, onBun = "Bun" in globalThis;

export const SERVER_PATHS: ServerPath[] = [
  {
    name: "serve()",
    skip: false,
    compresses: true,
    start: async (options) => {
      const server = await serve({ port: 0, ...options });
      return {
        url: server.url,
        stop: () => server.close(),
        publish: server.publish,
        subscriberCount: server.subscriberCount,
        disconnectUser: server.disconnectUser,
      };
    },
  },
  {
    name: "node:http + handleNodeUpgrade",
    skip: false,
    compresses: true,
    start: async (options) => {
      const sockets = new Set<ServerSocket>();
      const upgraded = new Set<{ destroy(): void }>();
      const pubsub = options.pubsub ?? createPubSub();
      const server = createServer(NODE_HTTP_SERVER_OPTIONS, (_req, res) => res.end());
      server.on("upgrade", async (req, socket, head) => {
        upgraded.add(socket);
        const accepted = await handleNodeUpgrade(req, socket, head, {
          protocols: options.protocols,
          authorize: options.upgrade,
          textAsBytes: options.textAsBytes,
          deflate: options.deflate,
          publishQueue: options.publishQueue,
        });
        if (accepted !== undefined) attachHandler(accepted, options.websocket, sockets, pubsub);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return {
        url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
        publish: (topic, data, publishOptions) => pubsub.publish(topic, data, publishOptions),
        subscriberCount: (topic) => pubsub.subscriberCount(topic),
        disconnectUser: (user, code, reason) => disconnectUser(sockets, user, code, reason),
        stop: async () => {
          for (const socket of upgraded) socket.destroy();
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            setTimeout(resolve, 1000);
          });
        },
      };
    },
  },
  {
    name: "listenDeno",
    skip: onDeno ? false : "Deno.listen exists only on Deno",
    compresses: true,
    start: async (options) => {
      const server = await listenDeno({ port: 0, ...options });
      return {
        url: server.url,
        stop: () => server.close(),
        publish: server.publish,
        subscriberCount: server.subscriberCount,
        disconnectUser: server.disconnectUser,
      };
    },
  },
  {
    name: "listenBun",
    skip: onBun ? false : "Bun.listen exists only on Bun",
    compresses: true,
    start: async (options) => {
      const server = await listenBun({ port: 0, ...options });
      return {
        url: server.url,
        stop: () => server.close(),
        publish: server.publish,
        subscriberCount: server.subscriberCount,
        disconnectUser: server.disconnectUser,
      };
    },
  },
  {
    name: "Bun.serve + bunServe",
    skip: onBun ? false : "Bun.serve exists only on Bun",
    compresses: false,
    start: (options) => {
      const bun = (globalThis as unknown as {
        Bun: { serve(o: unknown): { port: number; stop(force?: boolean): Promise<void> | void } };
      }).Bun;
      const { deflate: _deflate, ...rest } = options;
      const handlers = bunServe(rest);
      const server = bun.serve({ port: 0, hostname: "127.0.0.1", ...handlers });
      return Promise.resolve({
        url: `ws://127.0.0.1:${server.port}/`,
        stop: async () => void await server.stop(true),
        publish: handlers.publish,
        subscriberCount: handlers.subscriberCount,
        disconnectUser: handlers.disconnectUser,
      });
    },
  },
  {
    name: "Deno.serve + denoServe",
    skip: onDeno ? false : "Deno.serve exists only on Deno",
    compresses: false,
    start: async (options) => {
      const controller = new AbortController();
      const { promise: listening, resolve } = withResolvers<number>();
      const { deflate: _deflate, ...rest } = options;
      const handler = denoServe(rest);
      const server = Deno.serve({
        port: 0,
        hostname: "127.0.0.1",
        signal: controller.signal,
        onListen: (addr) => resolve(addr.port),
      }, handler);
      const port = await listening;
      return {
        url: `ws://127.0.0.1:${port}/`,
        stop: async () => (controller.abort(), await server.finished),
        publish: handler.publish,
        subscriberCount: handler.subscriberCount,
        disconnectUser: handler.disconnectUser,
      };
    },
  },
];

/**
 * `Bun.serve` + `bunServe({ nativeTopics: true })`: Bun's own topics. Not in SERVER_PATHS (no shared
 * registry, presence or history there); the topic suites that hold for it run it too.
 */
export const NATIVE_TOPICS_PATH: ServerPath = {
  name: "Bun.serve + bunServe (native topics)",
  skip: onBun ? false : "Bun.serve exists only on Bun",
  compresses: false,
  start: (options) => {
    const bun = (globalThis as unknown as {
      Bun: { serve(o: unknown): { port: number; stop(force?: boolean): Promise<void> | void } };
    }).Bun;
    const { deflate: _deflate, ...rest } = options;
    const handlers = bunServe({ ...rest, nativeTopics: true });
    const server = bun.serve({ port: 0, hostname: "127.0.0.1", ...handlers });
    return Promise.resolve({
      url: `ws://127.0.0.1:${server.port}/`,
      stop: async () => void await server.stop(true),
      publish: handlers.publish,
      subscriberCount: handlers.subscriberCount,
      disconnectUser: handlers.disconnectUser,
    });
  },
};

export function withResolvers<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}
