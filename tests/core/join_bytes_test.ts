import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyChunks, joinBytes, joinSkew, skewFor } from "../../lib/core/join_bytes.ts";
import { concatBytes, pseudoRandomBytes } from "../_vectors.ts";

/** `length` bytes at `offset` into a buffer of their own. */
function at(offset: number, length: number, seed: number): Uint8Array {
  return pseudoRandomBytes(offset + length + 3, seed).subarray(offset, offset + length);
}

describe("joining chunks away from the C library's slow copy distances", () => {
  test("joinBytes returns the chunks' bytes in order, for chunks of 0 B to 20 KiB at offsets 0-17", () => {
    for (const lengths of [[2], [2, 0, 5], [4, 16_384], [10, 1_048_576], [2, 125, 4, 1024, 6, 20_000], [1024, 1024]]) {
      for (let offset = 0; offset <= 17; offset++) {
        const chunks = lengths.map((length, i) => at((offset + i * 5) % 18, length, length + offset * 31 + i));
        const total = lengths.reduce((sum, length) => sum + length, 0);
        const joined = joinBytes(chunks, 0, chunks.length, total);
        assert.equal(joined.length, total);
        assert.deepEqual(joined, concatBytes(chunks), `lengths ${lengths} offset ${offset}`);
      }
    }
  });

  test("the largest chunk of 1 KiB or more lands at its own offset modulo 16; smaller ones leave the join at 0", () => {
    for (let offset = 0; offset <= 33; offset++) {
      for (const header of [2, 4, 10, 14]) {
        const payload = at(offset, 4096, offset);
        const joined = joinBytes([new Uint8Array(header), payload], 0, 2, header + 4096);
        assert.equal((joined.byteOffset + header) % 16, offset % 16, `payload at ${offset} behind ${header} bytes`);
        const small = at(offset, 1023, offset);
        assert.equal(joinBytes([new Uint8Array(header), small], 0, 2, header + 1023).byteOffset, 0);
      }
    }
    // The largest decides, wherever it is in the run.
    const chunks = [at(3, 2048, 1), new Uint8Array(7), at(9, 8192, 2), at(1, 1500, 3)];
    assert.equal(joinSkew(chunks, 0, 4), (9 - 2055) & 15);
    assert.equal(joinSkew(chunks, 3, 4), 1);
  });

  test("skewFor and copyChunks, as the Bun writer's shared buffer uses them", () => {
    assert.equal(skewFor(at(0, 4096, 1), 4), 12);
    assert.equal(skewFor(at(6, 4096, 1), 4), 2);
    assert.equal(skewFor(at(6, 1000, 1), 4), 0);
    const target = new Uint8Array(8).fill(9);
    copyChunks(target, 2, [Uint8Array.of(1, 2), Uint8Array.of(), Uint8Array.of(3)], 0, 3);
    assert.deepEqual([...target], [9, 9, 1, 2, 3, 9, 9, 9]);
  });
});
