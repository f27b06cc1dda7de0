/**
 * The echo servers the benchmarks compare, each started in its own process (bench/echo_bench.ts,
 * bench/connections_memory.ts), and what they measure about them from /proc.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const deno = Deno.execPath();
/** The project's Bun (npm installs it). */
export const bun = "node_modules/.bin/bun";

/** A server to start, for a compression setting. */
export interface ServerSpec {
  name: string;
  /** The command for a compression setting, or undefined when the server cannot compress. */
  command(deflate: boolean): [string, string[]] | undefined;
}

const d = (deflate: boolean) => (deflate ? "1" : "0");
/** How long Bun's allocator keeps freed memory before it returns it to the OS (its default: 100 ms). */
const PURGE_DELAY = "MIMALLOC_PURGE_DELAY=1000";
// `serve` runs on the raw listeners by default on Deno and Bun: these rows are node:http's.
const cli = (
  on: boolean,
) => ["serve", "--port", "0", "--engine", "node-http", ...(on ? [] : ["--no-deflate"])];

/** Every server; peers in their best compressing configuration (stated in each file). */
export const SERVERS: ServerSpec[] = [
  {
    name: "ours: listenDeno (Deno)",
    command: (on) => [deno, ["run", "-A", "bench/echo/ours_deno_listen.ts", "0", d(on)]],
  },
  {
    name: "ours: listenDeno (Deno; text as strings)",
    command: (on) => [deno, ["run", "-A", "bench/echo/ours_deno_listen.ts", "0", d(on), "strings"]],
  },
  { name: "ours: node:http on Deno", command: (on) => [deno, ["run", "-A", "cli.ts", ...cli(on)]] },
  { name: "ours: node:http on Bun", command: (on) => [bun, ["cli.ts", ...cli(on)]] },
  // Node 20 runs the build (`npm run build`), when there is one.
  ...(existsSync("dist/cli.js")
    ? [{
      name: "ours: node:http on Node",
      command: (on: boolean) => ["node", ["dist/cli.js", ...cli(on)]] as [string, string[]],
    }]
    : []),
  { name: "ours: listenBun (Bun)", command: (on) => [bun, ["bench/echo/ours_bun_listen.ts", "0", d(on)]] },
  // Bun's allocator (its fork of mimalloc) hands freed memory back to the OS 100 ms after it was freed;
  // Bun.listen copies every read (up to 512 KiB) into a new buffer, so at 1 MiB most of those take fresh
  // pages. These rows keep freed memory 1 s (README, "listenBun and large messages"). `env` execs Bun: the
  // pid measured is Bun's.
  {
    name: "ours: listenBun (Bun; MIMALLOC_PURGE_DELAY=1000)",
    command: (on) => ["env", [PURGE_DELAY, bun, "bench/echo/ours_bun_listen.ts", "0", d(on)]],
  },
  {
    name: "ours: bunServe (Bun's engine)",
    command: (on) => [bun, ["bench/echo/ours_bun_serve.ts", "0", d(on)]],
  },
  { name: "ws on Node", command: (on) => ["node", ["bench/echo/ws_server.mjs", "0", d(on)]] },
  { name: "Bun.serve (native)", command: (on) => [bun, ["bench/echo/bun_native.ts", "0", d(on)]] },
  {
    name: "Bun.serve (native; MIMALLOC_PURGE_DELAY=1000)",
    command: (on) => ["env", [PURGE_DELAY, bun, "bench/echo/bun_native.ts", "0", d(on)]],
  },
  {
    name: "Bun.serve (native; dedicated compressor)",
    command: (on) => (on ? [bun, ["bench/echo/bun_native.ts", "0", "dedicated"]] : undefined),
  },
  {
    name: "Deno.serve (native)",
    command: (on) => (on ? undefined : [deno, ["run", "-A", "bench/echo/deno_native.ts", "0"]]),
  },
];

/** Server CPU time (user + system) in microseconds, from /proc (clock ticks of 10 ms on Linux). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Minor page faults of a process so far (pages it touched that the kernel had to map), from /proc. */
export function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

/** Resident set size in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : NaN;
}

/** Starts a server and waits for the `ws://host:port/` line it prints. */
export async function startServer(
  command: string,
  args: string[],
): Promise<{ url: string; pid: number; stop(): void }> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(
      () => reject(new Error(`${command} ${args.join(" ")} printed no URL: ${out}`)),
      15_000,
    );
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const match = /ws:\/\/[^\s/]+:\d+\//.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    });
    child.on("exit", (code) => reject(new Error(`${command} exited with ${code}`)));
  });
  return { url, pid: child.pid!, stop: () => child.kill() };
}
