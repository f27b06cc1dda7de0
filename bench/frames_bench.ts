/**
 * Frame throughput: `encodeFrame`, `FrameParser` and a `Protocol` round, for 64 B, 16 KiB and 1 MiB
 * payloads, masked and unmasked. Prints one markdown table; MB/s counts payload bytes only (1 MB = 10^6 B).
 *
 * A plain script (no `Deno.bench`) so that both runtimes run the same code:
 *
 * ```sh
 * deno run --allow-env --allow-read bench/frames_bench.ts   # or: deno task bench
 * bun bench/frames_bench.ts
 * ```
 *
 * Each case is warmed up, then timed three times for a fixed wall-clock budget; the median run is printed.
 * Only Web-standard APIs and `performance.now()` are used; the runtime's own global is read for the header.
 *
 * @module
 */

import { encodeFrame } from "../lib/core/encode_frame.ts";
import { FrameParser } from "../lib/core/frame_parser.ts";
import { Opcode } from "../lib/core/opcode.ts";
import { Protocol } from "../lib/core/protocol.ts";

const WARMUP_MS = 250;
const RUN_MS = 500;
const RUNS = 3;
/** Bytes of wire data per decode batch (at least 4 frames). */
const BATCH_BYTES = 2 * 1024 * 1024;
/** Bytes of payload encoded per encode pass (at least 1 frame). */
const ENCODE_PASS_BYTES = 1024 * 1024;
/** Socket-sized read. */
const CHUNK_SIZE = 64 * 1024;
const SIZES = [64, 16 * 1024, 1024 * 1024];

/** Work done by one pass of a case, used to turn passes per second into rates. */
interface PassSize {
  frames: number;
  payloadBytes: number;
}

interface Rate {
  mbPerSecond: number;
  framesPerSecond: number;
  /** Slowest run's rate over the fastest's, minus one: 0.15 means the runs differ by 15%. */
  spread: number;
}

/** Runs that differ by more than this are listed in the notes as noisy. */
const NOISY_SPREAD = 0.15;
const noisyRows: string[] = [];

/** Keeps results observable so that no engine can drop the work. */
let sink = 0;

function main(): void {
  const runtime = describeRuntime();
  console.log(`# frames_bench: ${runtime.name} ${runtime.version}`);
  console.log("");
  console.log(`Command: \`${runtime.command}\``);
  console.log(`Engine: ${runtime.engine}; ${navigator.hardwareConcurrency} logical CPUs`);
  console.log(`Each row: ${WARMUP_MS} ms warm-up, then the median of ${RUNS} runs of ${RUN_MS} ms.`);
  console.log("");
  console.log("| case | size | masked | MB/s | frames/s |");
  console.log("| --- | ---: | :---: | ---: | ---: |");

  for (const size of SIZES) {
    for (const masked of [false, true]) row("encodeFrame", size, masked, encodeCase(size, masked));
  }
  for (const size of SIZES) {
    for (const masked of [false, true]) {
      row("FrameParser, 64 KiB chunks", size, masked, decodeCase(size, masked, false));
    }
  }
  for (const size of SIZES) {
    for (const masked of [false, true]) {
      row("FrameParser, 1 frame per chunk", size, masked, decodeCase(size, masked, true));
    }
  }
  const receiveChunked = protocolReceiveCase(false);
  row("Protocol.receive text (server), 64 KiB chunks ²", 64, true, receiveChunked.rate);
  row("Protocol.receive text (server), 1 frame per chunk ²", 64, true, protocolReceiveCase(true).rate);
  row("Protocol.send text (server)", 64, false, protocolSendCase("server"));
  row("Protocol.send text (client)", 64, true, protocolSendCase("client"));
  const copy = copyCase(receiveChunked.batchBytes);
  row("Uint8Array.set bulk copy (reference) ³", receiveChunked.batchBytes, undefined, copy);

  const copyShare = (100 * receiveChunked.wireBytesPerSecond) / (copy.mbPerSecond * 1e6);
  console.log("");
  console.log("Notes:");
  console.log("- MB/s counts payload bytes (headers and masking keys excluded); 1 MB = 10^6 bytes.");
  console.log(
    "- encodeFrame, unmasked, 1 MiB: payloads over 16 KiB are not copied (the header and the caller's payload " +
      "are returned as two chunks), so this row measures only the header.",
  );
  console.log(
    "- FrameParser, 1 frame per chunk, unmasked, 16 KiB and 1 MiB: the payload is returned as a view of the " +
      "chunk, so nothing is copied or touched; these rows measure only header parsing.",
  );
  console.log(
    "- FrameParser masked rows: the parser unmasks in place; each pass feeds the same buffer again, so the " +
      "next pass unmasks the already-unmasked bytes (re-masking them). XOR cost does not depend on the data, " +
      "so no copy is needed and none is timed. The first pass is checked byte for byte against the payload.",
  );
  console.log(
    "- FrameParser 64 KiB chunks, 1 MiB: each payload spans 16+ chunks and is joined into one new buffer " +
      "(one copy per frame, included). Chunk views are built once, outside the timing.",
  );
  console.log(
    `- ² Protocol.receive: 64 B JSON-like text, UTF-8 decoded; each pass first restores the masked batch with ` +
      `one bulk .set() of ${
        formatSize(receiveChunked.batchBytes)
      } into the buffer fed to the protocol. That copy ` +
      `is included; by the reference row it is about ${
        copyShare.toFixed(1)
      }% of the 64 KiB-chunk row's time.`,
  );
  console.log(
    `- ³ Reference: one ${formatSize(receiveChunked.batchBytes)} Uint8Array.set per pass (memory speed).`,
  );
  console.log(
    noisyRows.length === 0
      ? `- All rows: the ${RUNS} runs were within ${NOISY_SPREAD * 100}% of each other.`
      : `- Noisy (the ${RUNS} runs differ by more than ${
        NOISY_SPREAD * 100
      }%; another process may have been ` +
        `running): ${noisyRows.join("; ")}.`,
  );
  if (sink === 0.5) console.log("");
}

