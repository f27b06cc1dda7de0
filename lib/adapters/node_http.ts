/**
 * WebSocket upgrades on a `node:http` / `node:https` server's `upgrade` event. Deno, Bun and Node all emit
 * it with the raw socket, so this one adapter serves all three; other requests stay with the user's HTTP
 * server.
 *
 * @module
 */

import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { Connection, type ConnectionOptions } from "../connection.ts";
import { serializeResponse } from "../handshake/http_head.ts";
import { serverHandshake, type ServerHandshakeOptions, type UpgradeAcceptance } from "../handshake/server_handshake.ts";
import { socketToTransport } from "./node_socket.ts";
import "./_native_utf8.ts"; // the runtime's own UTF-8 check for the core
import { logHandshake } from "./_debug_env.ts"; // and DEBUG=wsengine* read
import { debugLogger } from "../core/logger.ts";

/**
 * Options for `node:http`'s `createServer` that bound how long a client may take to send its opening
 * handshake. The `upgrade` event fires only once the request head is complete, so nothing here can cut a
 * client that dribbles its head; these do (measured: without them Deno keeps such a socket 90 s, Bun about
 * 12 s; with them both answer 408 within 5-6 s).
 */
export const NODE_HTTP_SERVER_OPTIONS = {
  headersTimeout: 5_000,
  requestTimeout: 10_000,
  connectionsCheckingInterval: 1_000,
} as const;

/** Options for {@linkcode handleNodeUpgrade}: the handshake's and the connection's, less the role. */
export interface NodeUpgradeOptions extends ServerHandshakeOptions, Omit<ConnectionOptions, "role"> {}

/** An accepted upgrade. */
export interface NodeUpgrade {
  /** The open connection. */
  connection: Connection;
  /** The chosen subprotocol, or `""`. */
  protocol: string;
  /** The accepted extensions, or `""`. */
  extensions: string;
  /** The request as the handshake saw it (URL, headers, cookies). */
  request: Request;
  /** What the `authorize` hook gave the connection (its data, user, expiry), if anything. */
  acceptance?: UpgradeAcceptance;
}

/**
 * Answers an `upgrade` event: runs the opening handshake, writes the 101 (or the refusal, then ends the
 * socket: what the client still sends is read and dropped until it closes, or for at most `closeTimeout`
 * ms), and returns the open connection.
 *
 * @param req The request from the `upgrade` event.
 * @param socket The socket from the `upgrade` event.
 * @param head The bytes after the request head from the `upgrade` event.
 * @param options Handshake and connection options.
 * @returns The connection, or `undefined` when the upgrade was refused.
 * @example
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { handleNodeUpgrade, NODE_HTTP_SERVER_OPTIONS } from "./node_http.ts";
 * const server = createServer(NODE_HTTP_SERVER_OPTIONS, (_req, res) => res.end("Not a WebSocket request\n"));
 * server.on("upgrade", async (req, socket, head) => {
 *   const upgrade = await handleNodeUpgrade(req, socket, head);
 *   if (upgrade) upgrade.connection.onmessage = (data) => upgrade.connection.send(data);
 * });
 * server.listen(8080, "127.0.0.1");
 * ```
 */
export async function handleNodeUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Uint8Array,
  options: NodeUpgradeOptions = {},
): Promise<NodeUpgrade | undefined> {
  // Nothing may be read until the handshake is answered; keep what arrives buffered in the socket.
  socket.pause();
  socket.on("error", () => {}); // errors surface through the transport; never crash the process
  const logger = options.logger ?? debugLogger("server");
  const remoteAddress = (socket as { remoteAddress?: string }).remoteAddress;
  const refuse = async (response: Response, reason?: string) => {
    if (logger !== undefined) {
      const shown = reason ?? (response.status < 500 ? await response.clone().text().catch(() => "") : "");
      logHandshake(logger, req.url ?? "/", { ok: false, response, reason: shown.trim() }, remoteAddress);
    }
    await writeResponse(socket, response);
    endRefused(socket, options.closeTimeout ?? 5000);
    return undefined;
  };
  // RFC 6455 §4.2.1 (1): "An HTTP/1.1 or higher GET request"; a Request does not carry the version, so
  // it is checked here, where it is known.
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) {
    const reason = `Cannot upgrade: HTTP/${req.httpVersion} is older than HTTP/1.1\n`;
    return refuse(new Response(reason, { status: 400 }));
  }
  let request: Request;
  try {
    request = toRequest(req, socket);
  } catch {
    const reason = "Cannot upgrade: the request URL or headers are malformed\n";
    return refuse(new Response(reason, { status: 400 }));
  }
  const result = await serverHandshake(request, options);
  if (!result.ok) return refuse(result.response, result.reason);
  logHandshake(logger, request, result, remoteAddress);
  await writeResponse(socket, result.response);
  const connection = new Connection(socketToTransport(socket, head), {
    ...options,
    logger,
    role: "server",
    extensions: result.negotiated,
  });
  return { connection, protocol: result.protocol, extensions: result.extensions, request, acceptance: result.acceptance };
}

function toRequest(req: IncomingMessage, socket: Duplex): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  const encrypted = (socket as { encrypted?: boolean }).encrypted === true;
  const host = req.headers.host ?? "localhost";
  const url = new URL(req.url ?? "/", `${encrypted ? "https" : "http"}://${host}`);
  return new Request(url.href, { method: req.method ?? "GET", headers });
}

/**
 * Ends a refused socket so that it is released on every runtime without cutting its response short. The
 * socket is still paused from the handshake: Deno's `node:net` never notices the peer's close on a paused
 * socket and keeps it (its fd) for good, so it is resumed, and what the peer still sends is read and
 * dropped (closing with unread input makes the kernel answer with a RST, which can discard the response
 * on its way). The peer's FIN, once ours is sent, releases the socket; a peer that never closes is cut
 * after `lingerMs`.
 */
function endRefused(socket: Duplex, lingerMs: number): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  socket.once("close", () => clearTimeout(timer));
  socket.once("end", () => {
    if (socket.writableFinished) socket.destroy();
    else socket.once("finish", () => socket.destroy());
  });
  socket.on("data", () => {});
  socket.end();
  socket.resume();
}

async function writeResponse(socket: Duplex, response: Response): Promise<void> {
  const bytes = await serializeResponse(response);
  await new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve();
    socket.write(bytes, () => resolve());
  });
}
