/**
 * The default {@linkcode RedisConnectionFactory}, over `ioredis`: loaded by `redisBackplane()` only when no
 * `client` is given, so that nobody else loads it.
 *
 * ioredis is told not to queue commands while the link is down, nor to send again those in flight when it
 * dropped (`enableOfflineQueue`, `autoResendUnfulfilledCommands`: the backplane counts what it could not
 * publish, and receivers see the gap), and not to resubscribe by itself (`autoResubscribe: false`:
 * the backplane does, for every topic, and checks it with `PUBSUB SHARDNUMSUB`/`NUMSUB`, because client
 * libraries have shipped without it working: socketio/socket.io#4845, oven-sh/bun#33450).
 *
 * @module
 */

import { Redis } from "ioredis";
import type { RedisConnection, RedisConnectionFactory, RedisConnectionOptions } from "./redis_connection.ts";

/** The longest wait between two attempts to reconnect. */
const MAX_RECONNECT_DELAY_MS = 1000;
/** The longest wait for Redis to answer QUIT. */
const QUIT_WAIT_MS = 1000;

/** Node's `Buffer`: ioredis sends bytes only from a `Buffer` (a global in Node, Bun and Deno 2). */
interface BufferConstructor {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): Uint8Array;
}

const decoder = new TextDecoder();
/** The SHA-1 of each script run, as EVALSHA names it. */
const shas = new Map<string, string>();

/**
 * @param source A script.
 * @returns Its SHA-1, in hex.
 */
