/**
 * Load client for bench/echo_bench.ts: Bun's built-in WebSocket (the cheapest client measured here),
 * `connections` sockets, `window` messages in flight on each, for `seconds`. Prints one JSON line:
 * messages echoed, elapsed seconds, round-trip p50/p99 in microseconds, negotiated extensions.
 *
 *   bun bench/echo/load_client.ts URL SIZE CONNECTIONS WINDOW SECONDS COMPRESS(0|1) KIND(text|binary)
 *
 * A negative SECONDS (-N) sends exactly N messages on each connection instead, waits for every echo and
 * prints the same line (for counting bytes on the wire).
 *
 * @module
 */

import process from "node:process";

const [url, sizeArg, connectionsArg, windowArg, secondsArg, compressArg, kind] = process.argv.slice(2);
const size = Number(sizeArg), connections = Number(connectionsArg), window = Number(windowArg);
const seconds = Number(secondsArg), compress = compressArg === "1";
const perConnection = seconds < 0 ? -seconds : Infinity; // a fixed count instead of a duration

/** JSON-like text of `size` bytes, or half-compressible bytes. */
function payload(): string | Uint8Array<ArrayBuffer> {
  if (kind === "binary") {
    const bytes = new Uint8Array(size);
    let x = 12345;
    for (let i = 0; i < size; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      bytes[i] = i % 64 < 32 ? i & 0x0f : x >>> 24;
    }
    return bytes;
  }
  let text = "";
  for (let i = 0; text.length < size; i++) {
    text += JSON.stringify({ id: i, user: `user${i % 50}`, room: "general", text: `message ${i} in the room`, ok: i % 2 === 0 });
  }
  return text.slice(0, size);
}

const message = payload();
const samples: number[] = [];
let echoed = 0, running = true, extensions = "";
const sockets: WebSocket[] = [];
await Promise.all(Array.from({ length: connections }, () =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: compress } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const sentAt: number[] = [];
    let sent = 0, received = 0;
    const send = () => {
      sent++;
      sentAt.push(performance.now());
      ws.send(message);
    };
    ws.onopen = () => {
      extensions = ws.extensions;
      sockets.push(ws);
      resolve();
    };
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    ws.onmessage = () => {
      echoed++;
      received++;
      const at = sentAt.shift();
      if (at !== undefined && samples.length < 200_000) samples.push(performance.now() - at);
      if (running && sent < perConnection) send();
      if (received === perConnection) done();
    };
    (ws as unknown as { start: () => void }).start = () => {
      for (let i = 0; i < Math.min(window, perConnection); i++) send();
    };
  })
));
let finished = 0, allDone!: () => void;
const everyEcho = new Promise<void>((resolve) => allDone = resolve);
function done(): void {
  if (++finished === connections) allDone();
}
const started = performance.now();
for (const ws of sockets) (ws as unknown as { start: () => void }).start();
if (perConnection === Infinity) await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
else await Promise.race([everyEcho, new Promise((resolve) => setTimeout(resolve, 60_000))]);
running = false;
const elapsed = (performance.now() - started) / 1000;
const count = echoed;
for (const ws of sockets) ws.close();
samples.sort((a, b) => a - b);
const at = (q: number) => samples.length === 0 ? 0 : Math.round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] * 1000);
console.log(JSON.stringify({ messages: count, seconds: elapsed, p50us: at(0.5), p99us: at(0.99), extensions }));
process.exit(0);
