/**
 * History of a topic: its last messages, each with a position (`epoch` + `offset`), so that a socket that
 * was cut off can subscribe again from where it was and get what it missed, in order and once, or be told
 * plainly that it cannot ("not recovered": never a partial replay). Centrifugo's model
 * (centrifugal.dev, "History and recovery"): offsets count a topic's publications from 1, and the epoch
 * names one life of that count, changing whenever the history was lost (a process restarted, a Redis
 * without persistence restarted, the history expired), so an offset of an old life is never taken for one
 * of the new.
 *
 * Kept in this process ({@linkcode MemoryHistory}) or, with a backplane that keeps history (Redis Streams,
 * `redisBackplane()`), where every node reads the same offsets.
 *
 * @module
 */

import type { PreparedMessage } from "./prepared_message.ts";

/** How much history a topic keeps. */
export interface HistoryOptions {
  /** Messages kept (at least: Redis trims with `MAXLEN ~`, which may keep a few more). @default {100} */
  size?: number;
  /**
   * Milliseconds the history lives after the topic's last publish; then it is gone, and its epoch with it.
   * @default {300000} (5 minutes)
   */
  ttl?: number;
}

/** History for every topic, or per topic (a function: `undefined` for a topic that keeps none). */
export type HistoryOption = HistoryOptions | ((topic: string) => HistoryOptions | undefined);

/** {@linkcode HistoryOptions} with their defaults in place. */
export interface ResolvedHistoryOptions {
  /** Messages kept. */
  size: number;
  /** Milliseconds the history lives after the last publish. */
  ttl: number;
}

/** Where a topic's stream is: the life of its history (`epoch`) and the count of its publications. */
export interface StreamPosition {
  /** Names the life of the topic's history: a different epoch means the offsets started again. */
  epoch: string;
  /** Publications to the topic in this epoch: the offset of the latest (0 before any). */
  offset: number;
}

/** What a subscription from a position did (see `ws.subscribe(topic, { since })`). */
export interface Recovery {
  /** Whether every message after `since` was delivered (`false`: none was, see `reason`). */
  recovered: boolean;
  /** The topic's position when the history was read: where the socket now is. */
  position: StreamPosition;
  /** Messages of the history delivered (0 when not recovered). */
  replayed: number;
  /** Why not recovered: the epoch changed, the history no longer reaches that far, ... */
  reason?: string;
}

/** The data of a publish: a string for text, bytes for binary, or made once its position is known. */
export type PublishData = string | Uint8Array | ((position: StreamPosition) => string | Uint8Array);

/** One message of a history. */
export interface HistoryEntry {
  /** Its offset. */
  offset: number;
  /** The payload (text as UTF-8). */
  payload: Uint8Array;
  /** Whether it is binary. */
  binary: boolean;
}

/** A read of a topic's history. */
export interface HistoryRead {
  /** The topic's epoch. */
  epoch: string;
  /** The offset of its latest publication. */
  top: number;
  /** The entries after the offset asked for, in order, at most `limit` (none if the read asked for none). */
  entries: HistoryEntry[];
}

/** A message for a backplane's history: its bytes, or made once its position is known. */
export type HistoryData =
  | { payload: Uint8Array; binary: boolean }
  | ((position: StreamPosition) => { payload: Uint8Array; binary: boolean });

/**
 * A backplane that keeps the topics' history where every node reads it (Redis Streams): offsets are given by
 * the broker, and every message of a topic with history, this node's own included, comes back through the
 * backplane with its position, in offset order.
 */
export interface HistoryBackplane {
  /**
   * Appends a message to the topic's history and publishes it to every node.
   *
   * @param topic The topic.
   * @param data The message, or what makes it from its position (called again if another node took the
   * position first).
   * @param options The topic's size and ttl.
   * @param context Given back with this node's own message (`RemoteMessage.context`).
   * @returns Its position; rejects if it could not be appended.
   */
  append(
    topic: string,
    data: HistoryData,
    options: ResolvedHistoryOptions,
    context: unknown,
  ): Promise<StreamPosition>;
  /**
   * Reads a topic's history, once the node's subscription to the topic is live on the broker (so that no
   * message falls between the read and the live ones).
   *
   * @param topic The topic.
   * @param after Entries after this offset (`undefined`: none, only the position).
   * @param limit The most entries (the oldest first).
   * @param options The topic's size and ttl.
   */
  read(
    topic: string,
    after: number | undefined,
    limit: number,
    options: ResolvedHistoryOptions,
  ): Promise<HistoryRead>;
}

