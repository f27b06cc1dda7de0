/**
 * `flush()` never hangs on Redis: with the server stopped (SIGSTOP: the link stays up, nothing answers, as
 * with a command in flight when the link dies, which ioredis leaves unsettled) it resolves after
 * `flushTimeout`; once Redis answers again, the subscription is live. And the option is checked.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import process from "node:process";
import { redisBackplane } from "../../lib/backplane/redis_backplane.ts";
import { createPubSub } from "../../lib/pubsub/pubsub.ts";
import { redisTest } from "../_redis.ts";

/** The redis-server's pid, from its own INFO. */
function pidOf(port: number): number {
  const info = execFileSync("redis-cli", ["-p", String(port), "INFO", "server"], { encoding: "utf8" });
  return Number(/process_id:(\d+)/.exec(info)![1]);
}

describe("redisBackplane flushTimeout", () => {
  redisTest("flush resolves after flushTimeout while Redis does not answer, and the topic is live once it does", async (redis) => {
    const backplane = await redisBackplane({ url: redis.url, flushTimeout: 300 });
    const pubsub = createPubSub({ backplane });
    const pid = pidOf(redis.port);
    try {
      await backplane.flush();
      process.kill(pid, "SIGSTOP");
      try {
        pubsub.subscribe({ deliver: () => true }, "news");
        const started = Date.now();
        await backplane.flush(); // without the bound: waits for an answer that does not come
        const waited = Date.now() - started;
        assert(waited >= 250, `flush returned after ${waited} ms, before its timeout`);
      } finally {
        process.kill(pid, "SIGCONT");
      }
      await backplane.flush();
      const numsub = execFileSync("redis-cli", ["-p", String(redis.port), "PUBSUB", "SHARDNUMSUB", "ws:news"], {
        encoding: "utf8",
      });
      assert.match(numsub, /ws:news\s+1/);
    } finally {
      pubsub.close();
      await backplane.close();
    }
  });

  test("flushTimeout that is not a duration is a TypeError", async () => {
    for (const flushTimeout of [-1, Number.NaN, "1" as unknown as number]) {
      await assert.rejects(
        async () => await redisBackplane({ url: "redis://127.0.0.1:1", flushTimeout }),
        { name: "TypeError", message: /flushTimeout/ },
      );
    }
  });
});
