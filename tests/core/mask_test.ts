import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { applyMask, writeMaskKey } from "../../lib/core/mask.ts";
import { wasmMasker } from "../../lib/core/mask_wasm.ts";
import { hex, pseudoRandomBytes } from "../_vectors.ts";

/** The RFC's definition, one octet at a time: octet i is XORed with key[(position + i) % 4]. */
function naiveMask(data: Uint8Array, key: Uint8Array, position: number): Uint8Array {
  const out = data.slice();
  for (let i = 0; i < out.length; i++) out[i] ^= key[(position + i) % 4];
  return out;
}

const KEYS = [hex("37 fa 21 3d"), hex("00 00 00 00"), hex("ff ff ff ff"), hex("01 02 04 80")];

describe("§5.3 client-to-server masking: applyMask", () => {
  test('applyMask unmasks the RFC 6455 §5.7 masked "Hello"', () => {
    const data = hex("7f 9f 4d 51 58");
    applyMask(data, hex("37 fa 21 3d"));
    assert.equal(new TextDecoder().decode(data), "Hello");
  });

  test("applyMask equals a byte-by-byte XOR for lengths 0-100, byteOffsets 0-7 and positions 0-3", () => {
    for (const key of KEYS) {
      for (let length = 0; length <= 100; length++) {
        for (let offset = 0; offset <= 7; offset++) {
          for (let position = 0; position <= 3; position++) {
            // A larger buffer with guard bytes on both sides: only data[0..length) may change.
            const buffer = pseudoRandomBytes(offset + length + 8, length * 131 + offset * 7 + position);
            const before = buffer.slice();
            const data = buffer.subarray(offset, offset + length);
            const expected = naiveMask(data, key, position);
            applyMask(data, key, position);
            const where = `key ${key.join(",")} length ${length} offset ${offset} position ${position}`;
            assert.deepEqual(data, expected, where);
            assert.deepEqual(
              buffer.subarray(0, offset),
              before.subarray(0, offset),
              `${where}: bytes before`,
            );
            assert.deepEqual(
              buffer.subarray(offset + length),
              before.subarray(offset + length),
              `${where}: bytes after`,
            );
          }
        }
      }
    }
  });

  test("applyMask equals a byte-by-byte XOR for large misaligned payloads", () => {
    const key = hex("a1 b2 c3 d4");
    for (const length of [1000, 4096, 4099, 65537]) {
      for (let offset = 0; offset <= 3; offset++) {
        for (let position = 0; position <= 3; position++) {
          const buffer = pseudoRandomBytes(offset + length + 4, length + offset + position);
          const data = buffer.subarray(offset, offset + length);
          const expected = naiveMask(data, key, position);
          applyMask(data, key, position);
          assert.deepEqual(data, expected, `length ${length} offset ${offset} position ${position}`);
        }
      }
    }
  });

  test("from 4 KiB, WebAssembly SIMD: equal to a byte-by-byte XOR across its 64-byte blocks and windows, at every offset modulo 16, bytes around untouched", () => {
    // Deno, Bun and Node all compile WebAssembly with SIMD: the masker exists on each (workerd has none).
    const mask = wasmMasker();
    assert.notEqual(mask, undefined);
    // Windows of 255 KiB, each XORed from 32 bytes past its offset modulo 16 in the module's memory.
    for (const length of [4095, 4096, 4097, 4159, 261_119, 261_120, 261_121, 262_144, 522_303, 1_048_576 + 3]) {
      for (const offset of [0, 1, 2, 3, 13, 14, 15, 16, 17]) {
        const position = (length + offset) & 3;
        const key = KEYS[(length + offset) % KEYS.length];
        const buffer = pseudoRandomBytes(offset + length + 70, length * 3 + offset);
        const before = buffer.slice();
        const data = buffer.subarray(offset, offset + length);
        const expected = naiveMask(data, key, position);
        applyMask(data, key, position);
        const where = `length ${length} offset ${offset} position ${position}`;
        assert.deepEqual(data, expected, where);
        assert.deepEqual(buffer.subarray(0, offset), before.subarray(0, offset), `${where}: bytes before`);
        assert.deepEqual(buffer.subarray(offset + length), before.subarray(offset + length), `${where}: bytes after`);
        const again = before.subarray(offset, offset + length).slice();
        mask!(again, key, position);
        assert.deepEqual(again, expected, `${where}: the masker called directly`);
      }
    }
  });

  test("applyMask with a key that is a misaligned view into a frame header", () => {
    const header = hex("82 a8 00 11 22 33 44"); // key at offset 3, after a stray byte
    const key = header.subarray(3, 7);
    const data = pseudoRandomBytes(40, 9);
    const expected = naiveMask(data, hex("11 22 33 44"), 0);
    applyMask(data, key);
    assert.deepEqual(data, expected);
    assert.deepEqual(header, hex("82 a8 00 11 22 33 44"), "the key is not modified");
  });

  test("masking twice with the same key and position restores the data", () => {
    for (const length of [0, 1, 3, 4, 5, 31, 32, 33, 100, 1000]) {
      for (let position = 0; position <= 3; position++) {
        const original = pseudoRandomBytes(length + 3, length);
        const data = original.slice().subarray(3);
        applyMask(data, hex("de ad be ef"), position);
        if (length >= 4) {
          assert.notDeepEqual(data, original.subarray(3), `length ${length}: masking changed it`);
        }
        applyMask(data, hex("de ad be ef"), position);
        assert.deepEqual(data, original.subarray(3), `length ${length} position ${position}`);
      }
    }
  });

  test("masking a payload piece by piece with positions equals masking it whole", () => {
    const key = hex("37 fa 21 3d");
    const original = pseudoRandomBytes(300, 42);
    const whole = original.slice();
    applyMask(whole, key);
    for (const cut of [1, 2, 3, 5, 33, 64, 150, 299]) {
      const pieces = original.slice();
      applyMask(pieces.subarray(0, cut), key, 0);
      applyMask(pieces.subarray(cut), key, cut);
      assert.deepEqual(pieces, whole, `cut at ${cut}`);
    }
  });
});

