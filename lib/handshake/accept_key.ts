/**
 * The `Sec-WebSocket-Accept` value of RFC 6455 §4.2.2.
 *
 * @module
 */

/** The GUID of RFC 6455 §1.3, appended to the key before hashing. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const encoder = new TextEncoder();

/**
 * Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2: "the base64-encoded SHA-1 of the
 * concatenation of the |Sec-WebSocket-Key| (as a string, not base64-decoded) with the string
 * "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"").
 *
 * @param key The client's key, as sent.
 * @returns The accept value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { computeAcceptKey } from "./accept_key.ts";
 * // The example of RFC 6455 §1.3.
 * assert(await computeAcceptKey("dGhlIHNhbXBsZSBub25jZQ==") === "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * ```
 */
export async function computeAcceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + WEBSOCKET_GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * Whether a `Sec-WebSocket-Key` is base64 that decodes to exactly 16 bytes (§4.1: "a randomly selected
 * 16-byte value that has been base64-encoded"), i.e. 22 base64 characters and `==`.
 *
 * @param key The header value.
 * @returns `true` when valid.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidKey } from "./accept_key.ts";
 * assert(isValidKey("dGhlIHNhbXBsZSBub25jZQ==") && !isValidKey("c2hvcnQ="));
 * ```
 */
export function isValidKey(key: string): boolean {
  // 16 bytes = 128 bits: 21 full sextets and 2 bits, so the 22nd character's low 4 bits are zero.
  return /^[A-Za-z0-9+/]{21}[AQgw]==$/.test(key);
}
