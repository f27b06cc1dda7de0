/**
 * The `autoResponse` option on every server path (tests/_server_paths.ts): a text message equal to the
 * request is answered with the response and never reaches the `message` handler; anything else does,
 * binary messages with the same bytes included. Raw clients, so the exact frames are checked.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SERVER_PATHS } from "./_server_paths.ts";
import { frame, RawClient, utf8 } from "./_raw_client.ts";

const TEXT = 0x1, BINARY = 0x2;
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

for (const path of SERVER_PATHS) {
  describe(`autoResponse: ${path.name}`, { skip: path.skip }, () => {
    for (const textAsBytes of [false, true]) {
      test(`the request is answered without the handler; other messages reach it${textAsBytes ? " (textAsBytes)" : ""}`, async () => {
        const handled: string[] = [];
        const server = await path.start({
          protocols: [],
          upgrade: () => undefined,
          textAsBytes,
          deflate: false,
          websocket: {
            autoResponse: { request: "ping", response: "pong ✓" },
            message: (ws, data, binary) => {
              handled.push(`${binary ? "binary" : "text"} ${typeof data === "string" ? data : decode(data)}`);
              void ws.send(`got ${handled.length}`);
            },
          },
        });
        const client = await RawClient.connect(Number(new URL(server.url).port));
        try {
          assert.equal(client.status, 101);
          await client.write(frame(TEXT, "ping"));
          const answer = await client.nextFrame();
          assert.equal(answer.opcode, TEXT);
          assert.equal(decode(answer.payload), "pong ✓");
          // Near misses go to the handler: another text, the same bytes as binary, a longer text.
          await client.write(frame(TEXT, "pin"));
          await client.write(frame(BINARY, utf8("ping")));
          await client.write(frame(TEXT, "ping "));
          for (let i = 1; i <= 3; i++) assert.equal(decode((await client.nextFrame()).payload), `got ${i}`);
          await client.write(frame(TEXT, "ping"));
          assert.equal(decode((await client.nextFrame()).payload), "pong ✓");
          assert.deepEqual(handled, ["text pin", "binary ping", "text ping "]);
        } finally {
          client.destroy();
          await server.stop();
        }
      });
    }
  });
}
