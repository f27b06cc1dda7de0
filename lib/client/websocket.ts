/**
 * A WHATWG `WebSocket` (https://websockets.spec.whatwg.org/) over this library's client: code written for
 * the browser's `WebSocket` runs unchanged, with permessage-deflate on runtimes whose own client has none.
 *
 * @module
 */

import { parseWebSocketUrl } from "../handshake/client_handshake.ts";
import type { ClientConnection } from "./connect_transport.ts";
import type { Connection } from "../connection.ts";
import { isToken } from "../handshake/header_tokens.ts";
import { type ClientOptions, openClient } from "./open_client.ts";
import { ReadyState } from "../core/ready_state.ts";
import { OnHandlers } from "./on_handlers.ts";

/**
 * Options beyond the standard constructor's, for {@linkcode WebSocket}: transport, TLS, deflate, limits.
 * (`textAsBytes` is not one: the standard's text messages are strings.)
 */
export type WebSocketOptions = Omit<ClientOptions, "protocols" | "textAsBytes">;

/** What the `CloseEvent` constructor takes (the standard's `CloseEventInit`). */
export interface CloseEventInit {
  /** Whether the event bubbles (as `EventInit`'s). @default {false} */
  bubbles?: boolean;
  /** Whether the event can be canceled (as `EventInit`'s). @default {false} */
  cancelable?: boolean;
  /** Whether the event crosses shadow DOM boundaries (as `EventInit`'s). @default {false} */
  composed?: boolean;
  /** The close code the peer sent, or 1005/1006 when it sent none or the connection dropped. @default {0} */
  code?: number;
  /** The close reason the peer sent. @default {""} */
  reason?: string;
  /** Whether the closing handshake completed. @default {false} */
  wasClean?: boolean;
}

/**
 * The `CloseEvent` of the WHATWG standard. Declared here rather than taken from the DOM library's types, so
 * that the declarations hold for Node projects whose types have no `CloseEvent` (Node 20 has none at run
 * time either).
 */
export interface CloseEvent extends Event {
  /** The close code the peer sent (1005 for none), or 1006 when the connection dropped without one. */
  readonly code: number;
  /** The close reason the peer sent, `""` for none. */
  readonly reason: string;
  /** Whether the closing handshake completed. */
  readonly wasClean: boolean;
}

/** The `CloseEvent` constructor's type. */
export type CloseEventConstructor = { readonly prototype: CloseEvent; new (type: string, init?: CloseEventInit): CloseEvent };

/** The `CloseEvent` of the WHATWG standard (a global on Deno and Bun; defined here where it is missing). */
export const CloseEvent: CloseEventConstructor = (globalThis as { CloseEvent?: CloseEventConstructor }).CloseEvent ??
  class CloseEvent extends Event {
    readonly wasClean: boolean;
    readonly code: number;
    readonly reason: string;
    constructor(type: string, init: CloseEventInit = {}) {
      super(type, init);
      this.wasClean = init.wasClean ?? false;
      this.code = init.code ?? 0;
      this.reason = init.reason ?? "";
    }
  };

/**
 * An `on<event>` handler of {@linkcode WebSocket}, typed with its event as the DOM's `WebSocket` types it
 * (`MessageEvent` for `onmessage`, {@linkcode CloseEvent} for `onclose`); `null` for none.
 */
export type Handler<E extends Event = Event> = ((this: WebSocket, event: E) => unknown) | null;
/** How binary messages are delivered (the standard's `BinaryType`): as a `Blob` or an `ArrayBuffer`. */
export type BinaryType = "blob" | "arraybuffer";

const encoder = new TextEncoder();

/**
 * The WHATWG `WebSocket` interface: `readyState`, `binaryType`, `bufferedAmount`, `protocol`,
 * `extensions`, `url`, the `on*` handlers and `addEventListener`, `send` and `close` with the standard's
 * exceptions, and `CloseEvent` with `code`, `reason` and `wasClean`.
 *
 * @example
 * ```ts ignore
 * import { WebSocket } from "./websocket.ts";
 * const socket = new WebSocket("ws://127.0.0.1:8080/", ["chat"]);
 * socket.onopen = () => socket.send("Hello");
 * socket.onmessage = (event) => console.log(event.data);
 * socket.onclose = (event) => console.log(event.code, event.reason, event.wasClean);
 * ```
 */
