/**
 * One call to run a server with WebSockets (permessage-deflate included) on the current runtime: upgrades
 * go to a handler, every other request to a `fetch`-style function. Built on `node:http`, which Deno, Bun
 * and Node all provide with the raw socket this library needs.
 *
 * @module
 */

import type { UpgradeHook } from "../handshake/server_handshake.ts";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { attachHandler, autoResponder, disconnectUser, type ServerSocket, type WebSocketHandler } from "./_socket_handler.ts";
import { handleNodeUpgrade, NODE_HTTP_SERVER_OPTIONS, type NodeUpgradeOptions } from "./node_http.ts";
import { createPubSub, type PublishData, type PublishOptions, type PubSub } from "../pubsub/pubsub.ts";

export type {
  AutoResponse,
  ServerSocket,
  ServerSubscribeOptions,
  SocketSubscribe,
  WebSocketHandler,
} from "./_socket_handler.ts";

/** Options for {@linkcode serve}. */
export interface ServeOptions<T = unknown> extends Omit<NodeUpgradeOptions, "authorize"> {
  /** The port; 0 picks a free one. @default {8080} */
  port?: number;
  /** The address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /**
   * Answers requests that are not WebSocket upgrades.
   * @default a 426 "Upgrade Required" response
   */
  fetch?: (request: Request) => Response | Promise<Response>;
  /**
   * Sees each upgrade request before anything is accepted (auth, origin, path): return a `Response` to
   * refuse with it (401, 403, 404 ...), or nothing to go on.
   */
  upgrade?: UpgradeHook;
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /**
   * The topics its sockets subscribe and publish to: give the same one to several servers to share them.
   * @default a registry of its own
   */
  pubsub?: PubSub;
}

/** A running server. */
export interface WebSocketServer {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on. */
  readonly port: number;
  /** `ws://hostname:port/`. */
  readonly url: string;
  /** The open WebSockets. */
  readonly sockets: ReadonlySet<ServerSocket>;
  /** The topics of its sockets. */
  readonly pubsub: PubSub;
  /**
   * Publishes to every subscriber of a topic, without waiting for any (see {@linkcode PubSub.publish}).
   *
   * @param topic The topic.
   * @param data A string for text, bytes for binary (unless `options.binary` says otherwise).
   * @param options The type, compression, and sockets to leave out.
   * @returns How many subscribers it was handed to.
   */
  publish(topic: string, data: PublishData, options?: PublishOptions): number;
  /**
   * Counts the sockets subscribed to a topic.
   *
   * @param topic The topic.
   * @returns How many sockets are subscribed to it (a lookup, not a loop).
   */
  subscriberCount(topic: string): number;
  /**
   * Closes every open socket of a user (the `user` the `upgrade` hook gave them), on this server.
   *
   * @param user The user.
   * @param code The close code. @default {1008}
   * @param reason The close reason. @default {"disconnected"}
   * @returns How many sockets were closed.
   */
  disconnectUser(user: string, code?: number, reason?: string): number;
  /**
   * Stops listening and closes every open WebSocket with 1001 (Going Away).
   *
   * @returns Resolves when the server and every connection are closed.
   */
  close(): Promise<void>;
}

/**
 * Starts a server.
 *
 * @param options Port, handlers, and the handshake and connection options (subprotocols, origins,
 * permessage-deflate, limits, heartbeat).
 * @returns The running server, once it listens.
 * @example
 * ```ts ignore
 * import { serve } from "./serve.ts";
 * const server = await serve({
 *   port: 8080,
 *   fetch: () => new Response("Hello over HTTP\n"),
 *   websocket: { message: (socket, data) => socket.send(data) },
 * });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export async function serve<T = unknown>(options: ServeOptions<T>): Promise<WebSocketServer> {
  const { fetch, websocket, upgrade, signal, hostname = "127.0.0.1", port = 8080, pubsub = createPubSub(), ...rest } = options;
  autoResponder(websocket); // a malformed `autoResponse` is a TypeError now, not per connection
  const sockets = new Set<ServerSocket<T>>();
  const server = createServer(NODE_HTTP_SERVER_OPTIONS, (req, res) => {
    answerHttp(req, res, fetch).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // Sockets handed over by `upgrade` events leave node:http's bookkeeping: close() must end them itself.
  const upgraded = new Set<{ destroy(): void }>();
  server.on("upgrade", async (req, socket, head) => {
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
    const accepted = await handleNodeUpgrade(req, socket, head, { ...rest, authorize: upgrade });
    if (accepted === undefined) return;
    attachHandler(accepted, websocket, sockets, pubsub, rest.logger);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  // disconnectUser reaches this server's sockets through the registry, from any server or node.
  const removeUserCloser = pubsub.addUserCloser((user, code, reason) =>
    disconnectUser(sockets as Set<ServerSocket>, user, code, reason)
  );
  const close = () =>
    closing ??= (async () => {
      removeUserCloser();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...sockets].map((ws) => ws.connection?.close(1001, "server shutting down")));
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      for (const socket of upgraded) socket.destroy();
      // Deno's node:http may never call back once it has handed sockets to `upgrade`: bound the wait.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([stopped, new Promise<void>((resolve) => timer = setTimeout(resolve, 1000))]);
      clearTimeout(timer);
    })();
  signal?.addEventListener("abort", () => void close(), { once: true });
  return {
    hostname: address.address,
    port: address.port,
    url: `ws://${shown}:${address.port}/`,
    sockets,
    pubsub,
    publish: (topic, data, publishOptions) => pubsub.publish(topic, data, publishOptions),
    subscriberCount: (topic) => pubsub.subscriberCount(topic),
    disconnectUser: (user, code, reason) => pubsub.disconnectUser(user, code, reason),
    close,
  };
}

/** Runs the fetch handler for a plain HTTP request and writes its Response. */
async function answerHttp(
  req: IncomingMessage,
  res: ServerResponse,
  fetch: ((request: Request) => Response | Promise<Response>) | undefined,
): Promise<void> {
  if (fetch === undefined) {
    res.writeHead(426, { "content-type": "text/plain; charset=utf-8", upgrade: "websocket", connection: "Upgrade" });
    res.end("This is a WebSocket server: connect with a WebSocket client\n");
    return;
  }
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const method = req.method ?? "GET";
  const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
  const body = method === "GET" || method === "HEAD" ? undefined : new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Uint8Array) => controller.enqueue(new Uint8Array(chunk)));
      req.on("end", () => controller.close());
      req.on("error", (error) => controller.error(error));
    },
  });
  const request = new Request(url.href, { method, headers, body, duplex: "half" } as RequestInit);
  const response = await fetch(request);
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") out[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  res.writeHead(response.status, response.statusText, out);
  if (response.body === null || method === "HEAD") {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    if (!res.write(chunk.value)) await new Promise((resolve) => res.once("drain", resolve));
  }
  res.end();
}
