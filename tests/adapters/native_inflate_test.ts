/**
 * adapters/native_inflate.ts: node:zlib's inflateRawSync for large received messages on the workers. It may
 * only accept what zlib in WebAssembly accepts (RFC 7692 §7.2.2), with the same output; everything else
 * it leaves (undefined) to zlib in WebAssembly, which gives the close code.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { constants, deflateRawSync } from "node:zlib";
import { nodeZlibInflate } from "../../lib/adapters/native_inflate.ts";
import { zlibWasmCodec } from "../../lib/deflate/zlib_wasm_codec.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const message = encoder.encode(JSON.stringify(Array.from({ length: 4000 }, (_, i) => ({ id: i, user: `u${i % 37}` }))));

/** What a permessage-deflate peer sends: a sync flush, its 00 00 ff ff removed (§7.2.1). */
function sent(data: Uint8Array, dictionary: Uint8Array = EMPTY, windowBits = 15): Uint8Array {
  const compressor = zlibWasmCodec.createCompressor({ windowBits, level: 6, memLevel: 8 });
  compressor.prime!(dictionary);
  return compressor.compress(data, true);
}

describe("nodeZlibInflate", () => {
  test("inflates a message from an empty window", () => {
    assert.deepEqual(nodeZlibInflate(sent(message), EMPTY, { windowBits: 15, maxSize: message.length }), message);
  });

  test("inflates a message that refers to the dictionary, on every runtime (Deno's raw dictionary is not used)", () => {
    for (const length of [1, 20_000, 32_768]) {
      const dictionary = message.subarray(0, length);
      const payload = sent(message.subarray(length), dictionary);
      const output = nodeZlibInflate(payload, dictionary, { windowBits: 15, maxSize: message.length - length });
      assert.deepEqual(output, message.subarray(length), `a dictionary of ${length} bytes`);
      assert.equal(output!.byteOffset, 0); // a buffer of its own: it is transferred
      assert.equal(output!.buffer.byteLength, message.length - length);
    }
  });

  test("refuses, as zlib in WebAssembly does, a reference before the dictionary's start", () => {
    const dictionary = message.subarray(0, 20_000);
    const payload = sent(message.subarray(20_000), dictionary);
    const shorter = dictionary.subarray(10_000);
    assert.equal(nodeZlibInflate(payload, shorter, { windowBits: 15, maxSize: message.length }), undefined);
    const decompressor = zlibWasmCodec.createDecompressor(15);
    decompressor.prime!(shorter);
    assert.throws(() => decompressor.decompress(payload, true, message.length), { code: 1007 });
  });

  test("leaves a dictionary longer than the window, and output past maxSize after a dictionary", () => {
    const dictionary = message.subarray(0, 20_000);
    const payload = sent(message.subarray(20_000), dictionary);
    const rest = message.length - 20_000;
    assert.equal(nodeZlibInflate(payload, message.subarray(0, 32_769), { windowBits: 15, maxSize: rest }), undefined);
    assert.equal(nodeZlibInflate(payload, dictionary, { windowBits: 15, maxSize: rest - 1 }), undefined);
  });

  test("leaves windows below 15 bits to zlib in WebAssembly", () => {
    assert.equal(nodeZlibInflate(sent(message, EMPTY, 12), EMPTY, { windowBits: 12, maxSize: message.length }), undefined);
  });

  test("leaves output past maxSize (1009 inline), corrupt data (1007) and a BFINAL ending to zlib in WebAssembly", () => {
    assert.equal(nodeZlibInflate(sent(message), EMPTY, { windowBits: 15, maxSize: message.length - 1 }), undefined);
    const corrupt = sent(message).slice();
    corrupt[0] = 0xff; // BTYPE 11
    assert.equal(nodeZlibInflate(corrupt, EMPTY, { windowBits: 15, maxSize: message.length }), undefined);
    // §7.2.3.4: a message may end with its own BFINAL block (valid; zlib in WebAssembly reads it).
    const final = deflateRawSync(message, { finishFlush: constants.Z_FINISH });
    assert.equal(nodeZlibInflate(final, EMPTY, { windowBits: 15, maxSize: message.length }), undefined);
    // A message cut short does not end at a block boundary.
    const cut = sent(message).subarray(0, 500);
    assert.equal(nodeZlibInflate(cut, EMPTY, { windowBits: 15, maxSize: message.length }), undefined);
  });
});
