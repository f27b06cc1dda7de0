/**
 * Workers with the runtime's native zlib for permessage-deflate's parallel deflate
 * (`deflate/parallel_deflate.ts`): Node's `worker_threads` where there is no global `Worker` (Node), Web
 * Workers running `native_deflate_worker.ts` where there is (Deno, Bun; without this, the pool runs zlib
 * in WebAssembly on Web Workers there). The adapters call {@linkcode useNativeDeflateWorkers} when they
 * make a connection or start; workers start only when a large compressed message is sent, and are unref'd
 * where the runtime can (they never keep the process alive).
 *
 * @module
 */

// node:worker_threads and node:os are imported when the pool is set up, not when this file loads: a bundle
// of the client for workerd (no node: modules) carries this file through node_socket.ts and must load.
import type { Worker as NodeWorker } from "node:worker_threads";
import {
  setDeflateWorkerSpawner,
  type SpawnDeflateWorker,
  webDeflateWorkerSpawner,
} from "../deflate/parallel_deflate.ts";
import type { DeflateJobResult } from "../deflate/_deflate_job.ts";

/**
 * Spawns `worker_threads` workers running `node_deflate_worker.js` (`.ts` beside the sources).
 *
 * @example
 * ```ts
 * import { Worker } from "node:worker_threads";
 * import { DeflateWorkerPool } from "../deflate/parallel_deflate.ts";
 * import { nodeDeflateWorkerSpawner } from "./node_worker_pool.ts";
 * const pool = new DeflateWorkerPool(nodeDeflateWorkerSpawner(Worker), 1);
 * pool.close();
 * ```
 *
 * @param Worker `worker_threads`' Worker class.
 * @returns The spawner.
 */
export function nodeDeflateWorkerSpawner(Worker: typeof NodeWorker): SpawnDeflateWorker {
  const here = import.meta.url;
  const url = new URL(`./node_deflate_worker${here.endsWith(".ts") ? ".ts" : ".js"}`, here);
  return (onResult, onError) => {
    const worker = new Worker(url);
    let failed = false;
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      onError(error);
    };
    worker.on("message", (result: DeflateJobResult) => onResult(result));
    worker.on("error", (error) => fail(new Error(`Deflate worker failed: ${error.message}`)));
    worker.on("exit", (code) => {
      if (code !== 0) fail(new Error(`Deflate worker exited with code ${code}`));
    });
    return {
      post: (job, transfer) => worker.postMessage(job, transfer),
      terminate: () => {
        failed = true; // its exit is expected
        void worker.terminate();
      },
      ref: () => worker.ref(),
      unref: () => worker.unref(),
    };
  };
}

let registered: Promise<void> | undefined;

/**
 * Lets large compressed messages be deflated on workers that use the runtime's native `node:zlib` (see
 * `native_deflate.ts`): Web Workers running `native_deflate_worker.ts` where there is a global `Worker`
 * (Deno, Bun), `worker_threads` running `node_deflate_worker.ts` where there is not (Node). Idempotent and
 * cheap: the adapters call it for every connection (or once, when they start). The modules load in the
 * background: until they have, large messages are deflated inline (Node) or on the WebAssembly-only
 * workers (Deno, Bun).
 *
 * @returns Settles once the workers can be used (or cannot be here); the same promise on every call.
 *
 * @example
 * ```ts
 * import { useNativeDeflateWorkers } from "./node_worker_pool.ts";
 * await useNativeDeflateWorkers();
 * ```
 */
export function useNativeDeflateWorkers(): Promise<void> {
  if (registered !== undefined) return registered;
  if (typeof (globalThis as { Worker?: unknown }).Worker === "function") {
    const here = import.meta.url;
    const spawn = webDeflateWorkerSpawner(
      new URL(`./native_deflate_worker${here.endsWith(".ts") ? ".ts" : ".js"}`, here),
    );
    if (spawn !== undefined) setDeflateWorkerSpawner(spawn);
    return registered = Promise.resolve();
  }
  return registered = Promise.all([import("node:worker_threads"), import("node:os")]).then(
    ([{ Worker }, { availableParallelism }]) =>
      setDeflateWorkerSpawner(nodeDeflateWorkerSpawner(Worker), availableParallelism()),
    () => {}, // no worker_threads here: large messages stay inline
  );
}

/**
 * The Node adapters' name for {@linkcode useNativeDeflateWorkers} (which now also serves Deno and Bun).
 *
 * @returns Settles once the workers can be used (or cannot be here); the same promise on every call.
 *
 * @example
 * ```ts
 * import { useNodeDeflateWorkers } from "./node_worker_pool.ts";
 * await useNodeDeflateWorkers();
 * ```
 */
export function useNodeDeflateWorkers(): Promise<void> {
  return useNativeDeflateWorkers();
}
