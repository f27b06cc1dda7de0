/**
 * Memory per connection held by the protocol core and permessage-deflate: 1,000 server-side `Protocol`s
 * (no sockets: this isolates what the library itself keeps), idle, then after each received and sent one
 * 2 KiB JSON message, then once the idle period (`releaseAfterIdle`) has passed and the codecs have shrunk
 * to their windows. Prints a markdown table of bytes per connection: JS heap + array buffers after GC, and
 * the linear memory of the zlib WebAssembly instances (the default codec's state), which Deno's
 * `process.memoryUsage()` does not count and Bun's counts several times over (calibrated out below).
 *
 *   deno run --v8-flags=--expose-gc --allow-env --allow-read bench/memory_bench.ts
 *   bun bench/memory_bench.ts
 *
 * @module
 */

import process from "node:process";
import type { DeflateParameters } from "../lib/deflate/negotiation.ts";
import { encodeFrame } from "../lib/core/encode_frame.ts";
import type { Frame } from "../lib/core/frame.ts";
import { DEFAULT_RELEASE_AFTER_IDLE, PerMessageDeflate, type PerMessageDeflateOptions } from "../lib/deflate/permessage_deflate.ts";
import { Protocol } from "../lib/core/protocol.ts";
import { setZlibWasmBudget, zlibWasmCodec, type ZlibWasmBudget, zlibWasmMemory } from "../lib/deflate/zlib_wasm_codec.ts";

const COUNT = 1000;

function gc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc: (force: boolean) => void } };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
  else throw new Error("Run with --v8-flags=--expose-gc (Deno) or under Bun: GC is needed for honest numbers");
}

function reported(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  // Deno reports typed-array backing stores under `external` (its `arrayBuffers` stays 0); Bun counts them
  // in `heapUsed` (checked by allocating 100 MiB of Uint8Arrays under each).
  return "Deno" in globalThis ? m.heapUsed + m.external : m.heapUsed + m.arrayBuffers;
}

// How many times `reported()` counts a byte of WebAssembly linear memory (0 on Deno, 3 on Bun 1.4):
// measured by growing an instance by a known amount.
const wasmCounted = (() => {
  const before = reported(), wasmBefore = zlibWasmMemory().bytes;
  const held = Array.from({ length: 60 }, () => zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }));
  for (const c of held) c.compress(new Uint8Array(64), true);
  const factor = (reported() - before) / (zlibWasmMemory().bytes - wasmBefore);
  for (const c of held) c.release();
  return Math.round(factor);
})();

/**
 * JS heap and array buffers, and WebAssembly linear memory, counted once each. Collects garbage before it
 * looks at the instances: looking keeps them alive until the current job ends (WeakRef semantics), so
 * callers measure at the start of a new task.
 */
function used(): { js: number; wasm: number } {
  const all = reported();
  const wasm = zlibWasmMemory().bytes;
  return { js: all - wasmCounted * wasm, wasm };
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 10));
await nextTask();

function json2k(i: number): string {
  const items = [];
  for (let j = 0; JSON.stringify(items).length < 2048; j++) items.push({ id: i * 100 + j, name: `user ${j}`, online: j % 3 === 0 });
  return JSON.stringify(items).slice(0, 2048);
}

/** A client-compressed message for the server to receive, made with a client-side extension. */
function clientFrame(parameters: DeflateParameters | undefined, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  let frame: Frame = { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x1, payload };
  if (parameters !== undefined) {
    const client = new PerMessageDeflate("client", parameters);
    frame = client.encode(frame);
    client.release(); // a stand-in for the peer: not part of what is measured
  }
  const [bytes] = encodeFrame(frame.opcode, frame.payload, { mask: true, rsv1: frame.rsv1 });
  return bytes;
}

interface Case {
  name: string;
  parameters?: DeflateParameters;
  options?: PerMessageDeflateOptions;
  /** zlib budgets for this case (`setZlibWasmBudget`); the defaults otherwise. */
  budgets?: ZlibWasmBudget;
}

const takeover: DeflateParameters = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};
const cases: Case[] = [
  { name: "no compression" },
  { name: "deflate, context takeover, 15-bit windows, memLevel 7 (default), default zlib budgets", parameters: takeover },
  {
    name: "deflate, context takeover, 15-bit windows, memLevel 8, no zlib budgets (the defaults before 2026-12-03)",
    parameters: takeover,
    options: { memLevel: 8 },
    budgets: { compressors: Infinity, decompressors: Infinity },
  },
  {
    name: "deflate, context takeover, 15-bit windows, memLevel 8, releaseAfterIdle: Infinity, no zlib budgets (as ws)",
    parameters: takeover,
    options: { memLevel: 8, releaseAfterIdle: Infinity },
    budgets: { compressors: Infinity, decompressors: Infinity },
  },
  {
    name: "deflate, context takeover, 10-bit windows, memLevel 4",
    parameters: { ...takeover, serverMaxWindowBits: 10, clientMaxWindowBits: 10 },
    options: { memLevel: 4 },
  },
  {
    name: "deflate, no context takeover both ways",
    parameters: { ...takeover, serverNoContextTakeover: true, clientNoContextTakeover: true },
  },
];

const runtime = "Deno" in globalThis ? "Deno" : "Bun" in globalThis ? "Bun" : "Node";
console.log(`# Memory per connection, ${runtime}, ${COUNT} server-side protocols (JS heap + array buffers after GC, + zlib linear memory)`);
console.log("");
console.log(`(process.memoryUsage() counts WebAssembly memory ${wasmCounted} times here; taken out, and counted once in the wasm figures.)`);
console.log("");
console.log(`| configuration | idle | after one 2 KiB message each way (JS + wasm) | after ${DEFAULT_RELEASE_AFTER_IDLE} ms more, idle (JS + wasm) |`);
console.log("|---|---|---|---|");
for (const c of cases) {
  await nextTask(); // the previous case's instances, let go, can now be collected
  const defaults = setZlibWasmBudget(c.budgets ?? {});
  const before = used();
  const protocols: Protocol[] = [];
  for (let i = 0; i < COUNT; i++) {
    const extensions = c.parameters ? [new PerMessageDeflate("server", c.parameters, c.options)] : [];
    protocols.push(new Protocol({ role: "server", extensions }));
  }
  const perConnection = () => {
    const now = used();
    return { js: (now.js - before.js) / COUNT, wasm: Math.max(0, now.wasm - before.wasm) / COUNT };
  };
  const idle = perConnection();
  for (let i = 0; i < COUNT; i++) {
    const protocol = protocols[i];
    protocol.receive(clientFrame(c.parameters, json2k(i)));
    const [event] = protocol.takeEvents();
    if (event?.type !== "message") throw new Error(`Connection ${i} got ${event?.type}`);
    protocol.send(json2k(i + 1));
    protocol.takeOutgoing();
  }
  const active = perConnection();
  // The idle releaser's timer runs on the event loop: let it.
  await new Promise((resolve) => setTimeout(resolve, DEFAULT_RELEASE_AFTER_IDLE + 300));
  const rested = perConnection();
  const kib = (n: { js: number; wasm: number }) =>
    `${((n.js + n.wasm) / 1024).toFixed(1)} KiB (${(n.js / 1024).toFixed(1)} + ${(n.wasm / 1024).toFixed(1)})`;
  console.log(`| ${c.name} | ${kib(idle)} | ${kib(active)} | ${kib(rested)} |`);
  for (const protocol of protocols) protocol.releaseExtensions();
  protocols.length = 0;
  setZlibWasmBudget(defaults);
}
