/**
 * permessage-deflate (RFC 7692) for the fuzzing side: its own reading of `Sec-WebSocket-Extensions`, its own
 * negotiation in both roles (kept apart from the engine's, which is under test), and message compression
 * with the pako codec.
 *
 * @module
 */

import type { Compressor, Decompressor } from "../lib/deflate/codec.ts";
import { pakoCodec } from "../lib/deflate/pako_codec.ts";
import type { AcceptRule } from "./cases.ts";

/** One element of an extension list: a name and its parameters, in order. */
export interface ExtensionElement {
  name: string;
  params: [string, string | null][];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1; quoted values unquoted).
 *
 * @param value The header value.
 * @returns The elements.
 * @throws {SyntaxError} On a malformed list.
 */
export function parseExtensions(value: string): ExtensionElement[] {
  const elements: ExtensionElement[] = [];
  // Split on commas and semicolons outside quoted strings.
  const items: string[][] = [[]];
  let current = "", quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === "\\" && i + 1 < value.length) current += value[++i];
      else if (c === '"') quoted = false, current += c;
      else current += c;
    } else if (c === '"') quoted = true, current += c;
    else if (c === ";") items[items.length - 1].push(current.trim()), current = "";
    else if (c === ",") items[items.length - 1].push(current.trim()), items.push([]), current = "";
    else current += c;
  }
  if (quoted) throw new SyntaxError(`Cannot parse extensions: unterminated quoted string: ${value}`);
  items[items.length - 1].push(current.trim());
  for (const [name, ...params] of items) {
    if (!TOKEN.test(name)) throw new SyntaxError(`Cannot parse extensions: not a token: ${name}`);
    const element: ExtensionElement = { name: name.toLowerCase(), params: [] };
    for (const param of params) {
      const eq = param.indexOf("=");
      const key = (eq === -1 ? param : param.slice(0, eq)).trim();
      let val: string | null = eq === -1 ? null : param.slice(eq + 1).trim();
      if (val !== null && val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1);
      if (!TOKEN.test(key) || (val !== null && !TOKEN.test(val))) {
        throw new SyntaxError(`Cannot parse extensions: malformed parameter: ${param}`);
      }
      element.params.push([key.toLowerCase(), val]);
    }
    elements.push(element);
  }
  return elements;
}

/** What applies to the fuzzing side's two directions. */
export interface DeflateParams {
  /** Window the fuzzing side compresses with. */
  sendWindow: number;
  /** The fuzzing side resets its compressor after each message. */
  sendNoContext: boolean;
  /** Window the peer compresses with (the fuzzing side inflates with exactly that, to catch overreach). */
  receiveWindow: number;
  /** The peer must not use context takeover: the fuzzing side resets its inflater after each message. */
  receiveNoContext: boolean;
}

interface Params {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `null`: present without a value (offers only). */
  clientMaxWindowBits: number | null | undefined;
}

function readParams(element: ExtensionElement, response: boolean): Params | string {
  const params: Params = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of element.params) {
    if (seen.has(name)) return `parameter ${name} appears twice`;
    seen.add(name);
    const bits = value !== null && /^(?:8|9|1[0-5])$/.test(value) ? Number(value) : undefined;
    if (name === "server_no_context_takeover" || name === "client_no_context_takeover") {
      if (value !== null) return `parameter ${name} has a value`;
      if (name === "server_no_context_takeover") params.serverNoContextTakeover = true;
      else params.clientNoContextTakeover = true;
    } else if (name === "server_max_window_bits") {
      if (bits === undefined) return `parameter ${name} is not 8..15: ${value}`;
      params.serverMaxWindowBits = bits;
    } else if (name === "client_max_window_bits") {
      if (value === null && !response) params.clientMaxWindowBits = null;
      else if (bits === undefined) return `parameter ${name} is not 8..15: ${value}`;
      else params.clientMaxWindowBits = bits;
    } else {
      return `unknown parameter ${name}`;
    }
  }
  return params;
}

/**
 * Client role: checks the server's answer against what was offered (RFC 7692 §7.1) and returns what
 * applies, or why the answer is wrong.
 *
 * @param offer The `Sec-WebSocket-Extensions` sent.
 * @param response The server's `Sec-WebSocket-Extensions`, or `null`.
 * @returns The parameters, or a reason.
 */
