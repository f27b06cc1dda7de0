/**
 * History on Redis Streams against a real redis-server (tests/_redis.ts starts one per test on a free port
 * and stops it): two PubSubs, each over its own redisBackplane, are two nodes. Offsets given by Redis and
 * the same on both; a subscriber of one node recovers what the other published; FLUSHALL and a restart of
 * Redis change the epoch (recovered: false); a history trimmed past `size` gives recovered: false with no
 * partial replay; the seam of a replay while publishes go on has nothing twice and nothing missing.
 */

import { describe, test } from "node:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type RedisBackplane, redisBackplane } from "../../lib/backplane/redis_backplane.ts";
import {
  createPubSub,
  type HistoryOptions,
  type PubSub,
  type StreamPosition,
  type Subscriber,
  type TopicEvent,
} from "../../lib/pubsub/pubsub.ts";
import process from "node:process";
import { pause } from "../_raw_client.ts";
import { REDIS_MISSING, REDIS_SERVER_PATH, type RedisServer, redisTest } from "../_redis.ts";

const decoder = new TextDecoder();

/** A subscriber that records the text of what reaches it. */
function recorder(): Subscriber & { texts: string[] } {
  const texts: string[] = [];
  return { texts, deliver: (message) => (texts.push(decoder.decode(message.payload)), true) };
}

interface Node {
  backplane: RedisBackplane;
  pubsub: PubSub;
  gaps: string[];
}

/** Runs a body with two nodes on one Redis, and a connection to look at Redis with; closes them all. */
async function withNodes(
  server: RedisServer,
  history: HistoryOptions,
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
    for (let i = 0; i < 2; i++) {
      const backplane = await redisBackplane({ url: server.url });
      const pubsub = createPubSub({ backplane, history });
      const gaps: string[] = [];
      pubsub.addEventListener("gap", (event) => gaps.push((event as TopicEvent).reason));
      nodes.push({ backplane, pubsub, gaps });
    }
    await body(nodes, redis);
  } finally {
    for (const node of nodes) node.pubsub.close();
    await Promise.all(nodes.map((node) => node.backplane.close()));
    redis.disconnect();
  }
}

/** Waits for a condition, polling; fails after `ms`. */
async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  for (const started = Date.now(); !condition(); await pause(5)) {
    if (Date.now() - started > ms) throw new Error(`Timed out after ${ms} ms: ${what}`);
  }
}

/**
 * B subscribed; A appends 5, then B's subscriber connection is killed (CLIENT KILL) and A appends 20 while
 * it is down, then 5 more once B is back. Returns B's subscriber once it got offset 30.
 */
async function linkDown(a: Node, b: Node, redis: Redis): Promise<ReturnType<typeof recorder>> {
  const atB = recorder();
  b.pubsub.subscribe(atB, "room");
  await b.backplane.flush();
  for (let i = 0; i < 5; i++) await a.pubsub.append("room", (at) => `m${at.offset}`);
  await until("B gets five", () => atB.texts.length === 5);
  const list = await redis.call("CLIENT", "LIST") as string;
  const line = list.split("\n").find((entry) =>
    entry.includes(` name=wsengine:${b.backplane.nodeId}:subscriber`)
  );
  const id = /\bid=(\d+)/.exec(line ?? "")?.[1];
  assert.ok(id !== undefined, "B's subscriber connection is listed");
  await redis.call("CLIENT", "KILL", "ID", id);
  await Promise.all(Array.from({ length: 20 }, () => a.pubsub.append("room", (at) => `m${at.offset}`)));
  await until("B is back", () => b.backplane.connected && b.backplane.stats.reconnects >= 1);
  await b.backplane.flush();
  for (let i = 0; i < 5; i++) await a.pubsub.append("room", (at) => `m${at.offset}`);
  await until("B gets the last", () => atB.texts.at(-1) === "m30");
  return atB;
}

/** `m<offset>` for offsets from..to. */
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

