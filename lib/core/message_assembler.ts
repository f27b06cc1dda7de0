/**
 * Message reassembly (RFC 6455 §5.4, §5.6, §8.1): data frames in, whole messages out.
 *
 * @module
 */

import { CloseCode } from "./close_code.ts";
import type { Frame } from "./frame.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "./frame_parser.ts";
import { Opcode } from "./opcode.ts";
import { ProtocolError } from "./protocol_error.ts";
import { ASCII_CHECK_MIN, decodeAscii, isAscii, surelyUtf8 } from "./utf8.ts";

const EMPTY = new Uint8Array(0);

/** Options for {@linkcode MessageAssembler}. */
export interface MessageAssemblerOptions {
  /**
   * Largest message, the sum of its fragments, in bytes; more fails with 1009.
   * @default {16777216}
   */
  maxMessageSize?: number;
  /**
   * Text messages are handed out as their UTF-8 bytes (validated all the same) instead of strings: for an
   * application that passes text on without reading it (relays, echo, broadcast), no decode and re-encode.
   * @default {false}
   */
  textAsBytes?: boolean;
}

/**
 * Joins data frames into messages. Text is decoded, and so validated as UTF-8, as each fragment arrives:
 * an invalid sequence fails with 1007 as soon as the bytes that prove it are pushed, and a code point split
 * across fragments is valid (§8.1). Control frames are not for this class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageAssembler } from "./message_assembler.ts";
 * const assembler = new MessageAssembler();
 * const bytes = new TextEncoder().encode("Hel");
 * const first = { fin: false, rsv1: false, rsv2: false, rsv3: false, opcode: 0x1, payload: bytes };
 * assert(assembler.push(first) === undefined);
 * const rest = { ...first, fin: true, opcode: 0x0, payload: new TextEncoder().encode("lo") };
 * assert(assembler.push(rest) === "Hello");
 * ```
 */
export class MessageAssembler {
  /** Largest message in bytes. */
  readonly maxMessageSize: number;
  readonly #textAsBytes: boolean;
  #opcode = -1; // Text or Binary while a message is in progress, else -1
  #frameOpen = false; // pushPartial has started the current frame
  #decodedOfFrame = 0; // bytes of the current frame already decoded by pushPartial
  #size = 0; // bytes of the message in completed frames
  #texts: string[] = [];
  // Binary fragments are copied into one buffer that doubles as needed: a message of a million one-byte
  // fragments costs its size, not a million views each pinning a socket chunk.
  #binary: Uint8Array = EMPTY;
  #binaryLength = 0;
  #decoder: TextDecoder | undefined;
  #decoderHolds = false; // the fatal decoder was fed in streaming mode: it may hold part of a character

  /**
   * Makes an assembler for the messages of one connection.
   *
   * @param options The message size limit.
   */
  constructor(options: MessageAssemblerOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.#textAsBytes = options.textAsBytes ?? false;
  }

  /** Whether a message has started and not ended. */
  get inProgress(): boolean {
    return this.#opcode !== -1;
  }

  /** Bytes the message in progress may still grow by (the whole limit between messages). */
  get remaining(): number {
    return this.maxMessageSize - this.#size;
  }

