/**
 * `bunServe({ nativeTopics: true })`: what differs from this library's topics, on Bun's real server. The
 * shared behaviour (subscribe, publish, subscriberCount, order, types) runs in tests/pubsub_paths_test.ts.
 * Here: what is refused (a shared pubsub, presence, since, except, history data), topic checks, the
 * counts of Bun's results with a subscriber that does not read (dropped, and the publishQueue mapped onto
 * Bun's backpressureLimit and closeOnBackpressureLimit), and what a closed socket does.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ServerSocket, WebSocketHandler } from "../../lib/adapters/_socket_handler.ts";
import { bunServe, type BunServeOptions } from "../../lib/adapters/bun_serve.ts";
import type { PublishQueueOptions } from "../../lib/connection.ts";
import { createPubSub } from "../../lib/pubsub/pubsub.ts";
import { pause, RawClient, WAIT_MS } from "../_raw_client.ts";

const onBun = "Bun" in globalThis;
const Bun = (globalThis as unknown as {
  Bun: { serve(o: unknown): { port: number; stop(force?: boolean): Promise<void> | void } };
}).Bun;

async function until(what: string, condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); await pause(5)) {
    if (Date.now() - started > WAIT_MS) throw new Error(`Timed out: ${what}`);
  }
}

async function withServer(
  websocket: WebSocketHandler,
  extra: Partial<BunServeOptions>,
  body: (handlers: ReturnType<typeof bunServe>, connect: () => Promise<RawClient>) => Promise<void>,
): Promise<void> {
  const handlers = bunServe({ websocket, nativeTopics: true, ...extra });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", ...handlers });
  const clients: RawClient[] = [];
  try {
    await body(handlers, async () => {
      const client = await RawClient.connect(server.port);
      clients.push(client);
      assert.equal(client.status, 101);
      return client;
    });
  } finally {
    for (const client of clients) client.destroy();
    await server.stop(true);
  }
}

describe("bunServe({ nativeTopics: true })", { skip: onBun ? false : "Bun.serve exists only on Bun" }, () => {
  test("a shared pubsub is refused (TypeError): Bun's topics are this server's", () => {
    assert.throws(() => bunServe({ websocket: {}, nativeTopics: true, pubsub: createPubSub() }), TypeError);
  });

  test("presence, since, except and history data are TypeErrors; topics are checked as the registry checks them", async () => {
    const errors: string[] = [];
    let socket: ServerSocket | undefined;
    await withServer({ open: (ws) => void (socket = ws) }, {}, async (handlers, connect) => {
      await connect();
      await until("open", () => socket !== undefined);
      const ws = socket!;
      const attempt = (f: () => unknown) => {
        try {
          f();
          errors.push("none");
        } catch (error) {
          errors.push((error as Error).constructor.name);
        }
      };
      attempt(() => ws.subscribe("room", { since: { epoch: "e", offset: 0 } }));
      attempt(() => ws.subscribe("room", { presence: true }));
      attempt(() => ws.publish("room", "x", { except: ws as never }));
      attempt(() => handlers.publish("room", "x", { except: ws as never }));
      attempt(() => handlers.publish("room", () => "x"));
      attempt(() => ws.subscribe(""));
      attempt(() => ws.subscribe("x".repeat(257)));
      attempt(() => ws.subscribe("\ud800"));
      attempt(() => handlers.publish("room", new Uint8Array([0xff]), { binary: false }));
      assert.deepEqual(errors, [
        "TypeError",
        "TypeError",
        "TypeError",
        "TypeError",
        "TypeError",
        "TypeError",
        "RangeError",
        "TypeError",
        "TypeError",
      ]);
      assert.deepEqual(ws.subscriptions, [], "nothing was subscribed by the refused calls");
      assert.equal(ws.subscribe("room"), true);
      assert.equal(ws.subscribe("room"), false, "twice is once");
      assert.equal(ws.isSubscribed("room"), true);
      assert.deepEqual(ws.subscriptions, ["room"]);
      assert.equal(handlers.subscriberCount("room"), 1);
      assert.equal(ws.publish("room", "to nobody else"), 0);
      assert.equal(handlers.publish("room", "to it"), 1);
      assert.equal(ws.unsubscribe("room"), true);
      assert.equal(ws.unsubscribe("room"), false);
      assert.equal(handlers.subscriberCount("room"), 0);
      assert.deepEqual(handlers.nativeTopicStats, { publishes: 2, dropped: 0, backpressured: 0 });
    });
  });

  test("a closed socket subscribes nothing and leaves its topics", async () => {
    let socket: ServerSocket | undefined, closed = false;
    await withServer(
      {
        open: (ws) => void (socket = ws, ws.subscribe("room")),
        close: () => void (closed = true),
      },
      {},
      async (handlers, connect) => {
        const client = await connect();
        await until("subscribed", () => handlers.subscriberCount("room") === 1);
        client.destroy();
        await until("closed", () => closed);
        assert.equal(handlers.subscriberCount("room"), 0);
        assert.equal(socket!.subscribe("other"), false);
        assert.equal(socket!.isSubscribed("room"), false);
        assert.deepEqual(socket!.subscriptions, []);
        assert.equal(handlers.subscriberCount("other"), 0);
      },
    );
  });

  test("disconnectUser still closes a user's sockets (through the handlers' registry), and they leave Bun's topics", async () => {
    const closes: number[] = [];
    await withServer(
      {
        open: (ws) => ws.subscribe("room"),
        close: (_ws, code) => void closes.push(code),
      },
      { upgrade: () => ({ user: "ada" }) },
      async (handlers, connect) => {
        await connect();
        await connect();
        await until("two subscribers", () => handlers.subscriberCount("room") === 2);
        assert.equal(handlers.disconnectUser("ada", 4000, "bye"), 2);
        await until("both closed", () => closes.length === 2);
        assert.deepEqual(closes, [4000, 4000]);
        assert.equal(handlers.subscriberCount("room"), 0);
      },
    );
  });

  for (const policy of ["drop-newest", "close"] as PublishQueueOptions["policy"][]) {
    test(
      `a subscriber that does not read, publishQueue policy "${policy}": the reader gets every message, Bun's drops are counted`,
      {
        timeout: 60_000,
      },
      async () => {
        const closes: number[] = [];
        await withServer(
          {
            open: (ws) => ws.subscribe("room"),
            close: (_ws, code) => void closes.push(code),
          },
          { publishQueue: { limit: 64 * 1024, policy } },
          async (handlers, connect) => {
            const slow = await connect();
            const fast = await connect();
            await until("two subscribers", () => handlers.subscriberCount("room") === 2);
            slow.pauseReading();
            const message = (i: number) => `${String(i).padStart(8, "0")} ${"x".repeat(16 * 1024)}`;
            const stats = handlers.nativeTopicStats!;
            let published = 0;
            // Until Bun reports a drop or closes the slow one (the kernel's buffers take a few MiB first).
            for (; published < 4000 && stats.dropped === 0 && closes.length === 0; published++) {
              handlers.publish("room", message(published));
              const frame = await fast.nextFrame();
              assert.equal(
                new TextDecoder().decode(frame.payload).slice(0, 8),
                String(published).padStart(8, "0"),
              );
              if (published % 50 === 0) await pause(1);
            }
            if (policy === "close") {
              await until("the slow subscriber closed", () => closes.length === 1);
              assert.equal(closes[0], 1006, "Bun ends the connection without a close frame");
              assert.equal(handlers.subscriberCount("room"), 1);
            } else {
              assert.ok(stats.dropped > 0, `Bun reported a drop within ${published} publishes`);
              assert.deepEqual(closes, []);
              assert.equal(handlers.subscriberCount("room"), 2);
            }
            assert.equal(stats.publishes, published);
          },
        );
      },
    );
  }
});
