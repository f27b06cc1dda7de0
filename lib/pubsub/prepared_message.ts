/**
 * A published message, encoded once and framed once per kind of subscriber: one uncompressed frame for
 * every subscriber that takes it as it is, and one compressed frame per shared deflate setting (no context
 * takeover on the server's side, RFC 7692 §7.1.1.1) for every subscriber with that setting. Subscribers
 * whose compressor keeps context are sent the message itself, compressed by their own connection.
 *
 * @module
 */

import { encodeFrame } from "../core/encode_frame.ts";
import { joinBytes } from "../core/join_bytes.ts";
import { Opcode } from "../core/opcode.ts";
import { encodeText, isUtf8 } from "../core/utf8.ts";
import type { DeflateCodec } from "../deflate/codec.ts";
import type { PerMessageDeflate } from "../deflate/permessage_deflate.ts";

/** Options for {@linkcode PreparedMessage}. */
export interface PreparedMessageOptions {
  /**
   * The message's type: `false` sends bytes as text (they must be UTF-8: a `TypeError` if not), `true` a
   * string's UTF-8 as binary.
   * @default {typeof data !== "string"}
   */
  binary?: boolean;
  /**
   * `false` sends the message uncompressed to every subscriber; otherwise each subscriber's deflate
   * settings decide (its threshold included).
   * @default {true}
   */
  compress?: boolean;
}

/**
 * One message for many connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PreparedMessage } from "./prepared_message.ts";
 * const message = new PreparedMessage("Hello");
 * // RFC 6455 §5.7: a single-frame unmasked text message.
 * assert.deepEqual([...message.plainFrame()], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
 * ```
 */
export class PreparedMessage {
  /** The payload: a string's UTF-8, or the bytes given. */
  readonly payload: Uint8Array;
  /** Whether the message is binary. */
  readonly binary: boolean;
  /** Whether it may be compressed. */
  readonly compress: boolean;
  /** Compressions done for this message (one per shared deflate setting in use). */
  deflates = 0;
  #text: string | undefined;
  #plain: Uint8Array | undefined;
  readonly #compressed = new Map<DeflateCodec, Map<string, Uint8Array>>();

  /**
   * Prepares a message to publish to many connections.
   *
   * @param data The message: a string for text, bytes for binary (unless `options.binary` says otherwise).
   * @param options The type and whether it may be compressed.
   * @throws {TypeError} For data that is neither a string nor a `Uint8Array`, or bytes sent as text that are
   * not UTF-8.
   */
  constructor(data: string | Uint8Array, options: PreparedMessageOptions = {}) {
    const text = typeof data === "string";
    if (!text && !(data instanceof Uint8Array)) throw new TypeError("Cannot publish: data is neither a string nor a Uint8Array");
    this.payload = text ? encodeText(data) : data;
    if (text) this.#text = data;
    this.binary = options.binary ?? !text;
    // RFC 6455 §5.6: a text frame's "Payload data" is "text data encoded as UTF-8".
    if (!this.binary && !text && !isUtf8(this.payload)) throw new TypeError("Cannot publish: bytes sent as text are not UTF-8");
    this.compress = options.compress ?? true;
  }

  /** The payload as a string (a text message for a runtime's own WebSocket), decoded on first use. */
  get text(): string {
    return this.#text ??= new TextDecoder().decode(this.payload);
  }

  /**
   * The frame for connections that do not compress it.
   *
   * @returns The message as one unmasked, uncompressed frame (a server's), built on first use.
   */
  plainFrame(): Uint8Array {
    return this.#plain ??= join(encodeFrame(this.binary ? Opcode.Binary : Opcode.Text, this.payload));
  }

  /**
   * The message as one unmasked frame compressed by `deflate`, whose sending side keeps no context: built
   * once per codec and setting, and the same bytes for every connection with that setting.
   *
   * @param deflate A connection's permessage-deflate with `sharedEncoding` (no context takeover on its
   * sending side).
   * @returns The frame: compressed (RSV1) unless the message is under the threshold or would not shrink.
   */
  sharedFrame(deflate: PerMessageDeflate): Uint8Array {
    const shared = deflate.sharedEncoding;
    if (shared === undefined) throw new TypeError("Cannot share a compressed frame: the connection keeps context");
    if (!this.compress || this.payload.length < shared.threshold) return this.plainFrame();
    let frames = this.#compressed.get(shared.codec);
    if (frames === undefined) this.#compressed.set(shared.codec, frames = new Map());
    let frame = frames.get(shared.key);
    if (frame === undefined) {
      const opcode = this.binary ? Opcode.Binary : Opcode.Text;
      this.deflates++;
      const encoded = deflate.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, payload: this.payload });
      frame = encoded.rsv1 ? join(encodeFrame(opcode, encoded.payload, { rsv1: true })) : this.plainFrame();
      frames.set(shared.key, frame);
    }
    return frame;
  }
}

function join(chunks: Uint8Array[]): Uint8Array {
  return chunks.length === 1 ? chunks[0] : joinBytes(chunks, 0, 2, chunks[0].length + chunks[1].length);
}
