/**
 * The callbacks interface of the servers (`serve()`, `listenDeno()`), and the wiring of one accepted
 * connection to it. Private to the adapters folder.
 *
 * @module
 */

import type { Connection } from "../connection.ts";
import type { Logger } from "../core/logger.ts";
import type { UpgradeAcceptance } from "../handshake/server_handshake.ts";
import type { SendOptions } from "../core/protocol.ts";
import { encodeText } from "../core/utf8.ts";
import type { PublishData, PublishOptions, PubSub, Recovery, StreamPosition, SubscribeOptions } from "../pubsub/pubsub.ts";
import { TopicSocket } from "../pubsub/topic_socket.ts";
import { type SocketSubscribeOptions, subscribeOptionsOf } from "../pubsub/presence.ts";

/** One accepted WebSocket, as the handler sees it. */
export interface ServerSocket<T = unknown> {
  /** The upgrade request (URL, headers, cookies). */
  readonly request: Request;
  /** The chosen subprotocol, or `""`. */
  readonly protocol: string;
  /** The accepted extensions, or `""`. */
  readonly extensions: string;
  /**
   * This library's connection (sendStream, bufferedAmount, closed), or `undefined` where the runtime's own
   * WebSocket carries the socket (the `Bun.serve` and `Deno.serve` integrations).
   */
  readonly connection: Connection | undefined;
  /**
   * Whatever the application wants to keep with this socket: what the `upgrade` hook returned as `data`
   * (the user's id and roles, say), or set in `open`.
   */
  data: T;
  /** The user the `upgrade` hook said this socket belongs to, if it did. */
  readonly user: string | undefined;
  /**
   * Sends a message; resolves when the transport can take more (on every path: with the runtime's own
   * WebSocket, when its buffered amount is under 256 KiB again).
   */
  send(data: string | Uint8Array, options?: SendOptions): Promise<void>;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /**
   * Sends a ping (at most 125 bytes). On `Deno.serve` (`denoServe`) there is none to send: Deno's WebSocket
   * pings by itself (its `idleTimeout`) and this throws a `NotSupportedError` `DOMException`.
   */
  ping(data?: string | Uint8Array): void;
  /**
   * Subscribes to a topic; `{ presence: true }` makes this socket's `user` a member of the topic's presence
   * (`pubsub.presence(topic)`, the `"presence"` events), with `presenceData`. With `{ since }` (a position
   * of a topic with history), the messages this socket missed after it are sent first, in order, then the
   * live ones, nothing twice; or none, if the history no longer reaches back that far or its epoch
   * changed: it then returns a `Promise<Recovery>` that says which (`recovered`).
   * @returns `true` if newly subscribed; with `since`, a promise of the {@linkcode Recovery} (rejected if
   * `authorizeSubscribe` refused, the socket was subscribed already, or the history could not be read).
   * @throws {TypeError} For presence asked by a socket without a user.
   */
  subscribe: SocketSubscribe;
  /**
   * Unsubscribes from a topic.
   * @returns `true` if it was subscribed.
   */
  unsubscribe(topic: string): boolean;
  /** Whether this socket is subscribed to a topic. */
  isSubscribed(topic: string): boolean;
  /** This socket's topics (a fresh array). */
  readonly subscriptions: string[];
  /**
   * Publishes to every subscriber of a topic but this socket, without waiting for any.
   * @returns How many subscribers it was handed to.
   */
  publish(topic: string, data: PublishData, options?: PublishOptions): number;
  /** Published messages dropped for this socket so far (its publish queue was over its limit). */
  readonly dropped: number;
}

/** Options of a server socket's `subscribe`: presence, and a position to recover from. */
export interface ServerSubscribeOptions extends SocketSubscribeOptions {
  /** Recovers from this position of a topic with history (see {@linkcode ServerSocket.subscribe}). */
  since?: StreamPosition;
}

