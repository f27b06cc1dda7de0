/**
 * Real-socket test helpers: an in-process `node:http` server that upgrades with
 * {@linkcode handleNodeUpgrade} on 127.0.0.1, and a raw `node:net` client that sends the opening handshake
 * and then lets a test write any bytes and read back decoded frames. Every wait is bounded (it rejects
 * after {@linkcode WAIT_MS} unless told otherwise), so a broken server fails a test instead of hanging it.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerOptions, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { handleNodeUpgrade, type NodeUpgrade, type NodeUpgradeOptions } from "../lib/adapters/node_http.ts";
import { encodeFrame } from "../lib/core/encode_frame.ts";
import type { Frame } from "../lib/core/frame.ts";
import { FrameParser } from "../lib/core/frame_parser.ts";
import { ReadyState } from "../lib/core/ready_state.ts";
import { concatBytes } from "./_vectors.ts";

/** How long any single wait may take before it fails the test. */
export const WAIT_MS = 3000;

/** Resolves after `ms` milliseconds: for pacing writes (splitting a frame over TCP), never for syncing. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Races a promise against a timer.
 *
 * @param promise What to wait for.
 * @param ms The bound.
 * @param what What was awaited, for the error message.
 * @returns The promise's value.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The echo handler: every message goes back as it came, while the connection is open. */
export function echo(upgrade: NodeUpgrade): void {
  const { connection } = upgrade;
  connection.onmessage = (data) => {
    if (connection.readyState === ReadyState.Open) connection.send(data).catch(() => {});
  };
}

/** Options for {@linkcode startServer}. */
export interface TestServerOptions {
  /** Handshake and connection options passed to `handleNodeUpgrade`. @default {{}} */
  upgrade?: NodeUpgradeOptions;
  /** Called synchronously with each accepted upgrade, before any frame is read. @default {echo} */
  onUpgrade?: (upgrade: NodeUpgrade) => void;
  /** Options for `node:http`'s `createServer` (timeouts, `maxHeaderSize`). @default none */
  http?: ServerOptions;
}

/** An in-process WebSocket server on 127.0.0.1 and an ephemeral port. */
export interface TestServer {
  /** The port it listens on. */
  readonly port: number;
  /** The `ws://` URL of its root. */
  readonly url: string;
  /**
   * The next accepted upgrade not yet taken, in order of acceptance.
   *
   * @param ms The bound.
   */
  nextUpgrade(ms?: number): Promise<NodeUpgrade>;
  /** Destroys every socket, waits for every connection's `closed`, then stops listening. */
  close(): Promise<void>;
}

/**
 * Starts a server; close it in a `finally`.
 *
 * @param options The upgrade options and the per-connection handler.
 * @returns The running server.
 */
