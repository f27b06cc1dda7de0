/**
 * The interface a negotiated extension (RFC 6455 §9) implements to take part in framing.
 *
 * @module
 */

import type { Frame } from "./frame.ts";

/** Per-message choices passed to {@linkcode Extension.encode}. */
export interface EncodeOptions {
  /** `false` asks a compressing extension to send this message uncompressed. @default {true} */
  compress?: boolean;
}

/**
 * A negotiated extension, applied to data frames: {@linkcode Extension.decode} on receipt (in the order
 * the extensions were negotiated, reversed), {@linkcode Extension.encode} when sending.
 */
export interface Extension {
  /** The extension token, e.g. `permessage-deflate`. */
  readonly name: string;
  /** The RSV bits it defines, as in the first header byte (RSV1 = 0x40). */
  readonly rsvBits: number;
  /**
   * Transforms a received data frame (Text, Binary or Continuation).
   *
   * @param frame The frame, unmasked.
   * @param maxSize Largest payload the result may have; more throws a `ProtocolError` with 1009.
   * @returns The frame as the next layer sees it, with the extension's RSV bits cleared.
   */
  decode(frame: Frame, maxSize: number): Frame;
  /**
   * Transforms a data frame about to be sent.
   *
   * @param frame The frame.
   * @param options Per-message choices (the first frame of a message carries them).
   * @returns The frame to put on the wire.
   */
  encode(frame: Frame, options?: EncodeOptions): Frame;
  /**
   * Optional: starts work on a whole message about to be sent that is better done off the event loop
   * (permessage-deflate deflates large messages on worker threads). The driver sends no other data frame
   * until it settles, then sends the bytes it resolved to (text stays text): their `encode` uses the work.
   *
   * @param data The message.
   * @param options Per-message choices.
   * @returns `undefined` when the message is to be encoded as usual, at once.
   */
  prepare?(data: string | Uint8Array, options?: EncodeOptions): Promise<Uint8Array> | undefined;
  /** Releases what the extension holds: the connection has ended. */
  release?(): void;
}
