/**
 * Topics (rooms): connections subscribe to named topics, and a message published to a topic reaches every
 * subscriber, encoded, framed and (for subscribers that can share it) compressed once. Bun's names:
 * `subscribe`, `unsubscribe`, `isSubscribed`, `publish`, `subscriberCount`.
 *
 * @module
 */

import type { Backplane } from "./backplane.ts";
import { PreparedMessage, type PreparedMessageOptions } from "./prepared_message.ts";
import { Presence, type PresenceJoin, type PresenceMember, type PresenceOptions } from "./presence.ts";
import type {
  HistoryOption,
  HistoryPage,
  HistoryReadOptions,
  PublishData,
  Recovery,
  StreamPosition,
} from "./history.ts";
import { type HistoryStats, TopicHistory } from "./history_topics.ts";

export type {
  HistoryEntry,
  HistoryOption,
  HistoryOptions,
  HistoryPage,
  HistoryReadOptions,
  PublishData,
  Recovery,
  StreamPosition,
} from "./history.ts";
export type { HistoryStats } from "./history_topics.ts";

export {
  type PresenceBackplane,
  PresenceEvent,
  type PresenceJoin,
  type PresenceMember,
  type PresenceOptions,
  type PresenceReceiver,
  type SocketSubscribeOptions,
} from "./presence.ts";

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Something that can be subscribed to topics: a server's socket, as the adapters make them. */
export interface Subscriber {
  /**
   * Sends a published message (never waiting: a slow subscriber queues it, within its bound).
   *
   * @param message The message, prepared once for all subscribers.
   * @param topic The topic it was published to.
   * @returns Whether it was sent or queued (`false`: dropped, or the subscriber is closing).
   */
  deliver(message: PreparedMessage, topic: string): boolean;
}

/** Options for {@linkcode PubSub.publish}. */
export interface PublishOptions extends PreparedMessageOptions {
  /** Subscribers that do not get this message (`ws.publish` excludes its own socket). @default none */
  except?: Subscriber | ReadonlySet<Subscriber>;
}

/** Options for {@linkcode createPubSub}. */
export interface PubSubOptions {
  /**
   * Longest topic, in UTF-16 code units; longer ones are refused with a `RangeError`. 256 is a Cloudflare
   * Durable Object's longest WebSocket tag, so the same topics work there.
   * @default {256}
   */
  maxTopicLength?: number;
  /**
   * Connects these topics with other processes and machines (`redisBackplane()` from `./redis`): every
   * publish goes to it too, and what other nodes publish reaches the local subscribers. A node never
   * delivers its own publish twice, and `ws.publish` leaves the sender out on every node.
   * @default none: the topics are this process's
   */
  backplane?: Backplane;
  /** Presence (see {@linkcode PubSub.presence}): how joins and leaves are batched. @default {{ interval: 1000 }} */
  presence?: PresenceOptions;
  /**
   * Keeps the last messages of topics, each with a position (`epoch` + `offset`), so that a subscriber that
   * was cut off can subscribe again from its position (`since`) and get what it missed. For every topic
   * (`{ size, ttl }`), or per topic (a function; `undefined` for a topic without). With a backplane that keeps
   * history (`redisBackplane()`: Redis Streams), the history and its offsets are the same on every node;
   * without, it is this process's memory.
   * @default none: no topic keeps history
   */
  history?: HistoryOption;
}

/** Options for {@linkcode PubSub.subscribe}. */
export interface SubscribeOptions {
  /**
   * Makes the subscriber a member of the topic's presence, with this id and data: listed by
   * {@linkcode PubSub.presence}, and in the `"presence"` events. Taken only when newly subscribed.
   * @default none: not a member
   */
  presence?: PresenceJoin;
  /**
   * Subscribes from a position (of a topic with history): the messages after it are delivered first, in
   * order, then the live ones, nothing twice; or, where the history no longer reaches back that far or its
   * epoch changed, none of them and `recovered: false`. `subscribe` then returns a `Promise<Recovery>`.
   * @default none: from now on
   */
  since?: StreamPosition;
}

/** Counters of a {@linkcode PubSub}, since it was created. */
export interface PubSubStats {
  /** Messages published. */
  publishes: number;
  /** Messages handed to subscribers (sent or queued). */
  deliveries: number;
  /** Compressions done for published messages (one per shared deflate setting in use per message). */
  deflates: number;
  /** Deliveries refused by a subscriber (its queue was over its bound, or it was closing). */
  refused: number;
  /** Messages received from other nodes through the backplane. */
  remote: number;
}

