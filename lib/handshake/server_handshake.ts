/**
 * The server's side of the opening handshake (RFC 6455 §4.2): a `Request` in, a 101 or a 4xx `Response`
 * out.
 *
 * @module
 */

import { computeAcceptKey, isValidKey } from "./accept_key.ts";
import { acceptDeflateOffer, type DeflateNegotiationOptions } from "../deflate/negotiation.ts";
import type { Extension } from "../core/extension.ts";
import { type ExtensionOffer, formatExtensions, parseExtensions } from "./extension_header.ts";
import { hasToken, parseTokenList } from "./header_tokens.ts";
import { PerMessageDeflate, type PerMessageDeflateOptions } from "../deflate/permessage_deflate.ts";
import { defaultCodecReady } from "../deflate/zlib_wasm_codec.ts";

/** permessage-deflate settings for a server: what to negotiate and how to compress. */
export interface ServerDeflateOptions extends DeflateNegotiationOptions, PerMessageDeflateOptions {}

/** Chooses a subprotocol from the client's offer: return one of `offered`, or `undefined` for none. */
export type ProtocolSelector = (offered: string[], request: Request) => string | undefined;

/** Decides whether an `Origin` (or its absence, `null`) is allowed. */
export type OriginPolicy = (origin: string | null, request: Request) => boolean | Promise<boolean>;

/** Options for {@linkcode serverHandshake}. */
export interface ServerHandshakeOptions {
  /**
   * Subprotocols the server speaks, most preferred first: the first of these the client offered is chosen
   * (server order, never the client's first offer blindly). Or a function that chooses.
   * @default {[]}
   */
  protocols?: readonly string[] | ProtocolSelector;
  /**
   * Refuse (400) a client that offers no subprotocol the server speaks, instead of answering without one.
   * @default {false}
   */
  requireProtocol?: boolean;
  /**
   * Allowed origins, compared to the lowercased `Origin` header (§4.2.2: "The origin is serialized to ASCII
   * and converted to lowercase"); or a function. A refused origin gets 403. A request without `Origin`
   * (not from a browser) is allowed by a list, and passed as `null` to a function.
   * @default every origin is allowed
   */
  origins?: readonly string[] | OriginPolicy;
  /**
   * Runs after the request has been checked as a WebSocket upgrade and before anything is accepted: return
   * a `Response` (a 401 for a missing token, say) to refuse the upgrade with it, nothing to go on, or an
   * {@linkcode UpgradeAcceptance} to go on with what the connection should carry (who the user is).
   * @default none
   */
  authorize?: UpgradeHook;
  /**
   * permessage-deflate (RFC 7692): `false` never negotiates it; otherwise the first acceptable offer of the
   * client is accepted with these settings.
   * @default {{}} (on: context takeover, 15-bit windows, level 6, messages of 32 bytes or more compressed)
   */
  deflate?: false | ServerDeflateOptions;
}

/**
 * What an `upgrade` hook that accepts can give the connection: its `data` (the user's id and roles, say),
 * the user it belongs to, and when its credentials expire.
 */
export interface UpgradeAcceptance {
  /** The socket's initial `data`, available in every callback. @default undefined */
  data?: unknown;
  /** The user the socket belongs to: `server.disconnectUser(user)` closes all of that user's sockets. */
  user?: string;
  /**
   * When the credentials it was accepted with expire (milliseconds since the epoch, as `Date.now()`): the
   * server then closes it with 4401 "token expired", which a reconnecting client answers by connecting
   * again with fresh credentials.
   */
  expiresAt?: number;
}

/**
 * The check before an upgrade: a `Response` refuses it, an {@linkcode UpgradeAcceptance} (or nothing)
 * accepts it.
 */
export type UpgradeHook = (
  request: Request,
) => Response | UpgradeAcceptance | undefined | void | Promise<Response | UpgradeAcceptance | undefined | void>;

/** What {@linkcode serverHandshake} decided. */
export type ServerHandshake =
  | {
    /** The upgrade is accepted. */
    readonly ok: true;
    /** The 101 response to send. */
    readonly response: Response;
    /** The chosen subprotocol, or `""`. */
    readonly protocol: string;
    /** The accepted extensions as sent in `Sec-WebSocket-Extensions`, or `""`. */
    readonly extensions: string;
    /** The accepted extensions, ready for the connection's `extensions` option. */
    readonly negotiated: Extension[];
    /** What the `authorize` hook gave the connection, if anything. */
    readonly acceptance?: UpgradeAcceptance;
  }
  | {
    /** The upgrade is refused. */
    readonly ok: false;
    /** The 4xx (or hook-provided) response to send. */
    readonly response: Response;
    /** Why, in a sentence (also the response body for refusals made here). */
    readonly reason: string;
  };

