/**
 * Memory per connection with many connections, side by side: each server of bench/echo/servers.ts in its
 * own process, 1,000 connections from one Bun client process (bench/echo/memory_client.ts). Server RSS
 * (/proc) per connection: idle after the opening handshakes, right after one 2 KiB message each way on
 * every connection, 1.5 s later (after this library's idle release), and the peak during a burst of 20
 * messages on every connection. Compression off and on.
 *
 *   deno run -A bench/connections_memory.ts [--connections 1000] [--servers name,...] [--compression off,on]
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { bun, rssKiB, SERVERS, startServer } from "./echo/servers.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const list = (value: string) => value.split(",").map((v) => v.trim()).filter(Boolean);
const connections = Number(arg("connections", "1000"));
const compressions = list(arg("compression", "off,on"));
const selected = list(arg("servers", SERVERS.map((s) => s.name).join(",")));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  server: string;
  compression: string;
  extensions: string;
  idle: number;
  afterMessage: number;
  afterRest: number;
  burstPeak: number;
}

async function measure(name: string, command: [string, string[]], compress: boolean): Promise<Row> {
  const server = await startServer(command[0], command[1]);
  const client = spawn(bun, ["bench/echo/memory_client.ts", server.url, String(connections), compress ? "1" : "0"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const timeout = sleep(120_000).then(() => ({ done: true, value: "timeout" }));
    const line = await Promise.race([lines.next(), timeout]);
    if (line.done) throw new Error(`the memory client stopped: ${line.value ?? ""}`);
    return line.value as string;
  };
  const command_ = async (what: string) => {
    client.stdin!.write(`${what}\n`);
    const reply = await next();
    if (reply !== `done ${what}`) throw new Error(`expected "done ${what}", got "${reply}"`);
  };
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    await sleep(300);
    const before = rssKiB(server.pid);
    const open = await next();
    if (!open.startsWith("open ")) throw new Error(`the memory client said ${open}`);
    const extensions = open.split(" ").slice(2).join(" ");
    await sleep(500);
    const idle = rssKiB(server.pid);
    await command_("message");
    await sleep(200);
    const afterMessage = rssKiB(server.pid);
    await sleep(1500);
    const afterRest = rssKiB(server.pid);
    let burstPeak = afterRest;
    sampler = setInterval(() => {
      try {
        burstPeak = Math.max(burstPeak, rssKiB(server.pid));
      } catch {
        clearInterval(sampler); // the server is gone: the burst's command reports why
      }
    }, 10);
    await command_("burst");
    clearInterval(sampler);
    burstPeak = Math.max(burstPeak, rssKiB(server.pid));
    client.stdin!.write("exit\n");
    const per = (kib: number) => (kib - before) / connections;
    return {
      server: name,
      compression: compress ? "on" : "off",
      extensions,
      idle: per(idle),
      afterMessage: per(afterMessage),
      afterRest: per(afterRest),
      burstPeak: per(burstPeak),
    };
  } finally {
    clearInterval(sampler);
    client.kill();
    server.stop();
  }
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const loadBefore = loadAverage();
const rows: Row[] = [];
for (const compression of compressions) {
  for (const spec of SERVERS.filter((s) => selected.includes(s.name))) {
    const command = spec.command(compression === "on");
    if (command === undefined) continue;
    try {
      const row = await measure(spec.name, command, compression === "on");
      rows.push(row);
      console.error(`${spec.name} ${compression}: ${row.idle.toFixed(1)} / ${row.afterMessage.toFixed(1)} / ${row.afterRest.toFixed(1)} / ${row.burstPeak.toFixed(1)} KiB`);
    } catch (error) {
      console.error(`${spec.name} ${compression}: ${(error as Error).message}`);
    }
  }
}

console.log(`# Server RSS per connection, ${connections} connections (KiB; RSS from /proc minus the RSS before them)`);
console.log("");
console.log(`Command: deno run -A bench/connections_memory.ts ${process.argv.slice(2).join(" ")}`.trim());
console.log("");
console.log(`Load average: ${loadBefore} before, ${loadAverage()} after`);
console.log("");
console.log("| server | compression | idle | right after one 2 KiB message each way | 1.5 s later | peak during a burst of 20 each | extensions |");
console.log("|---|---|---|---|---|---|---|");
const kib = (n: number) => n.toFixed(1);
for (const r of rows) {
  console.log(`| ${r.server} | ${r.compression} | ${kib(r.idle)} | ${kib(r.afterMessage)} | ${kib(r.afterRest)} | ${kib(r.burstPeak)} | ${r.extensions} |`);
}
