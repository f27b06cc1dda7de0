/**
 * The incremental frame reader of RFC 6455 §5.2: bytes in at any chunk boundary, frames out.
 *
 * @module
 */

import { CloseCode } from "./close_code.ts";
import { EMPTY_PAYLOAD, type Frame } from "./frame.ts";
import { applyMask } from "./mask.ts";
import { isControlOpcode, isKnownOpcode } from "./opcode.ts";
import { ProtocolError } from "./protocol_error.ts";

/** Default largest message, and so largest frame payload: 16 MiB (Bun's default too). */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** Options for {@linkcode FrameParser}. */
export interface FrameParserOptions {
  /**
   * Which end reads: a server requires masked frames, a client unmasked ones (§5.1).
   */
  role: "server" | "client";
  /**
   * Largest payload accepted in one frame, in bytes; a larger length fails with 1009 as soon as the header
   * is read, before any payload is buffered. Can be changed between frames.
   * @default {16777216}
   */
  maxPayloadSize?: number;
  /**
   * RSV bits that a negotiated extension defines, as they sit in the first header byte (RSV1 = 0x40,
   * RSV2 = 0x20, RSV3 = 0x10); any other RSV bit set fails with 1002.
   * @default {0}
   */
  allowedRsv?: number;
}

/** What is known of a frame whose payload has only partly arrived. */
export interface PartialFrame {
  /** The frame's opcode. */
  readonly opcode: number;
  /** The frame's FIN bit. */
  readonly fin: boolean;
  /** The frame's RSV1 bit. */
  readonly rsv1: boolean;
  /** The frame's declared payload length. */
  readonly length: number;
  /** The unmasked payload pieces received so far, in order. */
  readonly parts: readonly Uint8Array[];
}

const enum Step {
  Header,
  Payload,
}

/**
 * Reads frames from bytes pushed in pieces of any size. Payloads that arrive in one piece are returned as
 * views into the pushed chunk without copying; a payload spread over several chunks is copied once.
 * Unmasking happens in place: the parser owns the chunks pushed to it.
 *
 * Violations throw a {@linkcode ProtocolError} carrying the close code; after one, the parser must not be
 * used again (§7.1.7: the endpoint "MUST NOT continue to attempt to process data").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameParser } from "./frame_parser.ts";
 * const parser = new FrameParser({ role: "client" });
 * parser.push(new Uint8Array([0x81, 0x05, 0x48, 0x65]));
 * assert(parser.next() === undefined);
 * parser.push(new Uint8Array([0x6c, 0x6c, 0x6f]));
 * assert(new TextDecoder().decode(parser.next()!.payload) === "Hello");
 * ```
 */
export class FrameParser {
  /** Largest payload accepted in one frame; may be lowered or raised between frames. */
  maxPayloadSize: number;
  #expectMasked: boolean;
  #allowedRsv: number;

  #chunks: Uint8Array[] = [];
  #offset = 0; // read position in #chunks[0]
  #buffered = 0; // unread bytes across #chunks
  #scratch = new Uint8Array(14);

  #step = Step.Header;
  #fin = false;
  #rsv = 0;
  #opcode = 0;
  #length = 0;
  readonly #maskKeyBytes = new Uint8Array(4);
  #masked = false;
  #parts: Uint8Array[] = [];
  #releasedBytes = 0; // bytes of the current payload's parts given up by releaseParts()
  #received = 0;

