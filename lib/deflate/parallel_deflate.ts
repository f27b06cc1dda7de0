/**
 * Large messages deflated off the event loop, on a small pool of workers, in pieces compressed in
 * parallel (the way pigz parallelises gzip): each piece is a raw DEFLATE stream started from the 32 KiB
 * before it as a preset dictionary and ended with a sync flush, so the pieces, joined in order, are one
 * valid message that refers to nothing the receiver's window lacks (RFC 7692 §7.2.1).
 *
 * The pool is shared by the process, started on first use, and never keeps a process alive: its workers
 * are unref'd where the runtime can (Bun, Node), and where it cannot (Deno's Web Workers) they are
 * terminated after {@linkcode POOL_IDLE_MS} without work and started again when needed. Workers are Web
 * Workers on the global `Worker` (Deno, Bun); Node's `worker_threads` are wired in by
 * `adapters/node_worker_pool.ts`; where there are none (workerd, browsers' bundles) large messages are
 * deflated inline, as before. The workers run zlib in WebAssembly (`parallel_deflate_worker.ts`), or, once
 * the adapters have registered theirs (`useNativeDeflateWorkers`), the runtime's native `node:zlib` for
 * 15-bit windows (`adapters/native_deflate.ts`: 1.2-1.7x less CPU on 1 MiB of JSON at level 6).
 *
 * @module
 */

import type { CompressorOptions } from "./codec.ts";
import type { InflateJobResult } from "./_inflate_job.ts";
import type { WorkerJob } from "./_worker_job.ts";
import { ProtocolError } from "../core/protocol_error.ts";

/** Milliseconds without a job after which workers that cannot be unref'd are terminated. */
export const POOL_IDLE_MS = 1000;
/**
 * Bytes per piece at least: a message is cut into at most one piece per worker, none smaller than this
 * (each piece re-hashes its 32 KiB dictionary and costs a trip to a worker: with one worker, one piece).
 */
export const DEFAULT_CHUNK_SIZE = 128 * 1024;

/** One worker, as the pool drives it (a Web Worker or a `worker_threads` Worker behind it). */
export interface DeflateWorker {
  /** Posts a job; the buffers in `transfer` move to the worker. */
  post(job: WorkerJob, transfer: ArrayBuffer[]): void;
  /** Ends the worker. */
  terminate(): void;
  /** Lets the worker keep the process alive (while it has jobs); absent where the runtime cannot. */
  ref?(): void;
  /** Lets the process exit while the worker lives; absent where the runtime cannot. */
  unref?(): void;
}

/**
 * Starts a worker that runs {@linkcode DeflateJob}s.
 *
 * @param onResult Called with each result the worker posts.
 * @param onError Called once if the worker fails (it cannot load, or it crashed).
 * @returns The worker.
 */
export type SpawnDeflateWorker = (
  onResult: (result: InflateJobResult) => void,
  onError: (error: Error) => void,
) => DeflateWorker;

interface WebWorkerLike {
  onmessage: ((event: { data: InflateJobResult }) => void) | null;
  onerror: ((event: { message?: string; preventDefault?(): void }) => void) | null;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  terminate(): void;
  ref?(): void;
  unref?(): void;
}

type WebWorkerConstructor = new (url: URL, options: { type: "module" }) => WebWorkerLike;

/**
 * Spawns Web Workers on the global `Worker` running `parallel_deflate_worker.ts` (or `.js` beside a built
 * copy), or the entry given: Deno and Bun. `undefined` where there is no global `Worker`, or where this
 * module was not loaded from a file (a browser's bundle, workerd).
 *
 * @param entry The worker's module, one that runs jobs as `parallel_deflate_worker.ts` does (the adapters
 * give one that deflates with the runtime's native zlib). @default {parallel_deflate_worker.ts}
 * @returns The spawner, or `undefined`.
 */
