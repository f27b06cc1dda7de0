/**
 * The server callbacks plugged into `Bun.serve`. Bun gives no raw socket, so the WebSocket here is Bun's
 * own: the opening request is checked and the subprotocol chosen by this library (the same rules and
 * `upgrade` hook as everywhere), then Bun's native WebSocket carries the messages. What that means for
 * compression: only Bun's permessage-deflate (`perMessageDeflate`): `true` is Bun's shared compressor,
 * which answers with both `no_context_takeover` parameters; `{ compress: "dedicated", decompress:
 * "dedicated" }` gives each connection its own window (context takeover), native and fast (see the README's
 * echo table), at ~220 KiB per connection from the open. Bun's has known RFC 7692 bugs
 * (`shared/reference/measured.md`). For this library's permessage-deflate on Bun, use `serve()` (node:http).
 *
 * @module
 */

import {
  serverHandshake,
  type ServerHandshakeOptions,
  type UpgradeAcceptance,
  type UpgradeHook,
} from "../handshake/server_handshake.ts";
import {
  autoResponder,
  closeAtExpiry,
  disconnectUser,
  inNativeForm,
  type ServerSocket,
  socketSubscribe,
  type WebSocketHandler,
} from "./_socket_handler.ts";
import {
  EngineTopics,
  type EngineTopicServer,
  type EngineTopicSocket,
  NativeTopics,
  type NativeTopicStats,
} from "./_native_topics.ts";
import type { PublishQueueOptions } from "../connection.ts";
import { createPubSub, type PublishData, type PublishOptions, type PubSub } from "../pubsub/pubsub.ts";
import { logHandshake } from "./_debug_env.ts"; // and DEBUG=wsengine* read
import { debugLogger, type Logger } from "../core/logger.ts";

export type { NativeTopicStats } from "./_native_topics.ts";

/** Bun's `setImmediate`: runs a function at the end of the event loop's iteration (not in Deno's types). */
const setImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;

/** The part of Bun's `Server` this adapter uses. */
export interface BunServerLike {
  /** Upgrades the request to Bun's WebSocket; `false` when Bun refuses it. */
  upgrade(request: Request, options: { headers?: Record<string, string>; data: unknown }): boolean;
  /** The peer's address (for the log). */
  requestIP?(request: Request): { address: string } | null;
  /** Publishes to Bun's own topics (used with `nativeTopics`). */
  publish?(topic: string, data: string | Uint8Array, compress?: boolean): number;
  /** Subscribers of one of Bun's own topics (used with `nativeTopics`). */
  subscriberCount?(topic: string): number;
}

/** The part of Bun's `ServerWebSocket` this adapter uses. */
export interface BunWebSocketLike {
  /** The data given to `server.upgrade`. */
  data: unknown;
  /** Sends; -1 means queued behind backpressure, 0 dropped, more the bytes sent. */
  send(data: string | Uint8Array, compress?: boolean): number;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Sends a ping. */
  ping(data?: string | Uint8Array): number;
  /** Bytes Bun holds for this socket, not yet written. */
  getBufferedAmount(): number;
  /** Runs the callback with this socket's sends batched into one write. */
  cork?<R>(callback: (ws: BunWebSocketLike) => R): R;
  /** Bun's own topics (used with `nativeTopics`). */
  subscribe?(topic: string): unknown;
  /** Bun's own topics (used with `nativeTopics`). */
  unsubscribe?(topic: string): unknown;
  /** Bun's own topics (used with `nativeTopics`). */
  isSubscribed?(topic: string): boolean;
  /** Bun's own topics (used with `nativeTopics`). */
  publish?(topic: string, data: string | Uint8Array, compress?: boolean): number;
}

