/**
 * History on a real 3-master Redis Cluster (tests/_redis_cluster.ts): each topic's stream and meta keys
 * (`{prefix+topic}:stream`, `:meta`) live in its channel's slot, so the append script (which also
 * SPUBLISHes on the channel) runs on the master that owns that shard channel; topics on every master.
 */

import { describe } from "node:test";
import assert from "node:assert/strict";
import { redisBackplane } from "../../lib/backplane/redis_backplane.ts";
import { clusterSlot } from "../../lib/backplane/redis_cluster_connection.ts";
import { createPubSub, type PubSub, type Subscriber, type TopicEvent } from "../../lib/pubsub/pubsub.ts";
import { pause } from "../_raw_client.ts";
import { redisClusterTest } from "../_redis_cluster.ts";

const decoder = new TextDecoder();

function recorder(): Subscriber & { texts: string[] } {
  const texts: string[] = [];
  return { texts, deliver: (message) => (texts.push(decoder.decode(message.payload)), true) };
}

async function until(what: string, condition: () => boolean, ms = 15_000): Promise<void> {
  for (const started = Date.now(); !condition(); await pause(10)) {
    if (Date.now() - started > ms) throw new Error(`Timed out after ${ms} ms: ${what}`);
  }
}

describe("history on a Redis Cluster", () => {
  redisClusterTest(
    "topics on every shard: offsets from each topic's master, recovery on the other node",
    async (cluster) => {
      const pubsubs: PubSub[] = [];
      const backplanes = [];
      try {
        for (let i = 0; i < 2; i++) {
          const backplane = await redisBackplane({ cluster: cluster.urls });
          backplanes.push(backplane);
          pubsubs.push(createPubSub({ backplane, history: { size: 100 } }));
        }
        const [a, b] = pubsubs;
        const gaps: string[] = [];
        b.addEventListener("gap", (event) => gaps.push((event as TopicEvent).reason));
        // Topics whose slots fall in each third of the slot space (one per master of a fresh 3-master cluster).
        const topics: string[] = [];
        for (let i = 0; topics.length < 3; i++) {
          const third = Math.floor(clusterSlot(`ws:t${i}`) / 5462);
          if (!topics.some((topic) => Math.floor(clusterSlot(`ws:${topic}`) / 5462) === third)) {
            topics.push(
              `t${i}`,
            );
          }
        }
        for (const topic of topics) {
          const live = recorder();
          b.subscribe(live, topic);
          await backplanes[1].flush();
          const start = await b.position(topic);
          for (let i = 0; i < 5; i++) await a.append(topic, (at) => `${topic}:${at.offset}`);
          await until(`${topic}: live on B`, () => live.texts.length === 5);
          b.unsubscribe(live, topic);
          for (let i = 0; i < 5; i++) await a.append(topic, (at) => `${topic}:${at.offset}`);
          const late = recorder();
          const recovery = await b.subscribe(late, topic, { since: start });
          assert.deepEqual([recovery.recovered, recovery.replayed], [true, 10], topic);
          assert.deepEqual(late.texts, Array.from({ length: 10 }, (_, i) => `${topic}:${i + 1}`));
        }
        assert.deepEqual(gaps, []);
      } finally {
        for (const pubsub of pubsubs) pubsub.close();
        await Promise.all(backplanes.map((backplane) => backplane.close()));
      }
    },
    { timeout: 60_000 },
  );
});
