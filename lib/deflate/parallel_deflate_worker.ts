/**
 * The Web Worker (Deno, Bun) that deflates pieces of large messages for `parallel_deflate.ts` (and inflates
 * large received ones): it runs each job posted to it and posts the result back, the output's buffer transferred.
 *
 * @module
 */

import { runWorkerJob, type WorkerJob } from "./_worker_job.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerJob>) => void) | null;
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
}

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = (event) => {
  const result = runWorkerJob(event.data);
  scope.postMessage(result, result.output === undefined ? [] : [result.output.buffer as ArrayBuffer]);
};
