/**
 * What one subscriber that never reads costs the server, per runtime (issue 12, slow subscriber; see
 * bench/results/slow-subscriber-bun-2026-12-03.md). Three probes, each after a full GC (Bun.gc(true), or
 * V8's gc with --expose-gc):
 *
 * 1. arraybuffers: how process.memoryUsage() counts 10 MiB held in 640 Uint8Arrays of 16 KiB (heapUsed,
 *    external: Bun's heapUsed includes them, Deno's and Node's does not).
 * 2. socket: a node:http upgrade socket (what serve() gets) whose peer never reads, 16 MiB written in
 *    16 KiB writes: when write() first returns false, what writableLength says, how many bytes the write
 *    callbacks confirmed, and the heap growth (ArrayBuffers counted once).
 * 3. serve (and listenBun on Bun): one subscriber that never reads and one that does, publishQueue 1 MiB
 *    drop-oldest, heartbeat off, 7 MiB published toward them in 16 KiB messages; then the heap growth
 *    against the same run with only the reading subscriber, beside what the stuck one's connection says
 *    it holds (queuedAmount + bufferedAmount). RSS is read then and again 5 s later, once the allocator
 *    has returned the pages of what was freed (Bun's does so in the background, seconds after the
 *    drops). Repeated `--repeats` times, alternating.
 *
 *   bun bench/fanout/stuck_socket_probe.ts [--repeats 3]
 *   deno run -A --v8-flags=--expose-gc bench/fanout/stuck_socket_probe.ts [--repeats 3]
 *
 * @module
 */

import process from "node:process";
import { createServer } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { serve } from "../../lib/adapters/serve.ts";
import type { ServerSocket, WebSocketServer } from "../../lib/adapters/serve.ts";

const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
const runtime = bun !== undefined ? "Bun" : "Deno" in globalThis ? "Deno" : "Node";
const collect = bun !== undefined
  ? () => bun.gc(true)
  : (globalThis as { gc?: () => void }).gc ?? (() => {
    throw new Error("Run with --v8-flags=--expose-gc (Deno) or --expose-gc (Node)");
  });
const repeats = Number(process.argv[process.argv.indexOf("--repeats") + 1] || 3);
const MiB = 1024 * 1024;
const SIZE = 16 * 1024;

/** Memory after a full GC; `heap`: the ArrayBuffers' bytes counted once (see _slow_accounting.mjs). */
function measure() {
  collect();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, heap: bun !== undefined ? m.heapUsed : m.heapUsed + m.external, rss: m.rss };
}

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function probeArrayBuffers(): void {
  const before = measure();
  const held: Uint8Array[] = [];
  for (let i = 0; i < 640; i++) held.push(new Uint8Array(SIZE).fill(1));
  const after = measure();
  console.log(
    `| ${runtime} | 10 MiB in 640 Uint8Arrays | ${mib(after.heapUsed - before.heapUsed)} | ${
      mib(after.external - before.external)
    } | ${mib(after.rss - before.rss)} | ${held.length} |`,
  );
}

