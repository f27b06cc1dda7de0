/**
 * permessage-deflate negotiation (RFC 7692 §5, §7, §7.1) in both roles: the server picks the first offer
 * it can accept and answers it; the client builds its offer and verifies the answer.
 *
 * @module
 */

import type { ExtensionOffer } from "../handshake/extension_header.ts";

/** The extension token. */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** What was agreed: the window and context rules for each direction. */
export interface DeflateParameters {
  /** The server resets its compressor after each message (the client may release its inflater). */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after each message (the server may release its inflater). */
  clientNoContextTakeover: boolean;
  /** The server compresses with at most this window, 8..15. */
  serverMaxWindowBits: number;
  /** The client compresses with at most this window, 8..15. */
  clientMaxWindowBits: number;
}

/** What this end wants from permessage-deflate; the same options serve both roles. */
export interface DeflateNegotiationOptions {
  /**
   * Server: always compress without context takeover (answered with `server_no_context_takeover`).
   * Client: ask the server for it. Saves the inflater's window between messages at the receiving end.
   * (`broadcast` implies it.)
   * @default {false}
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: require the client to compress without context takeover. Client: offer to do so.
   * @default {false}
   */
  clientNoContextTakeover?: boolean;
  /**
   * Server: the largest window the server compresses with; a client asking for less gets what it asked.
   * With `broadcast`, the window every connection compresses with, but for those that asked for less.
   * Client: ask the server for at most this window (15 asks nothing).
   * @default {15}
   */
  serverMaxWindowBits?: number;
  /**
   * Server: limit the client's window to this, when the client's offer allows it. Client: offer
   * `client_max_window_bits` with this value (15 offers it without a value, as browsers do).
   * @default {15}
   */
  clientMaxWindowBits?: number;
  /**
   * Server only: the broadcast profile. Every acceptable offer is answered with
   * `server_no_context_takeover` and the server's window fixed at `serverMaxWindowBits` (lowered to the
   * client's `server_max_window_bits` where it offered less), so each connection compresses every message
   * from an empty window of a size known in advance: one compressed payload per window size serves all
   * subscribers (what `PerMessageDeflate.sharedEncoding` keys on). `client_no_context_takeover` and
   * `client_max_window_bits` are negotiated as usual. On the wire, messages no longer refer to earlier
   * ones: chat-sized JSON barely shrinks (see the README's knob table).
   *
   * Client: a `TypeError`. A client cannot choose how the server compresses; what it can ask for is
   * `serverNoContextTakeover` and `serverMaxWindowBits`, and ignoring the flag would leave a connection
   * that silently does something other than the code says.
   * @default {false}
   */
  broadcast?: boolean;
}

const WINDOW_BITS = /^(?:8|9|1[0-5])$/; // "a decimal integer value without leading zeroes between 8 to 15"

type Params = {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `null`: present without a value. */
  clientMaxWindowBits: number | null | undefined;
};

/**
 * Reads an offer's or a response's parameters. Returns a reason string when they are invalid: a
 * parameter not defined for permessage-deflate, a parameter given twice, a value where none belongs, or a
 * window outside 8..15 (§7: the server "MUST decline", the client "MUST _Fail the WebSocket Connection_").
 */
function readParams(offer: ExtensionOffer, role: "offer" | "response"): Params | string {
  const params: Params = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [rawName, value] of offer.params) {
    const name = rawName.toLowerCase();
    if (seen.has(name)) return `parameter ${name} appears twice`;
    seen.add(name);
    switch (name) {
      case "server_no_context_takeover":
      case "client_no_context_takeover":
        if (value !== null) return `parameter ${name} has a value`;
        if (name === "server_no_context_takeover") params.serverNoContextTakeover = true;
        else params.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits":
        if (value === null || !WINDOW_BITS.test(value)) return `parameter ${name} is not 8..15: ${value}`;
        params.serverMaxWindowBits = Number(value);
        break;
      case "client_max_window_bits":
        // In an offer the value is optional; in a response it is required.
        if (value === null && role === "offer") {
          params.clientMaxWindowBits = null;
          break;
        }
        if (value === null || !WINDOW_BITS.test(value)) return `parameter ${name} is not 8..15: ${value}`;
        params.clientMaxWindowBits = Number(value);
        break;
      default:
        return `parameter ${name} is not defined for ${PERMESSAGE_DEFLATE}`;
    }
  }
  return params;
}

