/**
 * A {@linkcode DeflateCodec} on pako 3's low-level zlib port: pure JavaScript, synchronous, runs on every
 * runtime (the edge included), honours windows of 9..15 bits, and, driven through `ZStream` with one
 * reused output buffer, was the fastest pure-JS path measured here (`shared/reference/measured.md`).
 *
 * @module
 */

import {
  Z_BLOCK,
  Z_BUF_ERROR,
  Z_DEFAULT_STRATEGY,
  Z_OK,
  Z_STREAM_END,
  Z_SYNC_FLUSH,
  zlibDeflate,
  zlibDeflateEnd,
  zlibDeflateInit2,
  zlibDeflateReset,
  zlibDeflateSetDictionary,
  zlibInflate,
  zlibInflateEnd,
  zlibInflateInit2,
  zlibInflateReset,
  zlibInflateResetKeep,
  zlibInflateSetDictionary,
  ZStream,
} from "pako";
import { CloseCode } from "../core/close_code.ts";
import type { Compressor, CompressorOptions, DeflateCodec, Decompressor } from "./codec.ts";
import { ProtocolError } from "../core/protocol_error.ts";

const Z_DEFLATED = 8;
const CHUNK = 64 * 1024;
const MAX_SCRATCH = 4 * 1024 * 1024;
const EMPTY = new Uint8Array(0);
/** §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload of the message." */
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

// Every call runs to completion synchronously, so all codecs share one output buffer: an idle connection
// holds none.
let scratch = new Uint8Array(CHUNK);

/** The fields of pako's deflate state that hold the window (zlib's `deflate_state`). */
interface DeflateWindow {
  window: Uint8Array;
  w_size: number;
  strstart: number;
  lookahead: number;
}

/**
 * zlib's pending buffer (`pending_buf`: output not yet copied out, and the current block's symbols). After
 * a sync flush it is empty, so between calls it holds nothing: all compressors share one per size.
 */
interface DeflatePending {
  pending_buf: Uint8Array | null;
  pending_buf_size: number;
  pending: number;
}
const sharedPending = new Map<number, Uint8Array>();

/** The fields of pako's inflate state that hold the window (zlib's `inflate_state`): a ring buffer. */
interface InflateWindow {
  window: Uint8Array | null;
  wsize: number;
  whave: number;
  wnext: number;
}

/**
 * Deflate states given up by hibernating compressors, reset and ready for reuse, per setting: waking a
 * compressor then costs a preset dictionary, not ~256 KiB of fresh typed arrays. Bounded.
 */
const POOL_LIMIT = 8;
/**
 * A hibernating compressor keeps at most this much of its history: rebuilding the hash chains costs time
 * in proportion (~4 ns a byte), and a message after a pause rarely gains from references farther back. (A
 * decompressor must keep its whole window: the peer may refer to any of it.)
 */
const COMPRESSOR_DICTIONARY_LIMIT = 8 * 1024;
const deflatePool = new Map<string, ZStream[]>();

/** pako's compressor; {@linkcode pakoCodec} makes them. */
export class PakoCompressor implements Compressor {
  readonly #options: CompressorOptions;
  #stream: ZStream | undefined;
  #dictionary: Uint8Array | undefined; // the window kept by hibernate()

  /** @param options Window, level and memory settings. */
  constructor(options: CompressorOptions) {
    this.#options = options;
  }

  compress(data: Uint8Array, end: boolean): Uint8Array {
    const stream = this.#stream ?? this.#init();
    const state = stream.state as unknown as DeflatePending;
    let pending = sharedPending.get(state.pending_buf_size);
    if (pending === undefined) sharedPending.set(state.pending_buf_size, pending = new Uint8Array(state.pending_buf_size));
    state.pending_buf = pending;
    stream.input = data;
    stream.next_in = 0;
    stream.avail_in = data.length;
    let out = scratch;
    let position = 0;
    for (;;) {
      stream.output = out as Uint8Array<ArrayBuffer>;
      stream.next_out = position;
      stream.avail_out = out.length - position;
      const status = zlibDeflate(stream, Z_SYNC_FLUSH);
      if (status !== Z_OK && status !== Z_BUF_ERROR) throw new Error(`Cannot compress: zlib status ${status}`);
      position = stream.next_out;
      // zlib: with avail_out left over after Z_SYNC_FLUSH, the input is consumed and the flush complete.
      if (stream.avail_out !== 0) break;
      const bigger = new Uint8Array(out.length * 2);
      bigger.set(out.subarray(0, position));
      out = bigger;
    }
    if (out !== scratch && out.length <= MAX_SCRATCH) scratch = out;
    // Sync-flushed: nothing pending, the buffer goes back to being shared.
    if (state.pending !== 0) throw new Error("Cannot compress: zlib kept output pending after a sync flush");
    state.pending_buf = null;
    stream.input = EMPTY;
    stream.output = EMPTY as Uint8Array<ArrayBuffer>;
    // zlib emits nothing for a flush with no input right after a flush (Z_BUF_ERROR): what was sent already
    // ends with 00 00 ff ff. §7.2.3.6: "an empty uncompressed DEFLATE block can be built and used ... 0x00".
    if (position === 0) return end ? Uint8Array.of(0x00) : new Uint8Array(0);
    // A sync flush ends with the empty stored block 00 00 ff ff; the message's last piece drops it.
    return out.slice(0, end ? position - 4 : position);
  }

