/**
 * Presence over Redis, for the {@linkcode redisBackplane}: each node keeps its members of a topic in a hash
 * of its own, which expires unless the node refreshes it, and sends its batched changes on the topic's
 * channel to the nodes that follow the topic.
 *
 * Keys, for a topic whose channel is `C` (`prefix + topic`), in `C`'s hash slot (a hash tag: `{C}`, or `C`'s
 * own tag when it has one), so that a Redis Cluster keeps a topic's presence on the shard of its channel:
 *
 * | key                       | type | holds                                                         |
 * |---------------------------|------|---------------------------------------------------------------|
 * | `{C}:presence`            | set  | the ids of the nodes with members in the topic                |
 * | `{C}:presence:<nodeId>`   | hash | that node's members: id → JSON `[connections]` or `[connections, data]` |
 *
 * Both expire after `ttl` milliseconds; a live node sets the expiry again every `ttl / 3`. A node that dies
 * (or loses its link for longer than `ttl`) leaves no entry behind: its hash expires, and the nodes that
 * follow the topic, checking every `ttl / 3` that the hashes of the nodes they know still exist, report its
 * members as gone. A node whose hash expired while it lived (its link was down) writes it again whole.
 *
 * A change is written (`HSET`/`HDEL`) before it is published, on the same connection: a node that reads the
 * hash (`HGETALL`) and then applies the changes received meanwhile ends up with the node's current members.
 *
 * @module
 */

import type { PresenceBackplane, PresenceMember, PresenceReceiver } from "../pubsub/presence.ts";

/** What {@linkcode RedisPresence} needs of its backplane. */
export interface RedisPresenceHost {
  /** This node's id. */
  readonly nodeId: string;
  /** How long a node's entries live without a refresh, in milliseconds. */
  readonly ttl: number;
  /** A topic's channel (`prefix + topic`). */
  channel(topic: string): string;
  /** Sends commands, pipelined on the publishing connection: each reply or its `Error`. */
  commands(batch: readonly (readonly string[])[]): Promise<unknown[]>;
  /** Publishes a presence change on a topic's channel, after the commands sent so far. */
  publish(topic: string, payload: Uint8Array): void;
  /** Reports an error (`lastError`). */
  failed(error: Error): void;
}

/** A change as sent on the channel: `f` is set when `m` is the node's whole list for the topic. */
interface Delta {
  f?: 1;
  m: [id: string, connections: number, data?: unknown][];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A channel's hash tag, as Redis Cluster computes it: the text between the first `{` and the first `}` after
 * it, if not empty.
 *
 * @param key A key or channel.
 * @returns Its tag, or `undefined` without one.
 */
function hashTag(key: string): string | undefined {
  const open = key.indexOf("{");
  if (open < 0) return undefined;
  const close = key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/**
 * The start of a topic's presence keys: in the hash slot of its channel.
 *
 * @param channel The topic's channel.
 * @returns `{channel}`, or the channel itself when it has a hash tag of its own (which the keys then keep).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { presenceKeyBase } from "./redis_presence.ts";
 * assert.equal(presenceKeyBase("ws:room"), "{ws:room}");
 * assert.equal(presenceKeyBase("ws:{tenant1}:room"), "ws:{tenant1}:room");
 * ```
 */
export function presenceKeyBase(channel: string): string {
  if (hashTag(channel) !== undefined) return channel;
  // Without a "}", "{channel}" has the whole channel as its tag; with one (a "}" but no tag), no key can share
  // the channel's slot by a tag, and the keys go where they hash (single-key commands: still correct).
  return channel.includes("}") ? channel : `{${channel}}`;
}

/**
 * @param reply An `HGETALL` reply, as a client gives it (a flat array of fields and values, or an object).
 * @returns The members it holds.
 */
function parseMembers(reply: unknown): PresenceMember[] {
  const pairs: [string, string][] = [];
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), String(reply[i + 1])]);
  } else if (typeof reply === "object" && reply !== null) {
    for (const [field, value] of Object.entries(reply)) pairs.push([field, String(value)]);
  }
  const members: PresenceMember[] = [];
  for (const [id, value] of pairs) {
    try {
      const entry = JSON.parse(value) as unknown[];
      const connections = Number(entry[0]);
      if (!Number.isSafeInteger(connections) || connections < 1) continue;
      members.push({ id, data: entry.length > 1 ? entry[1] : undefined, connections });
    } catch {
      // Not ours: another program wrote into the key.
    }
  }
  return members;
}

