/**
 * Echo over loopback, side by side: this library's servers (Deno.listen; node:http on Deno and on Bun)
 * against `ws` on Node, Bun.serve's and Deno.serve's own WebSockets, with compression off and on. One load
 * client process (Bun's built-in WebSocket, bench/echo/load_client.ts). Each server runs in its own
 * process; its CPU time comes from /proc. Prints a markdown table of medians (msgs/s, MB/s, server CPU
 * microseconds per message, round-trip p50/p99) with the spread and the ratio to `ws` in the same run.
 *
 *   deno run -A bench/echo_bench.ts [--sizes 64,1024,16384,1048576] [--connections 1,100] [--seconds 2]
 *     [--repeats 3] [--kinds text,binary] [--compression off,on] [--servers name,...] [--interleave]
 *
 * --interleave starts every server at once and runs each repeat of a cell on each server in turn (a
 * change of load on a shared machine then falls on every server alike); without it, one server at a time.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import process from "node:process";
import { bun, cpuMicros, SERVERS, startServer } from "./echo/servers.ts";
import { echoWindow, type LoadClientResult, runLoadClient } from "./echo/run_load_client.ts";

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
const selected = list(arg("servers", SERVERS.map((s) => s.name).join(",")));
const interleave = process.argv.includes("--interleave");

interface Sample {
  messagesPerSecond: number;
  cpuMicrosPerMessage: number;
  p50us: number;
  p99us: number;
  extensions: string;
}

/** A run that failed (the server died): NaN, shown as such. */
const FAILED: Sample = { messagesPerSecond: NaN, cpuMicrosPerMessage: NaN, p50us: NaN, p99us: NaN, extensions: "" };

function runClient(
  url: string,
  size: number,
  connections: number,
  compress: boolean,
  kind: string,
): Promise<LoadClientResult> {
  return runLoadClient(url, { size, connections, window: echoWindow(size, connections), seconds, compress, kind });
}

/**
 * Bytes on the wire per payload byte, server to client: a fixed number of echoes through a counting TCP
 * proxy (the HTTP head not counted; frame headers and the close frame are).
 */
