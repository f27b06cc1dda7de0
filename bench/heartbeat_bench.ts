/**
 * What the heartbeat costs idle connections: 10,000 server-side `Connection`s over in-memory transports (no
 * sockets: this isolates the library), with the heartbeat off and on. Prints the heap per connection the
 * heartbeat adds (after GC) and the CPU of the shared timer: a tick's visit of a connection with no ping due
 * (measured at a tick every 10 ms) and a ping (measured over the tick that pings every connection), scaled to
 * the default, where a tick comes every 10 s (half of the 20 s timeout) and an idle connection whose peer
 * answers sends one ping per 25 s.
 *
 *   deno run --v8-flags=--expose-gc --allow-env --allow-read bench/heartbeat_bench.ts [--connections 10000]
 *   bun bench/heartbeat_bench.ts
 *
 * @module
 */

import process from "node:process";
import { Connection, type ConnectionOptions, DEFAULT_HEARTBEAT } from "../lib/connection.ts";

const index = process.argv.indexOf("--connections");
const COUNT = index === -1 ? 10_000 : Number(process.argv[index + 1]);

function gc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc: (force: boolean) => void } };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
  else throw new Error("Run with --v8-flags=--expose-gc (Deno) or under Bun: GC is needed for honest numbers");
}

function heap(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return "Deno" in globalThis ? m.heapUsed + m.external : m.heapUsed + m.arrayBuffers;
}

/** Connections over transports that never deliver a byte (idle peers that answer nothing). */
function open(count: number, heartbeat: ConnectionOptions["heartbeat"]): { connections: Connection[]; pings: () => number } {
  let written = 0;
  const connections: Connection[] = [];
  for (let i = 0; i < count; i++) {
    const readable = new ReadableStream<Uint8Array>();
    const writable = new WritableStream<Uint8Array>({ write: () => void written++ });
    connections.push(new Connection({ readable, writable }, { role: "server", heartbeat, closeTimeout: 10 }));
  }
  return { connections, pings: () => written };
}

async function settle(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

async function closeAll(connections: Connection[]): Promise<void> {
  for (const connection of connections) connection.fail(1001);
  await Promise.all(connections.map((c) => c.closed));
}

const baseline = heap();
const off = open(COUNT, false);
await settle(50);
const withoutHeartbeat = heap();
await closeAll(off.connections);
off.connections.length = 0;
await settle(50);
const baseline2 = heap();
const on = open(COUNT, DEFAULT_HEARTBEAT);
await settle(50);
const withHeartbeat = heap();
await closeAll(on.connections);
on.connections.length = 0;
const perOff = (withoutHeartbeat - baseline) / COUNT, perOn = (withHeartbeat - baseline2) / COUNT;

// CPU, in two parts. A visit: what each tick costs per connection when no ping is due (a tick every 10 ms
// here, with an interval no connection reaches). A ping: the check, the frame and the write, measured over
// the tick that pings every connection at once.
async function cpuOf(heartbeat: ConnectionOptions["heartbeat"], ms: number, skipMs: number): Promise<{ cpuUs: number; pings: number }> {
  const run = open(COUNT, heartbeat);
  await settle(skipMs);
  const before = process.cpuUsage(), pingsBefore = run.pings();
  await settle(ms);
  const used = process.cpuUsage(before);
  const pings = run.pings() - pingsBefore;
  await closeAll(run.connections);
  return { cpuUs: used.user + used.system, pings };
}
const quietRun = await cpuOf(false, 2000, 100);
const visiting = await cpuOf({ interval: 3_600_000, timeout: 20 }, 2000, 100);
const visits = COUNT * (2000 / 10);
const cpuPerVisitUs = Math.max(0, visiting.cpuUs - quietRun.cpuUs) / visits;
const pingQuiet = await cpuOf(false, 400, 0);
const pinging = await cpuOf({ interval: 100, timeout: 3_600_000 }, 400, 0);
const cpuPerPingUs = Math.max(0, pinging.cpuUs - pingQuiet.cpuUs) / Math.max(1, pinging.pings);
const tickPeriodMs = Math.min(DEFAULT_HEARTBEAT.interval, DEFAULT_HEARTBEAT.timeout) / 2;
// At the default: every connection visited once per tick, and (with a peer that answers) pinged once per
// interval of silence.
const defaultCpuUsPerSecond = COUNT * (1000 / tickPeriodMs) * cpuPerVisitUs + COUNT * (1000 / DEFAULT_HEARTBEAT.interval) * cpuPerPingUs;

const runtime = "Bun" in globalThis ? `Bun ${(globalThis as { Bun?: { version: string } }).Bun!.version}` : `Deno ${Deno.version.deno}`;
console.log(`\n${COUNT} idle connections, ${runtime} (heartbeat ${DEFAULT_HEARTBEAT.interval} / ${DEFAULT_HEARTBEAT.timeout} ms, one timer ticking every ${tickPeriodMs} ms)\n`);
console.log("| measure | value |");
console.log("|---|---:|");
console.log(`| heap per connection, heartbeat off | ${perOff.toFixed(0)} B |`);
console.log(`| heap per connection, heartbeat on | ${perOn.toFixed(0)} B |`);
console.log(`| heap the heartbeat adds per connection | ${(perOn - perOff).toFixed(0)} B |`);
console.log(`| CPU per connection per tick, no ping due | ${(cpuPerVisitUs * 1000).toFixed(0)} ns |`);
console.log(`| CPU per ping (check, frame, write) | ${cpuPerPingUs.toFixed(2)} us (${pinging.pings} pings) |`);
console.log(`| CPU at the default for ${COUNT} idle connections | ${(defaultCpuUsPerSecond / 1e4).toFixed(3)} % of one core |`);
