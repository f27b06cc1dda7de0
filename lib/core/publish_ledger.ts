/**
 * Which published messages a connection handed towards its transport whose bytes were not all written yet,
 * per topic: what a connection that is cut (heartbeat timeout, close timeout, a failed write) reports as
 * dropped, instead of a byte count.
 *
 * The connection's outgoing bytes are one stream: chunks enter its outbox in order, and the transport
 * completes writes in that order. So a message is written once the bytes whose writes completed reach the
 * end of its frame, and one position per message (where its frame ends in that stream) is enough, however
 * the outbox merges or splits frames into writes. A message partly written when the cut comes counts as not
 * written: the peer cannot read a partial frame as a message.
 *
 * @module
 */

import { Fifo } from "./fifo.ts";

/**
 * The published messages handed towards the transport and not yet written, oldest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PublishLedger } from "./publish_ledger.ts";
 * const ledger = new PublishLedger();
 * ledger.pushed(100); // a frame of 100 bytes into the outbox...
 * ledger.published("news"); // ...that was a message published to "news"
 * ledger.pushed(2); // a pong, no topic
 * ledger.pushed(50);
 * ledger.published("chat");
 * ledger.written(120); // the first write completed: "news" is out
 * assert.equal(ledger.length, 1);
 * assert.deepEqual(ledger.cut(), new Map([["chat", 1]]));
 * assert.equal(ledger.length, 0);
 * ```
 */
export class PublishLedger {
  #pushed = 0; // bytes that entered the outbox so far
  #written = 0; // bytes whose writes completed so far (a prefix of the pushed ones)
  #ends = new Fifo<number>(); // where each tracked message's frame ends, in pushed bytes
  #topics = new Fifo<string>(); // its topic, at the same position

  /** How many published messages are not written yet. */
  get length(): number {
    return this.#ends.length;
  }

  /**
   * Bytes entered the outbox (any frame: data, control, a published message's).
   *
   * @param bytes How many.
   */
  pushed(bytes: number): void {
    this.#pushed += bytes;
  }

  /**
   * The bytes pushed last ended a message published to a topic: it is written once every byte pushed so
   * far is.
   *
   * @param topic Its topic.
   */
  published(topic: string): void {
    this.#ends.push(this.#pushed);
    this.#topics.push(topic);
  }

  /**
   * A write completed (writes complete in the order their bytes were pushed).
   *
   * @param bytes How many bytes it wrote.
   */
  written(bytes: number): void {
    const written = this.#written += bytes;
    const ends = this.#ends;
    while (ends.length > 0 && ends.at(0)! <= written) {
      ends.shift();
      this.#topics.shift();
    }
  }

  /**
   * The connection is cut: what was not written will not be.
   *
   * @returns The messages not written, counted per topic (empty when all were); the ledger is emptied.
   */
  cut(): Map<string, number> {
    const counts = new Map<string, number>();
    this.#ends.clear();
    for (const topic of this.#topics.clear()) counts.set(topic, (counts.get(topic) ?? 0) + 1);
    return counts;
  }
}
