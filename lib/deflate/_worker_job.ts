/**
 * What the deflate pool's workers run: a piece of a message to deflate (`_deflate_job.ts`) or a whole
 * received message to inflate (`_inflate_job.ts`). Both worker entries (`parallel_deflate_worker.ts`,
 * `adapters/node_deflate_worker.ts`) call {@linkcode runWorkerJob}.
 *
 * @module
 */

import { type DeflateJob, runDeflateJob } from "./_deflate_job.ts";
import { type InflateJob, type InflateJobResult, runInflateJob } from "./_inflate_job.ts";

/** A job posted to a worker. */
export type WorkerJob = DeflateJob | InflateJob;

/**
 * Runs a job of either kind.
 *
 * @param job The job.
 * @returns Its result (never a throw).
 */
export function runWorkerJob(job: WorkerJob): InflateJobResult {
  return "kind" in job && job.kind === "inflate" ? runInflateJob(job) : runDeflateJob(job as DeflateJob);
}
