import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { constants, inflateRawSync } from "node:zlib";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { PreparedMessage } from "../../lib/pubsub/prepared_message.ts";
import { hex } from "../_vectors.ts";

const parameters = (serverNoContextTakeover: boolean, serverMaxWindowBits = 15) => ({
  serverNoContextTakeover,
  clientNoContextTakeover: false,
  serverMaxWindowBits,
  clientMaxWindowBits: 15,
});

describe("PreparedMessage", () => {
  test("an unmasked frame built once: RFC 6455 §5.7 'Hello', binary, a 16-bit and a 64-bit length", () => {
    const hello = new PreparedMessage("Hello");
    assert.deepEqual(hello.plainFrame(), hex("81 05 48 65 6c 6c 6f"));
    assert.equal(hello.plainFrame(), hello.plainFrame(), "the same bytes for every subscriber");
    assert.deepEqual(new PreparedMessage(new Uint8Array([1, 2])).plainFrame(), hex("82 02 01 02"));
    const medium = new PreparedMessage(new Uint8Array(256)).plainFrame();
    assert.deepEqual(medium.subarray(0, 4), hex("82 7e 01 00"));
    assert.equal(medium.length, 260);
    const large = new PreparedMessage(new Uint8Array(65536)).plainFrame();
    assert.deepEqual(large.subarray(0, 10), hex("82 7f 00 00 00 00 00 01 00 00"));
    assert.equal(large.length, 65546);
  });

  test("a shared compressed frame: one deflate per setting, the same bytes for every connection with it", () => {
    const json = JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `item ${i}` })) });
    const message = new PreparedMessage(json);
    const a = new PerMessageDeflate("server", parameters(true));
    const b = new PerMessageDeflate("server", parameters(true));
    const narrow = new PerMessageDeflate("server", parameters(true, 10));
    const frameA = message.sharedFrame(a);
    assert.equal(message.sharedFrame(b), frameA, "a second connection with the setting reuses the frame");
    assert.equal(message.deflates, 1);
    const frameNarrow = message.sharedFrame(narrow);
    assert.notEqual(frameNarrow, frameA);
    assert.equal(message.deflates, 2, "one deflate per window size in use");
    // RSV1 and text; the payload inflates (with the 00 00 ff ff tail back, RFC 7692 §7.2.2) to the message.
    for (const frame of [frameA, frameNarrow]) {
      assert.equal(frame[0], 0xc1);
      const length = frame[1] === 126 ? (frame[2] << 8) | frame[3] : frame[1];
      const payload = frame.subarray(frame[1] === 126 ? 4 : 2);
      assert.equal(payload.length, length);
      const inflated = inflateRawSync(Buffer.concat([payload, hex("00 00 ff ff")]), { finishFlush: constants.Z_SYNC_FLUSH });
      assert.equal(inflated.toString(), json);
    }
    assert.ok(frameA.length < json.length / 3);
  });

  test("under the threshold, with compress: false, or when deflate does not shrink it: the plain frame", () => {
    const deflate = new PerMessageDeflate("server", parameters(true), { threshold: 32 });
    const short = new PreparedMessage("short");
    assert.equal(short.sharedFrame(deflate), short.plainFrame());
    const off = new PreparedMessage("x".repeat(1000), { compress: false });
    assert.equal(off.sharedFrame(deflate), off.plainFrame());
    const random = new PreparedMessage(crypto.getRandomValues(new Uint8Array(4096)));
    assert.equal(random.sharedFrame(deflate), random.plainFrame());
  });

  test("a connection that keeps context cannot share a compressed frame: TypeError", () => {
    const deflate = new PerMessageDeflate("server", parameters(false));
    assert.equal(deflate.sharedEncoding, undefined);
    assert.throws(() => new PreparedMessage("x".repeat(100)).sharedFrame(deflate), TypeError);
  });
});
