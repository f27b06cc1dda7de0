/**
 * Presence: per topic, who is there. A subscription that asks for it (`ws.subscribe(topic, { presence: true })`)
 * makes its socket's user a member of the topic; several connections of one user (on one node or several)
 * count once, and the member leaves when its last connection leaves the topic or closes.
 *
 * Joins and leaves are batched: a {@linkcode PubSub} emits at most one `"presence"` event
 * ({@linkcode PresenceEvent}) per topic per interval, with every join and leave since the last one, and a
 * join followed by a leave within one interval cancels out. Nothing is pushed to the clients by itself: in a
 * room of N members where each join and leave were sent to everyone, N members arriving cost N² messages;
 * the application decides what to send (a member list per event, a count, nothing).
 *
 * Across nodes, a backplane that carries presence ({@linkcode PresenceBackplane}, as `redisBackplane()`
 * does) keeps each node's members of a topic where the others can read them, with an expiry refreshed while
 * the node lives, and carries each node's batched changes to the others.
 *
 * @module
 */

import type { SubscribeOptions, Subscriber } from "./pubsub.ts";

/** One member of a topic. */
export interface PresenceMember {
  /** The member's id: the user the `upgrade` hook gave its sockets (`ws.user`). */
  readonly id: string;
  /** What the application gave with the member (`presenceData`), or `undefined`. */
  readonly data: unknown;
  /** How many connections of the member are in the topic (over every node; 0 in a leave). */
  readonly connections: number;
}

/** What makes a subscription a member of its topic's presence (see {@linkcode PubSub.subscribe}). */
export interface PresenceJoin {
  /** The member's id (a non-empty string). */
  id: string;
  /** Data that goes with the member (JSON-serializable when a backplane carries it). @default undefined */
  data?: unknown;
}

/** Options for a server socket's `ws.subscribe(topic, options)`. */
export interface SocketSubscribeOptions {
  /**
   * Makes the socket's user (`ws.user`, from the `upgrade` hook's acceptance) a member of the topic's
   * presence; a socket without a user cannot (a `TypeError`).
   * @default {false}
   */
  presence?: boolean;
  /** The member's data, with `presence` (JSON-serializable when a backplane carries it). @default undefined */
  presenceData?: unknown;
}

/**
 * Turns a server socket's subscribe options into the {@linkcode PubSub}'s (for the adapters): `presence: true`
 * becomes the socket's user as the member. Other options pass through as they are.
 *
 * @param user The socket's user.
 * @param options What `ws.subscribe` was given.
 * @returns The options for `PubSub.subscribe`.
 * @throws {TypeError} For presence asked on a socket without a user, or options that are not an object.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subscribeOptionsOf } from "./presence.ts";
 * assert.deepEqual(subscribeOptionsOf("ada", { presence: true, presenceData: 1 }), { presence: { id: "ada", data: 1 } });
 * assert.throws(() => subscribeOptionsOf(undefined, { presence: true }), TypeError);
 * ```
 */
export function subscribeOptionsOf(
  user: string | undefined,
  options: SocketSubscribeOptions | undefined,
): SubscribeOptions {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot subscribe: the options are not an object");
  }
  const { presence, presenceData, ...rest } = options;
  if (presence === undefined || presence === false) return rest;
  if (presence !== true) throw new TypeError("Cannot subscribe: presence is not a boolean");
  if (typeof user !== "string" || user === "") {
    throw new TypeError(
      "Cannot subscribe with presence: the socket has no user (the upgrade hook gives it one: { user })",
    );
  }
  return { ...rest, presence: { id: user, data: presenceData } };
}

/** Options for presence, given to {@linkcode createPubSub} as `presence`. */
export interface PresenceOptions {
  /**
   * Milliseconds over which joins and leaves are gathered into one `"presence"` event per topic (and, with a
   * backplane, into one message per topic to the other nodes).
   * @default {1000}
   */
  interval?: number;
}

