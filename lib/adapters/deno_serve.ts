/**
 * The server callbacks plugged into `Deno.serve`. Deno gives no raw socket there, so the WebSocket is
 * Deno's own (`Deno.upgradeWebSocket`): the opening request is checked and the subprotocol chosen by this
 * library (the same rules and `upgrade` hook as everywhere), then Deno's WebSocket carries the messages.
 * What that means for compression: none; Deno's WebSocket never negotiates permessage-deflate. For this
 * library's permessage-deflate on Deno, use `listenDeno()` (raw Deno.listen) or `serve()` (node:http).
 *
 * @module
 */

import { serverHandshake, type ServerHandshakeOptions, type UpgradeHook } from "../handshake/server_handshake.ts";
import { autoResponder, closeAtExpiry, disconnectUser, inNativeForm, type ServerSocket, socketSubscribe, type WebSocketHandler } from "./_socket_handler.ts";
import { NativeTopics } from "./_native_topics.ts";
import type { PublishQueueOptions } from "../connection.ts";
import { createPubSub, type PublishData, type PublishOptions, type PubSub } from "../pubsub/pubsub.ts";
import { logHandshake } from "./_debug_env.ts"; // and DEBUG=wsengine* read
import { debugLogger, type Logger } from "../core/logger.ts";

/** Bytes Deno may hold for a socket before `send()` waits, as this library's own sockets do. */
const SEND_HIGH_WATER_MARK = 256 * 1024;
/** How often a waiting `send()` looks at `bufferedAmount` again (Deno's WebSocket has no drain event). */
const DRAIN_POLL_MS = 5;

/**
 * Resolves once the socket holds less than {@linkcode SEND_HIGH_WATER_MARK} (at once if it does), or when
 * it closes: `send()`'s backpressure, as on the other server paths.
 */
function drained(native: WebSocket): Promise<void> {
  if (native.bufferedAmount < SEND_HIGH_WATER_MARK) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (native.bufferedAmount < SEND_HIGH_WATER_MARK || native.readyState >= WebSocket.CLOSING) {
        clearInterval(timer);
        resolve();
      }
    }, DRAIN_POLL_MS);
  });
}

/** Options for {@linkcode denoServe}. */
export interface DenoServeOptions<T = unknown> extends Omit<ServerHandshakeOptions, "authorize" | "deflate"> {
  /** Sees each upgrade request first: return a `Response` to refuse with it. */
  upgrade?: UpgradeHook;
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /** Answers requests that are not WebSocket upgrades. @default a 426 response */
  fetch?: (request: Request) => Response | Promise<Response>;
  /** Seconds without a pong before Deno closes the socket (Deno's own keepalive). @default {120} */
  idleTimeout?: number;
  /**
   * The topics its sockets subscribe and publish to: give the same one to several servers to share them.
   * @default a registry of its own
   */
  pubsub?: PubSub;
  /**
   * The bound of what a socket may hold of published messages, checked against its `bufferedAmount`, and
   * the policy past it (`"drop-oldest"` drops the newest here: Deno's buffer cannot be taken back).
   * @default {{ limit: 1048576, policy: "close" }}
   */
  publishQueue?: PublishQueueOptions;
  /**
   * Where handshakes, closes and drops are logged, one line each (see {@linkcode Logger}).
   * @default none; a console logger when the environment has `DEBUG=wsengine*`
   */
  logger?: Logger;
}

/** The `Deno.serve` handler, with the server's topics. */
export interface DenoServeHandler {
  /** Answers a request: upgrades go to the WebSocket callbacks, the rest to `fetch`. */
  (request: Request): Promise<Response>;
  /** The topics of its sockets. */
  readonly pubsub: PubSub;
  /**
   * Publishes to every subscriber of a topic.
   * @returns How many subscribers it was handed to.
   */
  publish(topic: string, data: PublishData, options?: PublishOptions): number;
  /**
   * Counts the sockets subscribed to a topic.
   * @returns How many sockets are subscribed to the topic (a lookup, not a loop).
   */
  subscriberCount(topic: string): number;
  /**
   * Closes every open socket of a user (the `user` the `upgrade` hook gave them).
   * @returns How many sockets were closed.
   */
  disconnectUser(user: string, code?: number, reason?: string): number;
}

/**
 * Builds a `Deno.serve` handler from this library's callbacks.
 *
 * @param options The handshake rules, the hook and the callbacks.
 * @returns The handler for `Deno.serve`, with `publish` and `subscriberCount`.
 * @example
 * ```ts ignore
 * import { denoServe } from "./deno_serve.ts";
 * Deno.serve({ port: 8080 }, denoServe({ websocket: { message: (socket, data) => socket.send(data) } }));
 * ```
 */
