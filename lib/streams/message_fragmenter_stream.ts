/**
 * A `TransformStream` from messages to data frames (RFC 6455 §5.4, §5.6), compressed by the negotiated
 * extensions (RFC 7692 §6) when given them.
 *
 * @module
 */

import type { Extension } from "../core/extension.ts";
import { EMPTY_PAYLOAD, type Frame } from "../core/frame.ts";
import { Opcode } from "../core/opcode.ts";
import { encodeText } from "../core/utf8.ts";
import { checkExtensions } from "./_extensions.ts";

/** Options for {@linkcode MessageFragmenterStream}. */
export interface MessageFragmenterStreamOptions {
  /**
   * Largest frame payload, in bytes: a positive integer, or `Infinity` for one frame per message. A longer
   * message is split into frames of exactly this size, the last one possibly shorter.
   * @default {Infinity}
   */
  fragmentSize?: number;
  /**
   * The negotiated extensions, as the handshake returns them (`negotiated` of `serverHandshake`'s or
   * `ClientHandshake.verify`'s result), in that order: each message goes through their `encode` whole,
   * before it is split. With permessage-deflate, a message is compressed (unless shorter than its
   * `threshold`, or written with `compress: false`) and RSV1 is set on its first frame only. Share the
   * same objects with the `MessageAssemblerStream` and `FrameDecoderStream` of the connection.
   * @default {[]}
   */
  extensions?: readonly Extension[];
}

/** A message with per-message choices, for {@linkcode MessageFragmenterStream}. */
export interface OutgoingMessage {
  /** The message: a `string` is sent as Text, a `Uint8Array` as Binary. */
  data: string | Uint8Array;
  /** `false` sends this message uncompressed, as `Connection.send`'s option does. @default {true} */
  compress?: boolean;
}

/**
 * Splits messages into data frames: a `string` becomes a Text message, encoded as UTF-8, a `Uint8Array`
 * a Binary one. The first frame carries the Text or Binary opcode and the rest are Continuation frames;
 * FIN is set on the last (§5.4). Text is split by bytes, so a code point may straddle two frames, which
 * §8.1 allows: the receiver validates the message as a whole. An empty message is one empty frame.
 *
 * RFC 7692 §6: with `extensions`, a message is compressed whole, then split; only its first frame carries
 * RSV1. Write an {@linkcode OutgoingMessage} to choose per message (`compress: false`).
 *
 * A binary message's frames are views into it (when it was not compressed), not copies: do not modify it
 * once written. A string with a lone surrogate is encoded with U+FFFD in its place, as `TextEncoder` does.
 * A message that is neither a `string`, a `Uint8Array` nor an `OutgoingMessage` errors the stream with a
 * `TypeError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageFragmenterStream, type MessageFragmenterStreamOptions } from "./message_fragmenter_stream.ts";
 * const options: MessageFragmenterStreamOptions = { fragmentSize: 2 };
 * const messages = ReadableStream.from(["Hello"]);
 * const frames = await Array.fromAsync(messages.pipeThrough(new MessageFragmenterStream(options)));
 * assert.deepEqual(frames.map((frame) => [frame.opcode, frame.fin]), [[0x1, false], [0x0, false], [0x0, true]]);
 * assert.deepEqual(frames.map((frame) => new TextDecoder().decode(frame.payload)), ["He", "ll", "o"]);
 * ```
 *
 * @example Compressed with permessage-deflate, as negotiated
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageFragmenterStream } from "./message_fragmenter_stream.ts";
 * import { PerMessageDeflate } from "../deflate/permessage_deflate.ts";
 * // What `serverHandshake(...).negotiated` holds for an offer of plain `permessage-deflate`.
 * const deflate = new PerMessageDeflate("server", {
 *   serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15,
 * }, { threshold: 0 });
 * const messages = ReadableStream.from(["Hello", { data: "Hello", compress: false }]);
 * const fragmenter = new MessageFragmenterStream({ fragmentSize: 4, extensions: [deflate] });
 * const frames = await Array.fromAsync(messages.pipeThrough(fragmenter));
 * // RFC 7692 §7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00, split 4 + 3, RSV1 on the first frame.
 * assert.deepEqual(frames.map((frame) => [frame.opcode, frame.fin, frame.rsv1]), [
 *   [0x1, false, true], [0x0, true, false], [0x1, false, false], [0x0, true, false],
 * ]);
 * assert.deepEqual([...frames[0].payload, ...frames[1].payload], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
 * deflate.release();
 * ```
 */
