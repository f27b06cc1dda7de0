/**
 * Memory per topic subscription: what `PubSub` keeps for each (subscriber, topic) pair, on top of the
 * subscribers themselves. Each shape is measured twice:
 *
 * - the registry alone: `createPubSub()` with lightweight subscribers (`{ deliver() { return true } }`);
 * - through server sockets: a `TopicSocket` over a server-role `Connection` on an in-memory transport (a
 *   `ReadableStream` that never yields and a `WritableStream` that discards), which is what a server
 *   socket's `subscribe` goes through. The connections and their TopicSockets exist before the baseline,
 *   so the figure is the subscription's alone, on top of the connection (whose own cost is printed too).
 *
 * The topic strings exist before the baseline as well (the application has them: from a URL, a message),
 * flattened and hashed, so they are not counted; the registry keeps a reference to them.
 *
 * JS heap + array buffers after a full GC (the same reading as bench/memory_bench.ts), the median of
 * `--repeats` runs per shape; then what is left after every subscriber unsubscribes topic by topic, and
 * after `unsubscribeAll` (what a closing socket does). The target is at most 200 bytes per subscription.
 *
 *   deno run --v8-flags=--expose-gc,--single-threaded-gc --allow-env --allow-read bench/subscriptions_memory.ts [--repeats 3] [--large]
 *   bun bench/subscriptions_memory.ts [--repeats 3] [--large]
 *
 * (`--single-threaded-gc`: V8 sweeps and frees array buffers on other threads after a GC, so with the
 * ~600 MB heap of 100,000 connections a reading could count what was about to be freed: up to ~380 bytes a
 * subscription in the "left after" columns without it.)
 *
 * `--only <text>` runs the shapes whose name contains it (`--only "100,000 topics"`).
 * `--large` adds the 100,000-subscription shapes through server sockets (100,000 connections); the registry
 * alone always runs them.
 *
 * @module
 */

import process from "node:process";
import { Connection } from "../lib/connection.ts";
import { createPubSub, type PubSub, type Subscriber } from "../lib/pubsub/pubsub.ts";
import { TopicSocket } from "../lib/pubsub/topic_socket.ts";

const TARGET = 200;

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index !== -1 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}
const repeats = Number(arg("repeats", "3"));
const large = process.argv.includes("--large");
const only = arg("only", "");

function gc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc: (force: boolean) => void } };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
  else throw new Error("Run with --v8-flags=--expose-gc (Deno) or under Bun: GC is needed for honest numbers");
}

/** A new task: what the last one let go (promise reactions, WeakRef targets) can be collected. */
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 10));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * JS heap and array buffers after GC (see bench/memory_bench.ts for why each runtime reads differently), in
 * a new task, after two collections with a pause after each: V8 frees ArrayBuffer backing stores on a
 * background thread after a GC, so `external` lags it (the buffers of 100,000 closed connections showed up
 * as ~380 bytes a subscription in the next run when read at once).
 */
async function used(): Promise<number> {
  await nextTask();
  gc();
  await pause(30);
  gc();
  await pause(30);
  const m = process.memoryUsage();
  return "Deno" in globalThis ? m.heapUsed + m.external : m.heapUsed + m.arrayBuffers;
}

/**
 * A baseline: a few collections first, so that what earlier runs left (which a conservative stack scan,
 * JavaScriptCore's, may still see for a while) is gone before it is read.
 */
async function baseline(): Promise<number> {
  for (let i = 0; i < 3; i++) await used();
  return used();
}

/** Who subscribes to what. */
interface Shape {
  name: string;
  topics: number;
  subscribers: number;
  /** The topics (indexes) of subscriber `i`. */
  topicsOf(i: number): Iterable<number>;
  /** Subscriptions in all. */
  subscriptions: number;
  /** Needs `--large` through server sockets. */
  large: boolean;
}

function* range(from: number, to: number): Iterable<number> {
  for (let i = from; i < to; i++) yield i;
}

