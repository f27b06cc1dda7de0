/**
 * A WebSocket server on `Bun.listen`: Bun's raw TCP (or TLS) sockets, without the `node:net` emulation
 * that `serve()` goes through on Bun, and with this library's engine (its permessage-deflate, limits,
 * heartbeat and publish queues) rather than Bun's own WebSocket (`bunServe()`). It serves WebSocket upgrades
 * only: any other request gets 426, unless a `handover` takes every request. The twin of `listenDeno()`.
 *
 * Messages of hundreds of KiB over many connections: Bun.listen copies each read into a new buffer, and
 * Bun's allocator returns freed memory to the OS after 100 ms, so those copies mostly land on fresh pages
 * (209-224 page faults per 1 MiB echo at 100 connections). Starting Bun with `MIMALLOC_PURGE_DELAY=1000` in
 * its environment keeps freed memory a second: listenBun's 1 MiB echo went from 0.68-0.81x Bun.serve's rate
 * to 0.96-1.06x (README, "listenBun and large messages").
 *
 * @module
 */

import type { ConnectionOptions } from "../connection.ts";
import type { ByteReader } from "../handshake/http_head.ts";
import type { ServerHandshakeOptions, UpgradeHook } from "../handshake/server_handshake.ts";
import { createPubSub, type PubSub } from "../pubsub/pubsub.ts";
import { debugLogger } from "../core/logger.ts";
import { autoResponder, disconnectUser, type ServerSocket, type WebSocketHandler } from "./_socket_handler.ts";
import { acceptRawUpgrade, rawUpgradeServer } from "./_raw_upgrade.ts";
import { BunSocketPipe, type BunTcpSocket } from "./bun_socket.ts";
import "./_debug_env.ts"; // DEBUG=wsengine* read
import "./_native_utf8.ts"; // the runtime's own UTF-8 check for the core
import "./_native_deflate_workers.ts"; // large compressed messages deflated by native zlib on workers
import type { WebSocketServer } from "./serve.ts";
import type { Handover } from "./_handover.ts";
export type { HandedOver, Handover } from "./_handover.ts";
import { lingerThenEnd } from "./_linger.ts";

