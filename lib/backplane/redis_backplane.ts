/**
 * A {@linkcode Backplane} over Redis pub/sub: topics shared by the processes and machines of a deployment.
 * Imported from its own subpath (`./redis`), so that an application that never scales out never loads a
 * Redis client.
 *
 * - One Redis channel per topic (`${prefix}${topic}`), subscribed only while the node has a local
 *   subscriber (the {@linkcode PubSub} says when), so a node receives only its topics' messages. Redis 7's
 *   sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`) by default; classic `SUBSCRIBE`/`PUBLISH` with
 *   `sharded: false`. Subscriptions made within a few milliseconds go out as one command (up to 512
 *   channels each).
 * - Each message is a binary envelope: version, flags (binary), the origin node's id, and a sequence number
 *   per origin and topic, then the payload as it is (no base64). A node ignores its own messages (it
 *   delivered them locally already); receivers report a skipped sequence number as a gap.
 * - After every reconnect, the backplane subscribes every topic again itself (whatever the client library
 *   does), checks them with `PUBSUB SHARDNUMSUB`/`NUMSUB`, and reports a gap on each ("the link to Redis
 *   was down"). While the link is down, local delivery goes on; publishes that cannot reach Redis are
 *   counted (`stats.failedPublishes`), never queued.
 * - One publishing connection, pipelined: a publisher's messages to a topic arrive in order on every node.
 * - Presence (`subscribe(topic, { presence })`): each node's members of a topic in a hash of its own with an
 *   expiry it refreshes (`presenceTtl`), changes batched per interval and sent on the topic's channel with
 *   the envelope's presence flag (see `redis_presence.ts`).
 * - A Redis Cluster with `cluster: [url, ...]` (ioredis's `Cluster`, each `SSUBSCRIBE` sent to the master
 *   owning its channel's slot; see `redis_cluster_connection.ts`).
 *
 * @module
 */

import type { Backplane, BackplaneReceiver } from "../pubsub/backplane.ts";
import { decodeEnvelope, encodeEnvelope, encodeOrigin } from "./_envelope.ts";
import { RedisPresence } from "./redis_presence.ts";
import { RedisHistory } from "./redis_history.ts";
import type { HistoryBackplane } from "../pubsub/history.ts";
import type { PresenceBackplane } from "../pubsub/presence.ts";
import type { RedisConnection, RedisConnectionEvents, RedisConnectionFactory } from "./redis_connection.ts";

export type {
  RedisConnection,
  RedisConnectionEvents,
  RedisConnectionFactory,
  RedisConnectionOptions,
} from "./redis_connection.ts";

/** Options for {@linkcode redisBackplane}. */
export interface RedisBackplaneOptions {
  /**
   * The Redis server: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS.
   * @default {"redis://127.0.0.1:6379"}
   */
  url?: string;
  /**
   * A Redis Cluster instead of one server: the URLs of one or more of its nodes (`redis://host:port`, the
   * others are found from them; credentials and TLS as in the first). Each topic's channel lives on the
   * shard of its hash slot (sharded pub/sub), and its presence keys beside it. Not with `url` or `client`.
   * @default none: one server, at `url`
   */
  cluster?: readonly string[];
  /** Put before every topic to make its channel name. @default {"ws:"} */
  prefix?: string;
  /**
   * Sharded pub/sub (`SSUBSCRIBE`, `SPUBLISH`: Redis 7 and later, and what a Redis Cluster spreads over its
   * shards); `false` for classic `SUBSCRIBE`/`PUBLISH` (Redis 6, servers without sharded pub/sub).
   * @default {true}
   */
  sharded?: boolean;
  /**
   * Makes the two connections (publisher and subscriber) with a client of your own, behind a small interface
   * (see {@linkcode RedisConnectionFactory}).
   * @default ioredis (the `ioredis` package, loaded only then)
   */
  client?: RedisConnectionFactory;
  /**
   * This node's id, in every message it publishes (1 to 255 bytes of UTF-8). It must differ between the
   * backplanes running on a Redis, and a process that restarts had better take a new one: its sequence
   * numbers start again at 1 (receivers take a 1 after higher numbers as such a new start).
   * @default 16 random hex digits, made by each call
   */
  nodeId?: string;
  /**
   * Bytes of publishes handed to the client and not yet answered by Redis; a publish over it is counted
   * as failed instead of queued (Redis stalled, or the link went quiet without closing).
   * @default {8388608} (8 MiB)
   */
  maxPendingBytes?: number;
  /**
   * How long {@linkcode RedisBackplane.flush} waits for Redis's answers, in milliseconds: ioredis leaves a
   * command unsettled when the link dies under it (an `SUNSUBSCRIBE` in flight when Redis is killed), and
   * flush resolves then rather than hang; the resubscription after the reconnect is checked on its own.
   * @default {10000}
   */
  flushTimeout?: number;
  /**
   * Presence (`subscribe(topic, { presence })`): how long a node's members stay on Redis without being
   * refreshed (each live node refreshes them every third of it), in milliseconds. A node that dies takes its
   * members out of every topic within this time and a third (the other nodes check every third of it),
   * plus one presence interval. Needs the connection's `commands` (ioredis has it); without, presence is
   * each node's own.
   * @default {30000}
   */
  presenceTtl?: number;
}

