/**
 * Page faults behind the 1 MiB echo on Bun: listenBun and Bun.serve, each with Bun's default allocator
 * settings and with `MIMALLOC_PURGE_DELAY=1000` (freed memory kept 1 s before it goes back to the OS; Bun's
 * default is 100 ms). Bun.listen copies each read (up to 512 KiB) into a new buffer; when the allocator has
 * just returned the memory of the buffers before, every 4 KiB of it is a page fault. Prints, per server and
 * cell, the median of the repeats: messages per second, server CPU and minor page faults per message, and
 * the server's RSS when the load stops and 2 s later.
 *
 *     deno run -A bench/bun_read_faults.ts [--sizes 1048576] [--connections 1,100] [--kinds binary,text]
 *       [--repeats 3] [--seconds 4] [--servers name,...]
 *
 * The load client is bench/echo/load_client.ts (Bun's WebSocket), as in bench/echo_bench.ts.
 *
 * @module
 */

import { cpuMicros, minorFaults, rssKiB, SERVERS, startServer } from "./echo/servers.ts";
import { echoWindow, runLoadClient } from "./echo/run_load_client.ts";

const DEFAULT_SERVERS = [
  "ours: listenBun (Bun)",
  "ours: listenBun (Bun; MIMALLOC_PURGE_DELAY=1000)",
  "Bun.serve (native)",
  "Bun.serve (native; MIMALLOC_PURGE_DELAY=1000)",
];

function arg(name: string, fallback: string): string {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? fallback : Deno.args[index + 1];
}
const list = (text: string) => text.split(",").map((s) => s.trim()).filter((s) => s !== "");
const sizes = list(arg("sizes", "1048576")).map(Number);
const connectionCounts = list(arg("connections", "1,100")).map(Number);
const kinds = list(arg("kinds", "binary,text"));
const repeats = Number(arg("repeats", "3"));
const seconds = Number(arg("seconds", "4"));
const names = list(arg("servers", DEFAULT_SERVERS.join(",")));
for (const name of names) {
  if (!SERVERS.some((s) => s.name === name)) throw new TypeError(`No server named ${JSON.stringify(name)}`);
}
if (!(repeats >= 1 && seconds > 0)) throw new RangeError("--repeats must be 1 or more and --seconds above 0");

interface Sample {
  rate: number;
  cpuPerMessage: number;
  faultsPerMessage: number;
  rssEnd: number;
  rssLater: number;
}

async function measure(name: string, size: number, connections: number, kind: string): Promise<Sample> {
  const [command, args] = SERVERS.find((s) => s.name === name)!.command(false)!;
  const server = await startServer(command, args);
  try {
    const cpu0 = cpuMicros(server.pid), faults0 = minorFaults(server.pid);
    const load = { size, connections, window: echoWindow(size, connections), seconds, compress: false, kind };
    const result = await runLoadClient(server.url, load);
    const cpu1 = cpuMicros(server.pid), faults1 = minorFaults(server.pid), rssEnd = rssKiB(server.pid);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const rssLater = rssKiB(server.pid);
    const messages = Math.max(1, result.messages);
    return {
      rate: result.messages / result.seconds,
      cpuPerMessage: (cpu1 - cpu0) / messages,
      faultsPerMessage: (faults1 - faults0) / messages,
      rssEnd,
      rssLater,
    };
  } finally {
    server.stop();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const rows: string[] = [];
for (const size of sizes) {
  for (const connections of connectionCounts) {
    for (const kind of kinds) {
      const samples = new Map<string, Sample[]>(names.map((name) => [name, []]));
      // Each repeat visits every server in turn, so a slow moment of the machine spreads over all.
      for (let r = 0; r < repeats; r++) {
        for (const name of names) {
          const sample = await measure(name, size, connections, kind);
          samples.get(name)!.push(sample);
          console.error(
            `${name} ${kind} ${size} B x${connections}: ${sample.rate.toFixed(0)} msgs/s, ${
              sample.faultsPerMessage.toFixed(1)
            } faults/msg`,
          );
        }
      }
      for (const name of names) {
        const list = samples.get(name)!;
        const m = (pick: (s: Sample) => number) => median(list.map(pick));
        rows.push(
          `| ${name} | ${kind} | ${size} | ${connections} | ${m((s) => s.rate).toFixed(0)} | ${
            m((s) => s.cpuPerMessage).toFixed(0)
          } | ${m((s) => s.faultsPerMessage).toFixed(1)} | ${(m((s) => s.rssEnd) / 1024).toFixed(0)} | ${
            (m((s) => s.rssLater) / 1024).toFixed(0)
          } |`,
        );
      }
    }
  }
}
console.log(`# Page faults behind the echo on Bun (${new Date().toISOString().slice(0, 10)})\n`);
console.log(`Command: deno run -A bench/bun_read_faults.ts ${Deno.args.join(" ")}`);
console.log(
  `Medians of ${repeats} runs of ${seconds} s, no compression; the load client is Bun's WebSocket.\n`,
);
console.log(
  "| server | kind | size | conns | msgs/s | server CPU us/msg | minor faults/msg | RSS at the end MiB | RSS 2 s later MiB |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
for (const row of rows) console.log(row);