export function webDeflateWorkerSpawner(entry?: URL): SpawnDeflateWorker | undefined {
  const WebWorker = (globalThis as { Worker?: WebWorkerConstructor }).Worker;
  const here = import.meta.url;
  if (typeof WebWorker !== "function" || !here.startsWith("file:")) return undefined;
  const url = entry ?? new URL(`./parallel_deflate_worker${here.endsWith(".js") ? ".js" : ".ts"}`, here);
  return (onResult, onError) => {
    const worker = new WebWorker(url, { type: "module" });
    worker.onmessage = (event) => onResult(event.data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      onError(new Error(`Deflate worker failed: ${event.message ?? "unknown error"}`));
    };
    return {
      post: (job, transfer) => worker.postMessage(job, transfer),
      terminate: () => worker.terminate(),
      ref: typeof worker.ref === "function" ? () => worker.ref!() : undefined,
      unref: typeof worker.unref === "function" ? () => worker.unref!() : undefined,
    };
  };
}

interface Slot {
  worker: DeflateWorker;
  busy: number; // jobs posted and not answered
}

interface Pending {
  slot: Slot;
  resolve: (output: Uint8Array) => void;
  reject: (error: Error) => void;
  kind: "deflate" | "inflate" | "warm"; // what the result counts as
}

/**
 * A pool of workers that deflate pieces of large messages. Workers start on the first job; a worker
 * that fails fails its jobs and the pool (later calls reject at once, and callers deflate inline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { constants, inflateRawSync } from "node:zlib";
 * import { DeflateWorkerPool, webDeflateWorkerSpawner } from "./parallel_deflate.ts";
 * const spawn = webDeflateWorkerSpawner();
 * if (spawn !== undefined) {
 *   const pool = new DeflateWorkerPool(spawn, 2);
 *   const message = new TextEncoder().encode("Hello, world. ".repeat(50_000));
 *   const deflated = await pool.deflate(message, { windowBits: 15, level: 6, memLevel: 8 });
 *   // RFC 7692 §7.2.2: the receiver appends 00 00 ff ff.
 *   const whole = new Uint8Array([...deflated, 0x00, 0x00, 0xff, 0xff]);
 *   const inflated = inflateRawSync(whole, { finishFlush: constants.Z_SYNC_FLUSH });
 *   assert.deepEqual(new Uint8Array(inflated), message);
 *   pool.close();
 * }
 * ```
 */