const SHAPES: Shape[] = [
  { name: "1 topic × 10,000 subscribers", topics: 1, subscribers: 10_000, topicsOf: () => [0], subscriptions: 10_000, large: false },
  {
    name: "10,000 topics × 1 subscriber (each its own)",
    topics: 10_000,
    subscribers: 10_000,
    topicsOf: (i) => [i],
    subscriptions: 10_000,
    large: false,
  },
  {
    name: "1 subscriber in 10,000 topics",
    topics: 10_000,
    subscribers: 1,
    topicsOf: () => range(0, 10_000),
    subscriptions: 10_000,
    large: false,
  },
  {
    name: "10,000 subscribers × 10 of 1,000 topics (100 each)",
    topics: 1_000,
    subscribers: 10_000,
    topicsOf: (i) => Array.from({ length: 10 }, (_, k) => (i + k * 100) % 1_000),
    subscriptions: 100_000,
    large: false,
  },
  { name: "1 topic × 100,000 subscribers", topics: 1, subscribers: 100_000, topicsOf: () => [0], subscriptions: 100_000, large: true },
  {
    name: "100,000 topics × 1 subscriber (each its own)",
    topics: 100_000,
    subscribers: 100_000,
    topicsOf: (i) => [i],
    subscriptions: 100_000,
    large: true,
  },
];

/** What one run of a shape measured, per subscription (bytes) and per subscribe call (ns). */
interface Run {
  bytes: number;
  ns: number;
  /** Left after unsubscribing topic by topic. */
  afterUnsubscribe: number;
  /** Left after `unsubscribeAll` too. */
  afterUnsubscribeAll: number;
  /** Bytes per connection (with its TopicSocket), through server sockets only. */
  connection?: number;
}

/**
 * Topic names, flattened and hashed before any baseline (putting them in a Set does both). The Set is
 * returned to be kept alive until the run's last reading: garbage made just before a baseline can survive
 * its GC (JavaScriptCore scans the stack conservatively) and be freed later, which would read as less.
 */
function topicNames(count: number): { topics: string[]; warm: Set<string> } {
  const topics: string[] = [];
  for (let i = 0; i < count; i++) topics.push(`room:${i}`);
  const warm = new Set(topics);
  if (warm.size !== count) throw new Error("duplicate topics");
  return { topics, warm };
}

/** An in-memory transport: nothing ever arrives, whatever is written is dropped. */
function memoryTransport(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
  return { readable: new ReadableStream<Uint8Array>(), writable: new WritableStream<Uint8Array>() };
}

interface Subscribing {
  subscribe(subscriber: number, topic: string): boolean;
  unsubscribe(subscriber: number, topic: string): boolean;
  unsubscribeAll(subscriber: number): void;
}

async function measure(
  shape: Shape,
  pubsub: PubSub,
  topics: string[],
  via: Subscribing,
  before: number,
  alive: unknown,
): Promise<Run> {
  const start = performance.now();
  for (let i = 0; i < shape.subscribers; i++) {
    for (const t of shape.topicsOf(i)) if (!via.subscribe(i, topics[t])) throw new Error(`subscriber ${i} was in ${topics[t]} already`);
  }
  const ns = (performance.now() - start) * 1e6 / shape.subscriptions;
  if (pubsub.topicCount !== shape.topics) throw new Error(`${pubsub.topicCount} topics, expected ${shape.topics}`);
  let total = 0;
  for (const topic of topics) total += pubsub.subscriberCount(topic);
  if (total !== shape.subscriptions) throw new Error(`${total} subscriptions, expected ${shape.subscriptions}`);
  const bytes = (await used() - before) / shape.subscriptions;
  for (let i = 0; i < shape.subscribers; i++) for (const t of shape.topicsOf(i)) via.unsubscribe(i, topics[t]);
  if (pubsub.topicCount !== 0) throw new Error(`${pubsub.topicCount} topics left`);
  const afterUnsubscribe = (await used() - before) / shape.subscriptions;
  for (let i = 0; i < shape.subscribers; i++) via.unsubscribeAll(i);
  const afterUnsubscribeAll = (await used() - before) / shape.subscriptions;
  if (alive === undefined) throw new Error("unreachable"); // what was there at the baseline stays to the end
  return { bytes, ns, afterUnsubscribe, afterUnsubscribeAll };
}

