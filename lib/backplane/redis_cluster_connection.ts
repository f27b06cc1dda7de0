/**
 * The {@linkcode RedisConnectionFactory} for a Redis Cluster (`redisBackplane({ cluster: [url, ...] })`), over
 * ioredis's `Cluster`: loaded by `redisBackplane()` only when `cluster` is given.
 *
 * - Sharded pub/sub: each channel belongs to the hash slot of its name, and `SSUBSCRIBE` must go to the
 *   master that owns the slot (a shard only carries its own channels). ioredis 6 does it with
 *   `shardedSubscribers: true`: one subscriber connection per master, each `SSUBSCRIBE` sent to the owner
 *   of its channels' slot, which must be one slot per command, so the channels of a batch are sent in one
 *   command per slot. `SPUBLISH` is routed by the channel like a key.
 * - After a master restarts or fails over, ioredis makes a new subscriber connection for it and subscribes
 *   its channels again (`subscribersReady`); the backplane then subscribes every topic again too, checks
 *   them with `PUBSUB SHARDNUMSUB` sent to each channel's master (the command counts only the node's own
 *   shard channels, and ioredis does not route it), and reports a gap on each.
 * - Other commands (presence) go to the masters of their keys, auto-pipelined per master: commands to one
 *   master keep their order, and a topic's keys are in its channel's slot (`redis_presence.ts`).
 * - Classic pub/sub (`sharded: false`) works too: Redis Cluster forwards every `PUBLISH` to every node, and
 *   `PUBSUB NUMSUB` is summed over the masters.
 *
 * @module
 */

import { Cluster, type ClusterNode, type Redis } from "ioredis";
import { reconnectDelay, runScript } from "./_ioredis_connection.ts";
import type { RedisConnection, RedisConnectionFactory, RedisConnectionOptions } from "./redis_connection.ts";

/** The longest wait for Redis to answer QUIT. */
const QUIT_WAIT_MS = 1000;
/** The quiet time after `subscribersReady` before the masters are asked whether they are all back. */
const SETTLE_MS = 100;
/** The longest wait for a master to answer PING. */
const PING_WAIT_MS = 500;
/** Hash slots of a Redis Cluster. */
const SLOTS = 16384;

/** Node's `Buffer`: ioredis sends bytes only from a `Buffer`. */
interface BufferConstructor {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * ioredis 6 keeps, per slot, every channel each `SSUBSCRIBE` named (to subscribe them again on a new
 * subscriber connection), repeats included: the backplane subscribing its topics again after each reconnect
 * would grow those lists by every topic each time. Keeps each of the slots' lists to one of each channel.
 *
 * @param cluster The subscriber's cluster client.
 * @param channels The channels just subscribed.
 */
function dropRepeats(cluster: Cluster, channels: readonly string[]): void {
  const group = (cluster as unknown as { shardedSubscribers?: { channels?: unknown } }).shardedSubscribers;
  const bySlot = group?.channels;
  if (!(bySlot instanceof Map)) return;
  for (const slot of new Set(channels.map(clusterSlot))) {
    const list: unknown = bySlot.get(slot);
    if (Array.isArray(list)) bySlot.set(slot, [...new Set(list)]);
  }
}

/**
 * @param cluster A cluster client.
 * @returns Whether every master it knows answers PING within {@linkcode PING_WAIT_MS}.
 */
async function mastersAnswer(cluster: Cluster): Promise<boolean> {
  const masters = cluster.nodes("master");
  const answers = await Promise.all(masters.map((master) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), PING_WAIT_MS));
    return Promise.race([master.ping().then(() => true, () => false), late]).finally(() =>
      clearTimeout(timer)
    );
  }));
  return masters.length > 0 && answers.every(Boolean);
}

