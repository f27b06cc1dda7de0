/**
 * Runs bench/echo/load_client.ts (Bun's WebSocket) against a server and returns what it printed: the one
 * way the benchmarks start their load.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { bun } from "./servers.ts";

/** What the load client prints: messages echoed, elapsed seconds, round-trip quantiles, extensions. */
export interface LoadClientResult {
  messages: number;
  seconds: number;
  p50us: number;
  p99us: number;
  extensions: string;
}

/** The load: how many sockets, how many messages in flight on each, for how long, what kind of payload. */
export interface Load {
  size: number;
  connections: number;
  window: number;
  /** Seconds to run; a negative -N sends exactly N messages on each connection instead. */
  seconds: number;
  compress: boolean;
  kind: string;
}

/**
 * The echo bench's messages in flight per connection: 100 on one connection, 4 each on many, 4 at most for
 * 1 MiB messages.
 *
 * @param size Message size in bytes.
 * @param connections How many connections.
 * @returns The window.
 */
export function echoWindow(size: number, connections: number): number {
  return Math.min(connections === 1 ? 100 : 4, size >= 1 << 20 ? 4 : Infinity);
}

/**
 * Runs the load client to its end (bounded: killed a minute after its time).
 *
 * @param url The server's `ws://` URL.
 * @param load The load.
 * @returns The client's result line.
 */
export function runLoadClient(url: string, load: Load): Promise<LoadClientResult> {
  const { size, connections, window, seconds, compress, kind } = load;
  const args = [
    "bench/echo/load_client.ts",
    url,
    String(size),
    String(connections),
    String(window),
    String(seconds),
    compress ? "1" : "0",
    kind,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(bun, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (chunk) => out += chunk);
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error("the load client did not finish"));
    }, (Math.abs(seconds) + 60) * 1000);
    child.on("exit", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split("\n").at(-1)!));
      } catch {
        reject(new Error(`the load client printed no result: ${out}`));
      }
    });
  });
}
