/**
 * A WebSocket server built from the public TransformStreams and `serverHandshake`, over raw TCP sockets
 * (`node:net`): the HTTP upgrade request read by hand, permessage-deflate negotiated by the handshake and
 * done by the streams (see `examples/stream_session.ts` for the pipeline). No `Connection`, no adapter
 * other than the socket as `{ readable, writable }`. By default every message is echoed, compressed when
 * the client negotiated compression.
 *
 *   deno run --allow-net examples/stream_server.ts [--port 8080] [--window 8..15] [--no-context-takeover]
 *   bun examples/stream_server.ts [--port 8080]
 *   node dist-tests/examples/stream_server.js [--port 8080]   (after `npm run build`)
 *
 * @module
 */

import { createServer, type Socket } from "node:net";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { type ServerDeflateOptions, serverHandshake } from "../mod.ts";
// The `wsengine/node-socket` export: a node:net socket as `{ readable, writable }`, with backpressure both ways.
import { socketToTransport } from "../lib/adapters/node_socket.ts";
import { readHead, rest } from "./stream_client.ts";
import { openStreamSession, type StreamSession, type StreamSessionOptions } from "./stream_session.ts";

/** What the handshake agreed for one connection. */
export interface StreamServerUpgrade {
  /** The upgrade request. */
  request: Request;
  /** The subprotocol chosen, or `""`. */
  protocol: string;
  /** The `Sec-WebSocket-Extensions` answered, or `""`. */
  extensions: string;
}

/** Options for {@linkcode serveStreams}. */
export interface StreamServerOptions extends StreamSessionOptions {
  /** Port to listen on; 0 picks a free one. @default {8080} */
  port?: number;
  /** Address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Subprotocols, in server order of preference. @default {[]} */
  protocols?: string[];
  /** permessage-deflate (`serverHandshake`'s `deflate`); `false` declines every offer. @default {{}} */
  deflate?: false | ServerDeflateOptions;
  /**
   * Runs each connection. The default echoes: `session.readable.pipeTo(session.writable)`.
   * @default {echo}
   */
  onSession?: (session: StreamSession, upgrade: StreamServerUpgrade) => void;
}

/** A listening server. */
export interface StreamServer {
  /** The port bound. */
  port: number;
  /** Stops listening and closes every open connection with 1001 (Going Away). */
  close(): Promise<void>;
}

/**
 * Listens for WebSocket upgrades on raw TCP and runs each connection over the public streams.
 *
 * @param options Address, handshake options, what to do with a session.
 * @returns The server once it listens.
 */
export async function serveStreams(options: StreamServerOptions = {}): Promise<StreamServer> {
  const sessions = new Set<StreamSession>();
  const sockets = new Set<Socket>();
  const onSession = options.onSession ?? ((session) => {
    session.readable.pipeTo(session.writable).catch(() => {});
  });
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    accept(socket).catch(() => socket.destroy());
  });

  async function accept(socket: Socket): Promise<void> {
    const transport = socketToTransport(socket);
    const reader = transport.readable.getReader();
    const timer = setTimeout(() => socket.destroy(), 10_000);
    let head: { head: string; rest: Uint8Array };
    try {
      head = await readHead(reader, 16 * 1024);
    } finally {
      clearTimeout(timer);
    }
    const writer = transport.writable.getWriter();
    const request = parseRequest(head.head);
    if (request === undefined) {
      await writer.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"));
      await writer.close();
      return;
    }
    // A bad request gets its 4xx and the socket ends; never a throw for what the client sent.
    const result = await serverHandshake(request, { protocols: options.protocols, deflate: options.deflate ?? {} });
    const body = result.ok ? new Uint8Array(0) : new Uint8Array(await result.response.arrayBuffer());
    let response = `HTTP/1.1 ${result.response.status} ${result.ok ? "Switching Protocols" : "Bad Request"}\r\n`;
    result.response.headers.forEach((value, name) => response += `${name}: ${value}\r\n`);
    if (!result.ok) response += `content-length: ${body.length}\r\nconnection: close\r\n`;
    await writer.write(new TextEncoder().encode(response + "\r\n"));
    if (!result.ok) {
      await writer.write(body);
      await writer.close();
      return;
    }
    writer.releaseLock();
    // The negotiated extensions go to the streams as the handshake returned them.
    const session = openStreamSession(
      { readable: rest(reader, head.rest), writable: transport.writable },
      "server",
      result.negotiated,
      options,
    );
    sessions.add(session);
    session.closed.then(() => sessions.delete(session));
    onSession(session, { request, protocol: result.protocol, extensions: result.extensions });
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 8080, options.hostname ?? "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    port,
    async close() {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...sessions].map((session) => session.close(1001, "server shutting down")));
      for (const socket of sockets) socket.destroy();
      await closing;
    },
  };
}

/** An HTTP/1.1 request head as a `Request`, or `undefined` when it is malformed. */
function parseRequest(head: string): Request | undefined {
  const lines = head.split("\r\n");
  const match = /^GET (\S+) HTTP\/1\.1$/.exec(lines[0]);
  if (match === null) return undefined;
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    } catch {
      return undefined;
    }
  }
  try {
    return new Request(new URL(match[1], `http://${headers.get("host") ?? "localhost"}`), { headers });
  } catch {
    return undefined;
  }
}

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
}

async function main(): Promise<void> {
  const window = flag("window");
  const noContext = process.argv.includes("--no-context-takeover");
  const server = await serveStreams({
    port: Number(flag("port") ?? 8080),
    deflate: {
      serverMaxWindowBits: window === undefined ? undefined : Number(window),
      clientMaxWindowBits: window === undefined ? undefined : Number(window),
      serverNoContextTakeover: noContext,
      clientNoContextTakeover: noContext,
    },
  });
  console.log(`Stream echo server listening on ws://127.0.0.1:${server.port}/`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
