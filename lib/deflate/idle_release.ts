/**
 * Releases memory that objects hold while in use once they have been idle for a while, with one timer
 * for all of them (not one per connection): permessage-deflate codecs keep only their window when a
 * connection goes quiet.
 *
 * @module
 */

/** Something that can give back memory while idle. */
export interface Hibernating {
  /**
   * Gives back what it can; `false` when it cannot right now. Either way it is no longer tracked: an item
   * that could not is touched again by its owner when it can.
   */
  hibernate(): boolean;
}

/**
 * Tracks when each item was last used and hibernates those idle for `idleMs`. The timer runs only while
 * some item is tracked, so nothing is left pending once every item is hibernated or forgotten.
 */
export class IdleReleaser {
  readonly #idleMs: number;
  // Insertion order is last-use order: touch() moves an item to the end, so a sweep stops at the first
  // item that is not idle yet.
  readonly #lastUse = new Map<Hibernating, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** @param idleMs How long an item must be unused before it is hibernated. */
  constructor(idleMs: number) {
    this.#idleMs = idleMs;
  }

  /** Items tracked (not hibernated yet). */
  get size(): number {
    return this.#lastUse.size;
  }

  /** Whether the timer is pending (only while items are tracked). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Records a use of `item`, which is hibernated after `idleMs` without another. */
  touch(item: Hibernating): void {
    const lastUse = this.#lastUse;
    lastUse.delete(item);
    lastUse.set(item, Date.now());
    if (this.#timer === undefined) this.#arm(this.#idleMs);
  }

  /** Stops tracking `item` (it was released or closed). */
  forget(item: Hibernating): void {
    this.#lastUse.delete(item);
    if (this.#lastUse.size === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => this.#sweep(), Math.max(1, delay));
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = Date.now();
    for (const [item, lastUse] of this.#lastUse) {
      if (lastUse + this.#idleMs - now > 0) break;
      this.#lastUse.delete(item);
      try {
        // An item that cannot hibernate now (in the middle of a message) is not tracked further: its owner
        // touches it again when it can (at the message's end). Retrying here would keep an abandoned item,
        // and the timer, alive for ever.
        item.hibernate();
      } catch {
        // An item that cannot hibernate keeps its memory; it must not stop the others.
      }
    }
    const oldest = this.#lastUse.values().next();
    if (!oldest.done) this.#arm(oldest.value + this.#idleMs - now);
  }
}

const releasers = new Map<number, IdleReleaser>();

/**
 * The releaser shared by everything using the same idle period.
 *
 * @param idleMs The idle period in milliseconds.
 * @returns The shared releaser.
 */
export function idleReleaser(idleMs: number): IdleReleaser {
  let releaser = releasers.get(idleMs);
  if (releaser === undefined) {
    releaser = new IdleReleaser(idleMs);
    releasers.set(idleMs, releaser);
  }
  return releaser;
}
