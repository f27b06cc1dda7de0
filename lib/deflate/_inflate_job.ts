/**
 * One large received message, inflated on a worker (see `PerMessageDeflate`'s `parallel` option): what is
 * posted to the worker, what comes back, and the function the worker entries run on it. The worker runs
 * the same zlib in WebAssembly as the event loop, so a message is accepted or refused (1007, 1009) exactly
 * as it would be inline; a native inflate the worker entry installs ({@linkcode useNativeInflate}) goes
 * first where it can, and leaves to zlib in WebAssembly every message it does not accept.
 *
 * @module
 */

import type { Decompressor } from "./codec.ts";
import { ProtocolError } from "../core/protocol_error.ts";
import { zlibWasmCodec } from "./zlib_wasm_codec.ts";
import type { DeflateJobResult } from "./_deflate_job.ts";

/** A whole compressed message to inflate, with the receiver's window as its dictionary. */
export interface InflateJob {
  /** Tells the job from a `DeflateJob`. */
  kind: "inflate";
  /** Matches the result to the job. */
  id: number;
  /** The message's payload as received, without the `00 00 ff ff` that §7.2.2 appends (a copy, transferred). */
  input: Uint8Array;
  /** The receiver's window before the message (empty without context takeover). */
  dictionary: Uint8Array;
  /** Base-2 logarithm of the peer's LZ77 window, 8..15. */
  windowBits: number;
  /** Largest output allowed: more fails the job with 1009. */
  maxSize: number;
}

/** What a worker posts back for an {@linkcode InflateJob}. */
export interface InflateJobResult extends DeflateJobResult {
  /** The close code of a refused message: 1007 corrupt, 1009 too large. */
  code?: number;
}

/**
 * A native inflate a worker entry may install (`adapters/native_inflate.ts`: `node:zlib`'s
 * `inflateRawSync`). Given a whole message as received and the receiver's window, it returns the message
 * inflated, or `undefined` for anything it cannot do or does not accept: a window it cannot hold to, a
 * dictionary it would ignore, corrupt data, output past `maxSize`, a message not ending as §7.2.1 has it.
 * Those go to zlib in WebAssembly, which refuses them with the close code and message inline inflation
 * would give. It must never accept what zlib in WebAssembly refuses.
 */
export type NativeInflate = (
  input: Uint8Array,
  dictionary: Uint8Array,
  options: { windowBits: number; maxSize: number },
) => Uint8Array | undefined;

let nativeInflate: NativeInflate | undefined;

/**
 * Installs a native inflate for this worker's jobs (see {@linkcode NativeInflate}); `undefined` removes it.
 *
 * @example
 * ```ts
 * import { useNativeInflate } from "./_inflate_job.ts";
 * useNativeInflate(undefined); // zlib in WebAssembly only
 * ```
 *
 * @param inflate The native inflate.
 */
export function useNativeInflate(inflate: NativeInflate | undefined): void {
  nativeInflate = inflate;
}

/** One decompressor per window size, reused by the jobs a worker runs. */
const decompressors = new Map<number, Decompressor>();

/**
 * Inflates a job's message from a fresh window holding only its dictionary, as the connection's own
 * decompressor would have.
 *
 * @param job The message and its settings.
 * @returns The result to post back (an error, with its close code for a message refused, never a throw).
 */
export function runInflateJob(job: InflateJob): InflateJobResult {
  try {
    const native = nativeInflate?.(job.input, job.dictionary, job);
    if (native !== undefined) return { id: job.id, output: native };
    let decompressor = decompressors.get(job.windowBits);
    if (decompressor === undefined) {
      decompressor = zlibWasmCodec.createDecompressor(job.windowBits);
      decompressors.set(job.windowBits, decompressor);
    }
    decompressor.prime!(job.dictionary);
    return { id: job.id, output: decompressor.decompress(job.input, true, job.maxSize) };
  } catch (error) {
    const code = error instanceof ProtocolError ? error.code : undefined;
    return { id: job.id, error: error instanceof Error ? error.message : String(error), code };
  }
}