/**
 * The batched joins and leaves of one topic since its last event (type `"presence"`, on the
 * {@linkcode PubSub}). A member that joined and left within the interval is in neither. A node emits them
 * for the topics where it has a member itself (it follows only those); a change on another node reaches
 * it within two intervals (one batch there, one here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PresenceEvent } from "./presence.ts";
 * const event = new PresenceEvent("room", [{ id: "ada", data: undefined, connections: 1 }], []);
 * assert.equal(event.type, "presence");
 * assert.equal(event.joins[0].id, "ada");
 * ```
 */
export class PresenceEvent extends Event {
  /** The topic. */
  readonly topic: string;
  /** Members that joined (their data and connections as they are now). */
  readonly joins: readonly PresenceMember[];
  /** Members that left (`connections` 0). */
  readonly leaves: readonly PresenceMember[];

  /**
   * Makes the event (a {@linkcode PubSub} does, once per topic per interval).
   *
   * @param topic The topic.
   * @param joins Members that joined.
   * @param leaves Members that left.
   */
  constructor(topic: string, joins: readonly PresenceMember[], leaves: readonly PresenceMember[]) {
    super("presence");
    this.topic = topic;
    this.joins = joins;
    this.leaves = leaves;
  }
}

/** What a {@linkcode PresenceBackplane} tells the presence registry of a node. */
export interface PresenceReceiver {
  /**
   * Another node's members of a topic changed.
   *
   * @param topic The topic.
   * @param node The other node's id.
   * @param members Its members that changed (`connections` 0: gone), or all of them when `full`.
   * @param full Whether `members` is the node's whole list for the topic (others it had are gone).
   */
  update(topic: string, node: string, members: readonly PresenceMember[], full: boolean): void;
  /** Another node's members of a topic are gone (its entries expired: the node died or lost its link). */
  nodeGone(topic: string, node: string): void;
}

/** The presence side of a backplane: where each node's members are kept and how changes reach the others. */
export interface PresenceBackplane {
  /** Called once, by the PubSub, with what to call back. @param receiver Where others' changes go. */
  attach(receiver: PresenceReceiver): void;
  /**
   * The topic has its first local member: other nodes' changes are wanted (and their current members, given
   * as `full` updates).
   */
  watch(topic: string): void;
  /** The topic's last local member left: no more changes wanted. */
  unwatch(topic: string): void;
  /**
   * This node's members of a topic that changed over the last interval (`connections` 0: gone): kept and
   * sent to the other nodes.
   */
  update(topic: string, members: readonly PresenceMember[]): void;
  /**
   * Reads the other nodes' members of a topic.
   *
   * @param topic The topic.
   * @returns Every other node's members of the topic, by node id.
   */
  members(topic: string): Promise<Map<string, PresenceMember[]>>;
}

/** A local member of a topic: its data and its subscribers here. */
interface LocalMember {
  data: unknown;
  subscribers: Set<Subscriber>;
}

/** A topic's presence on this node. */
interface TopicPresence {
  /** Members with a connection here. */
  readonly local: Map<string, LocalMember>;
  /** Members of other nodes, by node. */
  readonly remote: Map<string, Map<string, PresenceMember>>;
  /** Members (and data) as of the last event. */
  readonly emitted: Map<string, unknown>;
  /** Members to compare with `emitted` at the next tick. */
  readonly dirty: Set<string>;
  /** Local members whose connections here changed: for the backplane at the next tick. */
  readonly localDirty: Set<string>;
}

/** The default {@linkcode PresenceOptions.interval}. */
const DEFAULT_INTERVAL_MS = 1000;

/**
 * A node's presence registry, owned by its {@linkcode PubSub} (which calls `join` and `leave` as
 * subscriptions come and go, and exposes `members` and the events).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Presence, type PresenceEvent } from "./presence.ts";
 * const events: PresenceEvent[] = [];
 * const presence = new Presence({ interval: 10 }, undefined, (event) => events.push(event));
 * const subscriber = { deliver: () => true };
 * presence.join(subscriber, "room", { id: "ada" });
 * assert.deepEqual(presence.localMembers("room"), [{ id: "ada", data: undefined, connections: 1 }]);
 * await new Promise((resolve) => setTimeout(resolve, 50));
 * assert.equal(events[0].joins[0].id, "ada");
 * presence.leave(subscriber, "room");
 * presence.close();
 * ```
 */
