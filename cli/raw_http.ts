/**
 * `serve` on the raw listeners (`listenDeno()`, `listenBun()`): what `node:http` gives the other engine,
 * made over a request handed over with its connection. A plain request is answered once through objects
 * shaped like `node:http`'s request and response (the demo's and `--static`'s handlers take those), then
 * the connection is closed (`connection: close`: a browser opens another for its next request); an
 * upgrade runs the handshake with the options of its path over the connection's streams, which count the
 * bytes they carry.
 *
 * @module
 */

import { Readable, Writable } from "node:stream";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Connection, type ConnectionOptions, type Transport } from "../lib/connection.ts";
import { serializeResponse } from "../lib/handshake/http_head.ts";
import { serverHandshake, type ServerHandshakeOptions, type UpgradeAcceptance } from "../lib/handshake/server_handshake.ts";
import type { HandedOver } from "../lib/adapters/_handover.ts";
import { lingerThenEnd } from "../lib/adapters/_linger.ts";

/** Largest request body read (the demo's login is a few dozen bytes). */
const MAX_BODY = 1 << 20;

/** Bytes a connection carried, both ways. */
export interface WireCounts {
  read: number;
  written: number;
}

/**
 * The connection's streams with their bytes counted (what `node:net`'s `bytesRead` and `bytesWritten`
 * give the other engine).
 *
 * @param transport The streams.
 * @param counts Where the counts go.
 * @returns The counting streams.
 */
export function countingTransport(transport: Transport, counts: WireCounts): Transport {
  const readable = transport.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        counts.read += chunk.length;
        controller.enqueue(chunk);
      },
    }),
  );
  const writes = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      counts.written += chunk.length;
      controller.enqueue(chunk);
    },
  });
  writes.readable.pipeTo(transport.writable).catch(() => {});
  return { readable, writable: writes.writable };
}

/** What a WebSocket upgrade on the raw path gives. */
export interface RawUpgrade {
  connection: Connection;
  protocol: string;
  extensions: string;
  acceptance: UpgradeAcceptance | undefined;
}

/**
 * Runs the opening handshake over a handed-over connection: the 101 and a {@linkcode Connection}, or the
 * refusal written and the connection ended (then `undefined`).
 *
 * @param handed The request and its connection (its streams counting, see {@linkcode countingTransport}).
 * @param transport The streams to use (`handed.transport`, or counting ones over it).
 * @param options The handshake's and the connection's options.
 * @returns The connection, or `undefined` once refused.
 */
export async function upgradeRaw(
  handed: HandedOver,
  transport: Transport,
  options: ServerHandshakeOptions & Omit<ConnectionOptions, "role" | "extensions" | "head">,
): Promise<RawUpgrade | undefined> {
  const { request } = handed;
  const writer = transport.writable.getWriter();
  const result = handed.version !== "1.1"
    ? { ok: false as const, response: new Response(`Cannot upgrade: HTTP/${handed.version} is older than HTTP/1.1\n`, { status: 400 }) }
    : await serverHandshake(request, options);
  await writer.write(await serializeResponse(result.response));
  if (!result.ok) {
    await endAnswered(writer, transport.readable, options.closeTimeout ?? 5000);
    return undefined;
  }
  writer.releaseLock();
  const connection = new Connection(transport, { ...options, role: "server", extensions: result.negotiated, head: handed.head });
  return { connection, protocol: result.protocol, extensions: result.extensions, acceptance: result.acceptance };
}

/**
 * Answers a plain request through a `node:http`-shaped pair, then ends the connection.
 *
 * @param handed The request and its connection.
 * @param transport The streams to use.
 * @param handle Answers through the pair (as a `node:http` `request` listener would).
 */