/** What {@linkcode PubSub.history} returns. */
export interface HistoryPage {
  /** The topic's position when it was read. */
  position: StreamPosition;
  /** Messages, oldest first. */
  entries: HistoryEntry[];
  /**
   * Whether `entries` hold every message after `since` (or, without `since`, the whole history) up to
   * `position`: `false` if the epoch changed, the history no longer reaches back that far, or `limit` cut
   * it.
   */
  complete: boolean;
}

/** Options for {@linkcode PubSub.history}. */
export interface HistoryReadOptions {
  /** Only the messages after this position. @default the whole history */
  since?: StreamPosition;
  /** The most messages returned (the oldest first). @default the topic's `size` */
  limit?: number;
}

const DEFAULT_SIZE = 100;
const DEFAULT_TTL = 300_000;

/**
 * Checks and completes a topic's history options.
 *
 * @param options What was given for the topic.
 * @param where For the error message: `"history"`.
 * @returns The options with their defaults.
 * @throws {RangeError} For a size or ttl that is not a positive integer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveHistoryOptions } from "./history.ts";
 * assert.deepEqual(resolveHistoryOptions({}), { size: 100, ttl: 300000 });
 * assert.throws(() => resolveHistoryOptions({ size: 0 }), RangeError);
 * ```
 */
export function resolveHistoryOptions(options: HistoryOptions, where = "history"): ResolvedHistoryOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot keep history: ${where} is not an object`);
  }
  const { size = DEFAULT_SIZE, ttl = DEFAULT_TTL } = options;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new RangeError(`Cannot keep history: ${where}.size ${size} is not a positive integer`);
  }
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw new RangeError(
      `Cannot keep history: ${where}.ttl ${ttl} is not a positive integer of milliseconds`,
    );
  }
  return { size, ttl };
}

/**
 * Checks a position given by a caller (from a client: its query string, its first message).
 *
 * @param since The position.
 * @param what For the error message.
 * @throws {TypeError} For anything but `{ epoch: string, offset: non-negative safe integer }`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkPosition } from "./history.ts";
 * checkPosition({ epoch: "a1", offset: 3 });
 * assert.throws(() => checkPosition({ epoch: "a1", offset: -1 }), TypeError);
 * ```
 */
export function checkPosition(since: StreamPosition, what = "recover"): void {
  if (typeof since !== "object" || since === null) {
    throw new TypeError(`Cannot ${what}: the position is not an object`);
  }
  if (typeof since.epoch !== "string") {
    throw new TypeError(`Cannot ${what}: the position's epoch is not a string`);
  }
  if (!Number.isSafeInteger(since.offset) || since.offset < 0) {
    throw new TypeError(
      `Cannot ${what}: the position's offset ${since.offset} is not a non-negative integer`,
    );
  }
}

/** The verdict on a read for a subscription from `since`. */
export interface RecoveryCheck {
  /** Whether the read holds every message after `since`. */
  recovered: boolean;
  /** Why not. */
  reason?: string;
}

/**
 * Decides whether a read recovers everything after `since` (never in part).
 *
 * @param read The read (entries after `since.offset`, at most `limit`).
 * @param since Where the subscriber was.
 * @returns The verdict.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRecovery } from "./history.ts";
 * const entry = (offset: number) => ({ offset, payload: new Uint8Array(), binary: false });
 * assert.deepEqual(checkRecovery({ epoch: "e", top: 3, entries: [entry(2), entry(3)] }, { epoch: "e", offset: 1 }), { recovered: true });
 * assert.equal(checkRecovery({ epoch: "e", top: 3, entries: [entry(3)] }, { epoch: "e", offset: 1 }).recovered, false);
 * assert.equal(checkRecovery({ epoch: "f", top: 3, entries: [] }, { epoch: "e", offset: 3 }).recovered, false);
 * ```
 */
export function checkRecovery(read: HistoryRead, since: StreamPosition): RecoveryCheck {
  if (read.epoch !== since.epoch) {
    return {
      recovered: false,
      reason: `the epoch changed (${since.epoch} to ${read.epoch}): the history was lost`,
    };
  }
  if (since.offset > read.top) {
    return { recovered: false, reason: `offset ${since.offset} is past the topic's latest, ${read.top}` };
  }
  const missed = read.top - since.offset;
  const { entries } = read;
  if (entries.length !== missed || (missed > 0 && entries[0].offset !== since.offset + 1)) {
    return {
      recovered: false,
      reason: `the history no longer reaches offset ${
        since.offset + 1
      } (${missed} missed, ${entries.length} kept)`,
    };
  }
  return { recovered: true };
}

