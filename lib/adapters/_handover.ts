/**
 * The `handover` option of the raw listeners (`listenDeno()`, `listenBun()`): every request whose head
 * parsed is handed, with its connection, to the caller, which then answers it as it likes (plain HTTP, or a
 * WebSocket upgrade with options of its own per path). What `cli.ts serve` runs on.
 *
 * @module
 */

import type { Transport } from "../connection.ts";

/** A request handed over with its connection: from then on the connection is the callee's to end. */
export interface HandedOver {
  /** The request; its body, if any, is not read (it starts in `head` and goes on in `transport`). */
  readonly request: Request;
  /** `"1.0"` or `"1.1"`. */
  readonly version: string;
  /** The connection's streams, unlocked. */
  readonly transport: Transport;
  /** What was read after the request head. */
  readonly head: Uint8Array;
  /** The peer's address. */
  readonly remoteAddress: string;
  /** The peer's port. */
  readonly remotePort: number;
  /** The listener serves TLS. */
  readonly secure: boolean;
}

/** Takes a request and its connection (see {@linkcode HandedOver}); what it throws cuts the connection. */
export type Handover = (handed: HandedOver) => void | Promise<void>;
