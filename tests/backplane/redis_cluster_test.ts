/**
 * The Redis backplane on a real 3-master Redis Cluster (tests/_redis_cluster.ts: three redis-server
 * processes with `--cluster-enabled yes`, joined by `redis-cli --cluster create`): two nodes (PubSubs), topics
 * whose channels live on each of the three shards, a master killed and started again, and presence, whose
 * keys live in their channel's slot.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type RedisBackplane, redisBackplane } from "../../lib/backplane/redis_backplane.ts";
import { clusterSlot } from "../../lib/backplane/redis_cluster_connection.ts";
import { presenceKeyBase } from "../../lib/backplane/redis_presence.ts";
import {
  createPubSub,
  type PresenceEvent,
  type PubSub,
  type Subscriber,
  type TopicEvent,
} from "../../lib/pubsub/pubsub.ts";
import { type RedisCluster, redisClusterTest } from "../_redis_cluster.ts";

const decoder = new TextDecoder();

interface Node {
  backplane: RedisBackplane;
  pubsub: PubSub;
  gaps: string[];
  presence: PresenceEvent[];
}

function recorder(): Subscriber & { received: string[] } {
  const received: string[] = [];
  return {
    received,
    deliver: (message, topic) => received.push(`${topic}: ${decoder.decode(message.payload)}`) > 0,
  };
}

async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  for (
    const started = Date.now();
    !(await condition());
    await new Promise((resolve) => setTimeout(resolve, 25))
  ) {
    if (Date.now() - started > ms) throw new Error(`Timed out after ${ms} ms: ${what}`);
  }
}

/** Runs a body with two nodes on the cluster, and a connection to each master to look with. */
async function withNodes(
  cluster: RedisCluster,
  body: (nodes: Node[], masters: Redis[]) => Promise<void>,
  sharded = true,
): Promise<void> {
  const nodes: Node[] = [];
  const masters = cluster.nodes.map((node) =>
    new Redis(node.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  );
  for (const master of masters) master.on("error", () => {});
  try {
    await Promise.all(masters.map((master) => master.connect()));
    for (let i = 0; i < 2; i++) {
      const backplane = await redisBackplane({ cluster: cluster.urls, presenceTtl: 3000, sharded });
      const pubsub = createPubSub({ backplane, presence: { interval: 50 } });
      const node: Node = { backplane, pubsub, gaps: [], presence: [] };
      pubsub.addEventListener("gap", (event) => node.gaps.push((event as TopicEvent).topic));
      pubsub.addEventListener("presence", (event) => node.presence.push(event as PresenceEvent));
      nodes.push(node);
    }
    await body(nodes, masters);
  } finally {
    for (const node of nodes) {
      node.pubsub.close();
      await node.backplane.close();
    }
    for (const master of masters) master.disconnect();
  }
}

/** @returns The index of the master that owns a slot (from CLUSTER SHARDS-free CLUSTER SLOTS). */
async function ownerOf(masters: Redis[], ports: number[], slot: number): Promise<number> {
  const ranges = await masters[0].call("CLUSTER", "SLOTS") as [number, number, [string, number]][];
  for (const [from, to, [, port]] of ranges) {
    if (slot >= from && slot <= to) return ports.indexOf(Number(port));
  }
  throw new Error(`No master owns slot ${slot}`);
}

/** @returns One topic per master: `t0`, `t1`... picked so that their channels (`ws:` + topic) land on each. */
async function topicPerMaster(masters: Redis[], ports: number[]): Promise<string[]> {
  const topics: (string | undefined)[] = [undefined, undefined, undefined];
  for (let i = 0; topics.includes(undefined) && i < 1000; i++) {
    const topic = `room${i}`;
    const owner = await ownerOf(masters, ports, clusterSlot(`ws:${topic}`));
    topics[owner] ??= topic;
  }
  assert.ok(!topics.includes(undefined), "Cannot find a topic for every master");
  return topics as string[];
}

describe("redisBackplane({ cluster }) on a 3-master Redis Cluster", () => {
  test("clusterSlot is CRC16 mod 16384 of the hash tag or name (the values Redis documents)", () => {
    assert.equal(clusterSlot("foo"), 12182);
    assert.equal(clusterSlot("{foo}bar"), 12182);
    assert.equal(clusterSlot("{}foo"), clusterSlot("{}foo"));
    assert.equal(clusterSlot("123456789"), 0x31c3 % 16384);
  });

  redisClusterTest("clusterSlot and the presence keys agree with CLUSTER KEYSLOT", async (cluster) => {
    const redis = new Redis(cluster.nodes[0].url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on("error", () => {});
    try {
      await redis.connect();
      for (const name of ["ws:room", "ws:{tenant}:room", "ws:é🎉", "ws:a{", "ws:{}x", "x".repeat(300)]) {
        assert.equal(clusterSlot(name), await redis.call("CLUSTER", "KEYSLOT", name), name);
        const key = `${presenceKeyBase(name)}:presence`;
        if (!name.includes("}") || /\{[^}]+\}/.test(name)) {
          assert.equal(await redis.call("CLUSTER", "KEYSLOT", key), clusterSlot(name), key);
        }
      }
    } finally {
      redis.disconnect();
    }
  });

  redisClusterTest(
    "topics on each of the three shards reach the other node, once, and Redis counts both subscribers",
    async (cluster) => {
      await withNodes(cluster, async ([a, b], masters) => {
        const ports = cluster.nodes.map((node) => node.port);
        const topics = await topicPerMaster(masters, ports);
        const onA = recorder(), onB = recorder();
        for (const topic of topics) {
          a.pubsub.subscribe(onA, topic);
          b.pubsub.subscribe(onB, topic);
        }
        await Promise.all([a.backplane.flush(), b.backplane.flush()]);
        // Each channel is subscribed on its own master by both nodes (SHARDNUMSUB there), and nowhere else.
        for (const [owner, topic] of topics.entries()) {
          for (const [i, master] of masters.entries()) {
            const reply = await master.call("PUBSUB", "SHARDNUMSUB", `ws:${topic}`) as unknown[];
            assert.equal(Number(reply[1]), i === owner ? 2 : 0, `ws:${topic} on master ${i}`);
          }
        }
        for (const topic of topics) {
          a.pubsub.publish(topic, `from A to ${topic}`);
          b.pubsub.publish(topic, `from B to ${topic}`);
        }
        await until(
          "each node gets the other's three",
          () => onA.received.length === 6 && onB.received.length === 6,
        );
        await Promise.all([a.backplane.flush(), b.backplane.flush()]);
        assert.deepEqual(
          onA.received.filter((r) => r.includes("from B")).sort(),
          topics.map((t) => `${t}: from B to ${t}`).sort(),
        );
        assert.deepEqual(
          onB.received.filter((r) => r.includes("from A")).sort(),
          topics.map((t) => `${t}: from A to ${t}`).sort(),
        );
        assert.equal(a.backplane.stats.failedPublishes + b.backplane.stats.failedPublishes, 0);
        assert.equal(a.backplane.stats.echoes, 3);
      });
    },
  );

  redisClusterTest(
    "classic pub/sub (sharded: false) on the cluster: topics of every shard reach the other node",
    async (cluster) => {
      await withNodes(cluster, async ([a, b], masters) => {
        const topics = await topicPerMaster(masters, cluster.nodes.map((node) => node.port));
        const onA = recorder(), onB = recorder();
        for (const topic of topics) {
          a.pubsub.subscribe(onA, topic);
          b.pubsub.subscribe(onB, topic);
        }
        await Promise.all([a.backplane.flush(), b.backplane.flush()]);
        // Classic subscriptions: counted by the node each subscriber is connected to, summed over the masters.
        for (const topic of topics) {
          let total = 0;
          for (const master of masters) {
            total += Number((await master.call("PUBSUB", "NUMSUB", `ws:${topic}`) as unknown[])[1]);
          }
          assert.equal(total, 2, `ws:${topic}`);
        }
        for (const topic of topics) {
          a.pubsub.publish(topic, `from A to ${topic}`);
          b.pubsub.publish(topic, `from B to ${topic}`);
        }
        await until(
          "each node gets the other's three",
          () => onA.received.length === 6 && onB.received.length === 6,
        );
        assert.deepEqual(
          onB.received.filter((r) => r.includes("from A")).sort(),
          topics.map((t) => `${t}: from A to ${t}`).sort(),
        );
      }, false);
    },
  );

  redisClusterTest(
    "a master killed and started again: both nodes subscribe again, report a gap, and deliver on its shard",
    async (cluster) => {
      await withNodes(cluster, async ([a, b], masters) => {
        const ports = cluster.nodes.map((node) => node.port);
        const topics = await topicPerMaster(masters, ports);
        const onB = recorder();
        for (const topic of topics) {
          a.pubsub.subscribe(recorder(), topic);
          b.pubsub.subscribe(onB, topic);
        }
        await Promise.all([a.backplane.flush(), b.backplane.flush()]);
        const reconnects = b.backplane.stats.reconnects;
        const started = Date.now();
        await cluster.nodes[0].kill();
        await new Promise((resolve) => setTimeout(resolve, 300));
        await cluster.nodes[0].start();
        await cluster.waitOk();
        await until(
          "B resubscribed after the restart",
          () => b.backplane.stats.reconnects > reconnects && b.backplane.connected,
        );
        await until("B reports a gap on the restarted shard's topic", () => b.gaps.includes(topics[0]));
        // Publish until the restarted shard delivers (its subscriber connections come back on their own time).
        let delivered = false;
        for (let i = 0; !delivered && i < 200; i++) {
          a.pubsub.publish(topics[0], `after ${i}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
          delivered = onB.received.some((r) => r.startsWith(`${topics[0]}: after`));
        }
        assert.ok(delivered, `Cannot get a message through ${topics[0]} on the restarted master`);
        console.log(
          `cluster: a master killed and restarted; its shard delivered again ${
            Date.now() - started
          } ms after the kill ` +
            `(B: ${
              b.backplane.stats.reconnects - reconnects
            } down/ready cycles of its subscriber, ${b.gaps.length} gaps reported on ${topics.length} topics)`,
        );
        // Both nodes' subscriptions are on the restarted master again, as Redis counts them.
        await until("SHARDNUMSUB 2 on the restarted master", async () => {
          const reply = await masters[0].call("PUBSUB", "SHARDNUMSUB", `ws:${topics[0]}`).catch(
            () => [],
          ) as unknown[];
          return Number(reply[1]) === 2;
        });
        // The other shards never stopped.
        a.pubsub.publish(topics[1], "other shard");
        await until(
          "B gets a message on another shard",
          () => onB.received.includes(`${topics[1]}: other shard`),
        );
      });
    },
    { timeout: 90_000 },
  );

  redisClusterTest(
    "a master SIGKILLed fails over to its replica: delivery, subscriptions and presence carry on on the new master",
    async (cluster) => {
      await withNodes(cluster, async ([a, b], connections) => {
        const topic = "room0", channel = `ws:${topic}`, slot = clusterSlot(channel);
        // The slot's master and its replica, once the replica is known.
        type Range = [number, number, ...[string, number][]];
        let range: Range | undefined;
        await until("the slot's replica is listed", async () => {
          const ranges = await connections[0].call("CLUSTER", "SLOTS") as Range[];
          range = ranges.find(([from, to]) => slot >= from && slot <= to);
          return range !== undefined && range.length > 3;
        }, 30_000);
        const [masterPort, replicaPort] = [Number(range![2][1]), Number(range![3][1])];
        const master = cluster.nodes.find((node) => node.port === masterPort)!;
        const replica = connections[cluster.nodes.findIndex((node) => node.port === replicaPort)];
        const onB = recorder();
        a.pubsub.subscribe(recorder(), topic, { presence: { id: "ada" } });
        b.pubsub.subscribe(onB, topic, { presence: { id: "bob" } });
        await until("both members listed", async () => (await a.pubsub.presence(topic)).length === 2);
        // The replica has them too (in sync with its master).
        await until("the replica is in sync", async () => {
          const role = await replica.call("ROLE").catch(() => []) as unknown[];
          return role[0] === "slave" && role[3] === "connected";
        }, 30_000);
        await Promise.all([a.backplane.flush(), b.backplane.flush()]);
        const killedAt = Date.now();
        await master.kill();
        await until("the replica is master", async () => {
          const role = await replica.call("ROLE").catch(() => []) as unknown[];
          return role[0] === "master";
        }, 30_000);
        const promotedMs = Date.now() - killedAt;
        let delivered = false;
        for (let i = 0; !delivered && i < 600; i++) {
          a.pubsub.publish(topic, `after failover ${i}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
          delivered = onB.received.some((r) => r.startsWith(`${topic}: after failover`));
        }
        assert.ok(delivered, `Cannot get a message through ${topic} after the failover`);
        const deliveredMs = Date.now() - killedAt;
        await until("B reports a gap on the topic", () => b.gaps.includes(topic));
        await until("SHARDNUMSUB 2 on the new master", async () => {
          const reply = await replica.call("PUBSUB", "SHARDNUMSUB", channel).catch(() => []) as unknown[];
          return Number(reply[1]) === 2;
        });
        // The presence keys were replicated: both members are still listed, on both nodes.
        for (const node of [a, b]) {
          await until(
            "both members still listed",
            async () =>
              (await node.pubsub.presence(topic).catch(() => [])).map((m) => m.id).sort().join() ===
                "ada,bob",
          );
        }
        console.log(
          `cluster: master SIGKILLed; replica promoted after ${promotedMs} ms, the shard delivered again after ${deliveredMs} ms`,
        );
      });
    },
    { timeout: 120_000, replicas: 1 },
  );

  redisClusterTest(
    "presence across the cluster: members of topics on different shards, keys in each channel's slot",
    async (cluster) => {
      await withNodes(cluster, async ([a, b], masters) => {
        const ports = cluster.nodes.map((node) => node.port);
        const topics = await topicPerMaster(masters, ports);
        for (const topic of topics) {
          a.pubsub.subscribe(recorder(), topic, { presence: { id: "ada", data: { on: "A" } } });
          b.pubsub.subscribe(recorder(), topic, { presence: { id: "bob" } });
          b.pubsub.subscribe(recorder(), topic, { presence: { id: "ada", data: { on: "B" } } });
        }
        for (const [owner, topic] of topics.entries()) {
          for (const node of [a, b]) {
            await until(`${topic}: both members on both nodes`, async () => {
              const members = await node.pubsub.presence(topic);
              return members.length === 2 && members.find((m) => m.id === "ada")?.connections === 2;
            });
          }
          // The keys are on the topic's own master.
          const set = `{ws:${topic}}:presence`;
          assert.deepEqual(
            (await masters[owner].smembers(set)).sort(),
            [a.backplane.nodeId, b.backplane.nodeId].sort(),
          );
        }
        for (const topic of topics) {
          await until(
            `A sees ${topic}'s joins`,
            () =>
              a.presence.filter((e) => e.topic === topic).flatMap((e) => e.joins.map((m) => m.id)).length ===
                2,
          );
        }
        // B closes: A sees bob leave each topic at once, and ada stays.
        await b.backplane.close();
        b.pubsub.close();
        for (const topic of topics) {
          await until(
            `A sees bob leave ${topic}`,
            () => a.presence.some((e) => e.topic === topic && e.leaves.some((m) => m.id === "bob")),
          );
          assert.deepEqual(await a.pubsub.presence(topic), [{
            id: "ada",
            data: { on: "A" },
            connections: 1,
          }]);
        }
      });
    },
    { timeout: 60_000 },
  );
});
