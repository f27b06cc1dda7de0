/**
 * permessage-deflate codecs side by side, on realistic payloads: compress and inflate throughput (MB/s of
 * uncompressed data) and the compression ratio, with context takeover (one window kept across messages)
 * and without (every message alone). Prints a markdown table.
 *
 *   deno run --allow-env --allow-read bench/codec_bench.ts      (or: bun bench/codec_bench.ts)
 *   deno run -A bench/codec_bench.ts --connections-table   (that table only; bun bench/codec_bench.ts --connections-table)
 *
 * `--connections-table`: many connections taking turns, each with its own zlib wasm compressor and
 * decompressor (context takeover), at memLevel 8 and 7, under the default budgets (`setZlibWasmBudget`)
 * and without them: CPU per message each way and the wire ratio.
 *
 * Codecs:
 * - zlib wasm (ours, the default): lib/deflate/zlib_wasm_codec.ts, zlib 1.2.13 compiled to WebAssembly.
 * - pako (ours): lib/deflate/pako_codec.ts, pure JavaScript (the default where WebAssembly cannot be compiled).
 * - nodeZlibCodec (ours, opt-in): lib/adapters/node_zlib_codec.ts, native deflate for messages of 4 KiB and
 *   more (no reference to earlier messages on Deno and Bun), pako below; pako inflates.
 * - node:zlib: async raw deflate streams, `flush(Z_SYNC_FLUSH)` per message (the only way node:zlib keeps a
 *   window across messages); its `*Sync` one-shot functions for the no-context-takeover rows.
 * - fflate: one-shot `deflateSync`/`inflateSync` (no context takeover only: its sync flush is broken,
 *   see shared/reference/measured.md).
 * - CompressionStream("deflate-raw"): no context takeover only (it cannot flush mid-stream).
 *
 * @module
 */

import * as fflate from "fflate";
import * as zlib from "node:zlib";
import process from "node:process";
import { existsSync, readFileSync } from "node:fs";
import { pakoCodec } from "../lib/deflate/pako_codec.ts";
import { DEFAULT_COMPRESSOR_BUDGET, DEFAULT_DECOMPRESSOR_BUDGET, setZlibWasmBudget, zlibWasmCodec } from "../lib/deflate/zlib_wasm_codec.ts";
import { nodeZlibCodec } from "../lib/adapters/node_zlib_codec.ts";
import type { DeflateCodec } from "../lib/deflate/codec.ts";

