import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Frame } from "../../lib/core/frame.ts";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../../lib/core/frame_parser.ts";
import { MessageAssembler } from "../../lib/core/message_assembler.ts";
import { ProtocolError } from "../../lib/core/protocol_error.ts";
import { isUtf8 as nativeIsUtf8 } from "node:buffer";
import { useNativeUtf8Check } from "../../lib/core/utf8.ts";
import { concatBytes, hex } from "../_vectors.ts";

const TEXT = 0x1, BINARY = 0x2, CONTINUATION = 0x0;
const text = (s: string) => new TextEncoder().encode(s);

function frame(opcode: number, payload: Uint8Array, fin = true): Frame {
  return { fin, rsv1: false, rsv2: false, rsv3: false, opcode, payload };
}

/** Splits `bytes` into fragments at the given offsets: first a Text/Binary frame, then continuations. */
function fragments(opcode: number, bytes: Uint8Array, cuts: number[]): Frame[] {
  const bounds = [0, ...cuts, bytes.length];
  const out: Frame[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const last = i + 2 === bounds.length;
    out.push(frame(i === 0 ? opcode : CONTINUATION, bytes.slice(bounds[i], bounds[i + 1]), last));
  }
  return out;
}

/** Pushes the frames, expecting a message only from the last. */
function assemble(frames: Frame[], assembler = new MessageAssembler()): string | Uint8Array {
  for (let i = 0; i < frames.length - 1; i++) {
    assert.equal(assembler.push(frames[i]), undefined, `fragment ${i} ends no message`);
    assert.equal(assembler.inProgress, true);
  }
  const message = assembler.push(frames[frames.length - 1]);
  assert.ok(message !== undefined, "the last fragment ends the message");
  assert.equal(assembler.inProgress, false);
  return message;
}

function assertProtocolError(fn: () => unknown, code: number, cause: RegExp, where = ""): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `${where}: expected a ProtocolError, got ${error}`);
    assert.equal(error.code, code, `${where}: close code`);
    assert.match(error.message, cause, `${where}: message`);
    return true;
  }, where);
}

// Valid UTF-8 (Autobahn 6.2-6.5, 6.7, 6.11 and the boundary cases of 6.6-6.9).
const VALID: [string, string, string][] = [
  ["empty", "", ""],
  [
    "Autobahn 6.2.1",
    "48 65 6c 6c 6f 2d c2 b5 40 c3 9f c3 b6 c3 a4 c3 bc c3 a0 c3 a1 2d 55 54 46 2d 38 21 21",
    "Hello-µ@ßöäüàá-UTF-8!!",
  ],
  ["κόσμε", "ce ba e1 bd b9 cf 83 ce bc ce b5", "\u03ba\u1f79\u03c3\u03bc\u03b5"],
  ["U+0000", "00", "\u0000"],
  ["U+007F", "7f", "\u007f"],
  ["U+0080, first 2-byte", "c2 80", "\u0080"],
  ["U+07FF, last 2-byte", "df bf", "\u07ff"],
  ["U+0800, first 3-byte", "e0 a0 80", "\u0800"],
  ["U+D7FF, before the surrogates", "ed 9f bf", "\ud7ff"],
  ["U+E000, after the surrogates", "ee 80 80", "\ue000"],
  ["U+FFFD", "ef bf bd", "\ufffd"],
  ["U+FFFE, a noncharacter", "ef bf be", "\ufffe"],
  ["U+FFFF, last 3-byte", "ef bf bf", "\uffff"],
  ["U+FEFF, a BOM, kept", "ef bb bf 61", "\ufeffa"],
  ["U+10000, first 4-byte", "f0 90 80 80", "\u{10000}"],
  ["U+1F600", "f0 9f 98 80", "\u{1f600}"],
  ["U+10FFFF, last code point", "f4 8f bf bf", "\u{10ffff}"],
  ["mixed widths", "61 c2 80 e0 a0 80 f0 90 80 80 f4 8f bf bf 7a", "a\u0080\u0800\u{10000}\u{10ffff}z"],
];