export class WebSocket extends EventTarget {
  /** The connection has not yet been established. */
  static readonly CONNECTING = 0;
  /** The connection is established and communication is possible. */
  static readonly OPEN = 1;
  /** The connection is going through the closing handshake, or `close()` was called. */
  static readonly CLOSING = 2;
  /** The connection has been closed or could not be opened. */
  static readonly CLOSED = 3;
  /** The connection has not yet been established. */
  readonly CONNECTING = 0;
  /** The connection is established and communication is possible. */
  readonly OPEN = 1;
  /** The connection is going through the closing handshake, or `close()` was called. */
  readonly CLOSING = 2;
  /** The connection has been closed or could not be opened. */
  readonly CLOSED = 3;

  readonly #url: URL;
  #readyState: number = ReadyState.Connecting;
  #binaryType: BinaryType = "blob";
  #protocol = "";
  #extensions = "";
  #bufferedAmount = 0;
  #connection: Connection | undefined;
  #abortConnecting = false;
  #sendQueue: Promise<void> | undefined; // set while a Blob is being read: later sends wait for it
  #failure: Error | undefined;
  readonly #on = new OnHandlers<WebSocket>(this);

  /**
   * Opens a connection to `url` (in the background; listen for `open`, `message`, `close`).
   *
   * @param url A `ws:`, `wss:`, `http:` or `https:` URL.
   * @param protocols Subprotocols to offer.
   * @param options Beyond the standard: permessage-deflate offer, headers, limits, transport.
   * @throws {DOMException} `SyntaxError` for a bad URL, a fragment, or subprotocols that are not tokens or
   * repeat.
   */
  constructor(url: string | URL, protocols: string | string[] = [], options: WebSocketOptions = {}) {
    super();
    try {
      this.#url = parseWebSocketUrl(url);
    } catch (error) {
      throw new DOMException((error as Error).message, "SyntaxError");
    }
    const list = typeof protocols === "string" ? [protocols] : [...protocols];
    if (list.some((p) => !isToken(p)) || new Set(list).size !== list.length) {
      throw new DOMException(`Cannot construct WebSocket: invalid or repeated subprotocols: ${list.join(", ")}`, "SyntaxError");
    }
    this.#connect(list, options);
  }

  /** The URL, serialized. */
  get url(): string {
    return this.#url.href;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    return this.#readyState;
  }

  /** The subprotocol the server chose, or `""`. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The extensions the server accepted, or `""`. */
  get extensions(): string {
    return this.#extensions;
  }

  /** Bytes of application data passed to `send()` and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /** How binary messages are delivered: `"blob"` (default) or `"arraybuffer"`. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // An enumerated attribute ignores values outside its enumeration.
    if (value === "blob" || value === "arraybuffer") this.#binaryType = value;
  }

  /**
   * Why the connection could not be opened, when it could not: a `HandshakeRefusedError` (with the
   * server's `status` and the start of its body) for a refused handshake, or the network's or the
   * handshake's error. Not in the standard, which gives scripts only an `error` event and a 1006 close.
   */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Called when the connection opens. */
  get onopen(): Handler {
    return this.#on.get("open");
  }
  set onopen(handler: Handler) {
    this.#on.set("open", handler);
  }
  /** Called with each message. */
  get onmessage(): Handler<MessageEvent> {
    return this.#on.get("message");
  }
  set onmessage(handler: Handler<MessageEvent>) {
    this.#on.set("message", handler);
  }
  /** Called when the connection failed, before `close`. */
  get onerror(): Handler {
    return this.#on.get("error");
  }
  set onerror(handler: Handler) {
    this.#on.set("error", handler);
  }
  /** Called when the connection is closed. */
  get onclose(): Handler<CloseEvent> {
    return this.#on.get("close");
  }
  set onclose(handler: Handler<CloseEvent>) {
    this.#on.set("close", handler);
  }

