import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isControlOpcode, isKnownOpcode, Opcode } from "../../lib/core/opcode.ts";

describe("§5.2 base framing: opcodes", () => {
  test("Opcode has the values RFC 6455 §5.2 assigns", () => {
    assert.deepEqual(
      { ...Opcode },
      { Continuation: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa },
    );
  });

  test("isKnownOpcode accepts 0x0-0x2 and 0x8-0xA", () => {
    for (const opcode of [0x0, 0x1, 0x2, 0x8, 0x9, 0xa]) {
      assert.equal(isKnownOpcode(opcode), true, `opcode 0x${opcode.toString(16)}`);
    }
  });

  test("isKnownOpcode rejects the reserved non-control opcodes 0x3-0x7", () => {
    for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7]) {
      assert.equal(isKnownOpcode(opcode), false, `opcode 0x${opcode.toString(16)}`);
    }
  });

  test("isKnownOpcode rejects the reserved control opcodes 0xB-0xF", () => {
    for (const opcode of [0xb, 0xc, 0xd, 0xe, 0xf]) {
      assert.equal(isKnownOpcode(opcode), false, `opcode 0x${opcode.toString(16)}`);
    }
  });

  test("exactly six of the sixteen opcodes are known", () => {
    const known = Array.from({ length: 16 }, (_, opcode) => opcode).filter(isKnownOpcode);
    assert.deepEqual(known, [0x0, 0x1, 0x2, 0x8, 0x9, 0xa]);
  });
});

describe("§5.5 control frames: opcodes with the most significant bit set", () => {
  test("isControlOpcode is true for 0x8-0xF, reserved ones included", () => {
    for (let opcode = 0x8; opcode <= 0xf; opcode++) {
      assert.equal(isControlOpcode(opcode), true, `opcode 0x${opcode.toString(16)}`);
    }
  });

  test("isControlOpcode is false for the data opcodes 0x0-0x7, reserved ones included", () => {
    for (let opcode = 0x0; opcode <= 0x7; opcode++) {
      assert.equal(isControlOpcode(opcode), false, `opcode 0x${opcode.toString(16)}`);
    }
  });

  test("Close, Ping and Pong are control opcodes; Continuation, Text and Binary are not", () => {
    assert.equal(isControlOpcode(Opcode.Close), true);
    assert.equal(isControlOpcode(Opcode.Ping), true);
    assert.equal(isControlOpcode(Opcode.Pong), true);
    assert.equal(isControlOpcode(Opcode.Continuation), false);
    assert.equal(isControlOpcode(Opcode.Text), false);
    assert.equal(isControlOpcode(Opcode.Binary), false);
  });
});
