/**
 * Topics on every server path (tests/_server_paths.ts): subscribe, unsubscribe, publish from a socket and
 * from the server, subscriberCount, order against direct sends, message types, compressed and uncompressed
 * subscribers in one topic (the shared compressed frame seen on the wire), and a subscriber that does not
 * read, under each slow-consumer policy, with its counters. Raw clients, so that every byte is checked.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { constants, inflateRawSync } from "node:zlib";
import type { ServerSocket } from "../lib/adapters/_socket_handler.ts";
import type { SlowConsumerPolicy } from "../lib/connection.ts";
import type { Frame } from "../lib/core/frame.ts";
import { NATIVE_TOPICS_PATH, type PathOptions, SERVER_PATHS, type StartedPath } from "./_server_paths.ts";
import { pause, RawClient, type RawConnectOptions, WAIT_MS, withTimeout } from "./_raw_client.ts";

const TEXT = 0x1, BINARY = 0x2, CLOSE = 0x8, RSV1 = 0x40;
const decode = (frame: Frame) => new TextDecoder().decode(frame.payload);

/**
 * The server of these tests: every socket subscribes to "room" on open; a text message `cmd arg...` is a
 * command (`sub t`, `unsub t`, `pub t data`, `topics`, `burst n`), anything else is published to "room".
 */
function handlers(extra: Partial<PathOptions> = {}, drops?: Map<ServerSocket, number>): PathOptions {
  let started: StartedPath | undefined;
  const options: PathOptions & { bind(path: StartedPath): void } = {
    protocols: [],
    upgrade: () => undefined,
    ...extra,
    bind: (path) => started = path,
    websocket: {
      open: (ws) => ws.subscribe("room"),
      message: (ws, data) => {
        const [cmd, topic, ...rest] = typeof data === "string" ? data.split(" ") : [];
        if (cmd === "sub") ws.send(String(ws.subscribe(topic)));
        else if (cmd === "unsub") ws.send(String(ws.unsubscribe(topic)));
        else if (cmd === "pub") ws.publish(topic, rest.join(" "));
        else if (cmd === "topics") ws.send(JSON.stringify(ws.subscriptions));
        else if (cmd === "burst") {
          // Direct sends and publishes to a topic only this socket has, interleaved: the order is the calls'.
          ws.subscribe("solo");
          for (let i = 0; i < Number(topic); i++) {
            if (i % 3 === 0) void ws.send(`d${i}`);
            else started!.publish("solo", `p${i}`);
          }
        } else ws.publish("room", data);
      },
      drop: (ws, _topic, count) => drops?.set(ws, (drops.get(ws) ?? 0) + count),
    },
  };
  return options;
}

async function withPath(
  start: (options: PathOptions) => Promise<StartedPath>,
  options: PathOptions,
  body: (path: StartedPath, connect: (o?: RawConnectOptions) => Promise<RawClient>) => Promise<void>,
): Promise<void> {
  const path = await start(options);
  (options as { bind?: (path: StartedPath) => void }).bind?.(path);
  const clients: RawClient[] = [];
  const port = Number(new URL(path.url).port);
  try {
    await body(path, async (o) => {
      const client = await RawClient.connect(port, o);
      clients.push(client);
      assert.equal(client.status, 101);
      return client;
    });
  } finally {
    for (const client of clients) client.destroy();
    await path.stop();
  }
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); await pause(5)) {
    if (Date.now() - started > WAIT_MS) throw new Error(`Timed out: ${what}`);
  }
}

/** No frame arrives within `ms`. */
async function nothingWithin(client: RawClient, ms: number): Promise<void> {
  await assert.rejects(client.nextFrame(ms), /Timed out/);
}

