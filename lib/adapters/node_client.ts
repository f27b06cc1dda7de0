/**
 * A WebSocket client over `node:net` / `node:tls`, which Deno, Bun and Node all provide.
 *
 * @module
 */

import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions as TlsOptions } from "node:tls";
import { ClientHandshake, type ClientHandshakeOptions } from "../client_handshake.ts";
import { Connection, type ConnectionOptions } from "../connection.ts";
import { socketToTransport } from "./node_socket.ts";

/** Options for {@linkcode connectNode}. */
export interface NodeConnectOptions extends ClientHandshakeOptions, Omit<ConnectionOptions, "role" | "extensions"> {
  /** Milliseconds for the TCP (and TLS) connection and the opening handshake together. @default {10000} */
  handshakeTimeout?: number;
  /** TLS options for `wss:` (a `ca` for a self-signed certificate, say). @default {{}} */
  tls?: TlsOptions;
}

/** An open client connection. */
export interface NodeClient {
  /** The connection. */
  connection: Connection;
  /** The subprotocol the server chose, or `""`. */
  protocol: string;
  /** The server's `Sec-WebSocket-Extensions`, or `""`. */
  extensions: string;
}

const MAX_HEAD = 64 * 1024;

/**
 * Opens a WebSocket connection.
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options Subprotocols, headers, permessage-deflate offer, limits and timeouts.
 * @returns The open connection and what was negotiated.
 * @throws {SyntaxError} For a bad URL or subprotocol list.
 * @throws {Error} Naming the URL and the reason, when the connection or the handshake fails.
 * @example
 * ```ts ignore
 * import { connectNode } from "./node_client.ts";
 * const { connection } = await connectNode("ws://127.0.0.1:8080/");
 * connection.onmessage = (data) => console.log(data);
 * await connection.send("Hello");
 * ```
 */
export async function connectNode(url: string | URL, options: NodeConnectOptions = {}): Promise<NodeClient> {
  const handshake = new ClientHandshake(url, options);
  const target = handshake.url;
  const secure = target.protocol === "wss:";
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port || (secure ? 443 : 80));
  const timeout = options.handshakeTimeout ?? 10_000;
  const fail = (what: string) => new Error(`Cannot connect to ${target.href}: ${what}`);

  const socket: Socket = secure
    ? connectTls({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host, ...options.tls })
    : connectTcp({ host, port });
  socket.setNoDelay(true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const { status, headers, rest } = await new Promise<{ status: number; headers: Headers; rest: Uint8Array }>(
      (resolve, reject) => {
        timer = setTimeout(() => reject(fail(`no answer within ${timeout} ms`)), timeout);
        let received = new Uint8Array(0);
        const onError = (error: Error) => reject(fail(error.message));
        const onClose = () => reject(fail("the connection closed during the handshake"));
        const onData = (chunk: Uint8Array) => {
          const joined = new Uint8Array(received.length + chunk.length);
          joined.set(received);
          joined.set(chunk, received.length);
          received = joined;
          const end = findHeadEnd(received);
          if (end === -1) {
            if (received.length > MAX_HEAD) reject(fail(`the response head exceeds ${MAX_HEAD} bytes`));
            return;
          }
          socket.off("data", onData);
          socket.off("error", onError);
          socket.off("close", onClose);
          socket.pause();
          try {
            const parsed = parseHead(new TextDecoder().decode(received.subarray(0, end)));
            resolve({ ...parsed, rest: received.subarray(end + 4) });
          } catch (error) {
            reject(fail((error as Error).message));
          }
        };
        socket.on("data", onData);
        socket.on("error", onError);
        socket.on("close", onClose);
        socket.once(secure ? "secureConnect" : "connect", () => {
          let head = `GET ${target.pathname}${target.search} HTTP/1.1\r\n`;
          handshake.headers.forEach((value, name) => {
            head += `${name}: ${value}\r\n`;
          });
          socket.write(head + "\r\n");
        });
      },
    );
    const result = await handshake.verify(status, headers);
    socket.on("error", () => {}); // errors surface through the transport
    const connection = new Connection(socketToTransport(socket, rest), {
      ...options,
      role: "client",
      extensions: result.negotiated,
    });
    return { connection, protocol: result.protocol, extensions: result.extensions };
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function findHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

function parseHead(head: string): { status: number; headers: Headers } {
  const lines = head.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (match === null) throw new Error(`the response does not start with an HTTP/1.1 status line: ${lines[0].slice(0, 80)}`);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed response header line: ${line.slice(0, 80)}`);
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), headers };
}
