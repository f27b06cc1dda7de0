/**
 * Topics for a socket carried by a runtime's own WebSocket (`Bun.serve`, `Deno.serve`): the same
 * {@linkcode PubSub} and the same calls as this library's sockets, each published message sent with the
 * runtime's `send`. The runtime owns the send buffer, so the publish queue's bound is checked against its
 * buffered amount, and `"drop-oldest"` (which would need to take messages back from that buffer) drops the
 * newest instead. And {@linkcode EngineTopics}: the same calls on the runtime's own topics (Bun's), for
 * `bunServe({ nativeTopics: true })`. Private to the adapters folder.
 *
 * @module
 */

import type { PublishQueueOptions } from "../connection.ts";
import { CloseCode } from "../core/close_code.ts";
import type { PreparedMessage } from "../pubsub/prepared_message.ts";
import {
  checkTopic,
  type PublishData,
  type PublishOptions,
  type PubSub,
  type Recovery,
  type SubscribeOptions,
  type Subscriber,
  USER_CONTROL_TOPIC,
} from "../pubsub/pubsub.ts";

/** What the adapter gives of the runtime's socket. */
export interface NativeSocket {
  /** Sends a text (string) or binary (bytes) message; `false` when the runtime dropped it. */
  send(data: string | Uint8Array, compress: boolean): boolean;
  /** Bytes the runtime holds, not yet written. */
  bufferedAmount(): number;
  /** Starts the closing handshake. */
  close(code: number, reason: string): void;
  /**
   * Optional: how published messages wait and leave together. `later` runs a function at the end of the
   * event loop's iteration (Bun's `setImmediate`: Bun drains microtasks after each message callback, so a
   * microtask would run once per publish); `cork` runs `sends` with the runtime's sends batched into one
   * write (Bun's `ws.cork`). A fan-out whose publishes come several per iteration then costs one system
   * call per subscriber, not one per message (what Bun's own topics do in native code).
   */
  batch?: { later(flush: () => void): void; cork(sends: () => void): void };
}

/** A published message waiting for the end of the iteration (with `NativeSocket.batch`). */
interface Pending {
  data: string | Uint8Array;
  compress: boolean;
  topic: string;
  size: number;
}

/** The topic calls of one native socket, and its subscriber. */
export class NativeTopics implements Subscriber {
  readonly #pubsub: PubSub;
  readonly #socket: NativeSocket;
  readonly #limit: number;
  readonly #policy: NonNullable<PublishQueueOptions["policy"]>;
  readonly #ondrop: (topic: string, count: number) => void;
  #dropped = 0;
  #closing = false;
  #pending: Pending[] = []; // published this iteration, sent corked at its end (or before a direct send)
  #pendingBytes = 0;
  readonly #flushLater = () => this.flush();

  /**
   * @param pubsub The registry.
   * @param socket The runtime's socket.
   * @param queue The bound and the policy past it.
   * @param ondrop Called with each drop.
   */
  constructor(
    pubsub: PubSub,
    socket: NativeSocket,
    queue: PublishQueueOptions,
    ondrop: (topic: string, count: number) => void,
  ) {
    this.#pubsub = pubsub;
    this.#socket = socket;
    this.#limit = queue.limit ?? 1024 * 1024;
    this.#policy = queue.policy ?? "close";
    this.#ondrop = ondrop;
  }

  /** Published messages dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** @returns `true` if newly subscribed. */
  subscribe(topic: string, options?: SubscribeOptions): boolean | Promise<Recovery> {
    if (this.#closing) {
      return options?.since === undefined
        ? false
        : Promise.reject(new Error("Cannot subscribe: the socket is closing"));
    }
    return this.#pubsub.subscribe(this, topic, options);
  }

  /** @returns `true` if it was subscribed. */
  unsubscribe(topic: string): boolean {
    return this.#pubsub.unsubscribe(this, topic);
  }

  /** @returns Whether this socket is subscribed to the topic. */
  isSubscribed(topic: string): boolean {
    return this.#pubsub.isSubscribed(this, topic);
  }

  /** This socket's topics (a fresh array). */
  get subscriptions(): string[] {
    return this.#pubsub.subscriptionsOf(this);
  }

