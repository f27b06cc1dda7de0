/**
 * The fuzzing server: plays Autobahn's fuzzingserver for a WebSocket client. A client connects to
 * `ws://HOST:PORT/case/<id>` (e.g. `/case/1.1.1`) and echoes every message it gets; the server does the
 * opening handshake itself (answering permessage-deflate offers by the case's rules), sends the case's
 * unmasked frames with their timing, and judges what the client does.
 *
 * ```sh
 * deno run -A conformance/fuzzing_server.ts [--port 9001] [--time-scale 1]
 * ```
 *
 * Standalone, it prints one line per finished case. `run_client_cases.ts` drives our own client against it.
 *
 * @module
 */

import { type AddressInfo, createServer, type Socket } from "node:net";
import process from "node:process";
import { CASES, type ConformanceCase } from "./cases.ts";
import { DeflateState, serverAccept } from "./_deflate.ts";
import { acceptKey, hasToken, readHead } from "./_http.ts";
import { formatResult, parseArgs } from "./_runner.ts";
import { type CaseResult, failedResult, runSession } from "./_session.ts";

export type { CaseResult } from "./_session.ts";

/** Options for {@linkcode startFuzzingServer}. */
export interface FuzzingServerOptions {
  /** The address to listen on (loopback unless told otherwise). @default {"127.0.0.1"} */
  host?: string;
  /** The port; 0 picks a free one. @default {0} */
  port?: number;
  /** Factor on the cases' waits and timers. @default {1} */
  timeScale?: number;
  /** Called with each finished case. */
  onResult?: (result: CaseResult) => void;
}

/** A running fuzzing server. */
export interface FuzzingServer {
  /** The port it listens on. */
  readonly port: number;
  /** `ws://HOST:PORT/`; a case is at `${url}case/<id>`. */
  readonly url: string;
  /**
   * The next result of a case, in the order its connections finish; a `FAILED` result if none comes in
   * time.
   *
   * @param id The case number.
   * @param ms The bound.
   */
  result(id: string, ms?: number): Promise<CaseResult>;
  /** Drops every connection and stops listening. */
  close(): Promise<void>;
}

const HANDSHAKE_MS = 5000;

/**
 * Starts a fuzzing server.
 *
 * @param options Address, port, time scale and a per-result callback.
 * @returns The running server.
 * @example
 * ```ts ignore
 * import { startFuzzingServer } from "./fuzzing_server.ts";
 * const server = await startFuzzingServer();
 * // connect a client to `${server.url}case/1.1.1`, then:
 * console.log((await server.result("1.1.1")).verdict);
 * await server.close();
 * ```
 */
export async function startFuzzingServer(options: FuzzingServerOptions = {}): Promise<FuzzingServer> {
  const byId = new Map(CASES.map((c) => [c.id, c]));
  const done = new Map<string, CaseResult[]>();
  const waiting = new Map<string, ((result: CaseResult) => void)[]>();
  const sockets = new Set<Socket>();
  const deliver = (result: CaseResult) => {
    options.onResult?.(result);
    const waiter = waiting.get(result.id)?.shift();
    if (waiter !== undefined) waiter(result);
    else done.set(result.id, [...(done.get(result.id) ?? []), result]);
  };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {}); // reported through the session
    socket.setNoDelay(true);
    serve(socket, byId, options.timeScale ?? 1).then((result) => {
      if (result !== undefined) deliver(result);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    port: address.port,
    url: `ws://${host}:${address.port}/`,
    result(id, ms = 60_000) {
      const ready = done.get(id)?.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      const started = performance.now();
      return new Promise<CaseResult>((resolve) => {
        const timer = setTimeout(() => {
          const list = waiting.get(id) ?? [];
          list.splice(list.indexOf(finish), 1);
          resolve(failedResult(id, `no connection for case ${id} finished within ${ms} ms`, started));
        }, ms);
        const finish = (result: CaseResult) => {
          clearTimeout(timer);
          resolve(result);
        };
        waiting.set(id, [...(waiting.get(id) ?? []), finish]);
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One connection: handshake, then the case. Resolves with no result for a request that names no case. */
async function serve(
  socket: Socket,
  byId: Map<string, ConformanceCase>,
  timeScale: number,
): Promise<CaseResult | undefined> {
  const started = performance.now();
  let head, rest;
  try {
    ({ head, rest } = await readHead(socket, HANDSHAKE_MS));
  } catch {
    socket.destroy();
    return undefined;
  }
  const match = /^GET \/case\/([0-9.]+)(?:\?\S*)? HTTP\/(1\.\d)$/.exec(head.startLine);
  const testCase = match === null ? undefined : byId.get(match[1]);
  if (match === null || testCase === undefined) {
    refuse(socket, 404, "Not Found", "Connect to /case/<id>, e.g. /case/1.1.1\n");
    return undefined;
  }
  const problem = checkRequest(match[2], head.headers);
  if (problem !== undefined) {
    refuse(socket, 400, "Bad Request", `${problem}\n`);
    return failedResult(testCase.id, `the client's opening handshake is invalid: ${problem}`, started);
  }
  const responseHeaders = [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${acceptKey(head.headers.get("sec-websocket-key")!)}`,
  ];
  let deflate: DeflateState | undefined;
  if (testCase.deflate !== undefined) {
    const accepted = serverAccept(
      head.headers.get("sec-websocket-extensions") ?? null,
      testCase.deflate.accept,
    );
    if (typeof accepted === "string") {
      refuse(socket, 400, "Bad Request", `${accepted}\n`);
      return failedResult(testCase.id, `permessage-deflate: ${accepted}`, started);
    }
    responseHeaders.push(`Sec-WebSocket-Extensions: ${accepted.response}`);
    deflate = new DeflateState(accepted.params);
  }
  socket.write(responseHeaders.join("\r\n") + "\r\n\r\n");
  return await runSession(socket, testCase, { role: "server", timeScale, deflate, head: rest, started });
}

/** §4.2.1: the server's checks of the client's request. Returns what is wrong, if anything. */
function checkRequest(version: string, headers: Map<string, string>): string | undefined {
  if (version !== "1.1") return `HTTP/${version} is not HTTP/1.1`;
  if (!headers.has("host")) return "the Host header is missing";
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    return `the Upgrade header is not websocket: ${headers.get("upgrade")}`;
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    return `the Connection header lacks upgrade: ${headers.get("connection")}`;
  }
  if (headers.get("sec-websocket-version") !== "13") {
    return `Sec-WebSocket-Version is not 13: ${headers.get("sec-websocket-version")}`;
  }
  const key = headers.get("sec-websocket-key") ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) return `Sec-WebSocket-Key is not 16 bytes in base64: ${key}`;
  return undefined;
}

function refuse(socket: Socket, status: number, text: string, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

async function main(): Promise<void> {
  const options = parseArgs();
  const server = await startFuzzingServer({
    port: options.port ?? 9001,
    timeScale: options.timeScale,
    onResult: (result) => console.log(formatResult(result)),
  });
  console.log(
    `Fuzzing server on ${server.url}case/<id> (${CASES.length} cases, ${CASES[0].id} to ${CASES.at(-1)!.id})`,
  );
  process.on("SIGINT", () => server.close().then(() => process.exit(0)));
}

if (import.meta.main) await main();
