/**
 * Reconnect delays for {@linkcode ReconnectingWebSocket}: exponential backoff with full jitter, drawn per
 * attempt (never at module load: workerd forbids randomness outside a request).
 *
 * RFC 6455 §7.2.3: "The first reconnect attempt SHOULD be delayed by a random amount of time. [...] a value
 * chosen randomly between 0 and 5 seconds is a reasonable initial delay", and "Should the first reconnect
 * attempt fail, subsequent reconnect attempts SHOULD be delayed by increasingly longer amounts of time,
 * using a method such as truncated binary exponential backoff."
 *
 * @module
 */

/** The backoff schedule of a reconnecting client. All delays are in milliseconds. */
export interface BackoffOptions {
  /**
   * The range of the first failed attempt's wait: the n-th failure in a row (n from 0) waits a random time
   * in `[0, min(maxDelay, minDelay * factor ** n))`.
   * @default {500}
   */
  minDelay?: number;
  /** The longest any wait can be. @default {20000} */
  maxDelay?: number;
  /** How much the range grows with each failure in a row (at least 1). @default {2} */
  factor?: number;
  /**
   * The range of the first retry after a connection that had been open a while dropped: a random time in
   * `[0, min(firstDelay, maxDelay))`. This is the retry every client of a restarted server makes at the
   * same moment; the RFC's 5 s spreads 1,000 of them to fewer than 5 % in any 100 ms.
   * @default {5000}
   */
  firstDelay?: number;
}

/** The defaults of {@linkcode BackoffOptions}. */
const DEFAULTS: Required<BackoffOptions> = { minDelay: 500, maxDelay: 20_000, factor: 2, firstDelay: 5000 };

/**
 * Checks a backoff schedule and fills in the defaults.
 *
 * @param options The schedule.
 * @returns Every field set.
 * @throws {RangeError} For a negative or non-finite delay, or a factor below 1.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveBackoff } from "./backoff.ts";
 * assert.deepEqual(resolveBackoff({ maxDelay: 10_000 }), { minDelay: 500, maxDelay: 10_000, factor: 2, firstDelay: 5000 });
 * assert.throws(() => resolveBackoff({ factor: 0.5 }), RangeError);
 * ```
 */
export function resolveBackoff(options: BackoffOptions = {}): Required<BackoffOptions> {
  const resolved = {
    minDelay: options.minDelay ?? DEFAULTS.minDelay,
    maxDelay: options.maxDelay ?? DEFAULTS.maxDelay,
    factor: options.factor ?? DEFAULTS.factor,
    firstDelay: options.firstDelay ?? DEFAULTS.firstDelay,
  };
  for (const name of ["minDelay", "maxDelay", "firstDelay"] as const) {
    const value = resolved[name];
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(
        `Cannot use backoff: ${name} must be a finite number of milliseconds, at least 0: ${value}`,
      );
    }
  }
  if (!(Number.isFinite(resolved.factor) && resolved.factor >= 1)) {
    throw new RangeError(
      `Cannot use backoff: factor must be a finite number, at least 1: ${resolved.factor}`,
    );
  }
  return resolved;
}

/**
 * The upper bound of the wait after `failures` failed attempts in a row (0 for the first):
 * `min(maxDelay, minDelay * factor ** failures)`.
 *
 * @param failures Failed attempts in a row before this one, from 0.
 * @param options The schedule.
 * @returns Milliseconds.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffCap } from "./backoff.ts";
 * assert.deepEqual([0, 1, 2, 5, 6, 100].map((n) => backoffCap(n)), [500, 1000, 2000, 16_000, 20_000, 20_000]);
 * ```
 */
export function backoffCap(failures: number, options: BackoffOptions = {}): number {
  const { minDelay, maxDelay, factor } = resolveBackoff(options);
  const grown = minDelay === 0 ? 0 : minDelay * factor ** Math.max(0, failures);
  return Number.isFinite(grown) ? Math.min(maxDelay, grown) : maxDelay;
}

/**
 * The wait after `failures` failed attempts in a row, with full jitter: a random time in
 * `[0, backoffCap(failures))`, whole milliseconds.
 *
 * @param failures Failed attempts in a row before this one, from 0.
 * @param options The schedule.
 * @param random A source of numbers in `[0, 1)`.
 * @returns Milliseconds.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffDelay } from "./backoff.ts";
 * const delay = backoffDelay(3);
 * assert(delay >= 0 && delay < 4000);
 * assert.equal(backoffDelay(3, {}, () => 0.5), 2000);
 * ```
 */
export function backoffDelay(
  failures: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCap(failures, options));
}

/**
 * The wait before the first reconnect attempt after a connection that had been open dropped: a random time
 * in `[0, min(firstDelay, maxDelay))`, whole milliseconds (RFC 6455 §7.2.3).
 *
 * @param options The schedule.
 * @param random A source of numbers in `[0, 1)`.
 * @returns Milliseconds.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstRetryDelay } from "./backoff.ts";
 * const delay = firstRetryDelay();
 * assert(delay >= 0 && delay < 5000);
 * assert.equal(firstRetryDelay({ firstDelay: 1000 }, () => 0.25), 250);
 * ```
 */
export function firstRetryDelay(options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { firstDelay, maxDelay } = resolveBackoff(options);
  return Math.floor(random() * Math.min(firstDelay, maxDelay));
}
