/**
 * Topics for a socket carried by a runtime's own WebSocket (`Bun.serve`, `Deno.serve`): the same
 * {@linkcode PubSub} and the same calls as this library's sockets, each published message sent with the
 * runtime's `send`. The runtime owns the send buffer, so the publish queue's bound is checked against its
 * buffered amount, and `"drop-oldest"` (which would need to take messages back from that buffer) drops the
 * newest instead. Private to the adapters folder.
 *
 * @module
 */

import type { PublishQueueOptions } from "../connection.ts";
import { CloseCode } from "../core/close_code.ts";
import type { PreparedMessage } from "../pubsub/prepared_message.ts";
import type { PublishData, PublishOptions, PubSub, Recovery, Subscriber, SubscribeOptions } from "../pubsub/pubsub.ts";

/** What the adapter gives of the runtime's socket. */
export interface NativeSocket {
  /** Sends a text (string) or binary (bytes) message; `false` when the runtime dropped it. */
  send(data: string | Uint8Array, compress: boolean): boolean;
  /** Bytes the runtime holds, not yet written. */
  bufferedAmount(): number;
  /** Starts the closing handshake. */
  close(code: number, reason: string): void;
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

  /**
   * @param pubsub The registry.
   * @param socket The runtime's socket.
   * @param queue The bound and the policy past it.
   * @param ondrop Called with each drop.
   */
  constructor(pubsub: PubSub, socket: NativeSocket, queue: PublishQueueOptions, ondrop: (topic: string, count: number) => void) {
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
      return options?.since === undefined ? false : Promise.reject(new Error("Cannot subscribe: the socket is closing"));
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
    const excluded = except === undefined ? this : new Set([this, ...(except instanceof Set ? except : [except as Subscriber])]);
    return this.#pubsub.publish(topic, data, { ...options, except: excluded });
  }

  /** The socket closed: it leaves every topic. */
  closed(): void {
    this.#closing = true;
    this.#pubsub.unsubscribeAll(this);
  }

  /** @returns Whether the message was sent or queued by the runtime. */
  deliver(message: PreparedMessage, topic: string): boolean {
    if (this.#closing) return false;
    if (this.#socket.bufferedAmount() + message.payload.length > this.#limit) {
      this.#dropped++;
      try {
        this.#ondrop(topic, 1);
      } catch {
        // A drop handler that throws has nowhere further to report to.
      }
      if (this.#policy === "close") {
        this.#closing = true;
        this.#socket.close(CloseCode.TryAgainLater, "slow consumer: publish queue over its limit");
      }
      return false;
    }
    const sent = this.#socket.send(message.binary ? message.payload : message.text, message.compress);
    if (!sent) {
      this.#dropped++;
      this.#ondrop(topic, 1);
    }
    return sent;
  }
}
