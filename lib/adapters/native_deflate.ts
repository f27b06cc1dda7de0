/**
 * Installs `node:zlib`'s native `deflateRawSync` (Deno, Bun, Node) as the deflate of the jobs this worker
 * runs for `deflate/parallel_deflate.ts` (see `NativeDeflate` in `deflate/_deflate_job.ts`). Imported for
 * its effect by the worker entries of this folder. Private to the adapters folder.
 *
 * Measured with `bench/large_codec_bench.ts` (1 MiB of JSON, level 6, window 15, memLevel 8, CPU time,
 * load average 8-11 on 2 cores): zlib in WebAssembly 31-36 ms, `deflateRawSync` 21-25 ms on Deno 2.9,
 * Bun 1.4 and Node 20. Its bytes differ from zlib 1.2.13's: Deno's and Bun's native zlib put 4.3% more on
 * the wire on that JSON (134,522 bytes against 128,984), Node's (Chromium's zlib) 0.8% fewer (127,964).
 *
 * Only window 15 goes native (smaller windows stay with zlib in WebAssembly, whose window is the one the
 * tests check byte for byte). A preset dictionary is passed on Node only, which honours it for raw
 * deflate; Deno and Bun ignore it (`tests/adapters/node_zlib_codec_test.ts`), so there a piece is
 * deflated from an empty window: valid, as it refers to nothing before itself (RFC 7692 §7.2.1).
 *
 * @module
 */

import zlib from "node:zlib";
import { useNativeDeflate } from "../deflate/_deflate_job.ts";

const isNode = typeof (globalThis as { Deno?: unknown }).Deno === "undefined" &&
  typeof (globalThis as { Bun?: unknown }).Bun === "undefined";

/**
 * `node:zlib`'s `deflateRawSync` as a `NativeDeflate` (`deflate/_deflate_job.ts`): window 15 only, the dictionary on Node
 * only (see the module doc); a buffer of its own (it is transferred to the event loop's thread).
 *
 * @param input The piece.
 * @param dictionary The bytes before it (used on Node only).
 * @param options Window, level and memLevel.
 * @returns The piece deflated and sync-flushed, or `undefined` for a window below 15 bits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeZlibDeflate } from "./native_deflate.ts";
 * const options = { windowBits: 15, level: 6, memLevel: 8 };
 * const output = nodeZlibDeflate(new TextEncoder().encode("Hello"), new Uint8Array(0), options)!;
 * assert.deepEqual([...output.subarray(-4)], [0x00, 0x00, 0xff, 0xff]); // sync-flushed
 * assert.equal(nodeZlibDeflate(new Uint8Array(10), new Uint8Array(0), { ...options, windowBits: 12 }), undefined);
 * ```
 */
export function nodeZlibDeflate(
  input: Uint8Array,
  dictionary: Uint8Array,
  { windowBits, level, memLevel }: { windowBits: number; level: number; memLevel: number },
): Uint8Array | undefined {
  if (windowBits !== 15) return undefined;
  const options: zlib.ZlibOptions = { level, memLevel, windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (dictionary.length !== 0 && isNode) options.dictionary = dictionary;
  const output = zlib.deflateRawSync(input, options);
  return output.byteOffset === 0 && output.byteLength === output.buffer.byteLength
    ? new Uint8Array(output.buffer, 0, output.byteLength)
    : new Uint8Array(output);
}

useNativeDeflate(nodeZlibDeflate);