describe("§5.3 client-to-server masking: writeMaskKey", () => {
  test("writeMaskKey writes four bytes at the offset and nothing else", () => {
    const target = new Uint8Array(10).fill(0xaa);
    let changedElsewhere = false;
    let keyEverDiffers = false;
    for (let i = 0; i < 50; i++) {
      target.fill(0xaa);
      writeMaskKey(target, 3);
      if (target.subarray(0, 3).some((b) => b !== 0xaa) || target.subarray(7).some((b) => b !== 0xaa)) {
        changedElsewhere = true;
      }
      if (target.subarray(3, 7).some((b) => b !== 0xaa)) keyEverDiffers = true;
    }
    assert.equal(changedElsewhere, false);
    assert.equal(keyEverDiffers, true);
  });

  test("writeMaskKey gives unpredictable keys: 3000 keys, across pool refills, are nearly all distinct", () => {
    // §5.3: "the masking key MUST be derived from a strong source of entropy". 3000 keys span three
    // refills of the 1024-key pool. Random 32-bit keys collide with probability about 0.001 here.
    const seen = new Set<number>();
    const key = new Uint8Array(4);
    for (let i = 0; i < 3000; i++) {
      writeMaskKey(key, 0);
      seen.add(new DataView(key.buffer).getUint32(0));
    }
    assert.ok(seen.size >= 2990, `${seen.size} distinct keys of 3000`);
  });

  test("writeMaskKey keys use every bit: each of the 32 bits is both 0 and 1 across 200 keys", () => {
    let ones = 0, zeros = 0;
    const key = new Uint8Array(4);
    for (let i = 0; i < 200; i++) {
      writeMaskKey(key, 0);
      const word = new DataView(key.buffer).getUint32(0);
      ones |= word;
      zeros |= ~word;
    }
    assert.equal(ones >>> 0, 0xffffffff);
    assert.equal(zeros >>> 0, 0xffffffff);
  });
});
