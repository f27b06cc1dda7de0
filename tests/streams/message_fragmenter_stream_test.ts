import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Frame } from "../../lib/core/frame.ts";
import {
  MessageFragmenterStream,
  type MessageFragmenterStreamOptions,
} from "../../lib/streams/message_fragmenter_stream.ts";
import { hex, toHex } from "../_vectors.ts";
import { assertRejectsWith, frame, pump, utf8 } from "../_streams.ts";

function fragment(
  messages: (string | Uint8Array)[],
  options?: MessageFragmenterStreamOptions,
): Promise<Frame[]> {
  return pump(new MessageFragmenterStream(options), messages);
}

describe("§5.6 data frames: MessageFragmenterStream", () => {
  test("sends a string as one Text frame by default", async () => {
    assert.deepEqual(await fragment(["Hello"]), [frame(0x1, utf8("Hello"))]);
  });

  test("sends bytes as one Binary frame by default", async () => {
    assert.deepEqual(await fragment([hex("00 ff")]), [frame(0x2, hex("00 ff"))]);
  });

  test("encodes text as UTF-8, a lone surrogate as U+FFFD", async () => {
    const [first, second] = await fragment(["é€😀", "a\ud800b"]);
    assert.equal(toHex(first.payload), "c3 a9 e2 82 ac f0 9f 98 80");
    assert.equal(toHex(second.payload), "61 ef bf bd 62");
  });

  test("sends an empty message as one empty frame, even with fragmentSize 1", async () => {
    assert.deepEqual(await fragment(["", new Uint8Array(0)], { fragmentSize: 1 }), [
      frame(0x1, new Uint8Array(0)),
      frame(0x2, new Uint8Array(0)),
    ]);
  });

  test("outputs nothing for no input", async () => {
    assert.deepEqual(await fragment([]), []);
  });
});

describe("§5.4 fragmentation: MessageFragmenterStream", () => {
  test("splits text into a Text frame then Continuation frames, FIN on the last", async () => {
    assert.deepEqual(await fragment(["Hello"], { fragmentSize: 2 }), [
      frame(0x1, utf8("He"), { fin: false }),
      frame(0x0, utf8("ll"), { fin: false }),
      frame(0x0, utf8("o")),
    ]);
  });

  test("splits binary into a Binary frame then Continuation frames", async () => {
    assert.deepEqual(await fragment([hex("01 02 03")], { fragmentSize: 1 }), [
      frame(0x2, hex("01"), { fin: false }),
      frame(0x0, hex("02"), { fin: false }),
      frame(0x0, hex("03")),
    ]);
  });

  test("splits text by bytes, across code points", async () => {
    const frames = await fragment(["€€"], { fragmentSize: 2 });
    assert.deepEqual(frames.map((item) => toHex(item.payload)), ["e2 82", "ac e2", "82 ac"]);
  });

  test("sends no empty trailing frame when the length is a multiple of fragmentSize", async () => {
    assert.deepEqual(await fragment(["Hell"], { fragmentSize: 2 }), [
      frame(0x1, utf8("He"), { fin: false }),
      frame(0x0, utf8("ll")),
    ]);
  });

  test("sends one frame when the message is exactly fragmentSize, two when one byte longer", async () => {
    assert.equal((await fragment(["Hello"], { fragmentSize: 5 })).length, 1);
    assert.deepEqual(await fragment(["Hello!"], { fragmentSize: 5 }), [
      frame(0x1, utf8("Hello"), { fin: false }),
      frame(0x0, utf8("!")),
    ]);
  });

  test("starts every message with its own opcode", async () => {
    const frames = await fragment(["abc", hex("01 02 03"), "d"], { fragmentSize: 2 });
    assert.deepEqual(frames.map((item) => [item.opcode, item.fin]), [
      [0x1, false],
      [0x0, true],
      [0x2, false],
      [0x0, true],
      [0x1, true],
    ]);
  });

  test("makes a binary message's frames views into it, not copies", async () => {
    const message = new Uint8Array(10).map((_, i) => i);
    const frames = await fragment([message.subarray(2)], { fragmentSize: 3 });
    assert.deepEqual(
      frames.map((item) => [item.payload.buffer === message.buffer, item.payload.byteOffset]),
      [
        [true, 2],
        [true, 5],
        [true, 8],
      ],
    );
  });

  test("sets no RSV bit", async () => {
    for (const item of await fragment(["Hello", hex("01 02")], { fragmentSize: 1 })) {
      assert.deepEqual([item.rsv1, item.rsv2, item.rsv3], [false, false, false]);
    }
  });
});

describe("errors and options: MessageFragmenterStream", () => {
  test("errors with a TypeError for a message that is neither a string nor a Uint8Array", async () => {
    for (const message of [42, new ArrayBuffer(2), null]) {
      await assertRejectsWith(
        fragment([message as unknown as string]),
        TypeError,
        /^Cannot fragment message: message is neither a string nor a Uint8Array$/,
      );
    }
  });

  test("throws a RangeError for a fragmentSize below 1, NaN or not an integer", () => {
    for (const fragmentSize of [0, -1, NaN, 1.5, -Infinity]) {
      assert.throws(() => new MessageFragmenterStream({ fragmentSize }), {
        name: "RangeError",
        message: `Cannot create message fragmenter: fragmentSize ${fragmentSize} is not a positive integer`,
      });
    }
  });

  test("accepts fragmentSize 1 and Infinity", async () => {
    assert.equal((await fragment(["abc"], { fragmentSize: 1 })).length, 3);
    assert.equal((await fragment(["abc"], { fragmentSize: Infinity })).length, 1);
  });
});
