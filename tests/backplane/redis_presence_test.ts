/**
 * Presence over the Redis backplane, against a real redis-server (tests/_redis.ts): several nodes in this
 * process, each a PubSub over its own redisBackplane. A node "killed" has its two Redis connections closed
 * under it (no DEL, no goodbye): its entries stay until they expire, and the others see its members leave
 * then. What Redis holds is read with a separate connection.
 */

import { describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { Redis } from "ioredis";
import {
  type RedisBackplane,
  redisBackplane,
  type RedisBackplaneOptions,
  type RedisConnection,
  type RedisConnectionFactory,
} from "../../lib/backplane/redis_backplane.ts";
import { ioredisConnection } from "../../lib/backplane/_ioredis_connection.ts";
import { createPubSub, type PresenceEvent, type PubSub, type Subscriber } from "../../lib/pubsub/pubsub.ts";
import { type RedisServer, redisTest } from "../_redis.ts";
import { serve, type WebSocketServer } from "../../lib/adapters/serve.ts";

/** How often the test nodes batch presence. */
const INTERVAL = 50;

interface Node {
  backplane: RedisBackplane;
  pubsub: PubSub;
  events: PresenceEvent[];
  /** Closes the node's Redis connections under it, as a crash would (only for nodes made with `killable`). */
  kill(): Promise<void>;
}

const subscriber = (): Subscriber => ({ deliver: () => true });

/** @returns The member ids of events' joins or leaves, for one topic, in order. */
function idsOf(events: PresenceEvent[], topic: string, which: "joins" | "leaves"): string[] {
  return events.filter((event) => event.topic === topic).flatMap((event) =>
    event[which].map((member) => member.id)
  );
}

/** Waits for a condition, polling; fails after `ms`. */
async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (
    const started = Date.now();
    !(await condition());
    await new Promise((resolve) => setTimeout(resolve, 20))
  ) {
    if (Date.now() - started > ms) throw new Error(`Timed out after ${ms} ms: ${what}`);
  }
}

/** Makes a node; `killable` wraps its client so that the test can drop its connections. */
async function node(
  server: RedisServer,
  options: RedisBackplaneOptions = {},
  killable = false,
): Promise<Node> {
  const connections: RedisConnection[] = [];
  const client: RedisConnectionFactory = async (connectionOptions) => {
    const connection = await ioredisConnection(connectionOptions);
    connections.push(connection);
    return connection;
  };
  const backplane = await redisBackplane({ url: server.url, ...options, ...(killable ? { client } : {}) });
  const pubsub = createPubSub({ backplane, presence: { interval: INTERVAL } });
  const events: PresenceEvent[] = [];
  pubsub.addEventListener("presence", (event) => events.push(event as PresenceEvent));
  return {
    backplane,
    pubsub,
    events,
    kill: async () => void await Promise.all(connections.map((connection) => connection.close())),
  };
}

/** Runs a body with a connection to look at Redis with, and closes the nodes it made. */
async function withRedis(
  server: RedisServer,
  body: (redis: Redis, nodes: Node[]) => Promise<void>,
): Promise<void> {
  const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  const nodes: Node[] = [];
  try {
    await redis.connect();
    await body(redis, nodes);
  } finally {
    for (const { pubsub, backplane } of nodes) {
      pubsub.close();
      await backplane.close();
    }
    redis.disconnect();
  }
}

const sorted = <T extends { id: string }>(members: T[]) => members.sort((a, b) => a.id.localeCompare(b.id));

