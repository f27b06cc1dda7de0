/**
 * Echo over loopback, side by side: this library's servers (Deno.listen; node:http on Deno and on Bun)
 * against `ws` on Node, Bun.serve's and Deno.serve's own WebSockets, with compression off and on. One load
 * client process (Bun's built-in WebSocket, bench/echo/load_client.ts). Each server runs in its own
 * process; its CPU time comes from /proc. Prints a markdown table of medians (msgs/s, MB/s, server CPU
 * microseconds per message, round-trip p50/p99) with the spread and the ratio to `ws` in the same run.
 *
 *   deno run -A bench/echo_bench.ts [--sizes 64,1024,16384,1048576] [--connections 1,100] [--seconds 2]
 *     [--repeats 3] [--kinds text,binary] [--compression off,on] [--servers name,...]
 *
 * @module
 */

import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const list = (value: string) => value.split(",").map((v) => v.trim()).filter(Boolean);

const sizes = list(arg("sizes", "64,1024,16384,1048576")).map(Number);
const connectionCounts = list(arg("connections", "1,100")).map(Number);
const seconds = Number(arg("seconds", "2"));
const repeats = Number(arg("repeats", "3"));
const kinds = list(arg("kinds", "text"));
const compressions = list(arg("compression", "off,on"));
const deno = Deno.execPath();
const bun = "node_modules/.bin/bun";

interface ServerSpec {
  name: string;
  /** The command for a compression setting, or undefined when the server cannot compress. */
  command(deflate: boolean): [string, string[]] | undefined;
}

const d = (deflate: boolean) => (deflate ? "1" : "0");
const SERVERS: ServerSpec[] = [
  { name: "ours: listenDeno (Deno)", command: (on) => [deno, ["run", "-A", "bench/echo/ours_deno_listen.ts", "0", d(on)]] },
  {
    name: "ours: node:http on Deno",
    command: (on) => [deno, ["run", "-A", "cli.ts", "serve", "--port", "0", ...(on ? [] : ["--no-deflate"])]],
  },
  { name: "ours: node:http on Bun", command: (on) => [bun, ["cli.ts", "serve", "--port", "0", ...(on ? [] : ["--no-deflate"])]] },
  { name: "ws on Node", command: (on) => ["node", ["bench/echo/ws_server.mjs", "0", d(on)]] },
  { name: "Bun.serve (native)", command: (on) => [bun, ["bench/echo/bun_native.ts", "0", d(on)]] },
  { name: "Deno.serve (native)", command: (on) => (on ? undefined : [deno, ["run", "-A", "bench/echo/deno_native.ts", "0"]]) },
];
const selected = list(arg("servers", SERVERS.map((s) => s.name).join(",")));

/** Server CPU time (user + system) in microseconds, from /proc (clock ticks of 10 ms on Linux). */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function startServer(command: string, args: string[]): Promise<{ url: string; pid: number; stop(): void }> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${command} ${args.join(" ")} printed no URL: ${out}`)), 15_000);
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

interface Sample {
  messagesPerSecond: number;
  cpuMicrosPerMessage: number;
  p50us: number;
  p99us: number;
  extensions: string;
}

function runClient(url: string, size: number, connections: number, compress: boolean, kind: string): Promise<
  { messages: number; seconds: number; p50us: number; p99us: number; extensions: string }
> {
  // A bounded number in flight: 100 on one connection, 4 each on many; fewer for 1 MiB messages.
  const window = Math.min(connections === 1 ? 100 : 4, size >= 1 << 20 ? 4 : Infinity);
  const args = ["bench/echo/load_client.ts", url, String(size), String(connections), String(window), String(seconds), compress ? "1" : "0", kind];
  return new Promise((resolve, reject) => {
    const child = spawn(bun, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (chunk) => out += chunk);
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error("the load client did not finish"));
    }, (seconds + 30) * 1000);
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

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const spread = (values: number[]) => {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
};

const rows: { server: string; compression: string; kind: string; size: number; connections: number; samples: Sample[] }[] = [];
for (const compression of compressions) {
  const on = compression === "on";
  for (const spec of SERVERS.filter((s) => selected.includes(s.name))) {
    const command = spec.command(on);
    if (command === undefined) continue;
    const server = await startServer(command[0], command[1]);
    try {
      for (const kind of kinds) {
        for (const size of sizes) {
          for (const connections of connectionCounts) {
            const samples: Sample[] = [];
            for (let r = 0; r < repeats; r++) {
              const before = cpuMicros(server.pid);
              const result = await runClient(server.url, size, connections, on, kind);
              const cpu = cpuMicros(server.pid) - before;
              samples.push({
                messagesPerSecond: result.messages / result.seconds,
                cpuMicrosPerMessage: result.messages === 0 ? NaN : cpu / result.messages,
                p50us: result.p50us,
                p99us: result.p99us,
                extensions: result.extensions,
              });
            }
            rows.push({ server: spec.name, compression, kind, size, connections, samples });
            console.error(`${spec.name} ${compression} ${kind} ${size} B x${connections}: ${median(samples.map((s) => s.messagesPerSecond)).toFixed(0)} msgs/s`);
          }
        }
      }
    } finally {
      server.stop();
    }
  }
}

// process.versions.node under Deno is Deno's compatibility level: ask the node binary that runs ws.
const nodeVersion = execFileSync("node", ["--version"], { encoding: "utf8" }).trim();
const bunVersion = execFileSync(bun, ["--version"], { encoding: "utf8" }).trim();
const runtime = `Deno ${Deno.version.deno}, Bun ${bunVersion} (load client and Bun servers), Node ${nodeVersion} (ws)`;
console.log(`# Echo over loopback: ${runtime}`);
console.log("");
console.log(`Command: deno run -A bench/echo_bench.ts ${process.argv.slice(2).join(" ")}`.trim());
console.log(`Each cell: median of ${repeats} runs of ${seconds} s; spread = (max - min) / median of msgs/s.`);
console.log("");
console.log("| server | compression | payload | size | conns | msgs/s | MB/s | spread | server CPU us/msg | p50 us | p99 us | vs ws | extensions |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const row of rows) {
  const rate = median(row.samples.map((s) => s.messagesPerSecond));
  const ws = rows.find((r) => r.server === "ws on Node" && r.compression === row.compression && r.kind === row.kind && r.size === row.size && r.connections === row.connections);
  const wsRate = ws === undefined ? NaN : median(ws.samples.map((s) => s.messagesPerSecond));
  console.log(
    `| ${row.server} | ${row.compression} | ${row.kind} | ${row.size} | ${row.connections} | ${rate.toFixed(0)} | ` +
      `${(rate * row.size / 1e6).toFixed(1)} | ${(spread(row.samples.map((s) => s.messagesPerSecond)) * 100).toFixed(0)}% | ` +
      `${median(row.samples.map((s) => s.cpuMicrosPerMessage)).toFixed(1)} | ${median(row.samples.map((s) => s.p50us))} | ` +
      `${median(row.samples.map((s) => s.p99us))} | ${Number.isNaN(wsRate) ? "-" : (rate / wsRate).toFixed(2) + "x"} | ${row.samples[0].extensions || "-"} |`,
  );
}