// Invalid UTF-8 (Autobahn 6.3, 6.6, 6.8, 6.10, 6.12-6.21). failAt: how many bytes prove it invalid (a
// validating decoder fails on that byte); Infinity for a sequence cut short by the end of the message.
const INVALID: [string, string, number][] = [
  ["overlong / (2 bytes)", "c0 af", 1],
  ["overlong / (3 bytes)", "e0 80 af", 2],
  ["overlong / (4 bytes)", "f0 80 80 af", 2],
  ["overlong NUL", "c0 80", 1],
  ["largest overlong 2-byte", "c1 bf", 1],
  ["largest overlong 3-byte", "e0 9f bf", 2],
  ["largest overlong 4-byte", "f0 8f bf bf", 2],
  ["5-byte sequence", "f8 88 80 80 80", 1],
  ["6-byte sequence", "fc 84 80 80 80 80", 1],
  ["surrogate U+D800", "ed a0 80", 2],
  ["surrogate U+DFFF", "ed bf bf", 2],
  ["surrogate pair U+D800 U+DC00", "ed a0 80 ed b0 80", 2],
  ["U+110000, above U+10FFFF", "f4 90 80 80", 2],
  ["byte F5", "f5 80 80 80", 1],
  ["byte FE", "fe", 1],
  ["byte FF", "ff", 1],
  ["lone continuation byte 80", "80", 1],
  ["lone continuation byte BF", "61 bf", 2],
  ["2-byte lead followed by ASCII", "c2 41", 2],
  [
    'Autobahn 6.3.1: κόσμε, a surrogate, "edited"',
    "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64",
    13,
  ],
  ["truncated 2-byte at the end", "ce", Infinity],
  ["truncated 3-byte at the end", "ce ba e1 bd", Infinity],
  ["truncated 4-byte at the end", "61 f0 90 80", Infinity],
  ["truncated U+10FFFF at the end", "f4 8f bf", Infinity],
];