/** @returns 8 random hex digits: a new epoch. */
export function newEpoch(): string {
  return [...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** One topic's history in memory. */
interface MemoryStream {
  epoch: string;
  top: number;
  /** Entries from `start` on are kept (older ones are dropped by moving `start`, compacted now and then). */
  entries: { offset: number; message: PreparedMessage }[];
  start: number;
  /** When it was last published to (or made), by `Date.now()`. */
  touched: number;
  ttl: number;
}

/**
 * Histories kept in this process: a bounded list per topic, dropped with its epoch `ttl` ms after the
 * topic's last publish (swept as topics are published to, oldest first: no timer). A restarted process
 * has new epochs, so a client's position from before is "not recovered", never wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryHistory } from "./history.ts";
 * import { PreparedMessage } from "./prepared_message.ts";
 * const history = new MemoryHistory();
 * const options = { size: 2, ttl: 60_000 };
 * const first = history.append("room", () => new PreparedMessage("a"), options).position;
 * history.append("room", () => new PreparedMessage("b"), options);
 * history.append("room", () => new PreparedMessage("c"), options);
 * assert.equal(first.offset, 1);
 * assert.deepEqual(history.read("room", 1, 10, options).entries.map((entry) => entry.offset), [2, 3]);
 * ```
 */
export class MemoryHistory {
  /** By last publish, oldest first (a publish moves its topic to the end). */
  readonly #streams = new Map<string, MemoryStream>();
  readonly #now: () => number;

  /** @param now The clock (for tests). @default {Date.now} */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Topics with a history held. */
  get size(): number {
    return this.#streams.size;
  }

  /**
   * Appends a message.
   *
   * @param topic The topic.
   * @param make Makes the message, given its position (called once).
   * @param options The topic's size and ttl.
   * @returns The position and the message.
   */
  append(
    topic: string,
    make: (position: StreamPosition) => PreparedMessage,
    options: ResolvedHistoryOptions,
  ): { position: StreamPosition; message: PreparedMessage } {
    const now = this.#now();
    const stream = this.#stream(topic, options, now);
    const position = { epoch: stream.epoch, offset: stream.top + 1 };
    const message = make(position);
    stream.top = position.offset;
    stream.entries.push({ offset: position.offset, message });
    if (stream.entries.length - stream.start > options.size) stream.start++;
    if (stream.start > 64 && stream.start * 2 > stream.entries.length) {
      stream.entries = stream.entries.slice(stream.start);
      stream.start = 0;
    }
    stream.touched = now;
    stream.ttl = options.ttl;
    // Last published goes last: the sweep stops at the first topic still alive.
    this.#streams.delete(topic);
    this.#streams.set(topic, stream);
    this.#sweep(now);
    return { position, message };
  }

  /**
   * Reads a topic's history.
   *
   * @param topic The topic.
   * @param after Only entries after this offset (`undefined`: none, only the position).
   * @param limit The most entries.
   * @param options The topic's size and ttl (a topic never published to gets its epoch now).
   * @returns The epoch, the latest offset, and the entries with their prepared messages.
   */
  read(
    topic: string,
    after: number | undefined,
    limit: number,
    options: ResolvedHistoryOptions,
  ): HistoryRead & { messages: PreparedMessage[] } {
    const stream = this.#stream(topic, options, this.#now());
    const entries: HistoryEntry[] = [], messages: PreparedMessage[] = [];
    if (after !== undefined) {
      const list = stream.entries;
      // Offsets are consecutive from `list[start]`: the first wanted is found by arithmetic.
      const first = list.length > stream.start ? list[stream.start].offset : stream.top + 1;
      for (
        let i = stream.start + Math.max(0, after + 1 - first);
        i < list.length && entries.length < limit;
        i++
      ) {
        const { offset, message } = list[i];
        entries.push({ offset, payload: message.payload, binary: message.binary });
        messages.push(message);
      }
    }
    return { epoch: stream.epoch, top: stream.top, entries, messages };
  }

  #stream(topic: string, options: ResolvedHistoryOptions, now: number): MemoryStream {
    let stream = this.#streams.get(topic);
    if (stream !== undefined && now - stream.touched > stream.ttl) {
      this.#streams.delete(topic);
      stream = undefined;
    }
    if (stream === undefined) {
      // A topic read before any publish gets its epoch too (a client starts from it); swept like the others.
      this.#sweep(now);
      stream = { epoch: newEpoch(), top: 0, entries: [], start: 0, touched: now, ttl: options.ttl };
      this.#streams.set(topic, stream);
    }
    return stream;
  }

  /** Drops the histories past their ttl, oldest first, up to the first one alive. */
  #sweep(now: number): void {
    for (const [topic, stream] of this.#streams) {
      if (now - stream.touched <= stream.ttl) break;
      this.#streams.delete(topic);
    }
  }
}
