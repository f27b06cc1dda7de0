/**
 * The Redis backplane against a real redis-server (tests/_redis.ts starts one per test on a free port and
 * stops it in the test's `finally`): several "nodes" in this process, each a PubSub with its own
 * redisBackplane and its own two Redis connections, in sharded (SSUBSCRIBE/SPUBLISH) and classic
 * (SUBSCRIBE/PUBLISH) mode; a restart of Redis mid-run; two serve() servers sharing topics over real
 * sockets. What Redis itself holds is read with a separate connection (PUBSUB SHARDNUMSUB/NUMSUB,
 * CLIENT LIST, MONITOR).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import {
  type RedisBackplane,
  redisBackplane,
  type RedisBackplaneOptions,
  type RedisConnection,
  type RedisConnectionFactory,
  type RedisConnectionOptions,
} from "../../lib/backplane/redis_backplane.ts";
import { encodeEnvelope, encodeOrigin } from "../../lib/backplane/_envelope.ts";
import { createPubSub, type PubSub, type Subscriber, type TopicEvent } from "../../lib/pubsub/pubsub.ts";
import { serve, type WebSocketServer } from "../../lib/adapters/serve.ts";
import { pause, RawClient } from "../_raw_client.ts";
import { type RedisServer, redisTest } from "../_redis.ts";
import { repoPath } from "../_files.ts";

const TEXT = 0x1;
const decoder = new TextDecoder();

interface Received {
  topic: string;
  text: string;
  bytes: number[];
  binary: boolean;
}

/** A local subscriber that records what it is handed. */
function recorder(): Subscriber & { received: Received[] } {
  const received: Received[] = [];
  return {
    received,
    deliver(message, topic) {
      const bytes = [...message.payload];
      received.push({
        topic,
        text: message.binary ? "" : decoder.decode(message.payload),
        bytes,
        binary: message.binary,
      });
      return true;
    },
  };
}

/** One node: a PubSub over its own Redis backplane, and the gaps it reported. */
interface Node {
  backplane: RedisBackplane;
  pubsub: PubSub;
  gaps: string[];
}

/**
 * Runs a body with nodes on one Redis and a separate connection to look at Redis with; closes them all.
 */
async function withNodes(
  server: RedisServer,
  count: number,
  options: RedisBackplaneOptions,
  body: (nodes: Node[], redis: Redis) => Promise<void>,
): Promise<void> {
  const nodes: Node[] = [];
  const redis = new Redis(server.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    for (let i = 0; i < count; i++) {
      const backplane = await redisBackplane({ url: server.url, ...options });
      const pubsub = createPubSub({ backplane });
      const gaps: string[] = [];
      pubsub.addEventListener(
        "gap",
        (event) => gaps.push(`${(event as TopicEvent).topic}: ${(event as TopicEvent).reason}`),
      );
      nodes.push({ backplane, pubsub, gaps });
    }
    await body(nodes, redis);
  } finally {
    await Promise.all(nodes.map((node) => node.backplane.close()));
    redis.disconnect();
  }
}

/** Waits for a condition, polling; fails after `ms`. */
async function until(what: string, condition: () => boolean, ms = 3000): Promise<void> {
  for (const started = Date.now(); !condition(); await pause(5)) {
    if (Date.now() - started > ms) throw new Error(`Timed out after ${ms} ms: ${what}`);
  }
}

/** PUBSUB SHARDNUMSUB or NUMSUB: subscribers per channel, as Redis counts them. */
async function numsub(redis: Redis, sharded: boolean, channels: string[]): Promise<number[]> {
  const reply = await redis.call("PUBSUB", sharded ? "SHARDNUMSUB" : "NUMSUB", ...channels) as unknown[];
  return channels.map((_, i) => Number(reply[2 * i + 1]));
}

/** CLIENT LIST lines of one backplane's connections. */
async function clientsOf(redis: Redis, nodeId: string): Promise<string[]> {
  const list = await redis.call("CLIENT", "LIST") as string;
  return list.split("\n").filter((line) => line.includes(` name=wsengine:${nodeId}:`));
}

