/**
 * What a publish costs once a subscriber's publish queue is at its bound under `"drop-oldest"`: one
 * Connection over a transport that never drains, filled past its bound with messages of one size, then
 * 20,000 more publishes, each dropping the oldest. Prints microseconds per publish.
 *
 *   deno run -A bench/drop_oldest_bench.ts [--limits 1,4] [--sizes 64,1024]
 *   bun bench/drop_oldest_bench.ts
 *
 * @module
 */

import process from "node:process";
import { Connection } from "../lib/connection.ts";
import { createPubSub } from "../lib/pubsub/pubsub.ts";
import { TopicSocket } from "../lib/pubsub/topic_socket.ts";

function list(name: string, fallback: string): number[] {
  const index = process.argv.indexOf(`--${name}`);
  return (index === -1 ? fallback : process.argv[index + 1]).split(",").map(Number);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(limitMiB: number, size: number): Promise<{ fill: number; perPublish: number; dropped: number }> {
  const limit = limitMiB * 1024 * 1024;
  let end!: () => void;
  const readable = new ReadableStream<Uint8Array>({ start: (controller) => void (end = () => controller.close()) });
  const writable = new WritableStream<Uint8Array>(
    { write: () => new Promise<void>(() => {}) }, // never drains
    new ByteLengthQueuingStrategy({ highWaterMark: 256 * 1024 }),
  );
  const connection = new Connection({ readable, writable }, {
    role: "server",
    heartbeat: false,
    publishQueue: { limit, policy: "drop-oldest" },
  });
  const pubsub = createPubSub();
  new TopicSocket(pubsub, connection).subscribe("room");
  await pause(10);
  const payload = new Uint8Array(size).fill(0x61);
  const fill = Math.ceil((limit + 512 * 1024) / (size + 4)) + 16;
  for (let m = 0; m < fill; m++) {
    pubsub.publish("room", payload);
    if (m % 256 === 255) await pause(0);
  }
  const publishes = 20_000;
  const started = performance.now();
  for (let m = 0; m < publishes; m++) pubsub.publish("room", payload);
  const perPublish = (performance.now() - started) * 1000 / publishes;
  const dropped = connection.dropped;
  connection.fail(1001);
  end();
  await connection.closed.catch(() => {});
  return { fill, perPublish, dropped };
}

const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? `Bun ${process.versions.bun}`
  : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? `Deno ${process.versions.deno}`
  : `Node ${process.version}`;
console.log(`\n${runtime}; load ${(await import("node:fs")).readFileSync("/proc/loadavg", "utf8").trim()}\n`);
console.log("| publishQueue.limit | message | queued before | us per publish past the bound | dropped |");
console.log("|---:|---:|---:|---:|---:|");
for (const limit of list("limits", "1,4")) {
  for (const size of list("sizes", "64,1024")) {
    const { fill, perPublish, dropped } = await measure(limit, size);
    console.log(`| ${limit} MiB | ${size} B | ${fill} | ${perPublish.toFixed(2)} | ${dropped} |`);
  }
}
