import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PublishLedger } from "../../lib/core/publish_ledger.ts";

describe("PublishLedger", () => {
  test("a message is written once the completed writes reach the end of its frame", () => {
    const ledger = new PublishLedger();
    ledger.pushed(10);
    ledger.published("a");
    ledger.pushed(10);
    ledger.published("b");
    ledger.written(9);
    assert.equal(ledger.length, 2);
    ledger.written(1);
    assert.equal(ledger.length, 1);
    ledger.written(10);
    assert.equal(ledger.length, 0);
    assert.deepEqual(ledger.cut(), new Map());
  });

  test("frames merged into one write, or one frame split over several, are counted by position", () => {
    const ledger = new PublishLedger();
    for (const topic of ["a", "a", "b"]) {
      ledger.pushed(4);
      ledger.published(topic);
    }
    ledger.pushed(2); // a control frame (no topic) after them
    ledger.written(14); // one merged write of all four
    assert.equal(ledger.length, 0);
    ledger.pushed(100);
    ledger.published("c");
    ledger.written(60); // the first piece of a split frame
    assert.deepEqual(ledger.cut(), new Map([["c", 1]]), "a partly written frame is not delivered");
  });

  test("cut counts what is not written per topic, in any order of topics, and empties the ledger", () => {
    const ledger = new PublishLedger();
    const topics = ["x", "y", "x", "z", "x", "y"];
    for (const topic of topics) {
      ledger.pushed(100);
      ledger.published(topic);
    }
    ledger.written(200); // the first x and y
    assert.deepEqual(ledger.cut(), new Map([["x", 2], ["z", 1], ["y", 1]]));
    assert.equal(ledger.length, 0);
    assert.deepEqual(ledger.cut(), new Map());
  });

  test("thousands in flight: written ones leave from the head", () => {
    const ledger = new PublishLedger();
    for (let i = 0; i < 10_000; i++) {
      ledger.pushed(16);
      ledger.published(i % 2 === 0 ? "even" : "odd");
    }
    ledger.written(16 * 9_997);
    assert.equal(ledger.length, 3);
    assert.deepEqual(ledger.cut(), new Map([["odd", 2], ["even", 1]]));
  });
});