  reset(): void {
    if (this.#stream !== undefined) zlibDeflateReset(this.#stream);
    this.#dictionary = undefined;
  }

  release(): void {
    if (this.#stream !== undefined) zlibDeflateEnd(this.#stream);
    this.#stream = undefined;
    this.#dictionary = undefined;
  }

  hibernate(): void {
    if (this.#stream === undefined) return;
    const window = this.#giveUpState(COMPRESSOR_DICTIONARY_LIMIT);
    this.#dictionary = window.length === 0 ? undefined : window;
  }

  /**
   * For a codec that compresses some messages by other means: returns the history the next message may
   * refer to (at most `2^windowBits` bytes) and gives up the state; {@linkcode PakoCompressor.setWindow}
   * hands the history back.
   *
   * @returns The window's bytes, oldest first (the caller owns them).
   */
  takeWindow(): Uint8Array {
    if (this.#stream === undefined) {
      const dictionary = this.#dictionary ?? EMPTY;
      this.#dictionary = undefined;
      return dictionary;
    }
    return this.#giveUpState(Infinity);
  }

  /**
   * Sets the history the next message may refer to (messages compressed by other means); its last bytes
   * become a preset dictionary, as after {@linkcode PakoCompressor.hibernate}.
   *
   * @param history The bytes sent so far, oldest first (only the last few KiB are used).
   */
  setWindow(history: Uint8Array): void {
    if (this.#stream !== undefined) this.#giveUpState(0);
    const keep = Math.min(history.length, COMPRESSOR_DICTIONARY_LIMIT);
    this.#dictionary = keep === 0 ? undefined : history.slice(history.length - keep);
  }

  /** Copies out the last (at most `limit`) bytes of history and returns the state to the pool. */
  #giveUpState(limit: number): Uint8Array {
    const stream = this.#stream!;
    const state = stream.state as unknown as DeflateWindow;
    // After a sync flush all input is processed (no lookahead): the history ends at strstart.
    if (state.lookahead !== 0) throw new Error("Cannot hibernate a compressor in the middle of its input");
    const length = Math.min(state.strstart, state.w_size, limit);
    const window = length === 0 ? EMPTY : state.window.slice(state.strstart - length, state.strstart);
    this.#stream = undefined;
    const key = this.#poolKey();
    const pool = deflatePool.get(key);
    if ((pool === undefined || pool.length < POOL_LIMIT) && zlibDeflateReset(stream) === Z_OK) {
      if (pool === undefined) deflatePool.set(key, [stream]);
      else pool.push(stream);
    } else {
      zlibDeflateEnd(stream);
    }
    return window;
  }

  #poolKey(): string {
    const { windowBits, level, memLevel } = this.#options;
    return `${windowBits}/${level}/${memLevel}`;
  }

  #init(): ZStream {
    let stream = deflatePool.get(this.#poolKey())?.pop();
    if (stream === undefined) {
      const { level, memLevel } = this.#options;
      // zlib cannot make a raw stream with an 8-bit window. At 9 bits it never references farther back than
      // 512 - 262 (MIN_LOOKAHEAD) = 250 bytes, which an 8-bit (256-byte) window holds: valid for 8.
      const windowBits = Math.max(this.#options.windowBits, 9);
      stream = new ZStream();
      const status = zlibDeflateInit2(stream, level, Z_DEFLATED, -windowBits, memLevel, Z_DEFAULT_STRATEGY);
      if (status !== Z_OK) throw new Error(`Cannot create compressor: zlib status ${status}`);
    }
    if (this.#dictionary !== undefined) {
      const restored = zlibDeflateSetDictionary(stream, this.#dictionary);
      if (restored !== Z_OK) throw new Error(`Cannot restore compressor window: zlib status ${restored}`);
      this.#dictionary = undefined;
    }
    (stream.state as unknown as DeflatePending).pending_buf = null; // compress() lends it the shared one
    this.#stream = stream;
    return stream;
  }
}

class PakoDecompressor implements Decompressor {
  readonly #windowBits: number;
  #stream: ZStream | undefined;
  #dictionary: Uint8Array | undefined; // the window kept by hibernate()
  #ended = false; // a BFINAL block ended and no byte of the message has come since

  constructor(windowBits: number) {
    this.#windowBits = windowBits;
  }

  decompress(data: Uint8Array, end: boolean, maxSize: number): Uint8Array {
    const stream = this.#stream ?? this.#init();
    const parts: Uint8Array[] = [];
    let out = scratch;
    let position = 0;
    let total = 0;
    const feed = (input: Uint8Array, appended: boolean): void => {
      if (this.#ended) {
        // §7.2.3.4: a message that ends with its BFINAL block (no empty block after it) needs no tail.
        if (appended || input.length === 0) return;
        this.#ended = false;
      }
      stream.input = input;
      stream.next_in = 0;
      stream.avail_in = input.length;
      for (;;) {
        stream.output = out as Uint8Array<ArrayBuffer>;
        stream.next_out = position;
        // One byte past the limit at most: inflation stops there, however big the output chunk is.
        stream.avail_out = Math.min(out.length - position, maxSize - total + 1);
        // The appended tail is inflated up to the next block boundary only, to check where it ends.
        const status = zlibInflate(stream, appended ? Z_BLOCK : Z_SYNC_FLUSH);
        total += stream.next_out - position;
        position = stream.next_out;
        if (total > maxSize) {
          throw new ProtocolError(
            CloseCode.MessageTooBig,
            `Cannot inflate message: more than the limit of ${maxSize} bytes`,
          );
        }
        if (status === Z_STREAM_END) {
          // §7.2.1: "An endpoint MAY use both DEFLATE blocks with the "BFINAL" bit set to 0 and DEFLATE blocks
          // with the "BFINAL" bit set to 1. ... The next DEFLATE block follows the padded data if any." Read on,
          // keeping the window (§7.2.2: "MUST decompress each new message using the LZ77 sliding window used
          // to process the last compressed message").
          zlibInflateResetKeep(stream);
          this.#ended = stream.avail_in === 0;
          if (this.#ended) return;
          continue;
        }
        if (status !== Z_OK && status !== Z_BUF_ERROR) {
          throw new ProtocolError(CloseCode.InvalidPayloadData, `Cannot inflate message: ${stream.msg || `zlib status ${status}`}`);
        }
        if (stream.avail_out === 0) {
          // Output chunk full: keep it, continue in a fresh one (there may be more even with no input left).
          parts.push(out);
          out = new Uint8Array(CHUNK);
          position = 0;
          continue;
        }
        // §7.2.1 ends a message with "an empty DEFLATE block with no compression" less its 4 last octets: the
        // appended octets are its LEN and NLEN, so they end exactly at a block boundary (data_type bit 128).
        if (appended && (stream.avail_in !== 0 || (stream.data_type & 128) === 0)) {
          throw new ProtocolError(CloseCode.InvalidPayloadData, "Cannot inflate message: it does not end at a DEFLATE block boundary");
        }
        return;
      }
    };
    try {
      feed(data, false);
      if (end) feed(TAIL, true);
    } catch (error) {
      this.#reset();
      throw error;
    } finally {
      stream.input = EMPTY;
      stream.output = EMPTY as Uint8Array<ArrayBuffer>;
    }
    if (end) this.#ended = false;
    if (parts.length === 0) return out.slice(0, position);
    const result = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      result.set(part, offset);
      offset += part.length;
    }
    result.set(out.subarray(0, position), offset);
    return result;
  }

  reset(): void {
    this.#reset();
  }

  release(): void {
    if (this.#stream !== undefined) zlibInflateEnd(this.#stream);
    this.#stream = undefined;
    this.#dictionary = undefined;
    this.#ended = false;
  }

  hibernate(): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    const { window, wsize, whave, wnext } = stream.state as unknown as InflateWindow;
    if (window === null || whave === 0) {
      this.#dictionary = undefined;
    } else if (whave < wsize) {
      this.#dictionary = window.slice(0, whave); // not yet wrapped: the oldest byte is at 0
    } else {
      const dictionary = new Uint8Array(wsize); // wrapped: the oldest byte is at wnext
      dictionary.set(window.subarray(wnext, wsize));
      dictionary.set(window.subarray(0, wnext), wsize - wnext);
      this.#dictionary = dictionary;
    }
    zlibInflateEnd(stream);
    this.#stream = undefined;
    this.#ended = false;
  }

  #reset(): void {
    if (this.#stream !== undefined) zlibInflateReset(this.#stream);
    this.#dictionary = undefined;
    this.#ended = false;
  }

  #init(): ZStream {
    const stream = new ZStream();
    const status = zlibInflateInit2(stream, -this.#windowBits);
    if (status !== Z_OK) throw new Error(`Cannot create decompressor: zlib status ${status}`);
    if (this.#dictionary !== undefined) {
      const restored = zlibInflateSetDictionary(stream, this.#dictionary);
      if (restored !== Z_OK) throw new Error(`Cannot restore decompressor window: zlib status ${restored}`);
      this.#dictionary = undefined;
    }
    this.#stream = stream;
    return stream;
  }
}

/**
 * The pako codec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pakoCodec } from "./pako_codec.ts";
 * const compressor = pakoCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
 * const bytes = compressor.compress(new TextEncoder().encode("Hello"), true);
 * // RFC 7692 §7.2.3.1: "Hello" compresses to f2 48 cd c9 c9 07 00.
 * assert(bytes.join() === [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00].join());
 * ```
 */
export const pakoCodec: DeflateCodec = {
  name: "pako",
  createCompressor: (options) => new PakoCompressor(options),
  createDecompressor: (windowBits) => new PakoDecompressor(windowBits),
};
