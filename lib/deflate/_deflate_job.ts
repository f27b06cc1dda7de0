/**
 * One piece of a large message, deflated on a worker (see `parallel_deflate.ts`): what is posted to the
 * worker, what comes back, and the function both worker entries (`parallel_deflate_worker.ts` for Web
 * Workers, `adapters/node_deflate_worker.ts` for Node's `worker_threads`) run on it.
 *
 * @module
 */

import type { Compressor } from "./codec.ts";
import { zlibWasmCodec } from "./zlib_wasm_codec.ts";

/** A piece of a message to deflate, with the bytes before it as its dictionary. */
export interface DeflateJob {
  /** Matches the result to the job. */
  id: number;
  /** The piece (a copy, transferred to the worker). */
  input: Uint8Array;
  /**
   * The last bytes before the piece (at most `2^windowBits`), which the piece's matches may refer to;
   * empty for the first piece of a message.
   */
  dictionary: Uint8Array;
  /** Base-2 logarithm of the LZ77 window, 8..15. */
  windowBits: number;
  /** zlib level, 0..9. */
  level: number;
  /** zlib memLevel, 1..9. */
  memLevel: number;
  /** Whether the piece ends the message: its output then loses the final `00 00 ff ff`. */
  end: boolean;
}

/** What a worker posts back. */
export interface DeflateJobResult {
  /** The job's id. */
  id: number;
  /** The deflated piece, sync-flushed (transferred back). */
  output?: Uint8Array;
  /** Why the job failed. */
  error?: string;
}

/**
 * A native deflate a worker entry may install (`adapters/native_deflate.ts`: `node:zlib`'s
 * `deflateRawSync`, 1.3-1.7x less CPU than zlib in WebAssembly at level 6 on 1 MiB of JSON on Deno, Bun
 * and Node: `bench/large_codec_bench.ts`). Given a piece and its settings, it returns the piece deflated
 * as one raw stream from an empty window, or from `dictionary` where it can use one, sync-flushed (ending
 * with `00 00 ff ff`); or `undefined` to leave the piece to zlib in WebAssembly. Whatever it returns must
 * refer to nothing before the piece but `dictionary`'s last `2^windowBits` bytes.
 */
export type NativeDeflate = (
  input: Uint8Array,
  dictionary: Uint8Array,
  options: { windowBits: number; level: number; memLevel: number },
) => Uint8Array | undefined;

let nativeDeflate: NativeDeflate | undefined;

/**
 * Installs a native deflate for this worker's jobs (see {@linkcode NativeDeflate}); `undefined` removes it.
 *
 * @param deflate The native deflate.
 */
export function useNativeDeflate(deflate: NativeDeflate | undefined): void {
  nativeDeflate = deflate;
}

/** One compressor per setting, reused by the jobs a worker runs. */
const compressors = new Map<string, Compressor>();

/** §7.2.1: a sync flush ends with "an empty DEFLATE block with no compression": 00 00 ff ff. */
function endsWithEmptyBlock(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[n - 4] === 0x00 && bytes[n - 3] === 0x00 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xff;
}

/**
 * Deflates a job's piece: a raw DEFLATE stream started afresh from the job's dictionary and ended with a
 * sync flush, so that pieces deflated separately join, in order, into one valid message (the way pigz
 * splits gzip).
 *
 * @param job The piece and its settings.
 * @returns The result to post back (an error for bad settings, never a throw).
 */
export function runDeflateJob(job: DeflateJob): DeflateJobResult {
  try {
    const native = job.input.length === 0 ? undefined : nativeDeflate?.(job.input, job.dictionary, job);
    if (native !== undefined && endsWithEmptyBlock(native)) {
      // §7.2.1: the message's last piece drops the 4 octets 00 00 ff ff.
      return { id: job.id, output: job.end ? native.subarray(0, native.length - 4) : native };
    }
    const key = `${job.windowBits}/${job.level}/${job.memLevel}`;
    let compressor = compressors.get(key);
    if (compressor === undefined) {
      compressor = zlibWasmCodec.createCompressor({
        windowBits: job.windowBits,
        level: job.level,
        memLevel: job.memLevel,
      });
      compressors.set(key, compressor);
    }
    // A fresh window holding only the dictionary: the piece refers to nothing the receiver lacks.
    compressor.prime!(job.dictionary);
    return { id: job.id, output: compressor.compress(job.input, job.end) };
  } catch (error) {
    return { id: job.id, error: error instanceof Error ? error.message : String(error) };
  }
}
