import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import {
  closeDeflateWorkers,
  defaultDeflateWorkers,
  DeflateWorkerPool,
  setDeflateWorkerSpawner,
  type SpawnDeflateWorker,
  webDeflateWorkerSpawner,
} from "../../lib/deflate/parallel_deflate.ts";
import { type DeflateJob, runDeflateJob, useNativeDeflate } from "../../lib/deflate/_deflate_job.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { zlibWasmCodec } from "../../lib/deflate/zlib_wasm_codec.ts";
import { Opcode } from "../../lib/core/opcode.ts";
import { nodeDeflateWorkerSpawner, useNativeDeflateWorkers } from "../../lib/adapters/node_worker_pool.ts";
import { nodeZlibDeflate } from "../../lib/adapters/native_deflate.ts";

// Importing native_deflate.ts installed node:zlib in this process's jobs: the tests below install what they
// test, and leave none behind.
useNativeDeflate(undefined);
await useNativeDeflateWorkers();
after(() => {
  useNativeDeflate(undefined);
  closeDeflateWorkers();
});

const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff);
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
const here = import.meta.url;
/** The native workers: native_deflate_worker.ts (Deno, Bun) or node_deflate_worker.ts (Node). */
const spawnNative: SpawnDeflateWorker = webDeflateWorkerSpawner(
  new URL(`../../lib/adapters/native_deflate_worker${here.endsWith(".js") ? ".js" : ".ts"}`, here),
) ?? nodeDeflateWorkerSpawner(Worker);

