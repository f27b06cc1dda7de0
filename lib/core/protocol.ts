/**
 * The sans-I/O WebSocket protocol (RFC 6455 §5-§8): bytes in, events and bytes out. No timers, no sockets,
 * no runtime APIs: the connection layer drives it.
 *
 * @module
 */

import { CloseCode, isValidCloseCode } from "./close_code.ts";
import { encodeFrame } from "./encode_frame.ts";
import type { Extension } from "./extension.ts";
import { EMPTY_PAYLOAD, type Frame } from "./frame.ts";
import { DEFAULT_MAX_MESSAGE_SIZE, FrameParser } from "./frame_parser.ts";
import { MessageAssembler } from "./message_assembler.ts";
import { Opcode } from "./opcode.ts";
import { ProtocolError } from "./protocol_error.ts";
import { ReadyState } from "./ready_state.ts";
import { encodeText, isUtf8 } from "./utf8.ts";

/** What the peer did, as {@linkcode Protocol.takeEvents} reports it. */
export type ProtocolEvent =
  | {
    readonly type: "message";
    /** A `string` for text (its UTF-8 bytes with `textAsBytes`), a `Uint8Array` for binary. */
    readonly data: string | Uint8Array;
    /** Whether the message is binary (`false` for text, whatever form `data` has). */
    readonly binary: boolean;
  }
  | { readonly type: "ping"; readonly data: Uint8Array }
  | { readonly type: "pong"; readonly data: Uint8Array }
  | { readonly type: "close"; readonly code: number; readonly reason: string };

/** A close frame's content; `code` is 1005 when the frame carried no status code. */
export interface CloseInfo {
  /** The status code, or 1005 (No Status Received) for a close frame without one. */
  readonly code: number;
  /** The reason, possibly empty. */
  readonly reason: string;
}

/** Options for {@linkcode Protocol}. */
export interface ProtocolOptions {
  /** Which end this is: a client masks what it sends and requires unmasked frames, a server the reverse. */
  role: "server" | "client";
  /**
   * Largest message received, the sum of its fragments (after decompression), in bytes. More fails the
   * connection with 1009, detected from frame headers before the payload is buffered.
   * @default {16777216}
   */
  maxMessageSize?: number;
  /**
   * Largest frame payload sent; longer messages are fragmented.
   * @default {Infinity}
   */
  fragmentSize?: number;
  /** Negotiated extensions, in the order of the `Sec-WebSocket-Extensions` response. @default {[]} */
  extensions?: Extension[];
  /** The state to start in; the opening handshake is not this class's business. @default {ReadyState.Open} */
  state?: ReadyState;
  /**
   * Text messages arrive as their UTF-8 bytes (validated as ever) instead of strings, with `binary: false`:
   * for relays, echo and broadcast, which pass text on without reading it. Send them on with
   * `send(bytes, { binary: false })`.
   * @default {false}
   */
  textAsBytes?: boolean;
}

/** Options for {@linkcode Protocol.send}. */
export interface SendOptions {
  /** Largest frame payload for this message. @default the protocol's `fragmentSize` */
  fragmentSize?: number;
  /** `false` sends this message uncompressed even when permessage-deflate is in use. @default {true} */
  compress?: boolean;
  /**
   * The message's type: `false` sends bytes as a text message (they must be UTF-8: checked, a `TypeError`
   * if not), `true` sends a string's UTF-8 as a binary message. Whole messages only (`send`).
   * @default {typeof data !== "string"}
   */
  binary?: boolean;
}

const encoder = new TextEncoder();
const MAX_REASON_BYTES = 123;
/**
 * Pongs queued between two {@linkcode Protocol.takeOutgoing} calls; the pong for any later ping replaces the
 * last of them (§5.5.3). A few pings in a row are each answered (Autobahn 2.10 expects ten pongs for ten
 * pings sent at once); a flood costs a bounded number of pongs per read.
 */