export class DeflateWorkerPool {
  /** How many workers it runs at most. */
  readonly size: number;
  readonly #spawn: SpawnDeflateWorker;
  #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failure: Error | undefined;
  #completed = 0;
  #inflated = 0;
  #answered = false; // a worker answered a job since the workers were (re)started
  #warming: Promise<void> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Makes a pool; no worker starts until the first job.
   *
   * @param spawn Starts one worker.
   * @param size Workers at most, 1 or more.
   */
  constructor(spawn: SpawnDeflateWorker, size: number) {
    if (typeof spawn !== "function") {
      throw new TypeError("Cannot create deflate pool: spawn is not a function");
    }
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Cannot create deflate pool: size ${size} is not a positive integer`);
    }
    this.#spawn = spawn;
    this.size = size;
  }

  /** Pieces deflated so far, for monitoring (and tests that must know the workers did the work). */
  get completed(): number {
    return this.#completed;
  }

  /** Messages inflated so far, for monitoring (and tests that must know the workers did the work). */
  get inflated(): number {
    return this.#inflated;
  }

  /**
   * Whether a worker runs and has answered a job: the next job need not wait for one to start (a Web Worker
   * takes 10-100 ms to start, seconds where its module is type-checked first, as under `deno test`).
   */
  get ready(): boolean {
    return this.#answered && this.#slots.length > 0;
  }

  /**
   * Starts a worker if none runs, with an empty job, so that the pool is {@linkcode DeflateWorkerPool.ready}
   * once it answers. Where workers cannot be unref'd it ends after {@linkcode POOL_IDLE_MS} without work, as
   * after any job.
   *
   * @returns Settles once the pool is ready (or has failed).
   *
   * @example
   * ```ts
   * import { DeflateWorkerPool, webDeflateWorkerSpawner } from "./parallel_deflate.ts";
   * const spawn = webDeflateWorkerSpawner();
   * if (spawn !== undefined) {
   *   const pool = new DeflateWorkerPool(spawn, 1);
   *   await pool.warm();
   *   pool.close();
   * }
   * ```
   */
  warm(): Promise<void> {
    if (this.#warming !== undefined) return this.#warming;
    if (this.#failure !== undefined || this.ready) return Promise.resolve();
    const empty = new Uint8Array(0);
    const warming = this.#run({ kind: "inflate", id: this.#nextId++, input: empty, dictionary: empty.slice(), windowBits: 15, maxSize: 1 }, "warm")
      .then(() => {}, () => {})
      .finally(() => {
        if (this.#warming === warming) this.#warming = undefined;
      });
    return this.#warming = warming;
  }

  /** Why the pool failed, if it did (its jobs then reject at once). */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Deflates a whole message in pieces (one per worker, of `chunkSize` bytes at least), on the workers, in
   * parallel: each piece from
   * the `2^windowBits` bytes before it as a dictionary, each ended with a sync flush; the last loses its
   * trailing `00 00 ff ff` (RFC 7692 §7.2.1). The message's bytes are copied (the caller keeps them).
   *
   * @param message The message's payload.
   * @param options Window, level and memory settings of the receiving connection's compressor.
   * @param chunkSize Bytes per piece. @default {DEFAULT_CHUNK_SIZE}
   * @returns The compressed payload.
   */
  async deflate(
    message: Uint8Array,
    options: CompressorOptions,
    chunkSize: number = DEFAULT_CHUNK_SIZE,
  ): Promise<Uint8Array> {
    if (!(message instanceof Uint8Array)) throw new TypeError("Cannot deflate: message is not a Uint8Array");
    if (!Number.isInteger(chunkSize) || chunkSize < 1024) {
      throw new RangeError(`Cannot deflate: chunkSize ${chunkSize} is not an integer of at least 1024`);
    }
    // zlib makes no raw stream with an 8-bit window; 9 bits never refer farther than 250 bytes, which an
    // 8-bit window holds (as zlib_wasm_codec.ts does).
    const windowBits = Math.max(options.windowBits, 9);
    const window = 2 ** windowBits;
    const pieces: Promise<Uint8Array>[] = [];
    const pieceSize = Math.max(chunkSize, Math.ceil(message.length / this.size));
    for (let start = 0; start < message.length || start === 0; start += pieceSize) {
      const end = Math.min(start + pieceSize, message.length);
      const input = transferableCopy(message.subarray(start, end));
      const dictionary = transferableCopy(message.subarray(Math.max(0, start - window), start));
      pieces.push(this.#run({
        id: this.#nextId++,
        input,
        dictionary,
        windowBits,
        level: options.level,
        memLevel: options.memLevel,
        end: end === message.length,
      }));
    }
    const outputs = await Promise.all(pieces);
    if (outputs.length === 1) return outputs[0];
    let length = 0;
    for (const output of outputs) length += output.length;
    const joined = new Uint8Array(length);
    let offset = 0;
    for (const output of outputs) {
      joined.set(output, offset);
      offset += output.length;
    }
    return joined;
  }

  /**
   * Inflates a whole received message on a worker, with zlib in WebAssembly from a window holding only
   * `dictionary` (the receiver's window before the message: RFC 7692 §7.2.2), the `00 00 ff ff` appended.
   * The message's bytes are copied (the caller keeps them).
   *
   * @param message The message's payload as received.
   * @param dictionary The receiver's window before it (empty without context takeover).
   * @param windowBits Base-2 logarithm of the peer's LZ77 window, 8..15.
   * @param maxSize Largest output allowed.
   * @returns The inflated payload; rejects with a `ProtocolError` (1007 corrupt, 1009 past `maxSize`) for a
   * message refused, with another error when the workers failed (inflate it inline then).
   */
  inflate(message: Uint8Array, dictionary: Uint8Array, windowBits: number, maxSize: number): Promise<Uint8Array> {
    if (!(message instanceof Uint8Array)) return Promise.reject(new TypeError("Cannot inflate: message is not a Uint8Array"));
    return this.#run({
      kind: "inflate",
      id: this.#nextId++,
      input: transferableCopy(message),
      dictionary: transferableCopy(dictionary),
      windowBits,
      maxSize,
    });
  }

  /** Terminates the workers; jobs not answered reject. A later job starts workers again. */
  close(): void {
    this.#shutDown(new Error("Cannot deflate: the worker pool was closed"));
  }

  #shutDown(error: Error): void {
    this.#stopIdleTimer();
    const slots = this.#slots;
    this.#slots = [];
    this.#answered = false;
    for (const slot of slots) slot.worker.terminate();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const each of pending) each.reject(error);
  }

  #run(job: WorkerJob, kind: "deflate" | "inflate" | "warm" = ("kind" in job) ? "inflate" : "deflate"): Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    let slot: Slot;
    try {
      slot = this.#pick();
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      return Promise.reject(this.#failure);
    }
    this.#stopIdleTimer();
    if (slot.busy++ === 0) slot.worker.ref?.();
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(job.id, { slot, resolve, reject, kind });
      slot.worker.post(job, [job.input.buffer as ArrayBuffer, job.dictionary.buffer as ArrayBuffer]);
    });
  }

  /** The least busy worker, starting one while there are fewer than `size` and all are busy. */
  #pick(): Slot {
    let best: Slot | undefined;
    for (const slot of this.#slots) if (best === undefined || slot.busy < best.busy) best = slot;
    if (best !== undefined && (best.busy === 0 || this.#slots.length >= this.size)) return best;
    const slot: Slot = { worker: undefined!, busy: 0 };
    slot.worker = this.#spawn(
      (result) => this.#settle(result),
      (error) => this.#fail(error),
    );
    slot.worker.unref?.();
    this.#slots.push(slot);
    return slot;
  }

  #settle(result: InflateJobResult): void {
    const pending = this.#pending.get(result.id);
    if (pending === undefined) return;
    this.#pending.delete(result.id);
    this.#answered = true;
    this.#release(pending.slot);
    if (result.output !== undefined) {
      if (pending.kind === "inflate") this.#inflated++;
      else if (pending.kind === "deflate") this.#completed++;
      pending.resolve(result.output);
    } else if (result.code !== undefined) pending.reject(new ProtocolError(result.code, result.error ?? ""));
    else pending.reject(new Error(`Cannot deflate: ${result.error ?? "no output"}`));
  }

  #release(slot: Slot): void {
    if (--slot.busy === 0) slot.worker.unref?.();
    this.#idleLater();
  }

  #idleLater(): void {
    if (this.#pending.size !== 0 || this.#slots.length === 0) return;
    // Workers that cannot be unref'd would keep the process alive: they end after a while without work.
    if (this.#slots.some((each) => each.worker.unref === undefined)) {
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        if (this.#pending.size === 0) this.close();
      }, POOL_IDLE_MS);
    }
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#shutDown(this.#failure);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The process's pools

let registeredSpawner: SpawnDeflateWorker | undefined;
let registeredCores: number | undefined;
const pools = new Map<number, DeflateWorkerPool>();
const inflatePools = new Map<number, DeflateWorkerPool>();

/**
 * Sets how this process starts deflate workers, for runtimes with no global `Worker` (Node's
 * `worker_threads`: `adapters/node_worker_pool.ts` calls it). Pools already started keep theirs.
 *
 * @example
 * ```ts
 * import { setDeflateWorkerSpawner, webDeflateWorkerSpawner } from "./parallel_deflate.ts";
 * const spawn = webDeflateWorkerSpawner();
 * if (spawn !== undefined) setDeflateWorkerSpawner(spawn, 2);
 * ```
 *
 * @param spawn Starts one worker.
 * @param cores CPU cores of the machine, for the default pool size. @default {navigator.hardwareConcurrency}
 */
export function setDeflateWorkerSpawner(spawn: SpawnDeflateWorker, cores?: number): void {
  if (typeof spawn !== "function") {
    throw new TypeError("Cannot set deflate worker spawner: spawn is not a function");
  }
  registeredSpawner = spawn;
  registeredCores = cores;
}

/**
 * A copy of `bytes` in an ArrayBuffer of its own, to transfer to a worker (no second copy by structured
 * clone). Not `slice()`: on a Node Buffer that is a view, and transferring its buffer would detach the
 * caller's memory (a Bun socket chunk: the frames behind a message) or list one ArrayBuffer twice (Bun: a
 * DataCloneError).
 */
function transferableCopy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * Workers in the shared pool unless told otherwise: `min(2, cores)`, 0 on one core. Two on two cores: the
 * event loop's share of a large compressed echo is small (2-2.4 ms of 25-29 ms CPU per 1 MiB message), and
 * one worker made the deflate the bottleneck. 1 MiB compressed JSON echo on this 2-core machine
 * (`bench/parallel_deflate_bench.ts`, one run each): 1 worker 33-49 msgs/s (1.14-1.65x `ws`), 2 workers
 * 60-66 msgs/s (2.07-2.28x), the canary's p99 ratio unchanged within the noise.
 *
 * @returns The default pool size.
 */
export function defaultDeflateWorkers(): number {
  const cores = registeredCores ??
    (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return cores <= 1 ? 0 : Math.min(2, cores);
}

/**
 * The process's shared pool of `workers` workers, started lazily; `undefined` where no worker can run
 * here (workerd, browsers) or for 0 workers, or once that pool has failed.
 *
 * @example
 * ```ts
 * import { closeDeflateWorkers, sharedDeflatePool } from "./parallel_deflate.ts";
 * const pool = sharedDeflatePool(); // Deno, Bun; Node once adapters/node_worker_pool.ts is loaded
 * closeDeflateWorkers();
 * ```
 *
 * @param workers Pool size. @default {defaultDeflateWorkers()}
 * @returns The pool, or `undefined`.
 */
export function sharedDeflatePool(workers: number = defaultDeflateWorkers()): DeflateWorkerPool | undefined {
  return sharedPool(pools, workers);
}

/**
 * The process's shared pool of `workers` workers for large received messages (`PerMessageDeflate`'s
 * inflates), apart from {@linkcode sharedDeflatePool}'s: a message's inflate does not wait behind the
 * deflate of the message before it (an echo's pipeline keeps its overlap: with one pool on two cores, the
 * next message's inflate queued behind the 20 ms deflate of the last, and a 1 MiB echo lost a third of its
 * rate). `undefined` where no worker can run here, for 0 workers, or once that pool has failed.
 *
 * @example
 * ```ts
 * import { closeDeflateWorkers, sharedInflatePool } from "./parallel_deflate.ts";
 * const pool = sharedInflatePool(); // Deno, Bun; Node once adapters/node_worker_pool.ts is loaded
 * closeDeflateWorkers();
 * ```
 *
 * @param workers Pool size. @default {defaultDeflateWorkers()}
 * @returns The pool, or `undefined`.
 */
export function sharedInflatePool(workers: number = defaultDeflateWorkers()): DeflateWorkerPool | undefined {
  return sharedPool(inflatePools, workers);
}

function sharedPool(cache: Map<number, DeflateWorkerPool>, workers: number): DeflateWorkerPool | undefined {
  if (!Number.isInteger(workers) || workers < 0) {
    throw new RangeError(`Cannot start deflate workers: ${workers} is not a count`);
  }
  if (workers === 0) return undefined;
  let pool = cache.get(workers);
  if (pool === undefined) {
    const spawn = registeredSpawner ?? webDeflateWorkerSpawner();
    if (spawn === undefined) return undefined;
    pool = new DeflateWorkerPool(spawn, workers);
    cache.set(workers, pool);
  }
  return pool.failure === undefined ? pool : undefined;
}

/**
 * Terminates the shared pools' workers (a later large message starts them again): for a clean shutdown
 * or the end of a test. Messages being deflated on them are deflated inline instead.
 *
 * @example
 * ```ts
 * import { closeDeflateWorkers } from "./parallel_deflate.ts";
 * closeDeflateWorkers();
 * ```
 */
export function closeDeflateWorkers(): void {
  for (const pool of [...pools.values(), ...inflatePools.values()]) pool.close();
  pools.clear();
  inflatePools.clear();
}
