// No test here registers deflate workers itself: what the raw listeners' modules register on import is
// what is tested (listenDeno and listenBun import adapters/_native_deflate_workers.ts).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { closeDeflateWorkers, sharedDeflatePool } from "../../lib/deflate/parallel_deflate.ts";
import { zlibWasmCodec } from "../../lib/deflate/zlib_wasm_codec.ts";

after(() => closeDeflateWorkers());

const runtime = "Deno" in globalThis ? "Deno" : "Bun" in globalThis ? "Bun" : "Node";

/** JSON of about `size` bytes (bench/parallel_deflate_bench.ts's). */
function json(size: number): Uint8Array {
  const items: string[] = [];
  let length = 2;
  for (let i = 0; length < size; i++) {
    const item = JSON.stringify({ id: i, user: `user${i % 97}`, score: (i * 7919) % 10007, ok: i % 3 === 0 });
    items.push(item);
    length += item.length + 1;
  }
  return new TextEncoder().encode(`[${items.join(",")}]`);
}

test(`importing the raw listener of ${runtime} makes the shared pool deflate with node:zlib`, {
  skip: runtime === "Node" ? "Node's adapters register the workers per connection (node_socket.ts)" : false,
}, async () => {
  if (runtime === "Deno") await import("../../lib/adapters/deno_listen.ts");
  else await import("../../lib/adapters/bun_listen.ts");
  const payload = json(300_000);
  const settings = { windowBits: 15, level: 6, memLevel: 8 };
  const pool = sharedDeflatePool(1);
  assert.ok(pool !== undefined, "workers run here");
  const deflated = await pool.deflate(payload, settings);
  const native = zlib.deflateRawSync(payload, { ...settings, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const compressor = zlibWasmCodec.createCompressor(settings);
  const wasm = compressor.compress(payload, true);
  compressor.release();
  // What tells the two apart: this runtime's native zlib and zlib 1.2.13 put other bytes on the wire.
  assert.notDeepEqual(new Uint8Array(native.subarray(0, -4)), wasm);
  assert.deepEqual(deflated, new Uint8Array(native.subarray(0, -4)));
});