/**
 * Checks a WebSocket upgrade request and builds the answer. Never throws for anything the client sent: a
 * bad request is answered with a 4xx whose plain-text body says what was wrong.
 *
 * @param request The HTTP request.
 * @param options Subprotocols, origin policy, an authorization hook and permessage-deflate.
 * @returns The 101 response and what was negotiated, or the refusal.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serverHandshake } from "./server_handshake.ts";
 * const request = new Request("http://example.com/chat", {
 *   headers: {
 *     host: "example.com", upgrade: "websocket", connection: "Upgrade",
 *     "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13",
 *     "sec-websocket-protocol": "chat, superchat",
 *   },
 * });
 * const result = await serverHandshake(request, { protocols: ["superchat", "chat"] });
 * assert(result.ok && result.protocol === "superchat");
 * assert(result.response.headers.get("sec-websocket-accept") === "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * ```
 */
export async function serverHandshake(
  request: Request,
  options: ServerHandshakeOptions = {},
): Promise<ServerHandshake> {
  const headers = request.headers;
  // §4.2.1 (1): "An HTTP/1.1 or higher GET request".
  if (request.method !== "GET") {
    return refuse(405, `Cannot upgrade: method ${request.method} is not GET`, { allow: "GET" });
  }
  // RFC 9110 §9.3.1: "content received in a GET request has no generally defined semantics ... and might
  // lead some implementations to reject the request and close the connection because of its potential as
  // a request smuggling attack". An upgrade's body would be read as WebSocket frames here (node:http
  // hands it over as `head`), while a proxy that forwarded it saw HTTP: refused, whatever it holds.
  const body = declaredBody(headers);
  if (body !== undefined) return refuse(400, `Cannot upgrade: the request declares a body: ${body}`);
  // §4.2.1 (3): "An |Upgrade| header field containing the value "websocket", treated as an ASCII
  // case-insensitive value."
  const upgrade = headers.get("upgrade");
  if (upgrade === null) {
    return refuse(426, "Cannot upgrade: the Upgrade header is missing", { upgrade: "websocket", connection: "Upgrade" });
  }
  if (!hasToken(upgrade, "websocket")) {
    return refuse(400, `Cannot upgrade: the Upgrade header does not name websocket: ${upgrade}`);
  }
  // §4.2.1 (4): "A |Connection| header field that includes the token "Upgrade", treated as an ASCII
  // case-insensitive value."
  if (!hasToken(headers.get("connection"), "upgrade")) {
    return refuse(400, "Cannot upgrade: the Connection header does not include Upgrade");
  }
  // §4.2.2: "If this version does not match a version understood by the server, the server MUST abort
  // the WebSocket handshake ... and instead send an appropriate HTTP error code (such as 426 Upgrade
  // Required) and a |Sec-WebSocket-Version| header field indicating the version(s)".
  const version = headers.get("sec-websocket-version");
  if (version === null || version.trim() !== "13") {
    const what = version === null ? "is missing" : `is ${version}, not 13`;
    return refuse(426, `Cannot upgrade: Sec-WebSocket-Version ${what}`, { "sec-websocket-version": "13" });
  }
  // §4.2.1 (5): "A |Sec-WebSocket-Key| header field with a base64-encoded ... value that, when decoded, is
  // 16 bytes in length."
  const key = headers.get("sec-websocket-key")?.trim();
  if (key === undefined || !isValidKey(key)) {
    return refuse(400, "Cannot upgrade: Sec-WebSocket-Key is not base64 of 16 bytes");
  }
  // §4.2.1 (2): "A |Host| header field containing the server's authority."
  if (!headers.get("host")) {
    return refuse(400, "Cannot upgrade: the Host header is missing");
  }
  const offered = parseTokenList(headers.get("sec-websocket-protocol"));
  if (offered === undefined) {
    return refuse(400, "Cannot upgrade: Sec-WebSocket-Protocol is not a list of tokens");
  }
  // §9.1: "If a value is received by either the client or the server during negotiation that does not
  // conform to the ABNF below, the recipient of such malformed data MUST immediately _Fail the WebSocket
  // Connection_": a server does that by refusing the upgrade.
  let offers: ExtensionOffer[] = [];
  const extensionHeader = headers.get("sec-websocket-extensions");
  if (extensionHeader !== null) {
    try {
      offers = parseExtensions(extensionHeader);
    } catch (error) {
      return refuse(400, `Cannot upgrade: ${(error as Error).message}`);
    }
  }
  // §4.2.2 /origin/: "If the server does not wish to accept this connection, it MUST return an
  // appropriate HTTP error code (e.g., 403 Forbidden)".
  const origins = options.origins;
  if (origins !== undefined) {
    const origin = headers.get("origin");
    const allowed = typeof origins === "function"
      ? await origins(origin === null ? null : origin.toLowerCase(), request)
      : origin === null || origins.some((o) => o.toLowerCase() === origin.toLowerCase());
    if (!allowed) return refuse(403, `Cannot upgrade: origin ${origin ?? "(none)"} is not allowed`);
  }
  let acceptance: UpgradeAcceptance | undefined;
  if (options.authorize !== undefined) {
    const decision = await options.authorize(request);
    if (decision instanceof Response) {
      return { ok: false, response: decision, reason: `Refused by the authorize hook with status ${decision.status}` };
    }
    if (decision !== undefined && decision !== null) {
      if (typeof decision !== "object") throw new TypeError("Cannot upgrade: the upgrade hook returned neither a Response nor an object");
      acceptance = decision;
    }
  }
  const protocol = chooseProtocol(offered, request, options.protocols ?? []);
  if (protocol === "" && options.requireProtocol === true) {
    return refuse(400, `Cannot upgrade: a subprotocol is required: offered ${offered.join(", ") || "none"}`);
  }
  const responseHeaders = new Headers({
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-accept": await computeAcceptKey(key),
  });
  // §4.2.2 /subprotocol/: "The value chosen MUST be derived from the client's handshake ... from the
  // |Sec-WebSocket-Protocol| header field"; none chosen means no header.
  if (protocol !== "") responseHeaders.set("sec-websocket-protocol", protocol);
  // Unknown extensions are ignored: only permessage-deflate is known here.
  const negotiated: Extension[] = [];
  let extensions = "";
  if (options.deflate !== false) {
    const deflate = options.deflate ?? {};
    const accepted = acceptDeflateOffer(offers, deflate);
    if (accepted !== undefined) {
      // Where WebAssembly cannot be compiled, the default codec (pako) is loaded first; elsewhere no wait.
      const loading = deflate.codec === undefined ? defaultCodecReady() : undefined;
      if (loading !== undefined) await loading;
      negotiated.push(new PerMessageDeflate("server", accepted.parameters, deflate));
      extensions = formatExtensions([accepted.response]);
      responseHeaders.set("sec-websocket-extensions", extensions);
    }
  }
  return { ok: true, response: switchingProtocols(responseHeaders), protocol, extensions, negotiated, acceptance };
}

