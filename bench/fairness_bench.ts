/**
 * One hostile connection against the others: while an attacker floods the echo server, a canary connection
 * sends a small message every 10 ms and times each echo. Two attacks: a burst of pings (default one
 * million, all written at once, the pongs read and discarded) and compressed messages of ~1 KB that each
 * inflate to 1 MiB of zeros (default 1,000, 1 MB on the wire), echoed. Every server of
 * bench/echo/servers.ts that compresses runs in its own process; the table gives the canary's round trip
 * (p50, p99, max), how long the attack took, and the server's peak RSS growth over its RSS before.
 *
 *   deno run -A bench/fairness_bench.ts [--pings 1000000] [--bombs 1000] [--servers name,...]
 *
 * @module
 */

import net from "node:net";
import process from "node:process";
import { constants, deflateRawSync } from "node:zlib";
import { rssKiB, SERVERS, startServer } from "./echo/servers.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const pings = Number(arg("pings", "1000000"));
const bombs = Number(arg("bombs", "1000"));
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
      if (!/permessage-deflate/i.test(head.slice(0, end))) return reject(new Error("permessage-deflate was not accepted"));
      resolve(socket);
    };
    socket.on("data", onData);
  });
}

/** Echo round trips of a 16-byte text message every 10 ms until `stop()`: sorted, in ms. */
function canary(socket: net.Socket): { stop(): number[] } {
  const times: number[] = [];
  let sentAt = 0, waiting = false, stopped = false, received = 0;
  const message = frame(0x81, new TextEncoder().encode("canary 0123456789"));
  socket.on("data", (chunk: Uint8Array) => {
    received += chunk.length;
    // An echo is a few bytes: one chunk per echo at this rate.
    if (waiting && received > 0) {
      times.push(performance.now() - sentAt);
      waiting = false;
      received = 0;
    }
  });
  const tick = () => {
    if (stopped) return;
    if (!waiting) {
      waiting = true;
      received = 0;
      sentAt = performance.now();
      socket.write(message);
    }
    setTimeout(tick, 10);
  };
  tick();
  return {
    stop: () => {
      stopped = true;
      // An echo still on its way counts with the time it has taken so far.
      if (waiting) times.push(performance.now() - sentAt);
      socket.destroy();
      return times.sort((a, b) => a - b);
    },
  };
}

/** Counts the data frames with FIN (whole messages) in a server's unmasked byte stream. */
function frameCounter(): { push(chunk: Uint8Array): number } {
  let pending = new Uint8Array(0), messages = 0;
  return {
    push(chunk) {
      const bytes = new Uint8Array(pending.length + chunk.length);
      bytes.set(pending);
      bytes.set(chunk, pending.length);
      let at = 0;
      for (;;) {
        if (bytes.length - at < 2) break;
        const b0 = bytes[at], length7 = bytes[at + 1] & 0x7f;
        const header = length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
        if (bytes.length - at < header) break;
        const length = length7 === 126
          ? (bytes[at + 2] << 8) | bytes[at + 3]
          : length7 === 127
          ? new DataView(bytes.buffer, at + 6, 4).getUint32(0)
          : length7;
        if (bytes.length - at < header + length) break;
        if ((b0 & 0x80) !== 0 && (b0 & 0x0f) < 8) messages++;
        at += header + length;
      }
      pending = bytes.slice(at);
      return messages;
    },
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

interface Row {
  server: string;
  attack: string;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  samples: number;
  rssGrowthMiB: number;
  /** How the attacker's connection ended: "open", or the close code the server sent. */
  end: string;
}

async function run(url: string, pid: number, name: string, kind: "pings" | "bombs"): Promise<Row> {
  const attacker = await open(url);
  const watcher = await open(url);
  const rssBefore = rssKiB(pid);
  let rssPeak = rssBefore;
  const rssTimer = setInterval(() => rssPeak = Math.max(rssPeak, rssKiB(pid)), 20);
  const probe = canary(watcher);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = performance.now();
  let done: Promise<void>;
  let end = "open", received = 0;
  attacker.on("data", (chunk: Uint8Array) => {
    received += chunk.length;
    // A close frame from the server (unmasked, 2-byte code) ends what it sent.
    const at = chunk.length - 4;
    if (at >= 0 && chunk[at] === 0x88 && chunk[at + 1] === 2) end = `closed ${(chunk[at + 2] << 8) | chunk[at + 3]}`;
  });
  attacker.on("close", () => {
    if (end === "open") end = "TCP closed";
  });
  if (kind === "pings") {
    const one = frame(0x89, new Uint8Array(0));
    const burst = new Uint8Array(one.length * pings);
    for (let i = 0; i < pings; i++) burst.set(one, i * one.length);
    const end = frame(0x81, new TextEncoder().encode("the end"));
    done = new Promise((resolve, reject) => {
      let tail = "";
      const timer = setTimeout(() => reject(new Error("no answer within 120 s")), 120_000);
      attacker.on("data", (chunk: Uint8Array) => {
        tail = (tail + new TextDecoder("latin1").decode(chunk)).slice(-16);
        if (tail.endsWith("the end")) {
          clearTimeout(timer);
          resolve();
        }
      });
      attacker.on("close", () => resolve());
    });
    attacker.write(burst);
    attacker.write(end);
  } else {
    // One compressed message of 1 MiB of zeros (RFC 7692 §7.2.1: the trailing 00 00 ff ff removed).
    const zeros = new Uint8Array(1 << 20);
    const compressed = deflateRawSync(zeros, { finishFlush: constants.Z_SYNC_FLUSH });
    const message = frame(0xc2, compressed.subarray(0, compressed.length - 4));
    const all = new Uint8Array(message.length * bombs);
    for (let i = 0; i < bombs; i++) all.set(message, i * message.length);
    const frames = frameCounter();
    done = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no answer within 120 s")), 120_000);
      attacker.on("data", (chunk: Uint8Array) => {
        if (frames.push(chunk) < bombs) return;
        clearTimeout(timer);
        resolve();
      });
      attacker.on("close", () => resolve());
    });
    attacker.write(all);
  }
  await done;
  const seconds = (performance.now() - started) / 1000;
  const times = probe.stop();
  clearInterval(rssTimer);
  attacker.destroy();
  return {
    server: name,
    attack: kind === "pings" ? `${pings} pings` : `${bombs} x 1 MiB bombs`,
    seconds,
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    max: times.at(-1) ?? NaN,
    samples: times.length,
    rssGrowthMiB: (rssPeak - rssBefore) / 1024,
    end: `${end} (${received} B back)`,
  };
}

const rows: Row[] = [];
for (const spec of SERVERS) {
  if (!selected.includes(spec.name)) continue;
  const command = spec.command(true);
  if (command === undefined) continue;
  for (const kind of ["pings", "bombs"] as const) {
    if ((kind === "pings" ? pings : bombs) === 0) continue;
    const server = await startServer(...command);
    try {
      rows.push(await run(server.url, server.pid, spec.name, kind));
      console.error(JSON.stringify(rows.at(-1)));
    } catch (error) {
      console.error(`${spec.name} ${kind}: ${(error as Error).message}`);
    } finally {
      server.stop();
    }
  }
}
console.log("\n| server | attack | attack s | canary p50 ms | p99 ms | max ms | echoes | RSS growth MiB | attacker |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|---|");
for (const r of rows) {
  console.log(
    `| ${r.server} | ${r.attack} | ${r.seconds.toFixed(2)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.samples} | ${r.rssGrowthMiB.toFixed(1)} | ${r.end} |`,
  );
}
