/**
 * What the `logger` costs: connection pairs over in-memory streams (open, one echo, close) and a burst of
 * small messages on one pair, with no logger (the default), with a logger that drops every line, and,
 * given `--before <dir>` (a checkout from before the logger existed), that code's Connection too. Rounds
 * alternate between the variants in one process, so the machine's load falls on all of them alike; prints
 * a markdown table of the best and the median round (the best is the least disturbed by other load).
 *
 *   deno run -A bench/logger_bench.ts [--rounds 7] [--pairs 2000] [--messages 50000] [--before /tmp/before]
 *   bun bench/logger_bench.ts ...
 *
 * @module
 */

import process from "node:process";
import { Connection, type ConnectionOptions, type Transport } from "../lib/connection.ts";
import type { Logger } from "../lib/core/logger.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const rounds = Number(arg("rounds", "7"));
const pairs = Number(arg("pairs", "2000"));
const messages = Number(arg("messages", "50000"));
const before = arg("before", "");

type ConnectionClass = new (transport: Transport, options: ConnectionOptions) => Connection;

function duplex(): [Transport, Transport] {
  const ab = new TransformStream<Uint8Array, Uint8Array>(),
    ba = new TransformStream<Uint8Array, Uint8Array>();
  return [{ readable: ba.readable, writable: ab.writable }, { readable: ab.readable, writable: ba.writable }];
}

function pair(Class: ConnectionClass, logger: Logger | undefined): [Connection, Connection] {
  const [a, b] = duplex();
  const options = { heartbeat: false as const, logger };
  return [new Class(a, { ...options, role: "client" }), new Class(b, { ...options, role: "server" })];
}

/** Milliseconds for `pairs` connections: open, one echo, a clean close. */
async function lifecycles(Class: ConnectionClass, logger: Logger | undefined): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < pairs; i++) {
    const [client, server] = pair(Class, logger);
    server.onmessage = (data) => void server.send(data);
    const echoed = new Promise((resolve) => client.onmessage = resolve);
    await client.send("hello");
    await echoed;
    await client.close(1000);
    await server.closed;
  }
  return performance.now() - started;
}

/** Milliseconds for `messages` 64-byte messages one way on one pair. */
async function burst(Class: ConnectionClass, logger: Logger | undefined): Promise<number> {
  const [client, server] = pair(Class, logger);
  let received = 0;
  const all = new Promise<void>((resolve) => server.onmessage = () => ++received === messages && resolve());
  const payload = "x".repeat(64);
  const started = performance.now();
  for (let i = 0; i < messages; i++) {
    const ready = client.send(payload);
    if (i % 64 === 63) await ready;
  }
  await all;
  const elapsed = performance.now() - started;
  await client.close(1000);
  return elapsed;
}

const silent: Logger = { debug: () => {}, warn: () => {}, error: () => {} };
const variants: { name: string; Class: ConnectionClass; logger: Logger | undefined }[] = [
  { name: "no logger (default)", Class: Connection, logger: undefined },
  { name: "logger: drops every line", Class: Connection, logger: silent },
];
if (before !== "") {
  const old = await import(new URL(`file://${before.replace(/\/$/, "")}/lib/connection.ts`).href);
  variants.unshift({ name: `before the logger (${before})`, Class: old.Connection, logger: undefined });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const best = (values: number[]) => Math.min(...values);
const results = variants.map(() => ({ lifecycle: [] as number[], burst: [] as number[] }));
for (let round = 0; round < rounds; round++) {
  // The order rotates each round, so that no variant always runs first (cold) or right after another.
  for (let k = 0; k < variants.length; k++) {
    const v = (round + k) % variants.length;
    results[v].lifecycle.push(await lifecycles(variants[v].Class, variants[v].logger));
    results[v].burst.push(await burst(variants[v].Class, variants[v].logger));
  }
}
const runtime = "Bun" in globalThis ? "Bun" : "Deno" in globalThis ? "Deno" : "Node";
console.log(
  `\n${runtime}, ${rounds} rounds: ${pairs} connection lifecycles, ${messages} messages of 64 B (best / median)\n`,
);
console.log("| variant | us per connection (open, echo, close) | ns per message |");
console.log("|---|---|---|");
for (let v = 0; v < variants.length; v++) {
  const { lifecycle, burst } = results[v];
  const perConnection = (ms: number) => (ms * 1000 / pairs).toFixed(1);
  const perMessage = (ms: number) => (ms * 1e6 / messages).toFixed(0);
  console.log(
    `| ${variants[v].name} | ${perConnection(best(lifecycle))} / ${perConnection(median(lifecycle))} | ` +
      `${perMessage(best(burst))} / ${perMessage(median(burst))} |`,
  );
}
