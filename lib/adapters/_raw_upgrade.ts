/**
 * The opening handshake of a connection accepted by a raw TCP listener (`listenDeno`, `listenBun`): read
 * and parse the request head, refuse with the right status, or hand the connection over, or answer 101 and
 * start the {@linkcode Connection} with the socket handler. What differs per runtime (how a socket is
 * shut, cut and addressed) comes in as a {@linkcode RawSocket}. Private to the adapters folder.
 *
 * @module
 */

import { Connection, type ConnectionOptions, type Transport } from "../connection.ts";
import { type ByteReader, HttpHeadError, parseRequestHead, readHttpHead, serializeResponse } from "../handshake/http_head.ts";
import { serverHandshake, type ServerHandshakeOptions, type UpgradeHook } from "../handshake/server_handshake.ts";
import type { Logger } from "../core/logger.ts";
import type { PubSub } from "../pubsub/pubsub.ts";
import { attachHandler, type ServerSocket, type WebSocketHandler } from "./_socket_handler.ts";
import { logHandshake } from "./_debug_env.ts";
import type { Handover } from "./_handover.ts";

/** What a raw listener serves with: its options and its state. */
export interface RawUpgradeServer<T> {
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /** Sees each upgrade request first. */
  upgrade: UpgradeHook | undefined;
  /** Takes every request whose head parsed, instead of the handshake. */
  handover: Handover | undefined;
  /** The handshake and connection options. */
  options: Omit<ServerHandshakeOptions, "authorize"> & Omit<ConnectionOptions, "role" | "extensions" | "head">;
  /** Where handshakes are logged (the caller's logger, or the DEBUG one). */
  logger: Logger | undefined;
  /** Largest request head accepted, in bytes (more gets 431). */
  maxHeadSize: number;
  /** Milliseconds a client has to send its head (then 408). */
  headTimeout: number;
  /** TLS (`https:` request URLs, `secure` for a handover). */
  secure: boolean;
  /** The server's open WebSockets. */
  sockets: Set<ServerSocket<T>>;
  /** The server's topic registry. */
  pubsub: PubSub;
  /** Whether the server is closing (a connection upgraded meanwhile is cut). */
  stopping(): boolean;
}

/**
 * The {@linkcode RawUpgradeServer} of a raw listener from its options and state (the defaults: a 16 KiB
 * head in 5 s).
 *
 * @param given What the listener was given: its callbacks, hook, handover, TLS and head limits.
 * @param state The listener's logger, options for the handshake and connections, sockets, topics, stopping.
 * @returns What {@linkcode acceptRawUpgrade} serves with.
 * @example
 * ```ts ignore
 * const server = rawUpgradeServer(options, { options: rest, logger, sockets, pubsub, stopping: () => stopping });
 * ```
 */
export function rawUpgradeServer<T>(
  given: Pick<RawUpgradeServer<T>, "websocket"> & Partial<Pick<RawUpgradeServer<T>, "upgrade" | "handover">> & {
    tls?: unknown;
    maxHeadSize?: number;
    headTimeout?: number;
  },
  state: Pick<RawUpgradeServer<T>, "options" | "logger" | "sockets" | "pubsub" | "stopping">,
): RawUpgradeServer<T> {
  return {
    websocket: given.websocket,
    upgrade: given.upgrade,
    handover: given.handover,
    maxHeadSize: given.maxHeadSize ?? 16 * 1024,
    headTimeout: given.headTimeout ?? 5000,
    secure: given.tls !== undefined,
    ...state,
  };
}

/** One accepted connection of a raw listener, in its runtime's terms. */
export interface RawSocket {
  /** The connection's byte streams. */
  transport: Transport;
  /** Reads the request head (then released for the Connection or the handover). */
  reader: ByteReader & { releaseLock(): void };
  /** Writes the response head (then released). */
  writer: WritableStreamDefaultWriter<Uint8Array>;
  remoteAddress: string | undefined;
  remotePort: number;
  /** Before a handover: the connection is no longer the listener's to cut when it closes. */
  handingOver(): void;
  /** After a refusal's response: shut our side, read and drop what still comes, then end. */
  endRefused(): Promise<void>;
  /** Cuts the connection. */
  terminate(): void;
}

/**
 * Serves one accepted connection up to its WebSocket (or its refusal, or its handover). Never throws:
 * anything unexpected cuts the connection.
 *
 * @param server The listener's options and state.
 * @param socket The connection.
 * @returns Once the connection was upgraded, refused and ended, handed over, or cut.
 * @example
 * ```ts ignore
 * // lib/adapters/deno_listen.ts, per accepted Deno.Conn:
 * await acceptRawUpgrade(server, { transport, reader, writer, remoteAddress, remotePort, handingOver, endRefused, terminate });
 * ```
 */
export async function acceptRawUpgrade<T>(server: RawUpgradeServer<T>, socket: RawSocket): Promise<void> {
  const { transport, reader, writer, remoteAddress } = socket;
  const { options, logger } = server;
  const refuse = async (response: Response, reason = "", target = "") => {
    logHandshake(logger, target, { ok: false, response, reason }, remoteAddress);
    await writer.write(await serializeResponse(response)).catch(() => {});
    await socket.endRefused();
  };
  try {
    let head;
    try {
      head = await readHttpHead(reader, { maxSize: server.maxHeadSize, timeout: server.headTimeout });
    } catch (error) {
      if (error instanceof HttpHeadError) await refuse(new Response(`Cannot upgrade: ${error.message}\n`, { status: error.status }), error.message);
      else throw error;
      return;
    }
    let request: Request, version: string;
    try {
      ({ request, version } = parseRequestHead(head.head, server.secure ? "https" : "http"));
    } catch (error) {
      await refuse(new Response(`Cannot upgrade: ${(error as Error).message}\n`, { status: 400 }));
      return;
    }
    if (server.handover !== undefined) {
      reader.releaseLock();
      writer.releaseLock();
      socket.handingOver();
      const { remotePort } = socket;
      await server.handover({ request, version, transport, head: head.rest, remoteAddress: remoteAddress ?? "", remotePort, secure: server.secure });
      return;
    }
    // RFC 6455 §4.2.1 (1): "An HTTP/1.1 or higher GET request".
    if (version !== "1.1") {
      await refuse(new Response(`Cannot upgrade: HTTP/${version} is older than HTTP/1.1\n`, { status: 400 }));
      return;
    }
    const result = await serverHandshake(request, { ...options, authorize: server.upgrade });
    if (!result.ok) {
      await refuse(result.response, result.reason, request.url.replace(/^[a-z]+:\/\/[^/]*/i, ""));
      return;
    }
    logHandshake(logger, request, result, remoteAddress);
    await writer.write(await serializeResponse(result.response));
    if (server.stopping()) {
      socket.terminate();
      return;
    }
    reader.releaseLock();
    writer.releaseLock();
    const connection = new Connection(transport, { ...options, logger, role: "server", extensions: result.negotiated, head: head.rest });
    const accepted = { connection, request, protocol: result.protocol, extensions: result.extensions, acceptance: result.acceptance };
    attachHandler(accepted, server.websocket, server.sockets, server.pubsub, options.logger); // else console.error, with the stack
  } catch {
    socket.terminate();
  }
}