  /**
   * Checks the start of a data frame's payload before the frame is complete, so that invalid UTF-8 fails
   * the connection as soon as it arrives. Pass the bytes not passed before, in order; then pass the whole
   * frame to {@linkcode MessageAssembler.push} when it completes.
   *
   * @param opcode The partial frame's opcode.
   * @param bytes Newly arrived payload bytes of that frame.
   * @throws {ProtocolError} 1002 for a frame out of sequence, 1007 for invalid UTF-8.
   */
  pushPartial(opcode: number, bytes: Uint8Array): void {
    if (!this.#frameOpen) {
      this.#opcode = this.#begin(opcode);
      this.#frameOpen = true;
    }
    if (this.#opcode !== Opcode.Text || bytes.length === 0) return;
    if (this.#textAsBytes) this.#validate(bytes, true);
    else this.#pushText(this.#decode(bytes, true));
    this.#decodedOfFrame += bytes.length;
  }

  /**
   * Whether a text frame is being passed by {@linkcode MessageAssembler.pushPartial} and decoded (its bytes
   * are not needed again; with `textAsBytes` they are, and this is `false`).
   */
  get decodingPartial(): boolean {
    return this.#frameOpen && this.#opcode === Opcode.Text && !this.#textAsBytes;
  }

  /**
   * Adds a complete data frame (Text, Binary or Continuation).
   *
   * @param frame The frame, payload unmasked (and decompressed, where an extension compressed it).
   * @param tailOnly The frame's payload is only what was not passed to `pushPartial` before (the parser
   * released the rest: {@linkcode FrameParser.releaseParts}).
   * @returns The message when this frame ends it: a `string` for text (its UTF-8 bytes with `textAsBytes`),
   * a `Uint8Array` for binary.
   * @throws {ProtocolError} 1002 for a frame out of sequence, 1007 for invalid UTF-8, 1009 for a message
   * over the limit.
   */
  push(frame: Frame, tailOnly = false): string | Uint8Array | undefined {
    const opcode = frame.opcode;
    const payload = frame.payload;
    if (frame.fin && this.#opcode === -1 && opcode !== Opcode.Continuation) {
      // An unfragmented message that arrived whole: the common case, no bookkeeping.
      this.#checkSize(payload.length);
      if (opcode === Opcode.Binary) return payload;
      if (!this.#textAsBytes) return this.#decode(payload, false);
      this.#validate(payload, false);
      return payload;
    }
    const kind = this.#frameOpen ? this.#opcode : this.#begin(opcode);
    this.#opcode = kind;
    this.#frameOpen = false;
    const size = this.#size + (tailOnly ? this.#decodedOfFrame : 0) + payload.length;
    this.#checkSize(size);
    this.#size = size;
    if (kind === Opcode.Text && this.#textAsBytes) {
      // Validated as it arrived (pushPartial) up to #decodedOfFrame; the bytes are kept like binary ones.
      this.#validate(this.#decodedOfFrame === 0 ? payload : payload.subarray(this.#decodedOfFrame), !frame.fin);
      this.#decodedOfFrame = 0;
    } else if (kind === Opcode.Text) {
      const rest = tailOnly || this.#decodedOfFrame === 0 ? payload : payload.subarray(this.#decodedOfFrame);
      this.#decodedOfFrame = 0;
      this.#pushText(this.#decode(rest, !frame.fin));
      if (!frame.fin) return undefined;
      const text = this.#texts.length === 1 ? this.#texts[0] : this.#texts.join("");
      this.#reset();
      return text;
    }
    if (frame.fin && this.#binaryLength === 0) {
      // A message whose earlier fragments were all empty: this payload is the message, no copy.
      this.#reset();
      return payload;
    }
    this.#appendBinary(payload);
    if (!frame.fin) return undefined;
    const buffer = this.#binary, length = this.#binaryLength;
    this.#reset();
    // Hand out exactly the message: a view when the buffer is nearly full, else a copy (no hidden slack).
    return buffer.length - length <= length >>> 3 ? buffer.subarray(0, length) : buffer.slice(0, length);
  }

  #appendBinary(payload: Uint8Array): void {
    const needed = this.#binaryLength + payload.length;
    if (needed > this.#binary.length) {
      const grown = new Uint8Array(Math.min(Math.max(needed, this.#binary.length * 2, 1024), Math.max(needed, this.maxMessageSize)));
      grown.set(this.#binary.subarray(0, this.#binaryLength));
      this.#binary = grown;
    }
    this.#binary.set(payload, this.#binaryLength);
    this.#binaryLength = needed;
  }

  #pushText(piece: string): void {
    const texts = this.#texts;
    texts.push(piece);
    // Thousands of tiny fragments would mean thousands of strings held: fold them as they come.
    if (texts.length >= 1024) this.#texts = [texts.join("")];
  }

  /** Returns the kind (Text or Binary) of the message a data frame with this opcode belongs to. */
  #begin(opcode: number): number {
    if (opcode === Opcode.Continuation) {
      // §5.4: a fragmented message is a first frame with its opcode "followed by zero or more frames with
      // FIN clear and the opcode set to 0": a continuation with nothing to continue breaks that.
      if (this.#opcode === -1) {
        throw new ProtocolError(CloseCode.ProtocolError, "Cannot assemble message: continuation frame without a message to continue");
      }
      return this.#opcode;
    }
    // §5.4: "the fragments of one message MUST NOT be interleaved between the fragments of another message".
    if (this.#opcode !== -1) {
      throw new ProtocolError(CloseCode.ProtocolError, "Cannot assemble message: new data frame while a fragmented message is in progress");
    }
    return opcode;
  }

  #checkSize(size: number): void {
    if (size > this.maxMessageSize) {
      throw new ProtocolError(
        CloseCode.MessageTooBig,
        `Cannot assemble message: more than the limit of ${this.maxMessageSize} bytes`,
      );
    }
  }

  /** Checks UTF-8 as {@linkcode MessageAssembler.#decode} does, without making a string where it can. */
  #validate(bytes: Uint8Array, stream: boolean): void {
    // Complete, valid UTF-8 leaves the decoder holding nothing: it need not see these bytes.
    if (!this.#decoderHolds && surelyUtf8(bytes)) return;
    this.#decode(bytes, stream);
  }

  #decode(bytes: Uint8Array, stream: boolean): string {
    // §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not,
    // in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_."
    // ASCII cannot be invalid, nor end inside a character: when the decoder holds nothing, it needs no check.
    if (!this.#decoderHolds && bytes.length >= ASCII_CHECK_MIN && isAscii(bytes)) return decodeAscii(bytes);
    const decoder = this.#decoder ??= new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    try {
      this.#decoderHolds = stream;
      return decoder.decode(bytes, { stream });
    } catch {
      throw new ProtocolError(CloseCode.InvalidPayloadData, "Cannot decode message: invalid UTF-8 in text");
    }
  }

  #reset(): void {
    this.#opcode = -1;
    this.#size = 0;
    this.#texts = [];
    this.#binary = EMPTY;
    this.#binaryLength = 0;
  }
}