/** Options for {@linkcode bunServe}. */
export interface BunServeOptions<T = unknown> extends Omit<ServerHandshakeOptions, "authorize" | "deflate"> {
  /** Sees each upgrade request first: return a `Response` to refuse with it. */
  upgrade?: UpgradeHook;
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /** Answers requests that are not WebSocket upgrades. @default a 426 response */
  fetch?: (request: Request, server: BunServerLike) => Response | Promise<Response>;
  /** Bun's own permessage-deflate (see the module doc for what it does). @default {false} */
  perMessageDeflate?: boolean | BunPerMessageDeflate;
  /**
   * The topics its sockets subscribe and publish to (this library's registry: Bun's own topics are not
   * used, so that a registry can be shared with other servers and a backplane). Not with `nativeTopics`.
   * @default a registry of its own
   */
  pubsub?: PubSub;
  /**
   * Maps `ws.subscribe`, `unsubscribe`, `isSubscribed`, `subscriptions`, `publish` and the handlers'
   * `publish` and `subscriberCount` onto Bun's own topics (`ws.subscribe`, `ws.publish`, `server.publish`,
   * `server.subscriberCount`): Bun frames, compresses and queues a publish in native code, ~1.3-5x faster
   * than a send per subscriber (see the README's fan-out table). What differs: the topics are this server's
   * alone (no `pubsub` to share, no backplane, history, presence or `since`: a `TypeError`); no `except`
   * (`ws.publish` leaves out its sender, as always); a subscriber over Bun's backpressure limit loses the
   * message with nothing per socket to tell it (no `drop` callback, `ws.dropped` stays 0; `nativeTopicStats`
   * counts what Bun's results say: a publish reported dropped or queued behind backpressure), and
   * `publish` returns the topic's subscriber count when Bun reports the message sent or queued, 0 when it
   * reports it dropped (for some subscriber: Bun does not say which). Compression is Bun's
   * (`perMessageDeflate`), asked for unless `compress: false`. `publishQueue`, if given, becomes Bun's
   * `backpressureLimit` (which bounds direct sends too) and `policy: "close"` its `closeOnBackpressureLimit`
   * (Bun ends the connection without a close frame: the peer sees 1006, not 1013); without it, Bun's defaults
   * (16 MiB, drop).
   * @default {false}: this library's registry, each message sent with Bun's `send`
   */
  nativeTopics?: boolean;
  /**
   * The bound of what a socket may hold of published messages, checked against Bun's buffered amount, and
   * the policy past it (`"drop-oldest"` drops the newest here: Bun's buffer cannot be taken back). With
   * `nativeTopics`: see there.
   * @default {{ limit: 1048576, policy: "close" }}
   */
  publishQueue?: PublishQueueOptions;
  /**
   * Where handshakes, closes and drops are logged, one line each (see {@linkcode Logger}).
   * @default none; a console logger when the environment has `DEBUG=wsengine*`
   */
  logger?: Logger;
}

/**
 * One of Bun's compressors (its `WebSocketCompressor`): `"shared"` (one for all sockets, reset after each
 * message), `"dedicated"` (one per socket keeping context, as `"256KB"`), a window of that many bytes, or
 * `"disable"`.
 */
export type BunWebSocketCompressor =
  | "disable"
  | "shared"
  | "dedicated"
  | "3KB"
  | "4KB"
  | "8KB"
  | "16KB"
  | "32KB"
  | "64KB"
  | "128KB"
  | "256KB";

/** Bun's permessage-deflate settings, as `Bun.serve`'s `websocket.perMessageDeflate` takes them. */
export interface BunPerMessageDeflate {
  /** The compressor for messages the server sends (`true` is `"shared"`, `false` `"disable"`). */
  compress?: boolean | BunWebSocketCompressor;
  /** The decompressor for messages clients send (`true` is `"shared"`, `false` `"disable"`). */
  decompress?: boolean | BunWebSocketCompressor;
}

interface SocketData<T> {
  request: Request;
  protocol: string;
  acceptance: UpgradeAcceptance | undefined;
  cancelExpiry?: () => void;
  socket?: ServerSocket<T>;
  topics?: SocketTopics;
  drained: (() => void)[];
}

/** A socket's topic calls: this library's registry (`NativeTopics`), or Bun's own topics. */
type SocketTopics = Pick<
  NativeTopics,
  "subscribe" | "unsubscribe" | "isSubscribed" | "subscriptions" | "publish" | "dropped" | "closed"
> & { flush?(): void };

/**
 * @param engine Bun's topics.
 * @param ws The socket.
 * @returns Its topic calls on Bun's topics (nothing dropped is known per socket: `dropped` stays 0).
 */
function nativeSocketTopics(engine: EngineTopics, ws: BunWebSocketLike): SocketTopics {
  if (typeof ws.subscribe !== "function" || typeof ws.publish !== "function") {
    throw new TypeError("Cannot serve: nativeTopics needs Bun's ws.subscribe and ws.publish");
  }
  let closing = false;
  const calls = engine.socket(ws as BunWebSocketLike & EngineTopicSocket, () => closing);
  return {
    subscribe: calls.subscribe,
    unsubscribe: calls.unsubscribe,
    isSubscribed: calls.isSubscribed,
    get subscriptions() {
      return calls.subscriptions;
    },
    publish: calls.publish,
    dropped: 0,
    closed: () => void (closing = true),
  };
}

