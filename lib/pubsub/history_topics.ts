/**
 * The history side of a {@linkcode PubSub}: publishes that take a position, live messages checked against
 * the last position delivered (a skipped offset is reported as a gap), and subscriptions from a position
 * (`since`) that replay what was missed before any live message, with the live messages that arrive during
 * the read held back and the ones the read already covered left out (nothing twice at the seam).
 *
 * @module
 */

import type { RemoteMessage } from "./backplane.ts";
import {
  checkPosition,
  checkRecovery,
  type HistoryBackplane,
  type HistoryData,
  type HistoryOption,
  type HistoryOptions,
  type HistoryPage,
  type HistoryRead,
  type HistoryReadOptions,
  MemoryHistory,
  type PublishData,
  type Recovery,
  type ResolvedHistoryOptions,
  resolveHistoryOptions,
  type StreamPosition,
} from "./history.ts";
import { PreparedMessage, type PreparedMessageOptions } from "./prepared_message.ts";
import type { PublishOptions, Subscriber } from "./pubsub.ts";

/** Reads of the history tried to fill a gap before it is reported (about 3 s in all). */
const FILL_ATTEMPTS = 6;

/** What the history needs of its {@linkcode PubSub}. */
export interface HistoryHost {
  /** Hands a message to the topic's local subscribers but `except`. @returns How many took it. */
  deliver(topic: string, message: PreparedMessage, except: PublishOptions["except"]): number;
  /** Unsubscribes. */
  unsubscribe(subscriber: Subscriber, topic: string): boolean;
  /** Whether the subscriber is subscribed. */
  isSubscribed(subscriber: Subscriber, topic: string): boolean;
  /** Local subscribers of the topic. */
  subscriberCount(topic: string): number;
  /** The topic's local subscribers. */
  subscribers(topic: string): Iterable<Subscriber>;
  /** Reports messages of a topic as missed (the PubSub's `gap` event). */
  gap(topic: string, reason: string): void;
}

/** Counters of the history, part of `PubSub.stats`. */
export interface HistoryStats {
  /** Publishes given a position. */
  appended: number;
  /** Publishes to a topic with history that could not be appended (the backplane failed: see `lastError`). */
  failedAppends: number;
  /** Subscriptions from a position that recovered everything. */
  recovered: number;
  /** Subscriptions from a position that could not (`recovered: false`). */
  notRecovered: number;
  /** Messages replayed from history to recovering subscribers. */
  replayed: number;
  /** Live messages left out because their offset was delivered already. */
  duplicates: number;
  /** Messages missed by the backplane (its link was down) and delivered from the history instead. */
  filled: number;
}

/** A live message held for a subscriber while its history is read. */
interface Held {
  message: PreparedMessage;
  position: StreamPosition;
}

/** What a local publish leaves with the backplane, to be given back with its own message. */
interface Context {
  except: PublishOptions["except"];
  compress: boolean | undefined;
}

/**
 * @param data What was published.
 * @param options Its type and compression.
 * @param position Its position.
 * @returns The message.
 */
function prepare(
  data: PublishData,
  options: PreparedMessageOptions,
  position: StreamPosition,
): PreparedMessage {
  return new PreparedMessage(typeof data === "function" ? data(position) : data, options);
}

/** The history of a PubSub's topics. */
export class TopicHistory {
  readonly #option: HistoryOption;
  readonly #resolved: ResolvedHistoryOptions | undefined;
  readonly #host: HistoryHost;
  readonly #backplane: HistoryBackplane | undefined;
  readonly #memory: MemoryHistory | undefined;
  /** The last position delivered live, per topic with local subscribers. */
  readonly #last = new Map<string, StreamPosition>();
  /** Per topic: the subscribers reading their history, and the live messages held for them. */
  readonly #held = new Map<string, Map<Subscriber, Held[]>>();
  /**
   * Per topic: subscribers that recovered up to a position the live messages have not passed yet (through
   * Redis, the read can answer before the messages it covered arrive live): those are left out for them.
   */
  readonly #floors = new Map<string, Map<Subscriber, StreamPosition>>();
  /** Topics being filled from the history after a gap, and the live messages held meanwhile. */
  readonly #filling = new Map<
    string,
    { message: PreparedMessage; position: StreamPosition; except: PublishOptions["except"] }[]
  >();
  /** The messages of a read shared by several recoveries: prepared (framed) once. */
  readonly #prepared = new WeakMap<HistoryRead, PreparedMessage[]>();
  /** The latest failure of the backplane's history. */
  lastError = "";
  readonly stats: HistoryStats = {
    appended: 0,
    failedAppends: 0,
    recovered: 0,
    notRecovered: 0,
    replayed: 0,
    duplicates: 0,
    filled: 0,
  };