describe("history on Redis Streams", () => {
  redisTest(
    "offsets given by Redis are the same on both nodes; the message is made from its position",
    async (server) => {
      await withNodes(server, { size: 100 }, async ([a, b], redis) => {
        const atA = recorder(), atB = recorder(), sender = recorder();
        a.pubsub.subscribe(atA, "room");
        a.pubsub.subscribe(sender, "room");
        b.pubsub.subscribe(atB, "room");
        await Promise.all([a.backplane.flush(), b.backplane.flush()]);
        const first = await a.pubsub.append("room", (at) => `m${at.offset}`);
        assert.equal(first.offset, 1);
        assert.equal(b.pubsub.publish("room", (at) => `m${at.offset}`), 1, "B's one subscriber, to come");
        await until("B's publish came back", () => atB.texts.length === 2);
        a.pubsub.publish("room", (at) => `m${at.offset}`, { except: sender });
        await until("both nodes get three", () => atA.texts.length === 3 && atB.texts.length === 3);
        assert.deepEqual(atA.texts, ["m1", "m2", "m3"]);
        assert.deepEqual(atB.texts, ["m1", "m2", "m3"]);
        assert.deepEqual(
          sender.texts,
          ["m1", "m2"],
          "the sender is left out of its own publish, on its node",
        );
        assert.deepEqual(await a.pubsub.position("room"), await b.pubsub.position("room"));
        assert.deepEqual((await b.pubsub.position("room")).offset, 3);
        assert.equal(await redis.xlen("{ws:room}:stream"), 3);
        assert.ok((await redis.pttl("{ws:room}:stream")) > 0, "the stream expires by ttl");
        const page = await b.pubsub.history("room", { since: first });
        assert.deepEqual(page.entries.map((entry) => decoder.decode(entry.payload)), ["m2", "m3"]);
        assert.equal(page.complete, true);
        assert.deepEqual([...a.gaps, ...b.gaps], []);
      });
    },
  );

  redisTest(
    "a subscriber of B cut off while A publishes 50 recovers all 50, in order, once",
    async (server) => {
      await withNodes(server, { size: 100 }, async ([a, b]) => {
        const before = recorder();
        b.pubsub.subscribe(before, "room");
        await b.backplane.flush();
        for (let i = 0; i < 5; i++) a.pubsub.publish("room", (at) => `m${at.offset}`);
        await until("B gets five", () => before.texts.length === 5);
        const position = await b.pubsub.position("room");
        b.pubsub.unsubscribe(before, "room"); // cut off
        const last = await Promise.all(
          Array.from({ length: 50 }, () => a.pubsub.append("room", (at) => `m${at.offset}`)),
        );
        assert.equal(last.at(-1)?.offset, 55);
        const after = recorder();
        const recovery = await b.pubsub.subscribe(after, "room", { since: position });
        assert.deepEqual(recovery, {
          recovered: true,
          position: { epoch: position.epoch, offset: 55 },
          replayed: 50,
        });
        a.pubsub.publish("room", (at) => `m${at.offset}`);
        await until("the live one after", () => after.texts.length === 51);
        assert.deepEqual([...before.texts, ...after.texts], range(1, 56));
        assert.deepEqual(b.gaps, []);
      });
    },
  );

  redisTest(
    "FLUSHALL, then a restart of Redis: a new epoch, recovered: false, nothing replayed",
    async (server) => {
      await withNodes(server, { size: 100 }, async ([a, b], redis) => {
        a.pubsub.publish("room", "x");
        const old = await a.pubsub.append("room", "y");
        await redis.flushall();
        await a.pubsub.append("room", "z");
        const afterFlush = recorder();
        const recovery = await b.pubsub.subscribe(afterFlush, "room", { since: old });
        assert.equal(recovery.recovered, false);
        assert.match(recovery.reason ?? "", /epoch changed/);
        assert.notEqual(recovery.position.epoch, old.epoch);
        assert.equal(recovery.position.offset, 1, "offsets start again in the new epoch");
        assert.deepEqual(afterFlush.texts, []);
        b.pubsub.unsubscribe(afterFlush, "room");

        const before = recovery.position;
        await server.restart();
        await until("both nodes back", () => a.backplane.connected && b.backplane.connected);
        let appended: StreamPosition | undefined;
        for (
          const started = Date.now();
          appended === undefined && Date.now() - started < 10_000;
          await pause(20)
        ) {
          appended = await a.pubsub.append("room", "after restart").catch(() => undefined);
        }
        assert.ok(appended !== undefined, "appends work again");
        assert.notEqual(appended.epoch, before.epoch);
        const afterRestart = recorder();
        const pending = b.pubsub.subscribe(afterRestart, "room", { since: before });
        const again = await pending;
        assert.equal(again.recovered, false);
        assert.deepEqual(afterRestart.texts, []);
      });
    },
    { timeout: 30_000 },
  );

  redisTest("history trimmed past size: recovered: false, with no partial replay", async (server) => {
    await withNodes(server, { size: 10 }, async ([a, b]) => {
      const start = await b.pubsub.position("room");
      for (let i = 0; i < 11; i++) await a.pubsub.append("room", (at) => `m${at.offset}`);
      const late = recorder();
      const recovery = await b.pubsub.subscribe(late, "room", { since: start });
      assert.equal(recovery.recovered, false);
      assert.match(recovery.reason ?? "", /no longer reaches offset 1/);
      assert.deepEqual(late.texts, []);
      const inTime = recorder();
      const ok = await b.pubsub.subscribe(inTime, "room", { since: { epoch: start.epoch, offset: 1 } });
      assert.deepEqual([ok.recovered, ok.replayed], [true, 10]);
      assert.deepEqual(inTime.texts, range(2, 11));
    });
  });

  redisTest(
    "the seam: recovering while A keeps publishing gives every offset once, in order",
    async (server) => {
      await withNodes(server, { size: 1000 }, async ([a, b]) => {
        const position = await a.pubsub.position("room");
        const appends: Promise<StreamPosition>[] = [];
        const publishing = (async () => {
          for (let round = 0; round < 40; round++) {
            for (let i = 0; i < 10; i++) appends.push(a.pubsub.append("room", (at) => `m${at.offset}`));
            await pause(1);
          }
        })();
        await pause(10);
        const subscribers = [];
        for (let i = 0; i < 5; i++) {
          const subscriber = recorder();
          subscribers.push({
            subscriber,
            recovery: b.pubsub.subscribe(subscriber, "room", { since: position }),
          });
          await pause(3);
        }
        await publishing;
        const top = (await Promise.all(appends)).at(-1)!.offset;
        assert.equal(top, 400);
        for (const { subscriber, recovery } of subscribers) {
          assert.equal((await recovery).recovered, true);
          await until("every offset", () => subscriber.texts.length >= top);
          assert.deepEqual(subscriber.texts, range(1, top));
        }
        assert.equal(b.pubsub.historyStats?.recovered, 5);
        assert.deepEqual(b.gaps, []);
      });
    },
  );

  redisTest(
    "recovery at scale, small: 100 subscribers cut off while 200 messages are published all recover, in order, once",
    async (server) => {
      await withNodes(server, { size: 200 }, async ([a, b]) => {
        const clients = Array.from({ length: 100 }, recorder);
        for (const client of clients) b.pubsub.subscribe(client, "room");
        await b.backplane.flush();
        const start = await b.pubsub.position("room");
        for (const client of clients) b.pubsub.unsubscribe(client, "room");
        const appends = [];
        for (let i = 0; i < 200; i++) {
          appends.push(a.pubsub.append("room", (at) => `m${at.offset}`));
          if (i % 20 === 19) await pause(5);
        }
        await Promise.all(appends);
        const recoveries = await Promise.all(
          clients.map((client) => b.pubsub.subscribe(client, "room", { since: start })),
        );
        assert.equal(
          recoveries.filter((recovery) => recovery.recovered && recovery.replayed === 200).length,
          100,
        );
        for (const client of clients) assert.deepEqual(client.texts, range(1, 200));
        assert.deepEqual(b.gaps, []);
      });
    },
  );

  redisTest(
    "B's link down while A appends 20: its subscriber gets them from the history, in order, once, no gap event",
    async (server) => {
      await withNodes(server, { size: 100 }, async ([a, b], redis) => {
        const atB = await linkDown(a, b, redis);
        assert.deepEqual(atB.texts, range(1, 30));
        const stats = b.pubsub.historyStats!;
        assert.ok(stats.filled > 0, `filled from the history: ${JSON.stringify(stats)}`);
        assert.deepEqual(b.gaps, []);
      });
    },
  );

  redisTest(
    "no undetected gap: when the history no longer reaches, every offset B missed is in a gap it reported",
    async (server) => {
      await withNodes(server, { size: 10 }, async ([a, b], redis) => {
        const atB = await linkDown(a, b, redis);
        const delivered = new Set(atB.texts.map((text) => Number(text.slice(1))));
        const reported = b.gaps.flatMap((reason) => {
          const match = /offsets (\d+) to (\d+) were missed/.exec(reason);
          return match === null ? [] : [[Number(match[1]), Number(match[2])]];
        });
        const missing = Array.from({ length: 30 }, (_, i) => i + 1).filter((offset) =>
          !delivered.has(offset)
        );
        assert.ok(missing.length > 0, "B missed some while its link was down");
        for (const offset of missing) {
          assert.ok(
            reported.some(([from, to]) => offset >= from && offset <= to),
            `offset ${offset} missed and not reported: ${b.gaps}`,
          );
        }
        assert.ok(b.gaps.some((reason) => reason.startsWith("the link to Redis was down")), `${b.gaps}`);
        assert.deepEqual(
          atB.texts,
          [...atB.texts].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))),
          "in order",
        );
      });
    },
  );
});

