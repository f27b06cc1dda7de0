/**
 * A WebSocket server on `Deno.listen` / `Deno.listenTls`: raw TCP, the connection's own streams, no
 * `node:` compatibility layer in between (measured here: ~137k echoes/s of 64 B against ~99k through
 * `node:http` on the same Deno). It serves WebSocket upgrades only: any other request gets 426, unless a
 * `handover` takes every request.
 *
 * @module
 */

import type { ConnectionOptions } from "../connection.ts";
import { denoConnTransport } from "./deno_conn.ts";
import type { ByteReader } from "../handshake/http_head.ts";
import type { ServerHandshakeOptions, UpgradeHook } from "../handshake/server_handshake.ts";
import { autoResponder, disconnectUser, type ServerSocket, type WebSocketHandler } from "./_socket_handler.ts";
import { acceptRawUpgrade, rawUpgradeServer } from "./_raw_upgrade.ts";
import "./_native_utf8.ts"; // the runtime's own UTF-8 check for the core
import "./_native_deflate_workers.ts"; // large compressed messages deflated by native zlib on workers
import "./_debug_env.ts"; // DEBUG=wsengine* read
import { debugLogger } from "../core/logger.ts";
import type { WebSocketServer } from "./serve.ts";
import type { Handover } from "./_handover.ts";
export type { HandedOver, Handover } from "./_handover.ts";
import { lingerThenEnd } from "./_linger.ts";
import { createPubSub, type PubSub } from "../pubsub/pubsub.ts";

/** Options for {@linkcode listenDeno}. */
export interface DenoListenOptions<T = unknown>
  extends Omit<ServerHandshakeOptions, "authorize">, Omit<ConnectionOptions, "role" | "extensions" | "head"> {
  /** The port; 0 picks a free one. @default {8080} */
  port?: number;
  /** The address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** PEM certificate and key: listen with TLS (`wss:`). @default none */
  tls?: { cert: string; key: string };
  /** Sees each upgrade request first: return a `Response` to refuse with it. */
  upgrade?: UpgradeHook;
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /** Largest request head accepted, in bytes; more gets 431. @default {16384} */
  maxHeadSize?: number;
  /** Milliseconds a client has to send its request head; then 408. @default {5000} */
  headTimeout?: number;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /**
   * The topics its sockets subscribe and publish to: give the same one to several servers to share them.
   * @default a registry of its own
   */
  pubsub?: PubSub;
  /**
   * Takes every request whose head parsed, with its connection (plain HTTP and upgrades alike): `upgrade`,
   * `websocket` and the handshake options are then not used; what it throws cuts the connection.
   * @default none: upgrades are served, anything else gets 426
   */
  handover?: Handover;
}

/**
 * Starts a WebSocket server on Deno's own TCP (or TLS) listener. A refused upgrade gets its 4xx, then the
 * connection is shut for writing and what the client still sends is read and dropped until it closes, or
 * for at most `closeTimeout` ms.
 *
 * @param options Port, TLS, handlers, and the handshake and connection options.
 * @returns The running server.
 * @example
 * ```ts ignore
 * import { listenDeno } from "./deno_listen.ts";
 * const server = await listenDeno({ port: 8080, websocket: { message: (socket, data) => socket.send(data) } });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export function listenDeno<T = unknown>(options: DenoListenOptions<T>): Promise<WebSocketServer> {
  const { websocket, upgrade: _upgrade, signal, tls, handover: _handover, hostname = "127.0.0.1", port = 8080, pubsub = createPubSub(), ...rest } = options;
  autoResponder(websocket); // a malformed `autoResponse` is a TypeError now, not per connection
  const logger = rest.logger ?? debugLogger("server");
  const listener = tls === undefined
    ? Deno.listen({ hostname, port, transport: "tcp" })
    : Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key });
  const sockets = new Set<ServerSocket<T>>();
  const pending = new Set<Deno.Conn>(); // connections still in their opening handshake
  let stopping = false;

  const server = rawUpgradeServer(options, { options: rest, logger, sockets, pubsub, stopping: () => stopping });
  const accept = async (conn: Deno.Conn): Promise<void> => {
    pending.add(conn);
    const transport = denoConnTransport(conn);
    const reader = transport.readable.getReader();
    const address = conn.remoteAddr as { hostname?: string; port?: number };
    await acceptRawUpgrade(server, {
      transport,
      reader,
      writer: conn.writable.getWriter(),
      remoteAddress: address.hostname,
      remotePort: address.port ?? 0,
      handingOver: () => pending.delete(conn),
      endRefused: () => endRefused(conn, reader, rest.closeTimeout ?? 5000),
      terminate: () => closeQuietly(conn),
    });
    pending.delete(conn);
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) accept(conn);
    } catch {
      // The listener was closed.
    }
  })();

  const address = listener.addr as Deno.NetAddr;
  const shown = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  let closing: Promise<void> | undefined;
  // disconnectUser reaches this server's sockets through the registry, from any server or node.
  const removeUserCloser = pubsub.addUserCloser((user, code, reason) =>
    disconnectUser(sockets as Set<ServerSocket>, user, code, reason)
  );
  const close = () =>
    closing ??= (async () => {
      stopping = true;
      removeUserCloser();
      listener.close();
      for (const conn of pending) closeQuietly(conn);
      await Promise.all([...sockets].map((ws) => ws.connection?.close(1001, "server shutting down")));
      await accepting;
    })();
  signal?.addEventListener("abort", () => void close(), { once: true });
  return Promise.resolve({
    hostname: address.hostname,
    port: address.port,
    url: `${tls === undefined ? "ws" : "wss"}://${shown}:${address.port}/`,
    sockets,
    pubsub,
    publish: (topic, data, publishOptions) => pubsub.publish(topic, data, publishOptions),
    subscriberCount: (topic) => pubsub.subscriberCount(topic),
    disconnectUser: (user, code, reason) => pubsub.disconnectUser(user, code, reason),
    close,
  });
}

/**
 * Ends a refused connection without cutting its response short: our side is shut (FIN after the
 * response), then what the client still sends is read and dropped until it closes, for at most `lingerMs`
 * (closing with unread input makes the kernel answer with a RST, which can discard the response on its
 * way); then the connection is closed.
 */
function endRefused(conn: Deno.Conn, reader: ByteReader, lingerMs: number): Promise<void> {
  return lingerThenEnd(() => conn.closeWrite(), reader, lingerMs, () => closeQuietly(conn));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