  /** @returns How many subscribers (but this socket) it was handed to. */
  publish(topic: string, data: PublishData, options: PublishOptions = {}): number {
    const except = options.except;
    const excluded = except === undefined
      ? this
      : new Set([this, ...(except instanceof Set ? except : [except as Subscriber])]);
    return this.#pubsub.publish(topic, data, { ...options, except: excluded });
  }

  /** The socket closed: it leaves every topic; what waited for the end of the iteration is counted dropped. */
  closed(): void {
    this.#closing = true;
    this.#pubsub.unsubscribeAll(this);
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    for (const { topic } of pending) this.#drop(topic);
  }

  /**
   * Sends what publishes left for the end of the iteration, corked. The adapter calls it before a direct
   * send and before a close, so that the socket's messages leave in the order of the calls.
   */
  flush(): void {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#socket.batch!.cork(() => {
      for (const { data, compress, topic } of pending) {
        if (!this.#socket.send(data, compress)) this.#drop(topic);
      }
    });
  }

  /** @returns Whether the message was sent or queued (by the runtime, or for the end of the iteration). */
  deliver(message: PreparedMessage, topic: string): boolean {
    if (this.#closing) return false;
    const size = message.payload.length;
    if (this.#socket.bufferedAmount() + this.#pendingBytes + size > this.#limit) {
      this.#drop(topic);
      if (this.#policy === "close") {
        this.flush(); // what was accepted before goes ahead of the close frame
        this.#closing = true;
        this.#socket.close(CloseCode.TryAgainLater, "slow consumer: publish queue over its limit");
      }
      return false;
    }
    const data = message.binary ? message.payload : message.text;
    const batch = this.#socket.batch;
    if (batch !== undefined) {
      if (this.#pending.length === 0) batch.later(this.#flushLater);
      this.#pending.push({ data, compress: message.compress, topic, size });
      this.#pendingBytes += size;
      return true;
    }
    const sent = this.#socket.send(data, message.compress);
    if (!sent) this.#drop(topic);
    return sent;
  }

  #drop(topic: string): void {
    this.#dropped++;
    try {
      this.#ondrop(topic, 1);
    } catch {
      // A drop handler that throws has nowhere further to report to.
    }
  }
}

/** A runtime socket with topics of its own (Bun's `ServerWebSocket`). */
export interface EngineTopicSocket {
  /** Subscribes (Bun ignores a second call). */
  subscribe(topic: string): unknown;
  /** Unsubscribes. */
  unsubscribe(topic: string): unknown;
  /** Whether it is subscribed. */
  isSubscribed(topic: string): boolean;
  /** Its topics. */
  readonly subscriptions?: string[];
  /** Publishes to every other subscriber; Bun's result: bytes, -1 (backpressure) or 0 (dropped). */
  publish(topic: string, data: string | Uint8Array, compress?: boolean): number;
}

/** A runtime server with topics of its own (Bun's `Server`). */
export interface EngineTopicServer {
  /** Publishes to every subscriber; Bun's result: bytes, -1 (backpressure) or 0 (dropped or nobody). */
  publish(topic: string, data: string | Uint8Array, compress?: boolean): number;
  /** Subscribers of a topic. */
  subscriberCount(topic: string): number;
}

/** Counters of publishes through a runtime's own topics (`bunServe({ nativeTopics: true })`). */
export interface NativeTopicStats {
  /** Publishes (`ws.publish` and the server's `publish`). */
  publishes: number;
  /** Publishes the runtime reported as dropped (result 0) while the topic had other subscribers. */
  dropped: number;
  /** Publishes the runtime reported as queued behind backpressure (result -1). */
  backpressured: number;
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/**
 * @param data What was published.
 * @param options Its type; `except` is refused.
 * @returns The data as the runtime takes it (a string is text, bytes are binary).
 */
function nativePublishData(data: PublishData, options: PublishOptions): string | Uint8Array {
  if (options.except !== undefined) {
    throw new TypeError("Cannot publish: except is not supported on the runtime's own topics (nativeTopics)");
  }
  if (typeof data === "function") {
    throw new TypeError("Cannot publish: data is a function, and the runtime's own topics keep no history");
  }
  if (typeof data === "string") return options.binary === true ? encoder.encode(data) : data;
  if (!(data instanceof Uint8Array)) {
    throw new TypeError("Cannot publish: data is neither a string nor a Uint8Array");
  }
  if (options.binary !== false) return data;
  try {
    return strictDecoder.decode(data);
  } catch {
    throw new TypeError("Cannot publish: bytes published as text are not UTF-8");
  }
}

/**
 * The topics of a server whose runtime has its own (Bun): `subscribe`, `publish` and the rest go to the
 * runtime's, with this library's checks of topics and data, and its counts.
 */
export class EngineTopics {
  /** The counters. */
  readonly stats: NativeTopicStats = { publishes: 0, dropped: 0, backpressured: 0 };
  readonly #compress: boolean;
  /** The runtime's server, once known (Bun gives it to `fetch`, before any socket exists). */
  server: EngineTopicServer | undefined;

