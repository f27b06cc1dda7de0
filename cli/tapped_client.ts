/**
 * `connect --show-stats` opens its connection here: as `connectNode` does, but over a transport whose
 * bytes are seen on the way ({@linkcode tapTransport}). Loaded only when a connection is opened.
 *
 * @module
 */

import type { ConnectionOptions as TlsOptions } from "node:tls";
import { socketToTransport } from "../lib/adapters/node_socket.ts";
import { type ClientConnection, type ConnectOptions, connectTransport } from "../lib/client/connect_transport.ts";
import { useNativeUtf8Check } from "../lib/core/utf8.ts";
import { tapTransport } from "./wire_stats.ts";

/**
 * Opens a client connection as `connectNode` does, over a tapped transport.
 *
 * @param url The `ws:` or `wss:` URL, parsed.
 * @param options The client's options, and TLS options for `wss:`.
 * @param onRead Called with each chunk read from the socket.
 * @param onWrite Called with each chunk written to it.
 * @returns The open connection.
 * @throws {Error} Naming the URL and the reason.
 */
export async function openTapped(
  url: URL,
  options: ConnectOptions & { tls?: TlsOptions },
  onRead: (chunk: Uint8Array) => void,
  onWrite: (chunk: Uint8Array) => void,
): Promise<ClientConnection> {
  const secure = url.protocol === "wss:";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || (secure ? 443 : 80));
  const servername = /^[\d.]+$|:/.test(host) ? undefined : host;
  useNativeUtf8Check((await import("node:buffer")).isUtf8);
  const socket = secure
    ? (await import("node:tls")).connect({ host, port, servername, ...options.tls })
    : (await import("node:net")).connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(new Error(`Cannot connect to ${url.href}: ${error.message}`));
    socket.once("error", onError);
    socket.once(secure ? "secureConnect" : "connect", () => {
      socket.off("error", onError);
      resolve();
    });
  });
  socket.on("error", () => {});
  return await connectTransport(url, tapTransport(socketToTransport(socket), onRead, onWrite), options);
}

