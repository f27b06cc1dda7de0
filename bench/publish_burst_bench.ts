/**
 * A burst of publishes against the publish queue's bound: `serve()` with `publishQueue.limit` of 1, 4 and 16
 * MiB (policy `"close"`, the default), `--subscribers` subscribers that read as fast as they can (the
 * runtime's WebSocket, in this process), and a burst of 16 KiB messages published either in one
 * synchronous loop (nothing drains meanwhile: the whole burst waits in each queue) or with the publisher
 * yielding to the event loop (`await new Promise((r) => setTimeout(r, 0))`) after every `--yield-every`
 * bytes (the queues drain into the sockets meanwhile). Per limit, mode and burst: how many subscribers were
 * closed with 1013, how many messages arrived, how long the burst took to publish and to arrive, and what
 * the queued burst held in memory right after the loop (JS heap + array buffers after a GC, over the
 * reading once it drained; and the process's RSS growth, peak over the run minus before, no GC): the frames
 * are shared, so a queue's bound counts each subscriber's bytes but the memory is ~one copy plus each
 * queue's entries.
 *
 *   deno run --v8-flags=--expose-gc -A bench/publish_burst_bench.ts [--subscribers 200] [--limits 1,4,16]
 *     [--bursts 0.5,3,8] [--modes sync,yield] [--yield-every 524288]
 *   bun bench/publish_burst_bench.ts [same options]
 *
 * With `--stuck`: what a larger bound costs, the memory stuck subscribers pin. `--subscribers`
 * connections (this library's Connection, server role) over a transport whose writes never complete (a
 * peer that stopped reading once the kernel's buffers were full: the 256 KiB write high-water mark of the
 * adapters, then the publish queue), policy `"drop-oldest"` (a stuck one stays at its bound; `"close"`
 * frees it at the bound), for each limit and `--stuck-sizes` message size: the heap after GC per stuck
 * subscriber, all in one topic (the frames are shared: the entries are what each pins) and one topic each
 * (`--distinct` subscribers, each pinning frames of its own).
 *
 *   deno run --v8-flags=--expose-gc -A bench/publish_burst_bench.ts --stuck [--subscribers 1000]
 *     [--distinct 100] [--limits 1,4] [--stuck-sizes 64,1024,16384]
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";
import { Connection } from "../lib/connection.ts";
import { createPubSub } from "../lib/pubsub/pubsub.ts";
import { TopicSocket } from "../lib/pubsub/topic_socket.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const numbers = (value: string) => value.split(",").map(Number).filter((n) => !Number.isNaN(n));

const SUBSCRIBERS = Number(arg("subscribers", "200"));
const MESSAGE = 16 * 1024;
const MiB = 1024 * 1024;
const LIMITS = numbers(arg("limits", "1,4,16")).map((m) => m * MiB);
const BURSTS = numbers(arg("bursts", "0.5,3,8")).map((m) => m * MiB);
const MODES = arg("modes", "sync,yield").split(",") as ("sync" | "yield")[];
const YIELD_EVERY = Number(arg("yield-every", String(MiB / 2)));

const bun = (globalThis as { Bun?: { gc(force: boolean): void; version: string } }).Bun;
function gc(): void {
  if (bun !== undefined) return bun.gc(true);
  const g = globalThis as { gc?: () => void };
  if (!g.gc) throw new Error("Run with --v8-flags=--expose-gc");
  g.gc();
}
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
function used(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}
function rssKiB(): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) : NaN;
}

interface Result {
  closed: number;
  received: number;
  expected: number;
  heldMiB: number;
  rssGrowthMiB: number;
  publishMs: number;
  arriveMs: number;
}

async function run(limit: number, burst: number, mode: "sync" | "yield"): Promise<Result> {
  let closed = 0;
  const server = await serve({
    port: 0,
    hostname: "127.0.0.1",
    deflate: false,
    publishQueue: { limit, policy: "close" },
    websocket: {
      open: (ws) => ws.subscribe("room"),
      close: (_ws, code) => void (code === 1013 && closed++),
    },
  });
  let received = 0, ended = 0;
  const clients: WebSocket[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const ws = new WebSocket(server.url);
    ws.binaryType = "arraybuffer";
    ws.onmessage = () => void received++;
    ws.onclose = () => void ended++;
    clients.push(ws);
  }
  for (let i = 0; server.subscriberCount("room") < SUBSCRIBERS && i < 3000; i++) await pause(10);
  if (server.subscriberCount("room") < SUBSCRIBERS) throw new Error("subscribers did not all connect");
  await pause(50);
  const messages = Math.round(burst / MESSAGE);
  const payload = new Uint8Array(MESSAGE).fill(0x61);
  const rss0 = rssKiB();
  let rssPeak = rss0;
  const sampler = setInterval(() => rssPeak = Math.max(rssPeak, rssKiB()), 10);
  const start = performance.now();
  const perYield = Math.max(1, Math.floor(YIELD_EVERY / MESSAGE));
  for (let i = 0; i < messages; i++) {
    server.publish("room", payload);
    if (mode === "yield" && (i + 1) % perYield === 0 && i + 1 < messages) await pause(0);
  }
  const publishMs = performance.now() - start;
  const held = used();
  const expected = messages * SUBSCRIBERS;
  // Until every message arrived or every closed socket is accounted for (bounded: 60 s).
  let arrived = NaN;
  for (let i = 0; i < 6000 && ended < SUBSCRIBERS; i++) {
    if (received >= expected - closed * messages && (closed === 0 || ended >= closed)) {
      arrived = performance.now() - start;
      break;
    }
    await pause(10);
  }
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, rssKiB());
  await pause(200);
  // What the queues held: the reading right after the loop over one once they drained (or were dropped),
  // with the same sockets open.
  used();
  await pause(50);
  const heldMiB = (held - used()) / MiB;
  for (const ws of clients) ws.close();
  await server.close();
  await pause(100);
  return {
    closed,
    received,
    expected,
    heldMiB,
    rssGrowthMiB: (rssPeak - rss0) / 1024,
    publishMs,
    arriveMs: arrived,
  };
}

/** A connection whose peer reads nothing: its writes never complete, so its queue fills to the bound. */
function stuckConnection(limit: number): Connection {
  const readable = new ReadableStream<Uint8Array>(); // the peer sends nothing
  const writable = new WritableStream<Uint8Array>(
    { write: () => new Promise<void>(() => {}) },
    new ByteLengthQueuingStrategy({ highWaterMark: 256 * 1024 }),
  );
  return new Connection({ readable, writable }, {
    role: "server",
    heartbeat: false,
    publishQueue: { limit, policy: "drop-oldest" },
  });
}