/** The client-role functions refuse the server-only `broadcast` profile (see its documentation). */
function checkClientRole(options: DeflateNegotiationOptions): void {
  if (options.broadcast === true) {
    throw new TypeError(
      `Cannot negotiate ${PERMESSAGE_DEFLATE}: broadcast is a server option ` +
        "(a client asks with serverNoContextTakeover and serverMaxWindowBits)",
    );
  }
}

function checkWindow(name: string, bits: number | undefined): number {
  const value = bits ?? 15;
  if (!Number.isInteger(value) || value < 8 || value > 15) {
    throw new RangeError(`Cannot negotiate ${PERMESSAGE_DEFLATE}: ${name} ${bits} is not an integer in 8..15`);
  }
  return value;
}

/** The server's answer to one accepted offer. */
export interface DeflateAcceptance {
  /** What applies to the connection. */
  parameters: DeflateParameters;
  /** The response element for `Sec-WebSocket-Extensions`. */
  response: ExtensionOffer;
}

/**
 * Server role: accepts the first acceptable permessage-deflate offer, or none.
 *
 * Per offer (o = in the client's offer, c = this server's option), the response and what each side does:
 *
 * ```
 * server_no_context_takeover   o | c    | answer | server compressor
 *                              yes | any  | yes    | reset per message (the client asked: MUST be honoured)
 *                              no  | true | yes    | reset per message
 *                              no  | broadcast | yes | reset per message ("MAY include ... even if the offer didn't")
 *                              no  | false| no     | keeps its window
 * client_no_context_takeover   any | true | yes    | client resets; server inflater reset per message
 *                              yes | false| yes    | (echoed: the client will reset anyway; frees our window)
 *                              no  | false| no     | client keeps its window
 * server_max_window_bits=N     absent | c=15 | absent | server compresses with 15
 *                              absent | c<15 | c      | c ("MAY include ... even if the offer didn't")
 *                              N      | c    | min(N,c) | min(N,c) (never more than asked)
 * client_max_window_bits       absent | any  | absent   | 15 ("MUST NOT include" it unless offered)
 *                              bare   | c=15 | absent   | 15
 *                              bare   | c<15 | c        | c
 *                              =M     | c    | min(M,c) if < 15, else absent | min(M,c)
 * ```
 *
 * The broadcast profile (`broadcast: true`, server only; c = `serverMaxWindowBits`, 15 by default) is the
 * rows above with `server_no_context_takeover` always answered: the server's window depends on c and the
 * offer alone, and no message refers to an earlier one.
 *
 * ```
 * the offer's server_* parameters | the response's server_* parameters                   | server compressor
 * none, c=15                      | server_no_context_takeover                           | reset, 15
 * none, c<15                      | server_no_context_takeover; server_max_window_bits=c | reset, c
 * server_max_window_bits=N        | server_no_context_takeover; server_max_window_bits=min(N,c) | reset, min(N,c)
 * server_no_context_takeover      | the same as without it                               | the same
 * (client_no_context_takeover and client_max_window_bits: the rows above)
 * client role with broadcast      | TypeError (deflateOffer, verifyDeflateResponse)
 * ```
 * `server_max_window_bits=15` is left out when not offered: such a client has said it inflates anything
 * up to 15 bits ("Absence of this parameter in an extension negotiation offer indicates that the client can
 * receive messages compressed using an LZ77 sliding window of up to 32,768 bytes"), so "=15" would tell it
 * nothing, and the response stays what a plain `serverNoContextTakeover` server sends; the server's window
 * is fixed on its side all the same (`parameters.serverMaxWindowBits`). An offer of 8 is answered 8 (9
 * would be more than offered); the codecs compress it with zlib's 9-bit window, which never reaches back
 * more than 250 bytes (valid for 8), so windows 8 and 9 give the same bytes.
 *
 * An offer with an unknown or duplicated parameter, or an invalid value, is declined, and the next offer
 * is considered.
 *
 * @param offers The client's `Sec-WebSocket-Extensions`, parsed (other extensions are skipped).
 * @param options This server's preferences.
 * @returns The acceptance, or `undefined` when no offer is acceptable.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptDeflateOffer } from "./negotiation.ts";
 * import { parseExtensions } from "../handshake/extension_header.ts";
 * const accepted = acceptDeflateOffer(parseExtensions("permessage-deflate; client_max_window_bits"), {});
 * assert(accepted?.parameters.clientMaxWindowBits === 15);
 * ```
 */
