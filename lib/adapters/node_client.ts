/**
 * A WebSocket client over `node:net` / `node:tls`, which Deno, Bun and Node all provide.
 *
 * Both modules are imported when a connection is opened, not when this file loads: the `WebSocket` and
 * `WebSocketStream` classes fall back to this adapter, so a bundle of them contains it even when every
 * connection passes its own `transport`, and a runtime without `node:` modules (workerd without
 * `nodejs_compat`) refuses to load a bundle that imports them at the top.
 *
 * @module
 */

import type { ConnectionOptions as TlsOptions } from "node:tls";
import { parseWebSocketUrl } from "../handshake/client_handshake.ts";
import { type ClientConnection, type ConnectOptions, connectTransport } from "../client/connect_transport.ts";
import { socketToTransport } from "./node_socket.ts";
import { useNativeUtf8Check } from "../core/utf8.ts";
import { debugLogger } from "../core/logger.ts";
import "./_debug_env.ts"; // DEBUG=wsengine* read

/** Options for {@linkcode connectNode}. */
export interface NodeConnectOptions extends ConnectOptions {
  /** TLS options for `wss:` (a `ca` for a self-signed certificate, say). @default {{}} */
  tls?: TlsOptions;
}

/**
 * Opens a WebSocket connection over TCP (`ws:`) or TLS (`wss:`).
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options Subprotocols, headers, permessage-deflate offer, limits, timeouts and TLS options.
 * @returns The open connection and what was negotiated.
 * @throws {SyntaxError} For a bad URL or subprotocol list.
 * @throws {Error} Naming the URL and the reason, when the connection or the handshake fails.
 * @example
 * ```ts ignore
 * import { connectNode } from "./node_client.ts";
 * const { connection } = await connectNode("ws://127.0.0.1:8080/");
 * connection.onmessage = (data) => console.log(data);
 * await connection.send("Hello");
 * ```
 */
export async function connectNode(url: string | URL, options: NodeConnectOptions = {}): Promise<ClientConnection> {
  const target = parseWebSocketUrl(url);
  const secure = target.protocol === "wss:";
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port || (secure ? 443 : 80));
  const servername = /^[\d.]+$|:/.test(host) ? undefined : host;
  // The runtime's own UTF-8 check for the core. Imported here, not at load, as node:net is: a Worker bundle
  // (no node: modules) must not fail to load (tests/interop_edge_test.ts).
  useNativeUtf8Check((await import("node:buffer")).isUtf8);
  const socket = secure
    ? (await import("node:tls")).connect({ host, port, servername, ...options.tls })
    : (await import("node:net")).connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      (options.logger ?? debugLogger("client"))?.debug("connect failed", {
        url: `${target.protocol}//${target.host}${target.pathname}`,
        reason: error.message,
      });
      reject(new Error(`Cannot connect to ${target.href}: ${error.message}`));
    };
    socket.once("error", onError);
    socket.once(secure ? "secureConnect" : "connect", () => {
      socket.off("error", onError);
      resolve();
    });
  });
  socket.on("error", () => {}); // errors surface through the transport
  return await connectTransport(target, socketToTransport(socket), options);
}
