/**
 * A connection's side of the topics: what `subscribe`, `publish` and the rest do on a server socket, and how
 * a published message reaches this connection (the shared frame where it can take one).
 *
 * @module
 */

import type { Connection } from "../connection.ts";
import { PerMessageDeflate } from "../deflate/permessage_deflate.ts";
import type { PreparedMessage } from "./prepared_message.ts";
import type { PublishData, PublishOptions, PubSub, Recovery, Subscriber, SubscribeOptions } from "./pubsub.ts";

/**
 * One connection in a {@linkcode PubSub}: it leaves every topic when the connection closes.
 *
 * @example
 * ```ts ignore
 * import { createPubSub } from "./pubsub.ts";
 * import { TopicSocket } from "./topic_socket.ts";
 * declare const connection: import("../connection.ts").Connection; // from handleNodeUpgrade, say
 * const pubsub = createPubSub();
 * const socket = new TopicSocket(pubsub, connection);
 * socket.subscribe("chat");
 * connection.onmessage = (data) => socket.publish("chat", data); // to everyone else in "chat"
 * ```
 */
export class TopicSocket implements Subscriber {
  /** The registry. */
  readonly pubsub: PubSub;
  /** The connection. */
  readonly connection: Connection;

  /**
   * Joins a connection to a registry, as a subscriber that can be published to.
   *
   * @param pubsub The registry.
   * @param connection The connection (server role: its frames are shared unmasked).
   */
  constructor(pubsub: PubSub, connection: Connection) {
    this.pubsub = pubsub;
    this.connection = connection;
    connection.closed.then(() => pubsub.unsubscribeAll(this));
  }

  /**
   * Subscribes to a topic (nothing once the connection is closing).
   *
   * @param topic The topic.
   * @param options Presence (see {@linkcode PubSub.subscribe}).
   * @returns `true` if newly subscribed.
   */
  subscribe(topic: string, options?: SubscribeOptions): boolean | Promise<Recovery> {
    if (this.connection.readyState > 1) {
      return options?.since === undefined ? false : Promise.reject(new Error("Cannot subscribe: the socket is closing"));
    }
    return this.pubsub.subscribe(this, topic, options);
  }

  /**
   * Unsubscribes from a topic.
   *
   * @param topic The topic.
   * @returns `true` if it was subscribed.
   */
  unsubscribe(topic: string): boolean {
    return this.pubsub.unsubscribe(this, topic);
  }

  /**
   * Tells whether this socket is subscribed to `topic`.
   *
   * @param topic The topic.
   * @returns Whether this socket is subscribed to it.
   */
  isSubscribed(topic: string): boolean {
    return this.pubsub.isSubscribed(this, topic);
  }

  /** This socket's topics (a fresh array). */
  get subscriptions(): string[] {
    return this.pubsub.subscriptionsOf(this);
  }

  /**
   * Publishes to every subscriber of a topic but this socket.
   *
   * @param topic The topic.
   * @param data A string for text, bytes for binary (unless `options.binary` says otherwise).
   * @param options The type and compression (`except` adds to this socket).
   * @returns How many subscribers it was handed to.
   */
  publish(topic: string, data: PublishData, options: PublishOptions = {}): number {
    const except = options.except;
    const excluded = except === undefined ? this : new Set([this, ...(except instanceof Set ? except : [except as Subscriber])]);
    return this.pubsub.publish(topic, data, { ...options, except: excluded });
  }

  /**
   * Hands a published message to the connection: the shared uncompressed frame, the shared compressed frame
   * of its deflate setting when its server side keeps no context, or else the message, compressed by the
   * connection's own compressor (a shared payload would be missing from the peer's LZ77 window otherwise).
   *
   * @param message The prepared message.
   * @param topic Its topic.
   * @returns Whether it was sent or queued.
   */
  deliver(message: PreparedMessage, topic: string): boolean {
    const connection = this.connection;
    const protocol = connection.protocol;
    const extensions = protocol.extensions;
    // A client's frames are masked, each with its own key: nothing to share.
    if (protocol.role === "server") {
      if (extensions.length === 0 || !message.compress) {
        const frame = message.plainFrame();
        return connection.publish({ topic, frame, size: frame.length });
      }
      const deflate = extensions.length === 1 && extensions[0] instanceof PerMessageDeflate ? extensions[0] : undefined;
      if (deflate?.sharedEncoding !== undefined) {
        const frame = message.sharedFrame(deflate);
        return connection.publish({ topic, frame, size: frame.length });
      }
    }
    const options = { binary: message.binary, compress: message.compress };
    return connection.publish({ topic, data: message.payload, options, size: message.payload.length });
  }
}
