/**
 * The proposed WHATWG `WebSocketStream` (whatwg/websockets PR 48): messages as a `ReadableStream` and a
 * `WritableStream` with backpressure both ways. The client connects; {@linkcode WebSocketStream.from}
 * gives a server's accepted connection the same shape.
 *
 * @module
 */

import { parseWebSocketUrl } from "../handshake/client_handshake.ts";
import type { ClientConnection } from "./connect_transport.ts";
import type { Connection } from "../connection.ts";
import { isToken } from "../handshake/header_tokens.ts";
import { openClient } from "./open_client.ts";
import { ReadyState } from "../core/ready_state.ts";
import type { WebSocketOptions } from "./websocket.ts";
import { type WebSocketCloseInfo, WebSocketError, validateCloseInfo } from "./websocket_error.ts";

// Set by WebSocketStream.from for the one constructor call it makes: wrap a connection, open none.
let attaching = false;
// Bytes of a text message were validated as UTF-8 when they arrived: a lenient decoder suffices.
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Options for {@linkcode WebSocketStream}: the standard's, plus this library's client options. */
export interface WebSocketStreamOptions extends WebSocketOptions {
  /** Subprotocols to offer, most preferred first. @default {[]} */
  protocols?: string[];
  /** Aborts the opening handshake (it does nothing once open). */
  signal?: AbortSignal;
  /**
   * Messages buffered in `readable` before reading from the network pauses.
   * @default {16}
   */
  highWaterMark?: number;
}

/** What `opened` resolves to. */
export interface WebSocketOpenInfo {
  /** Messages from the peer: `string` for text, `Uint8Array` for binary. */
  readable: ReadableStream<string | Uint8Array>;
  /** Messages to the peer: strings as text, a `BufferSource` (`ArrayBuffer` or a view) as binary. */
  writable: WritableStream<string | ArrayBuffer | ArrayBufferView>;
  /** The subprotocol in use, or `""`. */
  protocol: string;
  /** The extensions in use, or `""`. */
  extensions: string;
}

/**
 * A WebSocket as a pair of streams.
 *
 * @example
 * ```ts ignore
 * import { WebSocketStream } from "./websocket_stream.ts";
 * const socket = new WebSocketStream("ws://127.0.0.1:8080/");
 * const { readable, writable } = await socket.opened;
 * const writer = writable.getWriter();
 * await writer.write("Hello");
 * for await (const message of readable) console.log(message);
 * ```
 */
export class WebSocketStream {
  readonly #url: URL;
  readonly #opened: Promise<WebSocketOpenInfo>;
  readonly #closed: Promise<WebSocketCloseInfo>;
  #resolveOpened!: (info: WebSocketOpenInfo) => void;
  #rejectOpened!: (reason: unknown) => void;
  #resolveClosed!: (info: WebSocketCloseInfo) => void;
  #rejectClosed!: (reason: unknown) => void;
  #readyState: number = ReadyState.Connecting;
  #connection: Connection | undefined;
  #handshakeAborted = false;
  #wasEverConnected = false;

