/**
 * Opens a client connection for the APIs: over a caller's transport when one is given, else over TCP or
 * TLS through the `node:net` / `node:tls` adapter, loaded only then (so an edge runtime that passes its own
 * transport never loads `node:` modules).
 *
 * @module
 */

import type { ConnectionOptions as TlsOptions } from "node:tls";
import { type ClientConnection, type ConnectOptions, connectTransport } from "./connect_transport.ts";
import type { Transport } from "../connection.ts";

/** Client options shared by the `WebSocket` and `WebSocketStream` classes. */
export interface ClientOptions extends ConnectOptions {
  /**
   * Opens the byte stream to the server (e.g. `connect()` from `cloudflare:sockets` on an edge runtime).
   * @default TCP or TLS through `node:net` / `node:tls` (Deno, Bun, Node)
   */
  transport?: (url: URL) => Transport | Promise<Transport>;
  /** TLS options for `wss:` with the default transport (a `ca` for a self-signed certificate, say). */
  tls?: TlsOptions;
}

/**
 * Connects and runs the opening handshake.
 *
 * @param url The `ws:` or `wss:` URL.
 * @param options Subprotocols, the deflate offer, limits, and the transport.
 * @returns The open connection and what was negotiated.
 * @throws {Error} Naming the URL and the reason.
 */
export async function openClient(url: URL, options: ClientOptions): Promise<ClientConnection> {
  if (options.transport !== undefined) return await connectTransport(url, await options.transport(url), options);
  const { connectNode } = await import("../adapters/node_client.ts");
  return await connectNode(url, options);
}
