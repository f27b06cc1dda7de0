/**
 * The `WebSocketError` of the proposed WebSocketStream standard: a `DOMException` carrying a close code and
 * reason.
 *
 * @module
 */

/** A close code and reason, as `WebSocketStream.close()` and `closed` use them. */
export interface WebSocketCloseInfo {
  /** 1000 or 3000-4999 when given by JavaScript; any code when it comes from the connection. */
  closeCode?: number;
  /** At most 123 bytes of UTF-8. */
  reason?: string;
}

const encoder = new TextEncoder();
// Set by WebSocketError.fromConnection for the one constructor call it makes: codes from the wire skip the
// checks that apply to codes given by JavaScript.
let fromWire: { code: number; reason: string } | undefined;

/**
 * Checks a close code and reason given by JavaScript, as the standard's "validate close code and reason".
 *
 * @param code The code, or `null`.
 * @param reason The reason, or `null`.
 * @throws {DOMException} `InvalidAccessError` for a code other than 1000 and 3000-4999, `SyntaxError` for
 * a reason over 123 bytes.
 */
export function validateCloseInfo(code: number | null, reason: string | null): void {
  if (code !== null && !(code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999))) {
    throw new DOMException(`Cannot close: code ${code} is neither 1000 nor in 3000-4999`, "InvalidAccessError");
  }
  if (reason !== null && encoder.encode(reason).length > 123) {
    throw new DOMException("Cannot close: the reason is longer than 123 bytes", "SyntaxError");
  }
}

/**
 * An error with a WebSocket close code and reason. Passed to `readable.cancel()` or `writable.abort()` of a
 * `WebSocketStream`, it chooses the close frame; a `closed` promise rejects with one when a connection did
 * not close cleanly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WebSocketError } from "./websocket_error.ts";
 * const error = new WebSocketError("done", { reason: "bye" });
 * assert.equal(error.closeCode, 1000); // a reason without a code means 1000
 * assert.equal(error.name, "WebSocketError");
 * ```
 */
export class WebSocketError extends DOMException {
  readonly #closeCode: number | null;
  readonly #reason: string;

  /**
   * Makes the error, with the close code and reason to send when it aborts a stream.
   *
   * @param message The message.
   * @param init The close code (1000 or 3000-4999) and reason (at most 123 bytes).
   * @throws {DOMException} `InvalidAccessError` or `SyntaxError` for an invalid code or reason.
   */
  constructor(message = "", init: WebSocketCloseInfo = {}) {
    super(message, "WebSocketError");
    if (fromWire !== undefined) {
      this.#closeCode = fromWire.code;
      this.#reason = fromWire.reason;
      fromWire = undefined;
      return;
    }
    const code = init.closeCode ?? null;
    const reason = init.reason ?? "";
    validateCloseInfo(code, reason);
    this.#closeCode = code ?? (reason !== "" ? 1000 : null);
    this.#reason = reason;
  }

  /** The close code, or `null`. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  /** The close reason. */
  get reason(): string {
    return this.#reason;
  }

  /**
   * An error for a connection that closed uncleanly, whose code may be one JavaScript cannot set (1006).
   *
   * @param message The message.
   * @param code The connection close code.
   * @param reason The connection close reason.
   * @returns The error.
   */
  static fromConnection(message: string, code: number, reason: string): WebSocketError {
    fromWire = { code, reason };
    return new WebSocketError(message);
  }
}