  /**
   * @param option History for every topic, or per topic.
   * @param host The PubSub.
   * @param backplane The backplane's history, if it keeps one (else it is kept in memory here).
   * @throws {RangeError} For a size or ttl that is not a positive integer.
   */
  constructor(option: HistoryOption, host: HistoryHost, backplane: HistoryBackplane | undefined) {
    if (typeof option !== "function") this.#resolved = resolveHistoryOptions(option);
    this.#option = option;
    this.#host = host;
    this.#backplane = backplane;
    if (backplane === undefined) this.#memory = new MemoryHistory();
  }

  /**
   * @param topic A topic.
   * @returns Its history options, or `undefined` if it keeps none.
   */
  optionsFor(topic: string): ResolvedHistoryOptions | undefined {
    if (this.#resolved !== undefined) return this.#resolved;
    const options = (this.#option as (topic: string) => HistoryOptions | undefined)(topic);
    return options === undefined ? undefined : resolveHistoryOptions(options, `history("${topic}")`);
  }

  /**
   * Publishes to a topic with history. In memory, at once; through a backplane, once it gave the position
   * (the local subscribers get it with everyone else's, in offset order).
   *
   * @returns How many local subscribers it was handed to (through a backplane: how many it is going to be).
   */
  publish(
    topic: string,
    data: PublishData,
    options: PublishOptions,
    history: ResolvedHistoryOptions,
  ): number {
    if (this.#memory !== undefined) return this.#append(topic, data, options, history).delivered;
    this.append(topic, data, options, history).catch(() => {}); // counted and kept in lastError
    const except = options.except;
    if (except === undefined) return this.#host.subscriberCount(topic);
    let count = 0;
    for (const subscriber of this.#host.subscribers(topic)) {
      if (except !== subscriber && !(except instanceof Set && except.has(subscriber))) count++;
    }
    return count;
  }

  /**
   * Publishes to a topic with history.
   *
   * @returns Its position, once known.
   */
  append(
    topic: string,
    data: PublishData,
    options: PublishOptions,
    history: ResolvedHistoryOptions,
  ): Promise<StreamPosition> {
    if (this.#memory !== undefined) {
      try {
        return Promise.resolve(this.#append(topic, data, options, history).position);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const backplane = this.#backplane!;
    const render: HistoryData = typeof data === "function"
      ? (position) => {
        const message = prepare(data, options, position);
        return { payload: message.payload, binary: message.binary };
      }
      : (() => {
        const message = new PreparedMessage(data, options);
        return { payload: message.payload, binary: message.binary };
      })();
    const context: Context = { except: options.except, compress: options.compress };
    return backplane.append(topic, render, history, context).then(
      (position) => {
        this.stats.appended++;
        return position;
      },
      (error: Error) => {
        this.stats.failedAppends++;
        this.lastError = error.message;
        throw error;
      },
    );
  }

  /** A positioned message from the backplane (this node's own included, with its context). */
  remote(message: RemoteMessage & { position: StreamPosition }): void {
    const context = message.context as Context | undefined;
    const prepared = new PreparedMessage(message.payload, {
      binary: message.binary,
      compress: context?.compress,
    });
    this.#live(message.topic, prepared, message.position, context?.except);
  }

  /** The topic has no local subscriber left: its last position is forgotten. */
  forget(topic: string): void {
    this.#last.delete(topic);
    this.#floors.delete(topic);
  }

  /**
   * Subscribes from a position: the missed messages first, then the live ones, or none and `recovered: false`.
   * `subscribe` subscribes without history (with the other options).
   */
  async recover(
    subscriber: Subscriber,
    topic: string,
    since: StreamPosition,
    history: ResolvedHistoryOptions,
    subscribe: () => boolean,
  ): Promise<Recovery> {
    checkPosition(since);
    if (this.#host.isSubscribed(subscriber, topic)) {
      throw new TypeError(`Cannot recover: the subscriber is subscribed to "${topic}" already`);
    }
    subscribe();
    let held = this.#held.get(topic);
    if (held === undefined) this.#held.set(topic, held = new Map());
    const buffer: Held[] = [];
    held.set(subscriber, buffer);
    let read: HistoryRead, messages: PreparedMessage[] | undefined;
    try {
      if (this.#memory !== undefined) {
        ({ messages, ...read } = this.#memory.read(topic, since.offset, history.size, history));
      } else {
        read = await this.#backplane!.read(topic, since.offset, history.size, history);
      }
    } catch (error) {
      this.#release(topic, subscriber, buffer);
      this.#host.unsubscribe(subscriber, topic);
      this.lastError = (error as Error).message;
      throw error;
    }
    return this.#finish(subscriber, topic, since, read, messages, buffer);
  }

  /**
   * Reads a topic's history.
   */
  async read(
    topic: string,
    options: HistoryReadOptions,
    history: ResolvedHistoryOptions,
  ): Promise<HistoryPage> {
    const since = options.since;
    if (since !== undefined) checkPosition(since, "read the history");
    const limit = options.limit ?? history.size;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`Cannot read the history: limit ${limit} is not a non-negative integer`);
    }
    const after = since?.offset ?? 0;
    const read = this.#memory !== undefined
      ? this.#memory.read(topic, after, limit, history)
      : await this.#backplane!.read(topic, after, limit, history);
    const position = { epoch: read.epoch, offset: read.top };
    const entries = read.entries.map(({ offset, payload, binary }) => ({ offset, payload, binary }));
    let complete: boolean;
    if (since !== undefined) {
      complete = checkRecovery({ ...read, entries }, since).recovered;
    } else {
      complete = entries.length === 0 ? read.top === 0 : entries[0].offset === 1 &&
        entries[entries.length - 1].offset === read.top;
    }
    return { position, entries, complete };
  }

  /** @returns The topic's current position. */
  async position(topic: string, history: ResolvedHistoryOptions): Promise<StreamPosition> {
    const read = this.#memory !== undefined
      ? this.#memory.read(topic, undefined, 0, history)
      : await this.#backplane!.read(topic, undefined, 0, history);
    return { epoch: read.epoch, offset: read.top };
  }

  #append(
    topic: string,
    data: PublishData,
    options: PublishOptions,
    history: ResolvedHistoryOptions,
  ): { position: StreamPosition; delivered: number } {
    const { position, message } = this.#memory!.append(topic, (at) => prepare(data, options, at), history);
    this.stats.appended++;
    return { position, delivered: this.#live(topic, message, position, options.except) };
  }

  /**
   * The backplane may have missed messages of a topic (its link was down). With a last position to start
   * from, the topic is filled from the history; else, or if that cannot be done, the gap is reported.
   */
  gap(topic: string, reason: string): void {
    const last = this.#last.get(topic);
    if (this.#backplane === undefined || last === undefined || this.#filling.has(topic)) {
      if (!this.#filling.has(topic)) this.#host.gap(topic, reason);
      return;
    }
    void this.#fill(topic, last, reason);
  }

  /**
   * Reads what came after `last` from the history and delivers it, holding the live messages meanwhile;
   * what cannot be read (the history no longer reaches, another epoch, Redis down) is reported as a gap.
   */
  async #fill(topic: string, last: StreamPosition, why: string): Promise<void> {
    const held: { message: PreparedMessage; position: StreamPosition; except: PublishOptions["except"] }[] =
      [];
    this.#filling.set(topic, held);
    let read: HistoryRead | undefined, failure = "";
    const history = this.optionsFor(topic);
    // The link may be back on one connection before the other: a few tries, 100 ms to 1.6 s apart.
    for (let attempt = 0; history !== undefined && read === undefined && attempt < FILL_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1)));
      try {
        read = await this.#backplane!.read(topic, last.offset, history.size, history);
      } catch (error) {
        failure = `: ${(error as Error).message}`;
      }
    }
    this.#filling.delete(topic);
    if (read !== undefined && checkRecovery(read, last).recovered) {
      for (const entry of read.entries) {
        const message = new PreparedMessage(entry.payload, { binary: entry.binary });
        this.#dispatch(topic, message, { epoch: read.epoch, offset: entry.offset }, undefined);
      }
      this.stats.filled += read.entries.length;
    } else {
      const check = read === undefined ? undefined : checkRecovery(read, last);
      const reason = read === undefined
        ? `${why}; messages after offset ${last.offset} may be missed: the history could not be read${failure}`
        : read.epoch === last.epoch
        ? `${why}; offsets ${last.offset + 1} to ${read.top} were missed (${check?.reason})`
        : `${why}; ${check?.reason}`;
      this.#host.gap(topic, reason);
      if (read !== undefined && read.epoch === last.epoch) {
        this.#last.set(topic, { epoch: read.epoch, offset: read.top });
      }
    }
    // What came live meanwhile, in order (what the read covered is left out as already delivered).
    for (const { message, position, except } of held) this.#live(topic, message, position, except, false);
  }

  /** A live message with its position: checked against the last one, held for recovering subscribers. */
  #live(
    topic: string,
    message: PreparedMessage,
    position: StreamPosition,
    except: PublishOptions["except"],
    fill = true,
  ): number {
    const filling = this.#filling.get(topic);
    if (filling !== undefined) {
      filling.push({ message, position, except });
      return 0;
    }
    const last = this.#last.get(topic);
    if (last !== undefined && last.epoch === position.epoch) {
      if (position.offset <= last.offset) {
        this.stats.duplicates++;
        return 0;
      }
      if (position.offset > last.offset + 1) {
        const missed = `offsets ${last.offset + 1} to ${position.offset - 1} were missed`;
        if (fill && this.#backplane !== undefined) {
          // Filled from the history first; this message waits for it.
          void this.#fill(topic, last, missed);
          this.#filling.get(topic)?.push({ message, position, except });
          return 0;
        }
        this.#host.gap(topic, missed);
      }
    } else if (last !== undefined && position.offset > 1) {
      this.#host.gap(
        topic,
        `the epoch changed (${last.epoch} to ${position.epoch}); offsets 1 to ${
          position.offset - 1
        } were missed`,
      );
    }
    return this.#dispatch(topic, message, position, except);
  }