/** A raw client: sends the upgrade request; `read` false pauses it once the 101 arrived. */
function client(port: number, path: string, read: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.once("data", () => {
      if (!read) socket.pause();
      else socket.on("data", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

async function probeSocket(): Promise<void> {
  const server = createServer();
  const done = new Promise<void>((resolve) => {
    server.on("upgrade", async (_req, socket: Duplex) => {
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
      const before = measure();
      let handed = 0, confirmed = 0, firstFalse = -1;
      for (let i = 0; handed < 16 * MiB; i++) {
        const ok = socket.write(new Uint8Array(SIZE).fill(i & 255), () => confirmed += SIZE);
        handed += SIZE;
        if (!ok && firstFalse < 0) firstFalse = handed;
        if (i % 32 === 31) await sleep(1);
      }
      await sleep(500);
      const after = measure();
      console.log(
        `| ${runtime} | ${mib(handed)} | ${firstFalse < 0 ? "never" : mib(firstFalse)} | ${mib(confirmed)} | ${
          mib(socket.writableLength)
        } | ${mib(handed - confirmed)} | ${mib(after.heap - before.heap)} | ${mib(after.rss - before.rss)} |`,
      );
      socket.destroy();
      resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const peer = await client((server.address() as AddressInfo).port, "/", false);
  await done;
  peer.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

type Start = (websocket: Parameters<typeof serve>[0]["websocket"]) => Promise<WebSocketServer>;

async function probeServer(name: string, start: Start, stuck: boolean) {
  const sockets: ServerSocket[] = [];
  let dropped = 0;
  const server = await start({
    open(ws) {
      ws.subscribe("t");
      sockets.push(ws);
    },
    drop(_ws, _topic, count) {
      dropped += count;
    },
  });
  const reader = await client(server.port, "/", true);
  const peer = stuck ? await client(server.port, "/", false) : undefined;
  while (sockets.length < (stuck ? 2 : 1)) await sleep(5);
  const before = measure();
  const payload = new Uint8Array(SIZE).fill(7);
  for (let i = 0; i < (7 * MiB) / SIZE; i++) {
    server.publish("t", payload.slice());
    if (i % 16 === 15) await sleep(2);
  }
  await sleep(1000);
  const held = stuck ? (sockets[1].connection?.queuedAmount ?? NaN) + (sockets[1].connection?.bufferedAmount ?? NaN) : 0;
  const after = measure();
  await sleep(5000); // the subscribers still connected, the stuck one still holding its queue
  const settled = measure();
  reader.destroy();
  peer?.destroy();
  await server.close();
  return {
    name,
    stuck,
    held,
    dropped,
    heap: after.heap - before.heap,
    both: after.heapUsed + after.external - before.heapUsed - before.external,
    rss: after.rss - before.rss,
    rssSettled: settled.rss - before.rss,
  };
}

console.log(`# ${runtime}: stuck socket probe (${new Date().toISOString()}, load ${(await loadavg())})\n`);
console.log("| runtime | held | heapUsed growth MiB | external growth MiB | RSS growth MiB | arrays |");
console.log("|---|---|---:|---:|---:|---:|");
probeArrayBuffers();
console.log("\n| runtime | written MiB | write() first false at MiB | confirmed by callbacks MiB | writableLength MiB | written - confirmed MiB | heap growth MiB (after GC) | RSS growth MiB |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
await probeSocket();
const servers: [string, Start][] = [[
  "serve()",
  (websocket) => serve({ port: 0, websocket, heartbeat: false, publishQueue: { limit: MiB, policy: "drop-oldest" } }),
]];
if (bun !== undefined) {
  const { listenBun } = await import("../../lib/adapters/bun_listen.ts");
  servers.push([
    "listenBun",
    (websocket) => listenBun({ port: 0, websocket, heartbeat: false, publishQueue: { limit: MiB, policy: "drop-oldest" } }),
  ]);
}
console.log(
  "\n| runtime | server | run | heap growth MiB without -> with the stuck one (difference) | RSS growth MiB without -> with | " +
    "RSS growth 5 s later MiB without -> with | " +
    "heapUsed + external growth MiB without -> with (difference) | held by the stuck one KiB (queued + buffered) | " +
    "dropped | difference within the bound + 1 MiB (the target)? |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
for (const [name, start] of servers) {
  for (let r = 1; r <= repeats; r++) {
    const without = await probeServer(name, start, false);
    const withIt = await probeServer(name, start, true);
    const difference = withIt.heap - without.heap;
    console.log(
      `| ${runtime} | ${name} | ${r} | ${mib(without.heap)} -> ${mib(withIt.heap)} (${mib(difference)}) | ${mib(without.rss)} -> ${
        mib(withIt.rss)
      } | ${mib(without.rssSettled)} -> ${mib(withIt.rssSettled)} | ${mib(without.both)} -> ${mib(withIt.both)} (${mib(withIt.both - without.both)}) | ${Math.round(withIt.held / 1024)} | ${withIt.dropped} | ${difference <= 2 * MiB ? "yes" : "no"} |`,
    );
  }
}
console.log(`\nload after: ${await loadavg()}`);

async function loadavg(): Promise<string> {
  const { readFileSync } = await import("node:fs");
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
