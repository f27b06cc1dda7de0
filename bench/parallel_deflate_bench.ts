/**
 * Large compressed messages: what deflating them on workers (`lib/deflate/parallel_deflate.ts`) buys. Every
 * compressing echo server of bench/echo/servers.ts runs in its own process; raw clients (no inflation on
 * this side: they count the echoed frames) measure, per server:
 *
 * - echo of compressed JSON messages of each size (default 1 MiB and 4 MiB), `--inflight` messages
 *   outstanding on one connection for `--seconds`: messages a second, the server's CPU time per message
 *   (user + system of its process, every thread, from /proc: what a loaded machine disturbs least), its main
 *   thread's (the event loop's: what every other connection waits for), and the round trip (p50, p99);
 * - the head-of-line effect: a canary connection sends 16 bytes every 10 ms and times each echo, alone,
 *   then while another connection echoes 1 MiB compressed messages (`--inflight` outstanding): p50, p99 and
 *   the ratio of the p99s.
 *
 * The client offers `client_no_context_takeover` (its messages are deflated once, up front); the servers
 * compress their echoes with their defaults (context takeover). Run it in a committed snapshot, and in the
 * snapshot before the change for the "before" rows (copy this file there):
 *
 *   deno run -A bench/parallel_deflate_bench.ts [--sizes 1048576,4194304] [--seconds 5] [--inflight 2] [--servers name,...]
 *
 * With `--threshold-table`, it prints instead, per message size, the time to deflate inline and on the
 * pool (where offloading starts to pay: the default `parallel.threshold`).
 *
 * @module
 */

import net from "node:net";
import process from "node:process";
import { constants, deflateRawSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { cpuMicros, SERVERS, startServer } from "./echo/servers.ts";

/** CPU time (user + system) of a process's main thread, the event loop's, in microseconds, from /proc. */
function mainThreadCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
import { jsonText } from "./_json_text.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const sizes = arg("sizes", "1048576,4194304").split(",").map(Number);
const seconds = Number(arg("seconds", "5"));
const inflight = Number(arg("inflight", "2"));
const selected = arg("servers", SERVERS.map((s) => s.name).join(",")).split(",").map((s) => s.trim());

/** A masked frame (fixed mask key: a benchmark, not a client). */
function frame(first: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = new Uint8Array(header + 4 + length);
  out[0] = first;
  if (header === 2) out[1] = 0x80 | length;
  else if (header === 4) {
    out[1] = 0x80 | 126;
    out[2] = length >>> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setUint32(6, length);
  }
  const key = [0x12, 0x34, 0x56, 0x78];
  out.set(key, header);
  for (let i = 0; i < length; i++) out[header + 4 + i] = payload[i] ^ key[i & 3];
  return out;
}

/** A compressed text frame of JSON of about `size` bytes (RFC 7692 §7.2.1: the 00 00 ff ff removed). */
function jsonFrame(size: number): Uint8Array {
  const payload = new TextEncoder().encode(jsonText(size));
  const compressed = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH });
  return frame(0xc1, compressed.subarray(0, compressed.length - 4));
}