/** Counters of a {@linkcode RedisBackplane}, since it was created. */
export interface RedisBackplaneStats {
  /** Publishes Redis accepted. */
  published: number;
  /** Publishes that could not reach Redis (the link was down, `maxPendingBytes` was reached, or it refused). */
  failedPublishes: number;
  /** Messages read from Redis, this node's own included. */
  received: number;
  /** Messages of other nodes handed to the local topics. */
  delivered: number;
  /** This node's own messages read back from Redis, and ignored. */
  echoes: number;
  /** Messages whose sequence number was already seen (ignored). */
  duplicates: number;
  /** Messages that were not an envelope (another program publishing with the prefix). */
  malformed: number;
  /** Gaps reported: skipped sequence numbers, and every topic after each reconnect. */
  gaps: number;
  /** Times the subscriber connection came back after being lost. */
  reconnects: number;
  /** `SSUBSCRIBE`/`SUBSCRIBE` commands sent (each may carry up to 512 channels). */
  subscribeCommands: number;
  /** `SUNSUBSCRIBE`/`UNSUBSCRIBE` commands sent. */
  unsubscribeCommands: number;
  /** Topics found without a subscription on Redis after a reconnect, and subscribed again. */
  repairs: number;
  /** Commands that failed while the link was up (`lastError` says the latest). */
  errors: number;
}

/** A {@linkcode Backplane} over Redis, as {@linkcode redisBackplane} makes it. */
export interface RedisBackplane extends Backplane {
  /** This node's id. */
  readonly nodeId: string;
  /** A snapshot of the counters. */
  readonly stats: RedisBackplaneStats;
  /** Whether both connections are up. */
  readonly connected: boolean;
  /** The latest error (a failed command, a malformed message, a lost link), or `""`. */
  readonly lastError: string;
  /**
   * Sends now the subscriptions and publishes waiting for their batch, and resolves when Redis has answered
   * every command sent so far (after it, the topics followed are live on Redis), or after `flushTimeout`.
   */
  flush(): Promise<void>;
}

/** Channels per SUBSCRIBE-like command (Centrifugo's batch). */
const CHANNELS_PER_COMMAND = 512;
/**
 * How often the sequence counters of idle topics are swept. A receiver forgets an origin's counter after 2
 * sweeps unused (1 to 2 minutes), a publisher forgets its own after 4 (3 to 4 minutes): by the time a
 * publisher starts a topic again at 1, every receiver has forgotten the old numbers.
 */
const SWEEP_MS = 60_000;
/** Sweeps unused after which a receiver forgets an origin's last number. */
const RECEIVER_IDLE_SWEEPS = 2;
/** Sweeps unused after which a publisher forgets a topic's next number. */
const PUBLISHER_IDLE_SWEEPS = 4;
/** The longest wait, on close, for Redis to answer (a stalled link is then dropped). */
const CLOSE_WAIT_MS = 1000;
/** The context of this node's own message whose append left none (it is still not counted as remote). */
const OWN = Symbol("own");
/** Options that {@linkcode redisBackplane} knows. */
const KNOWN_OPTIONS = new Set([
  "url",
  "prefix",
  "sharded",
  "client",
  "nodeId",
  "maxPendingBytes",
  "cluster",
  "presenceTtl",
  "flushTimeout",
]);

