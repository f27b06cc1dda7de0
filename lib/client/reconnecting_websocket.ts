/**
 * A WHATWG `WebSocket` that reconnects: backoff with full jitter, terminal close codes, a bounded queue of
 * messages sent while disconnected, dead-link detection, and the browser's online/offline and visibility
 * signals. It drives any WebSocket class (this library's by default, or the runtime's own), so one file
 * runs in a page, on Deno, Bun, Node and workerd.
 *
 * @module
 */

import { HandshakeRefusedError } from "../handshake/handshake_refused_error.ts";
import { backoffDelay, type BackoffOptions, firstRetryDelay, resolveBackoff } from "./backoff.ts";
import type { Transport } from "../connection.ts";
import { debugLogger, type Logger } from "../core/logger.ts";
import { OnHandlers } from "./on_handlers.ts";
import { type BinaryType, CloseEvent, type CloseEventInit, WebSocket, type WebSocketOptions } from "./websocket.ts";

export type { BackoffOptions } from "./backoff.ts";

/** What the loop uses of a WebSocket: the WHATWG interface. */
export interface WebSocketLike extends EventTarget {
  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  readonly readyState: number;
  /** The URL, serialized. */
  readonly url: string;
  /** The subprotocol the server chose, or `""`. */
  readonly protocol: string;
  /** The extensions the server accepted, or `""`. */
  readonly extensions: string;
  /** Bytes passed to `send()` and not yet written. */
  readonly bufferedAmount: number;
  /** `"blob"` or `"arraybuffer"`. */
  binaryType: string;
  /** Sends a message. */
  send(data: string | Blob | ArrayBufferLike | ArrayBufferView): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
}

/**
 * A WebSocket class: this library's `WebSocket`, or a runtime's (`globalThis.WebSocket` in a browser, on
 * Deno, Bun, Node 22+ and workerd). The third argument is passed only when `webSocketOptions` is set.
 */
export type WebSocketClass = new (
  url: string,
  protocols?: string | string[],
  options?: WebSocketOptions,
) => WebSocketLike;

/** A value, or a function that makes one (sync or async), called on every attempt. */
export type PerAttempt<T> = T | (() => T | Promise<T>);

/** What {@linkcode ReconnectingWebSocket.state} reports. */
export type ReconnectingState = "connecting" | "open" | "reconnecting" | "closed";

/** A message given to {@linkcode ReconnectingWebSocket.send}. */
export type MessageData = string | Blob | ArrayBufferLike | ArrayBufferView;

/** What `shouldReconnect` is told besides the close event. */
export interface ReconnectInfo {
  /** Which attempt since the last open the closed socket was (1 for the first). */
  attempt: number;
  /** Reconnect attempts made since the last connection that stayed open `resetAfter` ms. */
  retries: number;
  /** The HTTP status of a refused opening handshake, where it could be learnt (see the README). */
  status: number | undefined;
  /**
   * Whether the default rule stops here: the code is one of `terminalCodes`, or the handshake was refused
   * with a 4xx other than 408 and 429.
   */
  terminal: boolean;
}

/**
 * Where online/offline and page visibility come from: the browser's `window` (or a worker's `self`) with
 * `navigator.onLine` and `document.hidden`, or a stand-in. Fires `online`, `offline` and
 * `visibilitychange`.
 */
export interface NetworkStatus {
  /** Whether the device has a network now (`navigator.onLine`). */
  readonly onLine: boolean;
  /** Whether the page is hidden (`document.hidden`). @default {false} */
  readonly hidden?: boolean;
  /** Adds a listener for `online`, `offline` or `visibilitychange`. */
  addEventListener(type: string, listener: () => void): void;
  /** Removes it. */
  removeEventListener(type: string, listener: () => void): void;
}

/** What a full offline queue does with one more message. */
export type OfflineQueuePolicy = "reject" | "drop-oldest";

/** Options for {@linkcode ReconnectingWebSocket}. Delays and timeouts are in milliseconds. */
export interface ReconnectingWebSocketOptions extends BackoffOptions {
  /**
   * The WebSocket class to drive: `globalThis.WebSocket` for the browser's (or Deno's, Bun's, Node's).
   * @default this library's WebSocket
   */
  WebSocket?: WebSocketClass;
  /**
   * Options for this library's WebSocket (the third constructor argument): `heartbeat` for protocol pings
   * that detect a dead link, `transport`, `tls`, `deflate`, limits. Other classes ignore it.
   * @default none
   */
  webSocketOptions?: WebSocketOptions;
  /**
   * Where reconnects (the attempt, the delay, the close that led to it), the loop's own timeouts and, with
   * this library's WebSocket, handshakes and closes are logged, one line each (see {@linkcode Logger}).
   * @default `webSocketOptions.logger`, else a console logger when the environment has
   * `DEBUG=wsengine*` (read by the adapters), else none
   */
  logger?: Logger;
  /** A connection that stayed open this long resets the backoff and the retry count. @default {5000} */
  resetAfter?: number;
  /** Reconnect attempts in a row (without a connection that lasted `resetAfter`) before giving up. @default {Infinity} */
  maxRetries?: number;
  /**
   * An attempt that has not opened by then (the `url` and `protocols` functions' time included) is closed
   * and counts as failed (1006, `"connect timeout"`); also the bound on `close()` of an open connection.
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Close codes after which the loop stops (the default `shouldReconnect` looks at these): single codes
   * and inclusive `[from, to]` ranges. 1008 (policy violation) and 1003 (unsupported data) say that the
   * same client would be refused again; add the application's own (e.g. `[[4400, 4499]]` for "do not
   * come back"), and keep these two by spreading {@linkcode DEFAULT_TERMINAL_CODES}.
   * @default {DEFAULT_TERMINAL_CODES}
   */
  terminalCodes?: readonly (number | readonly [number, number])[];
  /**
   * Decides whether to reconnect after a close the application did not ask for. Not asked after
   * `close()`, nor once `maxRetries` is reached.
   * @default {(event, info) => !info.terminal}
   */
  shouldReconnect?: (event: CloseEvent, info: ReconnectInfo) => boolean;
  /** Messages held while not open. @default {1000} */
  maxQueuedMessages?: number;
  /** Bytes held while not open (UTF-8 bytes of text). @default {1048576} */
  maxQueuedBytes?: number;
  /**
   * What `send()` does when the queue is full: `"reject"` throws a `QuotaExceededError` `DOMException` and
   * queues nothing; `"drop-oldest"` drops queued messages, oldest first, until the new one fits (one that
   * can never fit is dropped itself). Every drop is counted in `dropped` and reported by a `drop` event.
   * @default {"reject"}
   */
  queuePolicy?: OfflineQueuePolicy;
  /**
   * Dead-link detection for a WebSocket that cannot ping (the browser's): when no message at all arrives
   * for this long, the socket is closed and the loop reconnects, reporting 1006 with the reason
   * `"idle timeout"`. The server must send something more often (an application-level ping). With this
   * library's WebSocket, `webSocketOptions.heartbeat` pings instead.
   * @default off
   */
  idleTimeout?: number;
  /**
   * An application-level heartbeat for a WebSocket that cannot send ping frames (the browser's): after
   * `interval` without any message received, sends the text `request`; a text message equal to
   * `response` is the answer (it measures {@linkcode ReconnectingWebSocket.latency} and is not dispatched
   * as a `message`); when nothing at all arrives within `timeout` of a ping, the socket is closed and the
   * loop reconnects, reporting 1006 with the reason `"ping timeout"`. This library's servers answer it
   * without waking the handler with their `autoResponse: { request, response }` option (as Cloudflare's
   * `setWebSocketAutoResponse` does); any other server must answer `request` with `response` itself.
   * @default off
   */
  autoPing?: AutoPingOptions;
  /**
   * Online/offline and visibility: reconnect at once when the network comes back or the page becomes
   * visible, and wait while offline. `null` turns it off.
   * @default the global `addEventListener` and `navigator.onLine` where both exist (browsers, workers), else off
   */
  network?: NetworkStatus | null;
  /** The source of the jitter: numbers in `[0, 1)`. @default {Math.random} */
  random?: () => number;
}

