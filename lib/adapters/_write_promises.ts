/**
 * Promise helpers the transport writers share (bun_socket.ts, deno_conn.ts, node_socket.ts): a write's
 * promise must not be reported as an unhandled rejection when nobody awaits it, as a stream writer's is
 * not; the connection reports the failure itself.
 *
 * @module
 */

/** An already settled write: returned where nothing waits. */
export const resolved: Promise<void> = Promise.resolve();

/**
 * A rejected promise that is not reported as unhandled when nobody awaits it (as a stream writer's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { failed } from "./_write_promises.ts";
 * await assert.rejects(failed(new Error("closed")), /closed/);
 * ```
 */
export function failed(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(() => {});
  return promise;
}

/** A promise with its settle functions, for a write that completes later (on `drain`, after a write). */
export interface Deferred {
  /** Settles when `resolve` or `reject` is called. */
  promise: Promise<void>;
  /** Fulfils `promise`. */
  resolve(): void;
  /** Rejects `promise` with `error`. */
  reject(error: unknown): void;
}

/**
 * A {@linkcode Deferred} whose rejection, when nobody waits for it, is not reported as unhandled.
 *
 * @example
 * ```ts
 * import { deferred } from "./_write_promises.ts";
 * const write = deferred();
 * write.resolve();
 * await write.promise;
 * ```
 */
export function deferred(): Deferred {
  let resolve!: () => void, reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a failure nobody waits for is reported by the connection, not as unhandled
  return { promise, resolve, reject };
}