/** A sequence counter, and the sweeps since it was last used. */
interface Counter {
  value: number;
  idle: number;
}

/**
 * @param promise A promise.
 * @param ms The longest wait.
 * @returns Resolves when it settles or after `ms`, whichever is first.
 */
function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.then(() => {}, () => {}),
    new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
  ]).finally(() => clearTimeout(timer));
}

/**
 * @param items Items.
 * @returns Them in chunks of {@linkcode CHANNELS_PER_COMMAND}.
 */
function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHANNELS_PER_COMMAND) {
    out.push(items.slice(i, i + CHANNELS_PER_COMMAND));
  }
  return out;
}

/** @returns 16 random hex digits. */
function randomNodeId(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Settings after validation. */
interface Settings {
  url: string;
  prefix: string;
  sharded: boolean;
  nodeId: string;
  maxPendingBytes: number;
  presenceTtl: number;
  flushTimeout: number;
}

class RedisBackplaneImpl implements RedisBackplane {
  readonly nodeId: string;
  readonly #settings: Settings;
  readonly #origin: Uint8Array;
  #publisher: RedisConnection | undefined;
  #subscriber: RedisConnection | undefined;
  #receiver: BackplaneReceiver | undefined;
  #publisherUp = false;
  #subscriberUp = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #lastError = "";
  /** Presence, once the publishing connection can send other commands (`RedisConnection.commands`). */
  readonly #history: RedisHistory;
  #presence: RedisPresence | undefined;
  readonly #stats: RedisBackplaneStats = {
    published: 0,
    failedPublishes: 0,
    received: 0,
    delivered: 0,
    echoes: 0,
    duplicates: 0,
    malformed: 0,
    gaps: 0,
    reconnects: 0,
    subscribeCommands: 0,
    unsubscribeCommands: 0,
    repairs: 0,
    errors: 0,
  };

  /** Topics with a local subscriber (what the PubSub asked for). */
  readonly #wanted = new Set<string>();
  /** Topics asked of Redis on the current subscriber connection. */
  #subscribed = new Set<string>();
  /** Topics whose subscription changed since the last batch. */
  readonly #dirty = new Set<string>();
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  /** Subscription commands (and resubscriptions) not answered yet. */
  readonly #commands = new Set<Promise<unknown>>();
  /** After a reconnect: the topics are to be checked on Redis once the publisher is up. */
  #verifyPending = false;

  /** Publishes waiting for the microtask that sends them. */
  #queue: [channel: string, envelope: Uint8Array][] = [];
  #queueScheduled = false;
  /** Bytes handed to the client and not answered. */
  #pendingBytes = 0;
  /** Publish batches not answered yet. */
  readonly #batches = new Set<Promise<void>>();

  /** The next sequence number per topic published here. */
  readonly #sequences = new Map<string, Counter>();
  /** The last sequence number seen per topic and origin. */
  readonly #seen = new Map<string, Map<string, Counter>>();
  readonly #sweepTimer: ReturnType<typeof setInterval>;

  constructor(settings: Settings) {
    this.#settings = settings;
    this.nodeId = settings.nodeId;
    this.#origin = encodeOrigin(settings.nodeId);
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#history = new RedisHistory({
      prefix: settings.prefix,
      sharded: settings.sharded,
      origin: this.#origin,
      publisher: () => this.#publisherUp && !this.#closed ? this.#publisher : undefined,
      nextSequence: (topic) => {
        let counter = this.#sequences.get(topic);
        if (counter === undefined) this.#sequences.set(topic, counter = { value: 0, idle: 0 });
        counter.idle = 0;
        return ++counter.value;
      },
      wanted: (topic) => this.#wanted.has(topic),
      subscribed: async () => {
        if (this.#batchTimer !== undefined) {
          clearTimeout(this.#batchTimer);
          this.#batchTimer = undefined;
          this.#sendBatch();
        }
        // At most a second: a command the client never answers must not hold a recovery (the check after a
        // reconnect repairs a lost subscription, and reports the gap).
        await within(Promise.allSettled([...this.#commands]), CLOSE_WAIT_MS);
      },
    });
  }

  /** Connects both connections; on failure, closes what was opened. */
  async connect(factory: RedisConnectionFactory): Promise<void> {
    const { url, nodeId, sharded } = this.#settings;
    const publisherEvents: RedisConnectionEvents = {
      message: () => {},
      ready: () => {
        this.#publisherUp = true;
        if (this.#verifyPending && this.#subscriberUp) this.#track(this.#verify());
      },
      down: (reason) => {
        this.#publisherUp = false;
        this.#lastError = `The link to Redis is down: ${reason}`;
      },
    };
    const subscriberEvents: RedisConnectionEvents = {
      message: (channel, message) => this.#onMessage(channel, message),
      ready: () => {
        this.#subscriberUp = true;
        this.#stats.reconnects++;
        this.#track(this.#resubscribe());
      },
      down: (reason) => {
        this.#subscriberUp = false;
        this.#lastError = `The link to Redis is down: ${reason}`;
      },
    };
    try {
      this.#publisher = await factory({
        url,
        role: "publisher",
        name: `wsengine:${nodeId}:publisher`,
        events: publisherEvents,
      });
      this.#publisherUp = true;
      const publisher = this.#publisher;
      if (publisher.commands !== undefined) {
        const commands = publisher.commands.bind(publisher);
        this.#presence = new RedisPresence({
          nodeId,
          ttl: this.#settings.presenceTtl,
          channel: (topic) => this.#settings.prefix + topic,
          commands: (batch) => this.#publisherUp ? commands(batch) : Promise.reject(new Error("The link to Redis is down")),
          publish: (topic, payload) => this.#publishPresence(topic, payload),
          failed: (error) => this.#failed(error),
        });
      }
      this.#subscriber = await factory({
        url,
        role: "subscriber",
        name: `wsengine:${nodeId}:subscriber`,
        events: subscriberEvents,
      });
      this.#subscriberUp = true;
      // Fail now, not at the first subscription, on a server without sharded pub/sub (Redis 6).
      await this.#publisher.subscriberCounts([], sharded).catch((error: Error) => {
        throw new Error(
          `Cannot use ${sharded ? "sharded" : "classic"} pub/sub: Redis refused PUBSUB ${
            sharded ? "SHARDNUMSUB" : "NUMSUB"
          } (${error.message})` +
            (sharded ? "; sharded pub/sub needs Redis 7, pass sharded: false for an older server" : ""),
        );
      });
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  get stats(): RedisBackplaneStats {
    return { ...this.#stats };
  }

  get connected(): boolean {
    return this.#publisherUp && this.#subscriberUp && !this.#closed;
  }

  get lastError(): string {
    return this.#lastError;
  }

  get presence(): PresenceBackplane | undefined {
    return this.#presence;
  }

  /** The topics' history, in Redis Streams (see `redis_history.ts`). */
  get history(): HistoryBackplane {
    return this.#history;
  }

  attach(receiver: BackplaneReceiver): void {
    if (this.#receiver !== undefined) {
      throw new Error("Cannot attach the Redis backplane: it is attached to a PubSub already");
    }
    this.#receiver = receiver;
  }

  subscribe(topic: string): void {
    if (this.#closed) return;
    this.#wanted.add(topic);
    this.#dirty.add(topic);
    this.#scheduleBatch();
  }

  unsubscribe(topic: string): void {
    if (this.#closed) return;
    this.#wanted.delete(topic);
    this.#seen.delete(topic);
    this.#history.forget(topic);
    this.#dirty.add(topic);
    this.#scheduleBatch();
  }

  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    let counter = this.#sequences.get(topic);
    if (counter === undefined) this.#sequences.set(topic, counter = { value: 0, idle: 0 });
    // A publish that cannot be sent still takes its number: the other nodes see the gap.
    const sequence = ++counter.value;
    counter.idle = 0;
    if (this.#closed || !this.#publisherUp) {
      this.#stats.failedPublishes++;
      return;
    }
    const envelope = encodeEnvelope(this.#origin, sequence, binary, payload);
    if (this.#pendingBytes + envelope.length > this.#settings.maxPendingBytes) {
      this.#stats.failedPublishes++;
      return;
    }
    this.#pendingBytes += envelope.length;
    this.#queue.push([this.#settings.prefix + topic, envelope]);
    if (!this.#queueScheduled) {
      this.#queueScheduled = true;
      queueMicrotask(() => this.#sendQueue());
    }
  }

  async flush(): Promise<void> {
    this.#sendQueue();
    if (this.#batchTimer !== undefined) {
      clearTimeout(this.#batchTimer);
      this.#batchTimer = undefined;
      this.#sendBatch();
    }
    // Commands sent while waiting (a resubscription after a reconnect) are waited for too, for at most
    // flushTimeout: a command whose link died under it may never settle (ioredis).
    const deadline = Date.now() + this.#settings.flushTimeout;
    while ((this.#commands.size > 0 || this.#batches.size > 0) && Date.now() < deadline) {
      await within(Promise.allSettled([...this.#commands, ...this.#batches]), deadline - Date.now());
    }
  }

  close(): Promise<void> {
    return this.#closing ??= (async () => {
      // This node's members leave now (their entries deleted, the change published), not at their expiry.
      const presenceClosed = this.#presence?.close();
      this.#sendQueue();
      this.#closed = true;
      clearInterval(this.#sweepTimer);
      if (this.#batchTimer !== undefined) clearTimeout(this.#batchTimer);
      this.#batchTimer = undefined;
      await within(Promise.allSettled([...this.#batches, presenceClosed]), CLOSE_WAIT_MS);
      const subscriber = this.#subscriber, publisher = this.#publisher;
      if (subscriber !== undefined && this.#subscriberUp && this.#subscribed.size > 0) {
        const topics = [...this.#subscribed].map((topic) => this.#settings.prefix + topic);
        const unsubscribed = Promise.allSettled(
          chunks(topics).map((channels) => {
            this.#stats.unsubscribeCommands++;
            return subscriber.unsubscribe(channels, this.#settings.sharded);
          }),
        );
        await within(unsubscribed, CLOSE_WAIT_MS);
      }
      this.#subscribed.clear();
      this.#wanted.clear();
      this.#publisherUp = this.#subscriberUp = false;
      await Promise.allSettled([publisher?.close(), subscriber?.close()]);
    })();
  }

  /** Subscriptions: batched over a timer of 0 ms (what was asked within the same few milliseconds). */
  #scheduleBatch(): void {
    if (this.#batchTimer === undefined) {
      this.#batchTimer = setTimeout(() => {
        this.#batchTimer = undefined;
        this.#sendBatch();
      }, 0);
    }
  }

  /** Sends what changed since the last batch: one SSUBSCRIBE and one SUNSUBSCRIBE per 512 channels. */
  #sendBatch(): void {
    const add: string[] = [], remove: string[] = [];
    for (const topic of this.#dirty) {
      const wanted = this.#wanted.has(topic), subscribed = this.#subscribed.has(topic);
      if (wanted && !subscribed) {
        add.push(topic);
        this.#subscribed.add(topic);
      } else if (!wanted && subscribed) {
        remove.push(topic);
        this.#subscribed.delete(topic);
      }
    }
    this.#dirty.clear();
    // While the link is down, the resubscription on `ready` takes every wanted topic.
    const subscriber = this.#subscriber;
    if (subscriber === undefined || !this.#subscriberUp || this.#closed) return;
    const { prefix, sharded } = this.#settings;
    for (const channels of chunks(remove.map((topic) => prefix + topic))) {
      this.#stats.unsubscribeCommands++;
      this.#track(subscriber.unsubscribe(channels, sharded).catch((error: Error) => this.#failed(error)));
    }
    for (const channels of chunks(add.map((topic) => prefix + topic))) {
      this.#stats.subscribeCommands++;
      this.#track(subscriber.subscribe(channels, sharded).catch((error: Error) => this.#failed(error)));
    }
  }

  /** The subscriber is back: every wanted topic is subscribed again, then reported as a gap, then checked. */
  async #resubscribe(): Promise<void> {
    const subscriber = this.#subscriber;
    if (subscriber === undefined || this.#closed) return;
    const topics = [...this.#wanted];
    this.#history.forget();
    this.#subscribed = new Set(topics);
    this.#dirty.clear();
    const { prefix, sharded } = this.#settings;
    const sent = chunks(topics.map((topic) => prefix + topic)).map((channels) => {
      this.#stats.subscribeCommands++;
      return subscriber.subscribe(channels, sharded);
    });
    try {
      await Promise.all(sent);
    } catch (error) {
      // Down again: the next `ready` starts over.
      this.#failed(error as Error);
      return;
    }
    for (const topic of topics) {
      if (!this.#wanted.has(topic)) continue;
      this.#stats.gaps++;
      this.#receiver?.gap(topic, "the link to Redis was down");
    }
    this.#verifyPending = true;
    // Presence changes sent or published while the link was down were lost: written and read again whole.
    this.#presence?.resync();
    if (this.#publisherUp) await this.#verify();
  }

  /**
   * Checks with PUBSUB SHARDNUMSUB/NUMSUB (on the publisher connection) that every topic has a subscriber
   * on Redis; one without is subscribed again (the client library may have lost it).
   */
  async #verify(): Promise<void> {
    const publisher = this.#publisher, subscriber = this.#subscriber;
    if (!this.#verifyPending || publisher === undefined || subscriber === undefined || this.#closed) return;
    this.#verifyPending = false;
    const { prefix, sharded } = this.#settings;
    const missing: string[] = [];
    try {
      for (const topics of chunks([...this.#subscribed])) {
        const counts = await publisher.subscriberCounts(topics.map((topic) => prefix + topic), sharded);
        topics.forEach((topic, i) => {
          if (counts[i] === 0 && this.#subscribed.has(topic)) missing.push(topic);
        });
      }
      if (missing.length === 0) return;
      this.#stats.repairs += missing.length;
      this.#lastError =
        `Cannot find ${missing.length} subscriptions on Redis after a reconnect: subscribed again`;
      for (const channels of chunks(missing.map((topic) => prefix + topic))) {
        this.#stats.subscribeCommands++;
        await subscriber.subscribe(channels, sharded);
      }
    } catch (error) {
      this.#failed(error as Error);
      this.#verifyPending = true;
    }
  }

  #onMessage(channel: string, bytes: Uint8Array): void {
    this.#stats.received++;
    const { prefix } = this.#settings;
    if (!channel.startsWith(prefix)) return;
    const envelope = decodeEnvelope(bytes);
    if (typeof envelope === "string") {
      this.#stats.malformed++;
      this.#lastError = `${envelope} (channel ${channel})`;
      return;
    }
    if (envelope.position !== undefined) {
      // A topic with history: every node's messages, this one's too, in offset order (the PubSub checks
      // the offsets).
      const topic = channel.slice(prefix.length);
      const own = envelope.origin === this.nodeId;
      const context = this.#history.received(topic, own, envelope.sequence, envelope.position);
      if (this.#receiver === undefined || !this.#wanted.has(topic)) return;
      if (own) this.#stats.echoes++;
      else this.#stats.delivered++;
      const { payload, binary, position } = envelope;
      this.#receiver.message({ topic, payload, binary, position, context: own ? context ?? OWN : undefined });
      return;
    }
    if (envelope.origin === this.nodeId) {
      this.#stats.echoes++;
      return;
    }
    const topic = channel.slice(prefix.length);
    if (envelope.presence) {
      const malformed = this.#presence?.receive(topic, envelope.origin, envelope.payload);
      if (malformed !== undefined) {
        this.#stats.malformed++;
        this.#lastError = `${malformed} (channel ${channel})`;
      }
      return;
    }
    const receiver = this.#receiver;
    // A message that crossed our SUNSUBSCRIBE: nobody here wants it.
    if (receiver === undefined || !this.#wanted.has(topic)) return;
    let origins = this.#seen.get(topic);
    if (origins === undefined) this.#seen.set(topic, origins = new Map());
    const last = origins.get(envelope.origin);
    const { sequence } = envelope;
    if (last === undefined) {
      origins.set(envelope.origin, { value: sequence, idle: 0 });
    } else {
      last.idle = 0;
      if (sequence > last.value + 1) {
        const missed = sequence - last.value - 1;
        this.#stats.gaps++;
        receiver.gap(
          topic,
          `sequence skipped: ${missed} message${
            missed === 1 ? "" : "s"
          } from node ${envelope.origin} missed (${last.value + 1} to ${sequence - 1})`,
        );
      } else if (sequence <= last.value && !(sequence === 1 && last.value > 1)) {
        // Seen already. (1 after more: the publisher forgot an idle topic's counter and started again.)
        this.#stats.duplicates++;
        return;
      }
      last.value = sequence;
    }
    this.#stats.delivered++;
    receiver.message({ topic, payload: envelope.payload, binary: envelope.binary });
  }

  /** Queues a presence change for its topic's channel (behind the commands sent before it; no sequence). */
  #publishPresence(topic: string, payload: Uint8Array): void {
    if (this.#closing !== undefined && this.#closed) return;
    if (!this.#publisherUp) {
      this.#stats.failedPublishes++;
      return;
    }
    const envelope = encodeEnvelope(this.#origin, 1, false, payload, true);
    this.#pendingBytes += envelope.length;
    this.#queue.push([this.#settings.prefix + topic, envelope]);
    if (!this.#queueScheduled) {
      this.#queueScheduled = true;
      queueMicrotask(() => this.#sendQueue());
    }
  }

  /** Sends the publishes queued in this task, in order, as one pipeline. */
  #sendQueue(): void {
    this.#queueScheduled = false;
    const batch = this.#queue, publisher = this.#publisher;
    if (batch.length === 0 || publisher === undefined) return;
    this.#queue = [];
    let bytes = 0;
    for (const [, envelope] of batch) bytes += envelope.length;
    const sent = publisher.publish(batch, this.#settings.sharded).then(
      (refused) => {
        this.#stats.published += batch.length - refused;
        this.#stats.failedPublishes += refused;
        if (refused > 0) this.#failed(new Error(`Redis refused ${refused} of ${batch.length} publishes`));
      },
      (error: Error) => {
        this.#stats.failedPublishes += batch.length;
        this.#lastError = `Cannot publish: ${error.message}`;
      },
    ).finally(() => {
      this.#pendingBytes -= bytes;
      this.#batches.delete(sent);
    });
    this.#batches.add(sent);
  }

  #track(command: Promise<unknown>): void {
    const tracked = command.catch((error: Error) => this.#failed(error)).finally(() =>
      this.#commands.delete(tracked)
    );
    this.#commands.add(tracked);
  }

  #failed(error: Error): void {
    // A command lost with the link is not an error of its own: the reconnect repairs it.
    if (!this.#subscriberUp || !this.#publisherUp || this.#closed) return;
    this.#stats.errors++;
    this.#lastError = error.message;
  }

  /** Forgets the counters of idle topics and origins (see {@linkcode SWEEP_MS}). */
  #sweep(): void {
    for (const [topic, counter] of this.#sequences) {
      if (++counter.idle >= PUBLISHER_IDLE_SWEEPS) this.#sequences.delete(topic);
    }
    for (const [topic, origins] of this.#seen) {
      for (const [origin, counter] of origins) {
        if (++counter.idle >= RECEIVER_IDLE_SWEEPS) origins.delete(origin);
      }
      if (origins.size === 0) this.#seen.delete(topic);
    }
  }
}

/**
 * @param options What was passed.
 * @returns The settings.
 * @throws {TypeError} For an option it does not know, or a value of the wrong type.
 */
function settingsOf(options: RedisBackplaneOptions): Settings {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot create the Redis backplane: the options are not an object");
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new TypeError(`Cannot create the Redis backplane: unknown option "${key}"`);
    }
  }
  const cluster = options.cluster;
  if (cluster !== undefined) {
    if (!Array.isArray(cluster) || cluster.length === 0) {
      throw new TypeError("Cannot create the Redis backplane: cluster is not a non-empty array of URLs");
    }
    for (const node of cluster) {
      if (typeof node !== "string" || !/^rediss?:\/\//.test(node)) {
        throw new TypeError("Cannot create the Redis backplane: a cluster node is not a redis:// or rediss:// URL");
      }
    }
    if (options.url !== undefined || options.client !== undefined) {
      throw new TypeError(
        `Cannot create the Redis backplane: cluster is given with ${options.url !== undefined ? "url" : "client"}`,
      );
    }
  }
  const {
    url = cluster?.[0] ?? "redis://127.0.0.1:6379",
    prefix = "ws:",
    sharded = true,
    nodeId = randomNodeId(),
    maxPendingBytes = 8 * 1024 * 1024,
    presenceTtl = 30_000,
    flushTimeout = 10_000,
  } = options;
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
    throw new TypeError(`Cannot create the Redis backplane: url is not a redis:// or rediss:// URL`);
  }
  if (typeof prefix !== "string") {
    throw new TypeError("Cannot create the Redis backplane: prefix is not a string");
  }
  if (typeof sharded !== "boolean") {
    throw new TypeError("Cannot create the Redis backplane: sharded is not a boolean");
  }
  if (options.client !== undefined && typeof options.client !== "function") {
    throw new TypeError("Cannot create the Redis backplane: client is not a function");
  }
  if (typeof nodeId !== "string") {
    throw new TypeError("Cannot create the Redis backplane: nodeId is not a string");
  }
  const idBytes = new TextEncoder().encode(nodeId).length;
  if (idBytes === 0 || idBytes > 255) {
    throw new TypeError(
      `Cannot create the Redis backplane: nodeId is ${idBytes} bytes of UTF-8, not 1 to 255`,
    );
  }
  if (!Number.isSafeInteger(maxPendingBytes) || maxPendingBytes < 1) {
    throw new TypeError(
      `Cannot create the Redis backplane: maxPendingBytes ${maxPendingBytes} is not a positive integer`,
    );
  }
  if (!Number.isSafeInteger(presenceTtl) || presenceTtl < 3) {
    throw new TypeError(
      `Cannot create the Redis backplane: presenceTtl ${presenceTtl} is not an integer of 3 ms or more`,
    );
  }
  if (typeof flushTimeout !== "number" || !(flushTimeout >= 0)) {
    throw new TypeError(`Cannot create the Redis backplane: flushTimeout ${flushTimeout} is not a duration`);
  }
  return { url, prefix, sharded, nodeId, maxPendingBytes, presenceTtl, flushTimeout };
}

/**
 * Connects to Redis and returns a backplane to give to {@linkcode createPubSub}: its topics are then shared
 * with every other node on the same Redis (and prefix).
 *
 * @param options The Redis URL, the channel prefix, sharded or classic pub/sub, a client of your own, the
 * node's id.
 * @returns The backplane, once both its connections (publisher and subscriber) are ready; rejects if Redis
 * cannot be reached, or has no sharded pub/sub when asked for it.
 * @throws {TypeError} (as a rejection) For an option it does not know, a value of the wrong type, or
 * `cluster` given with `url` or `client`.
 * @example
 * ```ts ignore
 * import { redisBackplane } from "./redis_backplane.ts";
 * import { createPubSub, type TopicEvent } from "../pubsub/pubsub.ts";
 * import { serve } from "../adapters/serve.ts";
 *
 * const backplane = await redisBackplane({ url: "redis://127.0.0.1:6379" });
 * const pubsub = createPubSub({ backplane });
 * pubsub.addEventListener("gap", (event) => console.log("messages may be missing:", (event as TopicEvent).topic));
 * // Run this on every node: a message published on one reaches the room's subscribers on all of them.
 * await serve({
 *   port: 8080,
 *   pubsub,
 *   websocket: { open: (ws) => ws.subscribe("room"), message: (ws, data) => ws.publish("room", data) },
 * });
 * ```
 */
export async function redisBackplane(options: RedisBackplaneOptions = {}): Promise<RedisBackplane> {
  const settings = settingsOf(options);
  const factory = options.client ??
    (options.cluster === undefined
      ? (await import("./_ioredis_connection.ts")).ioredisConnection
      : (await import("./redis_cluster_connection.ts")).ioredisClusterConnection(options.cluster));
  const backplane = new RedisBackplaneImpl(settings);
  await backplane.connect(factory);
  return backplane;
}