for (const sharded of [true, false]) {
  const mode = sharded ? "sharded (SSUBSCRIBE/SPUBLISH)" : "classic (SUBSCRIBE/PUBLISH)";
  const options: RedisBackplaneOptions = { sharded };

  describe(`redisBackplane, ${mode}`, () => {
    redisTest(
      "a publish on node A reaches B's subscribers once and A's once (not again from Redis); except holds on A",
      async (server) => {
        await withNodes(server, 2, options, async ([a, b]) => {
          const a1 = recorder(), a2 = recorder(), b1 = recorder(), b2 = recorder();
          a.pubsub.subscribe(a1, "room");
          a.pubsub.subscribe(a2, "room");
          b.pubsub.subscribe(b1, "room");
          b.pubsub.subscribe(b2, "room");
          await Promise.all([a.backplane.flush(), b.backplane.flush()]);
          // ws.publish from a1's socket: a1 left out, a2 once; B's two subscribers once each.
          assert.equal(a.pubsub.publish("room", "hello", { except: a1 }), 1);
          a.pubsub.publish("room", "end");
          await until("B gets both", () => b1.received.length === 2 && b2.received.length === 2);
          await until("A reads its own two back from Redis", () => a.backplane.stats.echoes === 2);
          await b.backplane.flush();
          assert.deepEqual(a1.received.map((r) => r.text), ["end"]);
          assert.deepEqual(a2.received.map((r) => r.text), ["hello", "end"]);
          for (const r of [b1, b2]) {
            assert.deepEqual(r.received.map((m) => [m.topic, m.text, m.binary]), [["room", "hello", false], [
              "room",
              "end",
              false,
            ]]);
          }
          assert.equal(a.pubsub.stats.remote, 0, "A delivered nothing of its own from Redis");
          assert.equal(b.pubsub.stats.remote, 2);
          const statsA = a.backplane.stats, statsB = b.backplane.stats;
          assert.deepEqual([statsA.published, statsA.failedPublishes, statsA.echoes, statsA.delivered], [
            2,
            0,
            2,
            0,
          ]);
          assert.deepEqual([statsB.received, statsB.delivered, statsB.gaps, statsB.duplicates], [2, 2, 0, 0]);
          assert.notEqual(a.backplane.nodeId, b.backplane.nodeId);
        });
      },
    );

    redisTest(
      "text and binary cross as they were: every byte value, UTF-8 text, an empty message, both ways",
      async (server) => {
        await withNodes(server, 2, options, async ([a, b]) => {
          const atA = recorder(), atB = recorder();
          a.pubsub.subscribe(atA, "bytes");
          b.pubsub.subscribe(atB, "bytes");
          await Promise.all([a.backplane.flush(), b.backplane.flush()]);
          const all = Uint8Array.from({ length: 256 }, (_, i) => i);
          a.pubsub.publish("bytes", all);
          a.pubsub.publish("bytes", "héllo wörld 🌍\u0000\r\n");
          a.pubsub.publish("bytes", new Uint8Array(0));
          a.pubsub.publish("bytes", "");
          await until("B gets four", () => atB.received.length === 4);
          b.pubsub.publish("bytes", all.slice().reverse());
          await until("A gets B's", () => atA.received.length === 5);
          assert.deepEqual(atB.received[0].bytes, [...all]);
          assert.equal(atB.received[0].binary, true);
          assert.deepEqual([atB.received[1].text, atB.received[1].binary], [
            "héllo wörld 🌍\u0000\r\n",
            false,
          ]);
          assert.deepEqual([atB.received[2].bytes, atB.received[2].binary], [[], true]);
          assert.deepEqual([atB.received[3].text, atB.received[3].binary], ["", false]);
          assert.deepEqual(atA.received[4].bytes, [...all].reverse());
          assert.equal(atA.received[4].binary, true);
        });
      },
    );

    redisTest(
      "1,000 messages of one publisher arrive in publish order on the other node (in one tick and over many)",
      async (server) => {
        await withNodes(server, 2, options, async ([a, b]) => {
          const atB = recorder();
          b.pubsub.subscribe(atB, "order");
          await b.backplane.flush();
          for (let i = 0; i < 500; i++) a.pubsub.publish("order", `m${i}`);
          for (let i = 500; i < 1000; i++) {
            a.pubsub.publish("order", i % 2 === 0 ? `m${i}` : new TextEncoder().encode(`m${i}`), {
              binary: false,
            });
            if (i % 50 === 0) await pause(1);
          }
          await until("1,000 at B", () => atB.received.length === 1000, 10_000);
          assert.deepEqual(atB.received.map((r) => r.text), Array.from({ length: 1000 }, (_, i) => `m${i}`));
          assert.deepEqual([b.backplane.stats.gaps, b.backplane.stats.duplicates], [0, 0]);
        });
      },
    );

    redisTest(
      "a node with no subscriber to a topic receives none of its messages (PUBSUB counts, CLIENT LIST, messages read)",
      async (server) => {
        await withNodes(server, 3, options, async ([a, b, c], redis) => {
          const onA = recorder(), onB = recorder();
          a.pubsub.subscribe(onA, "x");
          b.pubsub.subscribe(onB, "y");
          await Promise.all([a.backplane.flush(), b.backplane.flush(), c.backplane.flush()]);
          assert.deepEqual(await numsub(redis, sharded, ["ws:x", "ws:y", "ws:z"]), [1, 1, 0]);
          for (let i = 0; i < 20; i++) {
            c.pubsub.publish("x", `x${i}`);
            c.pubsub.publish("y", `y${i}`);
            c.pubsub.publish("z", `z${i}`);
            b.pubsub.publish("z", `bz${i}`);
          }
          await until("A and B get their 20", () => onA.received.length === 20 && onB.received.length === 20);
          await Promise.all([a.backplane.flush(), b.backplane.flush(), c.backplane.flush()]);
          await pause(100); // anything misrouted would have come by now
          assert.equal(a.backplane.stats.received, 20, "A read only x");
          assert.equal(b.backplane.stats.received, 20, "B read only y (not its own z)");
          assert.equal(c.backplane.stats.received, 0, "C subscribes to nothing");
          assert.equal(c.backplane.stats.published, 60);
          // Each node's subscriber connection holds exactly its own topics.
          const field = sharded ? "ssub" : "sub";
          const subscriptions = async (node: Node) => {
            const line = (await clientsOf(redis, node.backplane.nodeId)).find((l) =>
              l.includes(":subscriber ")
            );
            return Number(new RegExp(` ${field}=(\\d+)`).exec(line ?? "")?.[1]);
          };
          assert.deepEqual([await subscriptions(a), await subscriptions(b), await subscriptions(c)], [
            1,
            1,
            0,
          ]);
        });
      },
    );

    redisTest(
      "topics joined in one tick go out as one command per 512 channels, leaves likewise; a join and leave in one tick sends nothing",
      async (server) => {
        await withNodes(server, 1, options, async ([a], redis) => {
          const monitor = await redis.monitor();
          const commands: string[] = [];
          monitor.on(
            "monitor",
            (_time: string, args: string[]) => commands.push(String(args[0]).toLowerCase()),
          );
          try {
            const [subscribe, unsubscribe] = sharded
              ? ["ssubscribe", "sunsubscribe"]
              : ["subscribe", "unsubscribe"];
            const count = (name: string) => commands.filter((command) => command === name).length;
            const s = recorder();
            const topics = Array.from({ length: 600 }, (_, i) => `t${i}`);
            for (const topic of topics) a.pubsub.subscribe(s, topic);
            a.pubsub.subscribe(s, "flash");
            a.pubsub.unsubscribe(s, "flash");
            await a.backplane.flush();
            await until("MONITOR shows the subscriptions", () => count(subscribe) === 2);
            assert.equal(a.backplane.stats.subscribeCommands, 2, "512 + 88 channels");
            const counts = await numsub(redis, sharded, [...topics.map((t) => `ws:${t}`), "ws:flash"]);
            assert.ok(counts.slice(0, 600).every((n) => n === 1), "every topic on Redis");
            assert.equal(counts[600], 0, "flash never subscribed");
            // One more, in a later tick: one more command.
            a.pubsub.subscribe(s, "late");
            await a.backplane.flush();
            a.pubsub.unsubscribeAll(s);
            await a.backplane.flush();
            await until("MONITOR shows the unsubscriptions", () => count(unsubscribe) === 2);
            await pause(50);
            assert.deepEqual([count(subscribe), count(unsubscribe)], [3, 2]);
            assert.deepEqual([a.backplane.stats.subscribeCommands, a.backplane.stats.unsubscribeCommands], [
              3,
              2,
            ]);
            assert.ok(
              (await numsub(redis, sharded, [...topics, "late"].map((t) => `ws:${t}`))).every((n) => n === 0),
            );
          } finally {
            monitor.disconnect();
          }
        });
      },
    );

    redisTest(
      "Redis killed and started again on the same port: every topic resubscribed in bounded time, a gap for each, later messages delivered, publishes during the outage counted",
      async (server) => {
        await withNodes(server, 2, options, async ([a, b], redis) => {
          const topics = Array.from({ length: 50 }, (_, i) => `r${i}`);
          const atB = recorder();
          for (const topic of topics) b.pubsub.subscribe(atB, topic);
          await b.backplane.flush();
          a.pubsub.publish("r0", "before");
          await until("before", () => atB.received.length === 1);

          await server.kill();
          await until("both nodes see the link down", () => !a.backplane.connected && !b.backplane.connected);
          const local = recorder();
          a.pubsub.subscribe(local, "r1"); // joined while down: subscribed once Redis is back
          for (let i = 0; i < 5; i++) a.pubsub.publish("r0", `during ${i}`);
          assert.equal(a.pubsub.publish("r1", "local only"), 1, "local delivery goes on");
          await a.backplane.flush(); // A's publisher may not have seen the link drop yet: its batch fails then
        assert.equal(a.backplane.stats.failedPublishes, 6, "counted, not queued");

          await server.restart();
          const restarted = Date.now();
          await until("the inspecting connection is back", () => redis.status === "ready", 5000);
          await until(
            "B resubscribed and reported a gap for every topic",
            () => b.gaps.length >= topics.length,
            5000,
          );
          await until("A resubscribed", () => a.gaps.length >= 1, 5000);
          await Promise.all([a.backplane.flush(), b.backplane.flush()]);
          const elapsed = Date.now() - restarted;
          assert.ok(elapsed < 3000, `resubscribed ${elapsed} ms after the restart`);
          assert.deepEqual(
            (await numsub(redis, sharded, topics.map((t) => `ws:${t}`))).map((n) => n >= 1),
            topics.map(() => true),
          );
          assert.deepEqual(
            b.gaps.slice(0, topics.length).sort(),
            topics.map((t) => `${t}: the link to Redis was down`).sort(),
          );
          assert.deepEqual(a.gaps, ["r1: the link to Redis was down"]);
          assert.equal(b.backplane.stats.reconnects, 1);
          assert.equal(
            a.backplane.stats.repairs + b.backplane.stats.repairs,
            0,
            "nothing missing after the resubscription",
          );

          // A publish goes to Redis only once A's publisher connection is back too.
          await until("both nodes connected", () => a.backplane.connected && b.backplane.connected, 5000);
          for (const topic of topics) a.pubsub.publish(topic, `after ${topic}`);
          await until(
            "every topic's message after the restart",
            () => atB.received.length === 1 + topics.length,
          );
          assert.deepEqual(
            atB.received.map((r) => r.text),
            ["before", ...topics.map((t) => `after ${t}`)],
            "nothing from the outage, no duplicate",
          );
          // A's five lost publishes to r0 took numbers 2..6: B says so when 7 arrives.
          assert.ok(
            b.gaps.includes(
              `r0: sequence skipped: 5 messages from node ${a.backplane.nodeId} missed (2 to 6)`,
            ),
            b.gaps.join("\n"),
          );
          assert.equal(b.backplane.stats.duplicates, 0);
          assert.equal(
            a.backplane.lastError.startsWith("The link to Redis is down"),
            true,
            a.backplane.lastError,
          );
        });
      },
      { timeout: 30_000 },
    );
  });
}

