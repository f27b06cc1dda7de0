/**
 * The client's opening handshake over any byte transport: writes the HTTP/1.1 request, reads and verifies
 * the answer, and hands the transport to a {@linkcode Connection}. No runtime APIs: the adapters open the
 * socket (`node:net`, `Deno.connect`, `cloudflare:sockets` ...), this does the rest.
 *
 * @module
 */

import { ClientHandshake, type ClientHandshakeOptions } from "../handshake/client_handshake.ts";
import { HandshakeRefusedError } from "../handshake/handshake_refused_error.ts";
import { Connection, type ConnectionOptions, type Transport } from "../connection.ts";
import { type ByteReader, type HttpHead, HttpHeadError, parseResponseHead, readHttpHead } from "../handshake/http_head.ts";
import { debugLogger } from "../core/logger.ts";

export { parseResponseHead } from "../handshake/http_head.ts";

/** Options for {@linkcode connectTransport}. */
export interface ConnectOptions extends ClientHandshakeOptions, Omit<ConnectionOptions, "role" | "extensions"> {
  /** Milliseconds for the opening handshake. @default {10000} */
  handshakeTimeout?: number;
}

/** An open client connection and what was negotiated. */
export interface ClientConnection {
  /** The connection. */
  connection: Connection;
  /** The subprotocol the server chose, or `""`. */
  protocol: string;
  /** The server's `Sec-WebSocket-Extensions`, or `""`. */
  extensions: string;
  /** The URL connected to. */
  url: URL;
}

/** Longest response head accepted. */
const MAX_HEAD = 64 * 1024;

/**
 * Runs the opening handshake over a connected transport and returns the open connection.
 *
 * @param url The `ws:` or `wss:` URL (its host and path go into the request; the transport is already
 * connected to the right place).
 * @param transport The byte streams of a connected socket.
 * @param options Subprotocols, headers, the permessage-deflate offer, limits and timeouts.
 * @returns The connection.
 * @throws {Error} Naming the URL and the reason; the transport is closed.
 * @example
 * ```ts ignore
 * import { connectTransport } from "./connect_transport.ts";
 * import { connect } from "cloudflare:sockets";
 * const socket = connect({ hostname: "example.com", port: 80 });
 * const { connection } = await connectTransport("ws://example.com/chat", socket);
 * ```
 */
export async function connectTransport(
  url: string | URL,
  transport: Transport,
  options: ConnectOptions = {},
): Promise<ClientConnection> {
  const handshake = new ClientHandshake(url, options);
  const target = handshake.url;
  const fail = (what: string) => new Error(`Cannot connect to ${target.href}: ${what}`);
  const timeout = options.handshakeTimeout ?? 10_000;
  const logger = options.logger ?? debugLogger("client");
  // Where, without the query string (it may carry a token).
  const where = `${target.protocol}//${target.host}${target.pathname}`;
  const reader = transport.readable.getReader();
  const writer = transport.writable.getWriter();
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    let head = `GET ${target.pathname}${target.search} HTTP/1.1\r\n`;
    handshake.headers.forEach((value, name) => {
      head += `${name}: ${value}\r\n`;
    });
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(fail(`no answer within ${timeout} ms`)), timeout);
    });
    await Promise.race([writer.write(new TextEncoder().encode(head + "\r\n")), timedOut]);
    let answer: HttpHead;
    try {
      answer = await readHttpHead(reader, { maxSize: MAX_HEAD, timeout: Math.max(0, timeout - (Date.now() - started)) });
    } catch (error) {
      if (!(error instanceof HttpHeadError)) throw error;
      if (error.status === 408) throw fail(`no answer within ${timeout} ms`);
      if (error.status === 431) throw fail(`the response head exceeds ${MAX_HEAD} bytes`);
      throw fail("the connection closed during the handshake");
    }
    let status: number, headers: Headers;
    try {
      ({ status, headers } = parseResponseHead(answer.head));
    } catch (error) {
      throw fail((error as Error).message);
    }
    // §4.1 (1): a status other than 101 is handled "per HTTP procedures": say what the server said.
    if (status !== 101) {
      const body = await readShortBody(answer.rest, reader, headers);
      throw new HandshakeRefusedError(target, status, body, headers.get("location") ?? undefined);
    }
    const result = await handshake.verify(status, headers);
    writer.releaseLock();
    reader.releaseLock();
    // Bytes that came right behind the 101 go first; messages are held until the caller sets `onmessage`.
    logger?.debug("handshake accepted", { url: where, protocol: result.protocol, extensions: result.extensions });
    const connection = new Connection(transport, {
      ...options,
      logger,
      role: "client",
      extensions: result.negotiated,
      head: answer.rest,
    });
    return { connection, protocol: result.protocol, extensions: result.extensions, url: target };
  } catch (error) {
    if (logger !== undefined) {
      const refused = error instanceof HandshakeRefusedError;
      logger.debug(refused ? "handshake refused" : "handshake failed", {
        url: where,
        status: refused ? error.status : undefined,
        reason: refused ? error.body : (error as Error).message,
      });
    }
    reader.cancel().catch(() => {});
    writer.abort().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Longest piece of a refusal's body kept for the error. */
const BODY_SHOWN = 200;

/**
 * The start of a refusal's body, as text: what came behind the head, and what more arrives within 200 ms,
 * up to its `Content-Length` or 1 KiB.
 */
async function readShortBody(
  rest: Uint8Array,
  reader: ByteReader,
  headers: Headers,
): Promise<string> {
  const wanted = Math.min(Number(headers.get("content-length") ?? 1024) || 0, 1024);
  const chunks = [rest];
  let length = rest.length;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 200));
  try {
    while (length < wanted) {
      const read = await Promise.race([reader.read().catch(() => undefined), late]);
      if (read === undefined || read.done || read.value === undefined) break;
      chunks.push(read.value);
      length += read.value.length;
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  const text = new TextDecoder().decode(bytes.subarray(0, wanted)).trim().replace(/\s+/g, " ");
  return text.length > BODY_SHOWN ? `${text.slice(0, BODY_SHOWN)}...` : text;
}