/** The registry alone, with lightweight subscribers. */
async function registryRun(shape: Shape): Promise<Run> {
  const { topics, warm } = topicNames(shape.topics);
  const subscribers: Subscriber[] = [];
  for (let i = 0; i < shape.subscribers; i++) subscribers.push({ deliver: () => true });
  const pubsub = createPubSub();
  const before = await baseline();
  return measure(shape, pubsub, topics, {
    subscribe: (i, topic) => pubsub.subscribe(subscribers[i], topic),
    unsubscribe: (i, topic) => pubsub.unsubscribe(subscribers[i], topic),
    unsubscribeAll: (i) => pubsub.unsubscribeAll(subscribers[i]),
  }, before, warm);
}

/** Through server sockets: TopicSocket over Connection. */
async function socketsRun(shape: Shape): Promise<Run> {
  const { topics, warm } = topicNames(shape.topics);
  const pubsub = createPubSub();
  const empty = await baseline();
  const connections: Connection[] = [];
  const sockets: TopicSocket[] = [];
  for (let i = 0; i < shape.subscribers; i++) {
    // closeTimeout: the teardown below ends within the run (by default a closing connection waits up to
    // 5 s for a peer that never answers, and would end during the next run's readings).
    const connection = new Connection(memoryTransport(), { role: "server", closeTimeout: 10 });
    connections.push(connection);
    sockets.push(new TopicSocket(pubsub, connection));
  }
  const before = await baseline();
  const connection = (before - empty) / shape.subscribers;
  const run = await measure(shape, pubsub, topics, {
    subscribe: (i, topic) => sockets[i].subscribe(topic) as boolean, // no `since`: a boolean
    unsubscribe: (i, topic) => sockets[i].unsubscribe(topic),
    unsubscribeAll: (i) => pubsub.unsubscribeAll(sockets[i]),
  }, before, warm);
  for (const c of connections) c.fail(1001);
  await Promise.all(connections.map((c) => c.closed));
  await pause(100);
  return { ...run, connection };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function repeated(run: () => Promise<Run>): Promise<Run> {
  const runs: Run[] = [];
  for (let r = 0; r < repeats; r++) {
    runs.push(await run());
    await nextTask();
  }
  const pick = (key: keyof Run) => runs[0][key] === undefined ? undefined : median(runs.map((x) => x[key]!));
  return {
    bytes: pick("bytes")!,
    ns: pick("ns")!,
    afterUnsubscribe: pick("afterUnsubscribe")!,
    afterUnsubscribeAll: pick("afterUnsubscribeAll")!,
    connection: pick("connection"),
  };
}

const runtime = "Deno" in globalThis ? `Deno ${Deno.version.deno}` : "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Node ${process.version}`;
const b = (n: number) => `${Math.round(n)}`;
const verdict = (n: number) => (n <= TARGET ? "yes" : "**no**");

const started = performance.now();
await nextTask();
console.log(`# Memory per topic subscription, ${runtime} (JS heap + array buffers after GC; median of ${repeats} runs)`);
console.log("");
console.log(
  `| shape | subscriptions | registry alone: bytes / subscription | ≤ ${TARGET} B | ns / subscribe | left after unsubscribe / after unsubscribeAll | through TopicSocket over Connection: bytes / subscription | ≤ ${TARGET} B | left after unsubscribe / after unsubscribeAll | the connection itself (bytes) |`,
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const shape of SHAPES.filter((s) => s.name.includes(only))) {
  const registry = await repeated(() => registryRun(shape));
  const cells = [shape.name, shape.subscriptions.toLocaleString("en-US"), b(registry.bytes), verdict(registry.bytes), b(registry.ns)];
  cells.push(`${b(registry.afterUnsubscribe)} / ${b(registry.afterUnsubscribeAll)}`);
  if (shape.large && !large) {
    cells.push("(--large)", "", "", "");
  } else {
    const sockets = await repeated(() => socketsRun(shape));
    cells.push(b(sockets.bytes), verdict(sockets.bytes), `${b(sockets.afterUnsubscribe)} / ${b(sockets.afterUnsubscribeAll)}`);
    // One connection's figure is noise (a GC page more or less): shown from 1,000 connections on.
    cells.push(shape.subscribers >= 1000 ? b(sockets.connection!) : "—");
  }
  console.log(`| ${cells.join(" | ")} |`);
}
console.log("");
console.log(`(${((performance.now() - started) / 1000).toFixed(0)} s${large ? "" : "; --large for the 100,000-subscription shapes through server sockets"})`);
