/**
 * What the stream hops cost: the same echo served by the public TransformStream pipeline
 * (examples/stream_server.ts: FrameDecoderStream → MessageAssemblerStream → MessageFragmenterStream →
 * FrameEncoderStream, permessage-deflate through their `extensions` option) and by `Connection`
 * (examples/echo_server.ts), both over node:net sockets, each in its own process, on Deno and on Bun. One
 * load client (Bun's built-in WebSocket, bench/echo/load_client.ts): one connection, 16 messages in flight.
 * Prints a markdown table of medians: messages/s, MB/s, server CPU microseconds per message (from /proc)
 * and the stream pipeline's CPU per message over Connection's in the same run.
 *
 *   deno run -A bench/stream_pipeline_bench.ts [--sizes 64,16384,1048576] [--seconds 2] [--repeats 3]
 *     [--compression off,on] [--runtimes deno,bun] [--window 16]
 *
 * @module
 */

import process from "node:process";
import { bun, cpuMicros, startServer } from "./echo/servers.ts";
import { type LoadClientResult, runLoadClient } from "./echo/run_load_client.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const list = (value: string) => value.split(",").map((v) => v.trim()).filter(Boolean);

const sizes = list(arg("sizes", "64,16384,1048576")).map(Number);
const seconds = Number(arg("seconds", "2"));
const repeats = Number(arg("repeats", "3"));
const compressions = list(arg("compression", "off,on"));
const runtimes = list(arg("runtimes", "deno,bun"));
const window = Number(arg("window", "16"));
const deno = Deno.execPath();

interface Server {
  name: string;
  command(runtime: string, deflate: boolean): [string, string[]];
}

const run = (runtime: string, file: string, args: string[]): [string, string[]] =>
  runtime === "deno" ? [deno, ["run", "-A", file, ...args]] : [bun, [file, ...args]];

const SERVERS: Server[] = [
  {
    name: "Connection",
    // examples/echo_server.ts negotiates permessage-deflate when offered; "off" is the client not offering.
    command: (runtime) => run(runtime, "examples/echo_server.ts", ["--port", "0"]),
  },
  {
    name: "streams",
    command: (runtime) => run(runtime, "examples/stream_server.ts", ["--port", "0"]),
  },
];

function runClient(url: string, size: number, compress: boolean): Promise<LoadClientResult> {
  return runLoadClient(url, { size, connections: 1, window, seconds, compress, kind: "text" });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const spread = (values: number[]) => {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
};

interface Row {
  runtime: string;
  server: string;
  compression: string;
  size: number;
  rates: number[];
  cpu: number[];
  p50: number[];
  extensions: string;
}

const rows: Row[] = [];
for (const runtime of runtimes) {
  for (const compression of compressions) {
    const on = compression === "on";
    for (const size of sizes) {
      for (const server of SERVERS) {
        const [command, args] = server.command(runtime, on);
        const started = await startServer(command, args);
        const row: Row = { runtime, server: server.name, compression, size, rates: [], cpu: [], p50: [], extensions: "" };
        try {
          await runClient(started.url, size, on); // warm-up (JIT, codec instances)
          for (let i = 0; i < repeats; i++) {
            const before = cpuMicros(started.pid);
            const result = await runClient(started.url, size, on);
            const used = cpuMicros(started.pid) - before;
            if (on !== result.extensions.includes("permessage-deflate")) {
              throw new Error(`${server.name} on ${runtime}: extensions "${result.extensions}" with compression ${compression}`);
            }
            row.extensions = result.extensions;
            row.rates.push(result.messages / result.seconds);
            row.cpu.push(used / result.messages);
            row.p50.push(result.p50us);
          }
        } finally {
          started.stop();
        }
        rows.push(row);
        console.error(
          `${runtime} ${server.name} ${compression} ${size} B: ${Math.round(median(row.rates))} msgs/s, ` +
            `${median(row.cpu).toFixed(1)} µs CPU/msg`,
        );
      }
    }
  }
}

const human = (bytes: number) => bytes >= 1 << 20 ? `${bytes >> 20} MiB` : bytes >= 1024 ? `${bytes >> 10} KiB` : `${bytes} B`;
console.log(`\nEcho, one connection, ${window} messages in flight, text, ${seconds} s x ${repeats} (median, spread), server CPU from /proc.\n`);
console.log("| runtime | compression | size | server | msgs/s | MB/s | server CPU µs/msg | streams / Connection CPU | p50 µs |");
console.log("|---|---|---|---|---:|---:|---:|---:|---:|");
for (const row of rows) {
  const base = rows.find((r) => r.runtime === row.runtime && r.compression === row.compression && r.size === row.size && r.server === "Connection");
  const ratio = row.server === "Connection" || base === undefined ? "" : `${(median(row.cpu) / median(base.cpu)).toFixed(2)}x`;
  const rate = median(row.rates);
  console.log(
    `| ${row.runtime} | ${row.compression} | ${human(row.size)} | ${row.server} | ${Math.round(rate).toLocaleString("en-US")} (±${Math.round(spread(row.rates) * 50)}%) | ` +
      `${(rate * row.size / 1e6).toFixed(1)} | ${median(row.cpu).toFixed(1)} | ${ratio} | ${Math.round(median(row.p50))} |`,
  );
}