/**
 * The presence side of the Redis backplane (made by `redisBackplane()`, reached as `backplane.presence`).
 *
 * @example
 * ```ts ignore
 * import { redisBackplane } from "./redis_backplane.ts";
 * import { createPubSub } from "../pubsub/pubsub.ts";
 * const backplane = await redisBackplane({ url: "redis://127.0.0.1:6379", presenceTtl: 30_000 });
 * const pubsub = createPubSub({ backplane });
 * console.log(await pubsub.presence("room")); // every node's members
 * ```
 */
export class RedisPresence implements PresenceBackplane {
  readonly #host: RedisPresenceHost;
  #receiver: PresenceReceiver | undefined;
  /** This node's members, per topic. */
  readonly #own = new Map<string, Map<string, PresenceMember>>();
  /** Topics whose entries on Redis are to be written again whole (a write failed, or they expired). */
  readonly #stale = new Set<string>();
  /** Topics followed, and the other nodes known in each. */
  readonly #watched = new Map<string, Set<string>>();
  /** Topics being read: the changes received meanwhile, applied after what was read. */
  readonly #loading = new Map<string, [node: string, delta: Delta][]>();
  readonly #timer: ReturnType<typeof setInterval>;
  #closed = false;

  /** @param host The backplane's side. */
  constructor(host: RedisPresenceHost) {
    this.#host = host;
    this.#timer = setInterval(() => void this.#refresh(), Math.max(1, Math.floor(host.ttl / 3)));
  }

  attach(receiver: PresenceReceiver): void {
    if (this.#receiver !== undefined) {
      throw new Error("Cannot attach the Redis presence: it is attached to a PubSub already");
    }
    this.#receiver = receiver;
  }

