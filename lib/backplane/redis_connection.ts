/**
 * What the Redis backplane needs of a Redis client: one connection that publishes and one that
 * subscribes, each behind this small interface. The default is over `ioredis`; `redisBackplane({ client })`
 * takes another (node-redis, `Bun.redis`, a proxy) by way of a {@linkcode RedisConnectionFactory}.
 *
 * @module
 */

/** What a connection tells the backplane. */
export interface RedisConnectionEvents {
  /** A message on a subscribed channel (the subscriber connection), its bytes as Redis holds them. */
  message(channel: string, message: Uint8Array): void;
  /**
   * The connection is back after {@linkcode RedisConnectionEvents.down} (the client reconnected by itself):
   * it may have lost every subscription, and the backplane subscribes again.
   */
  ready(): void;
  /** The connection was lost; the client keeps trying to reconnect. @param reason Why, if known. */
  down(reason: string): void;
}

/** What a {@linkcode RedisConnectionFactory} is given. */
export interface RedisConnectionOptions {
  /** The `url` option: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  /** Which of the backplane's two connections this is. */
  role: "publisher" | "subscriber";
  /** A name for the connection (`CLIENT SETNAME`), with the node id: `wsengine:<nodeId>:<role>`. */
  name: string;
  /** Where to report messages, and the link going down and coming back. */
  events: RedisConnectionEvents;
}

/**
 * One connection to Redis. Every method that sends a command rejects at once while the connection is down
 * (no offline queue: the backplane counts what it could not send, and resubscribes on `ready`).
 */
export interface RedisConnection {
  /**
   * Publishes messages in this order, pipelined (`SPUBLISH` when `sharded`, else `PUBLISH`).
   *
   * @param batch `[channel, message]` pairs.
   * @param sharded Whether to use sharded pub/sub.
   * @returns How many of them Redis refused (0 normally); rejects if the batch could not be sent.
   */
  publish(
    batch: readonly (readonly [channel: string, message: Uint8Array])[],
    sharded: boolean,
  ): Promise<number>;
  /**
   * `SSUBSCRIBE` (or `SUBSCRIBE`) the channels, in one command; resolves when Redis confirmed them.
   *
   * @param channels The channels.
   * @param sharded Whether to use sharded pub/sub.
   */
  subscribe(channels: readonly string[], sharded: boolean): Promise<void>;
  /**
   * `SUNSUBSCRIBE` (or `UNSUBSCRIBE`) the channels, in one command.
   *
   * @param channels The channels.
   * @param sharded Whether to use sharded pub/sub.
   */
  unsubscribe(channels: readonly string[], sharded: boolean): Promise<void>;
  /**
   * `PUBSUB SHARDNUMSUB` (or `PUBSUB NUMSUB`): how many connections, of every node, subscribe to each channel.
   *
   * @param channels The channels (none: the server is only asked whether it knows the command).
   * @param sharded Whether to ask about sharded channels.
   * @returns One count per channel, in order.
   */
  subscriberCounts(channels: readonly string[], sharded: boolean): Promise<number[]>;
  /**
   * Sends other commands, pipelined in this order (presence: `HSET`, `PEXPIRE`, `SMEMBERS`...): needed only
   * for presence (`subscribe(topic, { presence })` over the backplane), which refuses to start without it.
   *
   * @param batch Each command as its words: `["HSET", key, field, value]`.
   * @returns Each command's reply, or the `Error` Redis answered it with, in order; rejects if the batch
   * could not be sent (the link is down).
   */
  commands?(batch: readonly (readonly (string | Uint8Array)[])[]): Promise<unknown[]>;
  /**
   * Runs a Lua script (`EVALSHA`, then `EVAL` if Redis answers `NOSCRIPT`), for history: bytes in, and
   * bulk strings answered as bytes. Optional: a client without it has no history on Redis.
   *
   * @param source The script.
   * @param keys Its keys.
   * @param args Its arguments.
   * @returns Its reply: integers as numbers, bulk strings as `Uint8Array`, arrays as arrays.
   */
  script?(source: string, keys: readonly string[], args: readonly (string | Uint8Array)[]): Promise<unknown>;
  /** Quits (or, if Redis cannot be reached, drops) the connection; it does not reconnect after. */
  close(): Promise<void>;
}

/**
 * Makes one connection; resolves once it is ready for commands, rejects if it cannot connect.
 *
 * @example Over node-redis (`redis`), instead of the default ioredis
 * ```ts ignore
 * import { createClient } from "redis";
 * import { redisBackplane, type RedisConnectionFactory } from "./redis_backplane.ts";
 *
 * const nodeRedis: RedisConnectionFactory = async ({ url, events }) => {
 *   const client = createClient({ url, disableOfflineQueue: true });
 *   let up = true;
 *   client.on("error", () => {});
 *   client.on("reconnecting", () => {
 *     if (up) {
 *       up = false;
 *       events.down("reconnecting");
 *     }
 *   });
 *   client.on("ready", () => {
 *     if (!up) {
 *       up = true;
 *       events.ready();
 *     }
 *   });
 *   await client.connect();
 *   const listener = (message: Buffer, channel: Buffer) => events.message(channel.toString(), message);
 *   return {
 *     publish: async (batch, sharded) => {
 *       const sent = await Promise.allSettled(batch.map(([channel, message]) =>
 *         sharded ? client.sPublish(channel, Buffer.from(message)) : client.publish(channel, Buffer.from(message))));
 *       return sent.filter((result) => result.status === "rejected").length;
 *     },
 *     // node-redis also resubscribes by itself, and skips a channel it believes subscribed: the backplane's
 *     // check after a reconnect (PUBSUB SHARDNUMSUB) is what tells.
 *     subscribe: (channels, sharded) => sharded ? client.sSubscribe([...channels], listener, true) : client.subscribe([...channels], listener, true),
 *     unsubscribe: (channels, sharded) => sharded ? client.sUnsubscribe([...channels]) : client.unsubscribe([...channels]),
 *     subscriberCounts: async (channels, sharded) => {
 *       const reply = await client.sendCommand(["PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", ...channels]) as unknown[];
 *       return channels.map((_, i) => Number(reply[2 * i + 1]));
 *     },
 *     close: () => client.close(),
 *   };
 * };
 * const backplane = await redisBackplane({ client: nodeRedis });
 * ```
 */
export type RedisConnectionFactory = (options: RedisConnectionOptions) => Promise<RedisConnection>;
