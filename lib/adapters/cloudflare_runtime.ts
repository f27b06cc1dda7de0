/**
 * The few parts of workerd (the Cloudflare Workers runtime) that the Cloudflare adapters use, typed here
 * so that nothing depends on `@cloudflare/workers-types`, and the handshake both adapters share: this
 * library's checks and choices, then workerd's own 101 with a `WebSocketPair`.
 *
 * What workerd does by itself (measured with workerd 2026-11-17 from npm, tests/cloudflare_test.ts):
 * - It answers a missing or wrong `Sec-WebSocket-Version` with 426 before the Worker runs, and a 101
 *   from a Worker to a request without `Upgrade` becomes a 500; it accepts a malformed
 *   `Sec-WebSocket-Key` (a 101 with the accept value computed from it). These adapters refuse the key with
 *   400 and the missing `Upgrade` with 426 first, as this library's servers do.
 * - permessage-deflate (its `web_socket_compression` compatibility flag, on from 2023-08-15): with no
 *   `Sec-WebSocket-Extensions` in the Worker's 101 workerd negotiates it itself; with one, it takes that
 *   answer as the agreement and compresses by it. These adapters send the answer this library's
 *   negotiation chose from the client's offer (the `deflate` option), so the parameters are the
 *   server's to set (`serverNoContextTakeover` keeps no window per socket between messages).
 * - The subprotocol is the Worker's: workerd sends the `Sec-WebSocket-Protocol` of the Worker's 101.
 *
 * @module
 */

import {
  serverHandshake,
  type ServerHandshakeOptions,
  type UpgradeAcceptance,
  type UpgradeHook,
} from "../handshake/server_handshake.ts";
import type { DeflateNegotiationOptions } from "../deflate/negotiation.ts";

/** A WebSocket as workerd gives it (the server end of a `WebSocketPair`, or a hibernatable one). */
export interface CloudflareWebSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** How binary messages arrive: a `WebSocketPair`'s default is `"blob"`. */
  binaryType?: string;
  /** Starts delivering events (the plain Worker path; the hibernation path uses `acceptWebSocket`). */
  accept(): void;
  /** Sends a text (string) or binary message. */
  send(message: string | ArrayBuffer | ArrayBufferView): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Listens for `message`, `close` and `error`. */
  addEventListener(type: string, listener: (event: Event & Record<string, unknown>) => void): void;
  /** Keeps a structured-clonable value with the socket across hibernation (at most 16 KiB). */
  serializeAttachment(value: unknown): void;
  /** The value kept with `serializeAttachment`, or `null`. */
  deserializeAttachment(): unknown;
}

/** The part of a Durable Object's `ctx` (`DurableObjectState`) that the hibernation path uses. */
export interface DurableObjectStateLike {
  /** Accepts a socket that survives the object's hibernation, with up to 10 tags of 256 characters. */
  acceptWebSocket(socket: CloudflareWebSocket, tags?: string[]): void;
  /** The object's accepted sockets, all of them or those with a tag. */
  getWebSockets(tag?: string): CloudflareWebSocket[];
  /** The tags a socket was accepted with. */
  getTags(socket: CloudflareWebSocket): string[];
  /** Sets a request message the runtime answers by itself, without waking the object. */
  setWebSocketAutoResponse(pair?: unknown): void;
}

/** The `WebSocketPair` constructor: `[client, server]`. */
type WebSocketPairConstructor = new () => { 0: CloudflareWebSocket; 1: CloudflareWebSocket };

/**
 * A new `WebSocketPair`.
 *
 * @returns The client end (for the 101) and the server end.
 * @throws {TypeError} Outside workerd, which alone has `WebSocketPair`.
 */
export function newWebSocketPair(): [client: CloudflareWebSocket, server: CloudflareWebSocket] {
  const Pair = (globalThis as unknown as { WebSocketPair?: WebSocketPairConstructor }).WebSocketPair;
  if (Pair === undefined) {
    throw new TypeError(
      "Cannot accept a WebSocket: WebSocketPair is missing (this adapter runs in workerd, Cloudflare Workers)",
    );
  }
  const pair = new Pair();
  return [pair[0], pair[1]];
}