/** What to spread into `Bun.serve`. */
export interface BunServeHandlers {
  /** The request handler: upgrades go to the WebSocket callbacks, the rest to `fetch`. */
  fetch(request: Request, server: BunServerLike): Promise<Response | undefined>;
  /** Bun's websocket handler object. */
  websocket: {
    perMessageDeflate: boolean | BunPerMessageDeflate;
    /** With `nativeTopics` and `publishQueue`: its limit. */
    backpressureLimit?: number;
    /** With `nativeTopics` and `publishQueue`: its policy is `"close"`. */
    closeOnBackpressureLimit?: boolean;
    open(ws: BunWebSocketLike): void;
    message(ws: BunWebSocketLike, message: string | Uint8Array): void;
    drain(ws: BunWebSocketLike): void;
    close(ws: BunWebSocketLike, code: number, reason: string): void;
  };
  /**
   * The topics of its sockets (with `nativeTopics`, only what reaches beyond topics: `disconnectUser`; the
   * topics are Bun's).
   */
  readonly pubsub: PubSub;
  /** With `nativeTopics`: what Bun's results said of the publishes. */
  readonly nativeTopicStats: NativeTopicStats | undefined;
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
 * Builds the `fetch` and `websocket` options of `Bun.serve` from this library's callbacks.
 *
 * @param options The handshake rules, the hook and the callbacks.
 * @returns `{ fetch, websocket }`, to spread into `Bun.serve({ port, ...handlers })`.
 * @example
 * ```ts ignore
 * import { bunServe } from "./bun_serve.ts";
 * Bun.serve({ port: 8080, ...bunServe({ websocket: { message: (socket, data) => socket.send(data) } }) });
 * ```
 */
export function bunServe<T = unknown>(options: BunServeOptions<T>): BunServeHandlers {
  const {
    websocket,
    upgrade,
    fetch,
    perMessageDeflate = false,
    pubsub: givenPubsub,
    nativeTopics = false,
    publishQueue: givenQueue,
    logger: given,
    ...rules
  } = options;
  if (nativeTopics && givenPubsub !== undefined) {
    throw new TypeError(
      "Cannot serve: nativeTopics uses Bun's own topics, which cannot be shared through a pubsub",
    );
  }
  const pubsub = givenPubsub ?? createPubSub();
  const publishQueue = givenQueue ?? {};
  const logger = given ?? debugLogger("server");
  const isAutoRequest = autoResponder(websocket); // a malformed option is a TypeError now, not per connection
  const compress = perMessageDeflate !== false &&
    !(typeof perMessageDeflate === "object" &&
      (perMessageDeflate.compress === false || perMessageDeflate.compress === "disable"));
  const sockets = new Set<ServerSocket<T>>();
  // disconnectUser reaches these sockets through the registry, from any server or node (for as long as the
  // handlers live: there is no close to unregister at).
  pubsub.addUserCloser((user, code, reason) =>
    disconnectUser(sockets as Set<ServerSocket>, user, code, reason)
  );
  const engine = nativeTopics ? new EngineTopics(compress) : undefined;
  const native: Partial<BunServeHandlers["websocket"]> = {};
  if (engine !== undefined && givenQueue !== undefined) {
    native.backpressureLimit = givenQueue.limit ?? 1024 * 1024;
    native.closeOnBackpressureLimit = (givenQueue.policy ?? "close") === "close";
  }
  return {
    pubsub,
    nativeTopicStats: engine?.stats,
    disconnectUser: (user, code, reason) => pubsub.disconnectUser(user, code, reason),
    publish: engine !== undefined
      ? (topic, data, publishOptions) => engine.publish(topic, data, publishOptions)
      : (topic, data, publishOptions) => pubsub.publish(topic, data, publishOptions),
    subscriberCount: engine !== undefined
      ? (topic) => engine.subscriberCount(topic)
      : (topic) => pubsub.subscriberCount(topic),
    async fetch(request, server) {
      // Bun's server is known only here (before any socket: every upgrade comes through).
      if (engine !== undefined && engine.server === undefined) {
        if (typeof server.publish !== "function" || typeof server.subscriberCount !== "function") {
          throw new TypeError(
            "Cannot serve: nativeTopics needs Bun's server.publish and server.subscriberCount",
          );
        }
        engine.server = server as EngineTopicServer;
      }
      if (request.headers.get("upgrade") === null) {
        if (fetch !== undefined) return await fetch(request, server);
        return new Response("This is a WebSocket server: connect with a WebSocket client\n", {
          status: 426,
          headers: { upgrade: "websocket", connection: "Upgrade" },
        });
      }
      // This library's checks and choice of subprotocol; Bun then answers the handshake itself.
      const result = await serverHandshake(request, { ...rules, deflate: false, authorize: upgrade });
      logHandshake(logger, request, result, server.requestIP?.(request)?.address);
      if (!result.ok) return result.response;
      const data: SocketData<T> = {
        request,
        protocol: result.protocol,
        acceptance: result.acceptance,
        drained: [],
      };
      const headers: Record<string, string> = result.protocol === ""
        ? {}
        : { "sec-websocket-protocol": result.protocol };
      if (server.upgrade(request, { headers, data })) return undefined;
      return new Response("Cannot upgrade: the runtime refused the upgrade\n", { status: 400 });
    },
    websocket: {
      perMessageDeflate,
      ...native,
      open(ws) {
        const data = ws.data as SocketData<T>;
        const topics: SocketTopics = engine !== undefined ? nativeSocketTopics(engine, ws) : new NativeTopics(
          pubsub,
          {
            send: (message, compressed) => ws.send(message, compressed && compress) !== 0,
            bufferedAmount: () => ws.getBufferedAmount(),
            close: (code, reason) => ws.close(code, reason),
            // Publishes of one iteration leave in one write (Bun corks only the socket whose callback runs).
            ...(typeof ws.cork === "function" && setImmediate !== undefined
              ? { batch: { later: setImmediate, cork: (sends: () => void) => void ws.cork!(sends) } }
              : {}),
          },
          publishQueue,
          (topic, count) => {
            logger?.warn("published messages dropped", {
              role: "server",
              topic,
              count,
              policy: publishQueue.policy ?? "close",
            });
            websocket.drop?.(socket, topic, count);
          },
        );
        data.topics = topics;
        const socket: ServerSocket<T> = {
          request: data.request,
          protocol: data.protocol,
          // Bun does not tell the server which extensions it accepted.
          extensions: "",
          connection: undefined,
          data: data.acceptance?.data as T,
          user: data.acceptance?.user,
          send: (message, sendOptions) => {
            topics.flush?.(); // what was published to it before goes first
            const sent = ws.send(inNativeForm(message, sendOptions), sendOptions?.compress ?? compress);
            if (sent === 0) {
              return Promise.reject(new Error("Cannot send: Bun dropped the message (the socket is closed)"));
            }
            if (sent > 0) return Promise.resolve();
            // -1: queued behind backpressure; resolved by Bun's `drain`.
            return new Promise<void>((resolve) => data.drained.push(resolve));
          },
          close: (code, reason) => {
            topics.flush?.();
            ws.close(code, reason);
          },
          ping: (payload) => void ws.ping(payload),
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
        data.socket = socket;
        sockets.add(socket);
        data.cancelExpiry = closeAtExpiry(
          data.acceptance?.expiresAt,
          (code, reason) => socket.close(code, reason),
        );
        websocket.open?.(socket);
      },
      message(ws, message) {
        const data = ws.data as SocketData<T>;
        const payload = typeof message === "string"
          ? message
          : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
        if (isAutoRequest?.(payload, typeof message !== "string")) {
          data.topics?.flush?.();
          return void ws.send(websocket.autoResponse!.response);
        }
        websocket.message?.(data.socket!, payload, typeof message !== "string");
      },
      drain(ws) {
        for (const resolve of (ws.data as SocketData<T>).drained.splice(0)) resolve();
      },
      close(ws, code, reason) {
        const data = ws.data as SocketData<T>;
        data.topics?.closed();
        data.cancelExpiry?.();
        if (data.socket !== undefined) sockets.delete(data.socket);
        for (const resolve of data.drained.splice(0)) resolve();
        // Bun reports 1006 when no close frame came: the same meaning as this library's `closed`.
        logger?.debug("closed", { role: "server", code, reason, wasClean: code !== 1006 });
        websocket.close?.(data.socket!, code, reason, code !== 1006);
      },
    },
  };
}