/**
 * Fired when a topic gets its first subscriber (`"topicopen"`) and when its last leaves (`"topicclose"`):
 * what a backplane needs to follow, to receive a topic's messages only while someone here wants them; and
 * (`"gap"`) when the backplane may have missed messages of a topic (`reason` says why). On a topic with
 * history, what was missed is first read from the history and delivered in order: `"gap"` then comes only
 * for what the history no longer has, naming the offsets.
 */
export class TopicEvent extends Event {
  /** The topic. */
  readonly topic: string;
  /** Why, for a `"gap"`; else `""`. */
  readonly reason: string;

  /**
   * Makes the event for a topic that opened, closed or lost messages.
   *
   * @param type `"topicopen"`, `"topicclose"` or `"gap"`.
   * @param topic The topic.
   * @param reason Why, for a gap.
   */
  constructor(type: "topicopen" | "topicclose" | "gap", topic: string, reason = "") {
    super(type);
    this.topic = topic;
    this.reason = reason;
  }
}

/**
 * Closes the local sockets of a user (a server registers one with {@linkcode PubSub.addUserCloser}).
 * @returns How many were closed.
 */
export type UserCloser = (user: string, code: number, reason: string) => number;

/**
 * The backplane topic that carries `disconnectUser` to the other nodes. Reserved: no application topic may
 * have this name.
 */
export const USER_CONTROL_TOPIC = "\u0000wsengine:disconnect-user";

/**
 * A registry of topics and their subscribers. One per server unless given: pass the same one to several
 * servers (`serve({ pubsub })`, `listenDeno({ pubsub })`) to share topics between them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPubSub, type Subscriber } from "./pubsub.ts";
 * const pubsub = createPubSub();
 * const received: string[] = [];
 * const subscriber: Subscriber = { deliver: (message) => received.push(new TextDecoder().decode(message.payload)) > 0 };
 * pubsub.subscribe(subscriber, "room");
 * assert.equal(pubsub.subscriberCount("room"), 1);
 * assert.equal(pubsub.publish("room", "hello"), 1);
 * assert.deepEqual(received, ["hello"]);
 * ```
 */
export class PubSub extends EventTarget {
  readonly #userClosers = new Set<UserCloser>();
  #followsUserControl = false;
  /**
   * Each topic's subscribers: the subscriber itself while it is the only one (a Set costs ~150 bytes on V8,
   * ~300 on JavaScriptCore), a Set from the second on (kept until the topic empties, so that a publish
   * iterating it never sees a subscriber that left). A subscriber that is itself a Set is always put in one.
   */
  readonly #topics = new Map<string, Subscriber | Set<Subscriber>>();
  /** Each subscriber's topics: the topic itself while it has one, a Set from the second on. */
  readonly #subscriptions = new WeakMap<Subscriber, string | Set<string>>();
  readonly #maxTopicLength: number;
  readonly #stats: PubSubStats = { publishes: 0, deliveries: 0, deflates: 0, refused: 0, remote: 0 };
  readonly #backplane: Backplane | undefined;
  readonly #presence: Presence;
  readonly #history: TopicHistory | undefined;