/** The overloads of {@linkcode ServerSocket.subscribe}: a boolean, or with `since` a recovery. */
export interface SocketSubscribe {
  (topic: string, options?: ServerSubscribeOptions & { since?: undefined }): boolean;
  (topic: string, options: ServerSubscribeOptions & { since: StreamPosition }): Promise<Recovery>;
  (topic: string, options?: ServerSubscribeOptions): boolean | Promise<Recovery>;
}

/**
 * Makes a server socket's `subscribe` (every adapter's): presence from the socket's user, the handler's
 * `authorizeSubscribe`, and a recovery with `since`.
 *
 * @param socket The socket (read when called).
 * @param websocket The handler.
 * @param topics The socket's topics.
 * @returns The `subscribe` function.
 */
export function socketSubscribe<T>(
  socket: () => ServerSocket<T>,
  websocket: WebSocketHandler<T>,
  topics: { subscribe(topic: string, options?: SubscribeOptions): boolean | Promise<Recovery> },
): SocketSubscribe {
  const subscribe = (topic: string, options?: ServerSubscribeOptions): boolean | Promise<Recovery> => {
    const ws = socket();
    const pubsubOptions = subscribeOptionsOf(ws.user, options);
    if (!(websocket.authorizeSubscribe?.(ws, topic) ?? true)) {
      return options?.since === undefined
        ? false
        : Promise.reject(new Error(`Cannot subscribe: authorizeSubscribe refused "${topic}"`));
    }
    return topics.subscribe(topic, pubsubOptions);
  };
  return subscribe as SocketSubscribe;
}

/** What happens on a WebSocket's life. Handler errors close that connection with 1011. */
export interface WebSocketHandler<T = unknown> {
  /** The connection is open. */
  open?(socket: ServerSocket<T>): void;
  /**
   * A message arrived: a `string` for text (its UTF-8 bytes with `textAsBytes`, where this library's engine
   * carries the socket), a `Uint8Array` for binary; `binary` tells which the message was.
   */
  message?(socket: ServerSocket<T>, data: string | Uint8Array, binary: boolean): void;
  /** The connection closed (code 1006 when no close frame was received). */
  close?(socket: ServerSocket<T>, code: number, reason: string, wasClean: boolean): void;
  /** The connection failed (a protocol violation by the peer, a transport or a handler error). */
  error?(socket: ServerSocket<T>, error: Error): void;
  /**
   * Published messages for this socket were dropped: its publish queue was over its limit (see the
   * `publishQueue` option), or it closed before they were written.
   */
  drop?(socket: ServerSocket<T>, topic: string, count: number): void;
  /**
   * Decides whether a socket may subscribe to a topic (per-topic authorization); `false` and
   * `ws.subscribe(topic)` subscribes nothing and returns `false`. @default every topic is allowed
   */
  authorizeSubscribe?(socket: ServerSocket<T>, topic: string): boolean;
  /**
   * An application-level heartbeat answered without waking the handler: a text message equal to
   * `request` is answered with `response` and not passed to `message`. For clients that cannot send ping
   * frames (the browser's WebSocket): `ReconnectingWebSocket`'s `autoPing` sends `request` and takes
   * `response` as the answer. The name and shape of Cloudflare's `setWebSocketAutoResponse`.
   * @default none
   */
  autoResponse?: AutoResponse;
}

/** A request message and its automatic answer (see {@linkcode WebSocketHandler.autoResponse}). */
export interface AutoResponse {
  /** The text message to answer (compared exactly; binary messages never match). */
  readonly request: string;
  /** The text sent back. */
  readonly response: string;
}

/** Tells whether a message (a string, or UTF-8 bytes with `textAsBytes`) is the auto-response request. */
type AutoRequestTest = (data: string | Uint8Array, binary: boolean) => boolean;

const autoResponders = new WeakMap<WebSocketHandler<never>, AutoRequestTest | undefined>();