const runtime = "Deno" in globalThis
  ? `Deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : "Node";
const TIME_MS = Number((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.BENCH_MS ?? 400);
const encoder = new TextEncoder();
const TAIL = new Uint8Array([0, 0, 0xff, 0xff]);

function chatMessages(count: number): Uint8Array[] {
  const names = ["ana", "bo", "chen", "dmitri", "eve", "farah"];
  return Array.from({ length: count }, (_, i) =>
    encoder.encode(JSON.stringify({
      type: "message",
      room: "general",
      user: names[i % names.length],
      text: `hello number ${i}, how is it going?`,
      ts: 1_700_000_000_000 + i * 937,
    })));
}

function jsonDocument(size: number, seed: number): Uint8Array {
  const items: unknown[] = [];
  let text = "";
  for (let i = 0; text.length < size; i++) {
    items.push({ id: seed + i, name: `item ${seed + i}`, price: ((seed + i) * 7919) % 10000 / 100, tags: ["a", "b", `t${i % 13}`] });
    if (i % 16 === 0) text = JSON.stringify(items);
  }
  return encoder.encode(JSON.stringify(items).slice(0, size));
}

function proseText(size: number): Uint8Array {
  const words = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches".split(" ");
  let x = 12345;
  let text = "";
  while (text.length < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    text += words[x % words.length] + ((x >>> 8) % 11 === 0 ? ".\n" : " ");
  }
  return encoder.encode(text.slice(0, size));
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
  return bytes;
}

interface Payload {
  name: string;
  messages: Uint8Array[];
}

const payloads: Payload[] = [
  { name: "chat JSON ~110 B", messages: chatMessages(500) },
  { name: "JSON 16 KiB", messages: Array.from({ length: 16 }, (_, i) => jsonDocument(16 * 1024, i * 1000)) },
  { name: "text 1 MiB", messages: [proseText(1024 * 1024)] },
  { name: "random 64 KiB", messages: [randomBytes(64 * 1024), randomBytes(64 * 1024)] },
];

interface Result {
  compressMBps: number;
  inflateMBps: number;
  ratio: number;
}

/** Runs `round` repeatedly for about TIME_MS; returns bytes processed per second. */
async function throughput(bytesPerRound: number, round: () => void | Promise<void>): Promise<number> {
  await round(); // warm up
  let rounds = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < TIME_MS) {
    await round();
    rounds++;
    elapsed = performance.now() - start;
  }
  return (bytesPerRound * rounds) / (elapsed / 1000) / 1e6;
}

const total = (messages: Uint8Array[]) => messages.reduce((n, m) => n + m.length, 0);

async function codecRow(messages: Uint8Array[], takeover: boolean, codec: DeflateCodec = pakoCodec): Promise<Result> {
  const options = { windowBits: 15, level: 6, memLevel: 8 };
  const compressor = codec.createCompressor(options);
  const compressed = messages.map((m) => {
    const out = compressor.compress(m, true);
    if (!takeover) compressor.reset();
    return out;
  });
  const compressMBps = await throughput(total(messages), () => {
    const c = codec.createCompressor(options);
    for (const m of messages) {
      c.compress(m, true);
      if (!takeover) c.reset();
    }
    c.release();
  });
  const inflateMBps = await throughput(total(messages), () => {
    const d = codec.createDecompressor(15);
    for (const c of compressed) {
      d.decompress(c, true, Infinity);
      if (!takeover) d.reset();
    }
    d.release();
  });
  return { compressMBps, inflateMBps, ratio: total(compressed) / total(messages) };
}

function zlibStreamCompress(messages: Uint8Array[]): Promise<Uint8Array[]> {
  const stream = zlib.createDeflateRaw({ windowBits: 15, level: 6, memLevel: 8 });
  const out: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  stream.on("data", (chunk: Uint8Array) => pending.push(chunk));
  return (async () => {
    for (const m of messages) {
      stream.write(m);
      await new Promise<void>((resolve) => stream.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
      const joined = concat(pending);
      pending = [];
      out.push(joined.subarray(0, joined.length - 4));
    }
    stream.close();
    return out;
  })();
}

async function zlibStreamInflate(compressed: Uint8Array[]): Promise<void> {
  const stream = zlib.createInflateRaw({ windowBits: 15 });
  stream.on("data", () => {});
  for (const c of compressed) {
    stream.write(c);
    stream.write(TAIL);
    await new Promise<void>((resolve) => stream.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  }
  stream.close();
}

async function zlibRow(messages: Uint8Array[], takeover: boolean): Promise<Result> {
  if (takeover) {
    const compressed = await zlibStreamCompress(messages);
    const compressMBps = await throughput(total(messages), async () => {
      await zlibStreamCompress(messages);
    });
    const inflateMBps = await throughput(total(messages), () => zlibStreamInflate(compressed));
    return { compressMBps, inflateMBps, ratio: total(compressed) / total(messages) };
  }
  const oneShot = (m: Uint8Array) => {
    const out = zlib.deflateRawSync(m, { level: 6, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return out.subarray(0, out.length - 4);
  };
  const compressed = messages.map(oneShot);
  const compressMBps = await throughput(total(messages), () => {
    for (const m of messages) oneShot(m);
  });
  const inflateMBps = await throughput(total(messages), () => {
    for (const c of compressed) zlib.inflateRawSync(concat([c, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  });
  return { compressMBps, inflateMBps, ratio: total(compressed) / total(messages) };
}

async function fflateRow(messages: Uint8Array[]): Promise<Result> {
  const compressed = messages.map((m) => fflate.deflateSync(m, { level: 6 }));
  const compressMBps = await throughput(total(messages), () => {
    for (const m of messages) fflate.deflateSync(m, { level: 6 });
  });
  const inflateMBps = await throughput(total(messages), () => {
    for (const c of compressed) fflate.inflateSync(c);
  });
  return { compressMBps, inflateMBps, ratio: total(compressed) / total(messages) };
}

async function streamAll(stream: CompressionStream | DecompressionStream, input: Uint8Array): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  writer.write(input as Uint8Array<ArrayBuffer>);
  writer.close();
  const parts: Uint8Array[] = [];
  const reader = stream.readable.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
  return concat(parts);
}

async function compressionStreamRow(messages: Uint8Array[]): Promise<Result> {
  const compressed: Uint8Array[] = [];
  for (const m of messages) compressed.push(await streamAll(new CompressionStream("deflate-raw"), m));
  const compressMBps = await throughput(total(messages), async () => {
    for (const m of messages) await streamAll(new CompressionStream("deflate-raw"), m);
  });
  const inflateMBps = await throughput(total(messages), async () => {
    for (const c of compressed) await streamAll(new DecompressionStream("deflate-raw"), c);
  });
  return { compressMBps, inflateMBps, ratio: total(compressed) / total(messages) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const loadAverage = () => existsSync("/proc/loadavg") ? readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ") : "n/a";
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/**
 * `connections` compressors (zlib wasm, context takeover, window 15, level 6) each compress one message in
 * turn, for `rounds` rounds after a warm-up round; then as many decompressors inflate those messages in the
 * same order. CPU time per message (user + system) each way, and the wire ratio.
 */
function connectionsRow(messages: Uint8Array[], connections: number, memLevel: number, budget: number, rounds: number) {
  const previous = setZlibWasmBudget({ compressors: budget, decompressors: budget === Infinity ? Infinity : DEFAULT_DECOMPRESSOR_BUDGET });
  const compressors = Array.from({ length: connections }, () => zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel }));
  const decompressors = Array.from({ length: connections }, () => zlibWasmCodec.createDecompressor(15));
  const sent: Uint8Array[] = [];
  for (let i = 0; i < connections; i++) decompressors[i].decompress(compressors[i].compress(messages[i % messages.length], true), true, Infinity);
  let input = 0;
  let output = 0;
  let cpu = process.cpuUsage();
  for (let r = 1; r <= rounds; r++) {
    for (let i = 0; i < connections; i++) {
      const message = messages[(i + r) % messages.length];
      input += message.length;
      const bytes = compressors[i].compress(message, true);
      output += bytes.length;
      sent.push(bytes);
    }
  }
  let used = process.cpuUsage(cpu);
  const compressMicroseconds = (used.user + used.system) / (rounds * connections);
  cpu = process.cpuUsage();
  let k = 0;
  for (let r = 1; r <= rounds; r++) {
    for (let i = 0; i < connections; i++) decompressors[i].decompress(sent[k++], true, Infinity);
  }
  used = process.cpuUsage(cpu);
  const inflateMicroseconds = (used.user + used.system) / (rounds * connections);
  for (const c of [...compressors, ...decompressors]) c.release();
  setZlibWasmBudget(previous);
  return { compressMicroseconds, inflateMicroseconds, ratio: output / input };
}

if (process.argv.includes("--connections-table")) {
  const sets: [string, Uint8Array[]][] = [
    ["chat JSON ~110 B", chatMessages(500)],
    ["JSON 2 KiB", Array.from({ length: 64 }, (_, i) => jsonDocument(2048, i * 37))],
    ["JSON 16 KiB", Array.from({ length: 16 }, (_, i) => jsonDocument(16 * 1024, i * 1000))],
  ];
  console.log(`# zlib wasm codecs of many connections taking turns, ${runtime} (level 6, 15-bit window; best of 3)`);
  console.log("");
  console.log(`Load average before: ${loadAverage()}`);
  console.log("");
  console.log("| payload | connections | memLevel | budgets (compressors / decompressors) | compress CPU µs per message | inflate CPU µs per message | wire ratio |");
  console.log("|---|---|---|---|---|---|---|");
  for (const [name, messages] of sets) {
    for (const connections of [100, 1000]) {
      for (const [memLevel, budget] of [[8, Infinity], [7, Infinity], [7, DEFAULT_COMPRESSOR_BUDGET]]) {
        const rounds = Math.max(3, Math.round(2.5e6 / (connections * messages[0].length)));
        const runs = [0, 1, 2].map(() => connectionsRow(messages, connections, memLevel, budget, rounds));
        const best = (key: "compressMicroseconds" | "inflateMicroseconds") => Math.min(...runs.map((r) => r[key])).toFixed(1);
        const label = budget === Infinity ? "none (each keeps its state)" : `${budget / 2 ** 20} MiB / ${DEFAULT_DECOMPRESSOR_BUDGET / 2 ** 20} MiB`;
        console.log(`| ${name} | ${connections} | ${memLevel} | ${label} | ${best("compressMicroseconds")} | ${best("inflateMicroseconds")} | ${runs[0].ratio.toFixed(4)} |`);
      }
    }
  }
  console.log("");
  console.log(`Load average after: ${loadAverage()}`);
  process.exit(0);
}

