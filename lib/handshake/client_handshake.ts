/**
 * The client's side of the opening handshake (RFC 6455 §4.1): builds the request, verifies the answer.
 *
 * @module
 */

import { computeAcceptKey } from "./accept_key.ts";
import { deflateOffer, PERMESSAGE_DEFLATE, verifyDeflateResponse } from "../deflate/negotiation.ts";
import type { DeflateNegotiationOptions } from "../deflate/negotiation.ts";
import type { Extension } from "../core/extension.ts";
import { type ExtensionOffer, formatExtensions, parseExtensions } from "./extension_header.ts";
import { hasToken, isToken } from "./header_tokens.ts";
import { PerMessageDeflate, type PerMessageDeflateOptions } from "../deflate/permessage_deflate.ts";
import { defaultCodecReady } from "../deflate/zlib_wasm_codec.ts";

/** permessage-deflate settings for a client: what to offer and how to compress. */
export interface ClientDeflateOptions extends DeflateNegotiationOptions, PerMessageDeflateOptions {}

/** Options for {@linkcode ClientHandshake}. */
export interface ClientHandshakeOptions {
  /** Subprotocols to offer, most preferred first. @default {[]} */
  protocols?: string | readonly string[];
  /**
   * Extra request headers (cookies, authorization, origin): anything `new Headers()` takes, `HeadersInit`
   * (spelled so that Node's types, which lack that name, have it).
   * @default {{}}
   */
  headers?: ConstructorParameters<typeof Headers>[0];
  /**
   * permessage-deflate: `false` offers nothing; otherwise an offer built from these options, by default the
   * browsers' `permessage-deflate; client_max_window_bits`.
   * @default {{}}
   */
  deflate?: false | ClientDeflateOptions;
}

/** What the server agreed to. */
export interface ClientHandshakeResult {
  /** The subprotocol the server chose, or `""`. */
  protocol: string;
  /** The server's `Sec-WebSocket-Extensions`, or `""`. */
  extensions: string;
  /** The extensions in force, for the connection's `extensions` option. */
  negotiated: Extension[];
}

/**
 * One opening handshake from the client's side: the request to send (`url`, `headers`) and the check of
 * the server's answer ({@linkcode ClientHandshake.verify}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ClientHandshake } from "./client_handshake.ts";
 * const handshake = new ClientHandshake("ws://127.0.0.1:8080/chat", { protocols: ["chat"] });
 * assert(handshake.headers.get("sec-websocket-version") === "13");
 * assert(handshake.headers.get("sec-websocket-extensions") === "permessage-deflate; client_max_window_bits");
 * ```
 */
export class ClientHandshake {
  /** The URL, normalized; its scheme is `ws:` or `wss:`. */
  readonly url: URL;
  /** The request headers, `Host` included. */
  readonly headers: Headers;
  /** The `Sec-WebSocket-Key` sent. */
  readonly key: string;
  readonly #protocols: readonly string[];
  readonly #deflate: false | ClientDeflateOptions;

