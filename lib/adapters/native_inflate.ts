/**
 * Installs `node:zlib`'s native `inflateRawSync` (Deno, Bun, Node) as the inflate of the large received
 * messages this worker inflates for `deflate/permessage_deflate.ts` (see `NativeInflate` in
 * `deflate/_inflate_job.ts`). Imported for its effect by the worker entries of this folder. Private to the
 * adapters folder.
 *
 * Measured with `bench/large_codec_bench.ts` (1 MiB of JSON): zlib in WebAssembly 3.8-6.2 ms,
 * `inflateRawSync` 1.8-2.4 ms on Deno 2.9, Bun 1.4 and Node 20.
 *
 * Only window 15 goes native: with a smaller window Node's and Bun's raw inflate accept (Node) or refuse
 * (Bun) references that zlib in WebAssembly judges by the negotiated window. The receiver's window before
 * the message (context takeover) is not passed as `node:zlib`'s `dictionary`, which Deno ignores for raw
 * inflate (a message that refers to it fails "invalid distance too far back"): it is put in front of the
 * message as a stored block (RFC 1951 §3.2.4, BTYPE 00), whose bytes become the start of the output, so a
 * back-reference into the window finds exactly the bytes a preset dictionary would hold, on every runtime;
 * the message is the output after them. A reference past the window's start is refused as with a preset
 * dictionary. The message is checked to end as RFC 7692 §7.2.1 has it: after the appended
 * `00 00 ff ff`, an empty final block (`03 00`) must end the stream, with every byte consumed; anything
 * else (corrupt data, a message ending in its own BFINAL block, output past the limit) is left to zlib in
 * WebAssembly, which gives the verdict and close code inline inflation gives.
 *
 * @module
 */

import zlib from "node:zlib";
import { useNativeInflate } from "../deflate/_inflate_job.ts";

/** The largest window (and so dictionary) a window of 15 bits holds. */
const WINDOW = 1 << 15;

/** A stored block's header at a byte boundary: the block's first byte (BFINAL, BTYPE, padding), LEN, NLEN. */
const STORED_HEADER = 5;

/** §7.2.2's `00 00 ff ff`, then an empty fixed-Huffman block with BFINAL set: the stream must end there. */
const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff, 0x03, 0x00);

/**
 * `node:zlib`'s `inflateRawSync` as a `NativeInflate` (`deflate/_inflate_job.ts`; see the module doc).
 *
 * @param input The message's payload as received.
 * @param dictionary The receiver's window before it.
 * @param options The peer's window size and the largest output allowed.
 * @returns The inflated message in a buffer of its own, or `undefined` to leave it to zlib in WebAssembly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { constants, deflateRawSync } from "node:zlib";
 * import { nodeZlibInflate } from "./native_inflate.ts";
 * const message = new TextEncoder().encode("Hello, Hello, Hello");
 * const sent = deflateRawSync(message, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
 * assert.deepEqual(nodeZlibInflate(sent, new Uint8Array(0), { windowBits: 15, maxSize: 100 }), message);
 * assert.equal(nodeZlibInflate(sent, new Uint8Array(0), { windowBits: 15, maxSize: 5 }), undefined); // too large
 * ```
 */
export function nodeZlibInflate(
  input: Uint8Array,
  dictionary: Uint8Array,
  { windowBits, maxSize }: { windowBits: number; maxSize: number },
): Uint8Array | undefined {
  if (windowBits !== 15 || maxSize < 1 || dictionary.length > WINDOW) return undefined;
  const prefix = dictionary.length === 0 ? 0 : STORED_HEADER + dictionary.length;
  const whole = new Uint8Array(prefix + input.length + TAIL.length);
  if (prefix !== 0) {
    // A stored block, not the last (BFINAL 0, BTYPE 00, padded to the byte), LEN and its complement NLEN.
    const length = dictionary.length;
    whole.set([0x00, length & 0xff, length >>> 8, ~length & 0xff, (~length >>> 8) & 0xff]);
    whole.set(dictionary, STORED_HEADER);
  }
  whole.set(input, prefix);
  whole.set(TAIL, prefix + input.length);
  const options: zlib.ZlibOptions & { info: true } = {
    windowBits,
    finishFlush: zlib.constants.Z_FINISH,
    maxOutputLength: Math.min(maxSize + dictionary.length, 0x7fffffff),
    info: true,
  };
  let result: { buffer: Uint8Array; engine: { bytesWritten: number } };
  try {
    result = zlib.inflateRawSync(whole, options) as unknown as { buffer: Uint8Array; engine: { bytesWritten: number } };
  } catch {
    return undefined;
  }
  // Bytes left over: the stream ended before the appended tail (a BFINAL block in the message).
  if (result.engine.bytesWritten !== whole.length) return undefined;
  const output = result.buffer;
  if (output.byteLength - dictionary.length > maxSize) return undefined;
  return prefix === 0 && output.byteOffset === 0 && output.byteLength === output.buffer.byteLength
    ? new Uint8Array(output.buffer, 0, output.byteLength)
    : new Uint8Array(output.subarray(dictionary.length)); // a copy: Buffer#slice would be a view
}

useNativeInflate(nodeZlibInflate);
