/**
 * History in memory (no backplane): positions, recovery from a position (in order, nothing twice, never a
 * partial replay), the epoch, trimming by size and expiry by ttl, and the errors of bad input.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { PreparedMessage } from "../../lib/pubsub/prepared_message.ts";
import { checkRecovery, MemoryHistory, resolveHistoryOptions } from "../../lib/pubsub/history.ts";
import { PreparedMessage as Prepared } from "../../lib/pubsub/prepared_message.ts";
import {
  createPubSub,
  type StreamPosition,
  type Subscriber,
  type TopicEvent,
} from "../../lib/pubsub/pubsub.ts";

const text = (message: PreparedMessage) => new TextDecoder().decode(message.payload);

/** A subscriber that records the text of what reaches it. */
function recorder(): Subscriber & { texts: string[] } {
  const texts: string[] = [];
  return { texts, deliver: (message) => (texts.push(text(message)), true) };
}

describe("history in memory: positions", () => {
  test("offsets count from 1 under one epoch; a function of the position makes the message; append resolves the position", async () => {
    const pubsub = createPubSub({ history: { size: 10 } });
    const a = recorder();
    pubsub.subscribe(a, "room");
    assert.equal(pubsub.publish("room", "one"), 1);
    const seen: StreamPosition[] = [];
    assert.equal(pubsub.publish("room", (at) => (seen.push(at), `two@${at.offset}`)), 1);
    const third = await pubsub.append("room", (at) => `three@${at.offset}`);
    assert.equal(seen.length, 1, "called once");
    assert.equal(seen[0].offset, 2);
    assert.deepEqual(third, { epoch: seen[0].epoch, offset: 3 });
    assert.match(third.epoch, /^[0-9a-f]{8}$/);
    assert.deepEqual(a.texts, ["one", "two@2", "three@3"]);
    assert.deepEqual(await pubsub.position("room"), third);
    const page = await pubsub.history("room");
    assert.deepEqual(page.entries.map((entry) => entry.offset), [1, 2, 3]);
    assert.equal(page.complete, true);
    const after = await pubsub.history("room", { since: { epoch: third.epoch, offset: 1 }, limit: 1 });
    assert.deepEqual(after.entries.map((entry) => new TextDecoder().decode(entry.payload)), ["two@2"]);
    assert.equal(after.complete, false, "the limit cut it");
    assert.deepEqual(pubsub.historyStats, {
      appended: 3,
      failedAppends: 0,
      recovered: 0,
      notRecovered: 0,
      replayed: 0,
      duplicates: 0,
      filled: 0,
    });
    pubsub.close();
  });

  test("per-topic history: a function of the topic, undefined for none", async () => {
    const pubsub = createPubSub({
      history: (topic) => (topic.startsWith("keep:") ? { size: 2 } : undefined),
    });
    pubsub.publish("keep:a", "x");
    assert.equal((await pubsub.position("keep:a")).offset, 1);
    assert.equal(pubsub.publish("plain", "y"), 0, "a topic without history publishes as before");
    assert.throws(() => pubsub.position("plain"), TypeError);
    assert.throws(() => pubsub.publish("plain", () => "z"), {
      name: "TypeError",
      message: /keeps no history/,
    });
    await assert.rejects(
      async () => await pubsub.subscribe(recorder(), "plain", { since: { epoch: "e", offset: 0 } }),
      TypeError,
    );
    pubsub.close();
  });

  test("bad options and positions: RangeError and TypeError", async () => {
    assert.throws(() => createPubSub({ history: { size: 0 } }), RangeError);
    assert.throws(() => createPubSub({ history: { ttl: 1.5 } }), RangeError);
    assert.throws(() => resolveHistoryOptions({ size: -1 }), {
      message: "Cannot keep history: history.size -1 is not a positive integer",
    });
    const pubsub = createPubSub({ history: {} });
    for (
      const since of [{ epoch: 1, offset: 0 }, { epoch: "e", offset: -1 }, { epoch: "e", offset: 1.5 }, null]
    ) {
      await assert.rejects(
        pubsub.subscribe(recorder(), "room", { since: since as unknown as StreamPosition }),
        TypeError,
      );
    }
    assert.equal(pubsub.subscriberCount("room"), 0, "a refused position subscribes nothing");
    pubsub.close();
  });
});