console.log(`# permessage-deflate codecs on ${runtime} (level 6, 15-bit window; ~${TIME_MS} ms per cell)`);
console.log("");
console.log("| payload | codec | context takeover | compress MB/s | inflate MB/s | ratio |");
console.log("|---|---|---|---|---|---|");
for (const payload of payloads) {
  const rows: [string, string, Promise<Result> | (() => Promise<Result>)][] = [
    ["zlib wasm (ours, default)", "yes", () => codecRow(payload.messages, true, zlibWasmCodec)],
    ["pako (ours)", "yes", () => codecRow(payload.messages, true)],
    ["node:zlib stream", "yes", () => zlibRow(payload.messages, true)],
    ["nodeZlibCodec (ours, opt-in)", "below 4 KiB", () => codecRow(payload.messages, true, nodeZlibCodec)],
    ["zlib wasm (ours, default)", "no", () => codecRow(payload.messages, false, zlibWasmCodec)],
    ["pako (ours)", "no", () => codecRow(payload.messages, false)],
    ["node:zlib *Sync", "no", () => zlibRow(payload.messages, false)],
    ["fflate", "no", () => fflateRow(payload.messages)],
    ["CompressionStream", "no", () => compressionStreamRow(payload.messages)],
  ];
  for (const [codec, takeover, run] of rows) {
    const r = await (run as () => Promise<Result>)();
    console.log(`| ${payload.name} | ${codec} | ${takeover} | ${fmt(r.compressMBps)} | ${fmt(r.inflateMBps)} | ${r.ratio.toFixed(3)} |`);
  }
}

