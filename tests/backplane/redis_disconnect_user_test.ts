/**
 * `disconnectUser` across nodes: two serve() servers, each with its own registry on one real redis-server
 * (two nodes), a user connected to both. The call on one node closes the user's sockets on both, with the
 * code and reason given, and no one else's; in one process, every server sharing the registry is reached.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { redisBackplane, type RedisBackplane } from "../../lib/backplane/redis_backplane.ts";
import { createPubSub, type PubSub, USER_CONTROL_TOPIC } from "../../lib/pubsub/pubsub.ts";
import { serve, type WebSocketServer } from "../../lib/adapters/serve.ts";
import { connectNode } from "../../lib/adapters/node_client.ts";
import type { ClientConnection } from "../../lib/client/connect_transport.ts";
import { redisTest } from "../_redis.ts";

const WAIT_MS = 10_000;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), WAIT_MS)),
  ]).finally(() => clearTimeout(timer));
}

/** A server whose upgrade hook takes the user from `?user=`. */
function start(pubsub: PubSub): Promise<WebSocketServer> {
  return serve({
    port: 0,
    pubsub,
    upgrade: (request) => ({ user: new URL(request.url).searchParams.get("user") ?? undefined }),
    websocket: {},
  });
}

async function connect(server: WebSocketServer, user: string): Promise<ClientConnection> {
  return await connectNode(`${server.url}?user=${user}`);
}

describe("disconnectUser across servers and nodes", () => {
  test("one registry, two servers: either server's disconnectUser closes the user's sockets on both", async () => {
    const pubsub = createPubSub();
    const one = await start(pubsub), two = await start(pubsub);
    try {
      const ada1 = await connect(one, "ada"), ada2 = await connect(two, "ada"), bob = await connect(two, "bob");
      assert.equal(one.disconnectUser("ada", 4403, "banned"), 2);
      for (const { connection } of [ada1, ada2]) {
        const closed = await withTimeout(connection.closed, "ada's close");
        assert.deepEqual([closed.code, closed.reason], [4403, "banned"]);
      }
      assert.equal(bob.connection.readyState, 1, "bob stays");
      assert.equal(two.disconnectUser("nobody"), 0);
      await bob.connection.close(1000);
      // What the protocol does not allow is refused before anything is closed.
      assert.throws(() => one.disconnectUser("bob", 1006), RangeError);
      assert.throws(() => one.disconnectUser("bob", 4000, "x".repeat(124)), RangeError);
      assert.throws(() => pubsub.disconnectUser(42 as unknown as string), TypeError);
      assert.throws(() => pubsub.subscribe({ deliver: () => true }, USER_CONTROL_TOPIC), {
        name: "TypeError",
        message: /reserved/,
      });
    } finally {
      await one.close();
      await two.close();
    }
  });

  redisTest("two nodes on Redis: node A's disconnectUser closes ada's sockets on A and on B, bob's stay", async (redis) => {
    const backplanes: RedisBackplane[] = [];
    const servers: WebSocketServer[] = [];
    try {
      const nodes = [];
      for (let i = 0; i < 2; i++) {
        const backplane = await redisBackplane({ url: redis.url });
        backplanes.push(backplane);
        const pubsub = createPubSub({ backplane });
        const server = await start(pubsub);
        servers.push(server);
        nodes.push({ backplane, pubsub, server });
      }
      const [a, b] = nodes;
      // Both nodes follow the control topic once their subscriptions are made.
      await a.backplane.flush();
      await b.backplane.flush();
      const adaOnA = await connect(a.server, "ada"), adaOnB = await connect(b.server, "ada");
      const bobOnB = await connect(b.server, "bob");
      assert.equal(a.server.disconnectUser("ada", 4001, "logged out elsewhere"), 1, "one socket in A's process");
      for (const [where, { connection }] of [["A", adaOnA], ["B", adaOnB]] as const) {
        const closed = await withTimeout(connection.closed, `ada's socket on ${where} to close`);
        assert.deepEqual([closed.code, closed.reason], [4001, "logged out elsewhere"], `on ${where}`);
      }
      assert.equal(bobOnB.connection.readyState, 1, "bob stays");
      await bobOnB.connection.close(1000);
    } finally {
      for (const server of servers) await server.close();
      for (const backplane of backplanes) await backplane.close();
    }
  });
});