export class MessageFragmenterStream extends TransformStream<string | Uint8Array | OutgoingMessage, Frame> {
  readonly #fragmentSize: number;
  readonly #extensions: readonly Extension[];

  /**
   * Makes a stream that cuts messages into frames.
   *
   * @param options The fragment size and the negotiated extensions.
   * @throws {RangeError} For a `fragmentSize` that is neither a positive integer nor `Infinity`.
   * @throws {TypeError} For `extensions` that are not an array of extensions.
   */
  constructor(options: MessageFragmenterStreamOptions = {}) {
    const fragmentSize = options.fragmentSize ?? Infinity;
    if (!(fragmentSize >= 1) || (fragmentSize !== Infinity && !Number.isInteger(fragmentSize))) {
      throw new RangeError(
        `Cannot create message fragmenter: fragmentSize ${fragmentSize} is not a positive integer`,
      );
    }
    const extensions = checkExtensions("message fragmenter", options.extensions);
    super({ transform: (message, controller) => this.#transform(message, controller) });
    this.#fragmentSize = fragmentSize;
    this.#extensions = extensions;
  }

  #transform(message: string | Uint8Array | OutgoingMessage, controller: TransformStreamDefaultController<Frame>): void {
    let compress: boolean | undefined;
    if (typeof message === "object" && message !== null && !(message instanceof Uint8Array)) {
      compress = message.compress;
      if (compress !== undefined && typeof compress !== "boolean") {
        throw new TypeError(`Cannot fragment message: compress ${String(compress)} is not a boolean`);
      }
      message = message.data;
    }
    let opcode: number;
    let payload: Uint8Array;
    if (typeof message === "string") {
      opcode = Opcode.Text;
      payload = message.length === 0 ? EMPTY_PAYLOAD : encodeText(message);
    } else if (message instanceof Uint8Array) {
      opcode = Opcode.Binary;
      payload = message;
    } else {
      throw new TypeError("Cannot fragment message: message is neither a string nor a Uint8Array");
    }
    let first: Frame = { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, payload };
    const extensions = this.#extensions;
    if (extensions.length > 0) {
      // RFC 7692 §6: "An endpoint uses the following algorithm to compress a message" and then "MAY split
      // the compressed data into fragments": the whole message goes through the extensions, then is split.
      const options = compress === undefined ? undefined : { compress };
      for (let i = 0; i < extensions.length; i++) first = extensions[i].encode(first, options);
      payload = first.payload;
    }
    const fragmentSize = this.#fragmentSize;
    const length = payload.length;
    if (length <= fragmentSize) {
      controller.enqueue(first);
      return;
    }
    // §5.4: "a single fragmented message consists of a single frame with the FIN bit clear and an opcode
    // other than 0, followed by zero or more frames with the FIN bit clear and the opcode set to 0, and
    // terminated by a single frame with the FIN bit set and an opcode of 0".
    for (let start = 0; start < length; start += fragmentSize) {
      const end = Math.min(start + fragmentSize, length);
      // RFC 7692 §6.1: the "Per-Message Compressed" bit is set on "the first frame of the message" only.
      const isFirst = start === 0;
      controller.enqueue({
        fin: end === length,
        rsv1: isFirst && first.rsv1,
        rsv2: isFirst && first.rsv2,
        rsv3: isFirst && first.rsv3,
        opcode: isFirst ? opcode : Opcode.Continuation,
        payload: payload.subarray(start, end),
      });
    }
  }
}
