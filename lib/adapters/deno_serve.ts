/**
 * The server callbacks plugged into `Deno.serve`. Deno gives no raw socket there, so the WebSocket is
 * Deno's own (`Deno.upgradeWebSocket`): the opening request is checked and the subprotocol chosen by this
 * library (the same rules and `upgrade` hook as everywhere), then Deno's WebSocket carries the messages.
 * What that means for compression: none; Deno's WebSocket never negotiates permessage-deflate. For this
 * library's permessage-deflate on Deno, use `listenDeno()` (raw Deno.listen) or `serve()` (node:http).
 *
 * @module
 */

import { serverHandshake, type ServerHandshakeOptions } from "../handshake/server_handshake.ts";
import { inNativeForm, type ServerSocket, type WebSocketHandler } from "./_socket_handler.ts";

/** Options for {@linkcode denoServe}. */
export interface DenoServeOptions<T = unknown> extends Omit<ServerHandshakeOptions, "authorize" | "deflate"> {
  /** Sees each upgrade request first: return a `Response` to refuse with it. */
  upgrade?: (request: Request) => Response | undefined | void | Promise<Response | undefined | void>;
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /** Answers requests that are not WebSocket upgrades. @default a 426 response */
  fetch?: (request: Request) => Response | Promise<Response>;
  /** Seconds without a pong before Deno closes the socket (Deno's own keepalive). @default {120} */
  idleTimeout?: number;
}

/**
 * Builds a `Deno.serve` handler from this library's callbacks.
 *
 * @param options The handshake rules, the hook and the callbacks.
 * @returns The handler for `Deno.serve`.
 * @example
 * ```ts ignore
 * import { denoServe } from "./deno_serve.ts";
 * Deno.serve({ port: 8080 }, denoServe({ websocket: { message: (socket, data) => socket.send(data) } }));
 * ```
 */
export function denoServe<T = unknown>(options: DenoServeOptions<T>): (request: Request) => Promise<Response> {
  const { websocket, upgrade, fetch, idleTimeout, ...rules } = options;
  return async (request) => {
    if (request.headers.get("upgrade") === null) {
      if (fetch !== undefined) return await fetch(request);
      return new Response("This is a WebSocket server: connect with a WebSocket client\n", {
        status: 426,
        headers: { upgrade: "websocket", connection: "Upgrade" },
      });
    }
    const result = await serverHandshake(request, { ...rules, deflate: false, authorize: upgrade });
    if (!result.ok) return result.response;
    const { socket: native, response } = Deno.upgradeWebSocket(request, {
      protocol: result.protocol === "" ? undefined : result.protocol,
      idleTimeout,
    });
    native.binaryType = "arraybuffer";
    const socket: ServerSocket<T> = {
      request,
      protocol: result.protocol,
      extensions: "",
      connection: undefined,
      data: undefined as T,
      send: (data, sendOptions) => {
        native.send(inNativeForm(data, sendOptions) as string | Uint8Array<ArrayBuffer>);
        return Promise.resolve();
      },
      close: (code, reason) => native.close(code, reason),
      ping: () => {
        // Deno's WebSocket pings by itself (idleTimeout) and exposes no ping to send.
        throw new DOMException("Cannot ping: Deno.serve's WebSocket exposes no ping (see idleTimeout)", "NotSupportedError");
      },
    };
    native.onopen = () => websocket.open?.(socket);
    native.onmessage = (event) => {
      const data = typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer);
      websocket.message?.(socket, data, typeof data !== "string");
    };
    native.onerror = () => websocket.error?.(socket, new Error("WebSocket error"));
    native.onclose = (event) => websocket.close?.(socket, event.code, event.reason, event.wasClean);
    return response;
  };
}
