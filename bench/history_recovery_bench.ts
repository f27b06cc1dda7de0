/**
 * Recovery at scale: N subscribers of a topic are cut off (unsubscribed) for `--cutoff` ms while M messages
 * are published to the topic, then all subscribe again from their last position (`since`) at once. Counted
 * per subscriber: recovered or not, every offset from 1 to M present, in order, none twice. Two shapes:
 * history in memory (one PubSub), and on Redis Streams with two nodes (the publisher on node A, the
 * subscribers on node B; a redis-server started on a free port and stopped after).
 *
 *   deno run -A bench/history_recovery_bench.ts [--clients 1000] [--messages 1000] [--cutoff 5000]
 *   bun bench/history_recovery_bench.ts [...]
 *   npx esbuild bench/history_recovery_bench.ts --bundle --platform=node --format=esm --external:ioredis \
 *     --outfile=dist-tests/bench/history_recovery_bench.mjs && node dist-tests/bench/history_recovery_bench.mjs
 *
 * @module
 */

import process from "node:process";
import { redisBackplane } from "../lib/backplane/redis_backplane.ts";
import { createPubSub, type PubSub, type StreamPosition, type Subscriber } from "../lib/pubsub/pubsub.ts";
import { RedisServer } from "../tests/_redis.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CLIENTS = option("clients", 1000), MESSAGES = option("messages", 1000), CUTOFF = option("cutoff", 5000);
const decoder = new TextDecoder();

interface Client extends Subscriber {
  offsets: number[];
}

function client(): Client {
  const offsets: number[] = [];
  return { offsets, deliver: (message) => (offsets.push(Number(decoder.decode(message.payload))), true) };
}

interface Row {
  shape: string;
  clients: number;
  messages: number;
  recovered: number;
  complete: number;
  duplicates: number;
  outOfOrder: number;
  recoverMs: number;
}

async function run(shape: string, publisher: PubSub, subscriberNode: PubSub): Promise<Row> {
  const topic = "room";
  const clients = Array.from({ length: CLIENTS }, client);
  for (const c of clients) subscriberNode.subscribe(c, topic);
  const start: StreamPosition = await subscriberNode.position(topic);
  for (const c of clients) subscriberNode.unsubscribe(c, topic); // cut off
  const appends: Promise<StreamPosition>[] = [];
  const started = Date.now();
  for (let i = 0; i < MESSAGES; i++) {
    appends.push(publisher.append(topic, (at) => String(at.offset)));
    // Spread over the cut-off.
    const due = started + (CUTOFF * (i + 1)) / MESSAGES;
    if (due - Date.now() > 1) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
  }
  await Promise.all(appends);
  const t0 = performance.now();
  const recoveries = await Promise.all(
    clients.map((c) => subscriberNode.subscribe(c, topic, { since: start })),
  );
  const recoverMs = performance.now() - t0;
  let recovered = 0, complete = 0, duplicates = 0, outOfOrder = 0;
  clients.forEach((c, i) => {
    if (recoveries[i].recovered) recovered++;
    const seen = new Set(c.offsets);
    duplicates += c.offsets.length - seen.size;
    if (c.offsets.some((offset, j) => j > 0 && offset <= c.offsets[j - 1])) outOfOrder++;
    if (seen.size === MESSAGES && c.offsets.every((offset, j) => offset === j + 1 + start.offset)) complete++;
  });
  for (const c of clients) subscriberNode.unsubscribeAll(c);
  return {
    shape,
    clients: CLIENTS,
    messages: MESSAGES,
    recovered,
    complete,
    duplicates,
    outOfOrder,
    recoverMs,
  };
}

const rows: Row[] = [];
{
  const pubsub = createPubSub({ history: { size: MESSAGES } });
  rows.push(await run("memory, one process", pubsub, pubsub));
  pubsub.close();
}
const server = await RedisServer.start();
try {
  const a = await redisBackplane({ url: server.url }), b = await redisBackplane({ url: server.url });
  const nodeA = createPubSub({ backplane: a, history: { size: MESSAGES } });
  const nodeB = createPubSub({ backplane: b, history: { size: MESSAGES } });
  rows.push(await run("Redis Streams, 2 nodes", nodeA, nodeB));
  nodeA.close();
  nodeB.close();
  await Promise.all([a.close(), b.close()]);
} finally {
  await server.stop();
}

const runtime = "Deno" in globalThis ? "Deno" : "Bun" in globalThis ? "Bun" : `Node ${process.version}`;
console.log(
  `Recovery at scale (${runtime}): ${CLIENTS} clients cut off for ${CUTOFF} ms while ${MESSAGES} messages are published`,
);
console.log(
  "| shape | clients | recovered: true | all offsets, in order | duplicates | out of order | all recoveries served in |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const row of rows) {
  console.log(
    `| ${row.shape} | ${row.clients} | ${(100 * row.recovered / row.clients).toFixed(1)} % | ${
      (100 * row.complete / row.clients).toFixed(1)
    } % | ${row.duplicates} | ${row.outOfOrder} | ${row.recoverMs.toFixed(0)} ms |`,
  );
}