export async function answerRaw(
  handed: HandedOver,
  transport: Transport,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<void> {
  const { request } = handed;
  const writer = transport.writable.getWriter();
  const reader = transport.readable.getReader();
  const fail = async (status: number, text: string) => {
    await writer.write(await serializeResponse(new Response(`${text}\n`, { status, headers: { connection: "close" } })));
    await endAnswered(writer, reader, 5000);
  };
  if (request.headers.has("transfer-encoding")) return fail(411, "Length Required: send a content-length");
  const length = Number(request.headers.get("content-length") ?? "0");
  if (!Number.isSafeInteger(length) || length < 0) return fail(400, "Bad Request: the content-length is not a number");
  if (length > MAX_BODY) return fail(413, "Content Too Large");
  const body = new Uint8Array(length);
  let at = Math.min(length, handed.head.length);
  body.set(handed.head.subarray(0, at));
  while (at < length) {
    const { value, done } = await reader.read();
    if (done) return;
    const take = Math.min(value.length, length - at);
    body.set(value.subarray(0, take), at);
    at += take;
  }
  const target = request.url.replace(/^[a-z]+:\/\/[^/]*/i, "");
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => headers[name] = value);
  const req = Object.assign(Readable.from(length === 0 ? [] : [body]), {
    method: request.method,
    url: target,
    headers,
    httpVersion: handed.version,
    socket: { encrypted: handed.secure, remoteAddress: handed.remoteAddress },
  });
  const res = new RawResponse(writer, request.method === "HEAD");
  handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  await res.finished;
  await endAnswered(writer, reader, 5000);
}

/** Ends an answered connection: our FIN, then what the client still sends is dropped until it closes. */
function endAnswered(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  readable: ReadableStream<Uint8Array> | ReadableStreamDefaultReader<Uint8Array>,
  lingerMs: number,
): Promise<void> {
  const reader = readable instanceof ReadableStream ? readable.getReader() : readable;
  return lingerThenEnd(() => writer.close(), reader, lingerMs, () => void reader.cancel().catch(() => {}));
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  301: "Moved Permanently",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  500: "Internal Server Error",
};

/**
 * The part of `node:http`'s `ServerResponse` the demo and `--static` use: `setHeader`, `writeHead`,
 * `headersSent`, `write`/`end`/`pipe` into it, `destroy`. A body of known length (`content-length` set) is
 * streamed; else it is gathered and sent with its length at the end.
 */
class RawResponse extends Writable {
  statusCode = 200;
  headersSent = false;
  readonly finished: Promise<void>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #head: boolean;
  readonly #headers = new Map<string, string | string[]>();
  readonly #gathered: Uint8Array[] = [];

  constructor(writer: WritableStreamDefaultWriter<Uint8Array>, head: boolean) {
    super();
    this.#writer = writer;
    this.#head = head;
    this.finished = new Promise((resolve) => {
      this.once("finish", () => resolve());
      this.once("close", () => resolve());
    });
  }

  setHeader(name: string, value: string | number | string[]): this {
    this.#headers.set(name.toLowerCase(), typeof value === "number" ? String(value) : value);
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.#headers.get(name.toLowerCase());
  }

  writeHead(status: number, headers: Record<string, string | string[]> = {}): this {
    this.statusCode = status;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    return this;
  }

  #sendHead(length: number | undefined): Promise<void> {
    this.headersSent = true;
    if (length !== undefined) this.#headers.set("content-length", String(length));
    this.#headers.set("connection", "close");
    let text = `HTTP/1.1 ${this.statusCode} ${STATUS_TEXT[this.statusCode] ?? "Status"}\r\n`;
    for (const [name, value] of this.#headers) {
      for (const one of Array.isArray(value) ? value : [value]) text += `${name}: ${one}\r\n`;
    }
    return this.#writer.write(new TextEncoder().encode(`${text}\r\n`));
  }

  override _write(chunk: Uint8Array | string, _encoding: string, callback: (error?: Error | null) => void): void {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#head) return callback();
    if (!this.headersSent && !this.#headers.has("content-length")) {
      this.#gathered.push(bytes.slice());
      return callback();
    }
    const head = this.headersSent ? Promise.resolve() : this.#sendHead(undefined);
    head.then(() => this.#writer.write(bytes)).then(() => callback(), (error) => callback(error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.headersSent) return callback();
    const length = this.#gathered.reduce((sum, chunk) => sum + chunk.length, 0);
    const known = this.#headers.has("content-length");
    const head = this.#sendHead(known ? undefined : length);
    Promise.all([head, ...this.#gathered.map((chunk) => this.#writer.write(chunk))]).then(() => callback(), (error) => callback(error));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error !== null || !this.writableFinished) this.#writer.abort(error ?? undefined).catch(() => {});
    callback(error);
  }
}