const MAX_QUEUED_PONGS = 32;

/**
 * One WebSocket connection's protocol state: feed it the bytes read from the peer with
 * {@linkcode Protocol.receive}, collect what happened with {@linkcode Protocol.takeEvents}, and write out
 * {@linkcode Protocol.takeOutgoing}. Errors by the peer never throw out of `receive`: they fail the
 * connection with the right close code, in one place ({@linkcode Protocol.fail}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Protocol } from "./protocol.ts";
 * const server = new Protocol({ role: "server" });
 * // A masked "Hello" from a client (RFC 6455 §5.7).
 * server.receive(new Uint8Array([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
 * const [event] = server.takeEvents();
 * assert(event.type === "message" && event.data === "Hello");
 * server.send("Hi");
 * assert(server.takeOutgoing().length === 1);
 * ```
 */
export class Protocol {
  #state: ReadyState;
  readonly #role: "server" | "client";
  readonly #mask: boolean;
  readonly #parser: FrameParser;
  readonly #assembler: MessageAssembler;
  readonly #extensions: Extension[];
  readonly #fragmentSize: number;
  #events: ProtocolEvent[] = [];
  #outgoing: Uint8Array[] = [];
  #closeSent: CloseInfo | undefined;
  #closeReceived: CloseInfo | undefined;
  #failure: Error | undefined;
  #eofReceived = false;
  #discarding = false;
  #partsChecked = 0; // pieces of the parser's partial frame already passed to the assembler
  #tailOnly = false; // the parser released the decoded start of the current text frame
  #sendingOpcode = -1; // opcode of a fragmented message being sent, else -1
  #heldSurrogate = ""; // a high surrogate ending the last text fragment sent, sent with the next one
  #receivingTransformed = false; // the message being received has RSV bits set (an extension decodes it)
  #receivingBinary = false; // the message being received is binary
  #pongAt = -1; // index in #outgoing of the last pong queued, until the bytes are taken
  #queuedPongs = 0; // pongs in #outgoing
  #latestPing: Uint8Array | undefined; // payload of a ping whose pong replaces the last one queued, when taken