/**
 * Checks a handler's `autoResponse` option (a `TypeError` if malformed: servers call this when they are
 * made) and returns the test for its request, or `undefined` without one. Made once per handler.
 */
export function autoResponder<T>(websocket: WebSocketHandler<T>): AutoRequestTest | undefined {
  const handler = websocket as WebSocketHandler<never>;
  if (autoResponders.has(handler)) return autoResponders.get(handler);
  const test = makeAutoResponder(websocket.autoResponse);
  autoResponders.set(handler, test);
  return test;
}

function makeAutoResponder(option: AutoResponse | undefined): AutoRequestTest | undefined {
  if (option === undefined) return undefined;
  if (typeof option !== "object" || option === null || typeof option.request !== "string" || typeof option.response !== "string") {
    throw new TypeError("autoResponse must be { request: string, response: string }");
  }
  if (option.request === "") throw new TypeError("autoResponse.request must not be empty");
  const request = option.request;
  const bytes = encodeText(request);
  return (data, binary) => {
    if (binary) return false;
    if (typeof data === "string") return data === request;
    if (data.length !== bytes.length) return false;
    for (let i = 0; i < bytes.length; i++) if (data[i] !== bytes[i]) return false;
    return true;
  };
}

/** The close code for credentials that expired (`expiresAt`): a reconnecting client connects again. */
export const TOKEN_EXPIRED = 4401;

/**
 * Closes every open socket of a user (the `user` an `upgrade` hook gave them).
 *
 * @param sockets The server's open sockets.
 * @param user The user.
 * @param code The close code. @default {1008} (Policy Violation: a reconnecting client stops)
 * @param reason The close reason.
 * @returns How many sockets were closed.
 */
export function disconnectUser(sockets: Iterable<ServerSocket>, user: string, code = 1008, reason = "disconnected"): number {
  let closed = 0;
  for (const socket of sockets) {
    if (socket.user !== user) continue;
    socket.close(code, reason);
    closed++;
  }
  return closed;
}

/**
 * Closes a socket when its credentials expire, with {@linkcode TOKEN_EXPIRED}.
 *
 * @param expiresAt When, as `Date.now()` counts.
 * @param close Closes the socket.
 * @returns Cancels it (the socket closed first).
 */
export function closeAtExpiry(expiresAt: number | undefined, close: (code: number, reason: string) => void): () => void {
  if (expiresAt === undefined) return () => {};
  if (!Number.isFinite(expiresAt)) throw new TypeError(`Cannot accept: expiresAt ${expiresAt} is not a time`);
  // Timers hold at most 2^31 - 1 ms (~24.8 days): a later expiry is rechecked then.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) return close(TOKEN_EXPIRED, "token expired");
    timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
  };
  arm();
  return () => clearTimeout(timer);
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * For a runtime's own WebSocket, which sends strings as text and bytes as binary: the data in the form
 * that sends it as the type `options.binary` asks for.
 *
 * @param data The message.
 * @param options `binary: false` for bytes to go as text, `true` for a string to go as binary.
 * @returns A string to send as text, bytes to send as binary.
 * @throws {TypeError} For bytes sent as text that are not UTF-8.
 */
export function inNativeForm(data: string | Uint8Array, options: SendOptions | undefined): string | Uint8Array {
  const binary = options?.binary;
  if (binary === false && typeof data !== "string") {
    try {
      return strictDecoder.decode(data);
    } catch {
      throw new TypeError("Cannot send: bytes sent as text are not UTF-8");
    }
  }
  return binary === true && typeof data === "string" ? encodeText(data) : data;
}

/** An accepted upgrade, whichever adapter accepted it. */
export interface AcceptedUpgrade {
  /** The open connection. */
  connection: Connection;
  /** The upgrade request. */
  request: Request;
  /** The chosen subprotocol, or `""`. */
  protocol: string;
  /** The accepted extensions, or `""`. */
  extensions: string;
  /** What the `upgrade` hook gave the connection. */
  acceptance?: UpgradeAcceptance;
}