  /**
   * Connects to a server.
   *
   * @param url A `ws:`, `wss:`, `http:` or `https:` URL.
   * @param options Subprotocols, an abort signal, and this library's client options.
   * @throws {DOMException} `SyntaxError` for a bad URL or subprotocol list.
   */
  constructor(url: string | URL, options: WebSocketStreamOptions = {}) {
    try {
      this.#url = parseWebSocketUrl(url);
    } catch (error) {
      throw new DOMException((error as Error).message, "SyntaxError");
    }
    const protocols = [...(options.protocols ?? [])];
    if (protocols.some((p) => !isToken(p)) || new Set(protocols).size !== protocols.length) {
      throw new DOMException(`Cannot construct WebSocketStream: invalid or repeated subprotocols: ${protocols.join(", ")}`, "SyntaxError");
    }
    this.#opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.#closed = new Promise((resolve, reject) => {
      this.#resolveClosed = resolve;
      this.#rejectClosed = reject;
    });
    // Like a stream's `closed`, these rejections are marked handled: a server must not crash because
    // nobody awaited `closed` on a connection that dropped.
    this.#opened.catch(() => {});
    this.#closed.catch(() => {});
    if (attaching) {
      attaching = false;
      return;
    }
    const signal = options.signal;
    if (signal?.aborted) {
      this.#rejectOpened(signal.reason);
      this.#rejectClosed(signal.reason);
      this.#handshakeAborted = true;
      return;
    }
    signal?.addEventListener("abort", () => {
      if (this.#wasEverConnected || this.#readyState !== ReadyState.Connecting) return;
      this.#readyState = ReadyState.Closing;
      this.#handshakeAborted = true;
      this.#rejectOpened(signal.reason);
      this.#rejectClosed(signal.reason);
    }, { once: true });
    this.#connect(protocols, options);
  }

  /**
   * Gives an accepted server-side connection the `WebSocketStream` shape (`opened` is already resolved).
   *
   * @param connection The connection, e.g. from `handleNodeUpgrade`.
   * @param info The request URL and what was negotiated.
   * @returns The stream pair.
   */
  static from(
    connection: Connection,
    info: { url?: string | URL; protocol?: string; extensions?: string; highWaterMark?: number } = {},
  ): WebSocketStream {
    attaching = true;
    const stream = new WebSocketStream(info.url ?? "ws://localhost/");
    stream.#attach(connection, info.protocol ?? "", info.extensions ?? "", info.highWaterMark ?? 16);
    return stream;
  }

  /** The URL, serialized. */
  get url(): string {
    return this.#url.href;
  }

  /** Resolves when the connection opens; rejects if it never does. */
  get opened(): Promise<WebSocketOpenInfo> {
    return this.#opened;
  }

  /** Resolves with the close code and reason after a clean close; rejects with a `WebSocketError` otherwise. */
  get closed(): Promise<WebSocketCloseInfo> {
    return this.#closed;
  }

  /**
   * Closes the connection (or abandons the handshake).
   *
   * @param closeInfo The close code (1000 or 3000-4999) and reason (at most 123 bytes).
   * @throws {DOMException} `InvalidAccessError` or `SyntaxError` for an invalid code or reason.
   */
  close(closeInfo: WebSocketCloseInfo = {}): void {
    this.#closeWebSocket(closeInfo.closeCode ?? null, closeInfo.reason ?? "");
  }

  #closeWebSocket(code: number | null, reason: string): void {
    validateCloseInfo(code, reason);
    if (this.#readyState === ReadyState.Closing || this.#readyState === ReadyState.Closed) return;
    if (this.#readyState === ReadyState.Connecting) {
      // "Fail the WebSocket connection and set ready state to CLOSING."
      this.#readyState = ReadyState.Closing;
      return;
    }
    this.#readyState = ReadyState.Closing;
    // "If reason is non-empty but code is null, then set code to 1000."; no code and no reason: no body.
    const wireCode = code ?? (reason !== "" ? 1000 : undefined);
    this.#connection?.close(wireCode, wireCode === undefined ? undefined : reason);
  }

  #closeUsingReason(reason: unknown): void {
    if (reason instanceof WebSocketError) {
      try {
        this.#closeWebSocket(reason.closeCode, reason.reason);
        return;
      } catch {
        // "If this throws an exception, discard code and reasonString and close the WebSocket."
      }
    }
    this.#closeWebSocket(null, "");
  }

  async #connect(protocols: string[], options: WebSocketStreamOptions): Promise<void> {
    let client: ClientConnection;
    try {
      // Text as strings, as the standard has it, whatever a script passed.
      client = await openClient(this.#url, { ...options, protocols, textAsBytes: false });
    } catch (cause) {
      this.#readyState = ReadyState.Closed;
      if (this.#handshakeAborted) return;
      // What went wrong is in the message (a refused handshake's status and the start of its body).
      const why = cause instanceof Error ? `: ${cause.message}` : "";
      const error = WebSocketError.fromConnection(`The WebSocket connection could not be established${why}`, 1006, "");
      this.#rejectOpened(error);
      this.#rejectClosed(error);
      return;
    }
    if (this.#handshakeAborted || this.#readyState !== ReadyState.Connecting) {
      client.connection.fail(1006); // never on the wire: the transport is just closed
      await client.connection.closed;
      this.#readyState = ReadyState.Closed;
      if (!this.#handshakeAborted) {
        const error = WebSocketError.fromConnection("The WebSocket connection was closed while connecting", 1006, "");
        this.#rejectOpened(error);
        this.#rejectClosed(error);
      }
      return;
    }
    this.#attach(client.connection, client.protocol, client.extensions, options.highWaterMark ?? 16);
  }

  #attach(connection: Connection, protocol: string, extensions: string, highWaterMark: number): void {
    this.#connection = connection;
    this.#readyState = ReadyState.Open;
    this.#wasEverConnected = true;
    let readController!: ReadableStreamDefaultController<string | Uint8Array>;
    let writeController!: WritableStreamDefaultController;
    const readable = new ReadableStream<string | Uint8Array>({
      start: (controller) => {
        readController = controller;
      },
      // "Pull bytes": release backpressure.
      pull: () => connection.resumeReading(),
      cancel: (reason) => this.#closeUsingReason(reason),
    }, { highWaterMark });
    const writable = new WritableStream<string | ArrayBuffer | ArrayBufferView>({
      start: (controller) => {
        writeController = controller;
      },
      write: async (chunk) => {
        let data: string | Uint8Array;
        if (typeof chunk === "string") data = chunk;
        else if (ArrayBuffer.isView(chunk)) data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength).slice();
        else if (chunk instanceof ArrayBuffer) data = new Uint8Array(chunk).slice();
        else data = String(chunk); // "converted to an IDL USVString"
        // Waits until the transport has room: backpressure reaches the writer through `ready`.
        await connection.send(data);
      },
      close: () => this.#closeWebSocket(null, ""),
      abort: (reason) => this.#closeUsingReason(reason),
    });
    connection.onmessage = (data, binary) => {
      // "If ready state is not OPEN, then return."
      if (this.#readyState !== ReadyState.Open) return;
      // Text is a string here, even from a connection made with textAsBytes (WebSocketStream.from).
      readController.enqueue(binary || typeof data === "string" ? data : textDecoder.decode(data));
      // "Apply backpressure": stop reading from the network while the queue is full.
      if ((readController.desiredSize ?? 0) <= 0) connection.pauseReading();
    };
    connection.closed.then(({ code, reason, wasClean }) => {
      this.#readyState = ReadyState.Closed;
      if (wasClean) {
        try {
          readController.close();
        } catch {
          // Already cancelled by the consumer.
        }
        writeController.error(new DOMException("Cannot write: the WebSocketStream is closed", "InvalidStateError"));
        this.#resolveClosed({ closeCode: code, reason });
        return;
      }
      const error = WebSocketError.fromConnection(`The WebSocket connection closed uncleanly with ${code}`, code, reason);
      try {
        readController.error(error);
      } catch {
        // Already cancelled by the consumer.
      }
      writeController.error(error);
      this.#rejectClosed(error);
    });
    this.#resolveOpened({ readable, writable, protocol, extensions });
  }
}