export function denoServe<T = unknown>(options: DenoServeOptions<T>): DenoServeHandler {
  const { websocket, upgrade, fetch, idleTimeout, pubsub = createPubSub(), publishQueue = {}, logger: given, ...rules } = options;
  const logger = given ?? debugLogger("server");
  const isAutoRequest = autoResponder(websocket); // a malformed option is a TypeError now, not per connection
  const sockets = new Set<ServerSocket<T>>();
  // disconnectUser reaches these sockets through the registry, from any server or node (for as long as the
  // handlers live: there is no close to unregister at).
  pubsub.addUserCloser((user, code, reason) => disconnectUser(sockets as Set<ServerSocket>, user, code, reason));
  const handler = async (request: Request): Promise<Response> => {
    if (request.headers.get("upgrade") === null) {
      if (fetch !== undefined) return await fetch(request);
      return new Response("This is a WebSocket server: connect with a WebSocket client\n", {
        status: 426,
        headers: { upgrade: "websocket", connection: "Upgrade" },
      });
    }
    const result = await serverHandshake(request, { ...rules, deflate: false, authorize: upgrade });
    logHandshake(logger, request, result, undefined);
    if (!result.ok) return result.response;
    const { socket: native, response } = Deno.upgradeWebSocket(request, {
      protocol: result.protocol === "" ? undefined : result.protocol,
      idleTimeout,
    });
    native.binaryType = "arraybuffer";
    const topics = new NativeTopics(pubsub, {
      send: (message) => {
        if (native.readyState !== WebSocket.OPEN) return false;
        native.send(message as string | Uint8Array<ArrayBuffer>);
        return true;
      },
      bufferedAmount: () => native.bufferedAmount,
      close: (code, reason) => native.close(code, reason),
    }, publishQueue, (topic, count) => {
      logger?.warn("published messages dropped", { role: "server", topic, count, policy: publishQueue.policy ?? "close" });
      websocket.drop?.(socket, topic, count);
    });
    const socket: ServerSocket<T> = {
      request,
      protocol: result.protocol,
      extensions: "",
      connection: undefined,
      data: result.acceptance?.data as T,
      user: result.acceptance?.user,
      send: (data, sendOptions) => {
        native.send(inNativeForm(data, sendOptions) as string | Uint8Array<ArrayBuffer>);
        return drained(native);
      },
      close: (code, reason) => native.close(code, reason),
      ping: () => {
        // Deno's WebSocket pings by itself (idleTimeout) and exposes no ping to send.
        throw new DOMException("Cannot ping: Deno.serve's WebSocket exposes no ping (see idleTimeout)", "NotSupportedError");
      },
      subscribe: socketSubscribe(() => socket, websocket, topics),
      unsubscribe: (topic) => topics.unsubscribe(topic),
      isSubscribed: (topic) => topics.isSubscribed(topic),
      get subscriptions() {
        return topics.subscriptions;
      },
      publish: (topic, message, publishOptions) => topics.publish(topic, message, publishOptions),
      get dropped() {
        return topics.dropped;
      },
    };
    let cancelExpiry = () => {};
    native.onopen = () => {
      sockets.add(socket);
      cancelExpiry = closeAtExpiry(result.acceptance?.expiresAt, (code, reason) => native.close(code, reason));
      websocket.open?.(socket);
    };
    native.onmessage = (event) => {
      const data = typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer);
      if (isAutoRequest?.(data, typeof data !== "string")) return void native.send(websocket.autoResponse!.response);
      websocket.message?.(socket, data, typeof data !== "string");
    };
    native.onerror = () => websocket.error?.(socket, new Error("WebSocket error"));
    native.onclose = (event) => {
      topics.closed();
      cancelExpiry();
      sockets.delete(socket);
      logger?.debug("closed", { role: "server", code: event.code, reason: event.reason, wasClean: event.wasClean });
      websocket.close?.(socket, event.code, event.reason, event.wasClean);
    };
    return response;
  };
  return Object.assign(handler, {
    pubsub,
    publish: (topic: string, data: PublishData, publishOptions?: PublishOptions) => pubsub.publish(topic, data, publishOptions),
    subscriberCount: (topic: string) => pubsub.subscriberCount(topic),
    disconnectUser: (user: string, code?: number, reason?: string) => pubsub.disconnectUser(user, code, reason),
  });
}