/** JSON-like text with repeats near and far (at every distance up to 64 KiB), deterministic. */
function message(length: number, seed: number): Uint8Array {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  let text = "";
  while (text.length < length) {
    const r = next();
    if (r < 0.6) text += `{"id":${Math.floor(next() * 1e6)},"v":${next().toFixed(4)}},`;
    else if (r < 0.9 && text.length > 100) {
      const from = Math.max(0, text.length - 1 - Math.floor(next() * Math.min(text.length - 50, 65536)));
      text += text.slice(from, from + 20 + Math.floor(next() * 200));
    } else text += String.fromCharCode(...Array.from({ length: 16 }, () => 33 + Math.floor(next() * 90)));
  }
  return new TextEncoder().encode(text.slice(0, length));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Inflates one message with zlib 1.2.13 (our WebAssembly build, whose window is exactly `2^windowBits`)
 * after `history` sent as stored blocks: a distance farther back than the receiver's window fails
 * ("invalid distance too far back", a 1007 ProtocolError), a reference into the wrong bytes changes the
 * output.
 */
function inflateStrict(payload: Uint8Array, windowBits: number, history: Uint8Array): Uint8Array {
  const window = history.subarray(Math.max(0, history.length - 2 ** windowBits));
  const blocks: Uint8Array[] = [];
  for (let offset = 0; offset < window.length; offset += 65535) {
    const piece = window.subarray(offset, offset + 65535);
    blocks.push(
      Uint8Array.of(0x00, piece.length & 0xff, piece.length >> 8, ~piece.length & 0xff, (~piece.length >> 8) & 0xff),
      piece,
    );
  }
  const decompressor = zlibWasmCodec.createDecompressor(windowBits);
  try {
    const inflated = decompressor.decompress(concat([...blocks, payload]), true, NO_LIMIT);
    assert.deepEqual(inflated.subarray(0, window.length), window);
    return inflated.subarray(window.length);
  } finally {
    decompressor.release();
  }
}

function job(input: Uint8Array, dictionary: Uint8Array, windowBits: number, end = true): DeflateJob {
  return { id: 1, input, dictionary, windowBits, level: 6, memLevel: 8, end };
}

describe("native deflate in the workers' jobs", () => {
  test("window 15 goes to node:zlib: the output is deflateRawSync's, less 00 00 ff ff at the end", () => {
    useNativeDeflate(nodeZlibDeflate);
    try {
      const input = message(100_000, 1);
      const expected = zlib.deflateRawSync(input, {
        level: 6,
        memLevel: 8,
        windowBits: 15,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      });
      assert.deepEqual(runDeflateJob(job(input, new Uint8Array(0), 15)).output, new Uint8Array(expected.subarray(0, -4)));
      assert.deepEqual(runDeflateJob(job(input, new Uint8Array(0), 15, false)).output, new Uint8Array(expected));
    } finally {
      useNativeDeflate(undefined);
    }
  });

  for (let windowBits = 9; windowBits <= 14; windowBits++) {
    test(`window ${windowBits} stays with zlib in WebAssembly (its output byte for byte)`, () => {
      useNativeDeflate(nodeZlibDeflate);
      let native: Uint8Array | undefined;
      try {
        native = runDeflateJob(job(message(60_000, windowBits), new Uint8Array(0), windowBits)).output;
      } finally {
        useNativeDeflate(undefined);
      }
      const wasm = runDeflateJob(job(message(60_000, windowBits), new Uint8Array(0), windowBits)).output;
      assert.ok(native !== undefined);
      assert.deepEqual(native, wasm);
    });
  }

  test("a piece after its dictionary inflates with exactly the receiver's window before it", () => {
    useNativeDeflate(nodeZlibDeflate);
    try {
      const whole = message(200_000, 5);
      const dictionary = whole.subarray(100_000 - 32768, 100_000);
      const piece = whole.subarray(100_000);
      const output = runDeflateJob(job(piece, dictionary, 15)).output!;
      assert.deepEqual(inflateStrict(output, 15, whole.subarray(0, 100_000)), piece);
    } finally {
      useNativeDeflate(undefined);
    }
  });

  test("a native output that does not end with 00 00 ff ff, or none, leaves the piece to WebAssembly", () => {
    const input = message(50_000, 9);
    const wasm = runDeflateJob(job(input, new Uint8Array(0), 15)).output;
    let calls = 0;
    try {
      useNativeDeflate(() => (calls++, Uint8Array.of(1, 2, 3)));
      assert.deepEqual(runDeflateJob(job(input, new Uint8Array(0), 15)).output, wasm);
      useNativeDeflate(() => (calls++, undefined));
      assert.deepEqual(runDeflateJob(job(input, new Uint8Array(0), 15)).output, wasm);
      assert.equal(calls, 2);
    } finally {
      useNativeDeflate(undefined);
    }
  });

  test("bad settings: an error result from the native deflate's throw, never a throw", () => {
    useNativeDeflate(nodeZlibDeflate);
    try {
      const result = runDeflateJob({ ...job(message(1000, 2), new Uint8Array(0), 15), level: 42 });
      assert.equal(result.output, undefined);
      assert.equal(typeof result.error, "string");
    } finally {
      useNativeDeflate(undefined);
    }
  });
});

describe("the native workers (native_deflate_worker.ts on Deno and Bun, node_deflate_worker.ts on Node)", () => {
  test("a single piece at window 15 is node:zlib's output: the workers deflate natively", async () => {
    const pool = new DeflateWorkerPool(spawnNative, 1);
    try {
      const payload = message(300_000, 3);
      const deflated = await pool.deflate(payload, { windowBits: 15, level: 6, memLevel: 8 }, 512 * 1024);
      const expected = zlib.deflateRawSync(payload, {
        level: 6,
        memLevel: 8,
        windowBits: 15,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      });
      assert.deepEqual(deflated, new Uint8Array(expected.subarray(0, -4)));
      assert.equal(pool.completed, 1);
    } finally {
      pool.close();
    }
  });

  // One pool for the windows (Deno type-checks a worker's modules each time one starts under `deno test`).
  const pool = new DeflateWorkerPool(spawnNative, 2);
  after(() => pool.close());
  for (let windowBits = 8; windowBits <= 15; windowBits++) {
    test(`pieces joined inflate with the receiver's exact window ${windowBits}`, async () => {
      const completed = pool.completed;
      {
        const payload = message(300_000, 20 + windowBits);
        const deflated = await pool.deflate(payload, { windowBits, level: 6, memLevel: 8 }, 64 * 1024);
        assert.equal(pool.completed - completed, 2);
        assert.deepEqual(inflateStrict(deflated, windowBits, new Uint8Array(0)), payload);
        const byNodeZlib = zlib.inflateRawSync(concat([deflated, TAIL]), {
          windowBits,
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
        });
        assert.ok(Buffer.from(byNodeZlib).equals(Buffer.from(payload)));
      }
    });
  }

  for (const noContextTakeover of [false, true]) {
    test(`PerMessageDeflate on the native pool, ${noContextTakeover ? "no " : ""}context takeover: small and large messages inflate in order`, async () => {
      const parameters = {
        serverNoContextTakeover: noContextTakeover,
        clientNoContextTakeover: noContextTakeover,
        serverMaxWindowBits: 15,
        clientMaxWindowBits: 15,
      };
      const server = new PerMessageDeflate("server", parameters, {
        parallel: { threshold: 64 * 1024, workers: 2, chunkSize: 64 * 1024 },
        releaseAfterIdle: Infinity,
      });
      const client = new PerMessageDeflate("client", parameters, { releaseAfterIdle: Infinity });
      let history: Uint8Array = new Uint8Array(0);
      let prepared = 0;
      try {
        for (const [i, size] of [3000, 200_000, 5000, 150_000, 300_000, 100].entries()) {
          const payload = message(size, 100 + i);
          const pending = server.prepare(payload);
          if (pending !== undefined) prepared++;
          const bytes = pending === undefined ? payload : await pending;
          const frame = server.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.Binary, payload: bytes });
          assert.ok(frame.rsv1, `message ${i} is compressed`);
          assert.deepEqual(inflateStrict(frame.payload, 15, noContextTakeover ? new Uint8Array(0) : history), payload);
          assert.deepEqual(client.decode(frame, NO_LIMIT).payload, payload);
          history = concat([history.subarray(Math.max(0, history.length - 32768)), payload]);
        }
        assert.equal(prepared, 3);
      } finally {
        server.release();
        client.release();
      }
    });
  }
});

describe("the default pool size is read when a message is prepared, not when the connection is made", () => {
  test("an extension made while the core count is unknown (Node before node:os loads) uses the workers later", async () => {
    const parameters = {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    };
    const payload = message(200_000, 77);
    try {
      setDeflateWorkerSpawner(spawnNative, 1); // one core: no workers
      assert.equal(defaultDeflateWorkers(), 0);
      const server = new PerMessageDeflate("server", parameters, { releaseAfterIdle: Infinity });
      assert.equal(server.prepare(payload), undefined);
      server.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.Binary, payload });
      setDeflateWorkerSpawner(spawnNative, 2); // as node_worker_pool.ts does once node:os has loaded
      assert.equal(defaultDeflateWorkers(), 2);
      const pending = server.prepare(payload);
      assert.ok(pending !== undefined, "prepared on the workers");
      const frame = server.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.Binary, payload: await pending });
      assert.deepEqual(inflateStrict(frame.payload, 15, payload), payload);
      server.release();
    } finally {
      setDeflateWorkerSpawner(spawnNative, availableParallelism());
    }
  });
});