/** An application-level ping and its answer (see {@linkcode ReconnectingWebSocketOptions.autoPing}). */
export interface AutoPingOptions {
  /** The text message sent as a ping. */
  readonly request: string;
  /** The text message that answers it. */
  readonly response: string;
  /** Quiet time (nothing received) before a ping is sent. @default {25000} */
  readonly interval?: number;
  /** How long to wait, after a ping, for anything to arrive. @default {20000} */
  readonly timeout?: number;
}

/**
 * The close codes that stop the loop by default: 1003 (the server cannot accept the data this client
 * sends) and 1008 (policy violation, e.g. not allowed). 1002 (protocol error) is not one: it is also what a
 * middlebox that corrupts a frame causes, and a fixed server accepts the same client again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_TERMINAL_CODES } from "./reconnecting_websocket.ts";
 * assert.deepEqual(DEFAULT_TERMINAL_CODES, [1003, 1008]);
 * const terminalCodes = [...DEFAULT_TERMINAL_CODES, [4400, 4499] as const]; // and the application's own
 * assert.equal(terminalCodes.length, 3);
 * ```
 */
export const DEFAULT_TERMINAL_CODES: readonly number[] = Object.freeze([1003, 1008]);

/**
 * `EventInit`'s fields, declared here: Node's types have no DOM library, and the published declarations
 * must not need one.
 */
export interface BasicEventInit {
  /** Whether the event bubbles. @default {false} */
  bubbles?: boolean;
  /** Whether the event can be canceled. @default {false} */
  cancelable?: boolean;
  /** Whether the event crosses shadow DOM boundaries. @default {false} */
  composed?: boolean;
}

/** What {@linkcode ReconnectingOpenEvent} takes. */
export interface ReconnectingOpenEventInit extends BasicEventInit {
  /** Which attempt since the previous open. @default {1} */
  attempt?: number;
  /** Whether a connection was open before. @default {false} */
  reconnected?: boolean;
}

/**
 * The `open` event of a {@linkcode ReconnectingWebSocket}: which attempt opened, and whether it is a
 * reconnection (time to resubscribe, or to ask for what was missed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReconnectingOpenEvent } from "./reconnecting_websocket.ts";
 * const event = new ReconnectingOpenEvent("open", { attempt: 3, reconnected: true });
 * assert.equal(event.attempt, 3);
 * assert(event instanceof Event);
 * ```
 */
export class ReconnectingOpenEvent extends Event {
  /** Which attempt since the previous open this is (1 when the first try worked). */
  readonly attempt: number;
  /** Whether a connection was open before this one. */
  readonly reconnected: boolean;

  /**
   * Creates an `open` event.
   *
   * @param type The event type.
   * @param init The attempt and whether it is a reconnection.
   */
  constructor(type: string, init: ReconnectingOpenEventInit = {}) {
    super(type, init);
    this.attempt = init.attempt ?? 1;
    this.reconnected = init.reconnected ?? false;
  }
}

/** What {@linkcode ReconnectingCloseEvent} takes. */
export interface ReconnectingCloseEventInit extends CloseEventInit {
  /** Whether another attempt is scheduled. @default {false} */
  willReconnect?: boolean;
  /** Milliseconds until it. @default {undefined} */
  delay?: number;
  /** Which attempt since the last open the closed socket was. @default {1} */
  attempt?: number;
  /** The HTTP status of a refused opening handshake. @default {undefined} */
  status?: number;
}

/**
 * The `close` event of a {@linkcode ReconnectingWebSocket}: a `CloseEvent` (code, reason, wasClean) that
 * also says whether a retry is scheduled and in how long. One fires for every attempt that ends, opened
 * or not, and one with `willReconnect: false` when the loop stops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReconnectingCloseEvent } from "./reconnecting_websocket.ts";
 * const event = new ReconnectingCloseEvent("close", { code: 1006, willReconnect: true, delay: 1200 });
 * assert.equal(event.code, 1006);
 * assert.equal(event.delay, 1200);
 * ```
 */
