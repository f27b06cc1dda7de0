/**
 * The `worker_threads` worker (Node) that deflates pieces of large messages for
 * `deflate/parallel_deflate.ts`: it runs each job posted to it and posts the result back, the output's
 * buffer transferred. Started by `node_worker_pool.ts`. Deflates with `node:zlib` (see `native_deflate.ts`).
 *
 * @module
 */

import { parentPort } from "node:worker_threads";
import { type DeflateJob, runDeflateJob } from "../deflate/_deflate_job.ts";
import "./native_deflate.ts"; // node:zlib's deflate where it pays

parentPort?.on("message", (job: DeflateJob) => {
  const result = runDeflateJob(job);
  parentPort!.postMessage(result, result.output === undefined ? [] : [result.output.buffer as ArrayBuffer]);
});
