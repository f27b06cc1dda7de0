/**
 * The `Sec-WebSocket-Extensions` header grammar of RFC 6455 §9.1: parse and format.
 *
 * ```
 * extension-list = 1#extension
 * extension      = extension-token *( ";" extension-param )
 * extension-param = token [ "=" (token | quoted-string) ]
 *     ; the value after quoted-string unescaping MUST conform to the 'token' ABNF
 * ```
 *
 * @module
 */

/** One element of an extension list: a name and its parameters in order (duplicates kept). */
export interface ExtensionOffer {
  /** The extension token, as sent (compare case-insensitively). */
  name: string;
  /** Parameters in order; the value is `null` for a parameter without `=`. */
  params: [name: string, value: string | null][];
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (several header lines joined with ", ", as `Headers.get`
 * joins them). Empty list elements are skipped, as RFC 7230 §7 asks of recipients.
 *
 * @param value The header value.
 * @returns The extensions in order.
 * @throws {SyntaxError} When the value does not conform to the grammar, naming where.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseExtensions } from "./extension_header.ts";
 * const [offer] = parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits="10"');
 * assert(offer.name === "permessage-deflate" && offer.params[1][1] === "10");
 * ```
 */
export function parseExtensions(value: string): ExtensionOffer[] {
  const out: ExtensionOffer[] = [];
  let i = 0;
  const n = value.length;
  const fail = (what: string): never => {
    throw new SyntaxError(`Cannot parse Sec-WebSocket-Extensions: ${what} at offset ${i}: ${value}`);
  };
  const skipSpace = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const token = (what: string): string => {
    const start = i;
    while (i < n && TCHAR.test(value[i])) i++;
    if (i === start) fail(`expected ${what}`);
    return value.slice(start, i);
  };
  for (;;) {
    skipSpace();
    if (i >= n) break;
    if (value[i] === ",") {
      i++;
      continue;
    }
    const offer: ExtensionOffer = { name: token("an extension name"), params: [] };
    skipSpace();
    while (i < n && value[i] === ";") {
      i++;
      skipSpace();
      const name = token("a parameter name");
      skipSpace();
      let paramValue: string | null = null;
      if (i < n && value[i] === "=") {
        i++;
        skipSpace();
        if (value[i] === '"') {
          i++;
          let unescaped = "";
          while (i < n && value[i] !== '"') {
            if (value[i] === "\\") i++;
            if (i >= n) break;
            unescaped += value[i++];
          }
          if (i >= n) fail("unterminated quoted string");
          i++;
          // §9.1: "the value after quoted-string unescaping MUST conform to the 'token' ABNF".
          if (!TOKEN.test(unescaped)) fail(`quoted value "${unescaped}" is not a token`);
          paramValue = unescaped;
        } else {
          paramValue = token("a parameter value");
        }
        skipSpace();
      }
      offer.params.push([name, paramValue]);
    }
    out.push(offer);
    if (i >= n) break;
    if (value[i] !== ",") fail("expected , or ;");
    i++;
  }
  // §9.1: "extension-list = 1#extension": empty elements are skipped, but one extension at least is required.
  if (out.length === 0) fail("expected an extension");
  return out;
}

/**
 * Formats extensions for a `Sec-WebSocket-Extensions` header.
 *
 * @param extensions The extensions in order.
 * @returns The header value, e.g. `permessage-deflate; client_max_window_bits=10`.
 * @throws {TypeError} When a name or value is not a token.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatExtensions } from "./extension_header.ts";
 * const value = formatExtensions([{ name: "permessage-deflate", params: [["client_max_window_bits", null]] }]);
 * assert(value === "permessage-deflate; client_max_window_bits");
 * ```
 */
export function formatExtensions(extensions: readonly ExtensionOffer[]): string {
  return extensions.map(({ name, params }) => {
    if (!TOKEN.test(name)) throw new TypeError(`Cannot format extension: name "${name}" is not a token`);
    let text = name;
    for (const [param, value] of params) {
      if (!TOKEN.test(param)) throw new TypeError(`Cannot format extension: parameter "${param}" is not a token`);
      if (value !== null && !TOKEN.test(value)) throw new TypeError(`Cannot format extension: value "${value}" is not a token`);
      text += value === null ? `; ${param}` : `; ${param}=${value}`;
    }
    return text;
  }).join(", ");
}
