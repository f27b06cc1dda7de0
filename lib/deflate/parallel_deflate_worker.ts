/**
 * The Web Worker (Deno, Bun) that deflates pieces of large messages for `parallel_deflate.ts`: it runs
 * each {@linkcode DeflateJob} posted to it and posts the result back, the output's buffer transferred.
 *
 * @module
 */

import { type DeflateJob, runDeflateJob } from "./_deflate_job.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<DeflateJob>) => void) | null;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
}

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = (event) => {
  const result = runDeflateJob(event.data);
  scope.postMessage(result, result.output === undefined ? [] : [result.output.buffer as ArrayBuffer]);
};