export class Presence {
  readonly #interval: number;
  readonly #backplane: PresenceBackplane | undefined;
  readonly #emit: (event: PresenceEvent) => void;
  readonly #topics = new Map<string, TopicPresence>();
  /** Each subscriber's memberships: topic to member id. */
  readonly #memberships = new WeakMap<Subscriber, Map<string, string>>();
  /** Topics with something for the next tick. */
  readonly #pending = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param options The interval.
   * @param backplane Where other nodes' members come from, if any.
   * @param emit Called with each event.
   * @throws {RangeError} For an interval that is not a positive number of milliseconds.
   */
  constructor(
    options: PresenceOptions,
    backplane: PresenceBackplane | undefined,
    emit: (event: PresenceEvent) => void,
  ) {
    const interval = this.#interval = options.interval ?? DEFAULT_INTERVAL_MS;
    if (typeof interval !== "number" || !(interval > 0) || !Number.isFinite(interval)) {
      throw new RangeError(`Cannot create pubsub: presence.interval ${interval} is not a positive number`);
    }
    this.#backplane = backplane;
    this.#emit = emit;
    backplane?.attach({
      update: (topic, node, members, full) => this.#remoteUpdate(topic, node, members, full),
      nodeGone: (topic, node) => this.#nodeGone(topic, node),
    });
  }

