/**
 * Comma-separated token lists in HTTP header values (RFC 7230 §3.2.6, §7), as the opening handshake uses
 * them in `Connection`, `Upgrade` and `Sec-WebSocket-Protocol`.
 *
 * @module
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 7230 §3.2.3: "OWS = *( SP / HTAB )". Not String.prototype.trim, which also strips VT, FF, NBSP and
// other Unicode spaces that are not whitespace in HTTP (and so would turn "\u00a0chat" into the token "chat").
const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * Whether a string is an RFC 7230 token.
 *
 * @param value The string.
 * @returns `true` for a non-empty run of token characters.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isToken } from "./header_tokens.ts";
 * assert(isToken("chat.v2") && !isToken("a b"));
 * ```
 */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

/**
 * Splits a comma-separated list (`#token`), dropping empty elements and optional whitespace, as RFC 7230
 * §7 asks of recipients.
 *
 * @param value The header value (several header lines are already joined with ", " by `Headers.get`).
 * @returns The elements, or `undefined` if an element is not a token.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTokenList } from "./header_tokens.ts";
 * assert(parseTokenList("keep-alive, Upgrade")?.join() === "keep-alive,Upgrade");
 * ```
 */
export function parseTokenList(value: string | null): string[] | undefined {
  if (value === null) return [];
  const out: string[] = [];
  for (const part of value.split(",")) {
    const item = part.replace(OWS, "");
    if (item === "") continue;
    if (!TOKEN.test(item)) return undefined;
    out.push(item);
  }
  return out;
}

/**
 * Whether a token list contains a token, compared ASCII case-insensitively.
 *
 * @param value The header value.
 * @param token The token to look for, lowercase.
 * @returns `true` when present.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasToken } from "./header_tokens.ts";
 * assert(hasToken("keep-alive, Upgrade", "upgrade"));
 * ```
 */
export function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  for (const part of value.split(",")) {
    if (part.replace(OWS, "").toLowerCase() === token) return true;
  }
  return false;
}
