/**
 * A `TransformStream` from the bytes a peer sends to frames (RFC 6455 §5.2), over {@linkcode FrameParser}.
 *
 * @module
 */

import { CloseCode } from "../core/close_code.ts";
import type { Extension } from "../core/extension.ts";
import type { Frame } from "../core/frame.ts";
import { DEFAULT_MAX_MESSAGE_SIZE, FrameParser, type FrameParserOptions } from "../core/frame_parser.ts";
import { ProtocolError } from "../core/protocol_error.ts";
import { checkExtensions, rsvBitsOf } from "./_extensions.ts";

/** Options for {@linkcode FrameDecoderStream}. */
export interface FrameDecoderStreamOptions {
  /** Which end reads: a server requires masked frames, a client unmasked ones (§5.1). */
  role: "server" | "client";
  /**
   * Largest payload accepted in one frame, in bytes, from 0 to `Number.MAX_SAFE_INTEGER`; a longer frame
   * fails with 1009 as soon as its header is read, before any of its payload is buffered.
   * @default {16777216}
   */
  maxPayloadSize?: number;
  /**
   * RSV bits that a negotiated extension defines, as they sit in the first header byte (RSV1 = 0x40,
   * RSV2 = 0x20, RSV3 = 0x10); any other RSV bit set fails with 1002.
   * @default {0}
   */
  allowedRsv?: number;
  /**
   * The negotiated extensions, as the handshake returns them (`negotiated`): the RSV bits they define are
   * allowed (added to `allowedRsv`), and, as a compressed payload may be a little longer than what it
   * inflates to, a frame may exceed `maxPayloadSize` by DEFLATE's overhead (an eighth, plus 256 bytes);
   * the exact limit is `MessageAssemblerStream`'s `maxMessageSize`, enforced while inflating. This stream
   * only reads the extensions' `rsvBits`.
   * @default {[]}
   */
  extensions?: readonly Extension[];
}

/**
 * Decodes frames from bytes read from the peer, split at any boundary.
 *
 * The chunks written become owned by the stream: a masked payload is unmasked in place, and a payload that
 * arrived in one chunk is a view into that chunk, not a copy. Do not reuse or modify a chunk once written;
 * write a copy if the bytes are needed afterwards.
 *
 * A violation by the peer errors the stream with a {@linkcode ProtocolError} whose `code` is the close code
 * to fail the connection with: 1002, or 1009 for a payload over `maxPayloadSize`. Input that ends inside a
 * frame errors it with a `ProtocolError` with code 1006 (Abnormal Closure, never sent on the wire). This
 * stream checks framing only; fragment order, UTF-8 and message size are for `MessageAssemblerStream`.
 *
 * With `extensions` (the handshake's `negotiated`), the RSV bits they define pass through to
 * `MessageAssemblerStream`, which hands the frames to the same extensions to decode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameDecoderStream, type FrameDecoderStreamOptions } from "./frame_decoder_stream.ts";
 * // An unmasked text frame "Hello" from a server (RFC 6455 §5.7), arriving in two pieces.
 * const bytes = ReadableStream.from([
 *   new Uint8Array([0x81, 0x05, 0x48, 0x65]),
 *   new Uint8Array([0x6c, 0x6c, 0x6f]),
 * ]);
 * const options: FrameDecoderStreamOptions = { role: "client" };
 * const [frame] = await Array.fromAsync(bytes.pipeThrough(new FrameDecoderStream(options)));
 * assert.equal(frame.opcode, 0x1);
 * assert.equal(frame.fin, true);
 * assert.equal(new TextDecoder().decode(frame.payload), "Hello");
 * ```
 */
export class FrameDecoderStream extends TransformStream<Uint8Array, Frame> {
  readonly #parser: FrameParser;

  /**
   * Makes a stream that parses bytes into frames.
   *
   * @param options The role, the payload limit and the RSV bits extensions define.
   * @throws {TypeError} For a role other than `"server"` or `"client"`, or `extensions` that are not an
   * array of extensions.
   * @throws {RangeError} For a `maxPayloadSize` or `allowedRsv` out of range.
   */
  constructor(options: FrameDecoderStreamOptions) {
    const parser = new FrameParser(checkOptions(options));
    super({
      transform: (chunk, controller) => this.#transform(chunk, controller),
      flush: () => this.#flush(),
    });
    this.#parser = parser;
  }

  #transform(chunk: Uint8Array, controller: TransformStreamDefaultController<Frame>): void {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError("Cannot decode frames: chunk is not a Uint8Array");
    }
    const parser = this.#parser;
    parser.push(chunk);
    for (let frame = parser.next(); frame !== undefined; frame = parser.next()) controller.enqueue(frame);
  }

  #flush(): void {
    const parser = this.#parser;
    // A frame whose header has been read is partial even before any of its payload arrives.
    if (parser.partial !== undefined || parser.bufferedAmount > 0) {
      throw new ProtocolError(CloseCode.AbnormalClosure, "Cannot decode frame: input ended inside a frame");
    }
  }
}

function checkOptions(options: FrameDecoderStreamOptions): FrameParserOptions {
  const role = options.role;
  if (role !== "server" && role !== "client") {
    throw new TypeError(
      `Cannot create frame decoder: role ${JSON.stringify(role)} is neither "server" nor "client"`,
    );
  }
  const maxPayloadSize = options.maxPayloadSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  // NaN or a length past 2^53 - 1 would silently disable the limit in the parser.
  if (!(maxPayloadSize >= 0 && maxPayloadSize <= Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`Cannot create frame decoder: maxPayloadSize ${maxPayloadSize} is out of range`);
  }
  const allowedRsv = options.allowedRsv ?? 0;
  if (!Number.isInteger(allowedRsv) || allowedRsv < 0 || (allowedRsv & ~0x70) !== 0) {
    throw new RangeError(
      `Cannot create frame decoder: allowedRsv ${allowedRsv} has bits other than RSV1-RSV3 (0x70)`,
    );
  }
  const extensions = checkExtensions("frame decoder", options.extensions);
  if (extensions.length === 0) return { role, maxPayloadSize, allowedRsv };
  // The same allowance as the connection's (Protocol): DEFLATE's stored blocks add 5 bytes per 64 KiB.
  const slack = Math.min(maxPayloadSize + Math.floor(maxPayloadSize / 8) + 256, Number.MAX_SAFE_INTEGER);
  return { role, maxPayloadSize: slack, allowedRsv: allowedRsv | rsvBitsOf(extensions) };
}
