/**
 * What a 1 MiB compressed echo costs the server, piece by piece, on one runtime: deflate and inflate of
 * ~1 MiB of JSON with our zlib in WebAssembly (lib/deflate/zlib_wasm_codec.ts) against the runtime's
 * native `node:zlib` (`deflateRawSync` / `inflateRawSync`, same level, window and memLevel), the bytes each
 * puts on the wire (and `ws`'s settings: zlib's default level, memLevel 8), and the UTF-8 check of the
 * inflated text (lib/core/utf8.ts against a fatal `TextDecoder` and `node:buffer`'s `isUtf8`). Median wall time and
 * mean CPU time of `--runs` (default 15) after 3 warm-ups; prints a markdown table with the load average.
 *
 *   deno run -A bench/large_codec_bench.ts [--runs 15] [--size 1048576] [--mem-level 8]
 *   bun bench/large_codec_bench.ts
 *   bun build bench/large_codec_bench.ts --target node --outfile /tmp/large_codec_bench.mjs && node /tmp/large_codec_bench.mjs
 *
 * @module
 */

import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { isUtf8 as nodeIsUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { zlibWasmCodec } from "../lib/deflate/zlib_wasm_codec.ts";
import { isAscii, isUtf8 } from "../lib/core/utf8.ts";
import { jsonText } from "./_json_text.ts";

const runtime = "Deno" in globalThis
  ? `Deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Node ${(globalThis as unknown as { process: { version: string } }).process.version}`;
const argv = (globalThis as unknown as { process?: { argv: string[] } }).process?.argv ?? [];
const runsIndex = argv.indexOf("--runs");
const RUNS = runsIndex === -1 ? 15 : Number(argv[runsIndex + 1]);
const sizeIndex = argv.indexOf("--size");
const SIZE = sizeIndex === -1 ? 1048576 : Number(argv[sizeIndex + 1]);
const memIndex = argv.indexOf("--mem-level");
/** memLevel of our rows (PerMessageDeflate's default is 7 since 7525d81; ws uses 8). */
const MEM_LEVEL = memIndex === -1 ? 8 : Number(argv[memIndex + 1]);

/**
 * Median wall time and mean CPU time (user + system of the process, ms) of `RUNS` calls: CPU time is
 * what a loaded machine disturbs least.
 */
function median(run: () => void): [number, number] {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) run();
  const cpu = process.cpuUsage();
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  const used = process.cpuUsage(cpu);
  times.sort((a, b) => a - b);
  return [times[times.length >> 1], (used.user + used.system) / 1000 / RUNS];
}

const payload = new TextEncoder().encode(jsonText(SIZE));
const mb = payload.length / 1e6;
const rows: string[] = [];
const row = (what: string, [ms, cpu]: [number, number], bytes?: number) =>
  rows.push(`| ${what} | ${ms.toFixed(2)} | ${cpu.toFixed(2)} | ${(mb / (cpu / 1000)).toFixed(0)} | ${bytes ?? ""} |`);

// Deflate: ours (level 6, window 15, memLevel 8, fresh window each message: as on a worker).
const compressor = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: MEM_LEVEL });
let wasmBytes = 0;
row(`deflate, zlib wasm, level 6, memLevel ${MEM_LEVEL}`, median(() => {
  compressor.prime!(new Uint8Array(0));
  wasmBytes = compressor.compress(payload, true).length;
}), wasmBytes);
for (const level of [6, 1]) {
  let nativeBytes = 0;
  const options = { level, memLevel: MEM_LEVEL, windowBits: 15, finishFlush: constants.Z_SYNC_FLUSH };
  row(`deflate, node:zlib deflateRawSync, level ${level}, memLevel ${MEM_LEVEL}`, median(() => {
    nativeBytes = deflateRawSync(payload, options).length - 4;
  }), nativeBytes);
}
let wasm1 = 0;
const compressor1 = zlibWasmCodec.createCompressor({ windowBits: 15, level: 1, memLevel: MEM_LEVEL });
row(`deflate, zlib wasm, level 1, memLevel ${MEM_LEVEL}`, median(() => {
  compressor1.prime!(new Uint8Array(0));
  wasm1 = compressor1.compress(payload, true).length;
}), wasm1);
// ws: zlib's default level (Z_DEFAULT_COMPRESSION = 6), memLevel 8, window 15.
let wsBytes = 0;
row("deflate, node:zlib as ws (Z_DEFAULT_COMPRESSION, memLevel 8)", median(() => {
  wsBytes = deflateRawSync(payload, { level: constants.Z_DEFAULT_COMPRESSION, memLevel: 8, windowBits: 15, finishFlush: constants.Z_SYNC_FLUSH }).length - 4;
}), wsBytes);

// Inflate of what the client sends (no context takeover: a message alone).
const deflated = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH });
const message = deflated.subarray(0, deflated.length - 4);
const decompressor = zlibWasmCodec.createDecompressor(15);
let inflatedOk = true;
row("inflate, zlib wasm", median(() => {
  const out = decompressor.decompress(message, true, 64 * 1024 * 1024);
  inflatedOk &&= out.length === payload.length;
}));
row("inflate, node:zlib inflateRawSync", median(() => {
  const out = inflateRawSync(deflated, { windowBits: 15, finishFlush: constants.Z_SYNC_FLUSH });
  inflatedOk &&= out.length === payload.length;
}));
if (!inflatedOk) throw new Error("inflate did not give the message back");

// UTF-8 check of the inflated text (ASCII JSON; and the same with one 2-byte character up front).
const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });
const accented = new Uint8Array(payload.length + 2);
accented.set([0xc3, 0xa9]);
accented.set(payload, 2);
row("utf8: core isAscii (ASCII JSON)", median(() => void isAscii(payload)));
row("utf8: core isUtf8 (ASCII JSON; no native check installed)", median(() => void isUtf8(payload)));
row("utf8: core isUtf8 (é + JSON; no native check installed)", median(() => void isUtf8(accented)));
row("utf8: node:buffer isUtf8 (ASCII JSON)", median(() => void nodeIsUtf8(payload)));
row("utf8: node:buffer isUtf8 (é + JSON)", median(() => void nodeIsUtf8(accented)));
row("utf8: TextDecoder fatal decode (ASCII JSON)", median(() => void fatal.decode(payload)));
row("utf8: TextDecoder fatal decode (é + JSON)", median(() => void fatal.decode(accented)));
row("utf8: TextDecoder lenient decode (ASCII JSON)", median(() => void lenient.decode(payload)));
row("utf8: TextDecoder lenient decode (é + JSON)", median(() => void lenient.decode(accented)));

const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`\n${runtime}: ${payload.length} bytes of JSON, median of ${RUNS} (load average ${load}):\n`);
console.log("| operation | median wall ms | CPU ms | MB/s (CPU) | bytes on the wire |");
console.log("|---|---:|---:|---:|---:|");
for (const line of rows) console.log(line);
