/**
 * History on Redis (Streams), for the Redis backplane: one stream per topic and a small hash beside it
 * holding the epoch and the latest offset, both named from the backplane's prefix and the topic
 * (`{ws:room}:stream`, `{ws:room}:meta`: the braces keep them in the channel's Cluster slot).
 *
 * Offsets are given by Redis, in one Lua script per batch of a topic's publishes, as Centrifugo does
 * (centrifugal/centrifuge, `internal/redis_lua/broker_history_add_stream.lua`): `HINCRBY` the offset, `XADD`
 * with that offset as the entry id and `MAXLEN ~ size`, `SPUBLISH` the message with its position, `PEXPIRE`
 * both keys by `ttl`. A script runs whole, so the messages reach every node in offset order, and a lost
 * hash (Redis restarted without persistence, `FLUSHALL`, the ttl) gives a new epoch, never reused offsets.
 *
 * A message made from its position (a function) is made before it is sent: with the position this node
 * expects, which the script checks (and refuses, answering the real one, if another node took it first; the
 * function is then called again).
 *
 * @module
 */

import type {
  HistoryBackplane,
  HistoryData,
  HistoryRead,
  ResolvedHistoryOptions,
  StreamPosition,
} from "../pubsub/history.ts";
import { newEpoch } from "../pubsub/history.ts";
import { encodeEnvelope, FLAG_POSITIONED } from "./_envelope.ts";
import type { RedisConnection } from "./redis_connection.ts";

/**
 * Appends a batch. KEYS: stream, meta. ARGV: 1 channel, 2 size, 3 ttl (ms), 4 the epoch if new, 5 the
 * expected first offset (0: any; -1: append nothing, answer the position), 6 the expected epoch, 7 the
 * publish command; then per message: its envelope header, `1` if binary else `0`, its payload.
 * Answers `{1, epoch, top}` (appended) or `{0, epoch, top}` (refused: not the expected position).
 */
const APPEND = `
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[4]
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch, 's', '0')
end
local top = tonumber(redis.call('hget', KEYS[2], 's'))
local expected = tonumber(ARGV[5])
if expected ~= 0 and (expected ~= top + 1 or ARGV[6] ~= epoch) then
  redis.call('pexpire', KEYS[2], ARGV[3])
  return {0, epoch, top}
end
for i = 8, #ARGV, 3 do
  top = top + 1
  local offset = string.format('%d', top)
  redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[2], offset .. '-0', 'b', ARGV[i + 1], 'd', ARGV[i + 2])
  redis.call(ARGV[7], ARGV[1], ARGV[i] .. string.char(#epoch) .. epoch .. string.char(#offset) .. offset .. ARGV[i + 2])
end
redis.call('hset', KEYS[2], 's', string.format('%d', top))
redis.call('pexpire', KEYS[1], ARGV[3])
redis.call('pexpire', KEYS[2], ARGV[3])
return {1, epoch, top}
`;

/**
 * Reads. KEYS: stream, meta. ARGV: 1 entries after this offset (-1: none), 2 the most entries, 3 the
 * epoch if new, 4 ttl (ms). Answers `{epoch, top, entries}` (entries as XRANGE gives them).
 */
const READ = `
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[3]
  redis.call('del', KEYS[1])
  redis.call('hset', KEYS[2], 'e', epoch, 's', '0')
  redis.call('pexpire', KEYS[2], ARGV[4])
end
local top = tonumber(redis.call('hget', KEYS[2], 's'))
local after = tonumber(ARGV[1])
if after < 0 or top <= after or tonumber(ARGV[2]) == 0 then return {epoch, top, {}} end
return {epoch, top, redis.call('xrange', KEYS[1], string.format('%d', after + 1) .. '-0', '+', 'COUNT', ARGV[2])}
`;

/** Messages of a topic sent in one script. */
const MAX_BATCH = 256;
/** Attempts of a batch made from its positions, refused because another node took them first. */
const MAX_ATTEMPTS = 16;

