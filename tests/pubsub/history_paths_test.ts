/**
 * `ws.subscribe(topic, { since })` on every server path of the runtime under test (tests/_server_paths.ts),
 * over real sockets with the runtime's WebSocket client: the missed messages in order, then the live ones,
 * nothing twice; `recovered: false` for another epoch; and `server.publish` with a function of the position.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPubSub, type Recovery } from "../../lib/pubsub/pubsub.ts";
import { SERVER_PATHS } from "../_server_paths.ts";
import { WAIT_MS, withTimeout } from "../_raw_client.ts";

/** Connects the runtime's WebSocket and collects its text messages until `count` arrived. */
function collect(url: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const texts: string[] = [];
    socket.onmessage = (event) => {
      texts.push(String(event.data));
      if (texts.length === count) {
        socket.close(1000);
        resolve(texts);
      }
    };
    socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
  });
}

describe("ws.subscribe(topic, { since }) on every server path", () => {
  for (const path of SERVER_PATHS) {
    test(`${path.name}: replays what was missed, then live; another epoch is not recovered`, {
      skip: path.skip,
      timeout: 20_000,
    }, async () => {
      const pubsub = createPubSub({ history: { size: 100 } });
      const recoveries: Recovery[] = [];
      const server = await path.start({
        protocols: [],
        upgrade: () => {},
        pubsub,
        websocket: {
          async open(ws) {
            const query = new URL(ws.request.url, "http://localhost").searchParams;
            const since = { epoch: query.get("epoch") ?? "", offset: Number(query.get("offset")) };
            const recovery = await ws.subscribe("ticks", { since });
            recoveries.push(recovery);
            ws.send(`recovered=${recovery.recovered} replayed=${recovery.replayed}`);
            // A live one after the replay: through the server's publish, made from its position.
            server.publish("ticks", (at) => `m${at.offset}`);
          },
        },
      });
      try {
        for (let i = 0; i < 5; i++) pubsub.publish("ticks", (at) => `m${at.offset}`);
        const { epoch } = await pubsub.position("ticks");
        const texts = await withTimeout(
          collect(`${server.url}?epoch=${epoch}&offset=2`, 5),
          WAIT_MS,
          "the replay",
        );
        assert.deepEqual(texts, ["m3", "m4", "m5", "recovered=true replayed=3", "m6"]);
        const other = await withTimeout(
          collect(`${server.url}?epoch=other&offset=2`, 2),
          WAIT_MS,
          "not recovered",
        );
        assert.deepEqual(other, ["recovered=false replayed=0", "m7"]);
        assert.match(recoveries[1].reason ?? "", /epoch changed/);
      } finally {
        await server.stop();
        pubsub.close();
      }
    });
  }
});