describe("§5.4 fragmentation", () => {
  test("MessageAssembler returns an unfragmented text message as a string", () => {
    const assembler = new MessageAssembler();
    assert.equal(assembler.push(frame(TEXT, text("Hello"))), "Hello");
    assert.equal(assembler.inProgress, false);
  });

  test("MessageAssembler returns an unfragmented binary message as the payload itself, uncopied", () => {
    const payload = hex("00 ff 80 7f");
    const message = new MessageAssembler().push(frame(BINARY, payload));
    assert.equal(message, payload);
  });

  test("MessageAssembler returns empty text and binary messages", () => {
    const assembler = new MessageAssembler();
    assert.equal(assembler.push(frame(TEXT, new Uint8Array(0))), "");
    assert.deepEqual(assembler.push(frame(BINARY, new Uint8Array(0))), new Uint8Array(0));
  });

  test('MessageAssembler joins a text message in two fragments (§5.7 "Hel" + "lo")', () => {
    assert.equal(assemble([frame(TEXT, text("Hel"), false), frame(CONTINUATION, text("lo"))]), "Hello");
  });

  test("MessageAssembler joins a binary message in two fragments", () => {
    const message = assemble([frame(BINARY, hex("01 02"), false), frame(CONTINUATION, hex("03"))]);
    assert.deepEqual(message, hex("01 02 03"));
  });

  test("MessageAssembler joins text and binary messages in many fragments, each of one byte", () => {
    const sentence = "fragmented into single bytes";
    const bytes = text(sentence);
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    assert.equal(assemble(fragments(TEXT, bytes, cuts)), sentence);
    assert.deepEqual(assemble(fragments(BINARY, bytes, cuts)), bytes);
  });

  test("MessageAssembler joins messages split into fragments at every offset", () => {
    const bytes = text("The quick brown fox");
    for (let i = 0; i <= bytes.length; i++) {
      assert.equal(assemble(fragments(TEXT, bytes, [i])), "The quick brown fox", `cut at ${i}`);
      assert.deepEqual(assemble(fragments(BINARY, bytes, [i])), bytes, `cut at ${i}`);
    }
  });

  test("MessageAssembler joins a message with empty fragments, first, middle and last", () => {
    const frames = [
      frame(TEXT, new Uint8Array(0), false),
      frame(CONTINUATION, text("a"), false),
      frame(CONTINUATION, new Uint8Array(0), false),
      frame(CONTINUATION, text("b"), false),
      frame(CONTINUATION, new Uint8Array(0), true),
    ];
    assert.equal(assemble(frames), "ab");
    assert.equal(
      assemble([frame(BINARY, new Uint8Array(0), false), frame(CONTINUATION, new Uint8Array(0))]).length,
      0,
    );
  });

  test("MessageAssembler starts afresh after each message", () => {
    const assembler = new MessageAssembler();
    assert.equal(
      assemble([frame(TEXT, text("one "), false), frame(CONTINUATION, text("1"))], assembler),
      "one 1",
    );
    assert.deepEqual(
      assemble([frame(BINARY, hex("02"), false), frame(CONTINUATION, hex("03"))], assembler),
      hex("02 03"),
    );
    assert.equal(assembler.push(frame(TEXT, text("three"))), "three");
    assert.equal(
      assemble([frame(TEXT, text("fo"), false), frame(CONTINUATION, text("ur"))], assembler),
      "four",
    );
  });

  test("MessageAssembler rejects a continuation with nothing to continue with 1002", () => {
    // Autobahn 5.9-5.14: "continuation frame without a message to continue".
    for (const fin of [true, false]) {
      assertProtocolError(
        () => new MessageAssembler().push(frame(CONTINUATION, text("x"), fin)),
        1002,
        /continuation frame without a message to continue/,
        `FIN ${fin}`,
      );
    }
  });

  test("MessageAssembler rejects a continuation after a fragmented message has ended with 1002", () => {
    // Autobahn 5.15: text fin=0, continuation fin=1, continuation fin=0, text fin=1.
    const assembler = new MessageAssembler();
    assemble([frame(TEXT, text("fragment1"), false), frame(CONTINUATION, text("fragment2"))], assembler);
    assertProtocolError(
      () => assembler.push(frame(CONTINUATION, text("fragment3"), false)),
      1002,
      /continuation/,
    );
  });

  for (const [kind, opcode] of [["text", TEXT], ["binary", BINARY]] as const) {
    for (const [current, currentOpcode] of [["text", TEXT], ["binary", BINARY]] as const) {
      test(`MessageAssembler rejects a new ${kind} frame within a fragmented ${current} message with 1002`, () => {
        // Autobahn 5.18: §5.4: "the fragments of one message MUST NOT be interleaved".
        for (const fin of [true, false]) {
          const assembler = new MessageAssembler();
          assembler.push(frame(currentOpcode, text("fragment1"), false));
          assertProtocolError(
            () => assembler.push(frame(opcode, text("fragment2"), fin)),
            1002,
            /new data frame while a fragmented message is in progress/,
            `FIN ${fin}`,
          );
        }
      });
    }
  }
});

