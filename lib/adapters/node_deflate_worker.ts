/**
 * The `worker_threads` worker (Node) that deflates pieces of large messages for
 * `deflate/parallel_deflate.ts` (and inflates large received ones): it runs each job posted to it and posts the result back, the output's
 * buffer transferred. Started by `node_worker_pool.ts`. Deflates with `node:zlib` (see `native_deflate.ts`).
 *
 * @module
 */

import { parentPort } from "node:worker_threads";
import { runWorkerJob, type WorkerJob } from "../deflate/_worker_job.ts";
import "./native_deflate.ts"; // node:zlib's deflate where it pays
import "./native_inflate.ts"; // and its inflate

parentPort?.on("message", (job: WorkerJob) => {
  const result = runWorkerJob(job);
  parentPort!.postMessage(result, result.output === undefined ? [] : [result.output.buffer as ArrayBuffer]);
});
