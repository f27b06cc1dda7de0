import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { PreparedMessage } from "../../lib/pubsub/prepared_message.ts";
import type { Backplane, BackplaneReceiver } from "../../lib/pubsub/backplane.ts";
import { createPubSub, type Subscriber, TopicEvent } from "../../lib/pubsub/pubsub.ts";

/** A subscriber that records what reaches it, and can refuse. */
function recorder(accept = true): Subscriber & { received: { topic: string; message: PreparedMessage }[] } {
  const received: { topic: string; message: PreparedMessage }[] = [];
  return { received, deliver: (message, topic) => (received.push({ topic, message }), accept) };
}

const text = (message: PreparedMessage) => new TextDecoder().decode(message.payload);

describe("PubSub: subscriptions", () => {
  test("subscribe, isSubscribed, subscriptionsOf (fresh arrays, in order), unsubscribe, counts", () => {
    const pubsub = createPubSub();
    const a = recorder(), b = recorder();
    assert.equal(pubsub.subscribe(a, "news"), true);
    assert.equal(pubsub.subscribe(a, "news"), false, "twice is once");
    assert.equal(pubsub.subscribe(a, "chat"), true);
    assert.equal(pubsub.subscribe(b, "news"), true);
    assert.equal(pubsub.isSubscribed(a, "chat"), true);
    assert.equal(pubsub.isSubscribed(b, "chat"), false);
    const topics = pubsub.subscriptionsOf(a);
    assert.deepEqual(topics, ["news", "chat"]);
    topics.push("mutated");
    assert.deepEqual(pubsub.subscriptionsOf(a), ["news", "chat"], "a fresh array each time");
    assert.equal(pubsub.subscriberCount("news"), 2);
    assert.equal(pubsub.subscriberCount("nobody"), 0);
    assert.equal(pubsub.topicCount, 2);
    assert.equal(pubsub.unsubscribe(a, "news"), true);
    assert.equal(pubsub.unsubscribe(a, "news"), false);
    assert.equal(pubsub.subscriberCount("news"), 1);
    pubsub.unsubscribeAll(b);
    assert.equal(pubsub.subscriberCount("news"), 0);
    assert.equal(pubsub.topicCount, 1);
    assert.deepEqual(pubsub.subscriptionsOf(b), []);
  });

  test("one subscriber or topic, then several, then one again: counts, order, membership and delivery hold", () => {
    const pubsub = createPubSub();
    const a = recorder(), b = recorder(), c = recorder();
    // A subscriber that is itself a Set (it is kept in a Set of its own, never taken for one).
    const setLike = Object.assign(new Set<string>(), { deliver: () => true }) as unknown as Subscriber;
    for (const topic of ["t1", "t2", "t3"]) assert.equal(pubsub.subscribe(a, topic), true);
    assert.equal(pubsub.unsubscribe(a, "t1"), true);
    assert.equal(pubsub.unsubscribe(a, "t3"), true);
    assert.deepEqual(pubsub.subscriptionsOf(a), ["t2"]);
    assert.equal(pubsub.isSubscribed(a, "t2"), true);
    assert.equal(pubsub.isSubscribed(a, "t1"), false);
    assert.equal(pubsub.subscribe(a, "t2"), false);
    assert.equal(pubsub.unsubscribe(a, "t1"), false);
    assert.equal(pubsub.subscribe(a, "t4"), true);
    assert.deepEqual(pubsub.subscriptionsOf(a), ["t2", "t4"]);
    assert.equal(pubsub.subscribe(setLike, "s"), true);
    assert.equal(pubsub.subscriberCount("s"), 1);
    assert.equal(pubsub.publish("s", "to the set"), 1);
    assert.equal(pubsub.publish("s", "left out", { except: setLike }), 0);
    assert.equal(pubsub.subscribe(b, "s"), true);
    assert.equal(pubsub.subscriberCount("s"), 2);
    assert.equal(pubsub.unsubscribe(setLike, "s"), true);
    assert.equal(pubsub.subscriberCount("s"), 1);
    assert.equal(pubsub.subscribe(c, "s"), true);
    assert.equal(pubsub.publish("s", "two", { except: c }), 1);
    assert.deepEqual(b.received.map((r) => text(r.message)), ["two"]);
    assert.deepEqual(c.received, []);
    pubsub.unsubscribeAll(b);
    pubsub.unsubscribeAll(c);
    pubsub.unsubscribeAll(a);
    assert.equal(pubsub.topicCount, 0);
    assert.deepEqual(pubsub.subscriptionsOf(a), []);
  });

  test("a subscriber that leaves during a publish is not delivered to after it left", () => {
    const pubsub = createPubSub();
    const received: string[] = [];
    const a: Subscriber = { deliver: () => (received.push("a"), pubsub.unsubscribe(b, "room"), true) };
    const b: Subscriber = { deliver: () => received.push("b") > 0 };
    pubsub.subscribe(a, "room");
    pubsub.subscribe(b, "room");
    assert.equal(pubsub.publish("room", "x"), 1);
    assert.deepEqual(received, ["a"]);
    assert.equal(pubsub.subscriberCount("room"), 1);
    assert.equal(pubsub.publish("room", "y"), 1);
    assert.deepEqual(received, ["a", "a"]);
  });

  test("topicopen on a topic's first subscriber, topicclose when its last leaves (what a backplane follows)", () => {
    const pubsub = createPubSub();
    const events: string[] = [];
    for (const type of ["topicopen", "topicclose"]) {
      pubsub.addEventListener(type, (event) => {
        assert.ok(event instanceof TopicEvent);
        events.push(`${event.type} ${event.topic}`);
      });
    }
    const a = recorder(), b = recorder();
    pubsub.subscribe(a, "room");
    pubsub.subscribe(b, "room");
    pubsub.unsubscribe(a, "room");
    pubsub.subscribe(a, "other");
    pubsub.unsubscribeAll(b);
    pubsub.unsubscribeAll(a);
    assert.deepEqual(events, ["topicopen room", "topicopen other", "topicclose room", "topicclose other"]);
  });

  test("topics: a non-empty, well-formed string of at most maxTopicLength (256) code units; else TypeError or RangeError", () => {
    const pubsub = createPubSub();
    const a = recorder();
    assert.equal(pubsub.subscribe(a, "x".repeat(256)), true);
    assert.equal(pubsub.subscribe(a, "salle de séjour 🛋️"), true, "non-ASCII is fine");
    assert.throws(() => pubsub.subscribe(a, ""), {
      name: "TypeError",
      message: "Cannot subscribe: the topic is empty",
    });
    assert.throws(() => pubsub.subscribe(a, "x".repeat(64 * 1024)), {
      name: "RangeError",
      message: "Cannot subscribe: the topic is 65536 code units long, over 256",
    });
    assert.throws(() => pubsub.publish("\ud800", "x"), {
      name: "TypeError",
      message: "Cannot publish: the topic is not well-formed UTF-16",
    });
    assert.throws(() => pubsub.unsubscribe(a, 42 as unknown as string), {
      name: "TypeError",
      message: "Cannot unsubscribe: the topic is not a string",
    });
    assert.equal(createPubSub({ maxTopicLength: 65536 }).subscribe(a, "x".repeat(64 * 1024)), true);
    assert.throws(() => createPubSub({ maxTopicLength: 0 }), RangeError);
  });
});