/** @returns A `Buffer` over the same memory. */
function asBuffer(bytes: Uint8Array): Uint8Array {
  const { Buffer } = globalThis as unknown as { Buffer: BufferConstructor };
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** CRC16-CCITT (XMODEM) table: polynomial 0x1021, as Redis Cluster's key hashing uses. */
const CRC16 = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

/**
 * The hash slot of a key or channel, as Redis Cluster computes it: CRC16 of the hash tag (the text between
 * the first `{` and the next `}`, if not empty) or else of the whole name, modulo 16384.
 *
 * @param key A key or channel name.
 * @returns Its slot, 0 to 16383.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clusterSlot } from "./redis_cluster_connection.ts";
 * assert.equal(clusterSlot("foo"), 12182);
 * assert.equal(clusterSlot("{foo}:presence"), 12182);
 * ```
 */
export function clusterSlot(key: string): number {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of encoder.encode(key)) crc = ((crc << 8) ^ CRC16[((crc >> 8) ^ byte) & 0xff]) & 0xffff;
  return crc % SLOTS;
}

/**
 * @param url A `redis://` or `rediss://` URL of one node.
 * @returns The node for ioredis, and the credentials and TLS it asks for.
 */
function nodeOf(url: string): { node: ClusterNode; username?: string; password?: string; tls: boolean } {
  const parsed = new URL(url);
  return {
    node: { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || 6379) },
    username: parsed.username === "" ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === "" ? undefined : decodeURIComponent(parsed.password),
    tls: parsed.protocol === "rediss:",
  };
}

/**
 * Makes the factory of a backplane's two connections to a Redis Cluster.
 *
 * @param urls One or more of the cluster's nodes (the others are found from them).
 * @returns The factory.
 * @example
 * ```ts ignore
 * import { redisBackplane } from "./redis_backplane.ts";
 * // The same, by the `cluster` option:
 * const backplane = await redisBackplane({ cluster: ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"] });
 * ```
 */