/** Returns the chosen protocol, or `""` for none. */
function chooseProtocol(offered: string[], request: Request, protocols: readonly string[] | ProtocolSelector): string {
  if (offered.length === 0) return "";
  if (typeof protocols === "function") {
    const chosen = protocols(offered, request);
    if (chosen === undefined || chosen === "") return "";
    if (!offered.includes(chosen)) {
      throw new TypeError(`Cannot upgrade: the protocol selector chose ${chosen}, which the client did not offer`);
    }
    return chosen;
  }
  for (const protocol of protocols) {
    if (offered.includes(protocol)) return protocol;
  }
  return "";
}

/**
 * The header that declares a request body (RFC 9112 §6.1, §6.2: any `Transfer-Encoding`, or a
 * `Content-Length` other than 0), as `name: value` for the refusal; `undefined` when there is none.
 */
function declaredBody(headers: Headers): string | undefined {
  const encoding = headers.get("transfer-encoding");
  if (encoding !== null) return `Transfer-Encoding: ${encoding}`;
  const length = headers.get("content-length");
  // A repeated field arrives joined as "0, 0": each of its values must be 0.
  if (length !== null && !/^0+(?:[ \t]*,[ \t]*0+)*$/.test(length)) return `Content-Length: ${length}`;
  return undefined;
}

function refuse(status: number, reason: string, headers: Record<string, string> = {}): ServerHandshake {
  const response = new Response(reason + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
  return { ok: false, response, reason };
}

/**
 * A 101 response. Deno's and Bun's `Response` accept status 101; Node's (undici) only 200-599, so there a
 * 200 response reports 101 through own properties that shadow its prototype's getters (not a subclass: Bun's
 * declarations type `status` as a property, which an accessor may not override).
 */
function switchingProtocols(headers: Headers): Response {
  try {
    return new Response(null, { status: 101, statusText: "Switching Protocols", headers });
  } catch {
    return Object.defineProperties(new Response(null, { status: 200, headers }), {
      status: { value: 101 },
      statusText: { value: "Switching Protocols" },
      ok: { value: false },
    });
  }
}