export class ReconnectingCloseEvent extends CloseEvent {
  /** Whether another attempt is scheduled. */
  readonly willReconnect: boolean;
  /** Milliseconds until it (while offline it waits for the network too), or `undefined`. */
  readonly delay: number | undefined;
  /** Which attempt since the last open the closed socket was (1 for the first). */
  readonly attempt: number;
  /** The HTTP status of a refused opening handshake, where it could be learnt, or `undefined`. */
  readonly status: number | undefined;

  /**
   * Creates a `close` event.
   *
   * @param type The event type.
   * @param init The close and what happens next.
   */
  constructor(type: string, init: ReconnectingCloseEventInit = {}) {
    super(type, init);
    this.willReconnect = init.willReconnect ?? false;
    this.delay = init.delay;
    this.attempt = init.attempt ?? 1;
    this.status = init.status;
  }
}

/** What {@linkcode ReconnectingErrorEvent} takes. */
export interface ReconnectingErrorEventInit extends BasicEventInit {
  /** What went wrong. @default {""} */
  message?: string;
  /** The error. @default {undefined} */
  error?: unknown;
}

/**
 * The `error` event of a {@linkcode ReconnectingWebSocket}, before the `close` of a failed attempt: the
 * underlying socket's message where it gives one (Deno's and Bun's do; browsers and this library's
 * WebSocket do not), or the loop's own (`connect timeout`, `idle timeout`, a `url` function that threw).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReconnectingErrorEvent } from "./reconnecting_websocket.ts";
 * const event = new ReconnectingErrorEvent("error", { message: "Cannot connect: connect timeout" });
 * assert.equal(event.message, "Cannot connect: connect timeout");
 * ```
 */
export class ReconnectingErrorEvent extends Event {
  /** What went wrong, or `""`. */
  readonly message: string;
  /** The error, if there was one. */
  readonly error: unknown;

  /**
   * Creates an `error` event.
   *
   * @param type The event type.
   * @param init The message and error.
   */
  constructor(type: string, init: ReconnectingErrorEventInit = {}) {
    super(type, init);
    this.message = init.message ?? "";
    this.error = init.error;
  }
}

/** What {@linkcode ReconnectingDropEvent} takes. */
export interface ReconnectingDropEventInit extends BasicEventInit {
  /** The messages, oldest first. @default {[]} */
  messages?: readonly MessageData[];
  /** Why they were dropped. @default {"overflow"} */
  reason?: "overflow" | "closed";
}

/**
 * The `drop` event of a {@linkcode ReconnectingWebSocket}: queued messages that will never be sent, because
 * the queue was full (`"overflow"`, policy `"drop-oldest"`) or the loop stopped (`"closed"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReconnectingDropEvent } from "./reconnecting_websocket.ts";
 * const event = new ReconnectingDropEvent("drop", { messages: ["old"], reason: "overflow" });
 * assert.deepEqual(event.messages, ["old"]);
 * ```
 */
export class ReconnectingDropEvent extends Event {
  /** The messages, oldest first. */
  readonly messages: readonly MessageData[];
  /** Why they were dropped. */
  readonly reason: "overflow" | "closed";

  /**
   * Creates a `drop` event.
   *
   * @param type The event type.
   * @param init The messages and the reason.
   */
  constructor(type: string, init: ReconnectingDropEventInit = {}) {
    super(type, init);
    this.messages = init.messages ?? [];
    this.reason = init.reason ?? "overflow";
  }
}

/** An `on<event>` handler of {@linkcode ReconnectingWebSocket}, typed with the event it fires for it. */
export type Handler<E extends Event = Event> = ((this: ReconnectingWebSocket, event: E) => unknown) | null;

/** One attempt: its socket (once made) and what was learnt of it. */
interface Attempt {
  /** Which attempt since the last open (1 for the first). */
  number: number;
  socket: WebSocketLike | undefined;
  /** Listens to the socket's four events. */
  listener: EventListenerObject | undefined;
  opened: boolean;
  openedAt: number;
  status: number | undefined;
}

interface Queued {
  data: MessageData;
  size: number;
}

const encoder = new TextEncoder();

/** The browser's network and visibility signals, where there are any. */
function globalNetwork(): NetworkStatus | undefined {
  const scope = globalThis as unknown as {
    addEventListener?: (type: string, listener: () => void) => void;
    removeEventListener?: (type: string, listener: () => void) => void;
    navigator?: { onLine?: unknown };
    document?: { hidden?: unknown };
  };
  if (typeof scope.addEventListener !== "function" || typeof scope.removeEventListener !== "function") {
    return undefined;
  }
  if (typeof scope.navigator?.onLine !== "boolean") return undefined;
  return {
    get onLine() {
      return scope.navigator?.onLine !== false;
    },
    get hidden() {
      return scope.document?.hidden === true;
    },
    addEventListener: (type, listener) => scope.addEventListener?.(type, listener),
    removeEventListener: (type, listener) => scope.removeEventListener?.(type, listener),
  };
}

/** Reads the status line of the opening handshake's answer as it passes, and passes every byte on. */
function tapStatus(transport: Transport, onStatus: (status: number) => void): Transport {
  const reader = transport.readable.getReader();
  let head: string | undefined = "";
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      if (head !== undefined) {
        for (let i = 0; i < value.length && head.length < 16; i++) head += String.fromCharCode(value[i]);
        const match = /^HTTP\/\d\.\d (\d{3})/.exec(head);
        if (match !== null) onStatus(Number(match[1]));
        if (match !== null || head.length >= 16) head = undefined;
      }
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return { readable, writable: transport.writable };
}

/**
 * The status of a refused handshake on this library's `WebSocket`, from its `failure` property (a
 * `HandshakeRefusedError`); other classes have no such property.
 */
function statusFromFailure(socket: WebSocketLike | undefined): number | undefined {
  const failure = (socket as { failure?: unknown } | undefined)?.failure;
  return failure instanceof HandshakeRefusedError ? failure.status : undefined;
}