export function clientNegotiate(offer: string, response: string | null): DeflateParams | string {
  if (response === null || response.trim() === "") return "the server did not accept permessage-deflate";
  let elements: ExtensionElement[];
  try {
    elements = parseExtensions(response);
  } catch (error) {
    return (error as Error).message;
  }
  if (elements.length !== 1 || elements[0].name !== "permessage-deflate") {
    return `the server answered with extensions that were not offered: ${response}`;
  }
  const answer = readParams(elements[0], true);
  if (typeof answer === "string") return `the server's permessage-deflate response is invalid: ${answer}`;
  const reasons: string[] = [];
  for (const element of parseExtensions(offer)) {
    const offered = readParams(element, false) as Params;
    // §7.1.1.1: a server that accepts an offer with server_no_context_takeover MUST include it.
    if (offered.serverNoContextTakeover && !answer.serverNoContextTakeover) {
      reasons.push("server_no_context_takeover was offered and not answered");
      continue;
    }
    // §7.1.2.1: the answer carries "the same or smaller value as the offer".
    if (offered.serverMaxWindowBits !== undefined) {
      if (answer.serverMaxWindowBits === undefined) {
        reasons.push("server_max_window_bits was offered and not answered");
        continue;
      }
      if (answer.serverMaxWindowBits > offered.serverMaxWindowBits) {
        reasons.push(
          `server_max_window_bits=${answer.serverMaxWindowBits} exceeds the ${offered.serverMaxWindowBits} offered`,
        );
        continue;
      }
    }
    // §7.1.2.2: the response "MUST NOT include" client_max_window_bits unless the offer had it.
    if (answer.clientMaxWindowBits !== undefined) {
      if (offered.clientMaxWindowBits === undefined) {
        reasons.push("client_max_window_bits answered but not offered");
        continue;
      }
      if (
        typeof offered.clientMaxWindowBits === "number" &&
        (answer.clientMaxWindowBits as number) > offered.clientMaxWindowBits
      ) {
        reasons.push("client_max_window_bits answered above the value offered");
        continue;
      }
    }
    return {
      sendWindow: (answer.clientMaxWindowBits as number | undefined) ?? offered.clientMaxWindowBits ?? 15,
      // Having offered client_no_context_takeover, the fuzzing client keeps to it (§7.1.1.2).
      sendNoContext: answer.clientNoContextTakeover || offered.clientNoContextTakeover,
      receiveWindow: answer.serverMaxWindowBits ?? 15,
      receiveNoContext: answer.serverNoContextTakeover,
    };
  }
  return `the server's permessage-deflate response fits no offer: ${reasons.join("; ")}`;
}

/**
 * Server role: answers the client's offer by the first of Autobahn's acceptance rules that applies, trying
 * each rule against every offer in order (a rule asking for no context takeover needs the offer's
 * `client_no_context_takeover`, one asking for a window needs its `client_max_window_bits`).
 *
 * @param offer The client's `Sec-WebSocket-Extensions`, or `null`.
 * @param rules The acceptance rules.
 * @returns The response and what applies, or a reason no offer was acceptable.
 */
export function serverAccept(
  offer: string | null,
  rules: readonly AcceptRule[],
): { response: string; params: DeflateParams } | string {
  if (offer === null) return "the client offered no extension";
  let elements: ExtensionElement[];
  try {
    elements = parseExtensions(offer);
  } catch (error) {
    return `the client's offer is malformed: ${(error as Error).message}`;
  }
  const offers: Params[] = [];
  for (const element of elements) {
    if (element.name !== "permessage-deflate") continue;
    const params = readParams(element, false);
    if (typeof params !== "string") offers.push(params);
  }
  if (offers.length === 0) return `the client offered no valid permessage-deflate: ${offer}`;
  for (const [requestNoContextTakeover, requestMaxWindowBits] of rules) {
    for (const offered of offers) {
      if (requestNoContextTakeover && !offered.clientNoContextTakeover) continue;
      if (requestMaxWindowBits !== 0 && offered.clientMaxWindowBits === undefined) continue;
      const response = ["permessage-deflate"];
      if (offered.serverNoContextTakeover) response.push("server_no_context_takeover");
      if (offered.serverMaxWindowBits !== undefined) {
        response.push(`server_max_window_bits=${offered.serverMaxWindowBits}`);
      }
      if (requestNoContextTakeover) response.push("client_no_context_takeover");
      if (requestMaxWindowBits !== 0) response.push(`client_max_window_bits=${requestMaxWindowBits}`);
      return {
        response: response.join("; "),
        params: {
          sendWindow: offered.serverMaxWindowBits ?? 15,
          sendNoContext: offered.serverNoContextTakeover,
          receiveWindow: requestMaxWindowBits !== 0
            ? requestMaxWindowBits
            : typeof offered.clientMaxWindowBits === "number"
            ? offered.clientMaxWindowBits
            : 15,
          // A client that offered client_no_context_takeover said it will not use context takeover
          // (§7.1.1.2): hold it to that.
          receiveNoContext: requestNoContextTakeover || offered.clientNoContextTakeover,
        },
      };
    }
  }
  return `no acceptance rule applies to the client's offer: ${offer}`;
}

/** Largest inflated message accepted from the peer. */
const MAX_MESSAGE = 64 * 1024 * 1024;

/** One connection's codec state on the fuzzing side. */
export class DeflateState {
  readonly params: DeflateParams;
  readonly #compressor: Compressor;
  readonly #decompressor: Decompressor;

  /** @param params What was negotiated. */
  constructor(params: DeflateParams) {
    this.params = params;
    this.#compressor = pakoCodec.createCompressor({ windowBits: params.sendWindow, level: 6, memLevel: 8 });
    this.#decompressor = pakoCodec.createDecompressor(params.receiveWindow);
  }

  /**
   * Compresses one whole message (§7.2.1).
   *
   * @param payload The message.
   * @returns The compressed payload, tail removed.
   */
  compress(payload: Uint8Array): Uint8Array {
    const out = this.#compressor.compress(payload, true);
    if (this.params.sendNoContext) this.#compressor.reset();
    return out;
  }

  /**
   * Inflates one piece of a compressed message (§7.2.2).
   *
   * @param data The frame's payload.
   * @param end Whether it ends the message.
   * @returns The inflated bytes.
   * @throws {Error} On corrupt data (or data that reaches past the negotiated window).
   */
  decompress(data: Uint8Array, end: boolean): Uint8Array {
    const out = this.#decompressor.decompress(data, end, MAX_MESSAGE);
    if (end && this.params.receiveNoContext) this.#decompressor.reset();
    return out;
  }
}
