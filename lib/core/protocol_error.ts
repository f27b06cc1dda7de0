/**
 * The one error class for a peer's violation: it carries the close code the connection fails with.
 *
 * @module
 */

/**
 * A violation by the peer, or a limit it exceeded. `code` is the close status code to fail the
 * connection with (1002, 1007, 1009, ...). Every such condition in this library is raised as this class,
 * so there is exactly one place where a violation becomes a close code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError } from "./protocol_error.ts";
 * const error = new ProtocolError(1002, "Cannot decode frame: RSV2 is set");
 * assert(error.code === 1002);
 * ```
 */
export class ProtocolError extends Error {
  /** The close code the connection is failed with. */
  readonly code: number;

  /**
   * Makes the error a connection fails with.
   *
   * @param code The close status code (§7.4.1).
   * @param message What the peer did, sentence case, no trailing period.
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}
