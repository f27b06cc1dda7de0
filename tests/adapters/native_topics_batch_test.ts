/**
 * Published messages to a runtime-owned socket (`NativeTopics`, lib/adapters/_native_topics.ts) with a
 * `batch` (Bun's `setImmediate` and `ws.cork` in bunServe): they wait for the end of the event loop's
 * iteration and leave in one corked burst, before any direct send or close of the socket; what was waiting
 * when the socket closed is counted as dropped, per topic.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NativeTopics, type NativeSocket } from "../../lib/adapters/_native_topics.ts";
import { createPubSub } from "../../lib/pubsub/pubsub.ts";

/** A runtime socket that records what it does; `later` callbacks run when the test says. */
function fakeSocket() {
  const log: string[] = [];
  const later: (() => void)[] = [];
  let corked = false;
  const socket: NativeSocket = {
    send: (data) => {
      log.push(`${corked ? "corked " : ""}send ${typeof data === "string" ? data : new TextDecoder().decode(data)}`);
      return true;
    },
    bufferedAmount: () => 0,
    close: (code, reason) => void log.push(`close ${code} ${reason}`),
    batch: {
      later: (flush) => void later.push(flush),
      cork: (sends) => {
        corked = true;
        try {
          sends();
        } finally {
          corked = false;
        }
      },
    },
  };
  const runLater = () => {
    for (const flush of later.splice(0)) flush();
  };
  return { socket, log, later, runLater };
}

describe("NativeTopics with a batch", () => {
  test("publishes of one iteration leave together, corked, at its end", () => {
    const pubsub = createPubSub();
    const { socket, log, later, runLater } = fakeSocket();
    const topics = new NativeTopics(pubsub, socket, {}, () => {});
    topics.subscribe("room");
    assert.equal(pubsub.publish("room", "a"), 1);
    assert.equal(pubsub.publish("room", "b"), 1);
    assert.deepEqual(log, []); // nothing yet
    assert.equal(later.length, 1); // one flush scheduled for both
    runLater();
    assert.deepEqual(log, ["corked send a", "corked send b"]);
  });

  test("a flush (before a direct send or a close) sends what waits, in order; the scheduled one finds nothing", () => {
    const pubsub = createPubSub();
    const { socket, log, runLater } = fakeSocket();
    const topics = new NativeTopics(pubsub, socket, {}, () => {});
    topics.subscribe("room");
    pubsub.publish("room", "c");
    topics.flush();
    log.push("direct");
    runLater();
    assert.deepEqual(log, ["corked send c", "direct"]);
  });

  test("what waited when the socket closed is counted dropped, per topic, and not sent", () => {
    const pubsub = createPubSub();
    const { socket, log, runLater } = fakeSocket();
    const drops: [string, number][] = [];
    const topics = new NativeTopics(pubsub, socket, {}, (topic, count) => drops.push([topic, count]));
    topics.subscribe("a");
    topics.subscribe("b");
    pubsub.publish("a", "1");
    pubsub.publish("b", "2");
    topics.closed();
    runLater();
    assert.deepEqual(log, []);
    assert.deepEqual(drops, [["a", 1], ["b", 1]]);
    assert.equal(topics.dropped, 2);
  });

  test("the bound counts what waits; past it under \"close\", what was accepted goes ahead of the 1013", () => {
    const pubsub = createPubSub();
    const { socket, log, runLater } = fakeSocket();
    const drops: [string, number][] = [];
    const topics = new NativeTopics(pubsub, socket, { limit: 5, policy: "close" }, (topic, count) => drops.push([topic, count]));
    topics.subscribe("room");
    assert.equal(pubsub.publish("room", "abc"), 1);
    pubsub.publish("room", "defg"); // 3 waiting + 4 > 5
    assert.deepEqual(drops, [["room", 1]]);
    assert.deepEqual(log, ["corked send abc", "close 1013 slow consumer: publish queue over its limit"]);
    pubsub.publish("room", "late"); // closing: not taken
    runLater();
    assert.equal(log.length, 2);
  });
});