  /** @param compress Whether the runtime's compression is on (a publish asks for it unless `compress: false`). */
  constructor(compress: boolean) {
    this.#compress = compress;
  }

  #count(result: number, subscribers: number): number {
    this.stats.publishes++;
    if (result === -1) this.stats.backpressured++;
    if (result !== 0) return subscribers;
    if (subscribers > 0) this.stats.dropped++;
    return 0;
  }

  /** @returns How many subscribers the runtime has for it, or 0 if it reported the message dropped. */
  publish(topic: string, data: PublishData, options: PublishOptions = {}): number {
    checkNativeTopic("publish", topic);
    const message = nativePublishData(data, options);
    const server = this.server;
    if (server === undefined) return 0; // no upgrade yet: no subscriber
    const result = server.publish(topic, message, this.#compress && options.compress !== false);
    return this.#count(result, server.subscriberCount(topic));
  }

  /** @returns The runtime's count of a topic's subscribers. */
  subscriberCount(topic: string): number {
    return this.server?.subscriberCount(topic) ?? 0;
  }

  /**
   * The topic calls of one socket.
   *
   * @param ws The runtime's socket.
   * @param isClosing Whether it is closing (nothing is subscribed then).
   * @returns `subscribe` (with `presence` and `since` refused), `unsubscribe`, `isSubscribed`, `subscriptions`, `publish`.
   */
  socket(ws: EngineTopicSocket, isClosing: () => boolean): {
    subscribe(topic: string, options?: SubscribeOptions): boolean;
    unsubscribe(topic: string): boolean;
    isSubscribed(topic: string): boolean;
    readonly subscriptions: string[];
    publish(topic: string, data: PublishData, options?: PublishOptions): number;
  } {
    // deno-lint-ignore no-this-alias
    const topics = this;
    return {
      subscribe(topic, options) {
        checkNativeTopic("subscribe", topic);
        if (options?.presence !== undefined || options?.since !== undefined) {
          throw new TypeError(
            "Cannot subscribe: presence and since need this library's topics, not the runtime's (nativeTopics)",
          );
        }
        if (isClosing() || ws.isSubscribed(topic)) return false;
        ws.subscribe(topic);
        return true;
      },
      unsubscribe(topic) {
        checkNativeTopic("unsubscribe", topic);
        if (isClosing() || !ws.isSubscribed(topic)) return false;
        ws.unsubscribe(topic);
        return true;
      },
      isSubscribed: (topic) => !isClosing() && ws.isSubscribed(topic),
      get subscriptions() {
        return isClosing() ? [] : [...(ws.subscriptions ?? [])];
      },
      publish(topic, data, options = {}) {
        checkNativeTopic("publish", topic);
        const message = nativePublishData(data, options);
        if (isClosing()) return 0;
        const result = ws.publish(topic, message, topics.#compress && options.compress !== false);
        const others = (topics.server?.subscriberCount(topic) ?? 0) - (ws.isSubscribed(topic) ? 1 : 0);
        return topics.#count(result, others);
      },
    };
  }
}

/** @throws {TypeError} {RangeError} As {@linkcode checkTopic}, and for the registry's reserved topic. */
function checkNativeTopic(what: string, topic: string): void {
  checkTopic(what, topic);
  if (topic === USER_CONTROL_TOPIC) {
    throw new TypeError(`Cannot ${what}: the topic is reserved for disconnectUser`);
  }
}