/** What the history needs of its backplane. */
export interface RedisHistoryHost {
  /** The channel (and key) prefix. */
  readonly prefix: string;
  /** Whether publishes are sharded (`SPUBLISH`). */
  readonly sharded: boolean;
  /** This node's id, as envelopes carry it. */
  readonly origin: Uint8Array;
  /** The publisher connection, if it is up. */
  publisher(): RedisConnection | undefined;
  /** The next sequence number of a topic published here. */
  nextSequence(topic: string): number;
  /** Whether the node follows the topic (it then gets its own messages back). */
  wanted(topic: string): boolean;
  /** Resolves when the node's subscriptions asked for so far are answered by Redis. */
  subscribed(): Promise<void>;
}

/** One publish waiting for its batch. */
interface Pending {
  data: HistoryData;
  options: ResolvedHistoryOptions;
  context: unknown;
  resolve(position: StreamPosition): void;
  reject(error: Error): void;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * @param value A bulk string as the client gave it.
 * @returns It as text.
 */
function text(value: unknown): string {
  return value instanceof Uint8Array ? decoder.decode(value) : String(value);
}

/** The history of a Redis backplane's topics (see the module's doc). */
export class RedisHistory implements HistoryBackplane {
  readonly #host: RedisHistoryHost;
  readonly #queues = new Map<string, Pending[]>();
  /** The latest position known per topic (from replies and messages): what a made message expects. */
  readonly #tops = new Map<string, StreamPosition>();
  /** Per topic, the contexts of this node's messages not read back yet, by sequence. */
  readonly #contexts = new Map<string, Map<number, unknown>>();
  /** Reads not sent yet, by what they read: joined by the same read asked meanwhile. */
  readonly #reads = new Map<string, Promise<HistoryRead>>();

  /** @param host The backplane. */
  constructor(host: RedisHistoryHost) {
    this.#host = host;
  }

  append(
    topic: string,
    data: HistoryData,
    options: ResolvedHistoryOptions,
    context: unknown,
  ): Promise<StreamPosition> {
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(topic);
      if (queue === undefined) {
        this.#queues.set(topic, queue = []);
        queueMicrotask(() => void this.#drain(topic));
      }
      queue.push({ data, options, context, resolve, reject });
    });
  }

  read(
    topic: string,
    after: number | undefined,
    limit: number,
    options: ResolvedHistoryOptions,
  ): Promise<HistoryRead> {
    // Reads of the same entries asked before one is sent are one read (a reconnect storm asks the same).
    const key = `${after ?? -1}\0${limit}\0${topic}`;
    let read = this.#reads.get(key);
    if (read === undefined) this.#reads.set(key, read = this.#read(topic, after, limit, options, key));
    return read;
  }

