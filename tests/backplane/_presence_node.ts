/**
 * A node for tests/backplane/redis_presence_test.ts to kill: a PubSub over the Redis backplane with one
 * member ("$PRESENCE_ID") in the topic "room"; prints `ready <nodeId>` once its entry is on Redis, then
 * lives until it is killed (or its stdin closes). Run by the test with the runtime it runs on.
 *
 * @module
 */

import process from "node:process";
import { redisBackplane } from "../../lib/backplane/redis_backplane.ts";
import { createPubSub } from "../../lib/pubsub/pubsub.ts";

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const backplane = await redisBackplane({ url, presenceTtl: Number(process.env.PRESENCE_TTL ?? 30_000) });
const pubsub = createPubSub({ backplane, presence: { interval: 20 } });
pubsub.subscribe({ deliver: () => true }, "room", { presence: { id: process.env.PRESENCE_ID ?? "child" } });
// The first interval ends, its change is written and published; then Redis has answered.
await new Promise((resolve) => setTimeout(resolve, 100));
await backplane.flush();
process.stdout.write(`ready ${backplane.nodeId}\n`);
const alive = setInterval(() => {}, 1000);
process.stdin.on("end", () => {
  clearInterval(alive);
  pubsub.close();
  void backplane.close().then(() => process.exit(0));
});
process.stdin.resume();