  /**
   * Makes a parser for one direction of one connection.
   *
   * @param options The role, the payload limit and the RSV bits extensions define.
   */
  constructor(options: FrameParserOptions) {
    this.#expectMasked = options.role === "server";
    this.maxPayloadSize = options.maxPayloadSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!(this.maxPayloadSize >= 0)) {
      throw new RangeError(`Cannot create frame parser: maxPayloadSize ${options.maxPayloadSize} is not a size`);
    }
    this.#allowedRsv = (options.allowedRsv ?? 0) & 0x70;
  }

  /** RSV bits a negotiated extension defines (RSV1 = 0x40, RSV2 = 0x20, RSV3 = 0x10). */
  set allowedRsv(bits: number) {
    this.#allowedRsv = bits & 0x70;
  }

  /** Bytes pushed and not yet returned in a frame (the header and payload received so far included). */
  get bufferedAmount(): number {
    return this.#buffered + this.#received;
  }

  /**
   * Adds bytes read from the peer. The parser keeps, and unmasks in place, the chunk.
   *
   * @param chunk The next bytes, of any length.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * The frame whose payload is arriving, if its header has been read and the payload is incomplete. It lets
   * a caller check a text payload's UTF-8 before the frame ends (fail fast).
   *
   * @returns The partial frame, or `undefined` between frames.
   */
  get partial(): PartialFrame | undefined {
    if (this.#step !== Step.Payload) return undefined;
    return {
      opcode: this.#opcode,
      fin: this.#fin,
      rsv1: (this.#rsv & 0x40) !== 0,
      length: this.#length,
      parts: this.#parts,
    };
  }

  /**
   * Gives up the partial frame's parts so far: the caller has consumed them (decoded text), and the frame
   * that {@linkcode FrameParser.next} returns will carry only the payload bytes after them (shorter than
   * its declared length by what was released). Spares copying a large text payload that was decoded as it
   * arrived.
   *
   * @param count How many of `partial.parts`, from the first.
   */
  releaseParts(count: number): void {
    for (let i = 0; i < count; i++) this.#releasedBytes += this.#parts[i].length;
    this.#parts = this.#parts.slice(count);
  }

  /**
   * Reads the next complete frame, if the bytes for it have arrived.
   *
   * @returns The frame, or `undefined` when more bytes are needed.
   * @throws {ProtocolError} On a violation, with its close code.
   */
  next(): Frame | undefined {
    if (this.#step === Step.Header && !this.#readHeader()) return undefined;
    return this.#readPayload();
  }

  #readHeader(): boolean {
    if (this.#buffered < 2) return false;
    const head = this.#peek(2);
    const b0 = head[0], b1 = head[1];
    const opcode = b0 & 0x0f;
    const rsv = b0 & 0x70;
    const masked = (b1 & 0x80) !== 0;
    const length7 = b1 & 0x7f;
    // §5.2: "If a nonzero value is received and none of the negotiated extensions defines the meaning of
    // such a nonzero value, the receiving endpoint MUST _Fail the WebSocket Connection_."
    // Extensions define RSV bits for data frames only: on a control frame any RSV bit fails.
    const control = isControlOpcode(opcode);
    const unexpected = rsv & ~(control ? 0 : this.#allowedRsv);
    if (unexpected !== 0) {
      const bit = (unexpected & 0x40) !== 0 ? 1 : (unexpected & 0x20) !== 0 ? 2 : 3;
      const what = control ? " on a control frame" : "";
      throw new ProtocolError(CloseCode.ProtocolError, `Cannot decode frame: RSV${bit} is set${what}`);
    }
    // §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_."
    if (!isKnownOpcode(opcode)) {
      throw new ProtocolError(CloseCode.ProtocolError, `Cannot decode frame: opcode 0x${opcode.toString(16)} is reserved`);
    }
    if (control) {
      // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."
      if ((b0 & 0x80) === 0) {
        throw new ProtocolError(CloseCode.ProtocolError, "Cannot decode frame: control frame is fragmented");
      }
      if (length7 > 125) {
        throw new ProtocolError(CloseCode.ProtocolError, "Cannot decode frame: control frame payload exceeds 125 bytes");
      }
    }
    // §5.1: "The server MUST close the connection upon receiving a frame that is not masked" and "A client
    // MUST close a connection if it detects a masked frame."
    if (masked !== this.#expectMasked) {
      throw new ProtocolError(
        CloseCode.ProtocolError,
        masked ? "Cannot decode frame: frame from the server is masked" : "Cannot decode frame: frame from the client is not masked",
      );
    }
    const lengthBytes = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
    const headerSize = 2 + lengthBytes + (masked ? 4 : 0);
    if (this.#buffered < headerSize) return false;
    const header = this.#peek(headerSize);
    let length = length7;
    if (lengthBytes === 2) {
      length = (header[2] << 8) | header[3];
    } else if (lengthBytes === 8) {
      // §5.2: "the most significant bit MUST be 0".
      if ((header[2] & 0x80) !== 0) {
        throw new ProtocolError(CloseCode.ProtocolError, "Cannot decode frame: 64-bit payload length has its top bit set");
      }
      const high = ((header[2] << 24) | (header[3] << 16) | (header[4] << 8) | header[5]) >>> 0;
      const low = ((header[6] << 24) | (header[7] << 16) | (header[8] << 8) | header[9]) >>> 0;
      length = high * 0x1_0000_0000 + low;
    }
    // Control frames are bounded at 125 bytes above; the limit is for data. A length over 2^53 - 1 is not
    // exact as a number (2^53 + 1 reads as 2^53), so no limit lets it through: legal on the wire, so 1009.
    const limit = Math.min(this.maxPayloadSize, Number.MAX_SAFE_INTEGER);
    if (!control && length > limit) {
      throw new ProtocolError(
        CloseCode.MessageTooBig,
        `Cannot decode frame: payload of ${length} bytes exceeds the limit of ${limit}`,
      );
    }
    // One key buffer per parser, refilled per frame: a per-frame copy costs ~0.75 us on Deno, where every
    // Uint8Array allocation goes through malloc. The next header is read only after this payload is done.
    if (masked) {
      const key = this.#maskKeyBytes;
      key[0] = header[headerSize - 4];
      key[1] = header[headerSize - 3];
      key[2] = header[headerSize - 2];
      key[3] = header[headerSize - 1];
    }
    this.#masked = masked;
    this.#skip(headerSize);
    this.#fin = (b0 & 0x80) !== 0;
    this.#rsv = rsv;
    this.#opcode = opcode;
    this.#length = length;
    this.#received = 0;
    this.#step = Step.Payload;
    return true;
  }

  #readPayload(): Frame | undefined {
    const length = this.#length;
    let payload: Uint8Array;
    if (length === 0) {
      payload = EMPTY_PAYLOAD;
    } else if (this.#received === 0 && this.#chunks.length > 0 && this.#chunks[0].length - this.#offset >= length) {
      // The whole payload sits in one chunk: a view, no copy.
      const first = this.#chunks[0];
      payload = first.subarray(this.#offset, this.#offset + length);
      this.#skip(length);
      if (this.#masked) applyMask(payload, this.#maskKeyBytes, 0);
    } else {
      while (this.#received < length && this.#buffered > 0) {
        const first = this.#chunks[0];
        const take = Math.min(first.length - this.#offset, length - this.#received);
        const part = first.subarray(this.#offset, this.#offset + take);
        this.#skip(take);
        if (this.#masked) applyMask(part, this.#maskKeyBytes, this.#received);
        this.#parts.push(part);
        this.#received += take;
      }
      if (this.#received < length) return undefined;
      payload = concat(this.#parts, length - this.#releasedBytes);
      this.#parts = [];
      this.#releasedBytes = 0;
    }
    this.#step = Step.Header;
    this.#received = 0;
    const rsv = this.#rsv;
    return {
      fin: this.#fin,
      rsv1: (rsv & 0x40) !== 0,
      rsv2: (rsv & 0x20) !== 0,
      rsv3: (rsv & 0x10) !== 0,
      opcode: this.#opcode,
      payload,
    };
  }

  /** The next `n` unread bytes (n <= 14), as a view when contiguous, else gathered into scratch. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length - this.#offset >= n) return first.subarray(this.#offset, this.#offset + n);
    const out = this.#scratch;
    let filled = 0, index = 0, offset = this.#offset;
    while (filled < n) {
      const chunk = this.#chunks[index];
      const take = Math.min(chunk.length - offset, n - filled);
      out.set(chunk.subarray(offset, offset + take), filled);
      filled += take;
      index++;
      offset = 0;
    }
    return out.subarray(0, n);
  }

  #skip(n: number): void {
    this.#buffered -= n;
    while (n > 0) {
      const first = this.#chunks[0];
      const left = first.length - this.#offset;
      if (n < left) {
        this.#offset += n;
        return;
      }
      n -= left;
      this.#chunks.shift();
      this.#offset = 0;
    }
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
