/**
 * A WebSocket server in a Cloudflare Durable Object, on the WebSocket hibernation API: the object accepts
 * each socket with `ctx.acceptWebSocket` (so the runtime keeps it open while the object is evicted from
 * memory), and this adapter plugs the same `upgrade` hook, subprotocol choice and
 * `open`/`message`/`close`/`error` callbacks as every server path into the object's `fetch`,
 * `webSocketMessage`, `webSocketClose` and `webSocketError`.
 *
 * What survives hibernation: each socket's `data`, `user`, topics, URL, subprotocol, extensions and
 * expiry live in its attachment (`serializeAttachment`), written whenever one of them changes; when the
 * object is constructed anew (a message arrives for a hibernated socket), the sockets are restored from
 * `ctx.getWebSockets()` and their attachments, topics included, before any callback runs. So a room is one
 * Durable Object, and nothing of it is lost when it hibernates. `open` is not called again for a restored
 * socket, and its `request` is a `GET` of its URL only (the headers are gone: keep what is needed of them
 * in `data` from the `upgrade` hook).
 *
 * The runtime's limits (Cloudflare's documentation): 32,768 sockets per object (refused here with 503
 * past it), 10 tags of at most 256 characters per socket (a `RangeError` past them), 16 KiB per attachment
 * (a `subscribe` or `data` change that would pass it throws a `RangeError` and is undone). Topics beyond
 * the tags are kept in the attachment, not as tags: tags are fixed when a socket is accepted.
 *
 * @module
 */

import {
  disconnectUser,
  inNativeForm,
  type ServerSocket,
  type SocketSubscribe,
  TOKEN_EXPIRED,
  type WebSocketHandler,
} from "./_socket_handler.ts";
import { NativeTopics } from "./_native_topics.ts";
import {
  checkUpgrade,
  type CloudflareHandshakeOptions,
  type CloudflareWebSocket,
  type DurableObjectStateLike,
  logHandlerError,
  messageData,
  newWebSocketPair,
  pingNotSupported,
  replyToClose,
  switchingProtocols,
} from "./cloudflare_runtime.ts";
import type { UpgradeAcceptance } from "../handshake/server_handshake.ts";
import { createPubSub, type PublishOptions, type PubSub } from "../pubsub/pubsub.ts";

/** The most WebSockets one Durable Object may hold (Cloudflare's limit). */
export const MAX_DURABLE_OBJECT_SOCKETS = 32_768;
/** The most tags of one hibernatable WebSocket. */
export const MAX_TAGS = 10;
/** The longest tag. */
export const MAX_TAG_LENGTH = 256;

/** Options for {@linkcode durableObjectServe}. */
export interface DurableObjectServeOptions<T = unknown> extends CloudflareHandshakeOptions {
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /**
   * The tags to accept a socket with (at most 10, of at most 256 characters): the runtime's index,
   * `ctx.getWebSockets(tag)`. Each tag is also a topic the socket is subscribed to from the start.
   * @default none
   */
  tags?: (request: Request, acceptance: UpgradeAcceptance | undefined) => string[];
  /**
   * A request message the runtime answers with `response` by itself, without waking the object
   * (`setWebSocketAutoResponse`): an application-level heartbeat that costs no wake-up. The runtime
   * answers WebSocket pings by itself in any case.
   * @default none
   */
  autoResponse?: { request: string; response: string };
  /**
   * The topics of the object's sockets: one object, one registry (rebuilt from the attachments after
   * hibernation).
   * @default a registry of its own
   */
  pubsub?: PubSub;
}

/** The object's WebSocket entry points and its topics. */
export interface DurableObjectServer<T = unknown> {
  /** The object's `fetch`: upgrades are checked and accepted, the rest go to the `fetch` option. */
  fetch(request: Request): Promise<Response>;
  /** The object's `webSocketMessage`. */
  webSocketMessage(ws: CloudflareWebSocket, message: string | ArrayBuffer): void;
  /** The object's `webSocketClose`. */
  webSocketClose(ws: CloudflareWebSocket, code: number, reason: string, wasClean: boolean): void;
  /** The object's `webSocketError`. */
  webSocketError(ws: CloudflareWebSocket, error: unknown): void;
  /** The topics of the object's sockets. */
  readonly pubsub: PubSub;
  /**
   * Publishes to every subscriber of a topic in this object.
   * @returns How many subscribers it was handed to.
   */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number;
  /**
   * Counts the object's sockets subscribed to a topic.
   * @returns How many of the object's sockets are subscribed to the topic.
   */
  subscriberCount(topic: string): number;
  /**
   * Closes every open socket of a user.
   * @returns How many sockets were closed.
   */
  disconnectUser(user: string, code?: number, reason?: string): number;
  /** The object's open sockets (restored after hibernation). */
  sockets(): ServerSocket<T>[];
}

/** What a socket keeps in its attachment. */
interface Attachment {
  wsengine: 1;
  url: string;
  protocol: string;
  extensions: string;
  data: unknown;
  user: string | undefined;
  topics: string[];
  expiresAt: number | undefined;
}

