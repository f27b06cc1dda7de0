/**
 * A message that arrives in many small TCP reads, as mobile clients and proxies deliver it: one raw client
 * (node:net, Nagle off) sends a masked 1 MiB binary message in 64-byte writes, each write awaited, and
 * times the whole echo; a
 * busy wait after each write (`--gap-us`) paces them, as a slow sender does, so that each piece is a read. The same run measures every echo server of bench/echo/servers.ts (no compression)
 * and prints a markdown table of medians with the time per write and the ratio to `ws`.
 *
 *   deno run -A bench/small_reads_bench.ts [--size 1048576] [--piece 64] [--gap-us 50] [--repeats 3]
 *     [--servers name,...]
 *
 * @module
 */

import net from "node:net";
import process from "node:process";
import { cpuMicros, SERVERS, startServer } from "./echo/servers.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const size = Number(arg("size", String(1 << 20)));
const piece = Number(arg("piece", "64"));
const kind = arg("kind", "binary");
const repeats = Number(arg("repeats", "3"));
/** Microseconds the client waits after each write (busy), so that pieces reach the server one read each. */
const gapMicros = Number(arg("gap-us", "50"));
const selected = arg("servers", SERVERS.map((s) => s.name).join(",")).split(",").map((s) => s.trim());

/** A masked binary frame of `size` bytes (the mask is fixed: this is a benchmark, not a client). */
function maskedFrame(length: number): Uint8Array {
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = new Uint8Array(header + 4 + length);
  out[0] = kind === "text" ? 0x81 : 0x82;
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
  for (let i = 0; i < length; i++) out[header + 4 + i] = (0x20 + (i % 90)) ^ key[i & 3]; // ASCII: valid as text
  return out;
}

/** Opens a raw WebSocket, sends the frame in pieces, and resolves with the ms until the echo is whole. */
function oneRun(url: string, frame: Uint8Array): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port), noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("timed out after 120 s"));
    }, 120_000);
    let head = "", upgraded = false, received = 0, started = 0;
    // Echo: header of 10 bytes (unmasked, 64-bit length for 1 MiB) plus the payload.
    const expected = size + (size < 126 ? 2 : size < 65536 ? 4 : 10);
    socket.on("error", reject);
    socket.on("connect", () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const send = async () => {
      started = performance.now();
      for (let offset = 0; offset < frame.length; offset += piece) {
        await new Promise<void>((done) => socket.write(frame.subarray(offset, offset + piece), () => done()));
        for (const until = performance.now() + gapMicros / 1000; performance.now() < until;);
      }
    };
    socket.on("data", (chunk: Uint8Array) => {
      if (!upgraded) {
        head += new TextDecoder().decode(chunk);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(head.split("\r\n")[0]));
        upgraded = true;
        send().catch(reject);
        return;
      }
      received += chunk.length;
      if (received >= expected) {
        const ms = performance.now() - started;
        clearTimeout(timer);
        socket.destroy();
        resolve(ms);
      }
    });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const frame = maskedFrame(size);
const writes = Math.ceil(frame.length / piece);
const rows: { name: string; ms: number; cpu: number }[] = [];
for (const spec of SERVERS) {
  if (!selected.includes(spec.name)) continue;
  const command = spec.command(false);
  if (command === undefined) continue;
  const server = await startServer(...command);
  try {
    const times: number[] = [], cpus: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const before = cpuMicros(server.pid);
      times.push(await oneRun(server.url, frame));
      cpus.push(cpuMicros(server.pid) - before);
    }
    rows.push({ name: spec.name, ms: median(times), cpu: median(cpus) });
    console.error(`${spec.name}: ${times.map((t) => t.toFixed(0)).join(", ")} ms`);
  } finally {
    server.stop();
  }
}
const ws = rows.find((row) => row.name === "ws on Node");
console.log(`\n${size} bytes in ${writes} writes of ${piece} bytes (median of ${repeats}; ratio: ws time / this time)\n`);
console.log("| server | echo ms | us per write | server CPU ms | vs ws |");
console.log("|---|---:|---:|---:|---:|");
for (const row of rows) {
  const ratio = ws === undefined ? "" : `${(ws.ms / row.ms).toFixed(2)}x`;
  console.log(`| ${row.name} | ${row.ms.toFixed(0)} | ${(row.ms * 1000 / writes).toFixed(1)} | ${(row.cpu / 1000).toFixed(0)} | ${ratio} |`);
}