describe("PubSub: publish", () => {
  test("reaches every subscriber of the topic once, prepared once; except leaves out one or a set", () => {
    const pubsub = createPubSub();
    const a = recorder(), b = recorder(), c = recorder(), other = recorder();
    for (const s of [a, b, c]) pubsub.subscribe(s, "room");
    pubsub.subscribe(other, "elsewhere");
    assert.equal(pubsub.publish("room", "one"), 3);
    assert.equal(pubsub.publish("room", "two", { except: a }), 2);
    assert.equal(pubsub.publish("room", "three", { except: new Set([a, b]) }), 1);
    assert.deepEqual(a.received.map((r) => text(r.message)), ["one"]);
    assert.deepEqual(b.received.map((r) => text(r.message)), ["one", "two"]);
    assert.deepEqual(c.received.map((r) => text(r.message)), ["one", "two", "three"]);
    assert.deepEqual(other.received, []);
    // One PreparedMessage per publish, shared by its subscribers.
    assert.equal(a.received[0].message, c.received[0].message);
    assert.equal(b.received[0].topic, "room");
  });

  test("publish to a topic with no subscribers hands to nobody; refusals are counted in stats", () => {
    const pubsub = createPubSub();
    assert.equal(pubsub.publish("empty", "x"), 0);
    pubsub.subscribe(recorder(true), "t");
    pubsub.subscribe(recorder(false), "t");
    assert.equal(pubsub.publish("t", new Uint8Array([1, 2, 3])), 1);
    assert.deepEqual(pubsub.stats, { publishes: 2, deliveries: 1, deflates: 0, refused: 1, remote: 0 });
  });

  test("text as a string or as UTF-8 bytes with binary: false; bytes that are not UTF-8 as text are a TypeError", () => {
    const pubsub = createPubSub();
    const a = recorder();
    pubsub.subscribe(a, "t");
    pubsub.publish("t", "héllo");
    pubsub.publish("t", new TextEncoder().encode("héllo"), { binary: false });
    pubsub.publish("t", "as binary", { binary: true });
    assert.deepEqual(a.received.map((r) => [text(r.message), r.message.binary]), [["héllo", false], [
      "héllo",
      false,
    ], ["as binary", true]]);
    assert.throws(() => pubsub.publish("t", new Uint8Array([0xff]), { binary: false }), {
      name: "TypeError",
      message: "Cannot publish: bytes sent as text are not UTF-8",
    });
    assert.throws(() => pubsub.publish("t", 42 as unknown as string), TypeError);
    assert.equal(a.received.length, 3, "nothing delivered for a refused publish");
  });
});

