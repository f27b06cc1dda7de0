/**
 * Servers on Cloudflare Workers (workerd), where the runtime owns the socket: `cloudflareServe()` for a
 * Worker's `WebSocketPair`, `durableObjectServe()` for a Durable Object on the WebSocket hibernation API
 * (one object per room; topics and `data` kept in each socket's attachment, so nothing is lost when it
 * hibernates). Both take the same `upgrade` hook, subprotocol and origin rules and
 * `open`/`message`/`close`/`error` callbacks as every server of this library. They need workerd's
 * globals (`WebSocketPair`), so `mod.ts` does not export them: import `@wsengine/wsengine/cloudflare`.
 *
 * @example
 * ```ts ignore
 * import { cloudflareServe } from "@wsengine/wsengine/cloudflare";
 * const echo = cloudflareServe({ protocols: ["chat"], websocket: { message: (socket, data) => socket.send(data) } });
 * export default { fetch: (request: Request) => echo(request) };
 * ```
 *
 * @module
 */

export {
  cloudflareServe,
  type CloudflareServeHandler,
  type CloudflareServeOptions,
} from "./cloudflare_serve.ts";
export {
  durableObjectServe,
  type DurableObjectServeOptions,
  type DurableObjectServer,
  MAX_DURABLE_OBJECT_SOCKETS,
  MAX_TAG_LENGTH,
  MAX_TAGS,
} from "./cloudflare_durable_object.ts";
export type {
  CloudflareHandshakeOptions,
  CloudflareWebSocket,
  DurableObjectStateLike,
} from "./cloudflare_runtime.ts";
export type {
  AutoResponse,
  ServerSocket,
  ServerSubscribeOptions,
  SocketSubscribe,
  WebSocketHandler,
} from "./_socket_handler.ts";
