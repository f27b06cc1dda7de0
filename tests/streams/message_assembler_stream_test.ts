import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Frame } from "../../lib/core/frame.ts";
import {
  MessageAssemblerStream,
  type MessageAssemblerStreamOptions,
} from "../../lib/streams/message_assembler_stream.ts";
import { hex } from "../_vectors.ts";
import { assertProtocolError, assertRejectsWith, frame, pump, utf8 } from "../_streams.ts";

function assemble(
  frames: Frame[],
  options?: MessageAssemblerStreamOptions,
): Promise<(string | Uint8Array)[]> {
  return pump(new MessageAssemblerStream(options), frames);
}

describe("§5.6 data frames: MessageAssemblerStream", () => {
  test("outputs an unfragmented text frame as a string", async () => {
    assert.deepEqual(await assemble([frame(0x1, utf8("Hello"))]), ["Hello"]);
  });

  test("outputs an unfragmented binary frame as a Uint8Array", async () => {
    assert.deepEqual(await assemble([frame(0x2, hex("00 ff 80"))]), [hex("00 ff 80")]);
  });

  test("outputs empty text and binary messages", async () => {
    assert.deepEqual(await assemble([frame(0x1, new Uint8Array(0)), frame(0x2, new Uint8Array(0))]), [
      "",
      new Uint8Array(0),
    ]);
  });

  test("outputs messages in the order their last frames arrive", async () => {
    const frames = [frame(0x1, utf8("one")), frame(0x2, hex("02")), frame(0x1, utf8("three"))];
    assert.deepEqual(await assemble(frames), ["one", hex("02"), "three"]);
  });

  test("outputs nothing for no input", async () => {
    assert.deepEqual(await assemble([]), []);
  });
});

describe("§5.4 fragmentation: MessageAssemblerStream", () => {
  test("joins a fragmented text message (RFC 6455 §5.7)", async () => {
    const frames = [frame(0x1, utf8("Hel"), { fin: false }), frame(0x0, utf8("lo"))];
    assert.deepEqual(await assemble(frames), ["Hello"]);
  });

  test("joins a binary message of three fragments, empty ones included", async () => {
    const frames = [
      frame(0x2, hex("01 02"), { fin: false }),
      frame(0x0, new Uint8Array(0), { fin: false }),
      frame(0x0, hex("03")),
    ];
    assert.deepEqual(await assemble(frames), [hex("01 02 03")]);
  });

  test("rejects a continuation frame with nothing to continue with 1002", async () => {
    await assertProtocolError(
      assemble([frame(0x0, utf8("lo"))]),
      1002,
      /^Cannot assemble message: continuation frame without a message to continue$/,
    );
  });

  test("rejects a new data frame inside a fragmented message with 1002", async () => {
    await assertProtocolError(
      assemble([frame(0x1, utf8("Hel"), { fin: false }), frame(0x2, utf8("lo"))]),
      1002,
      /^Cannot assemble message: new data frame while a fragmented message is in progress$/,
    );
  });

  test("errors with 1006 when the input ends inside a fragmented message", async () => {
    await assertProtocolError(
      assemble([frame(0x1, utf8("Hel"), { fin: false })]),
      1006,
      /^Cannot assemble message: input ended inside a fragmented message$/,
    );
  });
});

describe("§5.5 control frames: MessageAssemblerStream", () => {
  const interleaved = [
    frame(0x1, utf8("Hel"), { fin: false }),
    frame(0x9, utf8("ping")),
    frame(0x0, utf8("l"), { fin: false }),
    frame(0xa, utf8("pong")),
    frame(0x0, utf8("o")),
    frame(0x8, hex("03 e8")),
  ];

  test("passes control frames, between fragments too, to onControlFrame in order", async () => {
    const seen: Frame[] = [];
    const messages = await assemble(interleaved, { onControlFrame: (control) => seen.push(control) });
    assert.deepEqual(messages, ["Hello"]);
    assert.equal(seen.length, 3);
    assert.equal(seen[0], interleaved[1]);
    assert.equal(seen[1], interleaved[3]);
    assert.equal(seen[2], interleaved[5]);
  });

  test("calls onControlFrame as the control frame arrives, while a message is in progress", async () => {
    const seen: number[] = [];
    const stream = new MessageAssemblerStream({ onControlFrame: (control) => seen.push(control.opcode) });
    const writer = stream.writable.getWriter();
    const reading = stream.readable.getReader().read();
    await writer.write(frame(0x1, utf8("Hel"), { fin: false }));
    await writer.write(frame(0x9, new Uint8Array(0)));
    assert.deepEqual(seen, [0x9]);
    await writer.write(frame(0x0, utf8("lo")));
    assert.deepEqual(await reading, { done: false, value: "Hello" });
  });

  test("drops control frames when there is no onControlFrame", async () => {
    assert.deepEqual(await assemble(interleaved), ["Hello"]);
  });

  test("errors with what onControlFrame throws", async () => {
    const failure = new Error("Application failed");
    const onControlFrame = () => {
      throw failure;
    };
    await assert.rejects(
      assemble([frame(0x9, new Uint8Array(0))], { onControlFrame }),
      (error) => error === failure,
    );
  });
});

