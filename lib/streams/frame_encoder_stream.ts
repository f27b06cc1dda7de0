/**
 * A `TransformStream` from frames to the bytes sent to the peer (RFC 6455 §5.2), over
 * {@linkcode encodeFrame}.
 *
 * @module
 */

import { encodeFrame } from "../core/encode_frame.ts";
import type { Frame } from "../core/frame.ts";
import { isControlOpcode } from "../core/opcode.ts";

/** Options for {@linkcode FrameEncoderStream}. */
export interface FrameEncoderStreamOptions {
  /**
   * Mask every frame with a fresh random key. §5.3: "A client MUST mask all frames that it sends to the
   * server"; §5.1: "A server MUST NOT mask any frames that it sends to the client". Set it on a client.
   * @default {false}
   */
  mask?: boolean;
}

/**
 * Encodes frames into bytes, in the minimal length form, masked when `mask` is set.
 *
 * Each frame becomes one chunk, or, for an unmasked payload over 16 KiB, two: the header and the frame's
 * own payload, passed through without a copy (so do not modify a payload once written). A masked frame is
 * always one new chunk, and the frame's payload is left untouched.
 *
 * A frame that cannot be written as given errors the stream: a `TypeError` for a payload that is not a
 * `Uint8Array`, a `RangeError` for an opcode outside 0x0-0xF, a control frame that is fragmented or carries
 * more than 125 bytes (§5.5), or RSV2 or RSV3 set (no extension defines them, and only RSV1 is written).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameEncoderStream, type FrameEncoderStreamOptions } from "./frame_encoder_stream.ts";
 * const payload = new TextEncoder().encode("Hello");
 * const frames = ReadableStream.from([{ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x1, payload }]);
 * const options: FrameEncoderStreamOptions = { mask: false };
 * const [bytes] = await Array.fromAsync(frames.pipeThrough(new FrameEncoderStream(options)));
 * // RFC 6455 §5.7: a single-frame unmasked text message.
 * assert.deepEqual(bytes, new Uint8Array([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
 * ```
 */
export class FrameEncoderStream extends TransformStream<Frame, Uint8Array> {
  readonly #mask: boolean;

  /**
   * Makes a stream that encodes frames into bytes.
   *
   * @param options Whether to mask.
   * @throws {TypeError} For a `mask` that is not a boolean.
   */
  constructor(options: FrameEncoderStreamOptions = {}) {
    const mask = options.mask ?? false;
    if (typeof mask !== "boolean") {
      throw new TypeError(`Cannot create frame encoder: mask ${String(mask)} is not a boolean`);
    }
    super({ transform: (frame, controller) => this.#transform(frame, controller) });
    this.#mask = mask;
  }

  #transform(frame: Frame, controller: TransformStreamDefaultController<Uint8Array>): void {
    const opcode = frame.opcode;
    const payload = frame.payload;
    if (!(payload instanceof Uint8Array)) {
      throw new TypeError("Cannot encode frame: payload is not a Uint8Array");
    }
    if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xf) {
      throw new RangeError(`Cannot encode frame: opcode ${opcode} is not in 0x0-0xF`);
    }
    if (frame.rsv2 || frame.rsv3) {
      throw new RangeError(
        `Cannot encode frame: RSV${frame.rsv2 ? 2 : 3} is set and only RSV1 can be written`,
      );
    }
    if (isControlOpcode(opcode)) {
      // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be fragmented."
      if (!frame.fin) throw new RangeError("Cannot encode frame: control frame is fragmented");
      if (payload.length > 125) {
        throw new RangeError(
          `Cannot encode frame: control frame payload of ${payload.length} bytes exceeds 125`,
        );
      }
    }
    const chunks = encodeFrame(opcode, payload, { fin: frame.fin, rsv1: frame.rsv1, mask: this.#mask });
    for (let i = 0; i < chunks.length; i++) controller.enqueue(chunks[i]);
  }
}
