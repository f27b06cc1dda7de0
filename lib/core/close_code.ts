/**
 * Close status codes of RFC 6455 §7.4 and the rules for which may appear on the wire.
 *
 * @module
 */

/** Status codes registered by RFC 6455 §7.4.1 and the IANA registry (§11.7). */
export const CloseCode = {
  NormalClosure: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: never on the wire; reported when a close frame carried no code (§7.1.5). */
  NoStatusReceived: 1005,
  /** Reserved: never on the wire; reported when the connection closed without a close frame (§7.1.5). */
  AbnormalClosure: 1006,
  InvalidPayloadData: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  /** Reserved: never on the wire; a TLS handshake failure. */
  TlsHandshake: 1015,
} as const;

/**
 * Whether a status code may appear in a close frame: 1000-1003, 1007-1014 (registered and not reserved
 * for reporting) and 3000-4999 (libraries, frameworks and applications, §7.4.2). 1004-1006, 1015,
 * 0-999, 1016-2999 and 5000+ are not valid on the wire.
 *
 * @param code The status code read from, or about to be written to, a close frame.
 * @returns `true` when the code is valid on the wire.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidCloseCode } from "./close_code.ts";
 * assert(isValidCloseCode(1000) && isValidCloseCode(4999) && !isValidCloseCode(1005));
 * ```
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}