export function ioredisClusterConnection(urls: readonly string[]): RedisConnectionFactory {
  const nodes = urls.map(nodeOf);
  const { username, password, tls } = nodes[0];
  return async (options: RedisConnectionOptions): Promise<RedisConnection> => {
    const { events, role } = options;
    const cluster = new Cluster(nodes.map(({ node }) => node), {
      lazyConnect: true,
      // Not ready (no slot map): commands fail at once, they are counted, not queued.
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      shardedSubscribers: role === "subscriber",
      clusterRetryStrategy: reconnectDelay,
      redisOptions: {
        username,
        password,
        tls: tls ? {} : undefined,
        autoResubscribe: false,
        autoResendUnfulfilledCommands: false,
        connectionName: options.name.replace(/[^!-~]/g, "_"),
      },
    });
    let lastError = "";
    let state: "connecting" | "up" | "down" | "closed" = "connecting";
    const down = (reason: string) => {
      if (state !== "up") return;
      state = "down";
      events.down(reason);
    };
    const ready = () => {
      if (state !== "down") return;
      state = "up";
      lastError = "";
      events.ready();
    };
    cluster.on("error", (error: Error) => lastError = error.message);
    cluster.on("node error", (error: Error) => lastError = error.message);
    cluster.on("close", () => down(lastError === "" ? "the connection to the cluster closed" : lastError));
    if (role === "subscriber") {
      // A master's subscriber connection was lost: its channels may be unsubscribed until ioredis has made a
      // new one and subscribed them again (`subscribersReady`). While a master is down, ioredis goes round
      // that loop every 0.2 to 2 s (17 times in a 2.6 s restart, measured): the link counts as back only once
      // every master answers PING and no subscriber was lost meanwhile, so the backplane subscribes again
      // (and reports gaps) once per outage rather than once per turn.
      let lost = 0;
      let probing = false;
      cluster.on("-subscriber", () => {
        lost++;
        down(lastError === "" ? "a master's subscriber connection closed" : lastError);
      });
      cluster.on("subscribersReady", async () => {
        if (probing || state !== "down") return;
        probing = true;
        try {
          for (let attempt = 1; state === "down"; attempt++) {
            const before = lost;
            await new Promise((resolve) =>
              setTimeout(resolve, attempt === 1 ? SETTLE_MS : reconnectDelay(attempt))
            );
            if (state !== "down") return;
            if (lost === before && await mastersAnswer(cluster)) return ready();
          }
        } finally {
          probing = false;
        }
      });
    } else {
      cluster.on("ready", ready);
    }
    const message = (channel: Uint8Array, bytes: Uint8Array) =>
      events.message(decoder.decode(channel), bytes);
    cluster.on("messageBuffer", message);
    cluster.on("smessageBuffer", message);
    try {
      await cluster.connect();
      state = "up";
    } catch (error) {
      state = "closed";
      cluster.disconnect();
      throw new Error(
        `Cannot connect to the Redis Cluster: ${lastError === "" ? (error as Error).message : lastError}`,
      );
    }

    /** The master that owns a slot, if the slot map has one. */
    const masterOf = (slot: number): Redis | undefined => {
      const key = cluster.slots[slot]?.[0];
      if (key === undefined) return undefined;
      return cluster.nodes("master").find((node) => `${node.options.host}:${node.options.port}` === key);
    };

    /** Channels by slot, in order of first appearance. */
    const bySlot = (channels: readonly string[]): string[][] => {
      const groups = new Map<number, string[]>();
      for (const channel of channels) {
        const slot = clusterSlot(channel);
        let group = groups.get(slot);
        if (group === undefined) groups.set(slot, group = []);
        group.push(channel);
      }
      return [...groups.values()];
    };

    return {
      async publish(batch, sharded) {
        const sent = await Promise.allSettled(
          batch.map(([channel, bytes]) =>
            sharded
              ? cluster.spublish(channel, asBuffer(bytes) as never)
              : cluster.publish(channel, asBuffer(bytes) as never)
          ),
        );
        const refused = sent.filter((result) => result.status === "rejected");
        if (refused.length === batch.length && refused.length > 0 && state !== "up") {
          throw (refused[0] as PromiseRejectedResult).reason;
        }
        return refused.length;
      },
      async subscribe(channels, sharded) {
        if (channels.length === 0) return;
        if (!sharded) return void await cluster.subscribe(...channels);
        await Promise.all(bySlot(channels).map((group) => cluster.ssubscribe(...group)));
        dropRepeats(cluster, channels);
      },
      async unsubscribe(channels, sharded) {
        if (channels.length === 0) return;
        if (!sharded) return void await cluster.unsubscribe(...channels);
        await Promise.all(bySlot(channels).map((group) => cluster.sunsubscribe(...group)));
      },
      async subscriberCounts(channels, sharded) {
        if (channels.length === 0) {
          await cluster.call("PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB");
          return [];
        }
        if (!sharded) {
          // A classic channel's subscribers are counted by the node they are connected to: summed.
          const counts = channels.map(() => 0);
          for (const master of cluster.nodes("master")) {
            const reply = await master.call("PUBSUB", "NUMSUB", ...channels) as unknown[];
            channels.forEach((_, i) => counts[i] += Number(reply[2 * i + 1]));
          }
          return counts;
        }
        return await Promise.all(channels.map(async (channel) => {
          const master = masterOf(clusterSlot(channel));
          if (master === undefined) {
            throw new Error(`Cannot count the subscribers of ${channel}: no master owns its slot`);
          }
          const reply = await master.call("PUBSUB", "SHARDNUMSUB", channel) as unknown[];
          return Number(reply[1]);
        }));
      },
      // History's scripts go to the master of their keys' slot (the topic's, as its channel).
      script: (source, keys, args) => runScript(cluster, source, keys, args),
      async commands(batch) {
        return await Promise.all(
          batch.map((words) =>
            cluster.call(
              words[0] as string,
              ...words.slice(1).map((word) => typeof word === "string" ? word : asBuffer(word) as never),
            ).catch((error: Error) => error)
          ),
        );
      },
      async close() {
        state = "closed";
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stalled = new Promise<void>((resolve) => timer = setTimeout(resolve, QUIT_WAIT_MS));
        await Promise.race([cluster.quit(), stalled]).catch(() => {}).finally(() => clearTimeout(timer));
        cluster.disconnect();
      },
    };
  };
}