async function sha1(source: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", new TextEncoder().encode(source)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * @param bytes Bytes.
 * @returns A `Buffer` over the same memory (no copy).
 */
function asBuffer(bytes: Uint8Array): Uint8Array {
  const { Buffer } = globalThis as unknown as { Buffer: BufferConstructor };
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * What {@linkcode runScript} uses of an ioredis client (a `Redis`, or a `Cluster`, which routes by the keys):
 * the `Buffer` variants of `EVALSHA` and `EVAL`, which ioredis has but its typings leave out.
 */
interface ScriptClient {
  evalshaBuffer(...args: unknown[]): Promise<unknown>;
  evalBuffer(...args: unknown[]): Promise<unknown>;
}

/**
 * Runs a Lua script with an ioredis client: `EVALSHA`, then `EVAL` if Redis answers `NOSCRIPT`.
 *
 * @param client The client.
 * @param source The script.
 * @param keys Its keys.
 * @param args Its arguments (bytes sent as they are).
 * @returns Its reply, bulk strings as bytes.
 */
export async function runScript(
  client: object,
  source: string,
  keys: readonly string[],
  args: readonly (string | Uint8Array)[],
): Promise<unknown> {
  const sha = shas.get(source) ?? await sha1(source);
  shas.set(source, sha);
  const rest = [keys.length, ...keys, ...args.map((arg) => typeof arg === "string" ? arg : asBuffer(arg))];
  // Bytes go as the Buffers asBuffer made: ioredis's types know them as Node's Buffer.
  const scripts = client as ScriptClient;
  try {
    return await scripts.evalshaBuffer(sha, ...rest);
  } catch (error) {
    if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
    return await scripts.evalBuffer(source, ...rest);
  }
}

/**
 * @param attempt The attempt, from 1.
 * @returns The wait before it: 50 ms doubling up to 1 s, less up to a quarter at random (so that the nodes
 * of a deployment do not all come back in the same millisecond after a restart of Redis).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reconnectDelay } from "./_ioredis_connection.ts";
 * assert.ok(reconnectDelay(1) > 37 && reconnectDelay(1) <= 50);
 * assert.ok(reconnectDelay(30) > 750 && reconnectDelay(30) <= 1000);
 * ```
 */
export function reconnectDelay(attempt: number): number {
  const delay = Math.min(50 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS);
  return Math.round(delay * (1 - Math.random() / 4));
}

/**
 * Connects with ioredis.
 *
 * @param options The URL, role, name and events.
 * @returns The connection, once ready.
 * @example
 * ```ts ignore
 * import { ioredisConnection } from "./_ioredis_connection.ts";
 * const connection = await ioredisConnection({
 *   url: "redis://127.0.0.1:6379",
 *   role: "publisher",
 *   name: "example",
 *   events: { message() {}, ready() {}, down() {} },
 * });
 * await connection.publish([["ws:room", new TextEncoder().encode("hello")]], true);
 * await connection.close();
 * ```
 */
export const ioredisConnection: RedisConnectionFactory = async (
  options: RedisConnectionOptions,
): Promise<RedisConnection> => {
  const { url, events } = options;
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResubscribe: false,
    // A command in flight when the link drops fails (and is counted) rather than being sent again later.
    autoResendUnfulfilledCommands: false,
    // CLIENT SETNAME takes no spaces.
    connectionName: options.name.replace(/[^!-~]/g, "_"),
    retryStrategy: reconnectDelay,
  });
  let lastError = "";
  let state: "connecting" | "up" | "down" | "closed" = "connecting";
  redis.on("error", (error: Error) => lastError = error.message);
  redis.on("close", () => {
    if (state !== "up") return;
    state = "down";
    events.down(lastError === "" ? "the connection closed" : lastError);
  });
  redis.on("ready", () => {
    if (state !== "down") return;
    state = "up";
    lastError = "";
    events.ready();
  });
  const message = (channel: Uint8Array, bytes: Uint8Array) => events.message(decoder.decode(channel), bytes);
  redis.on("messageBuffer", message);
  redis.on("smessageBuffer", message);
  try {
    await redis.connect();
    state = "up";
  } catch (error) {
    state = "closed";
    redis.disconnect();
    throw new Error(`Cannot connect to Redis: ${lastError === "" ? (error as Error).message : lastError}`);
  }
  return {
    async publish(batch, sharded) {
      const command = sharded ? "spublish" : "publish";
      const results = await redis.pipeline(
        batch.map(([channel, bytes]) => [command, channel, asBuffer(bytes)]),
      ).exec();
      if (results === null) throw new Error("Cannot publish: the pipeline was not run");
      let refused = 0;
      for (const [error] of results) if (error !== null) refused++;
      // Every command failed the same way when the link was down: that is a failed batch.
      if (refused === batch.length && refused > 0 && state !== "up") throw results[0][0];
      return refused;
    },
    async subscribe(channels, sharded) {
      if (channels.length === 0) return;
      await (sharded ? redis.ssubscribe(...channels) : redis.subscribe(...channels));
    },
    async unsubscribe(channels, sharded) {
      if (channels.length === 0) return;
      await (sharded ? redis.sunsubscribe(...channels) : redis.unsubscribe(...channels));
    },
    async subscriberCounts(channels, sharded) {
      const reply = await redis.call("PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", ...channels) as unknown[];
      return channels.map((_, i) => Number(reply[2 * i + 1]));
    },
    async commands(batch) {
      const results = await redis.pipeline(
        batch.map((
          words,
        ) => ["call", ...words.map((word) => typeof word === "string" ? word : asBuffer(word))]),
      ).exec();
      if (results === null) throw new Error("Cannot send the commands: the pipeline was not run");
      if (results.length > 0 && results.every(([error]) => error !== null) && state !== "up") {
        throw results[0][0];
      }
      return results.map(([error, reply]) => error ?? reply);
    },
    script: (source, keys, args) => runScript(redis, source, keys, args),
    async close() {
      state = "closed";
      // QUIT waits for Redis to answer: a stalled link is dropped after a second.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<void>((resolve) => timer = setTimeout(resolve, QUIT_WAIT_MS));
      await Promise.race([redis.quit(), stalled]).catch(() => {}).finally(() => clearTimeout(timer));
      redis.disconnect();
    },
  };
};