export function acceptDeflateOffer(
  offers: readonly ExtensionOffer[],
  options: DeflateNegotiationOptions,
): DeflateAcceptance | undefined {
  const serverLimit = checkWindow("serverMaxWindowBits", options.serverMaxWindowBits);
  const clientLimit = checkWindow("clientMaxWindowBits", options.clientMaxWindowBits);
  const broadcast = options.broadcast === true;
  for (const offer of offers) {
    if (offer.name.toLowerCase() !== PERMESSAGE_DEFLATE) continue;
    const params = readParams(offer, "offer");
    if (typeof params === "string") continue; // §7: "A server MUST decline an extension negotiation offer"
    const response: ExtensionOffer = { name: PERMESSAGE_DEFLATE, params: [] };
    // §7.1.1.1: "A server MAY include the "server_no_context_takeover" extension parameter in an extension
    // negotiation response even if the extension negotiation offer being accepted by the extension
    // negotiation response didn't include the "server_no_context_takeover" extension parameter."
    const serverNoContextTakeover = params.serverNoContextTakeover || options.serverNoContextTakeover === true ||
      broadcast;
    if (serverNoContextTakeover) response.params.push(["server_no_context_takeover", null]);
    const clientNoContextTakeover = params.clientNoContextTakeover || options.clientNoContextTakeover === true;
    if (clientNoContextTakeover) response.params.push(["client_no_context_takeover", null]);
    // §7.1.2.1: answered "with the same or smaller value as the offer"; and "A server MAY include the
    // "server_max_window_bits" extension parameter in an extension negotiation response even if the
    // extension negotiation offer being accepted by the response didn't include" it (c < 15; 15 is the default).
    const serverMaxWindowBits = Math.min(params.serverMaxWindowBits ?? 15, serverLimit);
    if (params.serverMaxWindowBits !== undefined || serverMaxWindowBits < 15) {
      response.params.push(["server_max_window_bits", String(serverMaxWindowBits)]);
    }
    // §7.1.2.2: "If a received extension negotiation offer doesn't have the "client_max_window_bits"
    // extension parameter, the corresponding extension negotiation response to the offer MUST NOT include
    // the "client_max_window_bits" extension parameter."
    let clientMaxWindowBits = 15;
    if (params.clientMaxWindowBits !== undefined) {
      clientMaxWindowBits = Math.min(params.clientMaxWindowBits ?? 15, clientLimit);
      if (clientMaxWindowBits < 15) response.params.push(["client_max_window_bits", String(clientMaxWindowBits)]);
    }
    return {
      parameters: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits },
      response,
    };
  }
  return undefined;
}