for (const path of [...SERVER_PATHS, NATIVE_TOPICS_PATH]) {
  describe(`topics on ${path.name}`, { skip: path.skip }, () => {
    test("subscribe, publish from a socket (not to itself), server.publish to all, subscriberCount after joins, leaves and closes", async () => {
      await withPath(path.start, handlers(), async (server, connect) => {
        const [a, b, c] = [await connect(), await connect(), await connect()];
        await until("three subscribers", () => server.subscriberCount("room") === 3);
        await a.send(TEXT, "hello room");
        assert.equal(decode(await b.nextFrame()), "hello room");
        assert.equal(decode(await c.nextFrame()), "hello room");
        assert.equal(server.publish("room", "from the server"), 3);
        for (const client of [a, b, c]) assert.equal(decode(await client.nextFrame()), "from the server", "a got none of its own");
        await b.send(TEXT, "unsub room");
        assert.equal(decode(await b.nextFrame()), "true");
        assert.equal(server.subscriberCount("room"), 2);
        await b.send(TEXT, "sub news");
        assert.equal(decode(await b.nextFrame()), "true");
        await b.send(TEXT, "sub news");
        assert.equal(decode(await b.nextFrame()), "false");
        await b.send(TEXT, "topics");
        assert.deepEqual(JSON.parse(decode(await b.nextFrame())), ["news"]);
        assert.equal(server.publish("nobody listens", "x"), 0);
        c.destroy();
        await until("a closed socket leaves its topics", () => server.subscriberCount("room") === 1);
        await a.send(TEXT, "pub news for the news");
        assert.equal(decode(await b.nextFrame()), "for the news");
        await nothingWithin(a, 100);
      });
    });

    test("direct sends and publishes to one socket arrive in the order of the calls", async () => {
      await withPath(path.start, handlers(), async (_server, connect) => {
        const a = await connect();
        await a.send(TEXT, "burst 300");
        const seen: string[] = [];
        for (let i = 0; i < 300; i++) seen.push(decode(await a.nextFrame()));
        assert.deepEqual(seen, Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `d${i}` : `p${i}`)));
      });
    });

    test("text and binary, from strings and bytes, reach subscribers as the type asked for", async () => {
      await withPath(path.start, handlers(), async (server, connect) => {
        const a = await connect();
        await until("one subscriber", () => server.subscriberCount("room") === 1);
        server.publish("room", "text from a string");
        server.publish("room", new TextEncoder().encode("text from bytes"), { binary: false });
        server.publish("room", new Uint8Array([0, 1, 255]));
        server.publish("room", "binary from a string", { binary: true });
        const frames = [await a.nextFrame(), await a.nextFrame(), await a.nextFrame(), await a.nextFrame()];
        assert.deepEqual(frames.map((f) => f.opcode), [TEXT, TEXT, BINARY, BINARY]);
        assert.equal(decode(frames[0]), "text from a string");
        assert.equal(decode(frames[1]), "text from bytes");
        assert.deepEqual([...frames[2].payload], [0, 1, 255]);
        assert.equal(decode(frames[3]), "binary from a string");
        assert.throws(() => server.publish("room", new Uint8Array([0xc3]), { binary: false }), TypeError);
        assert.throws(() => server.publish("", "x"), { name: "TypeError", message: "Cannot publish: the topic is empty" });
      });
    });

    test("compressed and uncompressed subscribers in one topic: each gets the message; one shared compressed payload", {
      skip: path.compresses ? false : "the runtime's own WebSocket: no compression from this library",
    }, async () => {
      await withPath(path.start, handlers({ deflate: {} }), async (server, connect) => {
        const offer = (value: string): RawConnectOptions => ({ headers: { "sec-websocket-extensions": value }, allowedRsv: RSV1 });
        const plain = await connect();
        const shared1 = await connect(offer("permessage-deflate; server_no_context_takeover"));
        const shared2 = await connect(offer("permessage-deflate; server_no_context_takeover"));
        const takeover = await connect(offer("permessage-deflate"));
        assert.match(shared1.headers.get("sec-websocket-extensions") ?? "", /server_no_context_takeover/);
        await until("four subscribers", () => server.subscriberCount("room") === 4);
        const json = JSON.stringify({ rows: Array.from({ length: 40 }, (_, i) => ({ id: i, label: `row ${i}`, ok: i % 2 === 0 })) });
        server.publish("room", json);
        const [p, s1, s2, t] = [await plain.nextFrame(), await shared1.nextFrame(), await shared2.nextFrame(), await takeover.nextFrame()];
        assert.equal(p.rsv1, false);
        assert.equal(decode(p), json);
        assert.equal(s1.rsv1, true);
        assert.deepEqual(s1.payload, s2.payload, "the no-context-takeover subscribers got the same compressed bytes");
        assert.equal(t.rsv1, true);
        const inflate = (payload: Uint8Array) =>
          inflateRawSync(Buffer.concat([payload, new Uint8Array([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
        assert.equal(inflate(s1.payload), json);
        assert.equal(inflate(t.payload), json);
      });
    });

    for (const policy of ["drop-newest", "drop-oldest", "close"] as SlowConsumerPolicy[]) {
      test(`a subscriber that does not read, policy "${policy}": the others are served, every drop is counted`, {
        timeout: 60_000,
        skip: path === NATIVE_TOPICS_PATH ? "Bun's own topics tell nothing of a drop per socket" : false,
      }, async () => {
        const drops = new Map<ServerSocket, number>();
        const limit = 64 * 1024;
        await withPath(path.start, handlers({ publishQueue: { limit, policy } }, drops), async (server, connect) => {
          const slow = await connect();
          const fast = await connect();
          await until("two subscribers", () => server.subscriberCount("room") === 2);
          slow.pauseReading();
          // 16 KiB messages until drops begin (the kernel's buffers take a few MiB first), then 50 more.
          const message = (i: number) => `${String(i).padStart(8, "0")} ${"x".repeat(16 * 1024)}`;
          let published = 0, fastReceived = 0, firstDropAt = -1;
          const droppedNow = () => [...drops.values()].reduce((sum, n) => sum + n, 0);
          for (let extra = 0; published < 4000 && extra < 50; published++) {
            server.publish("room", message(published));
            const frame = await fast.nextFrame();
            assert.equal(decode(frame).slice(0, 8), String(published).padStart(8, "0"), "the reader gets every message, in order");
            fastReceived++;
            if (droppedNow() > 0) {
              if (firstDropAt === -1) firstDropAt = published;
              extra++;
            }
            if (published % 50 === 0) await pause(1);
          }
          assert.ok(droppedNow() > 0, `drops after ${published} messages`);
          assert.equal(fastReceived, published);
          // The slow one reads again: what it gets plus what was dropped is what was published.
          slow.resumeReading();
          const got: number[] = [];
          let closed: Frame | undefined;
          for (;;) {
            const frame = await slow.nextFrame(2000).catch(() => undefined);
            if (frame === undefined) break;
            if (frame.opcode === CLOSE) {
              closed = frame;
              break;
            }
            got.push(Number(decode(frame).slice(0, 8)));
          }
          assert.deepEqual(got, [...got].sort((x, y) => x - y), "in order, with gaps");
          const dropped = droppedNow();
          if (policy === "close") {
            assert.ok(closed !== undefined, "a close frame came");
            assert.equal((closed.payload[0] << 8) | closed.payload[1], 1013);
            assert.match(new TextDecoder().decode(closed.payload.subarray(2)), /^slow consumer/);
            // Nothing was dropped before the close; then what was queued and the message that overflowed it
            // were. Messages published after the close are neither delivered nor dropped: refused.
            assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i), "no gap before the close");
            assert.equal(got.length + dropped, firstDropAt + 1, `received ${got.length} + dropped ${dropped}`);
          } else {
            assert.equal(closed, undefined, "the connection stays open");
            assert.equal(got.length + dropped, published, `received ${got.length} + dropped ${dropped}`);
            if (policy === "drop-newest") assert.equal(got.at(-1)! < published - 1, true, "the newest were dropped");
          }
        });
      });
    }
  });
}

describe("topics: one registry shared by two servers", () => {
  test("a publish on one server reaches the subscribers of the other", async () => {
    const { createPubSub } = await import("../lib/pubsub/pubsub.ts");
    const pubsub = createPubSub();
    const [first, second] = SERVER_PATHS.filter((p) => !p.skip);
    await withPath(first.start, handlers({ pubsub }), async (one, connectOne) => {
      await withPath(second.start, handlers({ pubsub }), async (_two, connectTwo) => {
        const a = await connectOne();
        const b = await connectTwo();
        await until("two subscribers", () => one.subscriberCount("room") === 2);
        await a.send(TEXT, "across servers");
        assert.equal(decode(await withTimeout(b.nextFrame(), WAIT_MS, "b's message")), "across servers");
      });
    });
  });
});
