/**
 * The fuzzing client: plays Autobahn's fuzzingclient against a WebSocket server. For each case it opens a
 * raw TCP connection, does the opening handshake itself (offering the case's permessage-deflate
 * parameters), sends the case's masked frames with their timing, watches what comes back and judges the
 * case OK, NON-STRICT or FAILED.
 *
 * ```sh
 * deno run -A conformance/fuzzing_client.ts ws://127.0.0.1:9001 [--cases 1.*,5.*] [--concurrency 4] [--time-scale 1]
 * bun conformance/fuzzing_client.ts ws://127.0.0.1:9001
 * ```
 *
 * Prints one line per case and `conformance: N OK, M NON-STRICT, K FAILED`; exits 1 if any case FAILED.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import process from "node:process";
import { type ConformanceCase, selectCases } from "./cases.ts";
import { clientNegotiate, DeflateState } from "./_deflate.ts";
import { acceptKey, hasToken, readHead } from "./_http.ts";
import { formatResult, parseArgs, runCases, type RunOptions, type Summary } from "./_runner.ts";
import { type CaseResult, failedResult, runSession } from "./_session.ts";

export type { CaseResult } from "./_session.ts";
export type { RunOptions, Summary } from "./_runner.ts";

const HANDSHAKE_MS = 5000;

/**
 * Runs the cases against a server.
 *
 * @param url The server's `ws://` URL (each case connects to it as is).
 * @param options Which cases, how many at once, the time scale, a per-result callback.
 * @returns The summary.
 * @example
 * ```ts ignore
 * import { runFuzzingClient } from "./fuzzing_client.ts";
 * const summary = await runFuzzingClient("ws://127.0.0.1:9001/", { cases: ["1.*"] });
 * console.log(summary.line);
 * ```
 */
export function runFuzzingClient(url: string | URL, options: RunOptions = {}): Promise<Summary> {
  const target = new URL(url);
  if (target.protocol !== "ws:") {
    throw new SyntaxError(`Cannot run the fuzzing client: only ws: URLs are supported: ${url}`);
  }
  const cases = selectCases(options.cases);
  return runCases(
    cases,
    options.concurrency ?? 4,
    (c) => runCase(target, c, options.timeScale ?? 1),
    options.onResult,
  );
}

async function runCase(target: URL, testCase: ConformanceCase, timeScale: number): Promise<CaseResult> {
  const started = performance.now();
  const socket = connect({
    host: target.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(target.port || 80),
  });
  socket.setNoDelay(true);
  socket.on("error", () => {}); // reported through the session or the handshake
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no connection within ${HANDSHAKE_MS} ms`)),
        HANDSHAKE_MS,
      );
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } catch (error) {
    socket.destroy();
    return failedResult(testCase.id, `cannot connect: ${(error as Error).message}`, started);
  }
  const key = randomBytes(16).toString("base64");
  const lines = [
    `GET ${target.pathname}${target.search} HTTP/1.1`,
    `Host: ${target.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    "User-Agent: wsengine-conformance",
  ];
  if (testCase.deflate !== undefined) lines.push(`Sec-WebSocket-Extensions: ${testCase.deflate.offer}`);
  socket.write(lines.join("\r\n") + "\r\n\r\n");
  let deflate: DeflateState | undefined;
  let rest: Uint8Array;
  try {
    const { head, rest: after } = await readHead(socket, HANDSHAKE_MS);
    rest = after;
    const problem = checkResponse(head.startLine, head.headers, key);
    if (problem !== undefined) throw new Error(problem);
    const extensions = head.headers.get("sec-websocket-extensions");
    if (testCase.deflate !== undefined) {
      const params = clientNegotiate(testCase.deflate.offer, extensions ?? null);
      if (typeof params === "string") throw new Error(params);
      deflate = new DeflateState(params);
    } else if (extensions !== undefined && extensions.trim() !== "") {
      throw new Error(`the server accepted extensions that were not offered: ${extensions}`);
    }
  } catch (error) {
    socket.destroy();
    return failedResult(testCase.id, `opening handshake: ${(error as Error).message}`, started);
  }
  return await runSession(socket, testCase, { role: "client", timeScale, deflate, head: rest, started });
}

/** §4.1, the client's checks of the server's answer (points 1-6). Returns what is wrong, if anything. */
function checkResponse(statusLine: string, headers: Map<string, string>, key: string): string | undefined {
  if (!/^HTTP\/1\.1 101(?: |$)/.test(statusLine)) return `expected 101, got: ${statusLine}`;
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    return `the Upgrade header is not websocket: ${headers.get("upgrade")}`;
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    return `the Connection header lacks upgrade: ${headers.get("connection")}`;
  }
  if (headers.get("sec-websocket-accept") !== acceptKey(key)) {
    return `wrong Sec-WebSocket-Accept: ${headers.get("sec-websocket-accept")}`;
  }
  if (headers.has("sec-websocket-protocol")) return "the server chose a subprotocol that was not offered";
  return undefined;
}

async function main(): Promise<void> {
  let options;
  try {
    options = parseArgs();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  const url = options.positional[0];
  if (url === undefined) {
    console.error(
      "Usage: fuzzing_client.ts ws://HOST:PORT[/path] [--cases 1.*,5.*] [--concurrency N] [--time-scale X]",
    );
    process.exit(2);
  }
  const summary = await runFuzzingClient(url, {
    ...options,
    onResult: (result) => console.log(formatResult(result)),
  });
  console.log(summary.line);
  process.exit(summary.failed > 0 ? 1 : 0);
}

if (import.meta.main) await main();
