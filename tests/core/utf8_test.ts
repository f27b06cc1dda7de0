import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CloseCode } from "../../lib/core/close_code.ts";
import type { Frame } from "../../lib/core/frame.ts";
import { MessageAssembler } from "../../lib/core/message_assembler.ts";
import { ProtocolError } from "../../lib/core/protocol_error.ts";
import { isUtf8 as nativeIsUtf8 } from "node:buffer";
import { ASCII_CHECK_MIN, encodeText, isAscii, isUtf8, surelyUtf8, useNativeUtf8Check } from "../../lib/core/utf8.ts";

const encoder = new TextEncoder();

describe("isAscii", () => {
  test("finds a byte >= 0x80 at every position, at every alignment, for lengths 0..200", () => {
    const backing = new Uint8Array(260).fill(0x61);
    for (let offset = 0; offset < 4; offset++) {
      for (let length = 0; length <= 200; length++) {
        const view = backing.subarray(offset, offset + length);
        assert.equal(isAscii(view), true, `offset ${offset}, length ${length}`);
        for (let at = 0; at < length; at++) {
          view[at] = 0x80 | (at & 0x7f);
          assert.equal(isAscii(view), false, `offset ${offset}, length ${length}, high byte at ${at}`);
          view[at] = 0x61;
        }
      }
    }
  });
});

describe("encodeText", () => {
  const cases = [
    "",
    "a",
    "x".repeat(1023),
    "x".repeat(1024),
    "x".repeat(70_000),
    "x".repeat(2000) + "é",
    "é".repeat(3000),
    "😀".repeat(1500),
    "a".repeat(1500) + "\ud800" + "b", // a lone surrogate becomes U+FFFD, as with TextEncoder
    "a".repeat(1500) + "\udfff",
    "mixed ✓ ünïcödé 😀 text ".repeat(300),
  ];
  for (const text of cases) {
    test(`equals TextEncoder.encode for ${text.length} code units starting ${JSON.stringify(text.slice(0, 8))}`, () => {
      assert.deepEqual(encodeText(text), encoder.encode(text));
    });
  }
});

describe("MessageAssembler with the ASCII fast path", () => {
  const frame = (opcode: number, payload: Uint8Array, fin: boolean): Frame => ({ fin, rsv1: false, rsv2: false, rsv3: false, opcode, payload });
  const ascii = encoder.encode("a".repeat(ASCII_CHECK_MIN + 10));

  test("a long ASCII message, whole and in fragments, decodes the same", () => {
    assert.equal(new MessageAssembler().push(frame(1, ascii, true)), "a".repeat(ASCII_CHECK_MIN + 10));
    const a = new MessageAssembler();
    assert.equal(a.push(frame(1, ascii, false)), undefined);
    assert.equal(a.push(frame(0, ascii, true)), "a".repeat(2 * (ASCII_CHECK_MIN + 10)));
  });

  test("a character split across fragments after long ASCII fragments is valid (§8.1)", () => {
    const euro = encoder.encode("€"); // e2 82 ac
    const a = new MessageAssembler();
    assert.equal(a.push(frame(1, ascii, false)), undefined);
    assert.equal(a.push(frame(0, new Uint8Array([...ascii.subarray(0, 5), euro[0]]), false)), undefined);
    // The fatal decoder now holds part of a character: the next long ASCII-looking piece must go through it.
    assert.equal(a.push(frame(0, new Uint8Array([euro[1], euro[2], ...ascii]), true)), "a".repeat(ASCII_CHECK_MIN + 10) + "aaaaa€" + "a".repeat(ASCII_CHECK_MIN + 10));
  });

  test("invalid UTF-8 after long ASCII fragments still fails with 1007", () => {
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const a = new MessageAssembler();
      a.push(frame(1, ascii, false));
      assert.throws(
        () => {
          a.push(frame(0, new Uint8Array(bad), false));
          a.push(frame(0, ascii, true)); // ends the message: an unfinished character fails here
        },
        (error: unknown) => error instanceof ProtocolError && error.code === CloseCode.InvalidPayloadData,
        `bytes ${bad.join(",")}`,
      );
    }
  });

  test("a message ending inside a character after an ASCII start fails with 1007", () => {
    const a = new MessageAssembler();
    a.push(frame(1, ascii, false));
    assert.throws(() => a.push(frame(0, new Uint8Array([0xe2, 0x82]), true)), (e: unknown) => e instanceof ProtocolError && e.code === 1007);
  });
});

describe("isUtf8 and surelyUtf8, with and without the runtime's own check", () => {
  const cases: [string, Uint8Array, boolean][] = [
    ["long ASCII", new TextEncoder().encode("a".repeat(300)), true],
    ["long 2-byte text", new TextEncoder().encode("é".repeat(200)), true],
    ["long text cut inside a character", new TextEncoder().encode("é".repeat(200)).subarray(0, 399), false],
    ["a surrogate after long ASCII", Uint8Array.from([...new TextEncoder().encode("a".repeat(200)), 0xed, 0xa0, 0x80]), false],
    ["an overlong after long ASCII", Uint8Array.from([...new TextEncoder().encode("a".repeat(200)), 0xc0, 0xaf]), false],
    ["short 4-byte character", Uint8Array.of(0xf0, 0x9f, 0x98, 0x80), true],
    ["short lone continuation", Uint8Array.of(0x80), false],
  ];
  for (const native of [false, true]) {
    test(`isUtf8 ${native ? "with" : "without"} node:buffer's isUtf8 installed answers every case, and surelyUtf8 is never true for invalid bytes`, () => {
      useNativeUtf8Check(native ? nativeIsUtf8 : undefined);
      try {
        for (const [name, bytes, valid] of cases) {
          assert.equal(isUtf8(bytes), valid, name);
          if (!valid) assert.equal(surelyUtf8(bytes), false, `${name}: surelyUtf8`);
        }
        // Without the native check, only ASCII is sure; with it, long valid text is too.
        assert.equal(surelyUtf8(cases[1][1]), native);
      } finally {
        useNativeUtf8Check(undefined);
      }
    });
  }
});