/**
 * Client role: the offer to send. With default options it is what browsers send:
 * `permessage-deflate; client_max_window_bits`.
 *
 * @param options This client's preferences.
 * @returns The offer element for `Sec-WebSocket-Extensions`.
 * @throws {TypeError} With `broadcast: true`, a server option.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deflateOffer } from "./negotiation.ts";
 * import { formatExtensions } from "../handshake/extension_header.ts";
 * assert(formatExtensions([deflateOffer({})]) === "permessage-deflate; client_max_window_bits");
 * ```
 */
export function deflateOffer(options: DeflateNegotiationOptions): ExtensionOffer {
  checkClientRole(options);
  const serverBits = checkWindow("serverMaxWindowBits", options.serverMaxWindowBits);
  const clientBits = checkWindow("clientMaxWindowBits", options.clientMaxWindowBits);
  const offer: ExtensionOffer = { name: PERMESSAGE_DEFLATE, params: [] };
  if (options.serverNoContextTakeover === true) offer.params.push(["server_no_context_takeover", null]);
  if (options.clientNoContextTakeover === true) offer.params.push(["client_no_context_takeover", null]);
  if (serverBits < 15) offer.params.push(["server_max_window_bits", String(serverBits)]);
  offer.params.push(["client_max_window_bits", clientBits < 15 ? String(clientBits) : null]);
  return offer;
}

/**
 * Client role: verifies the server's answer to {@linkcode deflateOffer} and returns what applies.
 *
 * ```
 * in the response                  | we offered              | verdict
 * unknown / duplicate / bad value  | -                       | fail
 * server_no_context_takeover       | any                     | ok: server resets (we may release the inflater)
 * (absent)                         | server_no_context_takeover | fail: our request was not honoured
 * server_max_window_bits (absent)  | S < 15                  | fail: our limit was not granted
 * client_no_context_takeover       | any                     | ok: we reset our compressor per message
 * server_max_window_bits=N         | absent                  | ok: we inflate with N
 *                                  | S                       | ok if N <= S, else fail
 * client_max_window_bits=M         | (always offered)        | ok: we compress with min(M, ours)
 * ```
 *
 * @param response The server's permessage-deflate element.
 * @param options The options the offer was built from.
 * @returns The parameters in force.
 * @throws {Error} Naming what is wrong, when the client must fail the connection (§7).
 * @throws {TypeError} With `broadcast: true`, a server option.
 */
export function verifyDeflateResponse(response: ExtensionOffer, options: DeflateNegotiationOptions): DeflateParameters {
  checkClientRole(options);
  const serverBits = checkWindow("serverMaxWindowBits", options.serverMaxWindowBits);
  const clientBits = checkWindow("clientMaxWindowBits", options.clientMaxWindowBits);
  const params = readParams(response, "response");
  if (typeof params === "string") throw new Error(`Cannot accept ${PERMESSAGE_DEFLATE} response: ${params}`);
  if (options.serverNoContextTakeover === true && !params.serverNoContextTakeover) {
    throw new Error(`Cannot accept ${PERMESSAGE_DEFLATE} response: server_no_context_takeover was requested and not granted`);
  }
  // §7.1.2.1: a server accepts server_max_window_bits "by including [it] ... with the same or smaller value".
  if (serverBits < 15 && params.serverMaxWindowBits === undefined) {
    throw new Error(`Cannot accept ${PERMESSAGE_DEFLATE} response: server_max_window_bits=${serverBits} was requested and not granted`);
  }
  if (params.serverMaxWindowBits !== undefined && serverBits < 15 && params.serverMaxWindowBits > serverBits) {
    throw new Error(
      `Cannot accept ${PERMESSAGE_DEFLATE} response: server_max_window_bits=${params.serverMaxWindowBits} exceeds the ${serverBits} requested`,
    );
  }
  return {
    serverNoContextTakeover: params.serverNoContextTakeover,
    clientNoContextTakeover: params.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: params.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: Math.min(typeof params.clientMaxWindowBits === "number" ? params.clientMaxWindowBits : 15, clientBits),
  };
}