  /**
   * Makes an empty registry (see also {@linkcode createPubSub}).
   *
   * @param options The longest topic, the backplane, presence.
   */
  constructor(options: PubSubOptions = {}) {
    super();
    this.#maxTopicLength = options.maxTopicLength ?? 256;
    if (!Number.isInteger(this.#maxTopicLength) || this.#maxTopicLength < 1) {
      throw new RangeError(
        `Cannot create pubsub: maxTopicLength ${options.maxTopicLength} is not a positive integer`,
      );
    }
    const backplane = this.#backplane = options.backplane;
    if (backplane !== undefined) {
      backplane.attach({
        message: ({ topic, payload, binary, position, context }) => {
          if (topic === USER_CONTROL_TOPIC) return this.#userControl(payload);
          if (position !== undefined && this.#history !== undefined) {
            if (context === undefined) this.#stats.remote++;
            return this.#history.remote({ topic, payload, binary, position, context });
          }
          this.#stats.remote++;
          this.#deliver(topic, new PreparedMessage(payload, { binary }), undefined);
        },
        gap: (topic, reason) => {
          // A disconnectUser lost while the link was down cannot be replayed: the token expiry is the backstop.
          if (topic === USER_CONTROL_TOPIC) return;
          // A topic with history is filled from it (the event comes only if that cannot be done).
          if (this.#history?.optionsFor(topic) !== undefined) this.#history.gap(topic, reason);
          else this.dispatchEvent(new TopicEvent("gap", topic, reason));
        },
      });
    }
    this.#presence = new Presence(
      options.presence ?? {},
      backplane?.presence,
      (event) => this.dispatchEvent(event),
    );
    if (options.history !== undefined) {
      this.#history = new TopicHistory(options.history, {
        deliver: (topic, message, except) => this.#deliver(topic, message, except),
        unsubscribe: (subscriber, topic) => this.unsubscribe(subscriber, topic),
        isSubscribed: (subscriber, topic) => this.isSubscribed(subscriber, topic),
        subscriberCount: (topic) => this.subscriberCount(topic),
        subscribers: (topic) => {
          const subscribers = this.#topics.get(topic);
          return subscribers === undefined ? [] : subscribers instanceof Set ? subscribers : [subscribers];
        },
        gap: (topic, reason) => this.dispatchEvent(new TopicEvent("gap", topic, reason)),
      }, backplane?.history);
    }
  }

  /** Counters of the history (`undefined` without `history`). */
  get historyStats(): HistoryStats | undefined {
    return this.#history === undefined ? undefined : { ...this.#history.stats };
  }

  /** The backplane, if the topics reach beyond this process. */
  get backplane(): Backplane | undefined {
    return this.#backplane;
  }

  /** A snapshot of the counters. */
  get stats(): PubSubStats {
    return { ...this.#stats };
  }

  /** How many topics have subscribers. */
  get topicCount(): number {
    return this.#topics.size;
  }

  /**
   * Subscribes to a topic.
   *
   * @param subscriber The subscriber.
   * @param topic A non-empty string of well-formed UTF-16, at most `maxTopicLength` code units.
   * @param options Presence: the member this subscription is.
   * @returns `true` if newly subscribed, `false` if it already was.
   * @throws {TypeError} For a topic that is not a non-empty, well-formed string, a presence id that is not
   * a non-empty string, or presence data a backplane cannot carry (not JSON).
   * @throws {RangeError} For a topic longer than `maxTopicLength`.
   */
  subscribe(
    subscriber: Subscriber,
    topic: string,
    options?: SubscribeOptions & { since?: undefined },
  ): boolean;
  /**
   * Subscribes to a topic with history and recovers what was missed: the messages after `options.since`
   * are delivered first, in order, then the live ones; or none, when the history no longer reaches that
   * far (`recovered: false`, see {@linkcode Recovery}).
   *
   * @param subscriber The subscriber.
   * @param topic The topic.
   * @param options `since`: the position of the last message the subscriber had; presence as above.
   * @returns Whether it recovered and where the topic now is, once the missed messages are delivered.
   */
  subscribe(
    subscriber: Subscriber,
    topic: string,
    options: SubscribeOptions & { since: StreamPosition },
  ): Promise<Recovery>;
  /**
   * Subscribes to a topic: either of the two above, as `options.since` is given or not.
   *
   * @param subscriber The subscriber.
   * @param topic The topic.
   * @param options Presence, and `since` to recover from.
   * @returns `true`/`false` as the first; a promise of the {@linkcode Recovery} with `since`.
   */
  subscribe(subscriber: Subscriber, topic: string, options?: SubscribeOptions): boolean | Promise<Recovery>;
  subscribe(
    subscriber: Subscriber,
    topic: string,
    options: SubscribeOptions = {},
  ): boolean | Promise<Recovery> {
    this.#checkTopic("subscribe", topic);
    if (options.since !== undefined) {
      const { since, ...rest } = options;
      const history = this.#historyOf("recover", topic);
      return history.recover(
        subscriber,
        topic,
        since,
        history.optionsFor(topic)!,
        () => this.subscribe(subscriber, topic, rest),
      );
    }
    const presence = options.presence;
    if (presence !== undefined) this.#presence.check(presence);
    const topics = this.#subscriptions.get(subscriber);
    if (topics === undefined) this.#subscriptions.set(subscriber, topic);
    else if (typeof topics === "string") {
      if (topics === topic) return false;
      this.#subscriptions.set(subscriber, new Set([topics, topic]));
    } else {
      if (topics.has(topic)) return false;
      topics.add(topic);
    }
    const subscribers = this.#topics.get(topic);
    const opened = subscribers === undefined;
    if (subscribers === undefined) {
      this.#topics.set(topic, subscriber instanceof Set ? new Set([subscriber]) : subscriber);
    } else if (subscribers instanceof Set) subscribers.add(subscriber);
    else this.#topics.set(topic, new Set([subscribers, subscriber]));
    if (opened) {
      this.#backplane?.subscribe(topic);
      this.dispatchEvent(new TopicEvent("topicopen", topic));
    }
    if (presence !== undefined) this.#presence.join(subscriber, topic, presence);
    return true;
  }

  /**
   * Unsubscribes from a topic.
   *
   * @param subscriber The subscriber.
   * @param topic The topic.
   * @returns `true` if it was subscribed.
   */
  unsubscribe(subscriber: Subscriber, topic: string): boolean {
    this.#checkTopic("unsubscribe", topic);
    const topics = this.#subscriptions.get(subscriber);
    if (topics === undefined) return false;
    if (typeof topics === "string") {
      if (topics !== topic) return false;
      this.#subscriptions.delete(subscriber);
    } else {
      if (!topics.delete(topic)) return false;
      // A Set costs ~150 bytes more than the topic itself: one topic left is kept as it.
      if (topics.size === 1) this.#subscriptions.set(subscriber, topics.values().next().value!);
    }
    this.#leave(subscriber, topic);
    return true;
  }

  /** Unsubscribes from every topic (a socket that closed). @param subscriber The subscriber. */
  unsubscribeAll(subscriber: Subscriber): void {
    const topics = this.#subscriptions.get(subscriber);
    if (topics === undefined) return;
    this.#subscriptions.delete(subscriber);
    if (typeof topics === "string") this.#leave(subscriber, topics);
    else for (const topic of topics) this.#leave(subscriber, topic);
  }

  /**
   * Tells whether `subscriber` is subscribed to `topic`.
   *
   * @param subscriber The subscriber.
   * @param topic The topic.
   * @returns Whether the subscriber is subscribed to the topic.
   */
  isSubscribed(subscriber: Subscriber, topic: string): boolean {
    const topics = this.#subscriptions.get(subscriber);
    return typeof topics === "string" ? topics === topic : topics?.has(topic) ?? false;
  }

  /**
   * Lists the topics `subscriber` is subscribed to.
   *
   * @param subscriber The subscriber.
   * @returns Its topics, in the order it subscribed (a fresh array).
   */
  subscriptionsOf(subscriber: Subscriber): string[] {
    const topics = this.#subscriptions.get(subscriber);
    return topics === undefined ? [] : typeof topics === "string" ? [topics] : [...topics];
  }

  /**
   * Counts the subscribers of `topic` in this process.
   *
   * @param topic The topic.
   * @returns How many subscribers it has (a lookup, not a loop).
   */
  subscriberCount(topic: string): number {
    const subscribers = this.#topics.get(topic);
    return subscribers === undefined ? 0 : subscribers instanceof Set ? subscribers.size : 1;
  }

  /**
   * Who is in a topic: the members of its presence (subscriptions made with `presence`), on every node when
   * the backplane carries presence. One user with several connections is one member (`connections` says
   * how many). Read from the backplane each time (with Redis, two round trips): for a live view, follow the
   * `"presence"` events ({@linkcode PresenceEvent}), batched per `presence.interval`.
   *
   * @param topic The topic.
   * @returns Its members; rejects if the backplane cannot be read (the link to Redis is down).
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createPubSub } from "./pubsub.ts";
   * const pubsub = createPubSub();
   * const tab1 = { deliver: () => true }, tab2 = { deliver: () => true };
   * pubsub.subscribe(tab1, "room", { presence: { id: "ada", data: { name: "Ada" } } });
   * pubsub.subscribe(tab2, "room", { presence: { id: "ada", data: { name: "Ada" } } });
   * assert.deepEqual(await pubsub.presence("room"), [{ id: "ada", data: { name: "Ada" }, connections: 2 }]);
   * pubsub.unsubscribeAll(tab1);
   * pubsub.unsubscribeAll(tab2);
   * pubsub.close();
   * ```
   */
  async presence(topic: string): Promise<PresenceMember[]> {
    this.#checkTopic("read presence", topic);
    return await this.#presence.members(topic);
  }

  /**
   * Counts the members of a topic's presence (users, not connections), on every node.
   *
   * @param topic The topic.
   * @returns How many members it has.
   */
  async presenceCount(topic: string): Promise<number> {
    return (await this.presence(topic)).length;
  }

  /**
   * Registers how a server closes its sockets of a user: every server path does so for its registry, so that
   * {@linkcode PubSub.disconnectUser} reaches them all.
   *
   * @param closer Closes the server's sockets of a user; returns how many.
   * @returns Unregisters it (when the server closes).
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createPubSub } from "./pubsub.ts";
   * const pubsub = createPubSub();
   * const remove = pubsub.addUserCloser((user) => (user === "ada" ? 2 : 0));
   * assert.equal(pubsub.disconnectUser("ada"), 2);
   * remove();
   * assert.equal(pubsub.disconnectUser("ada"), 0);
   * ```
   */
  addUserCloser(closer: UserCloser): () => void {
    if (typeof closer !== "function") throw new TypeError("Cannot add a user closer: not a function");
    // A node with servers follows the control topic, subscribers or not, so that disconnectUser reaches it.
    if (this.#userClosers.size === 0 && !this.#followsUserControl) {
      this.#followsUserControl = true;
      this.#backplane?.subscribe(USER_CONTROL_TOPIC);
    }
    this.#userClosers.add(closer);
    return () => void this.#userClosers.delete(closer);
  }

  /**
   * Closes every socket of a user (the `user` the `upgrade` hook gave them) on every server of this
   * registry, and, with a backplane, on every other node: they receive it on a control topic of the
   * backplane and close theirs. A node that was cut off from the backplane at that moment does not hear it
   * (no replay): keep credentials short-lived (`expiresAt`) as the backstop.
   *
   * @param user The user.
   * @param code The close code: 1000, or 3000-4999. @default {1008} (Policy Violation: a reconnecting client stops)
   * @param reason The close reason (at most 123 bytes of UTF-8). @default {"disconnected"}
   * @returns How many sockets were closed in this process (other nodes close theirs without telling).
   * @throws {TypeError} For a user that is not a string; {RangeError} for a code or reason the protocol
   * does not allow.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createPubSub } from "./pubsub.ts";
   * const pubsub = createPubSub(); // with { backplane }, the other nodes close theirs too
   * pubsub.addUserCloser((user, code) => (user === "ada" && code === 4403 ? 1 : 0));
   * assert.equal(pubsub.disconnectUser("ada", 4403, "banned"), 1);
   * ```
   */
  disconnectUser(user: string, code = 1008, reason = "disconnected"): number {
    if (typeof user !== "string") throw new TypeError("Cannot disconnect a user: the user is not a string");
    // RFC 6455 §7.4.1: 1000, and 3000-4999 (registered and private codes) are what an endpoint may send here.
    if (!Number.isInteger(code) || !(code === 1000 || code === 1008 || (code >= 3000 && code <= 4999))) {
      throw new RangeError(`Cannot disconnect a user: close code ${code} is not 1000, 1008 or 3000-4999`);
    }
    const reasonBytes = new TextEncoder().encode(reason);
    // §5.5: control frames carry at most 125 bytes, 2 of them the code.
    if (reasonBytes.length > 123) {
      throw new RangeError(
        `Cannot disconnect a user: the reason is ${reasonBytes.length} bytes of UTF-8, over 123`,
      );
    }
    this.#backplane?.publish(
      USER_CONTROL_TOPIC,
      new TextEncoder().encode(JSON.stringify({ user, code, reason })),
      false,
    );
    return this.#closeUser(user, code, reason);
  }

  #closeUser(user: string, code: number, reason: string): number {
    let closed = 0;
    for (const closer of this.#userClosers) closed += closer(user, code, reason);
    return closed;
  }

  /** Another node's disconnectUser; a message that is not one (another library's node) is ignored. */
  #userControl(payload: Uint8Array): void {
    let order: { user?: unknown; code?: unknown; reason?: unknown };
    try {
      order = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    const { user, code, reason } = order ?? {};
    if (typeof user !== "string" || typeof code !== "number" || typeof reason !== "string") return;
    try {
      this.#closeUser(user, code, reason);
    } catch {
      // A code another node accepted: nothing to tell it.
    }
  }

  /** Stops the presence timer (presence events still pending are not emitted). The backplane is not closed. */
  close(): void {
    this.#presence.close();
  }

  /**
   * Publishes a message to every subscriber of a topic (but those in `options.except`), without waiting for
   * any: encoded and framed once, compressed once per shared deflate setting.
   *
   * @param topic The topic.
   * On a topic with history, the message takes the topic's next position: `data` may then be a function,
   * called with that position, that makes the message (to put the position in what the clients get). In
   * memory that is at once; with a backplane that keeps history, once Redis gave the position, and the local
   * subscribers get the message then, in offset order with every node's (the count returned is how many
   * it is going to be handed to). {@linkcode PubSub.append} does the same and resolves with the position.
   *
   * @param topic The topic.
   * @param data A string for text, bytes for binary (unless `options.binary` says otherwise), or, for a
   * topic with history, a function of the position that returns one.
   * @param options The type, compression, and subscribers to leave out.
   * @returns How many subscribers it was handed to.
   * @throws {TypeError} For a bad topic or data, bytes sent as text that are not UTF-8, or a function for a
   * topic without history.
   */
  publish(topic: string, data: PublishData, options: PublishOptions = {}): number {
    this.#checkTopic("publish", topic);
    const history = this.#history?.optionsFor(topic);
    if (history !== undefined) {
      this.#stats.publishes++;
      return this.#history!.publish(topic, data, options, history);
    }
    if (typeof data === "function") {
      throw new TypeError(
        `Cannot publish: data is a function, and "${topic}" keeps no history to give it a position`,
      );
    }
    const message = new PreparedMessage(data, options);
    this.#stats.publishes++;
    // The other nodes get it too; a node never hears its own publish back (the backplane leaves it out).
    this.#backplane?.publish(topic, message.payload, message.binary);
    return this.#deliver(topic, message, options.except);
  }

  /**
   * Publishes to a topic with history, like {@linkcode PubSub.publish}, and resolves with the message's
   * position once it is known. (`publish` keeps Bun's synchronous count; a position given by Redis comes
   * later, and a promise is what can also say that it could not be had.)
   *
   * @param topic A topic with history.
   * @param data The message, or a function of its position that makes it.
   * @param options The type, compression, and subscribers to leave out.
   * @returns The position; rejects if the backplane could not append it (it then reached nobody).
   * @throws {TypeError} For a topic without history.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createPubSub } from "./pubsub.ts";
   * const pubsub = createPubSub({ history: { size: 10 } });
   * const position = await pubsub.append("news", (at) => JSON.stringify({ at, text: "hello" }));
   * assert.equal(position.offset, 1);
   * const page = await pubsub.history("news");
   * assert.equal(JSON.parse(new TextDecoder().decode(page.entries[0].payload)).at.epoch, position.epoch);
   * ```
   */
  append(topic: string, data: PublishData, options: PublishOptions = {}): Promise<StreamPosition> {
    this.#checkTopic("append", topic);
    const history = this.#historyOf("append", topic);
    this.#stats.publishes++;
    return history.append(topic, data, options, history.optionsFor(topic)!);
  }

  /**
   * The current position of a topic with history: where a client starts (give it to the client with what it
   * first receives, and it can subscribe again `since` it after a reconnect).
   *
   * @param topic A topic with history.
   * @returns Its epoch and the offset of its latest message (0 before any).
   * @throws {TypeError} For a topic without history.
   */
  position(topic: string): Promise<StreamPosition> {
    this.#checkTopic("read the position", topic);
    const history = this.#historyOf("read the position", topic);
    return history.position(topic, history.optionsFor(topic)!);
  }

  /**
   * Reads a topic's history, oldest first.
   *
   * @param topic A topic with history.
   * @param options Only after a position (`since`), and how many (`limit`).
   * @returns The messages, the topic's position, and whether they are all that came after `since`.
   * @throws {TypeError} For a topic without history.
   */
  history(topic: string, options: HistoryReadOptions = {}): Promise<HistoryPage> {
    this.#checkTopic("read the history", topic);
    const history = this.#historyOf("read the history", topic);
    return history.read(topic, options, history.optionsFor(topic)!);
  }

  #historyOf(what: string, topic: string): TopicHistory {
    const history = this.#history;
    if (history === undefined || history.optionsFor(topic) === undefined) {
      throw new TypeError(
        `Cannot ${what}: "${topic}" keeps no history (see the history option of createPubSub)`,
      );
    }
    return history;
  }

  #deliver(topic: string, message: PreparedMessage, except: PublishOptions["except"]): number {
    const subscribers = this.#topics.get(topic);
    if (subscribers === undefined) return 0;
    if (!(subscribers instanceof Set)) {
      if (
        except !== undefined && (except === subscribers || (except instanceof Set && except.has(subscribers)))
      ) return 0;
      const delivered = subscribers.deliver(message, topic);
      if (delivered) this.#stats.deliveries++;
      else this.#stats.refused++;
      this.#stats.deflates += message.deflates;
      return delivered ? 1 : 0;
    }
    let delivered = 0;
    for (const subscriber of subscribers) {
      if (
        except !== undefined && (except === subscriber || (except instanceof Set && except.has(subscriber)))
      ) continue;
      if (subscriber.deliver(message, topic)) delivered++;
      else this.#stats.refused++;
    }
    this.#stats.deliveries += delivered;
    this.#stats.deflates += message.deflates;
    return delivered;
  }

  #leave(subscriber: Subscriber, topic: string): void {
    const subscribers = this.#topics.get(topic);
    if (subscribers === undefined) return;
    if (subscribers instanceof Set ? !subscribers.delete(subscriber) : subscribers !== subscriber) return;
    this.#presence.leave(subscriber, topic);
    if (!(subscribers instanceof Set) || subscribers.size === 0) {
      this.#topics.delete(topic);
      this.#backplane?.unsubscribe(topic);
      this.#history?.forget(topic);
      this.dispatchEvent(new TopicEvent("topicclose", topic));
    }
  }

  #checkTopic(what: string, topic: string): void {
    if (typeof topic !== "string") throw new TypeError(`Cannot ${what}: the topic is not a string`);
    if (topic === "") throw new TypeError(`Cannot ${what}: the topic is empty`);
    if (topic === USER_CONTROL_TOPIC) {
      throw new TypeError(`Cannot ${what}: the topic is reserved for disconnectUser`);
    }
    checkTopic(what, topic, this.#maxTopicLength);
  }
}