/** The status in an error event's message, where the runtime puts one (Deno, Bun). */
function statusFromError(event: Event): number | undefined {
  const message = (event as { message?: unknown }).message;
  if (typeof message !== "string") return undefined;
  const match = /(?:status code|answered)\D{0,3}([1-5]\d\d)\b/i.exec(message);
  return match === null ? undefined : Number(match[1]);
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function sizeOf(data: MessageData): number {
  if (typeof data === "string") return encoder.encode(data).length;
  if (data instanceof Blob) return data.size;
  return data.byteLength;
}

/** A copy of bytes held in the queue, so that the caller may reuse its buffer (as `send()` allows). */
function copyOf(data: MessageData): MessageData {
  if (typeof data === "string" || data instanceof Blob) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return new Uint8Array(data).slice().buffer;
}

function checkAutoPing(option: AutoPingOptions | undefined): Required<AutoPingOptions> | undefined {
  if (option === undefined) return undefined;
  if (typeof option !== "object" || option === null || typeof option.request !== "string" || typeof option.response !== "string") {
    throw new TypeError("Cannot create ReconnectingWebSocket: autoPing must be { request: string, response: string }");
  }
  if (option.request === "" || option.response === "") {
    throw new TypeError("Cannot create ReconnectingWebSocket: autoPing's request and response must not be empty");
  }
  const interval = checkDuration("autoPing.interval", option.interval ?? 25_000);
  const timeout = checkDuration("autoPing.timeout", option.timeout ?? 20_000);
  if (interval === 0 || timeout === 0) {
    throw new RangeError("Cannot create ReconnectingWebSocket: autoPing's interval and timeout must be above 0");
  }
  return { request: option.request, response: option.response, interval, timeout };
}

function checkDuration(name: string, value: number, allowInfinity = false): number {
  if (!(value >= 0 && (allowInfinity || Number.isFinite(value)))) {
    throw new RangeError(
      `Cannot create ReconnectingWebSocket: ${name} must be a number of milliseconds, at least 0: ${value}`,
    );
  }
  return value;
}

function checkCount(name: string, value: number, allowInfinity = false): number {
  if (!(value >= 0 && (Number.isInteger(value) || (allowInfinity && value === Infinity)))) {
    throw new RangeError(
      `Cannot create ReconnectingWebSocket: ${name} must be a whole number, at least 0: ${value}`,
    );
  }
  return value;
}

/**
 * A WHATWG `WebSocket` that reconnects. Code written for `WebSocket` keeps working (`readyState` and its
 * constants, `url`, `protocol`, `extensions`, `binaryType`, `bufferedAmount`, `send`, `close`, the `on*`
 * handlers and `addEventListener`); on top of it:
 *
 * - `url` and `protocols` may be functions (sync or async), called on every attempt (a fresh token, a
 *   `?since=` position to resume from);
 * - retries wait a random time (full jitter) that grows with failures in a row; the first retry after a
 *   drop waits 0-5 s (RFC 6455 §7.2.3), so a restarted server is not hit by all its clients at once;
 * - close codes 1008 and 1003, codes listed in `terminalCodes`, and a handshake refused with a 4xx (where
 *   it can be told) stop the loop; `shouldReconnect` decides otherwise;
 * - messages sent while not open wait in a bounded queue and go first, in order, on the next open;
 * - events say what happened: `open` has `attempt`, `close` has `willReconnect` and `delay`, and `state`
 *   is `"connecting"`, `"open"`, `"reconnecting"` or `"closed"`;
 * - `reconnect()` starts over now; `close()` stops for good.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReconnectingWebSocket } from "./reconnecting_websocket.ts";
 * // The URL is asked for on every attempt; this one never comes, so the socket stays connecting.
 * const socket = new ReconnectingWebSocket(() => new Promise<string>(() => {}));
 * socket.send("held until open"); // queued, and counted
 * assert.equal(socket.state, "connecting");
 * assert.equal(socket.bufferedAmount, 15);
 * const closed = new Promise((resolve) => socket.onclose = resolve);
 * socket.close();
 * assert.equal(socket.state, "closed");
 * assert.equal(((await closed) as CloseEvent).code, 1005);
 * ```
 */
export class ReconnectingWebSocket extends EventTarget {
  /** The connection has not yet been established (also while waiting to reconnect). */
  static readonly CONNECTING = 0;
  /** The connection is established and communication is possible. */
  static readonly OPEN = 1;
  /** `close()` was called and the last socket is closing. */
  static readonly CLOSING = 2;
  /** The loop has stopped. */
  static readonly CLOSED = 3;
  /** The connection has not yet been established (also while waiting to reconnect). */
  readonly CONNECTING = 0;
  /** The connection is established and communication is possible. */
  readonly OPEN = 1;
  /** `close()` was called and the last socket is closing. */
  readonly CLOSING = 2;
  /** The loop has stopped. */
  readonly CLOSED = 3;

  readonly #url: PerAttempt<string | URL>;
  readonly #protocols: PerAttempt<string | string[]> | undefined;
  readonly #class: WebSocketClass;
  readonly #webSocketOptions: WebSocketOptions | undefined;
  readonly #backoff: Required<BackoffOptions>;
  readonly #resetAfter: number;
  readonly #maxRetries: number;
  readonly #connectTimeout: number;
  readonly #terminalCodes: readonly (number | readonly [number, number])[];
  readonly #shouldReconnect: (event: CloseEvent, info: ReconnectInfo) => boolean;
  readonly #maxQueuedMessages: number;
  readonly #maxQueuedBytes: number;
  readonly #queuePolicy: OfflineQueuePolicy;
  readonly #idleTimeout: number;
  readonly #autoPing: Required<AutoPingOptions> | undefined;
  readonly #network: NetworkStatus | undefined;
  readonly #random: () => number;

  #state: ReconnectingState = "connecting";
  #closeFired = false; // the last close event fired (readyState CLOSED rather than CLOSING)
  #closeRequested = false; // close() was called
  #current: Attempt | undefined;
  #attempts = 0; // attempts since the last open
  #failures = 0; // attempts in a row that failed or did not stay open resetAfter
  #retries = 0; // reconnect attempts since the last connection that stayed open resetAfter
  #everOpened = false;
  #lastUrl = "";
  readonly #logger: Logger | undefined;
  #binaryType: BinaryType = "blob";
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #dropped = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lastReceived = 0;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  #pingSentAt = 0; // performance.now() of the unanswered ping, or 0
  #latency = NaN;
  #waitingForNetwork = false;
  #listening = false;
  readonly #onOnline = () => this.#retryNow(true);
  readonly #onVisibility = () => {
    if (this.#network?.hidden !== true) this.#retryNow(false);
  };
  readonly #on = new OnHandlers<ReconnectingWebSocket>(this);

  /**
   * Starts connecting (a URL given as a value at once, a function's after the current task).
   *
   * @param url A `ws:`, `wss:`, `http:` or `https:` URL, or a function that gives one (sync or async),
   * called on every attempt.
   * @param protocols Subprotocols to offer, or a function that gives them, called on every attempt.
   * @param options Backoff, retries, timeouts, terminal codes, the queue, dead-link detection, the
   * WebSocket class and its options.
   * @throws {RangeError} For an option out of range.
   * @throws {DOMException} `SyntaxError` for a bad URL or subprotocols given as values (as `WebSocket`
   * throws); a function's bad result counts as a failed attempt instead.
   */
  constructor(
    url: PerAttempt<string | URL>,
    protocols?: PerAttempt<string | string[]>,
    options: ReconnectingWebSocketOptions = {},
  ) {
    super();
    this.#url = url;
    this.#protocols = protocols;
    this.#class = options.WebSocket ?? WebSocket;
    this.#logger = options.logger ?? options.webSocketOptions?.logger;
    this.#webSocketOptions = options.logger === undefined || options.webSocketOptions?.logger !== undefined
      ? options.webSocketOptions
      : { ...options.webSocketOptions, logger: options.logger };
    this.#backoff = resolveBackoff(options);
    this.#resetAfter = checkDuration("resetAfter", options.resetAfter ?? 5000);
    this.#maxRetries = checkCount("maxRetries", options.maxRetries ?? Infinity, true);
    this.#connectTimeout = checkDuration("connectTimeout", options.connectTimeout ?? 10_000);
    this.#terminalCodes = options.terminalCodes ?? DEFAULT_TERMINAL_CODES;
    this.#shouldReconnect = options.shouldReconnect ?? ((_event, info) => !info.terminal);
    this.#maxQueuedMessages = checkCount("maxQueuedMessages", options.maxQueuedMessages ?? 1000);
    this.#maxQueuedBytes = checkCount("maxQueuedBytes", options.maxQueuedBytes ?? 1024 * 1024);
    this.#queuePolicy = options.queuePolicy ?? "reject";
    if (this.#queuePolicy !== "reject" && this.#queuePolicy !== "drop-oldest") {
      throw new RangeError(`Cannot create ReconnectingWebSocket: unknown queuePolicy: ${this.#queuePolicy}`);
    }
    this.#idleTimeout = checkDuration("idleTimeout", options.idleTimeout ?? 0);
    this.#autoPing = checkAutoPing(options.autoPing);
    this.#network = options.network === null ? undefined : options.network ?? globalNetwork();
    this.#random = options.random ?? Math.random;
    if (typeof url !== "function" && typeof protocols !== "function") {
      // Values are checked now, as WebSocket's constructor does: a bad URL will not get better by retrying.
      this.#connect(true);
    } else {
      // A function may fail at once, and its events must find the listeners the caller adds next.
      queueMicrotask(() => {
        if (this.#state !== "closed" && this.#current === undefined && this.#retryTimer === undefined) {
          this.#connect(false);
        }
      });
    }
    this.#listen(true);
  }

  /** The URL of the current (or last) attempt, as the socket serialized it. */
  get url(): string {
    return this.#lastUrl;
  }

  /** CONNECTING (0) while connecting or waiting to reconnect, OPEN (1), CLOSING (2) after `close()`, CLOSED (3). */
  get readyState(): number {
    switch (this.#state) {
      case "open":
        return ReconnectingWebSocket.OPEN;
      case "closed":
        return this.#closeFired ? ReconnectingWebSocket.CLOSED : ReconnectingWebSocket.CLOSING;
      default:
        return ReconnectingWebSocket.CONNECTING;
    }
  }

  /** Where the loop is: `"connecting"` (first attempts), `"open"`, `"reconnecting"` or `"closed"` (stopped). */
  get state(): ReconnectingState {
    return this.#state;
  }

  /** The subprotocol the server chose on the current connection, or `""`. */
  get protocol(): string {
    return this.#current?.opened ? this.#current.socket?.protocol ?? "" : "";
  }

  /** The extensions the server accepted on the current connection, or `""`. */
  get extensions(): string {
    return this.#current?.opened ? this.#current.socket?.extensions ?? "" : "";
  }

  /** Bytes queued while not open, plus what the open socket has not yet written. */
  get bufferedAmount(): number {
    const socket = this.#current?.opened ? this.#current.socket : undefined;
    return this.#queuedBytes + (socket?.bufferedAmount ?? 0);
  }

  /** Messages queued while not open, waiting for the next open. */
  get queuedMessages(): number {
    return this.#queue.length;
  }

  /**
   * The round trip of the last answered `autoPing`, in milliseconds (`NaN` before one). With this library's
   * WebSocket, its connection measures the protocol pings too (`Connection.latency`).
   */
  get latency(): number {
    return this.#latency;
  }

  /** Messages dropped so far: by the `"drop-oldest"` policy, or left in the queue when the loop stopped. */
  get dropped(): number {
    return this.#dropped;
  }

  /** How binary messages are delivered: `"blob"` (default) or `"arraybuffer"`; applied to every socket. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    if (value !== "blob" && value !== "arraybuffer") return;
    this.#binaryType = value;
    if (this.#current?.socket !== undefined) this.#current.socket.binaryType = value;
  }

  /** Called on every open, with a {@linkcode ReconnectingOpenEvent}. */
  get onopen(): Handler<ReconnectingOpenEvent> {
    return this.#on.get("open");
  }
  set onopen(handler: Handler<ReconnectingOpenEvent>) {
    this.#on.set("open", handler);
  }
  /** Called with each message (a `MessageEvent`). */
  get onmessage(): Handler<MessageEvent> {
    return this.#on.get("message");
  }
  set onmessage(handler: Handler<MessageEvent>) {
    this.#on.set("message", handler);
  }
  /** Called when an attempt fails or a connection breaks, before `close` (a {@linkcode ReconnectingErrorEvent}). */
  get onerror(): Handler<ReconnectingErrorEvent> {
    return this.#on.get("error");
  }
  set onerror(handler: Handler<ReconnectingErrorEvent>) {
    this.#on.set("error", handler);
  }
  /** Called when a socket closes or an attempt fails, with a {@linkcode ReconnectingCloseEvent}. */
  get onclose(): Handler<ReconnectingCloseEvent> {
    return this.#on.get("close");
  }
  set onclose(handler: Handler<ReconnectingCloseEvent>) {
    this.#on.set("close", handler);
  }

  /**
   * Sends a message on the open connection, or queues it for the next open (in order, before anything
   * sent after that open).
   *
   * @param data Text, or binary as a `Blob`, `ArrayBuffer` or view (copied when queued).
   * @throws {DOMException} `InvalidStateError` once the loop has stopped; `QuotaExceededError` when the
   * queue is full under the `"reject"` policy (nothing is queued).
   */
  send(data: MessageData): void {
    if (this.#state === "closed") {
      throw new DOMException("Cannot send: the ReconnectingWebSocket is closed", "InvalidStateError");
    }
    const socket = this.#current?.socket;
    if (this.#state === "open" && socket !== undefined && socket.readyState === ReconnectingWebSocket.OPEN) {
      socket.send(data);
      return;
    }
    if (
      typeof data !== "string" && !(data instanceof Blob) && !ArrayBuffer.isView(data) &&
      !(data instanceof ArrayBuffer) &&
      !(typeof SharedArrayBuffer !== "undefined" && data instanceof SharedArrayBuffer)
    ) {
      data = String(data); // WebIDL converts anything else to a string
    }
    const size = sizeOf(data);
    const fits = () =>
      this.#queue.length < this.#maxQueuedMessages && this.#queuedBytes + size <= this.#maxQueuedBytes;
    if (!fits()) {
      if (this.#queuePolicy === "reject") {
        throw new DOMException(
          `Cannot send: the queue is full: ${this.#queue.length} of ${this.#maxQueuedMessages} messages, ` +
            `${this.#queuedBytes} of ${this.#maxQueuedBytes} bytes, and this message is ${size} bytes`,
          "QuotaExceededError",
        );
      }
      if (this.#maxQueuedMessages === 0 || size > this.#maxQueuedBytes) {
        this.#drop([data], "overflow"); // could never fit: the new one goes
        return;
      }
      const dropped: MessageData[] = [];
      while (!fits()) {
        const oldest = this.#queue.shift() as Queued;
        this.#queuedBytes -= oldest.size;
        dropped.push(oldest.data);
      }
      this.#queue.push({ data: copyOf(data), size });
      this.#queuedBytes += size;
      this.#drop(dropped, "overflow");
      return;
    }
    this.#queue.push({ data: copyOf(data), size });
    this.#queuedBytes += size;
  }

  /**
   * Stops for good: no attempt follows. An open connection is closed with the code and reason, and its
   * `close` event (`willReconnect: false`) follows the closing handshake, or comes after `connectTimeout`
   * with 1006 and the reason `"close timeout"` if the peer never answers (a dead link). Otherwise a `close`
   * event with this code (1005 without one) follows at once. Queued messages are dropped (a `drop` event).
   *
   * @param code 1000 or 3000-4999.
   * @param reason At most 123 bytes of UTF-8.
   * @throws {DOMException} `InvalidAccessError` for another code, `SyntaxError` for a longer reason.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && !(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) {
      throw new DOMException(
        `Cannot close: code ${code} is neither 1000 nor in 3000-4999`,
        "InvalidAccessError",
      );
    }
    if (reason !== undefined && encoder.encode(reason).length > 123) {
      throw new DOMException("Cannot close: the reason is longer than 123 bytes", "SyntaxError");
    }
    if (this.#closeRequested) return;
    this.#closeRequested = true;
    const current = this.#current;
    const wasStopped = this.#state === "closed";
    this.#stop();
    if (wasStopped) return;
    if (current?.opened && current.socket !== undefined) {
      // Its close event ends the loop (#ended sees #closeRequested), or, on a dead link, this bound does.
      current.socket.close(code, reason);
      if (this.#connectTimeout > 0) {
        this.#connectTimer = setTimeout(() => {
          if (this.#current !== current) return;
          this.#abandon(current);
          this.#fireClose({ code: 1006, reason: "close timeout", wasClean: false, attempt: current.number });
        }, this.#connectTimeout);
      }
      return;
    }
    if (current !== undefined) this.#abandon(current);
    setTimeout(() => this.#fireClose({ code: code ?? 1005, reason: reason ?? "", wasClean: true }), 0);
  }

  /**
   * Closes the current socket (if any) and connects again now, with the backoff reset. Restarts a loop
   * that stopped on its own (a terminal code, `maxRetries`). A socket that was open gets its `close`
   * event (`willReconnect: true`, `delay: 0`) before this returns.
   *
   * @param code The close code for the old socket: 1000 or 3000-4999.
   * @param reason Its reason.
   * @throws {DOMException} `InvalidStateError` after `close()`.
   */
  reconnect(code?: number, reason?: string): void {
    if (this.#closeRequested) {
      throw new DOMException("Cannot reconnect: close() was called", "InvalidStateError");
    }
    const current = this.#current;
    this.#clearTimers();
    this.#failures = 0;
    this.#retries = 0;
    this.#waitingForNetwork = false;
    if (current !== undefined) {
      this.#abandon(current, code, reason);
      if (current.opened) {
        this.#state = "reconnecting";
        this.#on.fire(
          new ReconnectingCloseEvent("close", {
            code: code ?? 1005,
            reason: reason ?? "",
            wasClean: true,
            willReconnect: true,
            delay: 0,
            attempt: current.number,
          }),
        );
        if (this.#closeRequested || this.#current !== undefined) return; // a handler closed or reconnected
      }
    }
    this.#closeFired = false;
    this.#state = this.#everOpened ? "reconnecting" : "connecting";
    this.#listen(true);
    this.#connect(false);
  }

  /** Starts an attempt: resolves the URL and subprotocols, then opens a socket. */
  #connect(throwOnValueErrors: boolean): void {
    const attempt: Attempt = {
      number: ++this.#attempts,
      socket: undefined,
      listener: undefined,
      opened: false,
      openedAt: 0,
      status: undefined,
    };
    this.#current = attempt;
    if (this.#connectTimeout > 0) {
      this.#connectTimer = setTimeout(() => {
        if (this.#current === attempt && !attempt.opened) this.#failAttempt(attempt, "connect timeout");
      }, this.#connectTimeout);
    }
    let url: string | URL | Promise<string | URL>;
    let protocols: string | string[] | undefined | Promise<string | string[]>;
    try {
      url = typeof this.#url === "function" ? this.#url() : this.#url;
      protocols = typeof this.#protocols === "function" ? this.#protocols() : this.#protocols;
    } catch (error) {
      this.#failAttempt(attempt, "the url or protocols function threw", error);
      return;
    }
    if (!isPromiseLike(url) && !isPromiseLike(protocols)) {
      this.#open(attempt, url, protocols, throwOnValueErrors);
      return;
    }
    Promise.all([url, protocols]).then(
      ([url, protocols]) => {
        if (this.#current === attempt) this.#open(attempt, url, protocols, false);
      },
      (error) => {
        if (this.#current === attempt) {
          this.#failAttempt(attempt, "the url or protocols function failed", error);
        }
      },
    );
  }

  #open(
    attempt: Attempt,
    url: string | URL,
    protocols: string | string[] | undefined,
    throwErrors: boolean,
  ): void {
    let socket: WebSocketLike;
    try {
      socket = this.#createSocket(attempt, String(url), protocols);
    } catch (error) {
      if (throwErrors) {
        this.#stop();
        this.#closeRequested = true;
        this.#closeFired = true;
        throw error;
      }
      this.#failAttempt(attempt, "the WebSocket constructor threw", error);
      return;
    }
    attempt.socket = socket;
    this.#lastUrl = socket.url;
    socket.binaryType = this.#binaryType;
    const listener = { handleEvent: (event: Event) => this.#onSocketEvent(attempt, event) };
    attempt.listener = listener;
    for (const type of ["open", "message", "error", "close"]) socket.addEventListener(type, listener);
  }

  #createSocket(attempt: Attempt, url: string, protocols: string | string[] | undefined): WebSocketLike {
    const options = this.#webSocketOptions;
    if (options === undefined) return new this.#class(url, protocols);
    const transport = options.transport;
    if (this.#class !== WebSocket || transport === undefined) {
      return new this.#class(url, protocols ?? [], options);
    }
    // Our WebSocket hides why a handshake failed (as the standard says); over a given transport the
    // status line can still be read as it passes.
    return new this.#class(url, protocols ?? [], {
      ...options,
      transport: async (target) => tapStatus(await transport(target), (status) => attempt.status = status),
    });
  }

  #onSocketEvent(attempt: Attempt, event: Event): void {
    if (this.#current !== attempt) return;
    switch (event.type) {
      case "open":
        this.#opened(attempt);
        break;
      case "message":
        if (this.#state !== "open") return;
        this.#lastReceived = Date.now();
        if (this.#autoPing !== undefined && (event as MessageEvent).data === this.#autoPing.response) {
          if (this.#pingSentAt !== 0) this.#latency = performance.now() - this.#pingSentAt;
          this.#pingSentAt = 0;
          return;
        }
        this.#on.fire(
          new MessageEvent("message", {
            data: (event as MessageEvent).data,
            origin: (event as MessageEvent).origin,
            lastEventId: (event as MessageEvent).lastEventId,
          }),
        );
        break;
      case "error":
        attempt.status ??= statusFromError(event) ?? statusFromFailure(attempt.socket);
        this.#on.fire(
          new ReconnectingErrorEvent("error", { message: (event as { message?: string }).message ?? "" }),
        );
        break;
      case "close": {
        const { code, reason, wasClean } = event as CloseEvent;
        this.#detach(attempt);
        // Deno reports 0 for a socket that never opened; the standard says 1006.
        this.#ended(attempt, code >= 1000 && code <= 4999 ? code : 1006, reason ?? "", wasClean === true);
        break;
      }
    }
  }

  #opened(attempt: Attempt): void {
    const socket = attempt.socket as WebSocketLike;
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    attempt.opened = true;
    attempt.openedAt = Date.now();
    if (this.#state === "closed") return; // close() was called: its close event is on the way
    this.#state = "open";
    this.#attempts = 0;
    const reconnected = this.#everOpened;
    this.#everOpened = true;
    // What was queued goes first, in order, before anything sent from the open handlers.
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const { data } of queue) socket.send(data);
    this.#lastReceived = Date.now();
    if (this.#idleTimeout > 0) this.#armIdle(attempt, this.#idleTimeout);
    if (this.#autoPing !== undefined) this.#armPing(attempt, this.#autoPing.interval);
    this.#on.fire(new ReconnectingOpenEvent("open", { attempt: attempt.number, reconnected }));
  }

  #armIdle(attempt: Attempt, ms: number): void {
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#current !== attempt) return;
      const quiet = Date.now() - this.#lastReceived;
      if (quiet >= this.#idleTimeout) this.#failAttempt(attempt, "idle timeout");
      else this.#armIdle(attempt, this.#idleTimeout - quiet);
    }, ms);
  }

  /** After `ms`: a ping if nothing arrived for `autoPing.interval`, else wait for the rest of it. */
  #armPing(attempt: Attempt, ms: number): void {
    const { interval, timeout, request } = this.#autoPing!;
    this.#pingTimer = setTimeout(() => {
      this.#pingTimer = undefined;
      if (this.#current !== attempt) return;
      const quiet = Date.now() - this.#lastReceived;
      if (quiet < interval) return this.#armPing(attempt, interval - quiet);
      const sentAt = Date.now();
      this.#pingSentAt = performance.now();
      try {
        attempt.socket!.send(request);
      } catch (error) {
        return this.#failAttempt(attempt, "ping failed", error);
      }
      this.#pingTimer = setTimeout(() => {
        this.#pingTimer = undefined;
        if (this.#current !== attempt) return;
        if (this.#lastReceived < sentAt) return this.#failAttempt(attempt, "ping timeout");
        this.#armPing(attempt, Math.max(0, interval - (Date.now() - this.#lastReceived)));
      }, timeout);
    }, ms);
  }

  /** Ends an attempt for the loop's own reasons: the socket is let go, reported as 1006. */
  #failAttempt(attempt: Attempt, reason: string, error?: unknown): void {
    this.#log(reason === "ping timeout" || reason === "idle timeout" ? "warn" : "debug", reason, { attempt: attempt.number, error });
    this.#abandon(attempt);
    const detail = error === undefined ? "" : `: ${error instanceof Error ? error.message : String(error)}`;
    this.#on.fire(new ReconnectingErrorEvent("error", { message: `Cannot connect: ${reason}${detail}`, error }));
    if (this.#current !== attempt && this.#current !== undefined) return; // a handler reconnected
    this.#ended(attempt, 1006, reason, false);
  }

  /** Lets a socket go: no more of its events, and it is closed if it can be. */
  #abandon(attempt: Attempt, code?: number, reason?: string): void {
    const socket = attempt.socket;
    this.#detach(attempt);
    if (socket === undefined) return;
    try {
      socket.close(code, reason);
    } catch {
      socket.close();
    }
  }

  #detach(attempt: Attempt): void {
    if (this.#current === attempt) this.#current = undefined;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#pingTimer);
    this.#connectTimer = this.#idleTimer = this.#pingTimer = undefined;
    this.#pingSentAt = 0;
    const { socket, listener } = attempt;
    if (socket === undefined || listener === undefined) return;
    for (const type of ["open", "message", "error", "close"]) socket.removeEventListener(type, listener);
    attempt.listener = undefined;
  }

  /** An attempt or a connection ended: decide, then report. */
  #ended(attempt: Attempt, code: number, reason: string, wasClean: boolean): void {
    if (this.#closeRequested) {
      this.#fireClose({ code, reason, wasClean, attempt: attempt.number, status: attempt.status });
      return;
    }
    const stable = attempt.opened && Date.now() - attempt.openedAt >= this.#resetAfter;
    if (stable) this.#failures = this.#retries = 0;
    const status = attempt.status;
    const info: ReconnectInfo = {
      attempt: attempt.number,
      retries: this.#retries,
      status,
      terminal: this.#isTerminal(code) ||
        (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429),
    };
    let retry = this.#retries < this.#maxRetries;
    if (retry) {
      try {
        retry = this.#shouldReconnect(new CloseEvent("close", { code, reason, wasClean }), info) === true;
      } catch (error) {
        retry = false;
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    if (!retry) {
      this.#log("debug", "reconnect stopped", { attempt: attempt.number, retries: this.#retries, code, reason, status, terminal: info.terminal });
      this.#stop();
      this.#fireClose({ code, reason, wasClean, attempt: attempt.number, status });
      return;
    }
    const delay = stable
      ? firstRetryDelay(this.#backoff, this.#random)
      : backoffDelay(this.#failures++, this.#backoff, this.#random);
    this.#retries++;
    this.#state = this.#everOpened ? "reconnecting" : "connecting";
    this.#retryTimer = setTimeout(() => this.#retryDue(), delay);
    this.#log("debug", "reconnect scheduled", { attempt: attempt.number, retries: this.#retries, delay, code, reason, status });
    this.#on.fire(
      new ReconnectingCloseEvent("close", {
        code,
        reason,
        wasClean,
        willReconnect: true,
        delay,
        attempt: attempt.number,
        status,
      }),
    );
  }

  /** A log line with the URL of the attempt (without its query string: it may carry a token). */
  #log(level: "debug" | "warn", message: string, fields: Record<string, unknown>): void {
    const logger = this.#logger ?? debugLogger("client");
    if (logger === undefined) return;
    logger[level](message, { url: this.#lastUrl.split("?")[0] || undefined, ...fields });
  }

  #isTerminal(code: number): boolean {
    for (const entry of this.#terminalCodes) {
      if (typeof entry === "number" ? code === entry : code >= entry[0] && code <= entry[1]) return true;
    }
    return false;
  }

  #retryDue(): void {
    this.#retryTimer = undefined;
    if (this.#network !== undefined && !this.#network.onLine) {
      this.#waitingForNetwork = true; // the `online` event resumes
      return;
    }
    this.#connect(false);
  }

  /** `online` (which also resets the backoff), or the page became visible: a scheduled retry happens now. */
  #retryNow(online: boolean): void {
    const waiting = this.#retryTimer !== undefined || this.#waitingForNetwork;
    if (!waiting || this.#current !== undefined || this.#state === "closed") return;
    if (this.#network !== undefined && !this.#network.onLine) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#waitingForNetwork = false;
    if (online) this.#failures = 0;
    this.#connect(false);
  }

  /** Stops the loop: no timers, no network listeners, the queue dropped; state `closed`. */
  #stop(): void {
    this.#state = "closed";
    this.#clearTimers();
    this.#waitingForNetwork = false;
    this.#listen(false);
    if (this.#queue.length > 0) {
      const dropped = this.#queue.map((queued) => queued.data);
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#drop(dropped, "closed");
    }
  }

  #clearTimers(): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#idleTimer);
    this.#retryTimer = this.#connectTimer = this.#idleTimer = undefined;
  }

  #listen(on: boolean): void {
    const network = this.#network;
    if (network === undefined || this.#listening === on) return;
    this.#listening = on;
    const method = on ? "addEventListener" : "removeEventListener";
    network[method]("online", this.#onOnline);
    network[method]("visibilitychange", this.#onVisibility);
  }

  #drop(messages: MessageData[], reason: "overflow" | "closed"): void {
    if (messages.length === 0) return;
    this.#dropped += messages.length;
    this.#on.fire(new ReconnectingDropEvent("drop", { messages, reason }));
  }

  /** The final close event: the loop has stopped. */
  #fireClose(init: ReconnectingCloseEventInit): void {
    if (this.#closeFired) return;
    this.#closeFired = true;
    this.#on.fire(new ReconnectingCloseEvent("close", { ...init, willReconnect: false }));
  }
}