describe("history in memory: recovery", () => {
  test("a subscriber cut off gets every message it missed, in order, then the live ones", async () => {
    const pubsub = createPubSub({ history: { size: 100 } });
    const before = recorder();
    pubsub.subscribe(before, "room");
    for (let i = 1; i <= 5; i++) pubsub.publish("room", `m${i}`);
    const position = await pubsub.position("room");
    pubsub.unsubscribe(before, "room"); // cut off
    for (let i = 6; i <= 20; i++) pubsub.publish("room", `m${i}`);
    const after = recorder();
    const recovery = await pubsub.subscribe(after, "room", { since: position });
    assert.deepEqual(recovery, {
      recovered: true,
      position: { epoch: position.epoch, offset: 20 },
      replayed: 15,
    });
    pubsub.publish("room", "m21");
    assert.deepEqual([...before.texts, ...after.texts], Array.from({ length: 21 }, (_, i) => `m${i + 1}`));
    assert.equal(pubsub.historyStats?.recovered, 1);
    assert.equal(pubsub.historyStats?.replayed, 15);
    await assert.rejects(pubsub.subscribe(after, "room", { since: position }), {
      name: "TypeError",
      message: /already/,
    });
    pubsub.close();
  });

  test("from the latest position: recovered, nothing replayed", async () => {
    const pubsub = createPubSub({ history: {} });
    pubsub.publish("room", "a");
    const position = await pubsub.position("room");
    const a = recorder();
    assert.deepEqual(await pubsub.subscribe(a, "room", { since: position }), {
      recovered: true,
      position,
      replayed: 0,
    });
    assert.deepEqual(a.texts, []);
    pubsub.close();
  });

  test("another epoch: not recovered, nothing replayed, live messages from the current position", async () => {
    const pubsub = createPubSub({ history: {} });
    pubsub.publish("room", "a");
    const a = recorder();
    const recovery = await pubsub.subscribe(a, "room", { since: { epoch: "00000000", offset: 0 } });
    assert.equal(recovery.recovered, false);
    assert.equal(recovery.replayed, 0);
    assert.match(recovery.reason ?? "", /epoch changed/);
    assert.equal(recovery.position.offset, 1);
    pubsub.publish("room", "b");
    assert.deepEqual(a.texts, ["b"]);
    assert.equal(pubsub.historyStats?.notRecovered, 1);
    pubsub.close();
  });

  test("history trimmed past size: not recovered, and no partial replay", async () => {
    const pubsub = createPubSub({ history: { size: 5 } });
    const start = await pubsub.position("room");
    for (let i = 1; i <= 6; i++) pubsub.publish("room", `m${i}`);
    const a = recorder();
    const recovery = await pubsub.subscribe(a, "room", { since: start });
    assert.equal(recovery.recovered, false);
    assert.match(recovery.reason ?? "", /no longer reaches offset 1/);
    assert.deepEqual(a.texts, [], "none of the 5 kept is replayed");
    const b = recorder();
    const fromOne = await pubsub.subscribe(b, "room", { since: { epoch: start.epoch, offset: 1 } });
    assert.deepEqual([fromOne.recovered, fromOne.replayed], [true, 5], "exactly size behind is recovered");
    assert.deepEqual(b.texts, ["m2", "m3", "m4", "m5", "m6"]);
    pubsub.close();
  });

  test("a position past the latest offset is not recovered", async () => {
    const pubsub = createPubSub({ history: {} });
    const { epoch } = await pubsub.position("room");
    const recovery = await pubsub.subscribe(recorder(), "room", { since: { epoch, offset: 7 } });
    assert.equal(recovery.recovered, false);
    assert.match(recovery.reason ?? "", /past the topic's latest/);
    pubsub.close();
  });

  test("the sender is left out of its own publish; the others get it with its position", () => {
    const pubsub = createPubSub({ history: {} });
    const a = recorder(), b = recorder();
    pubsub.subscribe(a, "room");
    pubsub.subscribe(b, "room");
    assert.equal(pubsub.publish("room", (at) => `${at.offset}`, { except: a }), 1);
    assert.deepEqual([a.texts, b.texts], [[], ["1"]]);
    pubsub.close();
  });

  test("no gap event when offsets follow each other", () => {
    const pubsub = createPubSub({ history: {} });
    const gaps: string[] = [];
    pubsub.addEventListener("gap", (event) => gaps.push((event as TopicEvent).reason));
    pubsub.subscribe(recorder(), "room");
    for (let i = 0; i < 50; i++) pubsub.publish("room", "x");
    assert.deepEqual(gaps, []);
    pubsub.close();
  });
});

describe("MemoryHistory", () => {
  test("ttl after the last publish drops the history and its epoch; the sweep keeps memory bounded", () => {
    let now = 1000;
    const history = new MemoryHistory(() => now);
    const options = { size: 10, ttl: 100 };
    const first = history.append("a", () => new Prepared("1"), options).position;
    history.append("b", () => new Prepared("1"), options);
    now += 50;
    assert.equal(history.read("a", 0, 10, options).entries.length, 1, "alive within ttl");
    now += 101;
    const after = history.read("a", first.offset, 10, options);
    assert.notEqual(after.epoch, first.epoch, "a new epoch after the ttl");
    assert.equal(after.top, 0);
    assert.equal(checkRecovery(after, first).recovered, false);
    history.append("c", () => new Prepared("1"), options);
    assert.equal(history.size, 2, "b was swept by the publish to c");
  });

  test("a long run keeps size entries (compacted), read from any offset by arithmetic", () => {
    const history = new MemoryHistory();
    const options = { size: 3, ttl: 60_000 };
    for (let i = 1; i <= 1000; i++) history.append("t", () => new Prepared(String(i)), options);
    const read = history.read("t", 996, 10, options);
    assert.deepEqual(read.entries.map((entry) => entry.offset), [998, 999, 1000]);
    assert.equal(checkRecovery(read, { epoch: read.epoch, offset: 996 }).recovered, false, "997 is gone");
    assert.deepEqual(history.read("t", 997, 10, options).entries.map((entry) => entry.offset), [
      998,
      999,
      1000,
    ]);
    assert.deepEqual(history.read("t", 1000, 10, options).entries, []);
  });
});
