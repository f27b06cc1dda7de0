/**
 * The fan-out servers bench/fanout_bench.ts compares, each started in its own process: how to start one
 * for a compression setting, and the running process (its URL, `config` and `counters` lines, stop).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import process from "node:process";
import { bun } from "../echo/servers.ts";

const deno = Deno.execPath();

/** A server to start. */
export interface FanoutServer {
  name: string;
  /** What the load client speaks to it. */
  protocol: "ws" | "socketio";
  /** It prints `counters {json}` on SIGUSR2 (only those get the signal: it ends the others). */
  counters: boolean;
  /** The command for a compression setting, or why it does not run with that setting. */
  command(deflate: boolean): [string, string[]] | string;
}

const d = (deflate: boolean) => (deflate ? "1" : "0");

/** Every server, `ws` (the reference peer) first. */
export const FANOUT_SERVERS: FanoutServer[] = [
  {
    name: "ws on Node",
    protocol: "ws",
    counters: false,
    command: (on) => ["node", ["bench/fanout/ws_server.mjs", "0", d(on)]],
  },
  {
    name: "socket.io on Node",
    protocol: "socketio",
    counters: false,
    command: (on) => ["node", ["bench/fanout/socketio_server.mjs", "0", d(on)]],
  },
  {
    name: "Bun.serve (native)",
    protocol: "ws",
    counters: false,
    command: (on) => [bun, ["bench/fanout/bun_native.ts", "0", d(on)]],
  },
  {
    name: "Bun.serve (native; dedicated compressor)",
    protocol: "ws",
    counters: false,
    command: (on) =>
      on
        ? [bun, ["bench/fanout/bun_native.ts", "0", "dedicated"]]
        : "the same as Bun.serve (native) without compression",
  },
  {
    name: "Deno.serve (native)",
    protocol: "ws",
    counters: false,
    command: (on) =>
      on
        ? "Deno never negotiates permessage-deflate"
        : [deno, ["run", "-A", "bench/fanout/deno_native.ts", "0"]],
  },
  {
    name: "ours: serve() on Bun",
    protocol: "ws",
    counters: true,
    command: (on) => [bun, ["bench/fanout/ours.ts", "0", d(on), "serve"]],
  },
  {
    name: "ours: serve() on Deno",
    protocol: "ws",
    counters: true,
    command: (on) => [deno, ["run", "-A", "bench/fanout/ours.ts", "0", d(on), "serve"]],
  },
  {
    name: "ours: listenDeno (Deno)",
    protocol: "ws",
    counters: true,
    command: (on) => [deno, ["run", "-A", "bench/fanout/ours.ts", "0", d(on), "listenDeno"]],
  },
  {
    name: "ours: listenBun (Bun)",
    protocol: "ws",
    counters: true,
    command: (on) => [bun, ["bench/fanout/ours.ts", "0", d(on), "listenBun"]],
  },
  {
    name: "ours: serve() on Node",
    protocol: "ws",
    counters: true,
    command: (on) =>
      existsSync("dist/lib/adapters/serve.js")
        ? ["node", ["--experimental-websocket", "bench/fanout/ours_node.mjs", "0", d(on)]]
        : "no build in dist/ (npm run build)",
  },
  {
    name: "ours: bunServe (Bun's engine)",
    protocol: "ws",
    counters: true,
    command: (on) => [bun, ["bench/fanout/ours.ts", "0", d(on), "bunServe"]],
  },
  {
    name: "ours: bunServe (native topics)",
    protocol: "ws",
    counters: true,
    command: (on) => [bun, ["bench/fanout/ours.ts", "0", d(on), "bunServeNative"]],
  },
];

/** The lib/ files changed since their build in dist/ (those without a build are not the build's). */
function changedSinceBuild(folder: string): string[] {
  const changed: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) changed.push(...changedSinceBuild(path));
    else if (entry.name.endsWith(".ts")) {
      const built = `dist/${path.slice(0, -3)}.js`;
      if (existsSync(built) && statSync(built).mtimeMs < statSync(path).mtimeMs) changed.push(path);
    }
  }
  return changed;
}

/** A warning when the build Node runs is older than lib/, or undefined. */
export function staleBuild(): string | undefined {
  if (!existsSync("dist/lib/adapters/serve.js")) return undefined;
  const changed = changedSinceBuild("lib");
  return changed.length > 0
    ? `dist/ is older than ${
      changed.join(", ")
    }: ours on Node ran the build, not the current source (npm run build)`
    : undefined;
}

/** Every child this process started and has not seen end: killed if the bench is interrupted. */
export const children = new Set<ChildProcess>();

/**
 * Sends a signal to a child. Not `child.kill()`: Deno's node:child_process sends only the first signal of a
 * child (it marks the child killed), and a server gets SIGUSR2 many times, then SIGTERM, then SIGKILL.
 */
export function signal(child: ChildProcess, name: "SIGUSR2" | "SIGTERM" | "SIGKILL"): void {
  try {
    process.kill(child.pid!, name);
  } catch { /* it has ended */ }
}

/** A started server. */
export interface RunningServer {
  /** What it printed: ws://host:port/ (or http://host:port/ for socket.io). */
  url: string;
  pid: number;
  /** Its `config ...` lines. */
  config: string[];
  /** Asks for its counters (SIGUSR2) and waits for the line (at most 5 s); undefined if none came. */
  counters(): Promise<Record<string, number> | undefined>;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it has ended. */
  stop(): Promise<void>;
}

/**
 * Starts a server and waits for the URL it prints. Rejects with what it wrote to stderr if it ends first
 * or prints nothing within 20 s.
 */
export function startServer(name: string, command: string, args: string[]): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  exited.then(() => children.delete(child));
  const config: string[] = [];
  let waiting: ((counters: Record<string, number> | undefined) => void) | undefined;
  let stderr = "", started = false, out = "";
  child.stderr!.on("data", (chunk) => {
    if (!started) stderr += chunk;
    else process.stderr.write(String(chunk).replace(/^(?=.)/gm, `[${name}] `));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      signal(child, "SIGTERM");
      const timer = setTimeout(() => signal(child, "SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
  };
  return new Promise<RunningServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`printed no URL within 20 s: ${stderr.trim().split("\n").slice(-3).join(" / ")}`));
    }, 20_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      waiting?.(undefined);
      if (started) return;
      const why = stderr.trim().split("\n").filter((line) => line.trim() !== "").slice(-3).join(" / ");
      reject(new Error(`exited (${signal ?? code}) before printing its URL${why ? `: ${why}` : ""}`));
    });
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      let newline;
      while ((newline = out.indexOf("\n")) !== -1) {
        const line = out.slice(0, newline).trim();
        out = out.slice(newline + 1);
        if (line.startsWith("counters ")) {
          try {
            waiting?.(JSON.parse(line.slice("counters ".length)));
          } catch {
            waiting?.(undefined);
          }
          waiting = undefined;
        } else if (line.startsWith("config ")) {
          config.push(line.slice("config ".length));
        } else if (!started && /^(ws|http):\/\/[^\s/]+:\d+\/$/.test(line)) {
          started = true;
          clearTimeout(timer);
          resolve({
            url: line,
            pid: child.pid!,
            config,
            counters: () =>
              new Promise((resolve) => {
                if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined);
                const timer = setTimeout(() => {
                  waiting = undefined;
                  resolve(undefined);
                }, 5000);
                waiting = (counters) => {
                  clearTimeout(timer);
                  resolve(counters);
                };
                signal(child, "SIGUSR2");
              }),
            stop,
          });
        }
      }
    });
  });
}