/**
 * Checks a topic against the rules of {@linkcode PubSub}: a non-empty string of well-formed UTF-16, at most
 * `maxTopicLength` code units (what `bunServe({ nativeTopics: true })` checks before Bun's own topics).
 *
 * @param what What was being done, for the message (`"subscribe"`).
 * @param topic The topic.
 * @param maxTopicLength The longest topic. @default {256}
 * @throws {TypeError} For a topic that is not a non-empty, well-formed string.
 * @throws {RangeError} For a topic longer than `maxTopicLength`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTopic } from "./pubsub.ts";
 * checkTopic("subscribe", "room");
 * assert.throws(() => checkTopic("subscribe", ""), TypeError);
 * assert.throws(() => checkTopic("subscribe", "x".repeat(257)), RangeError);
 * ```
 */
export function checkTopic(what: string, topic: string, maxTopicLength = 256): void {
  if (typeof topic !== "string") throw new TypeError(`Cannot ${what}: the topic is not a string`);
  if (topic === "") throw new TypeError(`Cannot ${what}: the topic is empty`);
  if (topic.length > maxTopicLength) {
    throw new RangeError(
      `Cannot ${what}: the topic is ${topic.length} code units long, over ${maxTopicLength}`,
    );
  }
  // A lone surrogate has no UTF-8: such a topic could not cross to a backplane or an edge runtime.
  if (LONE_SURROGATE.test(topic)) throw new TypeError(`Cannot ${what}: the topic is not well-formed UTF-16`);
}

/**
 * Creates a topic registry.
 *
 * @param options The longest topic.
 * @returns The registry.
 * @example
 * ```ts ignore
 * import { createPubSub } from "./pubsub.ts";
 * import { serve } from "../adapters/serve.ts";
 * const pubsub = createPubSub();
 * await serve({ port: 8080, pubsub, websocket: { open: (ws) => ws.subscribe("news") } });
 * await serve({ port: 8081, pubsub, websocket: { message: (ws, data) => ws.publish("news", data) } });
 * ```
 */
export function createPubSub(options?: PubSubOptions): PubSub {
  return new PubSub(options);
}