/** A raw client: the handshake (offering permessage-deflate), then the socket. */
function open(url: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
    let head = "";
    socket.on("error", reject);
    socket.on("connect", () =>
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n`,
      ));
    const onData = (chunk: Uint8Array) => {
      head += new TextDecoder("latin1").decode(chunk);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.off("data", onData);
      if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(head.split("\r\n")[0]));
      if (!/permessage-deflate/i.test(head.slice(0, end))) {
        return reject(new Error("permessage-deflate was not accepted"));
      }
      resolve(socket);
    };
    socket.on("data", onData);
  });
}

/** Calls `onMessage` for each whole data message in a server's unmasked byte stream, skipping payloads. */
function frameReader(onMessage: () => void): (chunk: Uint8Array) => void {
  let header = new Uint8Array(0);
  let skip = 0; // payload bytes of the current frame still to come
  let fin = false, data = false;
  return (chunk) => {
    let at = 0;
    while (at < chunk.length) {
      if (skip > 0) {
        const take = Math.min(skip, chunk.length - at);
        skip -= take;
        at += take;
        if (skip === 0 && fin && data) onMessage();
        continue;
      }
      const joined = new Uint8Array(header.length + Math.min(14, chunk.length - at));
      joined.set(header);
      joined.set(chunk.subarray(at, at + joined.length - header.length), header.length);
      if (joined.length < 2) {
        header = joined;
        return;
      }
      const length7 = joined[1] & 0x7f;
      const size = length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
      if (joined.length < size) {
        header = joined;
        return;
      }
      const length = length7 === 126
        ? (joined[2] << 8) | joined[3]
        : length7 === 127
        ? new DataView(joined.buffer, 6, 4).getUint32(0)
        : length7;
      fin = (joined[0] & 0x80) !== 0;
      data = (joined[0] & 0x0f) < 8;
      at += size - header.length;
      header = new Uint8Array(0);
      skip = length;
      if (skip === 0 && fin && data) onMessage();
    }
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** Echoes `message` with `inflight` outstanding for `ms`: round trips, sorted. */
async function flood(
  url: string,
  message: Uint8Array,
  ms: number,
): Promise<{ times: number[]; count: number }> {
  const socket = await open(url);
  const sentAt: number[] = [];
  const times: number[] = [];
  let stopped = false;
  const send = () => {
    sentAt.push(performance.now());
    socket.write(message);
  };
  socket.on(
    "data",
    frameReader(() => {
      times.push(performance.now() - sentAt.shift()!);
      if (!stopped) send();
    }),
  );
  for (let i = 0; i < inflight; i++) send();
  await new Promise((resolve) => setTimeout(resolve, ms));
  stopped = true;
  socket.destroy();
  return { times: times.sort((a, b) => a - b), count: times.length };
}

/** The canary's round trips (a 16-byte text every 10 ms) for `ms`, sorted. */
async function canary(url: string, ms: number): Promise<number[]> {
  const socket = await open(url);
  const message = frame(0x81, new TextEncoder().encode("canary 012345678"));
  const times: number[] = [];
  let sentAt = 0, waiting = false, stopped = false;
  socket.on(
    "data",
    frameReader(() => {
      times.push(performance.now() - sentAt);
      waiting = false;
    }),
  );
  const tick = () => {
    if (stopped) return;
    if (!waiting) {
      waiting = true;
      sentAt = performance.now();
      socket.write(message);
    }
    setTimeout(tick, 10);
  };
  tick();
  await new Promise((resolve) => setTimeout(resolve, ms));
  stopped = true;
  if (waiting) times.push(performance.now() - sentAt);
  socket.destroy();
  return times.sort((a, b) => a - b);
}

interface EchoRow {
  server: string;
  size: number;
  perSecond: number;
  /** Server CPU (user + system, all its threads) per echoed message, ms. */
  cpuPerMessage: number;
  /** CPU of the server's main thread (its event loop) per echoed message, ms. */
  loopCpuPerMessage: number;
  p50: number;
  p99: number;
}
interface HolRow {
  server: string;
  aloneP50: number;
  aloneP99: number;
  floodP50: number;
  floodP99: number;
}

if (process.argv.includes("--threshold-table")) {
  await thresholdTable();
  process.exit(0);
}

/**
 * Where offloading pays: per message size, the time to deflate JSON inline (the event loop blocked all
 * along) and on the pool (wall time; the event loop is blocked only for the copies), median of 30.
 */
async function thresholdTable(): Promise<void> {
  const { zlibWasmCodec } = await import("../lib/deflate/zlib_wasm_codec.ts");
  const { DeflateWorkerPool, webDeflateWorkerSpawner, defaultDeflateWorkers } = await import(
    "../lib/deflate/parallel_deflate.ts"
  );
  const workers = Math.max(1, defaultDeflateWorkers());
  const pool = new DeflateWorkerPool(webDeflateWorkerSpawner()!, workers);
  const compressor = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
  const options = { windowBits: 15, level: 6, memLevel: 8 };
  console.log(
    `\nDeflating JSON (level 6, window 15), median of 30; pool of ${workers} (load average ${await loadAverage()}):\n`,
  );
  console.log("| size | inline ms (loop blocked) | pool ms (wall) | inline bytes | pool bytes |");
  console.log("|---:|---:|---:|---:|---:|");
  for (const size of [8192, 16384, 32768, 65536, 131072, 262144, 1048576]) {
    const payload = new TextEncoder().encode(jsonText(size));
    const inline: number[] = [];
    const offloaded: number[] = [];
    let inlineBytes = 0, poolBytes = 0;
    for (let i = 0; i < 33; i++) {
      compressor.reset();
      let start = performance.now();
      inlineBytes = compressor.compress(payload, true).length;
      if (i >= 3) inline.push(performance.now() - start);
      start = performance.now();
      poolBytes = (await pool.deflate(payload, options)).length;
      if (i >= 3) offloaded.push(performance.now() - start);
    }
    console.log(
      `| ${size >> 10} KiB | ${median(inline).toFixed(2)} | ${
        median(offloaded).toFixed(2)
      } | ${inlineBytes} | ${poolBytes} |`,
    );
  }
  pool.close();
}

const echoRows: EchoRow[] = [];
const holRows: HolRow[] = [];
const frames = new Map(sizes.map((size) => [size, jsonFrame(size)]));
const oneMiB = frames.get(1048576) ?? jsonFrame(1048576);
for (const spec of SERVERS) {
  if (!selected.includes(spec.name)) continue;
  const command = spec.command(true);
  if (command === undefined) continue;
  const server = await startServer(...command);
  try {
    for (const size of sizes) {
      await flood(server.url, frames.get(size)!, 1000); // warm-up
      const cpuBefore = cpuMicros(server.pid);
      const loopBefore = mainThreadCpuMicros(server.pid);
      const { times, count } = await flood(server.url, frames.get(size)!, seconds * 1000);
      const cpu = cpuMicros(server.pid) - cpuBefore;
      const loopCpu = mainThreadCpuMicros(server.pid) - loopBefore;
      echoRows.push({
        server: spec.name,
        size,
        perSecond: count / seconds,
        cpuPerMessage: cpu / 1000 / Math.max(1, count),
        loopCpuPerMessage: loopCpu / 1000 / Math.max(1, count),
        p50: percentile(times, 0.5),
        p99: percentile(times, 0.99),
      });
      console.error(JSON.stringify(echoRows.at(-1)));
    }
    const alone = await canary(server.url, seconds * 1000);
    const [withFlood] = await Promise.all([
      canary(server.url, seconds * 1000),
      flood(server.url, oneMiB, seconds * 1000 + 200),
    ]);
    holRows.push({
      server: spec.name,
      aloneP50: percentile(alone, 0.5),
      aloneP99: percentile(alone, 0.99),
      floodP50: percentile(withFlood, 0.5),
      floodP99: percentile(withFlood, 0.99),
    });
    console.error(JSON.stringify(holRows.at(-1)));
  } catch (error) {
    console.error(`${spec.name}: ${(error as Error).message}`);
  } finally {
    server.stop();
  }
}

const wsRow = (size: number) => echoRows.find((r) => r.server === "ws on Node" && r.size === size);
console.log(
  `\nEcho of compressed JSON, ${inflight} in flight on one connection, ${seconds} s (load average ${(await loadAverage())}):\n`,
);
console.log("| server | size | msgs/s | x ws | server CPU ms/msg | x ws | event loop CPU ms/msg | p50 ms | p99 ms | p99 / ws p99 |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of echoRows) {
  const ws = wsRow(r.size);
  const ratio = ws === undefined ? "" : (r.perSecond / ws.perSecond).toFixed(2);
  const p99Ratio = ws === undefined ? "" : (r.p99 / ws.p99).toFixed(2);
  const cpuRatio = ws === undefined ? "" : (r.cpuPerMessage / ws.cpuPerMessage).toFixed(2);
  console.log(
    `| ${r.server} | ${r.size >> 10} KiB | ${r.perSecond.toFixed(1)} | ${ratio} | ${r.cpuPerMessage.toFixed(1)} | ${cpuRatio} | ${r.loopCpuPerMessage.toFixed(1)} | ${r.p50.toFixed(1)} | ${
      r.p99.toFixed(1)
    } | ${p99Ratio} |`,
  );
}
console.log(
  `\nHead-of-line: a canary's round trip (16 B every 10 ms), alone and while another connection echoes 1 MiB compressed JSON (${inflight} in flight):\n`,
);
console.log("| server | alone p50 ms | alone p99 ms | with 1 MiB flood p50 ms | p99 ms | p99 ratio |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of holRows) {
  console.log(
    `| ${r.server} | ${r.aloneP50.toFixed(1)} | ${r.aloneP99.toFixed(1)} | ${r.floodP50.toFixed(1)} | ${
      r.floodP99.toFixed(1)
    } | ${(r.floodP99 / r.aloneP99).toFixed(1)} |`,
  );
}

async function loadAverage(): Promise<string> {
  const { readFileSync } = await import("node:fs");
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