  async #read(
    topic: string,
    after: number | undefined,
    limit: number,
    options: ResolvedHistoryOptions,
    key: string,
  ): Promise<HistoryRead> {
    try {
      await Promise.resolve(); // set in #reads first
      // The read must come after the subscription is live: what is published after it arrives live.
      if (this.#host.wanted(topic)) await this.#host.subscribed();
    } finally {
      this.#reads.delete(key);
    }
    const reply = await this.#script(READ, topic, [
      String(after ?? -1),
      String(limit),
      newEpoch(),
      String(options.ttl),
    ]);
    const [epoch, top, rows] = reply as [unknown, number, [unknown, unknown[]][]];
    const entries = rows.map(([id, fields]) => {
      const values = new Map<string, unknown>();
      for (let i = 0; i + 1 < fields.length; i += 2) values.set(text(fields[i]), fields[i + 1]);
      const payload = values.get("d");
      return {
        offset: Number(text(id).split("-")[0]),
        payload: payload instanceof Uint8Array ? payload : encoder.encode(String(payload ?? "")),
        binary: text(values.get("b")) === "1",
      };
    });
    return { epoch: text(epoch), top: Number(top), entries };
  }

  /**
   * A message of a topic with history, read from Redis.
   *
   * @returns The context its append was given, for this node's own message.
   */
  received(topic: string, own: boolean, sequence: number, position: StreamPosition): unknown {
    const top = this.#tops.get(topic);
    if (top === undefined || top.epoch !== position.epoch || top.offset < position.offset) {
      this.#tops.set(topic, position);
    }
    if (!own) return undefined;
    const contexts = this.#contexts.get(topic);
    const context = contexts?.get(sequence);
    if (contexts !== undefined && contexts.delete(sequence) && contexts.size === 0) {
      this.#contexts.delete(topic);
    }
    return context;
  }

  /** The node stopped following the topic (or lost the link): its own messages will not come back. */
  forget(topic?: string): void {
    if (topic === undefined) this.#contexts.clear();
    else this.#contexts.delete(topic);
  }

  async #drain(topic: string): Promise<void> {
    for (
      let queue = this.#queues.get(topic);
      queue !== undefined && queue.length > 0;
      queue = this.#queues.get(topic)
    ) {
      const batch = queue.splice(0, MAX_BATCH);
      try {
        await this.#send(topic, batch);
      } catch (error) {
        for (const pending of batch) pending.reject(error as Error);
      }
    }
    this.#queues.delete(topic);
  }

  async #send(topic: string, batch: Pending[]): Promise<void> {
    const { options } = batch[0];
    const made = batch.some((pending) => typeof pending.data === "function");
    let expected = made ? this.#tops.get(topic) : undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (made && expected === undefined) {
        // Where is the topic? Asked with nothing appended.
        const [, epoch, top] = await this.#script(APPEND, topic, this.#head(topic, options, "-1", ""));
        expected = { epoch: text(epoch), offset: Number(top) };
      }
      const wanted = this.#host.wanted(topic);
      const sequences: number[] = [];
      const args = this.#head(
        topic,
        options,
        expected === undefined ? "0" : String(expected.offset + 1),
        expected?.epoch ?? "",
      );
      try {
        for (let i = 0; i < batch.length; i++) {
          const pending = batch[i];
          const data = typeof pending.data === "function"
            ? pending.data({ epoch: expected!.epoch, offset: expected!.offset + 1 + i })
            : pending.data;
          const sequence = this.#host.nextSequence(topic);
          sequences.push(sequence);
          const header = encodeEnvelope(this.#host.origin, sequence, data.binary, new Uint8Array(0));
          header[1] |= FLAG_POSITIONED;
          args.push(header, data.binary ? "1" : "0", data.payload);
          if (wanted) {
            let contexts = this.#contexts.get(topic);
            if (contexts === undefined) this.#contexts.set(topic, contexts = new Map());
            contexts.set(sequence, pending.context);
          }
        }
      } catch (error) {
        // A function that made a message threw: the batch fails, and leaves nothing behind.
        this.#drop(topic, sequences);
        throw error;
      }
      let reply: unknown[];
      try {
        reply = await this.#script(APPEND, topic, args);
      } catch (error) {
        this.#drop(topic, sequences);
        throw error;
      }
      const [appended, epochBytes, top] = reply as [number, unknown, number];
      const epoch = text(epochBytes);
      if (appended === 1) {
        this.#tops.set(topic, { epoch, offset: Number(top) });
        const first = Number(top) - batch.length + 1;
        batch.forEach((pending, i) => pending.resolve({ epoch, offset: first + i }));
        return;
      }
      this.#drop(topic, sequences);
      expected = { epoch, offset: Number(top) };
    }
    throw new Error(
      `Cannot append to "${topic}": other nodes took the next offset ${MAX_ATTEMPTS} times in a row`,
    );
  }

  #head(
    topic: string,
    options: ResolvedHistoryOptions,
    expected: string,
    epoch: string,
  ): (string | Uint8Array)[] {
    const { prefix, sharded } = this.#host;
    return [
      prefix + topic,
      String(options.size),
      String(options.ttl),
      newEpoch(),
      expected,
      epoch,
      sharded ? "spublish" : "publish",
    ];
  }

  #drop(topic: string, sequences: number[]): void {
    const contexts = this.#contexts.get(topic);
    if (contexts === undefined) return;
    for (const sequence of sequences) contexts.delete(sequence);
    if (contexts.size === 0) this.#contexts.delete(topic);
  }

  #script(source: string, topic: string, args: (string | Uint8Array)[]): Promise<unknown[]> {
    const publisher = this.#host.publisher();
    if (publisher === undefined) {
      return Promise.reject(new Error("Cannot use the history: the link to Redis is down"));
    }
    if (publisher.script === undefined) {
      return Promise.reject(new Error("Cannot use the history: the Redis client given has no script()"));
    }
    const channel = this.#host.prefix + topic;
    return publisher.script(source, [`{${channel}}:stream`, `{${channel}}:meta`], args) as Promise<unknown[]>;
  }
}
