/**
 * Load on loopback (issue: "1,000 concurrent connections exchanging compressed messages for a bounded time,
 * with zero lost or corrupted messages"): runs bench/load.ts's runLoad on the runtime under test, server in
 * its own process.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { runLoad } from "../bench/load.ts";

test("1,000 concurrent compressed connections for 3 s: every echo arrives intact and in order", { timeout: 90_000 }, async () => {
  const result = await runLoad({ connections: 1000, seconds: 3, deflate: true });
  console.log(
    `load: ${result.connections} connections, ${result.negotiated}, ${result.messagesPerSecond.toFixed(0)} msgs/s, ` +
      `server RSS per connection ${result.serverRssPerConnectionIdleKiB.toFixed(1)} KiB idle, ` +
      `${result.serverRssPerConnectionActiveKiB.toFixed(1)} KiB active`,
  );
  assert.equal(result.connections, 1000);
  assert.match(result.negotiated, /^permessage-deflate/);
  assert.equal(result.corrupted, 0, "corrupted or out-of-order echoes");
  assert.equal(result.lost, 0, "messages without an echo");
  assert.ok(result.messages > 1000, `every connection exchanged messages (${result.messages})`);
});