describe("§8.1 UTF-8 in text messages", () => {
  for (const [name, bytesHex, expected] of VALID) {
    test(`MessageAssembler accepts ${name} in one frame`, () => {
      assert.equal(new MessageAssembler().push(frame(TEXT, hex(bytesHex))), expected);
    });

    test(`MessageAssembler accepts ${name} split into two fragments at every offset`, () => {
      const bytes = hex(bytesHex);
      for (let i = 0; i <= bytes.length; i++) {
        assert.equal(assemble(fragments(TEXT, bytes, [i])), expected, `cut at ${i}`);
      }
    });

    test(`MessageAssembler accepts ${name} split into three fragments at every pair of offsets`, () => {
      const bytes = hex(bytesHex);
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          assert.equal(assemble(fragments(TEXT, bytes, [i, j])), expected, `cuts at ${i} and ${j}`);
        }
      }
    });

    test(`MessageAssembler accepts ${name} in one-byte fragments`, () => {
      const bytes = hex(bytesHex);
      const cuts = Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1);
      assert.equal(assemble(fragments(TEXT, bytes, cuts)), expected);
    });

    test(`MessageAssembler accepts ${name} in one frame whose payload is checked piece by piece`, () => {
      // pushPartial receives the pieces of one frame, then push receives the whole frame.
      const bytes = hex(bytesHex);
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          const assembler = new MessageAssembler();
          assembler.pushPartial(TEXT, bytes.subarray(0, i));
          assembler.pushPartial(TEXT, bytes.subarray(i, j));
          assert.equal(assembler.inProgress, true);
          assert.equal(assembler.push(frame(TEXT, bytes)), expected, `pieces cut at ${i} and ${j}`);
          assert.equal(assembler.inProgress, false);
        }
      }
    });
  }

  for (const [name, bytesHex, failAt] of INVALID) {
    test(`MessageAssembler rejects ${name} in one frame with 1007`, () => {
      assertProtocolError(
        () => new MessageAssembler().push(frame(TEXT, hex(bytesHex))),
        1007,
        /invalid UTF-8/,
      );
    });

    test(`MessageAssembler rejects ${name} split into two fragments at every offset with 1007`, () => {
      const bytes = hex(bytesHex);
      for (let i = 0; i <= bytes.length; i++) {
        const assembler = new MessageAssembler();
        const [first, second] = fragments(TEXT, bytes, [i]);
        // The first fragment fails only if it holds the byte that proves the sequence invalid.
        if (i >= failAt) {
          assertProtocolError(
            () => assembler.push(first),
            1007,
            /invalid UTF-8/,
            `cut at ${i}, first fragment`,
          );
        } else {
          assert.equal(assembler.push(first), undefined, `cut at ${i}`);
          assertProtocolError(
            () => assembler.push(second),
            1007,
            /invalid UTF-8/,
            `cut at ${i}, second fragment`,
          );
        }
      }
    });

    test(`MessageAssembler rejects ${name} in one-byte fragments as soon as the proving byte arrives`, () => {
      const bytes = hex(bytesHex);
      const frames = [
        ...fragments(TEXT, bytes, Array.from({ length: bytes.length }, (_, i) => i + 1)).map((f) => ({
          ...f,
          fin: false,
        })),
        frame(CONTINUATION, new Uint8Array(0), true),
      ];
      const assembler = new MessageAssembler();
      const failing = Number.isFinite(failAt) ? failAt - 1 : frames.length - 1;
      for (let i = 0; i < failing; i++) assert.equal(assembler.push(frames[i]), undefined, `fragment ${i}`);
      assertProtocolError(
        () => assembler.push(frames[failing]),
        1007,
        /invalid UTF-8/,
        `fragment ${failing}`,
      );
    });

    test(`MessageAssembler rejects ${name} checked piece by piece as soon as the proving byte arrives`, () => {
      const bytes = hex(bytesHex);
      const assembler = new MessageAssembler();
      const pieces = Number.isFinite(failAt) ? failAt : bytes.length;
      for (let i = 0; i < pieces - 1; i++) assembler.pushPartial(TEXT, bytes.subarray(i, i + 1));
      if (Number.isFinite(failAt)) {
        assertProtocolError(
          () => assembler.pushPartial(TEXT, bytes.subarray(failAt - 1, failAt)),
          1007,
          /invalid UTF-8/,
        );
      } else {
        assembler.pushPartial(TEXT, bytes.subarray(pieces - 1));
        assertProtocolError(() => assembler.push(frame(TEXT, bytes)), 1007, /invalid UTF-8/);
      }
    });
  }

  test("MessageAssembler rejects each of the bytes C0, C1 and F5-FF with 1007 as soon as it arrives", () => {
    // These bytes never appear in UTF-8: C0/C1 only start overlong forms, F5-FF start code points over
    // U+10FFFF or sequences longer than 4 bytes.
    for (const byte of [0xc0, 0xc1, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff]) {
      const where = `byte ${byte.toString(16)}`;
      assertProtocolError(
        () => new MessageAssembler().push(frame(TEXT, Uint8Array.of(byte))),
        1007,
        /invalid UTF-8/,
        where,
      );
      assertProtocolError(
        () => new MessageAssembler().push(frame(TEXT, Uint8Array.of(0x61, byte, 0x80, 0x80, 0x80), false)),
        1007,
        /invalid UTF-8/,
        `${where}, unfinished message`,
      );
      const assembler = new MessageAssembler();
      assembler.pushPartial(TEXT, text("ok"));
      assertProtocolError(
        () => assembler.pushPartial(TEXT, Uint8Array.of(byte)),
        1007,
        /invalid UTF-8/,
        `${where}, piece`,
      );
    }
  });

  test("MessageAssembler fails a 3-fragment text message on the 2nd fragment when it holds invalid UTF-8", () => {
    // Fail fast (Autobahn 6.4.x): the connection fails before the 3rd fragment arrives.
    for (const [name, bytesHex, failAt] of INVALID) {
      if (!Number.isFinite(failAt)) continue;
      const assembler = new MessageAssembler();
      assert.equal(assembler.push(frame(TEXT, text("κόσμε"), false)), undefined, name);
      const middle = concatBytes([text("ab"), hex(bytesHex), text("cd")]);
      assertProtocolError(
        () => assembler.push(frame(CONTINUATION, middle, false)),
        1007,
        /invalid UTF-8/,
        name,
      );
    }
  });

  test("MessageAssembler fails one frame on the 2nd of 3 pieces when that piece holds invalid UTF-8", () => {
    // Fail fast within a frame (Autobahn 6.4.3/6.4.4): pushPartial checks the payload as it arrives.
    for (const [name, bytesHex, failAt] of INVALID) {
      if (!Number.isFinite(failAt)) continue;
      const assembler = new MessageAssembler();
      assembler.pushPartial(TEXT, text("κόσμε"));
      assertProtocolError(() => assembler.pushPartial(TEXT, hex(bytesHex)), 1007, /invalid UTF-8/, name);
    }
  });

  test("MessageAssembler fails one frame on the 2nd piece when an invalid sequence starts in the 1st", () => {
    const assembler = new MessageAssembler();
    assembler.pushPartial(TEXT, hex("ce ba e1 bd b9 ed"));
    assertProtocolError(() => assembler.pushPartial(TEXT, hex("a0 80 65")), 1007, /invalid UTF-8/);
  });

  test("MessageAssembler fails a continuation frame's pieces with 1007 in a fragmented message", () => {
    const assembler = new MessageAssembler();
    assembler.push(frame(TEXT, text("ok"), false));
    assembler.pushPartial(CONTINUATION, text("still ok"));
    assertProtocolError(() => assembler.pushPartial(CONTINUATION, hex("f4 90 80 80")), 1007, /invalid UTF-8/);
  });

  test("MessageAssembler checks a fragmented message's continuation piece by piece and joins it", () => {
    const assembler = new MessageAssembler();
    assert.equal(assembler.push(frame(TEXT, hex("f0 9f"), false)), undefined);
    const second = hex("98 80 ce ba e1");
    assembler.pushPartial(CONTINUATION, second.subarray(0, 3));
    assembler.pushPartial(CONTINUATION, second.subarray(3));
    assert.equal(assembler.push(frame(CONTINUATION, second, false)), undefined);
    assert.equal(assembler.push(frame(CONTINUATION, hex("bd b9"))), "\u{1f600}\u03ba\u1f79");
  });

  test("MessageAssembler does not check binary payloads as UTF-8", () => {
    const payload = hex("ed a0 80 ff fe c0 af");
    assert.deepEqual(new MessageAssembler().push(frame(BINARY, payload)), payload);
    const assembler = new MessageAssembler();
    assembler.pushPartial(BINARY, payload.subarray(0, 3));
    assembler.pushPartial(BINARY, payload.subarray(3));
    assert.deepEqual(assembler.push(frame(BINARY, payload)), payload);
    assert.deepEqual(assemble(fragments(BINARY, payload, [1, 4])), payload);
  });

  test("MessageAssembler rejects a partial continuation with nothing to continue with 1002", () => {
    assertProtocolError(
      () => new MessageAssembler().pushPartial(CONTINUATION, text("x")),
      1002,
      /continuation/,
    );
  });

  test("MessageAssembler rejects a partial new text frame within a fragmented message with 1002", () => {
    const assembler = new MessageAssembler();
    assembler.push(frame(BINARY, hex("01"), false));
    assertProtocolError(() => assembler.pushPartial(TEXT, text("x")), 1002, /new data frame/);
  });

  test("MessageAssembler decodes a message after a message that ended on a code point boundary", () => {
    const assembler = new MessageAssembler();
    assemble([frame(TEXT, hex("ce"), false), frame(CONTINUATION, hex("ba"))], assembler);
    assert.equal(assembler.push(frame(TEXT, hex("ce bc"))), "μ");
  });
});