// Bytes on the wire for a chat-like stream: 500 messages sent by a server, frames included.
{
  const { Protocol } = await import("../lib/core/protocol.ts");
  const { PerMessageDeflate } = await import("../lib/deflate/permessage_deflate.ts");
  const chat = chatMessages(500).map((m) => new TextDecoder().decode(m));
  const payloadBytes = chat.reduce((n, m) => n + encoder.encode(m).length, 0);
  const base = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  const configs: [string, () => InstanceType<typeof PerMessageDeflate>[]][] = [
    ["no compression", () => []],
    ["permessage-deflate, no context takeover", () => [new PerMessageDeflate("server", { ...base, serverNoContextTakeover: true })]],
    ["permessage-deflate, context takeover (15-bit)", () => [new PerMessageDeflate("server", base)]],
    ["permessage-deflate, context takeover (12-bit, memLevel 5)", () => [
      new PerMessageDeflate("server", { ...base, serverMaxWindowBits: 12 }, { memLevel: 5 }),
    ]],
  ];
  console.log("");
  console.log(`# Bytes on the wire for 500 chat messages (${payloadBytes} payload bytes), server to client`);
  console.log("");
  console.log("| configuration | bytes on the wire | per message | wire / payload |");
  console.log("|---|---|---|---|");
  for (const [name, make] of configs) {
    const protocol = new Protocol({ role: "server", extensions: make() });
    let wire = 0;
    for (const message of chat) {
      protocol.send(message);
      for (const chunk of protocol.takeOutgoing()) wire += chunk.length;
    }
    console.log(`| ${name} | ${wire} | ${(wire / chat.length).toFixed(1)} | ${(wire / payloadBytes).toFixed(3)} |`);
  }
}