  watch(topic: string): void {
    if (this.#closed || this.#watched.has(topic)) return;
    this.#watched.set(topic, new Set());
    void this.#load(topic);
  }

  unwatch(topic: string): void {
    this.#watched.delete(topic);
    this.#loading.delete(topic);
  }

  update(topic: string, members: readonly PresenceMember[]): void {
    if (this.#closed) return;
    let own = this.#own.get(topic);
    if (own === undefined) this.#own.set(topic, own = new Map());
    for (const member of members) {
      if (member.connections > 0) own.set(member.id, member);
      else own.delete(member.id);
    }
    if (this.#stale.has(topic)) return void this.#rewrite(topic);
    const { hash, set } = this.#keys(topic, this.#host.nodeId);
    const present = members.filter((member) => member.connections > 0);
    const gone = members.filter((member) => member.connections === 0).map((member) => member.id);
    const batch: string[][] = [];
    if (present.length > 0) {
      batch.push(["HSET", hash, ...present.flatMap((member) => [member.id, entry(member)])]);
    }
    if (gone.length > 0) batch.push(["HDEL", hash, ...gone]);
    if (own.size === 0) {
      this.#own.delete(topic);
      batch.push(["DEL", hash], ["SREM", set, this.#host.nodeId]);
    } else {
      batch.push(["PEXPIRE", hash, String(this.#host.ttl)], ...this.#register(set));
    }
    this.#send(topic, batch);
    this.#publish(topic, { m: members.map(wire) });
  }

  async members(topic: string): Promise<Map<string, PresenceMember[]>> {
    const { set } = this.#keys(topic, this.#host.nodeId);
    const [nodes] = await this.#host.commands([["SMEMBERS", set]]);
    if (nodes instanceof Error) throw nodes;
    const others = (Array.isArray(nodes) ? nodes.map(String) : []).filter((node) =>
      node !== this.#host.nodeId
    );
    const out = new Map<string, PresenceMember[]>();
    if (others.length === 0) return out;
    const replies = await this.#host.commands(
      others.map((node) => ["HGETALL", this.#keys(topic, node).hash]),
    );
    others.forEach((node, i) => {
      const reply = replies[i];
      if (reply instanceof Error) throw reply;
      const members = parseMembers(reply);
      if (members.length > 0) out.set(node, members);
    });
    return out;
  }

  /**
   * A presence change another node published on a topic's channel.
   *
   * @param topic The topic.
   * @param node The node that published it.
   * @param payload Its bytes.
   * @returns Why it was not applied (malformed), or `undefined`.
   */
  receive(topic: string, node: string, payload: Uint8Array): string | undefined {
    let delta: Delta;
    try {
      delta = JSON.parse(decoder.decode(payload)) as Delta;
      if (!Array.isArray(delta?.m)) throw new TypeError("no member list");
    } catch (error) {
      return `Cannot read a presence change: ${(error as Error).message}`;
    }
    const nodes = this.#watched.get(topic);
    if (nodes === undefined) return undefined;
    const loading = this.#loading.get(topic);
    if (loading !== undefined) loading.push([node, delta]);
    else this.#apply(topic, nodes, node, delta);
    return undefined;
  }

  /**
   * After the link to Redis came back: writes this node's entries again whole (changes sent while it was
   * down were lost), and reads the followed topics again (changes of others may have been missed).
   */
  resync(): void {
    if (this.#closed) return;
    for (const topic of this.#own.keys()) this.#rewrite(topic);
    for (const topic of this.#watched.keys()) void this.#load(topic);
  }

  /**
   * Removes this node's entries and tells the other nodes (they see its members leave at once), and stops
   * the refresh.
   *
   * @returns Resolves when Redis answered (or the commands failed).
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#timer);
    const batch: string[][] = [];
    for (const topic of this.#own.keys()) {
      const { hash, set } = this.#keys(topic, this.#host.nodeId);
      batch.push(["DEL", hash], ["SREM", set, this.#host.nodeId]);
    }
    const sent = batch.length === 0 ? Promise.resolve() : this.#host.commands(batch).then(() => {}, () => {});
    for (const topic of this.#own.keys()) this.#host.publish(topic, encodeDelta({ f: 1, m: [] }));
    this.#own.clear();
    this.#watched.clear();
    this.#loading.clear();
    return sent;
  }

  #keys(topic: string, node: string): { hash: string; set: string } {
    const base = presenceKeyBase(this.#host.channel(topic));
    return { hash: `${base}:presence:${node}`, set: `${base}:presence` };
  }

  #register(set: string): string[][] {
    return [["SADD", set, this.#host.nodeId], ["PEXPIRE", set, String(this.#host.ttl)]];
  }

  /** Writes this node's members of a topic again whole, and sends them as a whole list. */
  #rewrite(topic: string): void {
    this.#stale.delete(topic);
    const own = this.#own.get(topic);
    const { hash, set } = this.#keys(topic, this.#host.nodeId);
    if (own === undefined || own.size === 0) {
      this.#own.delete(topic);
      this.#send(topic, [["DEL", hash], ["SREM", set, this.#host.nodeId]]);
      this.#publish(topic, { f: 1, m: [] });
      return;
    }
    const members = [...own.values()];
    this.#send(topic, [
      ["DEL", hash],
      ["HSET", hash, ...members.flatMap((member) => [member.id, entry(member)])],
      ["PEXPIRE", hash, String(this.#host.ttl)],
      ...this.#register(set),
    ]);
    this.#publish(topic, { f: 1, m: members.map(wire) });
  }

  #send(topic: string, batch: string[][]): void {
    this.#host.commands(batch).then((replies) => {
      const error = replies.find((reply) => reply instanceof Error);
      if (error !== undefined) {
        this.#stale.add(topic);
        this.#host.failed(error as Error);
      }
    }, () => this.#stale.add(topic));
  }

  #publish(topic: string, delta: Delta): void {
    this.#host.publish(topic, encodeDelta(delta));
  }

  /** Reads the other nodes' members of a followed topic, then applies the changes received meanwhile. */
  async #load(topic: string): Promise<void> {
    if (this.#loading.has(topic)) return;
    const received: [string, Delta][] = [];
    this.#loading.set(topic, received);
    let members: Map<string, PresenceMember[]> | undefined;
    try {
      members = await this.members(topic);
    } catch (error) {
      this.#host.failed(error as Error);
    }
    if (this.#loading.get(topic) !== received) return;
    this.#loading.delete(topic);
    const nodes = this.#watched.get(topic);
    if (nodes === undefined) return;
    if (members !== undefined) {
      // Known nodes that have no entry any more are gone.
      for (const node of [...nodes]) {
        if (members.has(node)) continue;
        nodes.delete(node);
        this.#receiver?.nodeGone(topic, node);
      }
      for (const [node, list] of members) {
        nodes.add(node);
        this.#receiver?.update(topic, node, list, true);
      }
    }
    for (const [node, delta] of received) this.#apply(topic, nodes, node, delta);
  }

  #apply(topic: string, nodes: Set<string>, node: string, delta: Delta): void {
    const members: PresenceMember[] = [];
    for (const item of delta.m) {
      if (!Array.isArray(item) || typeof item[0] !== "string") continue;
      const connections = Number(item[1]);
      if (!Number.isSafeInteger(connections) || connections < 0) continue;
      members.push({ id: item[0], data: item.length > 2 ? item[2] : undefined, connections });
    }
    nodes.add(node);
    this.#receiver?.update(topic, node, members, delta.f === 1);
  }

  /**
   * Every `ttl / 3`: this node's entries get their expiry again (written whole where they had expired), and
   * the other nodes known in each followed topic are checked: one whose hash expired is gone.
   */
  async #refresh(): Promise<void> {
    if (this.#closed) return;
    const ttl = String(this.#host.ttl);
    const own = [...this.#own.keys()].filter((topic) => !this.#stale.has(topic));
    for (const topic of [...this.#stale]) this.#rewrite(topic);
    const checks: [topic: string, node: string][] = [];
    for (const [topic, nodes] of this.#watched) for (const node of nodes) checks.push([topic, node]);
    if (own.length === 0 && checks.length === 0) return;
    const batch: string[][] = [];
    for (const topic of own) {
      const { hash, set } = this.#keys(topic, this.#host.nodeId);
      batch.push(["PEXPIRE", hash, ttl], ...this.#register(set));
    }
    for (const [topic, node] of checks) batch.push(["EXISTS", this.#keys(topic, node).hash]);
    let replies: unknown[];
    try {
      replies = await this.#host.commands(batch);
    } catch {
      // The link is down: the resync after it comes back writes everything again.
      return;
    }
    if (this.#closed) return;
    own.forEach((topic, i) => {
      // PEXPIRE answers 0 for a key that is gone: it expired while this node could not refresh it.
      if (replies[3 * i] === 0 && this.#own.has(topic)) this.#rewrite(topic);
    });
    checks.forEach(([topic, node], i) => {
      if (replies[3 * own.length + i] !== 0) return;
      const nodes = this.#watched.get(topic);
      if (nodes === undefined || !nodes.delete(node)) return;
      this.#send(topic, [["SREM", this.#keys(topic, node).set, node]]);
      this.#receiver?.nodeGone(topic, node);
    });
  }
}

/** @returns A member's value in its node's hash. */
function entry(member: PresenceMember): string {
  return JSON.stringify(member.data === undefined ? [member.connections] : [member.connections, member.data]);
}

/** @returns A member as sent in a change. */
function wire(member: PresenceMember): Delta["m"][number] {
  return member.data === undefined || member.connections === 0
    ? [member.id, member.connections]
    : [member.id, member.connections, member.data];
}

/** @returns A change's bytes. */
function encodeDelta(delta: Delta): Uint8Array {
  return encoder.encode(JSON.stringify(delta));
}