async function wireRatio(url: string, size: number, compress: boolean, kind: string): Promise<number> {
  const target = new URL(url);
  let fromServer = 0;
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    let headSeen = false, head = "";
    upstream.on("data", (chunk: Uint8Array) => {
      if (headSeen) {
        fromServer += chunk.length;
      } else {
        head += new TextDecoder("latin1").decode(chunk);
        const end = head.indexOf("\r\n\r\n");
        if (end !== -1) {
          headSeen = true;
          fromServer += head.length - (end + 4);
        }
      }
      client.write(chunk);
    });
    client.on("data", (chunk: Uint8Array) => upstream.write(chunk));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as net.AddressInfo).port;
  const count = size >= 1 << 20 ? 8 : size >= 16384 ? 64 : 400;
  try {
    const result = await runLoadClient(`ws://127.0.0.1:${port}/`, {
      size,
      connections: 1,
      window: Math.min(count, 16),
      seconds: -count,
      compress,
      kind,
    });
    if (result.messages !== count) throw new Error(`${result.messages} of ${count} echoes through the proxy`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the close frame
    return fromServer / (count * size);
  } finally {
    proxy.close();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const spread = (values: number[]) => {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
};

const rows: {
  server: string;
  compression: string;
  kind: string;
  size: number;
  connections: number;
  samples: Sample[];
  wire: number;
}[] = [];
/** Servers kept running, started again when one died. */
type Running = { spec: (typeof SERVERS)[number]; command: [string, string[]]; server: Awaited<ReturnType<typeof startServer>> };

/** One run of the load client against a server, with the server's CPU time; FAILED if it died. */
async function sample(running: Running, label: string, size: number, connections: number, on: boolean, kind: string): Promise<Sample> {
  // A server that died (out of memory, say) is said and started again: the run goes on.
  if (!existsSync(`/proc/${running.server.pid}/stat`)) {
    console.error(`${running.spec.name}: the server died; started again for ${label}`);
    running.server = await startServer(running.command[0], running.command[1]);
  }
  const before = cpuMicros(running.server.pid);
  let result;
  try {
    result = await runClient(running.server.url, size, connections, on, kind);
  } catch (error) {
    console.error(`${running.spec.name} ${label}: ${(error as Error).message}`);
    return FAILED;
  }
  if (!existsSync(`/proc/${running.server.pid}/stat`)) {
    console.error(`${running.spec.name} ${label}: the server died during the run`);
    return FAILED;
  }
  const cpu = cpuMicros(running.server.pid) - before;
  return {
    messagesPerSecond: result.messages / result.seconds,
    cpuMicrosPerMessage: result.messages === 0 ? NaN : cpu / result.messages,
    p50us: result.p50us,
    p99us: result.p99us,
    extensions: result.extensions,
  };
}

for (const compression of compressions) {
  const on = compression === "on";
  const specs = SERVERS.filter((s) => selected.includes(s.name)).filter((s) => s.command(on) !== undefined);
  // --interleave: every server runs at once (idle but one), and each repeat of a cell visits them in turn,
  // so that a change of the machine's load falls on all of them alike (on a shared machine). Otherwise one
  // server at a time, each alone on the machine (as far as this bench goes).
  const groups = interleave ? [specs] : specs.map((spec) => [spec]);
  for (const group of groups) {
    const running: Running[] = [];
    for (const spec of group) {
      const command = spec.command(on)!;
      running.push({ spec, command, server: await startServer(command[0], command[1]) });
    }
    try {
      for (const kind of kinds) {
        for (const size of sizes) {
          const wires = new Map<Running, number>();
          for (const one of running) {
            wires.set(
              one,
              await wireRatio(one.server.url, size, on, kind).catch((error) => {
                console.error(`${one.spec.name}: wire bytes not measured: ${error.message}`);
                return NaN;
              }),
            );
          }
          for (const connections of connectionCounts) {
            const label = `${compression} ${kind} ${size} B x${connections}`;
            const samples = new Map<Running, Sample[]>(running.map((one) => [one, []]));
            for (let r = 0; r < repeats; r++) {
              for (const one of running) samples.get(one)!.push(await sample(one, label, size, connections, on, kind));
            }
            for (const one of running) {
              const taken = samples.get(one)!;
              rows.push({ server: one.spec.name, compression, kind, size, connections, samples: taken, wire: wires.get(one)! });
              console.error(`${one.spec.name} ${label}: ${median(taken.map((s) => s.messagesPerSecond)).toFixed(0)} msgs/s`);
            }
          }
        }
      }
    } finally {
      for (const one of running) one.server.stop();
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
const key = (r: (typeof rows)[number]) => `${r.compression}/${r.kind}/${r.size}/${r.connections}`;
const wsOf = (r: (typeof rows)[number]) => rows.find((w) => w.server === "ws on Node" && key(w) === key(r));
const rateOf = (r: (typeof rows)[number]) => median(r.samples.map((s) => s.messagesPerSecond));
const cpuOf = (r: (typeof rows)[number]) => median(r.samples.map((s) => s.cpuMicrosPerMessage));
const ratio = (value: number, base: number | undefined) =>
  base === undefined || Number.isNaN(base) || Number.isNaN(value) ? "-" : `${(value / base).toFixed(2)}x`;
const order = (r: (typeof rows)[number]) => [compressions.indexOf(r.compression), kinds.indexOf(r.kind), sizes.indexOf(r.size), connectionCounts.indexOf(r.connections)];
rows.sort((a, b) => {
  const [x, y] = [order(a), order(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
});

console.log("## Ratio of msgs/s to ws (same run)");
console.log("");
const columns = [...new Set(rows.map((r) => `${r.kind} ${r.size} B x${r.connections}`))];
console.log(`| server | compression | ${columns.join(" | ")} |`);
console.log(`|---|---|${columns.map(() => "---").join("|")}|`);
for (const compression of compressions) {
  for (const name of SERVERS.map((s) => s.name).filter((n) => selected.includes(n))) {
    const mine = rows.filter((r) => r.server === name && r.compression === compression);
    if (mine.length === 0) continue;
    const cells = columns.map((c) => {
      const r = mine.find((m) => `${m.kind} ${m.size} B x${m.connections}` === c);
      return r === undefined ? "-" : ratio(rateOf(r), wsOf(r) && rateOf(wsOf(r)!));
    });
    console.log(`| ${name} | ${compression} | ${cells.join(" | ")} |`);
  }
}
console.log("");
console.log("## All figures");
console.log("");
console.log(
  "| server | compression | payload | size | conns | msgs/s | vs ws | MB/s | spread | server CPU us/msg | CPU vs ws | p50 us | p99 us | wire B per payload B | extensions |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const row of rows) {
  const ws = wsOf(row);
  const rate = rateOf(row);
  console.log(
    `| ${row.server} | ${row.compression} | ${row.kind} | ${row.size} | ${row.connections} | ${rate.toFixed(0)} | ` +
      `${ratio(rate, ws && rateOf(ws))} | ${(rate * row.size / 1e6).toFixed(1)} | ` +
      `${(spread(row.samples.map((s) => s.messagesPerSecond)) * 100).toFixed(0)}% | ${cpuOf(row).toFixed(1)} | ` +
      `${ratio(cpuOf(row), ws && cpuOf(ws))} | ${median(row.samples.map((s) => s.p50us))} | ` +
      `${median(row.samples.map((s) => s.p99us))} | ${row.wire.toFixed(3)} | ${row.samples[0].extensions || "-"} |`,
  );
}