/** The handshake options both Cloudflare adapters take. */
export interface CloudflareHandshakeOptions extends Omit<ServerHandshakeOptions, "authorize" | "deflate"> {
  /** Sees each upgrade request first: return a `Response` to refuse with it, or what to accept with. */
  upgrade?: UpgradeHook;
  /**
   * The permessage-deflate answer this library chooses from the client's offer and sends in the 101;
   * workerd then compresses by it (the runtime's compressor, not this library's). workerd has no
   * per-socket switch to turn it off: its `no_web_socket_compression` compatibility flag is the
   * Worker's.
   * @default {{}} (context takeover, 15-bit windows)
   */
  deflate?: DeflateNegotiationOptions;
  /** Answers requests that are not WebSocket upgrades. @default a 426 response */
  fetch?: (request: Request) => Response | Promise<Response>;
}

/** What the shared handshake decided. */
export type CloudflareHandshake =
  | { ok: false; response: Response }
  | { ok: true; protocol: string; extensions: string; acceptance: UpgradeAcceptance | undefined };

/**
 * This library's checks of an upgrade request (the same rules and `upgrade` hook as on every server path),
 * or `fetch` for a request that is no upgrade.
 *
 * @param request The request.
 * @param options The rules.
 * @returns The refusal to send, or what was chosen.
 */
export async function checkUpgrade(
  request: Request,
  options: CloudflareHandshakeOptions,
): Promise<CloudflareHandshake> {
  const { upgrade, fetch, deflate = {}, ...rules } = options;
  if (request.headers.get("upgrade") === null) {
    if (fetch !== undefined) return { ok: false, response: await fetch(request) };
    return {
      ok: false,
      response: new Response("This is a WebSocket server: connect with a WebSocket client\n", {
        status: 426,
        headers: { upgrade: "websocket", connection: "Upgrade" },
      }),
    };
  }
  const result = await serverHandshake(request, { ...rules, deflate, authorize: upgrade });
  if (!result.ok) return { ok: false, response: result.response };
  return {
    ok: true,
    protocol: result.protocol,
    extensions: result.extensions,
    acceptance: result.acceptance,
  };
}

/**
 * The 101 that hands the client end of a pair to workerd, with the chosen subprotocol and
 * permessage-deflate answer (RFC 6455 §4.2.2 /subprotocol/: "If the server does not wish to agree to one
 * of the suggested subprotocols, it MUST NOT send back a |Sec-WebSocket-Protocol| header field in its
 * response": none chosen, no field).
 *
 * @param client The client end of the pair.
 * @param protocol The chosen subprotocol, or `""`.
 * @param extensions The extensions answer, or `""`.
 * @returns The response for workerd.
 */
export function switchingProtocols(
  client: CloudflareWebSocket,
  protocol: string,
  extensions: string,
): Response {
  const headers = new Headers();
  if (protocol !== "") headers.set("sec-websocket-protocol", protocol);
  if (extensions !== "") headers.set("sec-websocket-extensions", extensions);
  return new Response(null, { status: 101, headers, webSocket: client } as ResponseInit);
}

/**
 * A message as the handler takes it: a string for text, bytes for binary.
 *
 * @throws {TypeError} For a `Blob` (a `WebSocketPair` socket whose `binaryType` was not set).
 */
export function messageData(data: unknown): string | Uint8Array {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(
    `Cannot read a message: workerd delivered ${Object.prototype.toString.call(data)}, not an ArrayBuffer`,
  );
}

/**
 * Answers a peer's close frame (RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not
 * previously send a Close frame, the endpoint MUST send a Close frame in response"). workerd leaves that
 * to the Worker unless its `web_socket_auto_reply_to_close` flag is on; a second close then throws, which
 * is ignored here. 1005 and 1006 were never on the wire: the reply carries no code.
 */
export function replyToClose(socket: CloudflareWebSocket, code: number, reason: string): void {
  try {
    if (code === 1005 || code === 1006 || code === 1015) socket.close();
    else socket.close(code, reason);
  } catch {
    // Already closed or closing.
  }
}

/**
 * A handler that throws is never silent: without an `error` callback to hear of it, the error is logged
 * (with its stack), since the peer only sees a 1011 with no detail.
 */
export function logHandlerError(hasErrorHandler: boolean, which: string, error: unknown): void {
  if (hasErrorHandler) return;
  console.error(`wsengine: the ${which} handler threw; the connection was closed with 1011:`, error);
}

/** The error a `ping()` throws: workerd's WebSocket sends no pings (it answers the peer's by itself). */
export function pingNotSupported(): never {
  throw new DOMException(
    "Cannot ping: workerd's WebSocket exposes no ping (it answers pings itself; see setWebSocketAutoResponse)",
    "NotSupportedError",
  );
}
