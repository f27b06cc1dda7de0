/**
 * The four states of a WebSocket connection (RFC 6455 §4, §7; WHATWG `readyState`).
 *
 * @module
 */

/** Connection states, numbered as the WHATWG `WebSocket.readyState` numbers them. */
export const ReadyState = {
  /** The opening handshake has not completed. */
  Connecting: 0,
  /** Messages flow both ways. */
  Open: 1,
  /** A close frame has been sent; the peer's is awaited. */
  Closing: 2,
  /** The close handshake completed or the connection failed. */
  Closed: 3,
} as const;

/** One of the four states. */
export type ReadyState = typeof ReadyState[keyof typeof ReadyState];
