/**
 * What connects the topics of several processes or machines: a {@linkcode PubSub} given a backplane sends
 * every local publish to it, follows its topics there (a topic's first local subscriber, its last leaving),
 * and delivers what other nodes published to its local subscribers. `redisBackplane()` (`./redis`) is one.
 *
 * @module
 */

import type { PresenceBackplane } from "./presence.ts";
import type { HistoryBackplane, StreamPosition } from "./history.ts";

/** A message from another node, as the backplane hands it to the local topics. */
export interface RemoteMessage {
  /** The topic. */
  readonly topic: string;
  /** The payload: text as its UTF-8 bytes. */
  readonly payload: Uint8Array;
  /** Whether the message is binary. */
  readonly binary: boolean;
  /** Its position in the topic's history, for a topic with history on a backplane that keeps it. */
  readonly position?: StreamPosition;
  /** For this node's own message of a topic with history: what `HistoryBackplane.append` was given. */
  readonly context?: unknown;
}

/** What a backplane tells the {@linkcode PubSub} it is attached to. */
export interface BackplaneReceiver {
  /** A message another node published: delivered to every local subscriber of its topic. */
  message(message: RemoteMessage): void;
  /**
   * Messages of a topic may have been missed (a sequence number skipped, or the link to the broker was
   * down): its local subscribers are told (the PubSub's `gap` event).
   */
  gap(topic: string, reason: string): void;
}

/** A broker connection shared by the nodes of a deployment. */
export interface Backplane {
  /**
   * Called once, by the PubSub the backplane is given to, with what to call back.
   *
   * @param receiver Where remote messages and gaps go.
   */
  attach(receiver: BackplaneReceiver): void;
  /** The topic has its first local subscriber: receive its messages from now on. */
  subscribe(topic: string): void;
  /** The topic's last local subscriber left: stop receiving its messages. */
  unsubscribe(topic: string): void;
  /**
   * Sends a local publish to the other nodes (never waits: what cannot reach the broker is counted and
   * reported by the backplane).
   */
  publish(topic: string, payload: Uint8Array, binary: boolean): void;
  /** Disconnects from the broker. */
  close(): Promise<void>;
  /**
   * Where presence is kept across nodes, if this backplane carries it; without, presence is each node's own.
   */
  readonly presence?: PresenceBackplane;
  /**
   * Where the topics' history is kept across nodes (Redis Streams), if this backplane keeps it; without, a
   * PubSub given `history` keeps it in its own memory.
   */
  readonly history?: HistoryBackplane;
}