/** Heap after GC per stuck subscriber once every queue is at its bound; `topics`: one each or one for all. */
async function stuck(count: number, limit: number, size: number, topics: "one" | "each"): Promise<number> {
  const pubsub = createPubSub();
  const payload = new Uint8Array(size).fill(0x61);
  used(); // a GC before the connections are made
  const connections: Connection[] = [];
  for (let i = 0; i < count; i++) {
    const connection = stuckConnection(limit);
    connections.push(connection);
    new TopicSocket(pubsub, connection).subscribe(topics === "one" ? "room" : `room${i}`);
  }
  await pause(10);
  const connected = used();
  // Enough to fill the writer's high-water mark and the queue, and then some (drop-oldest keeps the bound).
  const messages = Math.ceil((limit + 512 * 1024) / (size + 4)) + 16;
  for (let m = 0; m < messages; m++) {
    if (topics === "one") pubsub.publish("room", payload);
    else for (let i = 0; i < count; i++) pubsub.publish(`room${i}`, payload);
    if (m % 256 === 255) await pause(0);
  }
  await pause(10);
  const full = used();
  const queued = connections.reduce((sum, c) => sum + c.queuedAmount, 0) / count;
  const dropped = connections.reduce((sum, c) => sum + c.dropped, 0);
  if (queued < limit * 0.9 || dropped === 0) throw new Error(`the queues did not fill: ${queued} bytes each`);
  for (const c of connections) c.fail(1001);
  await Promise.all(connections.map((c) => c.closed));
  return (full - connected) / count;
}

if (process.argv.includes("--stuck")) {
  const runtime = bun !== undefined ? `Bun ${bun.version}` : `Deno ${Deno.version.deno}`;
  const distinct = Number(arg("distinct", "100"));
  const sizes = numbers(arg("stuck-sizes", "64,1024,16384"));
  console.log(`# Memory pinned by stuck subscribers (their queues at the bound, drop-oldest), ${runtime}`);
  console.log("");
  console.log(
    `Command: ${process.argv.slice(1).join(" ")}; load before: ${
      readFileSync("/proc/loadavg", "utf8").trim()
    }`,
  );
  console.log("");
  console.log(
    `| publishQueue.limit | message | per stuck subscriber, ${SUBSCRIBERS} in one topic (KiB, heap after GC) | ` +
      `per stuck subscriber, ${distinct} in a topic each (KiB) | ${SUBSCRIBERS} stuck in one topic (MiB) | ` +
      `${SUBSCRIBERS} stuck, a topic each (MiB, from the ${distinct}) |`,
  );
  console.log("|---:|---:|---:|---:|---:|---:|");
  for (const limit of LIMITS) {
    for (const size of sizes) {
      const shared = await stuck(SUBSCRIBERS, limit, size, "one");
      const own = await stuck(distinct, limit, size, "each");
      console.log(
        `| ${limit / MiB} MiB | ${size} B | ${(shared / 1024).toFixed(0)} | ${(own / 1024).toFixed(0)} | ${
          (shared * SUBSCRIBERS / MiB).toFixed(0)
        } | ${(own * SUBSCRIBERS / MiB).toFixed(0)} |`,
      );
    }
  }
  console.log("");
  console.log(`load after: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  process.exit(0);
}

const runtime = bun !== undefined ? `Bun ${bun.version}` : `Deno ${Deno.version.deno}`;
console.log(
  `# A burst of 16 KiB publishes to ${SUBSCRIBERS} subscribers that read at full speed, serve() on ${runtime}`,
);
console.log("");
console.log(
  `Command: ${process.argv.slice(1).join(" ")}; load before: ${readFileSync("/proc/loadavg", "utf8").trim()}`,
);
console.log("");
console.log(
  "| publishQueue.limit | publisher | burst | subscribers closed with 1013 | messages received / published × subscribers | publish loop ms | all arrived ms | memory held by the queued burst (MiB, heap after GC) | RSS growth MiB (peak, no GC) |",
);
console.log("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
for (const limit of LIMITS) {
  for (const mode of MODES) {
    for (const burst of BURSTS) {
      const r = await run(limit, burst, mode);
      console.log(
        `| ${limit / MiB} MiB | ${
          mode === "sync" ? "one loop" : `yields every ${YIELD_EVERY / 1024} KiB`
        } | ${burst / MiB} MiB | ${r.closed} of ${SUBSCRIBERS} | ${r.received} / ${r.expected} | ${
          r.publishMs.toFixed(0)
        } | ${Number.isNaN(r.arriveMs) ? "-" : r.arriveMs.toFixed(0)} | ${r.heldMiB.toFixed(1)} | ${
          r.rssGrowthMiB.toFixed(1)
        } |`,
      );
    }
  }
}
console.log("");
console.log(`load after: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