/** A redis-server that keeps its data (append-only file, fsync on every write) across a SIGKILL. */
class PersistentRedis {
  readonly dir = mkdtempSync(join(tmpdir(), "wsengine-redis-"));
  port = 0;
  #child: ChildProcess | undefined;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      this.port = (probe.address() as { port: number }).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    }
    const child = this.#child = spawn(REDIS_SERVER_PATH, [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--dir",
      this.dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
    ], { stdio: "ignore" });
    const probe = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => {});
    try {
      for (const started = Date.now();; await pause(20)) {
        if (child.exitCode !== null) {
          throw new Error(`Cannot start redis-server: it exited with ${child.exitCode}`);
        }
        if (Date.now() - started > 5000) throw new Error("Cannot start redis-server: no PONG within 5 s");
        const ok = await probe.connect().then(() => probe.ping(), () => undefined).catch(() => undefined);
        if (ok === "PONG") {
          // Loaded: a server still loading its file answers PING but refuses the rest.
          const loading = await probe.info("persistence").then((info) => /loading:1/.test(info), () => true);
          if (!loading) break;
        }
        probe.disconnect();
      }
    } finally {
      probe.disconnect();
    }
  }

  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("history on a Redis that keeps its data", () => {
  test(
    "Redis killed and restarted mid-run: subscribers, live or cut off across it, get everything, same epoch",
    {
      skip: REDIS_MISSING !== undefined && process.env.REQUIRE_PEERS !== "1" ? REDIS_MISSING : false,
      timeout: 30_000,
    },
    async () => {
      const redis = new PersistentRedis();
      const nodes: Node[] = [];
      try {
        await redis.start();
        for (let i = 0; i < 2; i++) {
          const backplane = await redisBackplane({ url: redis.url });
          const pubsub = createPubSub({ backplane, history: { size: 100 } });
          const gaps: string[] = [];
          pubsub.addEventListener("gap", (event) => gaps.push((event as TopicEvent).reason));
          nodes.push({ backplane, pubsub, gaps });
        }
        const [a, b] = nodes;
        const live = recorder();
        b.pubsub.subscribe(live, "room");
        await b.backplane.flush();
        for (let i = 0; i < 5; i++) await a.pubsub.append("room", (at) => `m${at.offset}`);
        const position = await b.pubsub.position("room");
        for (let i = 0; i < 20; i++) await a.pubsub.append("room", (at) => `m${at.offset}`);
        await redis.kill();
        await assert.rejects(
          a.pubsub.append("room", "lost"),
          "an append while Redis is down is refused, not lost silently",
        );
        await redis.start();
        await until("both nodes back", () => a.backplane.connected && b.backplane.connected);
        let appended: StreamPosition | undefined;
        for (
          const started = Date.now();
          appended === undefined && Date.now() - started < 10_000;
          await pause(20)
        ) {
          appended = await a.pubsub.append("room", (at) => `m${at.offset}`).catch(() => undefined);
        }
        assert.deepEqual(appended, { epoch: position.epoch, offset: 26 }, "the same epoch, the next offset");
        const late = recorder();
        const recovery = await b.pubsub.subscribe(late, "room", { since: position });
        assert.deepEqual([recovery.recovered, recovery.replayed], [true, 21]);
        assert.deepEqual(late.texts, range(6, 26));
        assert.equal(a.pubsub.historyStats?.failedAppends, 1);
        // B's live subscriber, subscribed all along, has every offset too (what it missed filled from history).
        await until("the live subscriber gets offset 26", () => live.texts.at(-1) === "m26");
        assert.deepEqual(live.texts, range(1, 26));
        assert.deepEqual(b.gaps, []);
      } finally {
        for (const node of nodes) node.pubsub.close();
        await Promise.all(nodes.map((node) => node.backplane.close()));
        await redis.stop();
      }
    },
  );
});