describe("presence over the Redis backplane", () => {
  redisTest(
    "members across two nodes: one user on both counted once, joins and leaves seen on both",
    async (server) => {
      await withRedis(server, async (redis, nodes) => {
        const a = await node(server), b = await node(server);
        nodes.push(a, b);
        const adaA1 = subscriber(), adaA2 = subscriber(), adaB = subscriber(), bob = subscriber();
        a.pubsub.subscribe(adaA1, "room", { presence: { id: "ada", data: { name: "Ada" } } });
        a.pubsub.subscribe(adaA2, "room", { presence: { id: "ada", data: { name: "Ada" } } });
        b.pubsub.subscribe(adaB, "room", { presence: { id: "ada", data: { name: "Ada" } } });
        b.pubsub.subscribe(bob, "room", { presence: { id: "bob" } });
        const expected = [{ id: "ada", data: { name: "Ada" }, connections: 3 }, {
          id: "bob",
          data: undefined,
          connections: 1,
        }];
        for (const n of [a, b]) {
          await until(
            "both nodes list ada (3 connections) and bob",
            async () => JSON.stringify(sorted(await n.pubsub.presence("room"))) === JSON.stringify(expected),
          );
          assert.equal(await n.pubsub.presenceCount("room"), 2);
          await until("both nodes see ada and bob join", () => idsOf(n.events, "room", "joins").length === 2);
          assert.deepEqual(idsOf(n.events, "room", "joins").sort(), ["ada", "bob"]);
        }
        // On Redis: a set of the two nodes and a hash per node, in the channel's slot, with an expiry.
        assert.deepEqual(
          (await redis.smembers("{ws:room}:presence")).sort(),
          [a.backplane.nodeId, b.backplane.nodeId].sort(),
        );
        assert.deepEqual(await redis.hgetall(`{ws:room}:presence:${b.backplane.nodeId}`), {
          ada: '[1,{"name":"Ada"}]',
          bob: "[1]",
        });
        const ttl = await redis.pttl(`{ws:room}:presence:${a.backplane.nodeId}`);
        assert.ok(ttl > 0 && ttl <= 30_000, `PTTL ${ttl}`);

        // Ada's connection on B leaves: she is still there on A (no leave anywhere); bob's leaves: he is gone.
        b.pubsub.unsubscribe(adaB, "room");
        b.pubsub.unsubscribeAll(bob);
        await until("A sees bob leave", () => idsOf(a.events, "room", "leaves").length > 0);
        assert.deepEqual(idsOf(a.events, "room", "leaves"), ["bob"]);
        assert.deepEqual(await a.pubsub.presence("room"), [{
          id: "ada",
          data: { name: "Ada" },
          connections: 2,
        }]);
        // B follows the topic no more (no local member), and no longer has entries on Redis.
        assert.deepEqual(await redis.smembers("{ws:room}:presence"), [a.backplane.nodeId]);
        assert.equal(await redis.exists(`{ws:room}:presence:${b.backplane.nodeId}`), 0);
        assert.deepEqual(await b.pubsub.presence("room"), [{
          id: "ada",
          data: { name: "Ada" },
          connections: 2,
        }]);
      });
    },
  );

  redisTest(
    "200 joins on one node within an interval are one presence message, and one event on the other",
    async (server) => {
      await withRedis(server, async (_redis, nodes) => {
        const a = await node(server), b = await node(server);
        nodes.push(a, b);
        // Data the backplane cannot carry is refused before anything is subscribed.
        assert.throws(() => a.pubsub.subscribe(subscriber(), "big", { presence: { id: "x", data: 1n } }), {
          name: "TypeError",
          message: /^Cannot subscribe with presence: the data is not JSON \(/,
        });
        assert.equal(a.pubsub.subscriberCount("big"), 0);
        a.pubsub.subscribe(subscriber(), "big", { presence: { id: "watcher" } });
        await until("A's own join", () => idsOf(a.events, "big", "joins").length === 1);
        await b.backplane.flush();
        const published = b.backplane.stats.published;
        for (let i = 0; i < 200; i++) {
          b.pubsub.subscribe(subscriber(), "big", { presence: { id: `user${i}` } });
        }
        await until("A sees 200 joins", () => idsOf(a.events, "big", "joins").length === 201);
        const joinsOnA = a.events.filter((event) => event.topic === "big" && event.joins.length > 0);
        assert.deepEqual(joinsOnA.map((event) => event.joins.length), [1, 200]);
        await b.backplane.flush();
        assert.equal(b.backplane.stats.published - published, 1);
        assert.equal(await a.pubsub.presenceCount("big"), 201);
      });
    },
  );

  redisTest(
    "a node cut from Redis without goodbye: its members leave the others once its entries expire; a closed node's at once",
    async (server) => {
      await withRedis(server, async (redis, nodes) => {
        const ttl = 1500;
        const a = await node(server, { presenceTtl: ttl });
        const killed = await node(server, { presenceTtl: ttl }, true);
        const closed = await node(server, { presenceTtl: 60_000 });
        nodes.push(a, killed, closed);
        a.pubsub.subscribe(subscriber(), "room", { presence: { id: "ada" } });
        killed.pubsub.subscribe(subscriber(), "room", { presence: { id: "carol" } });
        killed.pubsub.subscribe(subscriber(), "room", { presence: { id: "ada" } });
        closed.pubsub.subscribe(subscriber(), "room", { presence: { id: "dave" } });
        await until("A sees everyone", () => idsOf(a.events, "room", "joins").length === 3);
        assert.deepEqual(idsOf(a.events, "room", "joins").sort(), ["ada", "carol", "dave"]);

        // Closed: its members leave now, well before its 60 s ttl.
        await closed.backplane.close();
        closed.pubsub.close();
        await until("A sees dave leave", () => idsOf(a.events, "room", "leaves").includes("dave"));
        assert.equal(await redis.exists(`{ws:room}:presence:${closed.backplane.nodeId}`), 0);

        // Killed: nothing is deleted; its hash expires, and A, checking every ttl/3, sees carol leave.
        const killedAt = Date.now();
        await killed.kill();
        assert.equal(await redis.exists(`{ws:room}:presence:${killed.backplane.nodeId}`), 1);
        await until("A sees carol leave", () => idsOf(a.events, "room", "leaves").includes("carol"), 15_000);
        const after = Date.now() - killedAt;
        console.log(
          `presence: a killed node's member left the other node ${after} ms after the kill (ttl ${ttl} ms)`,
        );
        assert.deepEqual(idsOf(a.events, "room", "leaves").sort(), ["carol", "dave"]);
        // Ada had a connection on the killed node too: she stays, with A's one connection.
        assert.deepEqual(await a.pubsub.presence("room"), [{ id: "ada", data: undefined, connections: 1 }]);
        assert.deepEqual(await redis.smembers("{ws:room}:presence"), [a.backplane.nodeId]);
      });
    },
    { timeout: 40_000 },
  );

  redisTest(
    "a server process SIGKILLed: its member leaves the other node once its entries expire",
    async (server) => {
      await withRedis(server, async (redis, nodes) => {
        const ttl = 1500;
        const a = await node(server, { presenceTtl: ttl });
        nodes.push(a);
        a.pubsub.subscribe(subscriber(), "room", { presence: { id: "ada" } });
        // The child runs on this runtime: Deno and Bun run the TypeScript, Node the compiled JavaScript.
        const onNode = !("Deno" in globalThis) && !("Bun" in globalThis);
        const script = fileURLToPath(new URL(`./_presence_node.${onNode ? "js" : "ts"}`, import.meta.url));
        const args = "Deno" in globalThis ? ["run", "-A", script] : [script];
        const child = spawn(process.execPath, args, {
          env: { ...process.env, REDIS_URL: server.url, PRESENCE_ID: "carol", PRESENCE_TTL: String(ttl) },
          stdio: ["pipe", "pipe", "pipe"],
        });
        let output = "";
        child.stdout.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
        child.stderr.on("data", (chunk: Uint8Array) => output += new TextDecoder().decode(chunk));
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        try {
          await until("the child node is ready", () => output.includes("ready "), 20_000);
          const childId = /ready (\S+)/.exec(output)![1];
          await until("A sees carol join", () => idsOf(a.events, "room", "joins").includes("carol"));
          assert.equal(await redis.exists(`{ws:room}:presence:${childId}`), 1);
          const killedAt = Date.now();
          child.kill("SIGKILL");
          await exited;
          await until(
            "A sees carol leave",
            () => idsOf(a.events, "room", "leaves").includes("carol"),
            15_000,
          );
          console.log(
            `presence: a SIGKILLed server process's member left the other node ${
              Date.now() - killedAt
            } ms after the kill (ttl ${ttl} ms)`,
          );
          assert.equal(await redis.exists(`{ws:room}:presence:${childId}`), 0);
          assert.deepEqual(await a.pubsub.presence("room"), [{ id: "ada", data: undefined, connections: 1 }]);
        } finally {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGKILL");
            await exited;
          }
        }
      });
    },
    { timeout: 60_000 },
  );

  redisTest(
    "a node whose link to Redis came back writes its members again (they had expired meanwhile)",
    async (server) => {
      await withRedis(server, async (redis, nodes) => {
        const ttl = 600;
        const a = await node(server, { presenceTtl: ttl }), b = await node(server, { presenceTtl: ttl });
        nodes.push(a, b);
        a.pubsub.subscribe(subscriber(), "room", { presence: { id: "ada" } });
        b.pubsub.subscribe(subscriber(), "room", { presence: { id: "bob" } });
        await until("A sees bob", () => idsOf(a.events, "room", "joins").includes("bob"));
        // Redis restarts with nothing saved: every entry is gone, both links drop and come back.
        await server.restart();
        await until("both nodes reconnect", () => a.backplane.connected && b.backplane.connected);
        await until(
          "bob's entries are on Redis again",
          async () =>
            (await redis.hgetall(`{ws:room}:presence:${b.backplane.nodeId}`).catch(() => ({})) as Record<
              string,
              string
            >).bob === "[1]",
        );
        await until(
          "A lists bob",
          async () => (await a.pubsub.presence("room").catch(() => [])).some((m) => m.id === "bob"),
        );
        // Whatever A saw while Redis was away (bob leaving when his entries vanished), bob is there in the end.
        const count = (which: "joins" | "leaves") =>
          idsOf(a.events, "room", which).filter((id) => id === "bob").length;
        await until("A's events end with bob there", () => count("joins") === count("leaves") + 1);
      });
    },
    { timeout: 30_000 },
  );

  redisTest(
    "over real sockets: two serve() servers, ws.subscribe(room, { presence: true }), the member list sent on each event",
    async (server) => {
      await withRedis(server, async (_redis, nodes) => {
        const servers: WebSocketServer[] = [];
        const clients: WebSocket[] = [];
        try {
          for (let i = 0; i < 2; i++) {
            const n = await node(server);
            nodes.push(n);
            // The demo's pattern: on each batched event, the room's member list to the room (on this node).
            n.pubsub.addEventListener("presence", (event) => {
              const { topic } = event as PresenceEvent;
              void n.pubsub.presence(topic).then((members) =>
                n.pubsub.publish(topic, JSON.stringify(members.map((m) => m.id).sort()))
              );
            });
            servers.push(
              await serve({
                port: 0,
                hostname: "127.0.0.1",
                pubsub: n.pubsub,
                upgrade: (request) => ({ user: new URL(request.url).searchParams.get("user") ?? undefined }),
                websocket: {
                  open: (ws) => void ws.subscribe("room", { presence: true, presenceData: { server: i } }),
                },
              }),
            );
          }
          /** Connects a user to a server; returns the member lists the client receives. */
          const connect = async (user: string, to: number) => {
            const lists: string[] = [];
            const socket = new WebSocket(`${servers[to].url}?user=${user}`);
            clients.push(socket);
            socket.onmessage = (event) => lists.push(String(event.data));
            await new Promise((resolve, reject) => {
              socket.onopen = resolve;
              socket.onerror = () => reject(new Error("Cannot connect"));
            });
            return lists;
          };
          const ada = await connect("ada", 0);
          await connect("ada", 1);
          const bob = await connect("bob", 1);
          const both = JSON.stringify(["ada", "bob"]);
          await until("ada (on server 0) gets the list with bob", () => ada.includes(both));
          await until("bob (on server 1) gets the list with ada", () => bob.includes(both));
          const members = sorted(await nodes[0].pubsub.presence("room"));
          assert.deepEqual(members, [
            { id: "ada", data: { server: 0 }, connections: 2 },
            { id: "bob", data: { server: 1 }, connections: 1 },
          ]);
          // Bob's only socket closes: ada's client on server 0 gets the list without him.
          clients[2].close();
          await until("ada gets the list without bob", () => ada.at(-1) === JSON.stringify(["ada"]));
        } finally {
          for (const client of clients) client.close();
          for (const s of servers) await s.close();
        }
      });
    },
  );

  redisTest(
    "presenceTtl is checked; a client without commands() gives a backplane without presence",
    async (server) => {
      await assert.rejects(redisBackplane({ url: server.url, presenceTtl: 0 }), {
        name: "TypeError",
        message: "Cannot create the Redis backplane: presenceTtl 0 is not an integer of 3 ms or more",
      });
      await assert.rejects(redisBackplane({ url: server.url, presenceTtl: 1.5 }), TypeError);
      const plain: RedisConnectionFactory = async (options) => {
        const { commands: _, ...connection } = await ioredisConnection(options);
        return connection;
      };
      const backplane = await redisBackplane({ url: server.url, client: plain });
      try {
        assert.equal(backplane.presence, undefined);
        const pubsub = createPubSub({ backplane });
        pubsub.subscribe(subscriber(), "room", { presence: { id: "ada" } });
        // This node's members only.
        assert.deepEqual(await pubsub.presence("room"), [{ id: "ada", data: undefined, connections: 1 }]);
        pubsub.close();
      } finally {
        await backplane.close();
      }
    },
  );
});
