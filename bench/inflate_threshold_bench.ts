/**
 * Where inflating a received message on a worker starts to pay (`DEFAULT_PARALLEL_INFLATE_THRESHOLD` in
 * lib/deflate/permessage_deflate.ts): for JSON messages of growing size, the event loop's time to inflate
 * inline (zlib in WebAssembly, context takeover, window 15) against its time for the offloaded path
 * (`window()`, the copies, the post to the worker, the result's arrival and the priming with the window the
 * message leaves: everything but the worker's own inflate). Medians of `--runs` (default 31), by compressed
 * size; prints a markdown table with the load average.
 *
 *   deno run -A bench/inflate_threshold_bench.ts [--runs 31]
 *   bun bench/inflate_threshold_bench.ts
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { zlibWasmCodec } from "../lib/deflate/zlib_wasm_codec.ts";
import { closeDeflateWorkers, sharedInflatePool } from "../lib/deflate/parallel_deflate.ts";
import { useNativeDeflateWorkers } from "../lib/adapters/node_worker_pool.ts";
import { jsonText } from "./_json_text.ts";

const argv = (globalThis as unknown as { process?: { argv: string[] } }).process?.argv ?? [];
const runsIndex = argv.indexOf("--runs");
const RUNS = runsIndex === -1 ? 31 : Number(argv[runsIndex + 1]);

await useNativeDeflateWorkers();
const pool = sharedInflatePool(1);
if (pool === undefined) throw new Error("No workers here");

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const encoder = new TextEncoder();
const history = encoder.encode(jsonText(64 * 1024)); // an earlier message: the window is full
const historyCompressed = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }).compress(history, true);
const rows: string[] = [];
for (const size of [16 * 1024, 32 * 1024, 64 * 1024, 128 * 1024, 256 * 1024, 1024 * 1024]) {
  const json = encoder.encode(jsonText(size));
  const compressor = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
  compressor.compress(history, true);
  const compressed = compressor.compress(json, true);
  const inline: number[] = [];
  const offloaded: number[] = [];
  const posts: number[] = [];
  const primes: number[] = [];
  const worker: number[] = [];
  for (let run = 0; run < RUNS + 3; run++) {
    // Inline: the decompressor that saw the history inflates the message.
    const a = zlibWasmCodec.createDecompressor(15);
    a.decompress(historyCompressed, true, Infinity);
    let t = performance.now();
    a.decompress(compressed, true, Infinity);
    const tInline = performance.now() - t;
    // Offloaded: what the event loop does around the worker's inflate.
    const b = zlibWasmCodec.createDecompressor(15);
    b.decompress(historyCompressed, true, Infinity);
    t = performance.now();
    const dictionary = b.window!();
    const input = compressed.slice();
    const promise = pool.inflate(input, dictionary, 15, Infinity);
    const tPost = performance.now() - t;
    const posted = performance.now();
    const output = await promise;
    const arrived = performance.now();
    b.prime!(output.subarray(Math.max(0, output.length - 32768)));
    const tPrime = performance.now() - arrived;
    if (output.length !== json.length) throw new Error("Wrong output");
    a.release();
    b.release();
    if (run < 3) continue;
    inline.push(tInline);
    offloaded.push(tPost + tPrime);
    posts.push(tPost);
    primes.push(tPrime);
    worker.push(arrived - posted);
  }
  rows.push(
    `| ${(json.length / 1024).toFixed(0)} KiB | ${(compressed.length / 1024).toFixed(1)} KiB | ${median(inline).toFixed(3)} | ${median(offloaded).toFixed(3)} (${median(posts).toFixed(3)} + ${median(primes).toFixed(3)}) | ${median(worker).toFixed(3)} |`,
  );
}

closeDeflateWorkers();
let load = "?";
try {
  load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
} catch {
  // not Linux
}
const runtime = "Deno" in globalThis ? "Deno" : "Bun" in globalThis ? "Bun" : "Node";
console.log(`${runtime}, ${RUNS} runs, load average ${load}`);
console.log("| JSON | compressed | inline inflate, ms | offloaded, event loop ms (post + prime) | worker round trip, ms |");
console.log("|---|---:|---:|---:|---:|");
for (const row of rows) console.log(row);