describe("§8.1 UTF-8: MessageAssemblerStream", () => {
  test("rejects invalid UTF-8 in an unfragmented text message with 1007", async () => {
    await assertProtocolError(
      assemble([frame(0x1, hex("48 ff"))]),
      1007,
      /^Cannot decode message: invalid UTF-8 in text$/,
    );
  });

  test("rejects an overlong encoding and a UTF-16 surrogate with 1007", async () => {
    await assertProtocolError(assemble([frame(0x1, hex("c0 af"))]), 1007, /invalid UTF-8/);
    await assertProtocolError(assemble([frame(0x1, hex("ed a0 80"))]), 1007, /invalid UTF-8/);
  });

  test("accepts a code point split across fragments", async () => {
    const frames = [
      frame(0x1, hex("e2"), { fin: false }),
      frame(0x0, hex("82"), { fin: false }),
      frame(0x0, hex("ac")),
    ];
    assert.deepEqual(await assemble(frames), ["€"]);
  });

  test("rejects a message that ends inside a code point with 1007", async () => {
    const frames = [frame(0x1, hex("e2"), { fin: false }), frame(0x0, hex("82"))];
    await assertProtocolError(assemble(frames), 1007, /invalid UTF-8/);
  });

  test("rejects invalid UTF-8 in a first fragment with 1007 at that fragment, not at the end", async () => {
    // Were it found only at the end, the stream would end inside the message and error with 1006.
    await assertProtocolError(assemble([frame(0x1, hex("ff"), { fin: false })]), 1007, /invalid UTF-8/);
  });

  test("keeps a byte order mark at the start of a text message", async () => {
    assert.deepEqual(await assemble([frame(0x1, hex("ef bb bf 41"))]), ["\ufeffA"]);
  });

  test("does not validate binary messages as UTF-8", async () => {
    assert.deepEqual(await assemble([frame(0x2, hex("ff fe"))]), [hex("ff fe")]);
  });
});

describe("§10.4 size limits: MessageAssemblerStream", () => {
  test("accepts a message of exactly maxMessageSize", async () => {
    assert.deepEqual(await assemble([frame(0x1, utf8("Hello"))], { maxMessageSize: 5 }), ["Hello"]);
  });

  test("rejects an unfragmented message over maxMessageSize with 1009", async () => {
    await assertProtocolError(
      assemble([frame(0x2, new Uint8Array(6))], { maxMessageSize: 5 }),
      1009,
      /^Cannot assemble message: more than the limit of 5 bytes$/,
    );
  });

  test("rejects fragments that sum past maxMessageSize with 1009", async () => {
    const frames = [frame(0x1, utf8("Hel"), { fin: false }), frame(0x0, utf8("lo!"))];
    await assertProtocolError(
      assemble(frames, { maxMessageSize: 5 }),
      1009,
      /more than the limit of 5 bytes/,
    );
  });

  test("counts each message separately", async () => {
    const frames = [
      frame(0x1, utf8("Hel"), { fin: false }),
      frame(0x0, utf8("lo")),
      frame(0x1, utf8("World")),
    ];
    assert.deepEqual(await assemble(frames, { maxMessageSize: 5 }), ["Hello", "World"]);
  });
});

describe("§5.2 frames no layer decoded: MessageAssemblerStream", () => {
  test("rejects a data frame with RSV1, RSV2 or RSV3 set with 1002", async () => {
    for (const bit of [1, 2, 3] as const) {
      const item = frame(0x1, utf8("a"), { [`rsv${bit}`]: true });
      await assertProtocolError(
        assemble([item]),
        1002,
        new RegExp(`^Cannot assemble message: RSV${bit} is set$`),
      );
    }
  });

  test("rejects a control frame with RSV1 set with 1002 rather than passing it on", async () => {
    let called = false;
    await assertProtocolError(
      assemble([frame(0x9, new Uint8Array(0), { rsv1: true })], { onControlFrame: () => called = true }),
      1002,
      /RSV1 is set/,
    );
    assert.equal(called, false);
  });

  test("rejects the reserved opcodes 0x3 and 0xB with 1002", async () => {
    await assertProtocolError(
      assemble([frame(0x3, utf8("a"))]),
      1002,
      /^Cannot assemble message: opcode 0x3 is reserved$/,
    );
    await assertProtocolError(
      assemble([frame(0xb, utf8("a"))]),
      1002,
      /^Cannot assemble message: opcode 0xb is reserved$/,
    );
  });

  test("errors with a TypeError for an opcode that is not 4 bits", async () => {
    for (const opcode of [0x11, -1, 1.5]) {
      await assertRejectsWith(
        assemble([frame(opcode, utf8("a"))]),
        TypeError,
        /^Cannot assemble message: opcode .* is not in 0x0-0xF$/,
      );
    }
  });
});

describe("options: MessageAssemblerStream", () => {
  test("throws a RangeError for a maxMessageSize that is negative, NaN or over 2^53 - 1", () => {
    for (const maxMessageSize of [-1, NaN, 2 ** 53]) {
      assert.throws(() => new MessageAssemblerStream({ maxMessageSize }), {
        name: "RangeError",
        message: `Cannot create message assembler: maxMessageSize ${maxMessageSize} is out of range`,
      });
    }
  });

  test("throws a TypeError for an onControlFrame that is not a function", () => {
    const options = { onControlFrame: "log" } as unknown as MessageAssemblerStreamOptions;
    assert.throws(() => new MessageAssemblerStream(options), {
      name: "TypeError",
      message: "Cannot create message assembler: onControlFrame is not a function",
    });
  });

  test("accepts maxMessageSize 0, for empty messages only", async () => {
    assert.deepEqual(await assemble([frame(0x2, new Uint8Array(0))], { maxMessageSize: 0 }), [
      new Uint8Array(0),
    ]);
    await assertProtocolError(
      assemble([frame(0x2, new Uint8Array(1))], { maxMessageSize: 0 }),
      1009,
      /limit of 0 bytes/,
    );
  });
});
