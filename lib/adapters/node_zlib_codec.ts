/**
 * A permessage-deflate codec for runtimes that have `node:zlib` (Deno, Bun, Node): native deflate for
 * large messages, pako for small ones and for inflating. Opt-in (`deflate: { codec: nodeZlibCodec }`):
 * faster for large messages, at a cost in ratio when large messages repeat earlier ones.
 *
 * node:zlib keeps a window across messages only in its asynchronous streams, and the core is synchronous.
 * So each large message is one `deflateRawSync` call, offered the history so far as a preset dictionary.
 * Deno 2.9 and Bun 1.4 ignore a dictionary for raw deflate (Node 20 honours it; see
 * tests/adapters/node_zlib_codec_test.ts): there, a large message refers only to itself. That is valid (RFC 7692 §7.2.1 lets a sender take over the window
 * or not), and the history is still kept exactly, so small messages after it refer to it through pako.
 * Measured here (`bench/codec_bench.ts`): native deflate of 16 KiB of JSON ~2.5x faster than pako on Deno
 * and Bun, but ~50 us of fixed cost per call makes it slower than pako below ~4 KiB, hence the split.
 * Inflating stays with pako: a preset dictionary for raw inflate was not honoured either (invalid distance
 * errors).
 *
 * @module
 */

import zlib from "node:zlib";
import type { Compressor, CompressorOptions, DeflateCodec } from "../deflate/codec.ts";
import { pakoCodec, PakoCompressor } from "../deflate/pako_codec.ts";

/** Messages (or pieces) at least this long are deflated natively. */
export const NATIVE_DEFLATE_MIN = 4096;

/** §7.2.1: a sync flush ends with "an empty DEFLATE block with no compression": 00 00 ff ff. */
function endsWithEmptyBlock(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[n - 4] === 0x00 && bytes[n - 3] === 0x00 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xff;
}

/** The last `size` bytes of `history` followed by `data`. */
function appendWindow(history: Uint8Array, data: Uint8Array, size: number): Uint8Array {
  if (data.length >= size) return data.slice(data.length - size);
  const keep = Math.min(history.length, size - data.length);
  const window = new Uint8Array(keep + data.length);
  window.set(history.subarray(history.length - keep));
  window.set(data, keep);
  return window;
}

class NodeZlibCompressor implements Compressor {
  readonly #pako: PakoCompressor;
  readonly #zlibOptions: zlib.ZlibOptions;
  readonly #windowSize: number;
  #history: Uint8Array | undefined; // the window, while the last message went through node:zlib

  constructor(options: CompressorOptions) {
    this.#pako = new PakoCompressor(options);
    // As in pako_codec.ts: zlib cannot deflate with an 8-bit window; 9 bits never reach back farther than
    // 250 bytes, which an 8-bit window holds.
    const windowBits = Math.max(options.windowBits, 9);
    this.#windowSize = 1 << windowBits;
    this.#zlibOptions = {
      level: options.level,
      memLevel: options.memLevel,
      windowBits,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    };
  }

  compress(data: Uint8Array, end: boolean): Uint8Array {
    if (data.length < NATIVE_DEFLATE_MIN) {
      if (this.#history !== undefined) {
        this.#pako.setWindow(this.#history);
        this.#history = undefined;
      }
      return this.#pako.compress(data, end);
    }
    const history = this.#history ?? this.#pako.takeWindow();
    const options = history.length === 0 ? this.#zlibOptions : { ...this.#zlibOptions, dictionary: history };
    const output = zlib.deflateRawSync(data, options);
    if (!endsWithEmptyBlock(output)) throw new Error("Cannot compress: node:zlib's sync flush did not end with 00 00 ff ff");
    this.#history = appendWindow(history, data, this.#windowSize);
    // §7.2.1: the message's last piece drops the 4 octets 00 00 ff ff.
    return new Uint8Array(output.buffer, output.byteOffset, end ? output.length - 4 : output.length);
  }

  reset(): void {
    this.#history = undefined;
    this.#pako.reset();
  }

  release(): void {
    this.#history = undefined;
    this.#pako.release();
  }

  hibernate(): void {
    // A window held as bytes is all the state there is; pako's state shrinks to its window.
    if (this.#history === undefined) this.#pako.hibernate();
  }
}

/**
 * The codec. Messages of {@linkcode NATIVE_DEFLATE_MIN} bytes or more are deflated natively, without
 * references to earlier messages where the runtime ignores the dictionary (Deno, Bun).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeZlibCodec } from "./node_zlib_codec.ts";
 * const compressor = nodeZlibCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
 * // Small messages go through pako: RFC 7692 §7.2.3.1's bytes for "Hello".
 * assert(compressor.compress(new TextEncoder().encode("Hello"), true).join() === "242,72,205,201,201,7,0");
 * ```
 */
export const nodeZlibCodec: DeflateCodec = {
  name: "node:zlib + pako",
  createCompressor: (options) => new NodeZlibCompressor(options),
  createDecompressor: (windowBits) => pakoCodec.createDecompressor(windowBits),
};