  /**
   * Prepares a handshake: a fresh key, the request's headers.
   *
   * @param url A `ws:` or `wss:` URL (`http:` and `https:` are mapped to them, as browsers do).
   * @param options Subprotocols, extra headers and the permessage-deflate offer.
   * @throws {SyntaxError} For a URL that is not absolute, has another scheme or a fragment, or for
   * subprotocols that are not tokens or appear twice.
   */
  constructor(url: string | URL, options: ClientHandshakeOptions = {}) {
    this.url = parseWebSocketUrl(url);
    const protocols = typeof options.protocols === "string" ? [options.protocols] : [...(options.protocols ?? [])];
    const seen = new Set<string>();
    for (const protocol of protocols) {
      if (!isToken(protocol)) throw new SyntaxError(`Cannot connect: subprotocol "${protocol}" is not a token`);
      if (seen.has(protocol)) throw new SyntaxError(`Cannot connect: subprotocol "${protocol}" is offered twice`);
      seen.add(protocol);
    }
    this.#protocols = protocols;
    this.#deflate = options.deflate ?? {};
    // §4.1: "The request MUST include a header field with the name |Sec-WebSocket-Key|. The value of this
    // header field MUST be a nonce consisting of a randomly selected 16-byte value that has been
    // base64-encoded".
    const nonce = crypto.getRandomValues(new Uint8Array(16));
    this.key = btoa(String.fromCharCode(...nonce));
    const headers = new Headers(options.headers);
    headers.set("host", this.url.host);
    headers.set("upgrade", "websocket");
    headers.set("connection", "Upgrade");
    headers.set("sec-websocket-key", this.key);
    headers.set("sec-websocket-version", "13");
    if (protocols.length > 0) headers.set("sec-websocket-protocol", protocols.join(", "));
    if (this.#deflate !== false) headers.set("sec-websocket-extensions", formatExtensions([deflateOffer(this.#deflate)]));
    this.headers = headers;
  }

  /**
   * Checks the server's answer (§4.1: "If the server's response does not conform to the requirements ...
   * the client MUST _Fail the WebSocket Connection_").
   *
   * @param status The response status.
   * @param headers The response headers.
   * @returns What was negotiated.
   * @throws {Error} Naming the URL and what was wrong.
   */
  async verify(status: number, headers: Headers): Promise<ClientHandshakeResult> {
    const fail = (what: string): never => {
      throw new Error(`Cannot connect to ${this.url.href}: ${what}`);
    };
    // §4.1 (1): "If the status code received from the server is not 101, the client handles the response
    // per HTTP [RFC2616] procedures." Redirects are not followed here.
    if (status !== 101) {
      const location = headers.get("location");
      fail(`the server answered ${status}${location ? ` (redirect to ${location}, not followed)` : ""}`);
    }
    // §4.1 (2): the |Upgrade| header field must be "an ASCII case-insensitive match for the value
    // "websocket"".
    const upgrade = headers.get("upgrade");
    if (upgrade === null || upgrade.trim().toLowerCase() !== "websocket") fail(`Upgrade is ${upgrade ?? "missing"}, not websocket`);
    // §4.1 (3): "If the response lacks a |Connection| header field or the |Connection| header field
    // doesn't contain a token that is an ASCII case-insensitive match for the value "Upgrade"".
    if (!hasToken(headers.get("connection"), "upgrade")) fail("Connection does not include Upgrade");
    // §4.1 (4): the |Sec-WebSocket-Accept| must be "the base64-encoded SHA-1 of the concatenation of the
    // |Sec-WebSocket-Key| ... with the string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"".
    const accept = headers.get("sec-websocket-accept");
    if (accept === null) fail("Sec-WebSocket-Accept is missing");
    if (accept!.trim() !== await computeAcceptKey(this.key)) fail(`Sec-WebSocket-Accept ${accept} does not match the key`);
    // §4.1 (6): "If the response includes a |Sec-WebSocket-Protocol| header field and this header field
    // indicates the use of a subprotocol that was not present in the client's handshake ..., the client
    // MUST _Fail the WebSocket Connection_."
    const protocol = headers.get("sec-websocket-protocol")?.trim() ?? "";
    if (protocol !== "" && !this.#protocols.includes(protocol)) fail(`the server chose subprotocol ${protocol}, which was not offered`);
    // §4.1 (5): "If the response includes a |Sec-WebSocket-Extensions| header field and this header field
    // indicates the use of an extension that was not present in the client's handshake ..., the client
    // MUST _Fail the WebSocket Connection_."
    const extensionHeader = headers.get("sec-websocket-extensions");
    const negotiated: Extension[] = [];
    let answered: ExtensionOffer[] = [];
    if (extensionHeader !== null) {
      try {
        answered = parseExtensions(extensionHeader);
      } catch (error) {
        fail((error as Error).message);
      }
    }
    for (const extension of answered) {
      if (extension.name.toLowerCase() !== PERMESSAGE_DEFLATE || this.#deflate === false) {
        fail(`the server accepted extension ${extension.name}, which was not offered`);
      }
      if (negotiated.length > 0) fail(`the server accepted ${PERMESSAGE_DEFLATE} twice`);
      const deflate = this.#deflate as ClientDeflateOptions;
      // Where WebAssembly cannot be compiled, the default codec (pako) is loaded first; elsewhere no wait.
      const loading = deflate.codec === undefined ? defaultCodecReady() : undefined;
      if (loading !== undefined) await loading;
      try {
        negotiated.push(new PerMessageDeflate("client", verifyDeflateResponse(extension, deflate), deflate));
      } catch (error) {
        fail((error as Error).message);
      }
    }
    return { protocol, extensions: extensionHeader?.trim() ?? "", negotiated };
  }
}

/**
 * Parses a WebSocket URL as the WHATWG `WebSocket` constructor does: `http:`/`https:` become
 * `ws:`/`wss:`; anything else, or a fragment, is a `SyntaxError`.
 *
 * @param url The URL.
 * @returns The parsed URL.
 */
export function parseWebSocketUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SyntaxError(`Cannot connect: ${url} is not an absolute URL`);
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new SyntaxError(`Cannot connect: scheme ${parsed.protocol} is not ws: or wss:`);
  }
  if (parsed.hash !== "" || String(url).includes("#")) {
    throw new SyntaxError(`Cannot connect: ${url} has a fragment`);
  }
  return parsed;
}
