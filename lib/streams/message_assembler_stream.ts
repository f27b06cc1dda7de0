/**
 * A `TransformStream` from frames to messages (RFC 6455 §5.4, §5.6, §8.1), over
 * {@linkcode MessageAssembler}, inflated by the negotiated extensions (RFC 7692 §6.2) when given them.
 *
 * @module
 */

import { CloseCode } from "../core/close_code.ts";
import type { Extension } from "../core/extension.ts";
import type { Frame } from "../core/frame.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../core/frame_parser.ts";
import { MessageAssembler } from "../core/message_assembler.ts";
import { isControlOpcode, isKnownOpcode } from "../core/opcode.ts";
import { ProtocolError } from "../core/protocol_error.ts";
import { checkExtensions } from "./_extensions.ts";

/** Options for {@linkcode MessageAssemblerStream}. */
export interface MessageAssemblerStreamOptions {
  /**
   * Largest message, the sum of its fragments, in bytes, from 0 to `Number.MAX_SAFE_INTEGER`; more fails
   * with 1009.
   * @default {16777216}
   */
  maxMessageSize?: number;
  /**
   * Called with each control frame (Close, Ping, Pong) as it passes, in order with the messages around it,
   * including between the fragments of a message (§5.4). This stream does not answer pings or closes:
   * that is for the caller. An error it throws errors the stream.
   * @default {undefined} control frames are dropped
   */
  onControlFrame?: (frame: Frame) => void;
  /**
   * The negotiated extensions, as the handshake returns them (`negotiated` of `serverHandshake`'s or
   * `ClientHandshake.verify`'s result), the same objects the connection's `MessageFragmenterStream` has:
   * each data frame goes through their `decode`, in reverse order. With permessage-deflate, a compressed
   * message (RSV1 on its first frame) is inflated as its fragments arrive, with `maxMessageSize` enforced
   * while inflating.
   * @default {[]}
   */
  extensions?: readonly Extension[];
}

/**
 * Joins data frames into messages: a `string` for text, a `Uint8Array` for binary. Text is validated as
 * UTF-8 as each frame arrives; a code point split across fragments is valid (§8.1).
 *
 * Control frames are handed to the `onControlFrame` option and are otherwise dropped; they never reach the
 * readable side.
 *
 * With `extensions` (permessage-deflate), a compressed message is inflated as RFC 7692 §6.2 describes (the
 * fragments' payloads joined, then inflated): fragment by fragment as they arrive, through the one
 * inflater, so the compressed message is never held whole and an inflated size past `maxMessageSize` fails
 * with 1009 as soon as inflating reaches it.
 *
 * A violation errors the stream with a {@linkcode ProtocolError} carrying its close code: 1002 for a frame
 * out of sequence, a reserved opcode, an RSV bit that no extension in `extensions` claimed (§5.2), or any
 * RSV bit on a control frame; 1007 for invalid UTF-8 or compressed data that does not inflate; 1009 for a
 * message over `maxMessageSize`. Input that ends inside a
 * fragmented message errors it with a `ProtocolError` with code 1006 (Abnormal Closure), and a frame whose
 * opcode is not a 4-bit number with a `TypeError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageAssemblerStream, type MessageAssemblerStreamOptions } from "./message_assembler_stream.ts";
 * const encoder = new TextEncoder();
 * const frames = ReadableStream.from([
 *   { fin: false, rsv1: false, rsv2: false, rsv3: false, opcode: 0x1, payload: encoder.encode("Hel") },
 *   { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x9, payload: new Uint8Array(0) },
 *   { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x0, payload: encoder.encode("lo") },
 * ]);
 * const pings: Uint8Array[] = [];
 * const options: MessageAssemblerStreamOptions = { onControlFrame: (frame) => pings.push(frame.payload) };
 * const messages = await Array.fromAsync(frames.pipeThrough(new MessageAssemblerStream(options)));
 * assert.deepEqual(messages, ["Hello"]);
 * assert.equal(pings.length, 1);
 * ```
 *
 * @example Inflating with permessage-deflate, as negotiated
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageAssemblerStream } from "./message_assembler_stream.ts";
 * import { PerMessageDeflate } from "../deflate/permessage_deflate.ts";
 * // What `ClientHandshake.verify(...).negotiated` holds after a plain `permessage-deflate` answer.
 * const deflate = new PerMessageDeflate("client", {
 *   serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15,
 * });
 * // RFC 7692 §7.2.3.1: "Hello" compressed, in two fragments, RSV1 on the first.
 * const frames = ReadableStream.from([
 *   { fin: false, rsv1: true, rsv2: false, rsv3: false, opcode: 0x1, payload: new Uint8Array([0xf2, 0x48, 0xcd]) },
 *   { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x0, payload: new Uint8Array([0xc9, 0xc9, 0x07, 0x00]) },
 * ]);
 * const messages = await Array.fromAsync(frames.pipeThrough(new MessageAssemblerStream({ extensions: [deflate] })));
 * assert.deepEqual(messages, ["Hello"]);
 * deflate.release();
 * ```
 */
