/**
 * What the broadcast profile (`deflate: { broadcast: true }`) costs on the wire: the compression ratio
 * (compressed bytes / raw bytes) of a stream of JSON messages compressed with no context takeover (every
 * message from an empty window, as a broadcast server sends them) against context takeover (one window
 * kept across messages, the default), with the library's codec (`zlibWasmCodec`) at 15-bit windows, level
 * 6, memLevel 8 (the defaults). The messages are generated deterministically (a fixed-seed generator):
 * chat messages of ~100 B, dashboard snapshots of ~2 KiB and ~16 KiB. Prints a markdown table.
 *
 *   deno run --allow-env --allow-read bench/broadcast_ratio_bench.ts      (or: bun bench/broadcast_ratio_bench.ts)
 *
 * The ratios are the codec's output for whole messages (the `00 00 ff ff` tail removed, RFC 7692 §7.2.1),
 * without frame headers. (`PerMessageDeflate` sends a no-context-takeover message uncompressed when
 * compressing does not shrink it; with these messages every one shrinks, so that changes nothing here.)
 *
 * @module
 */

import { zlibWasmCodec } from "../lib/deflate/zlib_wasm_codec.ts";

const encoder = new TextEncoder();

/** A fixed-seed generator (mulberry32): the same messages on every run and runtime. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USERS = ["ana", "bo", "chen", "dmitri", "eve", "farah", "gus", "hana", "ivo", "jun", "kemal", "lena"];
const WORDS = ("ok sure see you at the standup tomorrow deploy is green again who broke the build lunch " +
  "anyone the dashboard looks off can you check the logs thanks merged and shipped").split(" ");
const HOSTS = Array.from({ length: 200 }, (_, i) => `web-${String(i + 1).padStart(3, "0")}.eu-west-1`);
const STATUS = ["ok", "ok", "ok", "ok", "degraded", "ok", "ok", "down"];

/** A chat message of ~100 bytes: `{"type":"message","room":...,"user":...,"text":...,"ts":...,"id":...}`. */
function chatMessage(next: () => number, i: number): string {
  const words = Array.from(
    { length: 2 + Math.floor(next() * 4) },
    () => WORDS[Math.floor(next() * WORDS.length)],
  );
  return JSON.stringify({
    type: "message",
    room: next() < 0.7 ? "general" : "ops",
    user: USERS[Math.floor(next() * USERS.length)],
    text: words.join(" "),
    ts: 1_764_000_000_000 + i * 1_377 + Math.floor(next() * 900),
    id: 90_000 + i,
  });
}

/** A dashboard snapshot of about `size` bytes: one row of live figures per host, rows added until it fits. */
function dashboardSnapshot(next: () => number, i: number, size: number): string {
  const snapshot = { type: "metrics", seq: i, ts: 1_764_000_000_000 + i * 1_000, hosts: [] as unknown[] };
  for (let h = 0;; h++) {
    const row = {
      host: HOSTS[h % HOSTS.length],
      cpu: Math.round(next() * 1000) / 10,
      mem: Math.round((40 + next() * 50) * 10) / 10,
      rps: Math.floor(200 + next() * 1800),
      p99: Math.round((20 + next() * 180) * 100) / 100,
      errors: next() < 0.8 ? 0 : Math.floor(next() * 12),
      status: STATUS[Math.floor(next() * STATUS.length)],
    };
    if (JSON.stringify(snapshot).length + JSON.stringify(row).length + 1 > size) break;
    snapshot.hosts.push(row);
  }
  return JSON.stringify(snapshot);
}

interface Payload {
  name: string;
  messages: Uint8Array[];
}

function generate(
  count: number,
  seed: number,
  make: (next: () => number, i: number) => string,
): Uint8Array[] {
  const next = random(seed);
  return Array.from({ length: count }, (_, i) => encoder.encode(make(next, i)));
}

const payloads: Payload[] = [
  { name: "chat JSON ~100 B", messages: generate(500, 1, chatMessage) },
  {
    name: "dashboard JSON ~2 KiB",
    messages: generate(300, 2, (next, i) => dashboardSnapshot(next, i, 2048)),
  },
  {
    name: "dashboard JSON ~16 KiB",
    messages: generate(200, 3, (next, i) => dashboardSnapshot(next, i, 16384)),
  },
];

interface Sizes {
  raw: number;
  compressed: number;
  /** Messages that did not shrink. */
  grew: number;
}

function compressAll(messages: Uint8Array[], takeover: boolean): Sizes {
  const compressor = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
  const sizes: Sizes = { raw: 0, compressed: 0, grew: 0 };
  for (const message of messages) {
    const out = compressor.compress(message, true);
    if (!takeover) compressor.reset();
    sizes.raw += message.length;
    sizes.compressed += out.length;
    if (out.length >= message.length) sizes.grew++;
  }
  compressor.release();
  return sizes;
}

const runtime = "Deno" in globalThis
  ? `Deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : "Node";

console.log(`# Broadcast profile: ratio (compressed / raw) with and without context takeover on ${runtime}`);
console.log("");
console.log("zlibWasmCodec, 15-bit window, level 6, memLevel 8; deterministic messages.");
console.log("");
console.log(
  "| messages | count | mean size | context takeover | no context takeover (broadcast) | bytes, broadcast / takeover |",
);
console.log("|---|---|---|---|---|---|");
for (const { name, messages } of payloads) {
  const takeover = compressAll(messages, true);
  const alone = compressAll(messages, false);
  const mean = (takeover.raw / messages.length).toFixed(0);
  const withTakeover = (takeover.compressed / takeover.raw).toFixed(3);
  const withoutTakeover = (alone.compressed / alone.raw).toFixed(3);
  const more = (alone.compressed / takeover.compressed).toFixed(2);
  console.log(
    `| ${name} | ${messages.length} | ${mean} B | ${withTakeover} | ${withoutTakeover} | ${more}x |`,
  );
  if (alone.grew > 0) {
    console.log(
      `(${name}: ${alone.grew} messages did not shrink without context takeover: sent as they are)`,
    );
  }
}
