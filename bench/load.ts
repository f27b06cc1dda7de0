/**
 * Load on loopback: many concurrent connections exchanging compressed chat-like messages with an echo
 * server running in its own process (`cli.ts serve`), for a bounded time. Every echo is checked against
 * what was sent (lost, corrupted, out of order). Reports messages/s and the server's RSS per connection
 * (from /proc).
 *
 *   deno run -A bench/load.ts [connections=1000] [seconds=5]      (or: bun bench/load.ts ...)
 *
 * @module
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { connectNode } from "../lib/adapters/node_client.ts";
import type { Connection } from "../lib/connection.ts";

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /** Concurrent connections. */
  connections: number;
  /** How long messages flow, in seconds. */
  seconds: number;
  /** Offer permessage-deflate. */
  deflate: boolean;
}

/** What {@linkcode runLoad} measured. */
export interface LoadResult {
  connections: number;
  messages: number;
  messagesPerSecond: number;
  lost: number;
  corrupted: number;
  negotiated: string;
  serverRssIdleKiB: number;
  serverRssPerConnectionIdleKiB: number;
  serverRssPerConnectionActiveKiB: number;
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : NaN;
}

function runtimeArgs(file: string, args: string[]): string[] {
  return "Deno" in globalThis ? ["run", "--allow-all", file, ...args] : [file, ...args];
}

/** Starts `cli.ts serve --port 0` in a child process of the current runtime. */
async function startServer(deflate: boolean): Promise<{ url: string; pid: number; stop: () => void }> {
  // From the Node build (dist-tests/bench/load.js) the CLI is the compiled cli.js next to it.
  const cli = new URL(import.meta.url.endsWith(".js") ? "../cli.js" : "../cli.ts", import.meta.url).pathname;
  const args = ["serve", "--port", "0", ...(deflate ? [] : ["--no-deflate"])];
  const child = spawn(process.execPath, runtimeArgs(cli, args), { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`The server printed no URL: ${out}`)), 10_000);
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const match = /ws:\/\/[^\s/]+:\d+\//.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    });
    child.on("exit", (code) => reject(new Error(`The server exited with ${code}`)));
  });
  return { url, pid: child.pid!, stop: () => child.kill() };
}

/** A chat-like message carrying its connection and sequence number, so any loss or mix-up is caught. */
function message(connection: number, sequence: number): string {
  return JSON.stringify({
    type: "message",
    room: `room-${connection % 20}`,
    user: `user-${connection}`,
    seq: sequence,
    text: `hello from ${connection}, message ${sequence}, how is everyone doing today?`,
  });
}

/**
 * Runs the load and returns what it measured.
 *
 * @param options Connections, duration and compression.
 * @returns The measurements.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const server = await startServer(options.deflate);
  const clients: Connection[] = [];
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const rssBefore = rssKiB(server.pid);
    let negotiated = "";
    // Connect in batches so the listen backlog is not the thing being measured.
    for (let start = 0; start < options.connections; start += 100) {
      const batch = [];
      for (let i = start; i < Math.min(options.connections, start + 100); i++) {
        batch.push(connectNode(server.url, { deflate: options.deflate ? {} : false, handshakeTimeout: 20_000 }));
      }
      for (const client of await Promise.all(batch)) {
        negotiated = client.extensions;
        clients.push(client.connection);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rssIdle = rssKiB(server.pid);
    let messages = 0, lost = 0, corrupted = 0, completed = 0;
    let running = true;
    let rssActive = rssIdle;
    const finished = clients.map((connection, index) =>
      new Promise<void>((resolve) => {
        let sequence = 0;
        let expected = "";
        connection.onmessage = (data) => {
          if (data !== expected) corrupted++;
          else messages++;
          if (!running) {
            expected = "";
            completed++;
            resolve();
            return;
          }
          expected = message(index, ++sequence);
          connection.send(expected).catch(() => {});
        };
        connection.closed.then(() => {
          if (expected !== "") lost++;
          resolve();
        });
        expected = message(index, sequence);
        connection.send(expected).catch(() => {});
      })
    );
    const started = performance.now();
    const sampler = setInterval(() => rssActive = Math.max(rssActive, rssKiB(server.pid)), 250);
    await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
    running = false;
    const elapsed = (performance.now() - started) / 1000;
    // Every connection has one message in flight: wait (bounded) for the last echoes.
    await Promise.race([Promise.all(finished), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    clearInterval(sampler);
    return {
      connections: clients.length,
      messages,
      messagesPerSecond: messages / elapsed,
      // A connection whose last message never came back (closed, or still waiting at the bound) lost it.
      lost: lost + (clients.length - completed - lost),
      corrupted,
      negotiated,
      serverRssIdleKiB: rssIdle,
      serverRssPerConnectionIdleKiB: (rssIdle - rssBefore) / clients.length,
      serverRssPerConnectionActiveKiB: (rssActive - rssBefore) / clients.length,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close(1000).catch(() => undefined)));
    server.stop();
  }
}

if (import.meta.main) {
  const connections = Number(process.argv[2] ?? 1000);
  const seconds = Number(process.argv[3] ?? 5);
  const runtime = "Deno" in globalThis ? "Deno" : "Bun" in globalThis ? "Bun" : "Node";
  console.log(`# Load on loopback, ${runtime} (client and server), ${connections} connections, ${seconds} s`);
  console.log("");
  console.log("| compression | connections | msgs/s | lost | corrupted | server RSS/conn idle | server RSS/conn active |");
  console.log("|---|---|---|---|---|---|---|");
  for (const deflate of [true, false]) {
    const r = await runLoad({ connections, seconds, deflate });
    console.log(
      `| ${deflate ? r.negotiated || "(declined)" : "off"} | ${r.connections} | ${r.messagesPerSecond.toFixed(0)} | ${r.lost} | ${r.corrupted} | ${r.serverRssPerConnectionIdleKiB.toFixed(1)} KiB | ${r.serverRssPerConnectionActiveKiB.toFixed(1)} KiB |`,
    );
  }
}