export class MessageAssemblerStream extends TransformStream<Frame, string | Uint8Array> {
  readonly #assembler: MessageAssembler;
  readonly #onControlFrame: ((frame: Frame) => void) | undefined;
  readonly #extensions: readonly Extension[];

  /**
   * Makes a stream that assembles data frames into messages.
   *
   * @param options The message size limit, the control frame callback and the negotiated extensions.
   * @throws {RangeError} For a `maxMessageSize` out of range.
   * @throws {TypeError} For an `onControlFrame` that is not a function, or `extensions` that are not an
   * array of extensions.
   */
  constructor(options: MessageAssemblerStreamOptions = {}) {
    const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!(maxMessageSize >= 0 && maxMessageSize <= Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(
        `Cannot create message assembler: maxMessageSize ${maxMessageSize} is out of range`,
      );
    }
    const onControlFrame = options.onControlFrame;
    if (onControlFrame !== undefined && typeof onControlFrame !== "function") {
      throw new TypeError("Cannot create message assembler: onControlFrame is not a function");
    }
    const extensions = checkExtensions("message assembler", options.extensions);
    super({
      transform: (frame, controller) => this.#transform(frame, controller),
      flush: () => this.#flush(),
    });
    this.#assembler = new MessageAssembler({ maxMessageSize });
    this.#onControlFrame = onControlFrame;
    this.#extensions = extensions;
  }

  #transform(frame: Frame, controller: TransformStreamDefaultController<string | Uint8Array>): void {
    const opcode = frame.opcode;
    if ((opcode & 0x0f) !== opcode) {
      throw new TypeError(`Cannot assemble message: opcode ${opcode} is not in 0x0-0xF`);
    }
    // §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_."
    if (!isKnownOpcode(opcode)) {
      throw new ProtocolError(
        CloseCode.ProtocolError,
        `Cannot assemble message: opcode 0x${opcode.toString(16)} is reserved`,
      );
    }
    if (isControlOpcode(opcode)) {
      // RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control frames", and
      // RFC 6455 §5.2 fails a connection on an RSV bit no extension defines for it.
      checkRsv(frame);
      const onControlFrame = this.#onControlFrame;
      if (onControlFrame !== undefined) onControlFrame(frame);
      return;
    }
    const extensions = this.#extensions;
    // RFC 7692 §6.2: the receiver inflates the message's data "to obtain the bytes of the message"; the
    // extension enforces the limit on what the message may still grow by while inflating.
    for (let i = extensions.length - 1; i >= 0; i--) frame = extensions[i].decode(frame, this.#assembler.remaining);
    // §5.2: a nonzero RSV bit whose meaning no negotiated extension defines "MUST _Fail the WebSocket
    // Connection_"; an extension that decoded the frame has cleared its bit.
    checkRsv(frame);
    const message = this.#assembler.push(frame);
    if (message !== undefined) controller.enqueue(message);
  }

  #flush(): void {
    if (this.#assembler.inProgress) {
      throw new ProtocolError(
        CloseCode.AbnormalClosure,
        "Cannot assemble message: input ended inside a fragmented message",
      );
    }
  }
}

function checkRsv(frame: Frame): void {
  if (frame.rsv1 || frame.rsv2 || frame.rsv3) {
    const bit = frame.rsv1 ? 1 : frame.rsv2 ? 2 : 3;
    throw new ProtocolError(CloseCode.ProtocolError, `Cannot assemble message: RSV${bit} is set`);
  }
}