function row(name: string, size: number, masked: boolean | undefined, rate: Rate): void {
  const mb = rate.mbPerSecond >= 100
    ? Math.round(rate.mbPerSecond).toLocaleString("en-US")
    : rate.mbPerSecond.toFixed(1);
  const label = `${name}, ${formatSize(size)}${masked === true ? ", masked" : ""}`;
  if (rate.spread > NOISY_SPREAD) noisyRows.push(`${label} (${Math.round(rate.spread * 100)}%)`);
  const fps = rate.framesPerSecond === 0 ? "–" : Math.round(rate.framesPerSecond).toLocaleString("en-US");
  console.log(
    `| ${name} | ${formatSize(size)} | ${
      masked === undefined ? "–" : masked ? "yes" : "no"
    } | ${mb} | ${fps} |`,
  );
}

/** Runs `pass` for the warm-up budget, then RUNS timed runs; returns the median run's rates. */
function measure(pass: () => number, size: PassSize): Rate {
  runFor(pass, WARMUP_MS);
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) rates.push(runFor(pass, RUN_MS));
  rates.sort((a, b) => a - b);
  const passesPerSecond = rates[Math.floor(RUNS / 2)];
  return {
    mbPerSecond: (passesPerSecond * size.payloadBytes) / 1e6,
    framesPerSecond: passesPerSecond * size.frames,
    spread: rates[RUNS - 1] / rates[0] - 1,
  };
}

/** Runs whole passes until `budgetMs` has elapsed; returns passes per second. */
function runFor(pass: () => number, budgetMs: number): number {
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    sink = (sink + pass()) | 0;
    passes++;
    elapsed = performance.now() - start;
  } while (elapsed < budgetMs);
  return (passes * 1000) / elapsed;
}

function encodeCase(size: number, masked: boolean): Rate {
  const payload = randomBytes(size);
  const count = Math.max(1, Math.floor(ENCODE_PASS_BYTES / size));
  const options = { mask: masked };
  function pass(): number {
    let check = 0;
    for (let i = 0; i < count; i++) {
      const chunks = encodeFrame(Opcode.Binary, payload, options);
      check += chunks.length + chunks[0][1];
    }
    return check;
  }
  return measure(pass, { frames: count, payloadBytes: count * size });
}

function decodeCase(size: number, masked: boolean, framePerChunk: boolean): Rate {
  const payload = randomBytes(size);
  const frames: Uint8Array[] = [];
  let wireBytes = 0;
  while (frames.length < 4 || wireBytes < BATCH_BYTES) {
    const frame = concat(encodeFrame(Opcode.Binary, payload, { mask: masked }));
    frames.push(frame);
    wireBytes += frame.length;
  }
  const work = concat(frames);
  const chunks: Uint8Array[] = [];
  if (framePerChunk) {
    let offset = 0;
    for (const frame of frames) {
      chunks.push(work.subarray(offset, offset + frame.length));
      offset += frame.length;
    }
  } else {
    for (let offset = 0; offset < work.length; offset += CHUNK_SIZE) {
      chunks.push(work.subarray(offset, Math.min(offset + CHUNK_SIZE, work.length)));
    }
  }
  const role = masked ? "server" : "client";
  verifyDecode(new FrameParser({ role }), chunks, frames.length, payload);
  const parser = new FrameParser({ role });
  const expected = frames.length;
  function pass(): number {
    let count = 0;
    let check = 0;
    for (const chunk of chunks) {
      parser.push(chunk);
      for (let frame = parser.next(); frame !== undefined; frame = parser.next()) {
        count++;
        check += frame.payload.length;
      }
    }
    if (count !== expected) throw new Error(`Decoded ${count} frames, expected ${expected}`);
    return check;
  }
  return measure(pass, { frames: expected, payloadBytes: expected * size });
}

