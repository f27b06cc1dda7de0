/**
 * The registry's cost of a publish: `PubSub.publish` to lightweight subscribers (`deliver` counts and
 * returns `true`), so that what is timed is the lookup, the loop and the counters, not a socket. Shapes:
 * one topic with 10,000 subscribers (ns per delivery), and 10,000 topics with one subscriber each (ns per
 * publish, each to its own topic: the single-subscriber path). The median of `--repeats` rounds.
 *
 *   deno run bench/pubsub_publish_bench.ts [--repeats 7]
 *   bun bench/pubsub_publish_bench.ts [--repeats 7]
 *
 * @module
 */

import process from "node:process";
import { createPubSub, type Subscriber } from "../lib/pubsub/pubsub.ts";

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const repeats = Number(arg("repeats", "7"));

let received = 0;
const subscriber = (): Subscriber => ({ deliver: () => ++received > 0 });
const payload = new TextEncoder().encode(JSON.stringify({ text: "x".repeat(40) }));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** One topic, 10,000 subscribers: ns per delivery. */
function broadcast(): number {
  const pubsub = createPubSub();
  for (let i = 0; i < 10_000; i++) pubsub.subscribe(subscriber(), "room");
  for (let i = 0; i < 20; i++) pubsub.publish("room", payload); // warm-up
  const rounds: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < 100; i++) pubsub.publish("room", payload);
    rounds.push((performance.now() - start) * 1e6 / (100 * 10_000));
  }
  return median(rounds);
}

/** 10,000 topics, one subscriber each: ns per publish. */
function single(): number {
  const pubsub = createPubSub();
  const topics = Array.from({ length: 10_000 }, (_, i) => `room:${i}`);
  for (const topic of topics) pubsub.subscribe(subscriber(), topic);
  for (const topic of topics) pubsub.publish(topic, payload); // warm-up
  const rounds: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let k = 0; k < 10; k++) for (const topic of topics) pubsub.publish(topic, payload);
    rounds.push((performance.now() - start) * 1e6 / (10 * 10_000));
  }
  return median(rounds);
}

const runtime = "Deno" in globalThis
  ? `Deno ${Deno.version.deno}`
  : "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Node ${process.version}`;
const b = broadcast();
const s = single();
console.log(
  `| ${runtime} | ${b.toFixed(1)} ns / delivery (1 topic × 10,000) | ${
    s.toFixed(0)
  } ns / publish (10,000 topics × 1) |`,
);
if (received === 0) throw new Error("nothing delivered");