/** Options for {@linkcode listenBun}. */
export interface BunListenOptions<T = unknown>
  extends Omit<ServerHandshakeOptions, "authorize">, Omit<ConnectionOptions, "role" | "extensions" | "head"> {
  /** The port; 0 picks a free one. @default {8080} */
  port?: number;
  /** The address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** PEM certificate and key: listen with TLS (`wss:`). @default none */
  tls?: { cert: string; key: string };
  /**
   * `SO_REUSEPORT`: several processes listen on the one port and the kernel spreads the connections among
   * them (Linux). @default {false}
   */
  reusePort?: boolean;
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

/** The part of `Bun.listen` this adapter uses. */
interface BunListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunSocket extends BunTcpSocket {
  data: BunSocketPipe | undefined;
  readonly remotePort: number;
}

interface BunLike {
  listen(options: {
    hostname: string;
    port: number;
    tls?: { cert: string; key: string };
    reusePort?: boolean;
    allowHalfOpen: boolean;
    socket: {
      open(socket: BunSocket): void;
      data(socket: BunSocket, chunk: Uint8Array): void;
      drain(socket: BunSocket): void;
      end(socket: BunSocket): void;
      close(socket: BunSocket, error?: Error): void;
      error(socket: BunSocket, error: Error): void;
    };
  }): BunListener;
}

/**
 * Starts a WebSocket server on Bun's own TCP (or TLS) listener. A refused upgrade gets its 4xx, then our
 * side is shut and what the client still sends is read and dropped until it closes, or for at most
 * `closeTimeout` ms.
 *
 * @param options Port, TLS, handlers, and the handshake and connection options.
 * @returns The running server.
 * @throws {TypeError} Off Bun (there is no `Bun.listen`), or for a malformed `autoResponse`.
 * @example
 * ```ts ignore
 * import { listenBun } from "./bun_listen.ts";
 * const server = await listenBun({ port: 8080, websocket: { message: (socket, data) => socket.send(data) } });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export function listenBun<T = unknown>(options: BunListenOptions<T>): Promise<WebSocketServer> {
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  if (bun === undefined) {
    return Promise.reject(new TypeError("Cannot listen: listenBun runs on Bun only (Bun.listen)"));
  }
  const {
    websocket,
    upgrade: _upgrade, // rawUpgradeServer reads it from options; kept out of `rest`
    signal,
    tls,
    handover: _handover,
    reusePort,
    hostname = "127.0.0.1",
    port = 8080,
    pubsub = createPubSub(),
    ...rest
  } = options;
  autoResponder(websocket); // a malformed `autoResponse` is a TypeError now, not per connection
  const logger = rest.logger ?? debugLogger("server");
  const closeTimeout = rest.closeTimeout ?? 5000;
  const sockets = new Set<ServerSocket<T>>();
  const pending = new Set<BunSocket>(); // connections still in their opening handshake
  let stopping = false;

  const server = rawUpgradeServer(options, { options: rest, logger, sockets, pubsub, stopping: () => stopping });
  const accept = async (socket: BunSocket, pipe: BunSocketPipe): Promise<void> => {
    pending.add(socket);
    const { transport } = pipe;
    const reader = transport.readable.getReader();
    const writer = transport.writable.getWriter();
    await acceptRawUpgrade(server, {
      transport,
      reader,
      writer,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      handingOver: () => pending.delete(socket),
      endRefused: () => endRefused(socket, reader, writer, closeTimeout),
      terminate: () => socket.terminate(),
    });
    pending.delete(socket);
  };

  const listener = bun.listen({
    hostname,
    port,
    ...(tls === undefined ? {} : { tls: { cert: tls.cert, key: tls.key } }),
    ...(reusePort === true ? { reusePort } : {}),
    // The peer's FIN ends our reading, not our writing: a close frame queued behind it still goes out.
    allowHalfOpen: true,
    socket: {
      open(socket) {
        const pipe = new BunSocketPipe(socket);
        socket.data = pipe;
        void accept(socket, pipe);
      },
      data: (socket, chunk) => socket.data?.receive(chunk),
      drain: (socket) => socket.data?.drain(),
      end: (socket) => socket.data?.peerEnded(),
      close: (socket, error) => socket.data?.closed(error),
      error: (socket, error) => socket.data?.closed(error),
    },
  });

  const shown = listener.hostname.includes(":") ? `[${listener.hostname}]` : listener.hostname;
  let closing: Promise<void> | undefined;
  // disconnectUser reaches this server's sockets through the registry, from any server or node.
  const removeUserCloser = pubsub.addUserCloser((user, code, reason) =>
    disconnectUser(sockets as Set<ServerSocket>, user, code, reason)
  );
  const close = () =>
    closing ??= (async () => {
      stopping = true;
      removeUserCloser();
      listener.stop(false);
      for (const socket of pending) socket.terminate();
      await Promise.all([...sockets].map((ws) => ws.connection?.close(1001, "server shutting down")));
      listener.stop(true);
    })();
  signal?.addEventListener("abort", () => void close(), { once: true });
  return Promise.resolve({
    hostname: listener.hostname,
    port: listener.port,
    url: `${tls === undefined ? "ws" : "wss"}://${shown}:${listener.port}/`,
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
 * response), then what the client still sends is read and dropped until it closes, for at most `lingerMs`;
 * then the socket is cut.
 */
function endRefused(
  socket: BunSocket,
  reader: ByteReader,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  lingerMs: number,
): Promise<void> {
  return lingerThenEnd(() => writer.close(), reader, lingerMs, () => socket.terminate(), () => socket.end());
}