/** One pass outside the timing, checking every payload byte for byte. */
function verifyDecode(
  parser: FrameParser,
  chunks: Uint8Array[],
  expected: number,
  payload: Uint8Array,
): void {
  let count = 0;
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let frame = parser.next(); frame !== undefined; frame = parser.next()) {
      count++;
      if (!equalBytes(frame.payload, payload)) throw new Error(`Frame ${count} decoded to the wrong payload`);
    }
  }
  if (count !== expected) throw new Error(`Decoded ${count} frames, expected ${expected}`);
}

function jsonText(seq: number): string {
  const base = `{"type":"tick","seq":${seq},"sym":"ABCD","px":101.25,"ok":1`;
  return base + " ".repeat(63 - base.length) + "}";
}

function protocolReceiveCase(
  framePerChunk: boolean,
): { rate: Rate; batchBytes: number; wireBytesPerSecond: number } {
  const texts: string[] = [];
  const frames: Uint8Array[] = [];
  let wireBytes = 0;
  while (wireBytes < BATCH_BYTES) {
    const text = jsonText(100000 + texts.length);
    const bytes = new TextEncoder().encode(text);
    if (bytes.length !== 64) throw new Error(`Text is ${bytes.length} bytes, not 64`);
    const frame = concat(encodeFrame(Opcode.Text, bytes, { mask: true }));
    texts.push(text);
    frames.push(frame);
    wireBytes += frame.length;
  }
  const batch = concat(frames);
  const work = new Uint8Array(batch.length);
  const chunks: Uint8Array[] = [];
  if (framePerChunk) {
    let offset = 0;
    for (const frame of frames) {
      chunks.push(work.subarray(offset, offset + frame.length));
      offset += frame.length;
    }
  } else {
    for (let offset = 0; offset < work.length; offset += CHUNK_SIZE) {
      chunks.push(work.subarray(offset, Math.min(offset + CHUNK_SIZE, work.length)));
    }
  }
  const protocol = new Protocol({ role: "server" });
  const expected = texts.length;
  function pass(): number {
    work.set(batch);
    for (const chunk of chunks) protocol.receive(chunk);
    const events = protocol.takeEvents();
    if (events.length !== expected) throw new Error(`Received ${events.length} events, expected ${expected}`);
    return events.length;
  }
  work.set(batch);
  for (const chunk of chunks) protocol.receive(chunk);
  const events = protocol.takeEvents();
  for (let i = 0; i < expected; i++) {
    const event = events[i];
    if (event.type !== "message" || event.data !== texts[i]) throw new Error(`Message ${i} is wrong`);
  }
  const rate = measure(pass, { frames: expected, payloadBytes: expected * 64 });
  return {
    rate,
    batchBytes: batch.length,
    wireBytesPerSecond: (rate.framesPerSecond / expected) * batch.length,
  };
}

function protocolSendCase(role: "server" | "client"): Rate {
  const texts: string[] = [];
  for (let i = 0; i < 16384; i++) texts.push(jsonText(100000 + i));
  const protocol = new Protocol({ role });
  function pass(): number {
    for (const text of texts) protocol.send(text);
    const outgoing = protocol.takeOutgoing();
    if (outgoing.length !== texts.length) {
      throw new Error(`Sent ${outgoing.length} chunks, expected ${texts.length}`);
    }
    return outgoing[outgoing.length - 1].length;
  }
  return measure(pass, { frames: texts.length, payloadBytes: texts.length * 64 });
}

function copyCase(size: number): Rate {
  const source = randomBytes(size);
  const target = new Uint8Array(size);
  function pass(): number {
    target.set(source);
    return target[size - 1];
  }
  return measure(pass, { frames: 0, payloadBytes: size });
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, size)));
  }
  return bytes;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
  return `${bytes} B`;
}

function describeRuntime(): { name: string; version: string; engine: string; command: string } {
  const runtimes = globalThis as unknown as {
    Deno?: { version: { deno: string; v8: string } };
    Bun?: { version: string; revision: string };
  };
  if ("Bun" in globalThis && runtimes.Bun !== undefined) {
    return {
      name: "Bun",
      version: runtimes.Bun.version,
      engine: `JavaScriptCore (Bun revision ${runtimes.Bun.revision.slice(0, 12)})`,
      command: "bun bench/frames_bench.ts",
    };
  }
  if ("Deno" in globalThis && runtimes.Deno !== undefined) {
    return {
      name: "Deno",
      version: runtimes.Deno.version.deno,
      engine: `V8 ${runtimes.Deno.version.v8}`,
      command: "deno run --allow-env --allow-read bench/frames_bench.ts",
    };
  }
  return {
    name: "unknown runtime",
    version: navigator.userAgent,
    engine: "unknown",
    command: "bench/frames_bench.ts",
  };
}

main();
