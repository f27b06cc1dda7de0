import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Fifo } from "../../lib/core/fifo.ts";

describe("Fifo", () => {
  it("takes items in the order they were pushed, past its compaction point", () => {
    const queue = new Fifo<number>();
    let next = 0, expected = 0;
    // Interleaved pushes and shifts, so the head passes 1,024 with items still queued (compaction).
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) queue.push(next++);
      for (let i = 0; i < 60; i++) assert.equal(queue.shift(), expected++);
    }
    assert.equal(queue.length, next - expected);
    assert.equal(queue.at(0), expected);
    assert.equal(queue.at(queue.length - 1), next - 1);
    assert.equal(queue.at(queue.length), undefined);
    assert.equal(queue.at(-1), undefined);
    assert.deepEqual([...queue], Array.from({ length: next - expected }, (_, i) => expected + i));
    while (queue.length > 0) assert.equal(queue.shift(), expected++);
    assert.equal(expected, next);
    assert.equal(queue.shift(), undefined);
  });

  it("removes at the head, inside and past the tail", () => {
    const queue = new Fifo<string>();
    for (const item of ["a", "b", "c", "d"]) queue.push(item);
    assert.equal(queue.removeAt(2), "c");
    assert.equal(queue.removeAt(0), "a");
    assert.equal(queue.removeAt(2), undefined);
    assert.equal(queue.removeAt(-1), undefined);
    assert.deepEqual([...queue], ["b", "d"]);
    assert.equal(queue.length, 2);
  });

  it("clear() returns what was queued, head first, and leaves it empty", () => {
    const queue = new Fifo<number>();
    for (let i = 0; i < 2000; i++) queue.push(i);
    for (let i = 0; i < 1500; i++) queue.shift();
    assert.deepEqual(queue.clear(), Array.from({ length: 500 }, (_, i) => 1500 + i));
    assert.equal(queue.length, 0);
    assert.deepEqual([...queue], []);
    queue.push(7);
    assert.equal(queue.shift(), 7);
  });
});
