import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Compressor } from "../../lib/deflate/codec.ts";
import {
  DEFAULT_COMPRESSOR_BUDGET,
  DEFAULT_DECOMPRESSOR_BUDGET,
  setZlibWasmBudget,
  type ZlibWasmBudget,
  zlibWasmCodec,
  zlibWasmMemory,
} from "../../lib/deflate/zlib_wasm_codec.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { pakoCodec } from "../../lib/deflate/pako_codec.ts";

const encoder = new TextEncoder();
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
/** zlib's state for one compressor at 15 bits / memLevel 8, as the budget counts it. */
const STATE_15_8 = 2 ** 17 + 2 ** 16;

/** JSON-like text of `length` bytes, varied by `seed`. */
function jsonText(length: number, seed: number): Uint8Array {
  let s = "";
  for (let i = seed; s.length < length; i++) s += JSON.stringify({ id: i, user: `user${i % 97}`, text: `message ${i * 7919 % 10007}` });
  return encoder.encode(s.slice(0, length));
}

/** Runs `body` with `budget` set, then restores the budgets. */
function withBudget(budget: ZlibWasmBudget, body: () => void): void {
  const previous = setZlibWasmBudget(budget);
  try {
    body();
  } finally {
    setZlibWasmBudget(previous);
  }
}

describe("zlibWasmCodec's budgets of open streams", () => {
  test("setZlibWasmBudget returns both budgets it replaces, keeps a direction left out, and refuses what is not a number of bytes", () => {
    const previous = setZlibWasmBudget({ compressors: 1024 });
    assert.deepEqual(previous, { compressors: DEFAULT_COMPRESSOR_BUDGET, decompressors: DEFAULT_DECOMPRESSOR_BUDGET });
    assert.deepEqual(setZlibWasmBudget({ decompressors: 2048 }), { compressors: 1024, decompressors: DEFAULT_DECOMPRESSOR_BUDGET });
    for (const bad of [{ compressors: -1 }, { decompressors: Number.NaN }]) {
      assert.throws(() => setZlibWasmBudget(bad), (error: Error) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /^Cannot set zlib budget: (compressors -1|decompressors NaN) is not a number of bytes$/);
        return true;
      });
    }
    assert.deepEqual(setZlibWasmBudget(previous), { compressors: 1024, decompressors: 2048 });
  });

  test("compressors taking turns beyond the budget are evicted and woken with their window: every stream stays valid", () => {
    withBudget({ compressors: 2 * STATE_15_8 }, () => {
      const compressors: Compressor[] = Array.from({ length: 6 }, () => zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }));
      // Each connection's peer: pako, one window per connection (RFC 7692 §7.2.2).
      const peers = compressors.map(() => pakoCodec.createDecompressor(15));
      for (let round = 0; round < 5; round++) {
        for (const [i, c] of compressors.entries()) {
          const text = jsonText(1500, i * 10 + (round % 2)); // messages repeat every other round
          const bytes = c.compress(text, true);
          assert.deepEqual(peers[i].decompress(bytes, true, NO_LIMIT), text, `compressor ${i}, round ${round}`);
          // From the third round on, the message is the one of two rounds before: with its window (kept
          // across the eviction) the compressor refers back to it.
          if (round >= 2) assert.ok(bytes.length < 40, `compressor ${i}, round ${round}: ${bytes.length} bytes`);
        }
      }
      for (const codec of [...compressors, ...peers]) codec.release();
    });
  });

  test("a compressor evicted mid-message (pieces are sync-flushed) finishes it validly", () => {
    withBudget({ compressors: STATE_15_8 }, () => {
      const a = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      const b = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      const text = jsonText(4000, 7);
      const first = a.compress(text.subarray(0, 2000), false);
      b.compress(jsonText(500, 1), true); // evicts a (the budget holds one)
      const last = a.compress(text.subarray(2000), true);
      const d = pakoCodec.createDecompressor(15);
      const head = d.decompress(first, false, NO_LIMIT);
      const tail = d.decompress(last, true, NO_LIMIT);
      assert.deepEqual([...head, ...tail], [...text]);
      for (const codec of [a, b, d]) codec.release();
    });
  });

  test("with the budget, 400 compressors that each sent a message hold less linear memory than 400 streams", () => {
    withBudget({ compressors: 8 * STATE_15_8 }, () => {
      const before = zlibWasmMemory().bytes;
      const compressors = Array.from({ length: 400 }, () => zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }));
      for (const [i, c] of compressors.entries()) c.compress(jsonText(2000, i), true);
      const grown = zlibWasmMemory().bytes - before;
      // Without the budget: 400 streams of 192 KiB (75 MiB). With it: about 8 of them, where freed.
      assert.ok(grown < 100 * STATE_15_8, `grew by ${grown} bytes`);
      for (const c of compressors) c.release();
    });
  });
});

