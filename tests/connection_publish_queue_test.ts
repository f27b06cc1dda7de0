/**
 * The publish queue of one connection under "drop-oldest": published messages go from the head, direct
 * sends queued among them stay, and what is written keeps the order of the calls.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Connection, QUEUED_MESSAGE_COST } from "../lib/connection.ts";
import { unmaskedTexts } from "./_unmasked_texts.ts";

/** A transport whose writes wait until `open()`; every chunk written is kept; `end()` ends what it reads. */
function gatedTransport() {
  const chunks: Uint8Array[] = [];
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  let end!: () => void;
  const readable = new ReadableStream<Uint8Array>({ start: (controller) => void (end = () => controller.close()) });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      chunks.push(chunk.slice());
      await gate;
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: 1024 }));
  return { transport: { readable, writable }, chunks, open, end };
}

/** What a queued message of `bytes` counts against the bound. */
const cost = (bytes: number) => bytes + QUEUED_MESSAGE_COST;

describe("publish queue, drop-oldest", () => {
  test("the oldest published messages go, direct sends among them stay, the rest keep their order", async () => {
    const { transport, chunks, open, end } = gatedTransport();
    const connection = new Connection(transport, {
      role: "server",
      heartbeat: false,
      publishQueue: { limit: 3 * cost(100), policy: "drop-oldest" },
    });
    const drops: [string, number][] = [];
    connection.ondrop = (topic, count) => drops.push([topic, count]);
    const message = (name: string, size = 100) => name + ".".repeat(size - name.length);
    // Written at once: past the writer's high-water mark, so what follows is queued.
    assert.equal(connection.publish({ topic: "a", data: message("first", 2000), size: 2000 }), true);
    assert.equal(connection.publish({ topic: "a", data: message("p1"), size: 100 }), true);
    const direct = connection.send(message("d1"));
    assert.equal(connection.publish({ topic: "b", data: message("p2"), size: 100 }), true);
    assert.equal(connection.queuedAmount, 3 * cost(100));
    // Over the bound: p1 goes (the head), then p2 (d1 is a direct send and stays).
    assert.equal(connection.publish({ topic: "b", data: message("p3"), size: 100 }), true);
    assert.equal(connection.publish({ topic: "a", data: message("p4"), size: 100 }), true);
    assert.deepEqual(drops, [["a", 1], ["b", 1]]);
    assert.equal(connection.dropped, 2);
    assert.equal(connection.queuedAmount, 3 * cost(100));
    // One larger than the whole bound goes itself, and nothing else.
    const huge = 3 * cost(100) - QUEUED_MESSAGE_COST + 1;
    assert.equal(connection.publish({ topic: "c", data: message("huge", huge), size: huge }), false);
    assert.deepEqual(drops, [["a", 1], ["b", 1], ["c", 1]]);
    assert.equal(connection.queuedAmount, 3 * cost(100));
    open();
    await direct;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const written = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (written.set(c, at), at + c.length), 0);
    assert.deepEqual(unmaskedTexts([written]).map((t) => t.replace(/\.+$/, "")), ["first", "d1", "p3", "p4"]);
    assert.equal(connection.queuedAmount, 0);
    connection.fail(1001);
    end(); // the peer's side ends too
    await connection.closed.catch(() => {});
  });

  test("thousands of messages past the bound: each publish drops one, the survivors are the newest, in order", async () => {
    const { transport, chunks, open, end } = gatedTransport();
    const connection = new Connection(transport, {
      role: "server",
      heartbeat: false,
      publishQueue: { limit: 64 * 1024, policy: "drop-oldest" },
    });
    connection.publish({ topic: "t", data: "x".repeat(2000), size: 2000 });
    const total = 20_000;
    for (let i = 0; i < total; i++) connection.publish({ topic: "t", data: String(i).padStart(8, "0"), size: 8 });
    const kept = Math.floor((64 * 1024) / cost(8));
    assert.equal(connection.dropped, total - kept);
    open();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const written = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (written.set(c, at), at + c.length), 0);
    const got = unmaskedTexts([written]).slice(1).map(Number);
    assert.deepEqual(got, Array.from({ length: kept }, (_, i) => total - kept + i));
    connection.fail(1001);
    end(); // the peer's side ends too
    await connection.closed.catch(() => {});
  });
});