/** A socket of the object, in memory. */
interface Entry<T> {
  socket: ServerSocket<T>;
  topics: NativeTopics;
  attachment: Attachment;
  finished: boolean;
}

/**
 * Builds a Durable Object's WebSocket entry points from this library's callbacks, on the hibernation API.
 *
 * @param ctx The object's state (`ctx` / `state` in its constructor).
 * @param options The handshake rules, the hook, the callbacks and the tags.
 * @returns The entry points to call from the object's methods, and its topics.
 * @example
 * ```ts ignore
 * import { durableObjectServe } from "@wsengine/wsengine/cloudflare";
 * export class Room {
 *   #server;
 *   constructor(ctx: DurableObjectState) {
 *     this.#server = durableObjectServe(ctx, {
 *       websocket: {
 *         open: (socket) => socket.subscribe("room"),
 *         message: (socket, data) => socket.publish("room", data),
 *       },
 *     });
 *   }
 *   fetch(request: Request) { return this.#server.fetch(request); }
 *   webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) { this.#server.webSocketMessage(ws, message); }
 *   webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean) {
 *     this.#server.webSocketClose(ws, code, reason, wasClean);
 *   }
 *   webSocketError(ws: WebSocket, error: unknown) { this.#server.webSocketError(ws, error); }
 * }
 * ```
 */