describe("zlibWasmCodec's decompressors under their budget", () => {
  test("decompressors taking turns beyond the budget are evicted with their whole window: messages referring 20 KiB back inflate", () => {
    withBudget({ decompressors: 2 * (32 * 1024 + 7 * 1024) }, () => {
      // Each peer: pako keeping one window (context takeover), repeating its message of two rounds before.
      const peers = Array.from({ length: 6 }, () => pakoCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }));
      const decompressors = peers.map(() => zlibWasmCodec.createDecompressor(15));
      for (let round = 0; round < 5; round++) {
        for (const [i, d] of decompressors.entries()) {
          const text = jsonText(10_000, i * 10 + (round % 2));
          const bytes = peers[i].compress(text, true);
          if (round >= 2) assert.ok(bytes.length < 400, `peer ${i}, round ${round}: ${bytes.length} bytes (a reference back)`);
          assert.deepEqual(d.decompress(bytes, true, NO_LIMIT), text, `decompressor ${i}, round ${round}`);
        }
      }
      for (const codec of [...peers, ...decompressors]) codec.release();
    });
  });

  test("a decompressor in the middle of a message is not evicted: the message's second half inflates", () => {
    withBudget({ decompressors: 0 }, () => {
      const peer = pakoCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      const text = jsonText(6000, 2);
      const bytes = peer.compress(text, true);
      const a = zlibWasmCodec.createDecompressor(15);
      const b = zlibWasmCodec.createDecompressor(15);
      const half = bytes.length >> 1; // inside a DEFLATE block
      const head = a.decompress(bytes.subarray(0, half), false, NO_LIMIT);
      // b opens with a budget of 0: every stream that can be evicted is; a, mid-message, cannot.
      const other = pakoCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
      assert.deepEqual(b.decompress(other.compress(text, true), true, NO_LIMIT), text);
      const tail = a.decompress(bytes.subarray(half), true, NO_LIMIT);
      assert.deepEqual([...head, ...tail], [...text]);
      for (const codec of [peer, other, a, b]) codec.release();
    });
  });
});

describe("PerMessageDeflate's memLevel default", () => {
  test("is 7: a message compresses as zlib's compressor at memLevel 7 does", () => {
    const parameters = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    const server = new PerMessageDeflate("server", parameters, { threshold: 0 });
    // Letters of a pseudo-random sequence: ~30,000 literals, more than a block holds at memLevel 7
    // (2^(7+6) symbols) and fewer than at 8, so the two settings end blocks in different places.
    let x = 1;
    const text = Uint8Array.from({ length: 30_000 }, () => 97 + ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) % 26);
    const frame = server.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x1, payload: text });
    const at = (memLevel: number) => {
      const compressor = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel });
      const bytes = compressor.compress(text, true);
      compressor.release();
      return bytes;
    };
    assert.notDeepEqual(at(7), at(8)); // else this test could not tell them apart
    assert.deepEqual(frame.payload, at(7));
    server.release();
  });
});
