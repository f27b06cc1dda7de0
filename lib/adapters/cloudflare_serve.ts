/**
 * A WebSocket server in a Cloudflare Worker (workerd), on its `WebSocketPair`: the runtime owns the socket,
 * so a 101 `Response` built elsewhere becomes `HTTP/1.1 200 OK` there; this adapter checks the request and
 * chooses the subprotocol with this library's rules and `upgrade` hook, then hands workerd the client end of
 * a pair and carries the server end with the same `open`/`message`/`close`/`error` callbacks as every
 * server path. Topics work among the sockets of one isolate only (a Worker's requests may land on any
 * isolate, anywhere): for rooms, use a Durable Object per room and {@linkcode durableObjectServe}.
 *
 * @module
 */

import {
  closeAtExpiry,
  disconnectUser,
  inNativeForm,
  type ServerSocket,
  socketSubscribe,
  type WebSocketHandler,
} from "./_socket_handler.ts";
import { NativeTopics } from "./_native_topics.ts";
import {
  checkUpgrade,
  type CloudflareHandshakeOptions,
  logHandlerError,
  messageData,
  newWebSocketPair,
  pingNotSupported,
  replyToClose,
  switchingProtocols,
} from "./cloudflare_runtime.ts";
import { createPubSub, type PublishOptions, type PubSub } from "../pubsub/pubsub.ts";

/** Options for {@linkcode cloudflareServe}. */
export interface CloudflareServeOptions<T = unknown> extends CloudflareHandshakeOptions {
  /** The WebSocket callbacks. */
  websocket: WebSocketHandler<T>;
  /**
   * The topics its sockets subscribe and publish to (this isolate's).
   * @default a registry of its own
   */
  pubsub?: PubSub;
}

/** The Worker's `fetch` handler, with the topics of its sockets. */
export interface CloudflareServeHandler {
  /** Answers a request: upgrades go to the WebSocket callbacks, the rest to `fetch`. */
  (request: Request): Promise<Response>;
  /** The topics of its sockets (in this isolate). */
  readonly pubsub: PubSub;
  /**
   * Publishes to every subscriber of a topic in this isolate.
   * @returns How many subscribers it was handed to.
   */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number;
  /**
   * Counts the sockets of this isolate subscribed to a topic.
   * @returns How many sockets of this isolate are subscribed to the topic.
   */
  subscriberCount(topic: string): number;
  /**
   * Closes every open socket of a user in this isolate.
   * @returns How many sockets were closed.
   */
  disconnectUser(user: string, code?: number, reason?: string): number;
}

/**
 * Builds a Worker's `fetch` handler from this library's callbacks, for workerd's `WebSocketPair`.
 *
 * @param options The handshake rules, the hook and the callbacks.
 * @returns The handler, with `publish` and `subscriberCount`.
 * @example
 * ```ts ignore
 * import { cloudflareServe } from "@wsengine/wsengine/cloudflare";
 * const handler = cloudflareServe({ websocket: { message: (socket, data) => socket.send(data) } });
 * export default { fetch: (request: Request) => handler(request) };
 * ```
 */
export function cloudflareServe<T = unknown>(options: CloudflareServeOptions<T>): CloudflareServeHandler {
  const { websocket, pubsub = createPubSub(), ...handshake } = options;
  const sockets = new Set<ServerSocket<T>>();
  // disconnectUser reaches these sockets through the registry, from any server or node (for as long as the
  // handlers live: there is no close to unregister at).
  pubsub.addUserCloser((user, code, reason) => disconnectUser(sockets as Set<ServerSocket>, user, code, reason));
  const handler = async (request: Request): Promise<Response> => {
    const result = await checkUpgrade(request, handshake);
    if (!result.ok) return result.response;
    const [client, native] = newWebSocketPair();
    let closing = false;
    const close = (code?: number, reason?: string) => {
      closing = true;
      native.close(code, reason);
    };
    const topics = new NativeTopics(
      pubsub,
      {
        send: (message) => {
          if (closing || native.readyState !== 1) return false;
          try {
            native.send(message);
            return true;
          } catch {
            return false;
          }
        },
        // workerd tells JavaScript nothing of what it buffers: a published message is handed to it.
        bufferedAmount: () => 0,
        close,
      },
      {},
      (topic, count) => websocket.drop?.(socket, topic, count),
    );
    const socket: ServerSocket<T> = {
      request,
      protocol: result.protocol,
      extensions: result.extensions,
      connection: undefined,
      data: result.acceptance?.data as T,
      user: result.acceptance?.user,
      send: (data, sendOptions) => {
        native.send(inNativeForm(data, sendOptions));
        return Promise.resolve();
      },
      close,
      ping: pingNotSupported,
      subscribe: socketSubscribe(() => socket, websocket, topics),
      unsubscribe: (topic) => topics.unsubscribe(topic),
      isSubscribed: (topic) => topics.isSubscribed(topic),
      get subscriptions() {
        return topics.subscriptions;
      },
      publish: (topic, message, publishOptions) => topics.publish(topic, message, publishOptions),
      get dropped() {
        return topics.dropped;
      },
    };
    const fail = (which: string, error: unknown) => {
      logHandlerError(websocket.error !== undefined, which, error);
      try {
        websocket.error?.(socket, error instanceof Error ? error : new Error(String(error)));
      } catch {
        // An error handler that throws has nowhere further to report to.
      }
      close(1011);
    };
    // workerd delivers binary messages of a WebSocketPair as Blobs unless told otherwise (the hibernation
    // API's are ArrayBuffers).
    native.binaryType = "arraybuffer";
    native.accept();
    let ended = false;
    let cancelExpiry = () => {};
    const finish = (code: number, reason: string, wasClean: boolean) => {
      if (ended) return;
      ended = true;
      topics.closed();
      cancelExpiry();
      sockets.delete(socket);
      websocket.close?.(socket, code, reason, wasClean);
    };
    native.addEventListener("message", (event) => {
      if (ended || closing) return;
      try {
        const data = messageData(event.data);
        websocket.message?.(socket, data, typeof data !== "string");
      } catch (error) {
        fail("message", error);
      }
    });
    native.addEventListener("close", (event) => {
      const code = Number(event.code), reason = String(event.reason ?? "");
      replyToClose(native, code, reason);
      finish(code, reason, Boolean(event.wasClean));
    });
    native.addEventListener("error", (event) => {
      const error = event.error instanceof Error
        ? event.error
        : new Error(String(event.message ?? "WebSocket error"));
      websocket.error?.(socket, error);
      finish(1006, "", false);
    });
    sockets.add(socket);
    cancelExpiry = closeAtExpiry(result.acceptance?.expiresAt, close);
    try {
      websocket.open?.(socket);
    } catch (error) {
      fail("open", error);
    }
    return switchingProtocols(client, result.protocol, result.extensions);
  };
  return Object.assign(handler, {
    pubsub,
    publish: (topic: string, data: string | Uint8Array, publishOptions?: PublishOptions) =>
      pubsub.publish(topic, data, publishOptions),
    subscriberCount: (topic: string) => pubsub.subscriberCount(topic),
    disconnectUser: (user: string, code?: number, reason?: string) => pubsub.disconnectUser(user, code, reason),
  });
}