export function durableObjectServe<T = unknown>(
  ctx: DurableObjectStateLike,
  options: DurableObjectServeOptions<T>,
): DurableObjectServer<T> {
  const { websocket, tags, autoResponse, pubsub = createPubSub(), ...handshake } = options;
  const entries = new Map<CloudflareWebSocket, Entry<T>>();
  const sockets = new Set<ServerSocket<T>>();
  let restored = false;

  if (autoResponse !== undefined) {
    type PairConstructor = new (request: string, response: string) => unknown;
    const Pair = (globalThis as unknown as { WebSocketRequestResponsePair?: PairConstructor })
      .WebSocketRequestResponsePair;
    if (Pair === undefined) {
      throw new TypeError("Cannot set autoResponse: WebSocketRequestResponsePair is missing (not workerd)");
    }
    ctx.setWebSocketAutoResponse(new Pair(autoResponse.request, autoResponse.response));
  }

  const persist = (native: CloudflareWebSocket, attachment: Attachment) => {
    try {
      native.serializeAttachment(attachment);
    } catch (error) {
      throw new RangeError(
        `Cannot keep the socket's state in its attachment (at most 16 KiB): ${(error as Error).message}`,
      );
    }
  };

  const entryOf = (native: CloudflareWebSocket, attachment: Attachment, request: Request): Entry<T> => {
    let closing = false;
    const close = (code?: number, reason?: string) => {
      closing = true;
      try {
        native.close(code, reason);
      } catch {
        // Already closed.
      }
    };
    const topics = new NativeTopics(
      pubsub,
      {
        send: (message) => {
          if (closing || native.readyState !== 1) return false;
          try {
            native.send(message);
            return true;
          } catch {
            return false;
          }
        },
        // workerd tells JavaScript nothing of what it buffers: a published message is handed to it.
        bufferedAmount: () => 0,
        close,
      },
      {},
      (topic, count) => websocket.drop?.(socket, topic, count),
    );
    /** Changes the attachment and keeps it, or undoes the change and throws. */
    const update = (change: (a: Attachment) => Attachment) => {
      const next = change(entry.attachment);
      persist(native, next);
      entry.attachment = next;
    };
    const socket: ServerSocket<T> = {
      request,
      protocol: attachment.protocol,
      extensions: attachment.extensions,
      connection: undefined,
      get data() {
        return entry.attachment.data as T;
      },
      set data(value: T) {
        update((a) => ({ ...a, data: value }));
      },
      user: attachment.user,
      send: (data, sendOptions) => {
        native.send(inNativeForm(data, sendOptions));
        return Promise.resolve();
      },
      close,
      ping: pingNotSupported,
      subscribe: ((topic: string, options?: { since?: unknown; presence?: unknown }) => {
        if (options?.since !== undefined) {
          return Promise.reject(new TypeError("Cannot recover: a Durable Object keeps no history"));
        }
        // Presence would be lost when the object hibernates: refused rather than silently ignored.
        if (options?.presence !== undefined && options.presence !== false) {
          throw new TypeError("Cannot subscribe with presence: a Durable Object keeps none (list ctx.getWebSockets(tag))");
        }
        if (!(websocket.authorizeSubscribe?.(socket, topic) ?? true)) return false;
        if (!topics.subscribe(topic)) return false;
        try {
          update((a) => ({ ...a, topics: [...a.topics, topic] }));
        } catch (error) {
          topics.unsubscribe(topic);
          throw error;
        }
        return true;
      }) as SocketSubscribe,
      unsubscribe: (topic) => {
        if (!topics.unsubscribe(topic)) return false;
        update((a) => ({ ...a, topics: a.topics.filter((t) => t !== topic) }));
        return true;
      },
      isSubscribed: (topic) => topics.isSubscribed(topic),
      get subscriptions() {
        return topics.subscriptions;
      },
      publish: (topic, message, publishOptions) => topics.publish(topic, message, publishOptions),
      get dropped() {
        return topics.dropped;
      },
    };
    const entry: Entry<T> = { socket, topics, attachment, finished: false };
    for (const topic of attachment.topics) topics.subscribe(topic);
    entries.set(native, entry);
    sockets.add(socket);
    return entry;
  };

  /** After hibernation: the sockets the runtime kept, with what their attachments hold. */
  const restoreAll = () => {
    if (restored) return;
    restored = true;
    for (const native of ctx.getWebSockets()) {
      if (entries.has(native)) continue;
      const attachment = native.deserializeAttachment() as Attachment | null;
      if (attachment === null || attachment?.wsengine !== 1) continue; // not one of this adapter's sockets
      entryOf(native, attachment, new Request(attachment.url));
    }
  };

  const finish = (native: CloudflareWebSocket, code: number, reason: string, wasClean: boolean) => {
    const entry = entries.get(native);
    if (entry === undefined || entry.finished) return;
    entry.finished = true;
    entry.topics.closed();
    entries.delete(native);
    sockets.delete(entry.socket);
    websocket.close?.(entry.socket, code, reason, wasClean);
  };

  const fail = (entry: Entry<T>, which: string, error: unknown) => {
    logHandlerError(websocket.error !== undefined, which, error);
    try {
      websocket.error?.(entry.socket, error instanceof Error ? error : new Error(String(error)));
    } catch {
      // An error handler that throws has nowhere further to report to.
    }
    entry.socket.close(1011);
  };

  return {
    pubsub,
    async fetch(request) {
      restoreAll();
      const result = await checkUpgrade(request, handshake);
      if (!result.ok) return result.response;
      if (entries.size >= MAX_DURABLE_OBJECT_SOCKETS) {
        return new Response(
          `Cannot upgrade: this room holds ${entries.size} WebSockets, the most a Durable Object can\n`,
          {
            status: 503,
            headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "5" },
          },
        );
      }
      const acceptance = result.acceptance;
      const tagList = tags?.(request, acceptance) ?? [];
      if (tagList.length > MAX_TAGS) {
        throw new RangeError(`Cannot accept: ${tagList.length} tags, at most ${MAX_TAGS}`);
      }
      for (const tag of tagList) {
        if (typeof tag !== "string" || tag.length === 0 || tag.length > MAX_TAG_LENGTH) {
          throw new RangeError(
            `Cannot accept: a tag must be a string of 1 to ${MAX_TAG_LENGTH} characters: ${
              String(tag).slice(0, 40)
            }`,
          );
        }
      }
      const expiresAt = acceptance?.expiresAt;
      if (expiresAt !== undefined && !Number.isFinite(expiresAt)) {
        throw new TypeError(`Cannot accept: expiresAt ${expiresAt} is not a time`);
      }
      const attachment: Attachment = {
        wsengine: 1,
        url: request.url,
        protocol: result.protocol,
        extensions: result.extensions,
        data: acceptance?.data,
        user: acceptance?.user,
        topics: [...new Set(tagList)],
        expiresAt,
      };
      const [client, native] = newWebSocketPair();
      persist(native, attachment);
      ctx.acceptWebSocket(native, tagList);
      const entry = entryOf(native, attachment, request);
      try {
        websocket.open?.(entry.socket);
      } catch (error) {
        fail(entry, "open", error);
      }
      return switchingProtocols(client, result.protocol, result.extensions);
    },
    webSocketMessage(native, message) {
      restoreAll();
      const entry = entries.get(native);
      if (entry === undefined || entry.finished) return;
      // Timers would keep the object awake: an expiry is checked when the socket is next heard from.
      const expiresAt = entry.attachment.expiresAt;
      if (expiresAt !== undefined && Date.now() >= expiresAt) {
        entry.socket.close(TOKEN_EXPIRED, "token expired");
        return;
      }
      try {
        const data = messageData(message);
        websocket.message?.(entry.socket, data, typeof data !== "string");
      } catch (error) {
        fail(entry, "message", error);
      }
    },
    webSocketClose(native, code, reason, wasClean) {
      restoreAll();
      replyToClose(native, code, reason);
      finish(native, code, reason, wasClean);
    },
    webSocketError(native, error) {
      restoreAll();
      const entry = entries.get(native);
      if (entry !== undefined && !entry.finished) {
        try {
          websocket.error?.(entry.socket, error instanceof Error ? error : new Error(String(error)));
        } catch {
          // An error handler that throws has nowhere further to report to.
        }
      }
      finish(native, 1006, "", false);
    },
    publish(topic, data, publishOptions) {
      restoreAll();
      return pubsub.publish(topic, data, publishOptions);
    },
    subscriberCount(topic) {
      restoreAll();
      return pubsub.subscriberCount(topic);
    },
    disconnectUser(user, code, reason) {
      restoreAll();
      return disconnectUser(sockets, user, code, reason);
    },
    sockets() {
      restoreAll();
      return [...sockets];
    },
  };
}