  /**
   * Makes the protocol state of one connection whose opening handshake is done.
   *
   * @param options The role, limits and negotiated extensions.
   */
  constructor(options: ProtocolOptions) {
    this.#role = options.role;
    this.#mask = options.role === "client";
    this.#state = options.state ?? ReadyState.Open;
    this.#extensions = options.extensions ?? [];
    const fragmentSize = options.fragmentSize ?? Infinity;
    if (!(fragmentSize >= 1)) throw new RangeError(`Cannot create protocol: fragmentSize ${fragmentSize} is not positive`);
    this.#fragmentSize = fragmentSize;
    const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!(maxMessageSize >= 0) || maxMessageSize > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`Cannot create protocol: maxMessageSize ${maxMessageSize} is out of range`);
    }
    let rsv = 0;
    for (const extension of this.#extensions) rsv |= extension.rsvBits;
    this.#parser = new FrameParser({ role: options.role, maxPayloadSize: maxMessageSize, allowedRsv: rsv });
    this.#assembler = new MessageAssembler({ maxMessageSize, textAsBytes: options.textAsBytes ?? false });
  }

  /** This end's role. */
  get role(): "server" | "client" {
    return this.#role;
  }

  /** The negotiated extensions, in the order of the `Sec-WebSocket-Extensions` response. */
  get extensions(): readonly Extension[] {
    return this.#extensions;
  }

  /** Whether a message sent fragment by fragment ({@linkcode Protocol.sendFragment}) is in progress. */
  get sendingFragments(): boolean {
    return this.#sendingOpcode !== -1;
  }

  /** The current state: CONNECTING, OPEN, CLOSING or CLOSED. */
  get state(): ReadyState {
    return this.#state;
  }

  /** The close frame this end sent, if any. */
  get closeSent(): CloseInfo | undefined {
    return this.#closeSent;
  }

  /** The close frame the peer sent, if any. */
  get closeReceived(): CloseInfo | undefined {
    return this.#closeReceived;
  }

  /** Why the connection failed, if it did: a `ProtocolError` for the peer's violations. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Whether the transport should now be closed. §7.1.1: "the server SHOULD close the underlying TCP
   * connection first"; a client waits for that (the connection layer bounds the wait with a timeout),
   * except after a failure, when both ends close at once.
   */
  get shouldCloseTransport(): boolean {
    if (this.#state !== ReadyState.Closed) return false;
    return this.#role === "server" || this.#failure !== undefined || this.#eofReceived;
  }

  /** Moves from CONNECTING to OPEN, once the opening handshake has succeeded. */
  open(): void {
    if (this.#state !== ReadyState.Connecting) throw invalidState("Cannot open: the connection is not connecting");
    this.#state = ReadyState.Open;
  }

  /**
   * Feeds bytes read from the peer. Never throws for anything the peer sent: a violation fails the
   * connection (a close frame with its code is queued, the state becomes CLOSED).
   *
   * @param data The bytes, of any length; the protocol owns them from now on.
   */
  receive(data: Uint8Array): void {
    this.feed(data);
    if (this.#discarding) return;
    try {
      this.#readFrames(false);
    } catch (error) {
      this.#failWith(error);
    }
  }

  /**
   * Buffers bytes read from the peer without parsing them; {@linkcode Protocol.nextEvent} parses. A driver
   * that hands each event to the application before parsing on keeps replies in the order of the input:
   * the answer to a message goes out before the answer to a close frame that followed it.
   *
   * @param data The bytes, of any length; the protocol owns them from now on.
   */
  feed(data: Uint8Array): void {
    // §7.1.7: after failing, "the endpoint MUST NOT continue to attempt to process data (including a
    // responding Close frame) from the remote endpoint"; after a close frame there is nothing more to read.
    if (this.#discarding) return;
    if (this.#state === ReadyState.Connecting) throw invalidState("Cannot receive: the connection is not open");
    this.#parser.push(data);
  }

  /**
   * Parses buffered bytes until one event happens. Like {@linkcode Protocol.receive}, it never throws for
   * what the peer sent.
   *
   * @returns The next event, or `undefined` when the buffered bytes hold no more.
   */
  nextEvent(): ProtocolEvent | undefined {
    if (this.#events.length === 0 && !this.#discarding) {
      try {
        this.#readFrames(true);
      } catch (error) {
        this.#failWith(error);
      }
    }
    return this.#events.shift();
  }

  /** Tells the protocol that the peer closed the transport (EOF). */
  receiveEof(): void {
    this.#eofReceived = true;
    this.#discarding = true;
    this.#state = ReadyState.Closed;
    this.releaseExtensions();
  }

  /**
   * Releases what the negotiated extensions hold (permessage-deflate's codec memory). For a connection that
   * has ended; {@linkcode Protocol.receiveEof} does it too.
   */
  releaseExtensions(): void {
    for (const extension of this.#extensions) extension.release?.();
  }

  /**
   * Takes what happened since the last call: messages, pings, pongs, the close.
   *
   * @returns The events since the last call, in order.
   */
  takeEvents(): ProtocolEvent[] {
    const events = this.#events;
    if (events.length > 0) this.#events = [];
    return events;
  }

  /**
   * Takes the bytes to send: frames queued by `send`, `ping`, `close` and the automatic replies.
   *
   * @returns The bytes to write to the transport since the last call, in order.
   */
  takeOutgoing(): Uint8Array[] {
    if (this.#latestPing !== undefined) {
      this.#outgoing[this.#pongAt] = this.#encodePong(this.#latestPing);
      this.#latestPing = undefined;
    }
    this.#pongAt = -1;
    this.#queuedPongs = 0;
    const outgoing = this.#outgoing;
    if (outgoing.length > 0) this.#outgoing = [];
    return outgoing;
  }

  /**
   * Sends a whole message: text for a string, binary for bytes (unless `options.binary` says otherwise),
   * fragmented when longer than the fragment size.
   *
   * @param data The message.
   * @param options The fragment size, compression and type of this message.
   * @throws {DOMException} `InvalidStateError` unless OPEN, or while a fragmented send is in progress.
   * @throws {TypeError} For bytes sent as text that are not UTF-8.
   */
  send(data: string | Uint8Array, options: SendOptions = {}): void {
    this.#assertCanSendData();
    if (this.#sendingOpcode !== -1) throw invalidState("Cannot send: a fragmented message is in progress");
    const text = typeof data === "string";
    const payload = text ? encodeText(data) : checkBytes(data);
    const binary = options.binary ?? !text;
    // §5.6: "The "Payload data" is text data encoded as UTF-8" in a text frame.
    if (!binary && !text && !isUtf8(payload)) throw new TypeError("Cannot send: bytes sent as text are not UTF-8");
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    let frame: Frame = { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, payload };
    for (const extension of this.#extensions) frame = extension.encode(frame, options);
    const fragmentSize = options.fragmentSize ?? this.#fragmentSize;
    if (!(fragmentSize >= 1)) throw new RangeError(`Cannot send: fragmentSize ${fragmentSize} is not positive`);
    const bytes = frame.payload;
    if (bytes.length <= fragmentSize) {
      this.#writeFrame(opcode, bytes, true, frame.rsv1);
      return;
    }
    // §5.4: fragments after the first are continuation frames; RSV1 belongs to the first (RFC 7692 §6).
    for (let start = 0; start < bytes.length; start += fragmentSize) {
      const end = Math.min(start + fragmentSize, bytes.length);
      const first = start === 0;
      this.#writeFrame(first ? opcode : Opcode.Continuation, bytes.subarray(start, end), end === bytes.length, first && frame.rsv1);
    }
  }

  /**
   * Sends one fragment of a message whose length is not known in advance. The first fragment's type
   * (string: text, bytes: binary) sets the message's type; later fragments may be either. Control frames
   * (ping, pong, close) may be sent between fragments.
   *
   * @param data The fragment.
   * @param fin Whether this fragment ends the message.
   * @param options `compress: false` on the first fragment sends the message uncompressed.
   * @throws {DOMException} `InvalidStateError` unless OPEN.
   */
  sendFragment(data: string | Uint8Array, fin: boolean, options: SendOptions = {}): void {
    this.#assertCanSendData();
    if (typeof data === "string") {
      // A character split across two string fragments (a surrogate pair) must not become U+FFFD: hold a
      // trailing high surrogate back until the next fragment.
      data = this.#heldSurrogate + data;
      this.#heldSurrogate = "";
      const last = data.charCodeAt(data.length - 1);
      if (!fin && last >= 0xd800 && last <= 0xdbff) {
        this.#heldSurrogate = data[data.length - 1];
        data = data.slice(0, -1);
      }
    }
    const payload = typeof data === "string" ? encodeText(data) : checkBytes(data);
    const first = this.#sendingOpcode === -1;
    const opcode = first ? (typeof data === "string" ? Opcode.Text : Opcode.Binary) : Opcode.Continuation;
    let frame: Frame = { fin, rsv1: false, rsv2: false, rsv3: false, opcode, payload };
    for (const extension of this.#extensions) frame = extension.encode(frame, options);
    this.#sendingOpcode = fin ? -1 : first ? opcode : this.#sendingOpcode;
    this.#writeFrame(opcode, frame.payload, fin, frame.rsv1);
  }

  /**
   * Sends a ping.
   *
   * @param data Application data, at most 125 bytes (§5.5).
   * @throws {RangeError} When the payload exceeds 125 bytes.
   * @throws {DOMException} `InvalidStateError` unless OPEN.
   */
  ping(data: string | Uint8Array = EMPTY_PAYLOAD): void {
    this.#sendControl(Opcode.Ping, data, "ping");
  }

  /**
   * Sends a pong (unsolicited pongs serve as a one-way heartbeat, §5.5.3).
   *
   * @param data Application data, at most 125 bytes.
   * @throws {RangeError} When the payload exceeds 125 bytes.
   * @throws {DOMException} `InvalidStateError` unless OPEN.
   */
  pong(data: string | Uint8Array = EMPTY_PAYLOAD): void {
    this.#sendControl(Opcode.Pong, data, "pong");
  }

  /**
   * Starts the closing handshake: sends a close frame and moves to CLOSING. Does nothing once CLOSING or
   * CLOSED.
   *
   * @param code A status code valid on the wire (1000-1003, 1007-1014, 3000-4999); none sends an empty close.
   * @param reason At most 123 bytes of UTF-8; needs a code.
   * @throws {RangeError} For a code not valid on the wire.
   * @throws {SyntaxError} For a reason over 123 bytes.
   * @throws {TypeError} For a reason without a code.
   */
  close(code?: number, reason = ""): void {
    const payload = encodeClosePayload(code, reason);
    if (this.#state === ReadyState.Connecting) throw invalidState("Cannot close: the connection is not open");
    if (this.#state !== ReadyState.Open) return;
    this.#writeFrame(Opcode.Close, payload, true, false);
    this.#closeSent = { code: code ?? CloseCode.NoStatusReceived, reason };
    this.#state = ReadyState.Closing;
  }

  /**
   * Fails the connection (§7.1.7): sends a close frame with the code if none was sent yet, stops reading,
   * and moves to CLOSED. The one place where errors become close codes.
   *
   * @param code The close code.
   * @param reason The close reason, cut to 123 bytes.
   */
  fail(code: number, reason = ""): void {
    // Once CLOSED there is nothing left to fail: a late error does not make a clean close unclean.
    if (this.#state === ReadyState.Closed) return;
    this.#failure ??= new ProtocolError(code, reason);
    this.#discarding = true;
    // §7.1.7: "the endpoint SHOULD send a Close frame with an appropriate status code before proceeding
    // to _Close the WebSocket Connection_" (when the connection was established).
    if (this.#state === ReadyState.Open && isValidCloseCode(code)) {
      const cut = truncateUtf8(reason, MAX_REASON_BYTES);
      this.#writeFrame(Opcode.Close, encodeClosePayload(code, cut), true, false);
      this.#closeSent = { code, reason: cut };
    }
    this.#state = ReadyState.Closed;
  }

  #failWith(error: unknown): void {
    if (error instanceof ProtocolError) {
      this.#failure = error;
      this.fail(error.code, error.message);
    } else {
      // Unexpected errors close with 1011 and no internal detail.
      this.#failure = error instanceof Error ? error : new Error(String(error));
      this.fail(CloseCode.InternalError, "");
    }
  }

  #readFrames(untilEvent: boolean): void {
    const parser = this.#parser;
    const assembler = this.#assembler;
    // With an extension a frame's payload may be compressed: DEFLATE can be a little larger than what it
    // inflates to, so the header check allows its overhead; the exact limit applies while inflating.
    const slack = this.#extensions.length > 0;
    for (;;) {
      const remaining = assembler.remaining;
      parser.maxPayloadSize = slack ? remaining + (remaining >>> 3) + 256 : remaining;
      const frame = parser.next();
      if (frame === undefined) break;
      this.#partsChecked = 0;
      this.#handleFrame(frame);
      this.#tailOnly = false;
      if (this.#discarding || (untilEvent && this.#events.length > 0)) return;
    }
    // Fail fast: check the part of a data frame that has arrived (text is decoded, and so validated, now).
    const partial = parser.partial;
    // An extension's payload (a compressed message, continuations included) is checked after decoding.
    const transformed = partial !== undefined &&
      (partial.rsv1 || (partial.opcode === Opcode.Continuation && this.#receivingTransformed));
    if (partial !== undefined && partial.opcode < Opcode.Close && !transformed) {
      const parts = partial.parts;
      for (let i = this.#partsChecked; i < parts.length; i++) assembler.pushPartial(partial.opcode, parts[i]);
      this.#partsChecked = parts.length;
      if (assembler.decodingPartial) {
        // Decoded text is not needed again: the frame will carry only the rest (no copy of the whole).
        parser.releaseParts(parts.length);
        this.#partsChecked = 0;
        this.#tailOnly = true;
      }
    }
  }

  #handleFrame(frame: Frame): void {
    switch (frame.opcode) {
      case Opcode.Text:
      case Opcode.Binary:
      case Opcode.Continuation: {
        if (frame.opcode !== Opcode.Continuation) {
          this.#receivingTransformed = frame.rsv1 || frame.rsv2 || frame.rsv3;
          this.#receivingBinary = frame.opcode === Opcode.Binary;
        }
        let decoded = frame;
        for (let i = this.#extensions.length - 1; i >= 0; i--) {
          decoded = this.#extensions[i].decode(decoded, this.#assembler.remaining);
        }
        const message = this.#assembler.push(decoded, this.#tailOnly);
        if (message !== undefined) this.#events.push({ type: "message", data: message, binary: this.#receivingBinary });
        return;
      }
      case Opcode.Ping:
        this.#events.push({ type: "ping", data: frame.payload });
        // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, unless it
        // already received a Close frame." and "the Pong frame MUST have identical Application data".
        // CLOSING (a Close sent, none received) answers too: §5.5.1 bars only data frames after a Close.
        if (this.#state === ReadyState.Open || this.#state === ReadyState.Closing) {
          // §5.5.3: "If an endpoint receives a Ping frame and has not yet sent Pong frame(s) in response to
          // previous Ping frame(s), the endpoint MAY elect to send a Pong frame for only the most recently
          // processed Ping frame." Past MAX_QUEUED_PONGS unsent pongs, the newest replaces the last (encoded
          // once, when the bytes are taken: a flood allocates nothing per ping).
          if (this.#queuedPongs >= MAX_QUEUED_PONGS) {
            this.#latestPing = frame.payload;
          } else {
            this.#pongAt = this.#outgoing.length;
            this.#outgoing.push(this.#encodePong(frame.payload));
            this.#queuedPongs++;
          }
        }
        return;
      case Opcode.Pong:
        // §5.5.3: "A response to an unsolicited Pong frame is not expected."
        this.#events.push({ type: "pong", data: frame.payload });
        return;
      case Opcode.Close:
        this.#receiveClose(frame.payload);
        return;
    }
  }

  #receiveClose(payload: Uint8Array): void {
    const { code, reason } = decodeClosePayload(payload);
    this.#closeReceived = { code, reason };
    // §1.4: after the close frame, "the endpoint ... discards any further data received".
    this.#discarding = true;
    if (this.#state === ReadyState.Open) {
      // §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close frame, the
      // endpoint MUST send a Close frame in response. (When sending a Close frame in response, the
      // endpoint typically echos the status code it received.)"
      const echo = code === CloseCode.NoStatusReceived ? undefined : code;
      this.#writeFrame(Opcode.Close, encodeClosePayload(echo, ""), true, false);
      this.#closeSent = { code, reason: "" };
    }
    this.#state = ReadyState.Closed;
    this.#events.push({ type: "close", code, reason });
  }

  #encodePong(payload: Uint8Array): Uint8Array {
    const chunks = encodeFrame(Opcode.Pong, payload, { fin: true, mask: this.#mask });
    if (chunks.length === 1) return chunks[0];
    const joined = new Uint8Array(chunks[0].length + chunks[1].length);
    joined.set(chunks[0]);
    joined.set(chunks[1], chunks[0].length);
    return joined;
  }

  #sendControl(opcode: number, data: string | Uint8Array, what: string): void {
    const payload = typeof data === "string" ? encoder.encode(data) : checkBytes(data);
    // §5.5: "All control frames MUST have a payload length of 125 bytes or less".
    if (payload.length > 125) {
      throw new RangeError(`Cannot send ${what}: payload of ${payload.length} bytes exceeds 125`);
    }
    if (this.#state !== ReadyState.Open) throw invalidState(`Cannot send ${what}: the connection is not open`);
    this.#writeFrame(opcode, payload, true, false);
  }

  #assertCanSendData(): void {
    // §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any more data frames."
    if (this.#state !== ReadyState.Open) throw invalidState("Cannot send: the connection is not open");
  }

  #writeFrame(opcode: number, payload: Uint8Array, fin: boolean, rsv1: boolean): void {
    // §5.3: "A client MUST mask all frames that it sends to the server"; a server MUST NOT mask.
    const chunks = encodeFrame(opcode, payload, { fin, rsv1, mask: this.#mask });
    this.#outgoing.push(chunks[0]);
    if (chunks.length > 1) this.#outgoing.push(chunks[1]);
  }
}

/**
 * Builds a close frame's payload: empty, or the 2-byte code and the UTF-8 reason.
 *
 * @param code A code valid on the wire, or `undefined` for none.
 * @param reason At most 123 bytes of UTF-8.
 * @returns The payload.
 */
export function encodeClosePayload(code: number | undefined, reason: string): Uint8Array {
  if (code === undefined) {
    if (reason !== "") throw new TypeError("Cannot close: a reason needs a status code");
    return EMPTY_PAYLOAD;
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new RangeError(`Cannot close: status code ${code} is not valid on the wire`);
  }
  const reasonBytes = encoder.encode(reason);
  // §5.5: control frame payloads are at most 125 bytes, 2 of them the code.
  if (reasonBytes.length > MAX_REASON_BYTES) {
    throw new SyntaxError(`Cannot close: reason of ${reasonBytes.length} bytes exceeds ${MAX_REASON_BYTES}`);
  }
  const payload = new Uint8Array(2 + reasonBytes.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reasonBytes, 2);
  return payload;
}

/**
 * Reads a close frame's payload.
 *
 * @param payload The payload, unmasked.
 * @returns The code (1005 when absent) and reason.
 * @throws {ProtocolError} 1002 for a 1-byte payload or a code not valid on the wire, 1007 for a reason
 * that is not UTF-8.
 */
export function decodeClosePayload(payload: Uint8Array): CloseInfo {
  if (payload.length === 0) return { code: CloseCode.NoStatusReceived, reason: "" };
  // §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned integer".
  if (payload.length === 1) throw new ProtocolError(CloseCode.ProtocolError, "Cannot decode close frame: payload of 1 byte");
  const code = (payload[0] << 8) | payload[1];
  // §7.4: codes outside the ranges defined for use on the wire are a protocol error.
  if (!isValidCloseCode(code)) {
    throw new ProtocolError(CloseCode.ProtocolError, `Cannot decode close frame: status code ${code} is not valid`);
  }
  let reason = "";
  if (payload.length > 2) {
    try {
      reason = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(payload.subarray(2));
    } catch {
      // §5.5.1: the reason's "data is not guaranteed to be human readable" but it is UTF-8; §8.1 applies.
      throw new ProtocolError(CloseCode.InvalidPayloadData, "Cannot decode close frame: reason is not valid UTF-8");
    }
  }
  return { code, reason };
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return text;
  // Cut at a code point boundary: back up over continuation bytes.
  let end = maxBytes;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

function checkBytes(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError("Cannot send: data is neither a string nor a Uint8Array");
  return data;
}

function invalidState(message: string): DOMException {
  return new DOMException(message, "InvalidStateError");
}