/**
 * Wires an accepted connection to the handler: `open` first (messages that arrive meanwhile are held by
 * the connection), then `message`s, `error` at most once, `close` last. A throwing `open` fails the
 * connection with 1011.
 *
 * @param accepted The connection and what was negotiated.
 * @param websocket The callbacks.
 * @param sockets The server's set of open sockets: added now, removed on close.
 * @param pubsub The server's topics: the socket leaves all of them when it closes.
 * @param logger Where a throwing handler is reported when there is no `error` callback. @default `console.error`
 */
export function attachHandler<T>(
  accepted: AcceptedUpgrade,
  websocket: WebSocketHandler<T>,
  sockets: Set<ServerSocket<T>>,
  pubsub: PubSub,
  logger?: Logger,
): void {
  const { connection, request, protocol, extensions, acceptance } = accepted;
  const topics = new TopicSocket(pubsub, connection);
  const ws: ServerSocket<T> = {
    request,
    protocol,
    extensions,
    connection,
    data: acceptance?.data as T,
    user: acceptance?.user,
    send: (data, sendOptions) => connection.send(data, sendOptions),
    close: (code, reason) => void connection.close(code, reason),
    ping: (data) => connection.ping(data),
    subscribe: socketSubscribe(() => ws, websocket, topics),
    unsubscribe: (topic) => topics.unsubscribe(topic),
    isSubscribed: (topic) => topics.isSubscribed(topic),
    get subscriptions() {
      return topics.subscriptions;
    },
    publish: (topic, data, options) => topics.publish(topic, data, options),
    get dropped() {
      return connection.dropped;
    },
  };
  sockets.add(ws);
  const cancelExpiry = closeAtExpiry(acceptance?.expiresAt, (code, reason) => void connection.close(code, reason));
  connection.ondrop = (topic, count) => {
    try {
      websocket.drop?.(ws, topic, count);
    } catch {
      // A drop handler that throws has nowhere further to report to.
    }
  };
  connection.onerror = (error) => {
    try {
      websocket.error?.(ws, error);
    } catch {
      // An error handler that throws has nowhere further to report to.
    }
  };
  connection.closed.then(({ code, reason, wasClean }) => {
    cancelExpiry();
    sockets.delete(ws);
    websocket.close?.(ws, code, reason, wasClean);
  });
  try {
    websocket.open?.(ws);
  } catch (error) {
    logHandlerError(websocket, "open", error, logger);
    connection.onerror?.(error instanceof Error ? error : new Error(String(error)));
    connection.fail(1011);
    return;
  }
  // Set after `open`: messages that arrived meanwhile were held by the connection, so none precedes it.
  const message = websocket.message;
  const isAutoRequest = autoResponder(websocket);
  if (message === undefined && isAutoRequest === undefined) return;
  connection.onmessage = (data, binary) => {
    if (isAutoRequest?.(data, binary)) {
      connection.send(websocket.autoResponse!.response).catch(() => {}); // a closing connection: nothing to answer
      return;
    }
    if (message === undefined) return;
    try {
      message(ws, data, binary);
    } catch (error) {
      logHandlerError(websocket, "message", error, logger);
      throw error; // the connection fails with 1011 and reports it to `error`
    }
  };
}

/**
 * A handler that throws is never silent: without an `error` callback to hear of it, the error is logged
 * (with its stack), since the peer only sees a 1011 with no detail. Once per connection: the first error
 * fails it.
 */
function logHandlerError(websocket: WebSocketHandler<never>, which: string, error: unknown, logger: Logger | undefined): void {
  if (websocket.error !== undefined) return;
  if (logger !== undefined) return logger.error(`the ${which} handler threw; the connection was closed with 1011`, { error });
  console.error(`wsengine: the ${which} handler threw; the connection was closed with 1011:`, error);
}