  /**
   * Sends a message: text for a string, binary for a `Blob`, `ArrayBuffer` or view. After the closing
   * handshake started, data is discarded but still counted in `bufferedAmount`, as the standard says.
   *
   * @param data The message.
   * @throws {DOMException} `InvalidStateError` while CONNECTING.
   */
  send(data: string | Blob | ArrayBufferLike | ArrayBufferView): void {
    if (this.#readyState === ReadyState.Connecting) {
      throw new DOMException("Cannot send: the WebSocket is still connecting", "InvalidStateError");
    }
    if (typeof data === "string") {
      this.#enqueue(encoder.encode(data).length, data);
    } else if (data instanceof Blob) {
      this.#enqueue(data.size, data.arrayBuffer().then((buffer) => new Uint8Array(buffer)));
    } else if (ArrayBuffer.isView(data)) {
      this.#enqueue(data.byteLength, new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
    } else if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && data instanceof SharedArrayBuffer)) {
      this.#enqueue(data.byteLength, new Uint8Array(data).slice());
    } else {
      // WebIDL converts anything else to a string.
      this.send(String(data));
    }
  }

  /**
   * Starts the closing handshake (or abandons a connection still being established).
   *
   * @param code 1000 or 3000-4999.
   * @param reason At most 123 bytes of UTF-8.
   * @throws {DOMException} `InvalidAccessError` for another code, `SyntaxError` for a longer reason.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && !(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) {
      throw new DOMException(`Cannot close: code ${code} is neither 1000 nor in 3000-4999`, "InvalidAccessError");
    }
    if (reason !== undefined && encoder.encode(reason).length > 123) {
      throw new DOMException("Cannot close: the reason is longer than 123 bytes", "SyntaxError");
    }
    if (this.#readyState === ReadyState.Closing || this.#readyState === ReadyState.Closed) return;
    if (this.#readyState === ReadyState.Connecting) {
      // "Fail the WebSocket connection and set this's ready state to CLOSING."
      this.#abortConnecting = true;
      this.#readyState = ReadyState.Closing;
      return;
    }
    this.#readyState = ReadyState.Closing;
    // "If neither code nor reason is present, the WebSocket Close message must not have a body."
    const wireCode = code ?? (reason !== undefined && reason !== "" ? 1000 : undefined);
    const start = () => this.#connection?.close(wireCode, wireCode === undefined ? undefined : reason ?? "");
    // close() "does not discard previously sent messages": it waits behind a Blob still being read.
    if (this.#sendQueue !== undefined) this.#sendQueue.then(start);
    else start();
  }

  async #connect(protocols: string[], options: WebSocketOptions): Promise<void> {
    let client: ClientConnection;
    try {
      // Text as strings, as the standard has it, whatever a script passed.
      client = await openClient(this.#url, { ...options, protocols, textAsBytes: false });
    } catch (error) {
      // The standard forbids telling scripts why (host unknown, refused, bad handshake ...): 1006 for all,
      // and the events carry nothing more; `failure` (not in the standard) has the reason.
      this.#failure = error instanceof Error ? error : new Error(String(error));
      this.#closed(1006, "", false, true);
      return;
    }
    const connection = client.connection;
    this.#connection = connection;
    if (this.#abortConnecting) {
      connection.fail(1006);
      await connection.closed;
      this.#closed(1006, "", false, true);
      return;
    }
    connection.onmessage = (data) => this.#message(data);
    connection.closed.then(({ code, reason, wasClean }) => {
      const failed = connection.protocol.failure !== undefined;
      this.#closed(code, reason, wasClean, failed || code === 1006);
    });
    this.#readyState = ReadyState.Open;
    this.#protocol = client.protocol;
    this.#extensions = client.extensions;
    this.#on.fire(new Event("open"));
  }

  #message(data: string | Uint8Array): void {
    // "If ready state is not OPEN (1), then return."
    if (this.#readyState !== ReadyState.Open) return;
    let eventData: string | Blob | ArrayBuffer;
    if (typeof data === "string") eventData = data;
    else if (this.#binaryType === "blob") eventData = new Blob([data as Uint8Array<ArrayBuffer>]);
    else {
      eventData = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer
        ? data.buffer
        : data.slice().buffer;
    }
    this.#on.fire(new MessageEvent("message", { data: eventData, origin: this.#url.origin }));
  }

  #closed(code: number, reason: string, wasClean: boolean, failed: boolean): void {
    if (this.#readyState === ReadyState.Closed) return;
    this.#readyState = ReadyState.Closed;
    if (failed) this.#on.fire(new Event("error"));
    this.#on.fire(new CloseEvent("close", { code, reason, wasClean }));
  }

  #enqueue(size: number, data: string | Uint8Array | Promise<Uint8Array>): void {
    this.#bufferedAmount += size;
    // After the closing handshake started, data is discarded but stays counted, as the standard says.
    if (this.#readyState !== ReadyState.Open) return;
    if (!(data instanceof Promise) && this.#sendQueue === undefined) {
      this.#deliver(data, size);
      return;
    }
    // Messages leave in the order of send() calls, even when a Blob must be read first.
    const queued: Promise<void> = (this.#sendQueue ?? Promise.resolve())
      .then(async () => this.#deliver(await data, size))
      .catch(() => {})
      .finally(() => {
        if (this.#sendQueue === queued) this.#sendQueue = undefined;
      });
    this.#sendQueue = queued;
  }

  #deliver(data: string | Uint8Array, size: number): void {
    const connection = this.#connection;
    if (connection === undefined || connection.readyState !== ReadyState.Open) return;
    connection.send(data).catch(() => {});
    connection.drained.then(() => {
      this.#bufferedAmount -= size;
    });
  }
}
