import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPubSub, type PresenceEvent, type PubSub, type Subscriber } from "../../lib/pubsub/pubsub.ts";
import { subscribeOptionsOf } from "../../lib/pubsub/presence.ts";
import { SERVER_PATHS } from "../_server_paths.ts";

/** @returns A subscriber that takes every message. */
function subscriber(): Subscriber {
  return { deliver: () => true };
}

/** @returns The `"presence"` events of a PubSub, as they come, and a wait for the next ones. */
function events(pubsub: PubSub): { list: PresenceEvent[]; next(count?: number): Promise<PresenceEvent[]> } {
  const list: PresenceEvent[] = [];
  let waiter: (() => void) | undefined;
  pubsub.addEventListener("presence", (event) => {
    list.push(event as PresenceEvent);
    waiter?.();
  });
  return {
    list,
    async next(count = 1) {
      const want = list.length + count;
      const deadline = Date.now() + 10_000;
      while (list.length < want) {
        if (Date.now() > deadline) {
          throw new Error(`Cannot see ${count} presence events in 10 s: ${list.length} seen`);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          waiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return list.slice(want - count, want);
    },
  };
}

const ids = (members: readonly { id: string }[]) => members.map((member) => member.id).sort();

describe("presence, in memory", () => {
  test("several connections of one user are one member, and it leaves with its last connection", async () => {
    const pubsub = createPubSub({ presence: { interval: 20 } });
    const seen = events(pubsub);
    const tab1 = subscriber(), tab2 = subscriber(), other = subscriber();
    try {
      pubsub.subscribe(tab1, "room", { presence: { id: "ada", data: { name: "Ada" } } });
      pubsub.subscribe(tab2, "room", { presence: { id: "ada", data: { name: "Ada" } } });
      pubsub.subscribe(other, "room", { presence: { id: "bob" } });
      // A plain subscriber is not a member.
      pubsub.subscribe(subscriber(), "room");
      assert.deepEqual(
        (await pubsub.presence("room")).sort((a, b) => a.id.localeCompare(b.id)),
        [{ id: "ada", data: { name: "Ada" }, connections: 2 }, {
          id: "bob",
          data: undefined,
          connections: 1,
        }],
      );
      assert.equal(await pubsub.presenceCount("room"), 2);
      assert.equal(pubsub.subscriberCount("room"), 4);
      const [joined] = await seen.next();
      assert.equal(joined.topic, "room");
      assert.deepEqual(ids(joined.joins), ["ada", "bob"]);
      assert.deepEqual(joined.leaves, []);

      pubsub.unsubscribe(tab1, "room");
      assert.deepEqual(await pubsub.presence("room").then((m) => m.find((x) => x.id === "ada")), {
        id: "ada",
        data: { name: "Ada" },
        connections: 1,
      });
      pubsub.unsubscribeAll(tab2);
      const [left] = await seen.next();
      assert.deepEqual(left.joins, []);
      assert.deepEqual(left.leaves, [{ id: "ada", data: { name: "Ada" }, connections: 0 }]);
      assert.deepEqual(ids(await pubsub.presence("room")), ["bob"]);
      pubsub.unsubscribe(other, "room");
      const [last] = await seen.next();
      assert.deepEqual(ids(last.leaves), ["bob"]);
      assert.deepEqual(await pubsub.presence("room"), []);
      assert.equal(await pubsub.presenceCount("room"), 0);
    } finally {
      pubsub.close();
    }
  });

  test("joins within one interval come as one event; a join and leave within it cancel out", async () => {
    const pubsub = createPubSub({ presence: { interval: 50 } });
    const seen = events(pubsub);
    const subscribers: Subscriber[] = [];
    try {
      for (let i = 0; i < 500; i++) {
        const s = subscriber();
        subscribers.push(s);
        pubsub.subscribe(s, "big", { presence: { id: `user${i}` } });
      }
      const brief = subscriber();
      pubsub.subscribe(brief, "big", { presence: { id: "brief" } });
      pubsub.unsubscribe(brief, "big");
      const [event] = await seen.next();
      assert.equal(event.joins.length, 500);
      assert.ok(!event.joins.some((member) => member.id === "brief"));
      // Nothing else was pending: the next event is the one for the next change.
      for (const s of subscribers.slice(0, 100)) pubsub.unsubscribeAll(s);
      const [leaves] = await seen.next();
      assert.equal(leaves.leaves.length, 100);
      assert.equal(seen.list.length, 2);
    } finally {
      pubsub.close();
    }
  });

  test("topics are separate, and each gets its own event", async () => {
    const pubsub = createPubSub({ presence: { interval: 20 } });
    const seen = events(pubsub);
    try {
      const s = subscriber();
      pubsub.subscribe(s, "a", { presence: { id: "ada" } });
      pubsub.subscribe(s, "b", { presence: { id: "ada" } });
      const both = await seen.next(2);
      assert.deepEqual(both.map((event) => event.topic).sort(), ["a", "b"]);
      pubsub.unsubscribe(s, "a");
      const [left] = await seen.next();
      assert.equal(left.topic, "a");
      assert.deepEqual(ids(await pubsub.presence("b")), ["ada"]);
      pubsub.unsubscribeAll(s);
    } finally {
      pubsub.close();
    }
  });

  test("bad input is a TypeError or RangeError", async () => {
    const pubsub = createPubSub();
    try {
      assert.throws(() => pubsub.subscribe(subscriber(), "room", { presence: { id: "" } }), {
        name: "TypeError",
        message: "Cannot subscribe with presence: the member id is not a non-empty string",
      });
      assert.throws(
        () => pubsub.subscribe(subscriber(), "room", { presence: { id: 7 as unknown as string } }),
        TypeError,
      );
      // Nothing was subscribed by the refused calls.
      assert.equal(pubsub.subscriberCount("room"), 0);
      assert.throws(() => createPubSub({ presence: { interval: 0 } }), RangeError);
      assert.throws(() => createPubSub({ presence: { interval: Number.NaN } }), RangeError);
      await assert.rejects(() => pubsub.presence(""), TypeError);
      assert.throws(() => subscribeOptionsOf(undefined, { presence: true }), {
        name: "TypeError",
        message:
          "Cannot subscribe with presence: the socket has no user (the upgrade hook gives it one: { user })",
      });
      assert.throws(() => subscribeOptionsOf("ada", { presence: "yes" as unknown as boolean }), TypeError);
      assert.deepEqual(subscribeOptionsOf(undefined, { presence: false }), {});
      assert.deepEqual(subscribeOptionsOf(undefined, undefined), {});
    } finally {
      pubsub.close();
    }
  });
});

describe("presence over every server path", () => {
  for (const path of SERVER_PATHS) {
    test(`${path.name}: ws.subscribe(topic, { presence: true }) makes ws.user a member until it closes`, {
      skip: path.skip,
      timeout: 20_000,
    }, async () => {
      const pubsub = createPubSub({ presence: { interval: 20 } });
      const seen = events(pubsub);
      const refused: string[] = [];
      const server = await path.start({
        protocols: [],
        pubsub,
        upgrade: (request) => {
          const user = new URL(request.url).searchParams.get("user");
          return user === null ? undefined : { user };
        },
        websocket: {
          open: (ws) => {
            try {
              ws.subscribe("room", { presence: true, presenceData: { via: "open" } });
              ws.send("subscribed");
            } catch (error) {
              refused.push(`${(error as Error).name}: ${(error as Error).message}`);
              ws.send("refused");
            }
          },
        },
      });
      const sockets: WebSocket[] = [];
      const connect = (query: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = new WebSocket(`${server.url}${query}`);
          sockets.push(socket);
          socket.onmessage = (event) => resolve(String(event.data));
          socket.onerror = () => reject(new Error("Cannot connect"));
        });
      try {
        assert.equal(await connect("?user=ada"), "subscribed");
        assert.equal(await connect("?user=ada"), "subscribed");
        assert.equal(await connect("?user=bob"), "subscribed");
        assert.equal(await connect(""), "refused");
        assert.deepEqual(refused, [
          "TypeError: Cannot subscribe with presence: the socket has no user (the upgrade hook gives it one: { user })",
        ]);
        const members = (await pubsub.presence("room")).sort((a, b) => a.id.localeCompare(b.id));
        assert.deepEqual(members, [
          { id: "ada", data: { via: "open" }, connections: 2 },
          { id: "bob", data: { via: "open" }, connections: 1 },
        ]);
        // Both joins are seen (a join and a leave in one interval would cancel out) before anyone leaves.
        const deadline = Date.now() + 10_000;
        const joins = () => seen.list.flatMap((event) => event.joins.map((member) => member.id)).sort();
        while (joins().length < 2) {
          assert.ok(Date.now() < deadline, "Cannot see ada and bob join within 10 s");
          await seen.next();
        }
        assert.deepEqual(joins(), ["ada", "bob"]);
        // Bob's only connection closes: bob leaves (ada stays, with one connection left).
        sockets[2].close();
        sockets[0].close();
        let leaves: string[] = [];
        while (!leaves.includes("bob")) {
          assert.ok(Date.now() < deadline, "Cannot see bob leave within 10 s");
          const [event] = await seen.next();
          leaves = leaves.concat(event.leaves.map((member) => member.id));
        }
        assert.deepEqual(leaves, ["bob"]);
        assert.deepEqual(await pubsub.presence("room"), [{
          id: "ada",
          data: { via: "open" },
          connections: 1,
        }]);
      } finally {
        for (const socket of sockets) socket.close();
        await server.stop();
        pubsub.close();
      }
    });
  }
});