export async function startServer(options: TestServerOptions = {}): Promise<TestServer> {
  const onUpgrade = options.onUpgrade ?? echo;
  const sockets = new Set<Duplex>();
  const accepted: NodeUpgrade[] = [];
  const all: NodeUpgrade[] = [];
  const waiters: ((upgrade: NodeUpgrade) => void)[] = [];
  const notFound = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("Not a WebSocket request\n");
  };
  const server = options.http === undefined ? createServer(notFound) : createServer(options.http, notFound);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("upgrade", async (req: IncomingMessage, socket: Duplex, head: Uint8Array) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const upgrade = await handleNodeUpgrade(req, socket, head, options.upgrade);
    if (upgrade === undefined) return;
    onUpgrade(upgrade);
    all.push(upgrade);
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter(upgrade);
    else accepted.push(upgrade);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    nextUpgrade(ms = WAIT_MS) {
      const ready = accepted.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      let waiter!: (upgrade: NodeUpgrade) => void;
      const promise = new Promise<NodeUpgrade>((resolve) => waiter = resolve);
      waiters.push(waiter);
      return withTimeout(promise, ms, "the server to accept an upgrade").catch((error) => {
        waiters.splice(waiters.indexOf(waiter), 1);
        throw error;
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await withTimeout(
        Promise.all(all.map((u) => u.connection.closed)),
        WAIT_MS,
        "server connections to close",
      )
        .catch(() => {});
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await withTimeout(
        new Promise<void>((resolve) => server.close(() => resolve())),
        WAIT_MS,
        "the server to close",
      )
        .catch(() => {});
    },
  };
}

/** Options for {@linkcode frame}. */
export interface FrameOptions {
  /** FIN bit. @default {true} */
  fin?: boolean;
  /** RSV bits as they sit in the first byte (RSV1 0x40, RSV2 0x20, RSV3 0x10). @default {0} */
  rsv?: number;
  /** Mask the payload, as a client must. @default {true} */
  mask?: boolean;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * One frame's bytes, masked as a client sends it unless told otherwise.
 *
 * @param opcode Any 4-bit opcode, reserved ones included.
 * @param payload Bytes, or a string sent as UTF-8.
 * @param options FIN, RSV bits, masking.
 * @returns The frame.
 */
export function frame(
  opcode: number,
  payload: Uint8Array | string = new Uint8Array(0),
  options: FrameOptions = {},
): Uint8Array {
  const bytes = typeof payload === "string" ? utf8(payload) : payload;
  const out = concatBytes(
    encodeFrame(opcode, bytes, { fin: options.fin ?? true, mask: options.mask ?? true }),
  );
  out[0] |= (options.rsv ?? 0) & 0x70;
  return out;
}

/** A close frame as the client read it. */
export interface ReceivedClose {
  /** The status code, or 1005 when the payload was empty. */
  code: number;
  /** The reason, decoded leniently. */
  reason: string;
  /** The raw payload. */
  payload: Uint8Array;
  /** Frames that arrived before the close frame since the last read. */
  before: Frame[];
}

/** How the client's socket ended. */
export type SocketEnd = "end" | "close" | "error";

/** Options for {@linkcode RawClient.connect}. */
export interface RawConnectOptions {
  /** The request path. @default {"/"} */
  path?: string;
  /** Extra or replacing request headers (names are case-insensitive). */
  headers?: Record<string, string>;
  /** Bytes sent in the same TCP write as the request head, before any response (early frames). */
  after?: Uint8Array;
  /**
   * RSV bits accepted on frames from the server (RSV1 = 0x40 when permessage-deflate is offered); the
   * payload is returned as it came, still compressed.
   * @default {0}
   */
  allowedRsv?: number;
}

/**
 * A client speaking bytes: it does the opening handshake and then nothing on its own (no pong, no close
 * reply), so a test controls every byte sent.
 */
export class RawClient {
  /** The `Sec-WebSocket-Key` sent. */
  readonly key: string;
  /** The response status. */
  readonly status: number;
  /** The response headers. */
  readonly headers: Headers;

  readonly #socket: Socket;
  readonly #parser = new FrameParser({ role: "client" });
  #frames: Frame[] = [];
  #frameWaiter: (() => void) | undefined;
  #failure: Error | undefined;
  #ended: SocketEnd | undefined;
  #endWaiters: ((how: SocketEnd) => void)[] = [];

  private constructor(
    socket: Socket,
    key: string,
    status: number,
    headers: Headers,
    rest: Uint8Array,
    allowedRsv = 0,
  ) {
    this.#socket = socket;
    this.#parser.allowedRsv = allowedRsv;
    this.key = key;
    this.status = status;
    this.headers = headers;
    this.#receive(rest);
    socket.on("data", (chunk: Uint8Array) => this.#receive(new Uint8Array(chunk)));
    socket.on("end", () => this.#end("end"));
    socket.on("close", () => this.#end("close"));
    socket.on("error", () => this.#end("error"));
    if (socket.destroyed) this.#end("close");
    socket.resume();
  }

  /**
   * Connects and completes the opening handshake (the status is not checked: a refusal is returned too).
   *
   * @param port The server's port on 127.0.0.1.
   * @param options Path and headers.
   * @returns The client, past the response head.
   */
  static async connect(port: number, options: RawConnectOptions = {}): Promise<RawClient> {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const fields = new Map<string, string>([
      ["host", `127.0.0.1:${port}`],
      ["upgrade", "websocket"],
      ["connection", "Upgrade"],
      ["sec-websocket-key", key],
      ["sec-websocket-version", "13"],
    ]);
    for (const [name, value] of Object.entries(options.headers ?? {})) fields.set(name.toLowerCase(), value);
    const lines = [
      `GET ${options.path ?? "/"} HTTP/1.1`,
      ...[...fields].map(([name, value]) => `${name}: ${value}`),
    ];
    const socket = await openSocket(port);
    try {
      const head = utf8(lines.join("\r\n") + "\r\n\r\n");
      socket.write(options.after === undefined ? head : concatBytes([head, options.after]));
      const { status, headers, rest } = await withTimeout(
        readHead(socket),
        WAIT_MS,
        "the handshake response",
      );
      return new RawClient(
        socket,
        fields.get("sec-websocket-key") ?? key,
        status,
        headers,
        rest,
        options.allowedRsv,
      );
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  /** How the socket ended, if it has. */
  get ended(): SocketEnd | undefined {
    return this.#ended;
  }

  /**
   * Writes bytes in one TCP write.
   *
   * @param bytes What to send.
   * @returns Resolves when the socket has taken them.
   */
  write(bytes: Uint8Array): Promise<void> {
    return withTimeout(
      new Promise<void>((resolve, reject) => {
        this.#socket.write(bytes, (error) => error ? reject(error) : resolve());
      }),
      WAIT_MS,
      `writing ${bytes.length} bytes`,
    );
  }

  /**
   * Writes bytes as several TCP writes with a pause between them.
   *
   * @param bytes What to send.
   * @param pieces How many writes (the last takes the remainder); `Infinity` for one byte per write.
   * @param pauseMs The pause between writes.
   */
  async writeInPieces(bytes: Uint8Array, pieces: number, pauseMs: number): Promise<void> {
    const size = Math.max(1, Math.ceil(bytes.length / pieces));
    for (let start = 0; start < bytes.length; start += size) {
      if (start > 0) await pause(pauseMs);
      await this.write(bytes.slice(start, start + size));
    }
  }

  /**
   * Sends one frame (masked unless told otherwise).
   *
   * @param opcode The opcode.
   * @param payload The payload.
   * @param options FIN, RSV bits, masking.
   */
  send(
    opcode: number,
    payload: Uint8Array | string = new Uint8Array(0),
    options: FrameOptions = {},
  ): Promise<void> {
    return this.write(frame(opcode, payload, options));
  }

  /**
   * The next frame from the server.
   *
   * @param ms The bound.
   * @returns The frame.
   */
  async nextFrame(ms: number = WAIT_MS): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const next = this.#frames.shift();
      if (next !== undefined) return next;
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#ended !== undefined) {
        throw new Error(`Cannot read a frame: the socket ended (${this.#ended})`);
      }
      const arrived = new Promise<void>((resolve) => this.#frameWaiter = resolve);
      await withTimeout(arrived, Math.max(0, deadline - Date.now()), "a frame from the server").finally(
        () => {
          this.#frameWaiter = undefined;
        },
      );
    }
  }

  /**
   * Reads frames up to and including the next close frame.
   *
   * @param ms The bound.
   * @returns The close frame's content and what came before it.
   */
  async closeFrame(ms: number = WAIT_MS): Promise<ReceivedClose> {
    const deadline = Date.now() + ms;
    const before: Frame[] = [];
    for (;;) {
      const next = await this.nextFrame(Math.max(0, deadline - Date.now()));
      if (next.opcode !== 0x8) {
        before.push(next);
        continue;
      }
      const payload = next.payload.slice();
      const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
      const reason = new TextDecoder().decode(payload.subarray(2));
      return { code, reason, payload, before };
    }
  }

  /**
   * Waits for the server to end the TCP connection.
   *
   * @param ms The bound.
   * @returns How it ended.
   */
  waitEnd(ms: number = WAIT_MS): Promise<SocketEnd> {
    if (this.#ended !== undefined) return Promise.resolve(this.#ended);
    return withTimeout(
      new Promise((resolve) => this.#endWaiters.push(resolve)),
      ms,
      "the server to end the socket",
    );
  }

  /**
   * Writes bytes without waiting for the socket to take them (for floods that must outrun the peer).
   *
   * @param bytes What to send.
   * @returns `false` when the socket's user-space buffer is over its high-water mark (`socket.write`'s answer).
   */
  writeNow(bytes: Uint8Array): boolean {
    return this.#socket.write(bytes);
  }

  /** Bytes written and not yet handed to the kernel (the socket's `writableLength`). */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  /** Stops reading from the socket: the kernel buffers fill and TCP pushes back on the server. */
  pauseReading(): void {
    this.#socket.pause();
  }

  /** Reads from the socket again. */
  resumeReading(): void {
    this.#socket.resume();
  }

  /** Destroys the socket (safe to call twice). */
  destroy(): void {
    this.#socket.destroy();
  }

  #receive(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.#failure !== undefined) return;
    this.#parser.push(chunk);
    try {
      for (let f = this.#parser.next(); f !== undefined; f = this.#parser.next()) {
        this.#frames.push({ ...f, payload: f.payload.slice() });
      }
    } catch (error) {
      this.#failure = new Error(`The server sent an invalid frame: ${(error as Error).message}`);
    }
    this.#frameWaiter?.();
  }

  #end(how: SocketEnd): void {
    if (this.#ended !== undefined) return;
    this.#ended = how;
    for (const resolve of this.#endWaiters.splice(0)) resolve(how);
    this.#frameWaiter?.();
  }
}

/** An HTTP response read to its end. */
export interface HttpResponse {
  /** The status code. */
  status: number;
  /** The headers. */
  headers: Headers;
  /** The body, as text. */
  body: string;
}

/**
 * Sends a raw HTTP request and reads the response head and a `content-length` body.
 *
 * @param port The server's port on 127.0.0.1.
 * @param request The whole request, head and blank line included.
 * @returns The response.
 */
export async function httpExchange(port: number, request: string): Promise<HttpResponse> {
  const socket = await openSocket(port);
  try {
    socket.write(utf8(request));
    const { status, headers, rest } = await withTimeout(readHead(socket), WAIT_MS, "an HTTP response head");
    const length = Number(headers.get("content-length") ?? "0");
    const chunks = [rest];
    let received = rest.length;
    if (received < length) {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.on("data", (chunk: Uint8Array) => {
            chunks.push(new Uint8Array(chunk));
            received += chunk.length;
            if (received >= length) resolve();
          });
          socket.on("end", () => resolve());
          socket.on("error", reject);
          socket.resume();
        }),
        WAIT_MS,
        "an HTTP response body",
      );
    }
    const body = new TextDecoder().decode(concatBytes(chunks).subarray(0, length));
    return { status, headers, body };
  } finally {
    socket.destroy();
  }
}

function openSocket(port: number): Promise<Socket> {
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.setNoDelay(true);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(socket);
      });
      socket.once("error", reject);
    }),
    WAIT_MS,
    `connecting to 127.0.0.1:${port}`,
  );
}

/**
 * Reads up to the blank line ending a response head; what follows it is returned as `rest`. Leaves the
 * socket paused: the caller resumes it once its own `data` listener is attached.
 */
function readHead(socket: Socket): Promise<{ status: number; headers: Headers; rest: Uint8Array }> {
  return new Promise((resolve, reject) => {
    let buffered: Uint8Array = new Uint8Array(0);
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
    };
    const onData = (chunk: Uint8Array) => {
      buffered = concatBytes([buffered, new Uint8Array(chunk)]);
      const end = indexOfBlankLine(buffered);
      if (end === -1) return;
      cleanup();
      // Stop the flow until the caller attaches its own listener and resumes, so no byte is lost.
      socket.pause();
      const lines = new TextDecoder().decode(buffered.subarray(0, end)).split("\r\n");
      const status = Number(lines[0].split(" ")[1]);
      const headers = new Headers();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      resolve({ status, headers, rest: buffered.slice(end + 4) });
    };
    const onEnd = () => {
      cleanup();
      reject(new Error("The socket ended before the response head"));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
  });
}

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}
