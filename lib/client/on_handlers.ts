/**
 * The `on<type>` event handler properties of an `EventTarget` (`onopen`, `onmessage`, ...), as the DOM
 * has them: one handler per type, kept as a listener in the order it was set, replaced or removed by
 * assigning again, called with the target as `this`. Shared by `WebSocket` and `ReconnectingWebSocket`.
 *
 * @module
 */

/** An `on<type>` handler, or `null` for none. */
export type OnHandler<T, E extends Event = Event> = ((this: T, event: E) => unknown) | null;

/**
 * Whether this runtime's `EventTarget` itself calls an `on<type>` property of the target when it
 * dispatches, before the listeners (workerd does; browsers, Deno, Bun and Node do not). Our handlers are
 * listeners already: there they must be hidden from that lookup, or each would run twice. Probed on first
 * use, not at load.
 */
let runtimeCallsOnProperties: boolean | undefined;

function runtimeCallsOn(): boolean {
  if (runtimeCallsOnProperties === undefined) {
    let called = false;
    class Probe extends EventTarget {
      get onprobe(): () => void {
        return () => called = true;
      }
    }
    new Probe().dispatchEvent(new Event("probe"));
    runtimeCallsOnProperties = called;
  }
  return runtimeCallsOnProperties;
}

/**
 * The handlers of one target: its `on<type>` getters and setters call {@linkcode OnHandlers.get} and
 * {@linkcode OnHandlers.set}, and it dispatches through {@linkcode OnHandlers.fire}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OnHandlers, type OnHandler } from "./on_handlers.ts";
 * class Bell extends EventTarget {
 *   readonly #on = new OnHandlers<Bell>(this);
 *   get onring(): OnHandler<Bell> {
 *     return this.#on.get("ring");
 *   }
 *   set onring(handler: OnHandler<Bell>) {
 *     this.#on.set("ring", handler);
 *   }
 *   ring(): void {
 *     this.#on.fire(new Event("ring"));
 *   }
 * }
 * const bell = new Bell();
 * let rings = 0;
 * bell.onring = () => rings++;
 * bell.ring();
 * assert.equal(rings, 1);
 * ```
 */
export class OnHandlers<T extends EventTarget> {
  readonly #target: T;
  readonly #handlers = new Map<string, { handler: OnHandler<T, never>; listener: (event: Event) => void }>();
  #hidden: string | undefined; // the on<type> the runtime's own lookup must not see (see fire)

  /** @param target The target whose handlers these are (`this` in each). */
  constructor(target: T) {
    this.#target = target;
  }

  /**
   * The handler of a type, for the `on<type>` getter.
   *
   * @param type The event type.
   * @returns The handler, or `null`.
   */
  get<E extends Event>(type: string): OnHandler<T, E> {
    if (this.#hidden === type) {
      this.#hidden = undefined;
      return null;
    }
    return (this.#handlers.get(type)?.handler ?? null) as OnHandler<T, E>;
  }

  /**
   * Sets (or, with anything but a function, removes) the handler of a type, for the `on<type>` setter.
   *
   * @param type The event type.
   * @param handler The handler; what the target fires for `type` is an `E`.
   */
  set<E extends Event>(type: string, handler: OnHandler<T, E>): void {
    const previous = this.#handlers.get(type);
    if (previous !== undefined) this.#target.removeEventListener(type, previous.listener);
    if (typeof handler !== "function") {
      this.#handlers.delete(type);
      return;
    }
    const listener = (event: Event) => handler.call(this.#target, event as E);
    this.#handlers.set(type, { handler: handler as OnHandler<T, never>, listener });
    this.#target.addEventListener(type, listener);
  }

  /**
   * Dispatches an event: to the listeners, among them the `on<type>` handler, each once. Where the
   * runtime also looks the `on<type>` property up (once, before calling anything), that one lookup reads
   * `null`; the handler still runs as the listener it is, in its place and with the target as `this`.
   *
   * @param event The event.
   */
  fire(event: Event): void {
    this.#hidden = runtimeCallsOn() ? event.type : undefined;
    try {
      this.#target.dispatchEvent(event);
    } finally {
      this.#hidden = undefined;
    }
  }
}