describe("redisBackplane", () => {
  redisTest(
    "a receiver reports skipped sequence numbers, drops a number seen already, takes 1 as a new start, and counts what is not an envelope",
    async (server) => {
      await withNodes(server, 1, {}, async ([b], redis) => {
        const atB = recorder();
        b.pubsub.subscribe(atB, "room");
        await b.backplane.flush();
        const forged = encodeOrigin("forged");
        const send = (sequence: number, text: string) =>
          redis.spublish(
            "ws:room",
            Buffer.from(encodeEnvelope(forged, sequence, false, new TextEncoder().encode(text))),
          );
        for (
          const [sequence, text] of [
            [1, "one"],
            [2, "two"],
            [5, "five"],
            [5, "five again"],
            [1, "new start"],
            [2, "two of the new"],
          ] as const
        ) {
          await send(sequence, text);
        }
        await redis.spublish("ws:room", "not an envelope");
        await until("all seven read", () => b.backplane.stats.received === 7);
        assert.deepEqual(atB.received.map((r) => r.text), [
          "one",
          "two",
          "five",
          "new start",
          "two of the new",
        ]);
        assert.deepEqual(b.gaps, ["room: sequence skipped: 2 messages from node forged missed (3 to 4)"]);
        const stats = b.backplane.stats;
        assert.deepEqual([stats.delivered, stats.duplicates, stats.malformed, stats.gaps], [5, 1, 1, 1]);
        assert.match(
          b.backplane.lastError,
          /^Cannot decode the envelope: version 110, not 1 \(channel ws:room\)$/,
        );
      });
    },
  );

  redisTest(
    "a publish over maxPendingBytes is counted as failed and not sent; the other nodes see the gap",
    async (server) => {
      await withNodes(server, 1, {}, async ([b]) => {
        const a = await redisBackplane({ url: server.url, maxPendingBytes: 200, nodeId: "small" });
        try {
          const pubsubA = createPubSub({ backplane: a });
          const atB = recorder();
          b.pubsub.subscribe(atB, "room");
          await b.backplane.flush();
          pubsubA.publish("room", "first");
          pubsubA.publish("room", "x".repeat(300));
          pubsubA.publish("room", "third");
          await until("two at B", () => atB.received.length === 2);
          assert.deepEqual(atB.received.map((r) => r.text), ["first", "third"]);
          assert.deepEqual([a.stats.published, a.stats.failedPublishes], [2, 1]);
          assert.deepEqual(b.gaps, ["room: sequence skipped: 1 message from node small missed (2 to 2)"]);
        } finally {
          await a.close();
        }
      });
    },
  );

  redisTest(
    "close() unsubscribes and quits both connections; later publishes are counted as failed",
    async (server) => {
      await withNodes(server, 1, {}, async ([a], redis) => {
        const s = recorder();
        a.pubsub.subscribe(s, "one");
        a.pubsub.subscribe(s, "two");
        await a.backplane.flush();
        assert.equal((await clientsOf(redis, a.backplane.nodeId)).length, 2, "publisher and subscriber");
        assert.deepEqual(await numsub(redis, true, ["ws:one", "ws:two"]), [1, 1]);
        await a.backplane.close();
        await a.backplane.close();
        for (const started = Date.now(); (await clientsOf(redis, a.backplane.nodeId)).length > 0;) {
          if (Date.now() - started > 3000) assert.fail("the connections are still open");
          await pause(10);
        }
        assert.deepEqual(await numsub(redis, true, ["ws:one", "ws:two"]), [0, 0]);
        assert.equal(a.backplane.connected, false);
        a.pubsub.publish("one", "after close");
        assert.equal(a.backplane.stats.failedPublishes, 1);
        assert.equal(s.received.length, 1, "local delivery still works");
      });
    },
  );

  redisTest(
    "over real sockets: two serve() servers share topics through Redis; a client's publish on server 1 reaches clients on both, not itself",
    async (server) => {
      const servers: WebSocketServer[] = [];
      const backplanes: RedisBackplane[] = [];
      const clients: RawClient[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const backplane = await redisBackplane({ url: server.url });
          backplanes.push(backplane);
          servers.push(
            await serve({
              port: 0,
              pubsub: createPubSub({ backplane }),
              websocket: {
                open: (ws) => void ws.subscribe("chat"),
                message: (ws, data) => void ws.publish("chat", data),
              },
            }),
          );
        }
        const connect = async (s: WebSocketServer) => {
          const client = await RawClient.connect(s.port);
          clients.push(client);
          assert.equal(client.status, 101);
          return client;
        };
        const [one, alsoOne, two] = [
          await connect(servers[0]),
          await connect(servers[0]),
          await connect(servers[1]),
        ];
        await until(
          "three subscribers",
          () => servers[0].subscriberCount("chat") === 2 && servers[1].subscriberCount("chat") === 1,
        );
        await Promise.all(backplanes.map((b) => b.flush()));
        await one.send(TEXT, "hello from server 1");
        const frame = await two.nextFrame();
        assert.deepEqual([frame.opcode, decoder.decode(frame.payload)], [TEXT, "hello from server 1"]);
        assert.equal(decoder.decode((await alsoOne.nextFrame()).payload), "hello from server 1");
        await two.send(0x2, new Uint8Array([0, 255, 1]));
        for (const client of [one, alsoOne]) {
          const binary = await client.nextFrame();
          assert.deepEqual([binary.opcode, [...binary.payload]], [0x2, [0, 255, 1]]);
        }
        await assert.rejects(one.nextFrame(150), /Timed out/, "the sender gets nothing of its own");
        await assert.rejects(two.nextFrame(50), /Timed out/);
        assert.deepEqual(backplanes.map((b) => b.stats.delivered), [1, 1]);
      } finally {
        for (const client of clients) client.destroy();
        await Promise.all(servers.map((s) => s.close()));
        await Promise.all(backplanes.map((b) => b.close()));
      }
    },
  );

  test("an option it does not know is a TypeError, so are a bad cluster and wrong types", async () => {
    await assert.rejects(redisBackplane({ urll: "redis://x" } as RedisBackplaneOptions), {
      name: "TypeError",
      message: 'Cannot create the Redis backplane: unknown option "urll"',
    });
    await assert.rejects(redisBackplane({ cluster: [{ host: "a" }] } as unknown as RedisBackplaneOptions), {
      name: "TypeError",
      message: "Cannot create the Redis backplane: a cluster node is not a redis:// or rediss:// URL",
    });
    await assert.rejects(redisBackplane({ cluster: [] }), {
      name: "TypeError",
      message: "Cannot create the Redis backplane: cluster is not a non-empty array of URLs",
    });
    await assert.rejects(redisBackplane({ cluster: ["redis://a:1"], url: "redis://b:2" }), {
      name: "TypeError",
      message: "Cannot create the Redis backplane: cluster is given with url",
    });
    const wrong: [RedisBackplaneOptions, string][] = [
      [{ url: "http://x" }, "url is not a redis:// or rediss:// URL"],
      [{ prefix: 1 as unknown as string }, "prefix is not a string"],
      [{ sharded: "yes" as unknown as boolean }, "sharded is not a boolean"],
      [{ client: {} as RedisConnectionFactory }, "client is not a function"],
      [{ nodeId: "" }, "nodeId is 0 bytes of UTF-8, not 1 to 255"],
      [{ nodeId: "x".repeat(256) }, "nodeId is 256 bytes of UTF-8, not 1 to 255"],
      [{ maxPendingBytes: 0 }, "maxPendingBytes 0 is not a positive integer"],
    ];
    for (const [options, message] of wrong) {
      await assert.rejects(redisBackplane(options), {
        name: "TypeError",
        message: `Cannot create the Redis backplane: ${message}`,
      });
    }
  });

  test("defaults: url redis://127.0.0.1:6379, prefix ws:, sharded, a random node id per call, the id in the connection names (a client of one's own)", async () => {
    const made: RedisConnectionOptions[] = [];
    const calls: string[] = [];
    const fake: RedisConnectionFactory = (options) => {
      made.push(options);
      const connection: RedisConnection = {
        publish: (batch, sharded) => {
          calls.push(`${options.role} publish ${sharded} ${batch.map(([channel]) => channel).join(",")}`);
          return Promise.resolve(0);
        },
        subscribe: (channels, sharded) => {
          calls.push(`${options.role} subscribe ${sharded} ${channels.join(",")}`);
          return Promise.resolve();
        },
        unsubscribe: (channels, sharded) => {
          calls.push(`${options.role} unsubscribe ${sharded} ${channels.join(",")}`);
          return Promise.resolve();
        },
        subscriberCounts: (channels) => Promise.resolve(channels.map(() => 1)),
        close: () => {
          calls.push(`${options.role} close`);
          return Promise.resolve();
        },
      };
      return Promise.resolve(connection);
    };
    const first = await redisBackplane({ client: fake }), second = await redisBackplane({ client: fake });
    try {
      assert.match(first.nodeId, /^[0-9a-f]{16}$/);
      assert.notEqual(first.nodeId, second.nodeId);
      assert.deepEqual(made.map((o) => [o.url, o.role, o.name]), [
        ["redis://127.0.0.1:6379", "publisher", `wsengine:${first.nodeId}:publisher`],
        ["redis://127.0.0.1:6379", "subscriber", `wsengine:${first.nodeId}:subscriber`],
        ["redis://127.0.0.1:6379", "publisher", `wsengine:${second.nodeId}:publisher`],
        ["redis://127.0.0.1:6379", "subscriber", `wsengine:${second.nodeId}:subscriber`],
      ]);
      const pubsub = createPubSub({ backplane: first });
      pubsub.subscribe(recorder(), "room");
      pubsub.publish("room", "x");
      await first.flush();
      assert.deepEqual(calls, ["publisher publish true ws:room", "subscriber subscribe true ws:room"]);
      assert.throws(() => createPubSub({ backplane: first }), {
        message: "Cannot attach the Redis backplane: it is attached to a PubSub already",
      });
    } finally {
      await first.close();
      await second.close();
    }
    assert.deepEqual(calls.slice(-5), [
      "subscriber unsubscribe true ws:room",
      "publisher close",
      "subscriber close",
      "publisher close",
      "subscriber close",
    ]);
  });

  test("a server without sharded pub/sub is refused at creation unless sharded: false; an unreachable Redis rejects with the reason", async () => {
    let closed = 0;
    const redis6: RedisConnectionFactory = () =>
      Promise.resolve({
        publish: () => Promise.resolve(0),
        subscribe: () => Promise.resolve(),
        unsubscribe: () => Promise.resolve(),
        subscriberCounts: (_channels, sharded) =>
          sharded ? Promise.reject(new Error("ERR unknown subcommand 'SHARDNUMSUB'")) : Promise.resolve([]),
        close: () => Promise.resolve(void closed++),
      });
    await assert.rejects(redisBackplane({ client: redis6 }), {
      message:
        "Cannot use sharded pub/sub: Redis refused PUBSUB SHARDNUMSUB (ERR unknown subcommand 'SHARDNUMSUB'); " +
        "sharded pub/sub needs Redis 7, pass sharded: false for an older server",
    });
    assert.equal(closed, 2, "both connections closed");
    await (await redisBackplane({ client: redis6, sharded: false })).close();
    // Nothing listens on port 1.
    await assert.rejects(redisBackplane({ url: "redis://127.0.0.1:1" }), {
      message: /^Cannot connect to Redis: connect ECONNREFUSED 127\.0\.0\.1:1$/,
    });
  });

  test("only the ./redis subpath loads a Redis client: nothing else imports lib/backplane/, and ioredis is loaded by a dynamic import", () => {
    const denoExports =
      (JSON.parse(readFileSync(repoPath("deno.json"), "utf8")) as { exports: Record<string, string> })
        .exports;
    assert.equal(denoExports["./redis"], "./lib/backplane/redis_backplane.ts");
    for (const [subpath, file] of Object.entries(denoExports)) {
      if (subpath === "./redis") continue;
      assert.doesNotMatch(readFileSync(repoPath(file.slice(2)), "utf8"), /backplane\/redis|ioredis/, file);
    }
    const source = readFileSync(repoPath("lib/backplane/redis_backplane.ts"), "utf8");
    assert.doesNotMatch(source, /from "ioredis"/);
    assert.match(source, /await import\("\.\/_ioredis_connection\.ts"\)/);
  });
});