  /** Delivers a live message in its turn: to the subscribers, to the buffers of those recovering. */
  #dispatch(
    topic: string,
    message: PreparedMessage,
    position: StreamPosition,
    except: PublishOptions["except"],
  ): number {
    if (this.#host.subscriberCount(topic) > 0) this.#last.set(topic, position);
    const held = this.#held.get(topic), floors = this.#floors.get(topic);
    if (held !== undefined || floors !== undefined) {
      const leftOut = new Set<Subscriber>(held?.keys());
      if (held !== undefined) { for (const buffer of held.values()) buffer.push({ message, position }); }
      if (floors !== undefined) {
        for (const [subscriber, floor] of floors) {
          if (floor.epoch === position.epoch && position.offset <= floor.offset) {
            leftOut.add(subscriber);
            this.stats.duplicates++;
          } else floors.delete(subscriber); // past it: live from here on
        }
        if (floors.size === 0) this.#floors.delete(topic);
      }
      if (except instanceof Set) { for (const subscriber of except) leftOut.add(subscriber); }
      else if (except !== undefined) leftOut.add(except as Subscriber);
      except = leftOut;
    }
    return this.#host.deliver(topic, message, except);
  }

  #release(topic: string, subscriber: Subscriber, buffer: Held[]): boolean {
    const held = this.#held.get(topic);
    if (held?.get(subscriber) !== buffer) return false;
    held.delete(subscriber);
    if (held.size === 0) this.#held.delete(topic);
    return true;
  }

  #finish(
    subscriber: Subscriber,
    topic: string,
    since: StreamPosition,
    read: HistoryRead,
    messages: PreparedMessage[] | undefined,
    buffer: Held[],
  ): Recovery {
    const position = { epoch: read.epoch, offset: read.top };
    const mine = this.#release(topic, subscriber, buffer);
    if (!mine || !this.#host.isSubscribed(subscriber, topic)) {
      this.stats.notRecovered++;
      return { recovered: false, position, replayed: 0, reason: "unsubscribed while the history was read" };
    }
    const check = checkRecovery(read, since);
    let replayed = 0;
    if (check.recovered && messages === undefined) {
      messages = this.#prepared.get(read);
      if (messages === undefined) {
        messages = read.entries.map((entry) => new PreparedMessage(entry.payload, { binary: entry.binary }));
        this.#prepared.set(read, messages);
      }
    }
    if (check.recovered) {
      read.entries.forEach((entry, i) => {
        const message = messages?.[i] ?? new PreparedMessage(entry.payload, { binary: entry.binary });
        subscriber.deliver(message, topic);
        replayed++;
      });
      this.stats.recovered++;
      this.stats.replayed += replayed;
    } else {
      this.stats.notRecovered++;
    }
    // The seam: what arrived live during the read, less what the read covered.
    let next = read.top;
    for (const { message, position: at } of buffer) {
      if (at.epoch === read.epoch) {
        if (at.offset <= next) {
          this.stats.duplicates++;
          continue;
        }
        if (at.offset > next + 1) {
          this.#host.gap(
            topic,
            `offsets ${next + 1} to ${at.offset - 1} were missed while the history was read`,
          );
        }
        next = at.offset;
      }
      subscriber.deliver(message, topic);
    }
    // Messages up to `next` may still arrive live (through Redis, after the read's answer): not again.
    let floors = this.#floors.get(topic);
    if (floors === undefined) this.#floors.set(topic, floors = new Map());
    floors.set(subscriber, { epoch: read.epoch, offset: next });
    return check.recovered
      ? { recovered: true, position, replayed }
      : { recovered: false, position, replayed: 0, reason: check.reason };
  }
}
