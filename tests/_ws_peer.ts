/**
 * `ws`'s server as an interop peer: listens on 127.0.0.1, answers each message through a per-connection
 * reply function, and reports the extensions it answered with and the first close it saw.
 *
 * @module
 */

import { WebSocketServer } from "ws";
import { withTimeout } from "./_interop.ts";

/** The parts of `ws`'s server-side socket used here (the package ships no types). */
interface WsServerSocket {
  send(data: string | Uint8Array): void;
  close(code: number, reason: string): void;
  on(event: "message", listener: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): void;
  on(event: "error", listener: (error: Error) => void): void;
}

/** A running `ws` server. */
export interface WsPeerServer {
  port: number;
  /** The code and reason of the first connection that closed. */
  closeSeen: Promise<{ code: number; reason: string }>;
  /** The `Sec-WebSocket-Extensions` value of the last 101 (`""` when none), once one was sent. */
  extensions(): string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts `ws`'s server.
 *
 * @param options `perMessageDeflate` and `maxPayload`, as `ws` takes them.
 * @param replier Called per connection; returns the reply to each message, or `{ close }` to close with it.
 * @returns The running server.
 */
export async function startWsPeerServer(
  options: { perMessageDeflate: false | Record<string, unknown>; maxPayload: number },
  replier: () => (message: string | Uint8Array) => string | Uint8Array | { close: [number, string] },
): Promise<WsPeerServer> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, ...options });
  await withTimeout(new Promise<void>((resolve) => server.once("listening", () => resolve())), 5000, "ws to listen");
  let extensions: string | undefined;
  server.on("headers", (headers: string[]) => {
    const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
    extensions = line === undefined ? "" : line.slice(line.indexOf(":") + 1).trim();
  });
  const closeSeen = new Promise<{ code: number; reason: string }>((resolve) => {
    server.on("connection", (socket: WsServerSocket) => {
      const reply = replier();
      socket.on("error", () => {});
      socket.on("message", (data, isBinary) => {
        const answer = reply(isBinary ? new Uint8Array(data) : new TextDecoder().decode(data));
        if (typeof answer === "object" && "close" in answer) socket.close(...answer.close);
        else socket.send(answer);
      });
      socket.on("close", (code, reason) => resolve({ code, reason: new TextDecoder().decode(reason) }));
    });
  });
  return {
    port: (server.address() as { port: number }).port,
    closeSeen,
    extensions: () => extensions,
    async stop() {
      for (const client of server.clients) client.terminate();
      await withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), 5000, "ws to close");
    },
  };
}