describe("§10.4 message size limit", () => {
  test("MessageAssembler uses a 16 MiB limit by default", () => {
    assert.equal(new MessageAssembler().maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    assert.equal(new MessageAssembler().remaining, 16 * 1024 * 1024);
  });

  test("MessageAssembler rejects an unfragmented message over the limit with 1009", () => {
    for (const opcode of [TEXT, BINARY]) {
      const assembler = new MessageAssembler({ maxMessageSize: 10 });
      assertProtocolError(
        () => assembler.push(frame(opcode, text("01234567890"))),
        1009,
        /limit of 10 bytes/,
      );
    }
  });

  test("MessageAssembler accepts a message exactly at the limit, whole and in fragments", () => {
    const assembler = new MessageAssembler({ maxMessageSize: 10 });
    assert.equal(assembler.push(frame(TEXT, text("0123456789"))), "0123456789");
    assert.equal(assemble(fragments(TEXT, text("0123456789"), [3, 7]), assembler), "0123456789");
    assert.equal(assemble(fragments(BINARY, text("0123456789"), [5]), assembler).length, 10);
  });

  test("MessageAssembler rejects fragments whose sum exceeds the limit with 1009", () => {
    for (const opcode of [TEXT, BINARY]) {
      const assembler = new MessageAssembler({ maxMessageSize: 10 });
      assert.equal(assembler.push(frame(opcode, text("01234"), false)), undefined);
      assert.equal(assembler.remaining, 5);
      assert.equal(assembler.push(frame(CONTINUATION, text("5678"), false)), undefined);
      assert.equal(assembler.remaining, 1);
      assertProtocolError(
        () => assembler.push(frame(CONTINUATION, text("9a"), true)),
        1009,
        /limit of 10 bytes/,
      );
    }
  });

  test("MessageAssembler.remaining returns to the whole limit after a message", () => {
    const assembler = new MessageAssembler({ maxMessageSize: 10 });
    assemble(fragments(BINARY, text("012345"), [2]), assembler);
    assert.equal(assembler.remaining, 10);
  });
});

describe("textAsBytes: text handed out as its UTF-8 bytes, validated all the same (§8.1)", () => {
  const bytesMode = () => new MessageAssembler({ textAsBytes: true });

  for (const [name, bytesHex] of VALID) {
    test(`MessageAssembler({ textAsBytes }) hands out ${name} as its bytes, whole, in two and three fragments at every offset, and checked piece by piece`, () => {
      const bytes = hex(bytesHex);
      assert.deepEqual(bytesMode().push(frame(TEXT, bytes)), bytes, "one frame");
      for (let i = 0; i <= bytes.length; i++) {
        for (let j = i; j <= bytes.length; j++) {
          assert.deepEqual(assemble(fragments(TEXT, bytes, [i, j]), bytesMode()), bytes, `cuts at ${i} and ${j}`);
          const assembler = bytesMode();
          assembler.pushPartial(TEXT, bytes.subarray(0, i));
          assembler.pushPartial(TEXT, bytes.subarray(i, j));
          assert.equal(assembler.decodingPartial, false, "the frame's bytes are still needed");
          assert.deepEqual(assembler.push(frame(TEXT, bytes)), bytes, `pieces cut at ${i} and ${j}`);
        }
      }
    });
  }

  for (const [name, bytesHex, failAt] of INVALID) {
    test(`MessageAssembler({ textAsBytes }) rejects ${name} with 1007, whole and split at every offset, as soon as a fragment proves it`, () => {
      const bytes = hex(bytesHex);
      assertProtocolError(() => bytesMode().push(frame(TEXT, bytes)), 1007, /invalid UTF-8/, "one frame");
      for (let i = 0; i <= bytes.length; i++) {
        const assembler = bytesMode();
        const [first, second] = fragments(TEXT, bytes, [i]);
        if (i >= failAt) {
          assertProtocolError(() => assembler.push(first), 1007, /invalid UTF-8/, `cut at ${i}, first fragment`);
        } else {
          assert.equal(assembler.push(first), undefined, `cut at ${i}`);
          assertProtocolError(() => assembler.push(second), 1007, /invalid UTF-8/, `cut at ${i}, second fragment`);
        }
      }
    });
  }

  test("MessageAssembler({ textAsBytes }) checks long ASCII a word at a time and still finds one bad byte at any place", () => {
    const ascii = text("x".repeat(2000));
    assert.deepEqual(bytesMode().push(frame(TEXT, ascii)), ascii);
    for (const at of [0, 1, 63, 64, 999, 1999]) {
      const bad = ascii.slice();
      bad[at] = 0xff;
      assertProtocolError(() => bytesMode().push(frame(TEXT, bad)), 1007, /invalid UTF-8/, `0xff at ${at}`);
    }
  });

  test("MessageAssembler({ textAsBytes }) rejects a character cut short by an ASCII fragment, and accepts one completed across three", () => {
    const head = text("a".repeat(100));
    const assembler = bytesMode();
    assert.equal(assembler.push(frame(TEXT, concatBytes([head, hex("f0 90")]), false)), undefined);
    assertProtocolError(() => assembler.push(frame(CONTINUATION, text("b".repeat(100)))), 1007, /invalid UTF-8/);
    const whole = concatBytes([head, hex("f0 90 80 80"), text("b".repeat(100))]);
    assert.deepEqual(assemble(fragments(TEXT, whole, [101, 103]), bytesMode()), whole);
  });

  test("MessageAssembler({ textAsBytes }) leaves binary messages and the size limit (1009) as they are", () => {
    const payload = hex("ff fe 00");
    assert.deepEqual(bytesMode().push(frame(BINARY, payload)), payload);
    const small = new MessageAssembler({ textAsBytes: true, maxMessageSize: 4 });
    assert.equal(small.push(frame(TEXT, text("abc"), false)), undefined);
    assertProtocolError(() => small.push(frame(CONTINUATION, text("de"))), 1009, /limit of 4 bytes/);
  });
});

describe("textAsBytes with the runtime's own UTF-8 check installed (what the node: adapters do)", () => {
  const bytesMode = () => new MessageAssembler({ textAsBytes: true });
  // Long enough for the native check (128 bytes and more): ASCII padding before and after the vector.
  const pad = text("p".repeat(150));
  const padded = (bytesHex: string) => concatBytes([pad, hex(bytesHex), pad]);

  test("every valid vector, padded past 128 bytes, is handed out whole and in two fragments at every offset", () => {
    useNativeUtf8Check(nativeIsUtf8);
    try {
      for (const [name, bytesHex] of VALID) {
        const bytes = padded(bytesHex);
        assert.deepEqual(bytesMode().push(frame(TEXT, bytes)), bytes, name);
        for (let i = 140; i <= bytes.length - 140; i++) {
          assert.deepEqual(assemble(fragments(TEXT, bytes, [i]), bytesMode()), bytes, `${name}: cut at ${i}`);
        }
      }
    } finally {
      useNativeUtf8Check(undefined);
    }
  });

  test("every invalid vector, padded past 128 bytes, fails with 1007 whole and in two fragments at every offset", () => {
    useNativeUtf8Check(nativeIsUtf8);
    try {
      for (const [name, bytesHex] of INVALID) {
        // A sequence cut short by the end of the message stays at the end.
        const bytes = concatBytes([pad, hex(bytesHex)]);
        assertProtocolError(() => bytesMode().push(frame(TEXT, bytes)), 1007, /invalid UTF-8/, name);
        for (let i = 140; i <= bytes.length; i++) {
          const assembler = bytesMode();
          const [first, second] = fragments(TEXT, bytes, [i]);
          let failed = false;
          try {
            assembler.push(first);
            assembler.push(second);
          } catch (error) {
            failed = error instanceof ProtocolError && error.code === 1007;
          }
          assert.ok(failed, `${name}: cut at ${i} fails with 1007`);
        }
      }
    } finally {
      useNativeUtf8Check(undefined);
    }
  });
});
