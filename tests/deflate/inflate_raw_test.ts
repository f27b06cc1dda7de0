/**
 * lib/deflate/_inflate_raw.ts, the decoder of the shipped zlib module: the module inflates to its recorded
 * size and sha256, and streams from node:zlib (stored, fixed and dynamic blocks, every level, windows
 * up to 32 KiB, sizes across a stored block's 65,535 bytes) inflate to what was deflated; corrupt or
 * wrongly sized streams throw.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import { inflateRaw } from "../../lib/deflate/_inflate_raw.ts";
import {
  ZLIB_WASM_DEFLATED_BASE64,
  ZLIB_WASM_SHA256,
  ZLIB_WASM_SIZE,
} from "../../lib/deflate/_zlib_wasm_binary.ts";
import { pseudoRandomBytes } from "../_vectors.ts";

/** JSON-like text of `length` bytes. */
function text(length: number): Uint8Array {
  let s = "";
  for (let i = 0; s.length < length; i++) {
    s += JSON.stringify({ id: i, user: `user${i % 97}`, text: `message ${i * 7919 % 10007}` });
  }
  return new TextEncoder().encode(s.slice(0, length));
}

describe("inflateRaw", () => {
  test("the shipped zlib module inflates to its recorded size and sha256", () => {
    const deflated = Uint8Array.from(atob(ZLIB_WASM_DEFLATED_BASE64), (c) => c.charCodeAt(0));
    const wasm = inflateRaw(deflated, ZLIB_WASM_SIZE);
    assert.equal(wasm.length, ZLIB_WASM_SIZE);
    assert.equal(createHash("sha256").update(wasm).digest("hex"), ZLIB_WASM_SHA256);
  });

  test("inflates node:zlib's raw streams at every level (stored, fixed and dynamic blocks)", () => {
    for (const size of [0, 1, 5, 300, 20_000, 70_000, 200_000]) {
      for (const [kind, data] of [["text", text(size)], ["random", pseudoRandomBytes(size, size)]] as const) {
        for (const level of [0, 1, 6, 9]) {
          const deflated = new Uint8Array(zlib.deflateRawSync(data, { level }));
          assert.deepEqual(inflateRaw(deflated, data.length), data, `${kind} ${size} B at level ${level}`);
        }
      }
    }
    // A short input at level 6 is one fixed-Huffman block: "Hello" is f3 48 cd c9 c9 07 00.
    assert.deepEqual([...zlib.deflateRawSync("Hello")], [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert.equal(
      new TextDecoder().decode(inflateRaw(Uint8Array.of(0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00), 5)),
      "Hello",
    );
  });

  test("throws a RangeError for a corrupt, truncated or wrongly sized stream", () => {
    const data = text(5000);
    const deflated = new Uint8Array(zlib.deflateRawSync(data));
    assert.throws(() => inflateRaw(deflated, data.length - 1), RangeError);
    assert.throws(() => inflateRaw(deflated, data.length + 1), RangeError);
    assert.throws(() => inflateRaw(deflated.subarray(0, deflated.length >> 1), data.length), RangeError);
    assert.throws(() => inflateRaw(Uint8Array.of(0x07), 1), RangeError); // BTYPE 11: reserved
    assert.throws(() => inflateRaw(Uint8Array.of(0x01, 0x05, 0x00, 0x00, 0x00), 5), RangeError); // LEN, NLEN disagree
  });
});
