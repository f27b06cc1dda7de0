/**
 * The client's opening handshake over any byte transport: writes the HTTP/1.1 request, reads and verifies
 * the answer, and hands the transport to a {@linkcode Connection}. No runtime APIs: the adapters open the
 * socket (`node:net`, `Deno.connect`, `cloudflare:sockets` ...), this does the rest.
 *
 * @module
 */

import { ClientHandshake, type ClientHandshakeOptions } from "./client_handshake.ts";
import { Connection, type ConnectionOptions, type Transport } from "./connection.ts";

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
  const reader = transport.readable.getReader();
  const writer = transport.writable.getWriter();
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
    let received = new Uint8Array(0);
    let end = -1;
    while (end === -1) {
      const { value, done } = await Promise.race([reader.read(), timedOut]);
      if (done) throw fail("the connection closed during the handshake");
      const joined = new Uint8Array(received.length + value.length);
      joined.set(received);
      joined.set(value, received.length);
      end = findHeadEnd(joined, Math.max(0, received.length - 3));
      received = joined;
      if (end === -1 && received.length > MAX_HEAD) throw fail(`the response head exceeds ${MAX_HEAD} bytes`);
    }
    // The limit holds however the head was chunked: a long head can arrive whole in one read.
    if (end > MAX_HEAD) throw fail(`the response head exceeds ${MAX_HEAD} bytes`);
    let status: number, headers: Headers;
    try {
      ({ status, headers } = parseResponseHead(new TextDecoder().decode(received.subarray(0, end))));
    } catch (error) {
      throw fail((error as Error).message);
    }
    const result = await handshake.verify(status, headers);
    writer.releaseLock();
    reader.releaseLock();
    // Bytes that came right behind the 101 go first; messages are held until the caller sets `onmessage`.
    const connection = new Connection(transport, {
      ...options,
      role: "client",
      extensions: result.negotiated,
      head: received.subarray(end + 4),
    });
    return { connection, protocol: result.protocol, extensions: result.extensions, url: target };
  } catch (error) {
    reader.cancel().catch(() => {});
    writer.abort().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function findHeadEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * Parses an HTTP/1.1 response head (status line and header lines, without the blank line).
 *
 * @param head The head as text.
 * @returns The status and headers.
 * @throws {Error} When the head is malformed.
 */
export function parseResponseHead(head: string): { status: number; headers: Headers } {
  const lines = head.split("\r\n");
  // RFC 7230 §6.7: Upgrade and 101 are HTTP/1.1 ("A server MUST ignore an Upgrade header field that is
  // received in an HTTP/1.0 request"): an HTTP/1.0 status line cannot come from a hop that switched.
  const match = /^HTTP\/1\.1 (\d{3})(?: .*)?$/.exec(lines[0]);
  if (match === null) throw new Error(`the response does not start with an HTTP/1.1 status line: ${lines[0].slice(0, 80)}`);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed response header line: ${line.slice(0, 80)}`);
    try {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      throw new Error(`malformed response header line: ${line.slice(0, 80)}`);
    }
  }
  return { status: Number(match[1]), headers };
}
