/**
 * A `TransformStream` from messages to data frames (RFC 6455 §5.4, §5.6).
 *
 * @module
 */

import { EMPTY_PAYLOAD, type Frame } from "../core/frame.ts";
import { Opcode } from "../core/opcode.ts";
import { encodeText } from "../core/utf8.ts";

/** Options for {@linkcode MessageFragmenterStream}. */
export interface MessageFragmenterStreamOptions {
  /**
   * Largest frame payload, in bytes: a positive integer, or `Infinity` for one frame per message. A longer
   * message is split into frames of exactly this size, the last one possibly shorter.
   * @default {Infinity}
   */
  fragmentSize?: number;
}


/**
 * Splits messages into data frames: a `string` becomes a Text message, encoded as UTF-8, a `Uint8Array`
 * a Binary one. The first frame carries the Text or Binary opcode and the rest are Continuation frames;
 * FIN is set on the last (§5.4). Text is split by bytes, so a code point may straddle two frames, which
 * §8.1 allows: the receiver validates the message as a whole. An empty message is one empty frame.
 *
 * A binary message's frames are views into it, not copies: do not modify it once written. A string with
 * a lone surrogate is encoded with U+FFFD in its place, as `TextEncoder` does. A message that is neither a
 * `string` nor a `Uint8Array` errors the stream with a `TypeError`.
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
 */
export class MessageFragmenterStream extends TransformStream<string | Uint8Array, Frame> {
  readonly #fragmentSize: number;

  /**
   * @param options The fragment size.
   * @throws {RangeError} For a `fragmentSize` that is neither a positive integer nor `Infinity`.
   */
  constructor(options: MessageFragmenterStreamOptions = {}) {
    const fragmentSize = options.fragmentSize ?? Infinity;
    if (!(fragmentSize >= 1) || (fragmentSize !== Infinity && !Number.isInteger(fragmentSize))) {
      throw new RangeError(
        `Cannot create message fragmenter: fragmentSize ${fragmentSize} is not a positive integer`,
      );
    }
    super({ transform: (message, controller) => this.#transform(message, controller) });
    this.#fragmentSize = fragmentSize;
  }

  #transform(message: string | Uint8Array, controller: TransformStreamDefaultController<Frame>): void {
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
    const fragmentSize = this.#fragmentSize;
    const length = payload.length;
    if (length <= fragmentSize) {
      controller.enqueue({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, payload });
      return;
    }
    // §5.4: "a single fragmented message consists of a single frame with the FIN bit clear and an opcode
    // other than 0, followed by zero or more frames with the FIN bit clear and the opcode set to 0, and
    // terminated by a single frame with the FIN bit set and an opcode of 0".
    for (let start = 0; start < length; start += fragmentSize) {
      const end = Math.min(start + fragmentSize, length);
      controller.enqueue({
        fin: end === length,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: start === 0 ? opcode : Opcode.Continuation,
        payload: payload.subarray(start, end),
      });
    }
  }
}
