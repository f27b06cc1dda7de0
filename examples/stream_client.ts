/**
 * A WebSocket client built from the public TransformStreams and `ClientHandshake`, over a raw TCP (or TLS)
 * socket: permessage-deflate negotiated by the handshake and done by the streams (see
 * `examples/stream_session.ts` for the pipeline). No `Connection`, no `WebSocket` class.
 *
 *   deno run --allow-net examples/stream_client.ts ws://127.0.0.1:8080/ hello world
 *   bun examples/stream_client.ts ws://127.0.0.1:8080/ hello world
 *   node dist-tests/examples/stream_client.js ws://127.0.0.1:8080/ hello world   (after `npm run build`)
 *
 * Sends each argument as a text message, prints what comes back (an echo server answers each), and closes
 * with 1000. `--window <8..15>` asks for that `client_max_window_bits`, `--no-context-takeover` asks for
 * both `no_context_takeover` parameters, `--no-deflate` offers no compression.
 *
 * @module
 */

import { connect as tcpConnect } from "node:net";
import process from "node:process";
import { connect as tlsConnect } from "node:tls";
import { pathToFileURL } from "node:url";
import { type ClientDeflateOptions, ClientHandshake, parseResponseHead, type Transport } from "../mod.ts";
// The `wsengine/node-socket` export: a node:net socket as `{ readable, writable }`, with backpressure both ways.
import { socketToTransport } from "../lib/adapters/node_socket.ts";
import { openStreamSession, type StreamSession, type StreamSessionOptions } from "./stream_session.ts";

/** Options for {@linkcode connectStreamClient}. */
export interface StreamClientOptions extends StreamSessionOptions {
  /** Subprotocols to offer. @default {[]} */
  protocols?: string[];
  /** permessage-deflate offer (`ClientHandshake`'s `deflate`); `false` offers none. @default {{}} */
  deflate?: false | ClientDeflateOptions;
  /** Milliseconds allowed for the TCP connect and the handshake. @default {10000} */
  timeout?: number;
}

/** A connected client: the session, and what the handshake agreed. */
export interface StreamClient extends StreamSession {
  /** The subprotocol chosen, or `""`. */
  protocol: string;
  /** The server's `Sec-WebSocket-Extensions`, or `""`. */
  extensions: string;
}

/**
 * Connects, runs the opening handshake (RFC 6455 §4.1), and returns a session over the public streams.
 *
 * @param url A `ws:` or `wss:` URL.
 * @param options Subprotocols, the deflate offer, session options.
 * @returns The open session.
 * @throws {Error} When the socket fails or the server's answer is not a valid 101.
 */
export async function connectStreamClient(url: string | URL, options: StreamClientOptions = {}): Promise<StreamClient> {
  const handshake = new ClientHandshake(url, { protocols: options.protocols, deflate: options.deflate });
  const target = handshake.url;
  const secure = target.protocol === "wss:";
  const port = Number(target.port || (secure ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, "");
  const socket = secure ? tlsConnect({ host, port, servername: host }) : tcpConnect({ host, port });
  const timeout = options.timeout ?? 10_000;
  const timer = setTimeout(() => socket.destroy(new Error(`Cannot connect to ${target.href}: no answer in ${timeout} ms`)), timeout);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once(secure ? "secureConnect" : "connect", resolve);
      socket.once("error", reject);
    });
    const transport = socketToTransport(socket);
    // The request (§4.1): the handshake built the headers, Host and the key included.
    let head = `GET ${target.pathname}${target.search} HTTP/1.1\r\n`;
    handshake.headers.forEach((value, name) => head += `${name}: ${value}\r\n`);
    const writer = transport.writable.getWriter();
    await writer.write(new TextEncoder().encode(head + "\r\n"));
    writer.releaseLock();
    const reader = transport.readable.getReader();
    const answer = await readHead(reader, 16 * 1024);
    const { status, headers } = parseResponseHead(answer.head);
    // Checks the 101 and builds the negotiated extensions (a PerMessageDeflate with the server's parameters).
    const result = await handshake.verify(status, headers);
    const session = openStreamSession(
      { readable: rest(reader, answer.rest), writable: transport.writable },
      "client",
      result.negotiated,
      options,
    );
    return { ...session, protocol: result.protocol, extensions: result.extensions };
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads an HTTP head (up to the blank line) and the bytes after it. */
export async function readHead(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxSize: number,
): Promise<{ head: string; rest: Uint8Array }> {
  let received = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("Cannot read HTTP head: the connection closed first");
    const joined = new Uint8Array(received.length + value.length);
    joined.set(received);
    joined.set(value, received.length);
    received = joined;
    for (let i = 0; i + 3 < received.length; i++) {
      if (received[i] === 13 && received[i + 1] === 10 && received[i + 2] === 13 && received[i + 3] === 10) {
        return { head: new TextDecoder("latin1").decode(received.subarray(0, i)), rest: received.subarray(i + 4) };
      }
    }
    if (received.length > maxSize) throw new Error(`Cannot read HTTP head: more than ${maxSize} bytes`);
  }
}

/**
 * The rest of a stream whose head has been read: `first`, then what `reader` yields. A high-water mark of
 * 0 reads from the socket only when the pipeline asks, so backpressure reaches the socket.
 */
export function rest(reader: ReadableStreamDefaultReader<Uint8Array>, first: Uint8Array): Transport["readable"] {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.length > 0) controller.enqueue(first);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const window = flag("window");
  const positional = args.filter((arg, i) => !arg.startsWith("--") && args[i - 1] !== "--window");
  const [url, ...messages] = positional;
  if (url === undefined) {
    console.error("usage: stream_client.ts <ws://host:port/path> [message ...] [--window 8..15] [--no-context-takeover] [--no-deflate]");
    process.exit(2);
  }
  const noContext = args.includes("--no-context-takeover");
  const deflate: false | ClientDeflateOptions = args.includes("--no-deflate") ? false : {
    clientMaxWindowBits: window === undefined ? undefined : Number(window),
    serverMaxWindowBits: window === undefined ? undefined : Number(window),
    clientNoContextTakeover: noContext,
    serverNoContextTakeover: noContext,
  };
  const client = await connectStreamClient(url, { deflate });
  console.log(`connected, extensions: ${client.extensions || "(none)"}`);
  const writer = client.writable.getWriter();
  const reader = client.readable.getReader();
  for (const message of messages) {
    await writer.write(message);
    const { value } = await reader.read();
    console.log("received:", value);
  }
  writer.releaseLock();
  reader.releaseLock();
  const closing = client.close(1000, "done");
  // Read on until the server's Close has been seen (the session ends the readable then).
  for await (const _ of client.readable) { /* late messages are dropped */ }
  const { code, wasClean } = await closing;
  console.log(`closed: ${code}${wasClean ? "" : " (not clean)"}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
