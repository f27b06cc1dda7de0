/**
 * A burst of publishes against the publish queue's bound: `serve()` with `publishQueue.limit` of 1, 4 and 16
 * MiB (policy `"close"`, the default), 200 subscribers that read as fast as they can (the runtime's
 * WebSocket, in this process), and a burst of 16 KiB messages published in one synchronous loop (nothing
 * drains meanwhile: the whole burst waits in each queue). Per limit and burst: how many subscribers were
 * closed with 1013, how many messages arrived, and what the queued burst held in memory right after the
 * loop (JS heap + array buffers after a GC, over the reading once it drained): the frames are shared, so a
 * queue's bound counts each subscriber's bytes but the memory is ~one copy plus each queue's entries.
 *
 *   deno run --v8-flags=--expose-gc -A bench/publish_burst_bench.ts
 *
 * @module
 */

import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";

const SUBSCRIBERS = 200;
const MESSAGE = 16 * 1024;
const MiB = 1024 * 1024;

function gc(): void {
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

async function run(
  limit: number,
  burst: number,
): Promise<{ closed: number; received: number; expected: number; heldMiB: number }> {
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
  for (let i = 0; server.subscriberCount("room") < SUBSCRIBERS && i < 1000; i++) await pause(10);
  if (server.subscriberCount("room") < SUBSCRIBERS) throw new Error("subscribers did not all connect");
  await pause(50);
  const messages = Math.round(burst / MESSAGE);
  const payload = new Uint8Array(MESSAGE).fill(0x61);
  for (let i = 0; i < messages; i++) server.publish("room", payload);
  const held = used();
  const expected = messages * SUBSCRIBERS;
  // Until every message arrived or every closed socket is accounted for (bounded: 30 s).
  for (let i = 0; i < 3000 && received + 0 < expected - closed * messages && ended < SUBSCRIBERS; i++) {
    await pause(10);
    if (closed > 0 && ended >= closed && received >= expected - closed * messages) break;
  }
  await pause(200);
  // What the queues held: the reading right after the loop over one once they drained (or were dropped),
  // with the same sockets open.
  used();
  await pause(50);
  const heldMiB = (held - used()) / MiB;
  for (const ws of clients) ws.close();
  await server.close();
  return { closed, received, expected, heldMiB };
}

console.log(
  `# A burst of 16 KiB publishes to ${SUBSCRIBERS} subscribers that read at full speed, serve() on Deno ${Deno.version.deno}`,
);
console.log("");
console.log(
  "| publishQueue.limit | burst | subscribers closed with 1013 | messages received / published × subscribers | memory held by the queued burst (MiB) |",
);
console.log("|---:|---:|---:|---:|---:|");
for (const limit of [1 * MiB, 4 * MiB, 16 * MiB]) {
  for (const burst of [0.5 * MiB, 3 * MiB, 8 * MiB]) {
    const r = await run(limit, burst);
    console.log(
      `| ${limit / MiB} MiB | ${
        burst / MiB
      } MiB | ${r.closed} of ${SUBSCRIBERS} | ${r.received} / ${r.expected} | ${r.heldMiB.toFixed(1)} |`,
    );
  }
}