/**
 * The backplane contract, over an in-process bus joining several nodes (no broker is claimed here: the
 * Redis backplane has its own tests against a real redis-server).
 */
function bus(): () => Backplane & { topics: Set<string>; log: string[] } {
  const nodes = new Set<{ receiver: BackplaneReceiver; topics: Set<string> }>();
  return () => {
    const node = { receiver: undefined as unknown as BackplaneReceiver, topics: new Set<string>() };
    const log: string[] = [];
    return {
      topics: node.topics,
      log,
      attach(receiver) {
        node.receiver = receiver;
        nodes.add(node);
      },
      subscribe(topic) {
        log.push(`subscribe ${topic}`);
        node.topics.add(topic);
      },
      unsubscribe(topic) {
        log.push(`unsubscribe ${topic}`);
        node.topics.delete(topic);
      },
      publish(topic, payload, binary) {
        for (const other of nodes) {
          if (other !== node && other.topics.has(topic)) other.receiver.message({ topic, payload, binary });
        }
      },
      close: () => Promise.resolve(),
    };
  };
}

describe("PubSub with a backplane", () => {
  test("follows its topics there (first subscriber in, last out), and delivers remote publishes once", () => {
    const makeBackplane = bus();
    const planeA = makeBackplane(), planeB = makeBackplane();
    const nodeA = createPubSub({ backplane: planeA }), nodeB = createPubSub({ backplane: planeB });
    const a1 = recorder(), a2 = recorder(), b1 = recorder();
    nodeA.subscribe(a1, "room");
    nodeA.subscribe(a2, "room");
    nodeB.subscribe(b1, "room");
    assert.deepEqual(planeA.log, ["subscribe room"], "one broker subscription for two local subscribers");
    // ws.publish on node A: the sender is left out on A; B's subscriber gets it from the backplane.
    assert.equal(nodeA.publish("room", "hello", { except: a1 }), 1);
    assert.deepEqual(a1.received.map((r) => text(r.message)), []);
    assert.deepEqual(
      a2.received.map((r) => text(r.message)),
      ["hello"],
      "once, not again from the backplane",
    );
    assert.deepEqual(b1.received.map((r) => [text(r.message), r.message.binary]), [["hello", false]]);
    nodeB.publish("room", new Uint8Array([1, 2]));
    assert.deepEqual([...a1.received[0].message.payload], [1, 2]);
    assert.equal(a1.received[0].message.binary, true);
    assert.equal(nodeA.stats.remote, 1);
    nodeA.unsubscribeAll(a1);
    nodeA.unsubscribeAll(a2);
    assert.deepEqual(planeA.log, ["subscribe room", "unsubscribe room"]);
    nodeB.publish("room", "nobody on A");
    assert.equal(a2.received.length, 2, "hello and the bytes; nothing after A left the topic");
  });

  test("a gap the backplane reports is a gap event with its topic and reason", () => {
    let receiver: BackplaneReceiver | undefined;
    const pubsub = createPubSub({
      backplane: {
        attach: (r) => receiver = r,
        subscribe() {},
        unsubscribe() {},
        publish() {},
        close: () => Promise.resolve(),
      },
    });
    const gaps: string[] = [];
    pubsub.addEventListener(
      "gap",
      (event) => gaps.push(`${(event as TopicEvent).topic}: ${(event as TopicEvent).reason}`),
    );
    receiver!.gap("room", "the link to the broker was down");
    assert.deepEqual(gaps, ["room: the link to the broker was down"]);
  });
});
