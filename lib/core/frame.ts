/**
 * The frame as the core sees it (RFC 6455 §5.2).
 *
 * @module
 */

/** A decoded frame with its payload unmasked. */
export interface Frame {
  /** FIN: this is the final fragment of a message. */
  fin: boolean;
  /** RSV1 (permessage-deflate's "Per-Message Compressed" bit). */
  rsv1: boolean;
  /** RSV2, defined by no extension this library knows. */
  rsv2: boolean;
  /** RSV3, defined by no extension this library knows. */
  rsv3: boolean;
  /** The 4-bit opcode. */
  opcode: number;
  /** The payload, unmasked. */
  payload: Uint8Array;
}

/** An empty payload, shared. */
export const EMPTY_PAYLOAD: Uint8Array = new Uint8Array(0);
