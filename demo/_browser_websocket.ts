/**
 * What lib/client/reconnecting_websocket.ts imports from ./websocket.ts, for the page: the browser's own
 * `WebSocket` and `CloseEvent`. scripts/build_demo_client.ts bundles the reconnecting client with this file
 * in place of lib/client/websocket.ts (this library's WebSocket needs sockets a page does not have, and
 * the browser speaks permessage-deflate itself).
 *
 * @module
 */

export type { CloseEventInit, WebSocketOptions } from "../lib/client/websocket.ts";

/** The browser's WebSocket. */
export const WebSocket: typeof globalThis.WebSocket = globalThis.WebSocket;
/** The browser's CloseEvent. */
export const CloseEvent: typeof globalThis.CloseEvent = globalThis.CloseEvent;
