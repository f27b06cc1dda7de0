/**
 * Memory per connection held by the protocol core and permessage-deflate: 1,000 server-side `Protocol`s
 * (no sockets: this isolates what the library itself keeps), idle, then after each received and sent one
 * 2 KiB JSON message, then once the idle period (`releaseAfterIdle`) has passed and the codecs have shrunk
 * to their windows. Prints a markdown table of bytes per connection (JS heap + array buffers, after GC).
 *
 *   deno run --v8-flags=--expose-gc --allow-env --allow-read bench/memory_bench.ts
 *   bun bench/memory_bench.ts
 *
 * @module
 */

import process from "node:process";
import type { DeflateParameters } from "../lib/deflate_negotiation.ts";
import { encodeFrame } from "../lib/encode_frame.ts";
import type { Frame } from "../lib/frame.ts";
import { DEFAULT_RELEASE_AFTER_IDLE, PerMessageDeflate, type PerMessageDeflateOptions } from "../lib/permessage_deflate.ts";
import { Protocol } from "../lib/protocol.ts";

const COUNT = 1000;

function gc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc: (force: boolean) => void } };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
  else throw new Error("Run with --v8-flags=--expose-gc (Deno) or under Bun: GC is needed for honest numbers");
}

function used(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  // Deno reports typed-array backing stores under `external` (its `arrayBuffers` stays 0); Bun counts them
  // in `heapUsed` (checked by allocating 100 MiB of Uint8Arrays under each).
  return "Deno" in globalThis ? m.heapUsed + m.external : m.heapUsed + m.arrayBuffers;
}

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
}

const takeover: DeflateParameters = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};
const cases: Case[] = [
  { name: "no compression" },
  { name: "deflate, context takeover, 15-bit windows, memLevel 8 (default)", parameters: takeover },
  {
    name: "deflate, context takeover, 15-bit windows, memLevel 8, releaseAfterIdle: Infinity (as ws)",
    parameters: takeover,
    options: { releaseAfterIdle: Infinity },
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
console.log(`# Memory per connection, ${runtime}, ${COUNT} server-side protocols (heap + array buffers, after GC)`);
console.log("");
console.log(`| configuration | idle | after one 2 KiB message each way | of which codec state (approx.) | after ${DEFAULT_RELEASE_AFTER_IDLE} ms more, idle |`);
console.log("|---|---|---|---|---|");
for (const c of cases) {
  const before = used();
  const protocols: Protocol[] = [];
  for (let i = 0; i < COUNT; i++) {
    const extensions = c.parameters ? [new PerMessageDeflate("server", c.parameters, c.options)] : [];
    protocols.push(new Protocol({ role: "server", extensions }));
  }
  const idle = (used() - before) / COUNT;
  for (let i = 0; i < COUNT; i++) {
    const protocol = protocols[i];
    protocol.receive(clientFrame(c.parameters, json2k(i)));
    const [event] = protocol.takeEvents();
    if (event?.type !== "message") throw new Error(`Connection ${i} got ${event?.type}`);
    protocol.send(json2k(i + 1));
    protocol.takeOutgoing();
  }
  const active = (used() - before) / COUNT;
  // The idle releaser's timer runs on the event loop: let it.
  await new Promise((resolve) => setTimeout(resolve, DEFAULT_RELEASE_AFTER_IDLE + 300));
  const rested = (used() - before) / COUNT;
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`| ${c.name} | ${kib(idle)} | ${kib(active)} | ${kib(active - idle)} | ${kib(rested)} |`);
  for (const protocol of protocols) protocol.releaseExtensions();
  protocols.length = 0;
}
