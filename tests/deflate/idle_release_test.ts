import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Hibernating, IdleReleaser, idleReleaser } from "../../lib/deflate/idle_release.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Item implements Hibernating {
  hibernated = 0;
  busy = false;
  constructor(readonly name: string, readonly log: string[] = []) {}
  hibernate(): boolean {
    if (this.busy) return false;
    this.hibernated++;
    this.log.push(this.name);
    return true;
  }
}

describe("IdleReleaser", () => {
  test("hibernates an item once it has been idle for the period, not before", async () => {
    const releaser = new IdleReleaser(40);
    const item = new Item("a");
    releaser.touch(item);
    assert.equal(releaser.size, 1);
    await sleep(15);
    assert.equal(item.hibernated, 0, "not yet idle");
    await sleep(80);
    assert.equal(item.hibernated, 1);
    assert.equal(releaser.size, 0);
    assert.equal(releaser.armed, false, "no timer left once nothing is tracked");
  });

  test("a use pushes hibernation back; items go in last-use order", async () => {
    const log: string[] = [];
    const releaser = new IdleReleaser(50);
    const a = new Item("a", log), b = new Item("b", log);
    releaser.touch(a);
    releaser.touch(b);
    for (let i = 0; i < 4; i++) {
      await sleep(20);
      releaser.touch(a); // a stays in use
    }
    assert.deepEqual(log, ["b"], "b went idle, a did not");
    await sleep(120);
    assert.deepEqual(log, ["b", "a"]);
    assert.equal(releaser.armed, false);
  });

  test("an item that cannot hibernate now is dropped (no timer left); touched again, it is hibernated later", async () => {
    const releaser = new IdleReleaser(30);
    const item = new Item("a");
    item.busy = true;
    releaser.touch(item);
    await sleep(70);
    assert.equal(item.hibernated, 0);
    assert.equal(releaser.size, 0, "not tracked further: an abandoned busy item must not keep the timer alive");
    assert.equal(releaser.armed, false);
    item.busy = false;
    releaser.touch(item); // what its owner does when the message ends
    await sleep(80);
    assert.equal(item.hibernated, 1);
    assert.equal(releaser.armed, false);
  });

  test("an item that throws does not stop the others", async () => {
    const releaser = new IdleReleaser(20);
    const thrower: Hibernating = {
      hibernate() {
        throw new Error("boom");
      },
    };
    const item = new Item("a");
    releaser.touch(thrower);
    releaser.touch(item);
    await sleep(70);
    assert.equal(item.hibernated, 1);
    assert.equal(releaser.size, 0);
  });

  test("forget() of the last item stops the timer", () => {
    const releaser = new IdleReleaser(10_000);
    const item = new Item("a");
    releaser.touch(item);
    assert.equal(releaser.armed, true);
    releaser.forget(item);
    assert.equal(releaser.armed, false);
    assert.equal(item.hibernated, 0);
  });

  test("idleReleaser() shares one releaser per period", () => {
    assert.equal(idleReleaser(1234), idleReleaser(1234));
    assert.notEqual(idleReleaser(1234), idleReleaser(1235));
  });
});