  /**
   * Makes a subscriber a member of a topic's presence.
   *
   * @param subscriber The subscriber (already subscribed to the topic).
   * @param topic The topic.
   * @param join The member's id and data.
   * @throws {TypeError} As {@linkcode Presence.check}.
   */
  join(subscriber: Subscriber, topic: string, join: PresenceJoin): void {
    this.check(join);
    const { id, data } = join;
    let memberships = this.#memberships.get(subscriber);
    if (memberships === undefined) this.#memberships.set(subscriber, memberships = new Map());
    if (memberships.has(topic)) return;
    memberships.set(topic, id);
    let state = this.#topics.get(topic);
    if (state === undefined) {
      this.#topics.set(
        topic,
        state = {
          local: new Map(),
          remote: new Map(),
          emitted: new Map(),
          dirty: new Set(),
          localDirty: new Set(),
        },
      );
      this.#backplane?.watch(topic);
    }
    let member = state.local.get(id);
    if (member === undefined) state.local.set(id, member = { data, subscribers: new Set() });
    member.subscribers.add(subscriber);
    this.#changed(topic, state, id);
  }

  /**
   * Checks a join before anything is subscribed.
   *
   * @param join The member's id and data.
   * @throws {TypeError} For an id that is not a non-empty string, or, with a backplane, data that JSON
   * cannot carry (a `BigInt`, a cycle).
   */
  check(join: PresenceJoin): void {
    if (typeof join?.id !== "string" || join.id === "") {
      throw new TypeError("Cannot subscribe with presence: the member id is not a non-empty string");
    }
    if (this.#backplane !== undefined && join.data !== undefined) {
      try {
        JSON.stringify(join.data);
      } catch (error) {
        throw new TypeError(
          `Cannot subscribe with presence: the data is not JSON (${(error as Error).message})`,
        );
      }
    }
  }

  /**
   * Ends a subscriber's membership of a topic (it unsubscribed or closed); nothing if it had none.
   *
   * @param subscriber The subscriber.
   * @param topic The topic.
   */
  leave(subscriber: Subscriber, topic: string): void {
    const memberships = this.#memberships.get(subscriber);
    const id = memberships?.get(topic);
    if (memberships === undefined || id === undefined) return;
    memberships.delete(topic);
    if (memberships.size === 0) this.#memberships.delete(subscriber);
    const state = this.#topics.get(topic);
    const member = state?.local.get(id);
    if (state === undefined || member === undefined) return;
    member.subscribers.delete(subscriber);
    if (member.subscribers.size === 0) state.local.delete(id);
    this.#changed(topic, state, id);
  }

  /**
   * @param topic The topic.
   * @returns Its members with a connection on this node (`connections` counts those here).
   */
  localMembers(topic: string): PresenceMember[] {
    const state = this.#topics.get(topic);
    if (state === undefined) return [];
    return [...state.local].map(([id, member]) => ({
      id,
      data: member.data,
      connections: member.subscribers.size,
    }));
  }

  /**
   * @param topic The topic.
   * @returns Its members on every node: this node's as they are now, the others' as the backplane holds them.
   */
  async members(topic: string): Promise<PresenceMember[]> {
    const merged = new Map<string, PresenceMember>();
    for (const member of this.localMembers(topic)) merged.set(member.id, member);
    if (this.#backplane !== undefined) {
      for (const members of (await this.#backplane.members(topic)).values()) {
        for (const member of members) add(merged, member);
      }
    }
    return [...merged.values()];
  }

  /** Stops the timer (events pending are dropped). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.clear();
  }

  #changed(topic: string, state: TopicPresence, id: string): void {
    state.dirty.add(id);
    state.localDirty.add(id);
    this.#schedule(topic);
  }

  #schedule(topic: string): void {
    this.#pending.add(topic);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#tick();
    }, this.#interval);
  }

  #remoteUpdate(topic: string, node: string, members: readonly PresenceMember[], full: boolean): void {
    const state = this.#topics.get(topic);
    if (state === undefined) return;
    let entries = state.remote.get(node);
    if (entries === undefined) state.remote.set(node, entries = new Map());
    if (full) {
      for (const id of entries.keys()) state.dirty.add(id);
      entries.clear();
    }
    for (const member of members) {
      if (member.connections > 0) entries.set(member.id, member);
      else entries.delete(member.id);
      state.dirty.add(member.id);
    }
    if (entries.size === 0) state.remote.delete(node);
    this.#schedule(topic);
  }

  #nodeGone(topic: string, node: string): void {
    const state = this.#topics.get(topic);
    const entries = state?.remote.get(node);
    if (state === undefined || entries === undefined) return;
    state.remote.delete(node);
    for (const id of entries.keys()) state.dirty.add(id);
    this.#schedule(topic);
  }

  /** One interval's end: each changed topic's local changes to the backplane, and its event. */
  #tick(): void {
    const topics = [...this.#pending];
    this.#pending.clear();
    for (const topic of topics) {
      const state = this.#topics.get(topic);
      if (state === undefined) continue;
      if (state.localDirty.size > 0 && this.#backplane !== undefined) {
        const changes: PresenceMember[] = [];
        for (const id of state.localDirty) {
          const member = state.local.get(id);
          changes.push({ id, data: member?.data, connections: member?.subscribers.size ?? 0 });
        }
        this.#backplane.update(topic, changes);
      }
      state.localDirty.clear();
      const joins: PresenceMember[] = [], leaves: PresenceMember[] = [];
      for (const id of state.dirty) {
        const now = this.#member(state, id);
        const was = state.emitted.has(id);
        if (now !== undefined && !was) {
          joins.push(now);
          state.emitted.set(id, now.data);
        } else if (now === undefined && was) {
          leaves.push({ id, data: state.emitted.get(id), connections: 0 });
          state.emitted.delete(id);
        }
      }
      state.dirty.clear();
      // The last local member left: this node stops following the topic's presence.
      if (state.local.size === 0) {
        this.#topics.delete(topic);
        this.#backplane?.unwatch(topic);
      }
      if (joins.length > 0 || leaves.length > 0) this.#emit(new PresenceEvent(topic, joins, leaves));
    }
  }

  /** @returns The member over every node as this node knows it, or `undefined` if it is not there. */
  #member(state: TopicPresence, id: string): PresenceMember | undefined {
    const merged = new Map<string, PresenceMember>();
    const local = state.local.get(id);
    if (local !== undefined) merged.set(id, { id, data: local.data, connections: local.subscribers.size });
    for (const entries of state.remote.values()) {
      const member = entries.get(id);
      if (member !== undefined) add(merged, member);
    }
    return merged.get(id);
  }
}

/** Adds a member's connections to what `merged` has of it (the first data seen is kept). */
function add(merged: Map<string, PresenceMember>, member: PresenceMember): void {
  const known = merged.get(member.id);
  merged.set(
    member.id,
    known === undefined
      ? member
      : { id: member.id, data: known.data, connections: known.connections + member.connections },
  );
}
