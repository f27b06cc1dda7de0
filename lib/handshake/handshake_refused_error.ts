/**
 * The server answered the opening handshake with something other than 101: its status, and the start of
 * its body, which is usually where a server says why (`Cannot upgrade: origin ... is not allowed`).
 *
 * @module
 */

/**
 * A refused opening handshake, as a client sees it. A reconnecting client tells from `status` whether
 * trying again can help (a 4xx will not).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HandshakeRefusedError } from "./handshake_refused_error.ts";
 * const error = new HandshakeRefusedError(new URL("ws://example.com/"), 403, "Cannot upgrade: origin not allowed");
 * assert.equal(error.message, "Cannot connect to ws://example.com/: the server answered 403: Cannot upgrade: origin not allowed");
 * ```
 */
export class HandshakeRefusedError extends Error {
  /** The response's status. */
  readonly status: number;
  /** The first bytes of the response's body, as text (at most 200 characters), or `""`. */
  readonly body: string;

  /**
   * Makes the error for a server's answer other than 101.
   *
   * @param url The URL connected to.
   * @param status The response's status.
   * @param body The start of its body.
   * @param location Where a redirect pointed (not followed).
   */
  constructor(url: URL, status: number, body = "", location?: string) {
    const redirect = location === undefined ? "" : ` (redirect to ${location}, not followed)`;
    super(`Cannot connect to ${url.href}: the server answered ${status}${redirect}${body === "" ? "" : `: ${body}`}`);
    this.name = "HandshakeRefusedError";
    this.status = status;
    this.body = body;
  }
}
