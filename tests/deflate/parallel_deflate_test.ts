import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { Worker } from "node:worker_threads";
import { Connection } from "../../lib/connection.ts";
import type { Frame } from "../../lib/core/frame.ts";
import { Opcode } from "../../lib/core/opcode.ts";
import type { DeflateParameters } from "../../lib/deflate/negotiation.ts";
import {
  closeDeflateWorkers,
  defaultDeflateWorkers,
  DeflateWorkerPool,
  sharedDeflatePool,
  type SpawnDeflateWorker,
  webDeflateWorkerSpawner,
} from "../../lib/deflate/parallel_deflate.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { zlibWasmCodec } from "../../lib/deflate/zlib_wasm_codec.ts";
import { pakoCodec } from "../../lib/deflate/pako_codec.ts";
import { nodeDeflateWorkerSpawner, useNodeDeflateWorkers } from "../../lib/adapters/node_worker_pool.ts";

const encoder = new TextEncoder();
const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff);
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

// Node has no global Worker: the Node adapters wire worker_threads in, as here.
await useNodeDeflateWorkers();
const spawn: SpawnDeflateWorker = webDeflateWorkerSpawner() ?? nodeDeflateWorkerSpawner(Worker);

after(() => closeDeflateWorkers());

/** A deterministic generator (xorshift32), so that a failing fuzz case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/** JSON-like text with repeats near and far (matches at every distance), plus some noise. */
function message(length: number, seed: number): Uint8Array {
  const next = random(seed);
  const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"];
  let text = "";
  while (text.length < length) {
    const r = next();
    if (r < 0.7) {
      text += `{"id":${Math.floor(next() * 1e6)},"name":"${words[Math.floor(next() * 10)]}","v":${
        next().toFixed(4)
      }},`;
    } else if (r < 0.9 && text.length > 100) {
      const from = Math.floor(next() * (text.length - 50));
      text += text.slice(from, from + 20 + Math.floor(next() * 200));
    } else text += String.fromCharCode(...Array.from({ length: 16 }, () => 33 + Math.floor(next() * 90)));
  }
  return encoder.encode(text.slice(0, length));
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
 * Inflates one message with node:zlib (not our WebAssembly build), its window holding exactly what the
 * receiver's holds: the last `2^windowBits` bytes sent before (context takeover) or nothing. The window
 * goes first as stored DEFLATE blocks (RFC 1951 §3.2.4), so a distance reaching farther back than the
 * receiver's window points before the start of the stream, which zlib refuses ("invalid distance too far
 * back"); a reference to different bytes (a stale compressor window) changes the output.
 */
function inflateStrict(payload: Uint8Array, windowBits: number, history: Uint8Array | undefined): Uint8Array {
  const window = history === undefined
    ? new Uint8Array(0)
    : history.subarray(Math.max(0, history.length - 2 ** windowBits));
  const blocks: Uint8Array[] = [];
  for (let offset = 0; offset < window.length; offset += 65535) {
    const piece = window.subarray(offset, offset + 65535);
    // BFINAL 0, BTYPE 00, then LEN and NLEN, little-endian.
    blocks.push(
      Uint8Array.of(
        0x00,
        piece.length & 0xff,
        piece.length >> 8,
        ~piece.length & 0xff,
        (~piece.length >> 8) & 0xff,
      ),
      piece,
    );
  }
  const inflated = zlib.inflateRawSync(concat([...blocks, payload, TAIL]), {
    windowBits,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  assert.ok(Buffer.from(inflated.subarray(0, window.length)).equals(Buffer.from(window)));
  return new Uint8Array(inflated.subarray(window.length));
}

function agreed(windowBits: number, noContextTakeover: boolean): DeflateParameters {
  return {
    serverNoContextTakeover: noContextTakeover,
    clientNoContextTakeover: noContextTakeover,
    serverMaxWindowBits: windowBits,
    clientMaxWindowBits: windowBits,
  };
}

function dataFrame(payload: Uint8Array): Frame {
  return { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.Binary, payload };
}

/** Sends `payload` as a Connection does: prepared on the workers when large, then encoded. */
async function send(
  extension: PerMessageDeflate,
  payload: Uint8Array,
): Promise<{ frame: Frame; prepared: boolean }> {
  const pending = extension.prepare(payload);
  const bytes = pending === undefined ? payload : await pending;
  return { frame: extension.encode(dataFrame(bytes)), prepared: pending !== undefined };
}

/**
 * Sends `sizes` through a server extension (parallel threshold 32 KiB, 16 KiB pieces) and checks every
 * message with node:zlib against the receiver's window, and with a client extension decoding in order.
 */
async function checkSequence(
  windowBits: number,
  noContextTakeover: boolean,
  sizes: number[],
  seed: number,
): Promise<number> {
  const parameters = agreed(windowBits, noContextTakeover);
  const server = new PerMessageDeflate("server", parameters, {
    parallel: { threshold: 32 * 1024, chunkSize: 16 * 1024, workers: 2 },
    releaseAfterIdle: Infinity,
  });
  const client = new PerMessageDeflate("client", parameters, { releaseAfterIdle: Infinity });
  let history: Uint8Array = new Uint8Array(0);
  let prepared = 0;
  for (let i = 0; i < sizes.length; i++) {
    const payload = message(sizes[i], seed + i);
    const sent = await send(server, payload);
    if (sent.prepared) prepared++;
    const where = `message ${i} (${sizes[i]} bytes), window ${windowBits}, ${
      noContextTakeover ? "no " : ""
    }context takeover`;
    if (sent.frame.rsv1) {
      const inflated = inflateStrict(sent.frame.payload, windowBits, noContextTakeover ? undefined : history);
      assert.ok(Buffer.from(inflated).equals(Buffer.from(payload)), `node:zlib inflates ${where}`);
    } else {
      assert.ok(
        noContextTakeover || payload.length < 32,
        `only an incompressible message goes uncompressed: ${where}`,
      );
    }
    const decoded = client.decode(sent.frame, NO_LIMIT);
    assert.ok(
      Buffer.from(decoded.payload).equals(Buffer.from(payload)),
      `the peer's extension decodes ${where}`,
    );
    if (sent.frame.rsv1) history = concat([history.subarray(Math.max(0, history.length - 65536)), payload]);
  }
  server.release();
  client.release();
  return prepared;
}

describe("DeflateWorkerPool", () => {
  for (let windowBits = 8; windowBits <= 15; windowBits++) {
    test(`its pieces join into one message node:zlib inflates, window ${windowBits}`, async () => {
      const pool = new DeflateWorkerPool(spawn, 2);
      try {
        const payload = message(200_000, windowBits);
        const deflated = await pool.deflate(payload, { windowBits, level: 6, memLevel: 8 }, 16 * 1024);
        assert.ok(deflated.length < payload.length / 2);
        assert.ok(Buffer.from(inflateStrict(deflated, windowBits, undefined)).equals(Buffer.from(payload)));
      } finally {
        pool.close();
      }
    });
  }

  test("its output equals one compressor's when the message is a single piece", async () => {
    const pool = new DeflateWorkerPool(spawn, 1);
    try {
      const payload = message(50_000, 7);
      const deflated = await pool.deflate(payload, { windowBits: 15, level: 6, memLevel: 8 }, 64 * 1024);
      // Deno and Bun: zlib in WebAssembly (parallel_deflate_worker.ts); Node: node_deflate_worker.ts, which
      // deflates window 15 with node:zlib (adapters/native_deflate.ts).
      const inline = webDeflateWorkerSpawner() !== undefined
        ? zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 }).compress(payload, true)
        : zlib.deflateRawSync(payload, { level: 6, memLevel: 8, windowBits: 15, finishFlush: zlib.constants.Z_SYNC_FLUSH })
          .subarray(0, -4);
      assert.deepEqual(deflated, new Uint8Array(inline));
    } finally {
      pool.close();
    }
  });

  test("the caller keeps its bytes (pieces are copies)", async () => {
    const pool = new DeflateWorkerPool(spawn, 2);
    try {
      const payload = message(100_000, 3);
      const copy = payload.slice();
      await pool.deflate(payload, { windowBits: 15, level: 6, memLevel: 8 }, 16 * 1024);
      assert.equal(payload.byteLength, 100_000);
      assert.deepEqual(payload, copy);
    } finally {
      pool.close();
    }
  });

  test("a Node Buffer view keeps its memory: pieces are copies in buffers of their own, not Buffer#slice views", async () => {
    const pool = new DeflateWorkerPool(spawn, 2);
    try {
      // A view into a larger Buffer, as a socket's chunk or a pooled Buffer is. Buffer#slice shares memory:
      // transferring its buffer detached the caller's (Deno, Node) or listed one buffer twice (Bun: a
      // DataCloneError).
      const whole = Buffer.alloc(300_000);
      whole.set(message(200_000, 5), 1000);
      const view = whole.subarray(1000, 201_000);
      const deflated = await pool.deflate(view, { windowBits: 15, level: 6, memLevel: 8 }, 16 * 1024);
      assert.equal(whole.buffer.byteLength, 300_000);
      assert.equal(view.length, 200_000);
      assert.ok(Buffer.from(inflateStrict(deflated, 15, undefined)).equals(view));
    } finally {
      pool.close();
    }
  });

  test("a worker that cannot start fails the pool: jobs reject", async () => {
    const failing: SpawnDeflateWorker = (_onResult, onError) => {
      queueMicrotask(() => onError(new Error("no such module")));
      return { post: () => {}, terminate: () => {} };
    };
    const pool = new DeflateWorkerPool(failing, 2);
    await assert.rejects(
      pool.deflate(message(10_000, 1), { windowBits: 15, level: 6, memLevel: 8 }),
      /no such module/,
    );
    assert.match(pool.failure!.message, /no such module/);
    await assert.rejects(
      pool.deflate(message(10_000, 1), { windowBits: 15, level: 6, memLevel: 8 }),
      /no such module/,
    );
  });

  test("a job of a closed pool rejects; a later job starts workers again", async () => {
    const pool = new DeflateWorkerPool(spawn, 1);
    const pending = pool.deflate(message(300_000, 2), { windowBits: 15, level: 6, memLevel: 8 });
    pool.close();
    await assert.rejects(pending, /closed/);
    const payload = message(40_000, 4);
    const deflated = await pool.deflate(payload, { windowBits: 15, level: 6, memLevel: 8 });
    assert.ok(Buffer.from(inflateStrict(deflated, 15, undefined)).equals(Buffer.from(payload)));
    pool.close();
  });

  test("bad arguments throw TypeError or RangeError", async () => {
    assert.throws(() => new DeflateWorkerPool(spawn, 0), RangeError);
    assert.throws(() => new DeflateWorkerPool("x" as unknown as SpawnDeflateWorker, 1), TypeError);
    const pool = new DeflateWorkerPool(spawn, 1);
    await assert.rejects(
      pool.deflate("x" as unknown as Uint8Array, { windowBits: 15, level: 6, memLevel: 8 }),
      TypeError,
    );
    await assert.rejects(
      pool.deflate(new Uint8Array(10), { windowBits: 15, level: 6, memLevel: 8 }, 10),
      RangeError,
    );
    pool.close();
    assert.throws(() => sharedDeflatePool(-1), RangeError);
  });
});

describe("PerMessageDeflate parallel: RFC 7692 §7.2.1, the receiver's window", () => {
  // Before, between and after large messages: small ones compressed inline must still refer only to what
  // the peer's window holds once a large one was deflated elsewhere.
  const SIZES = [100, 5_000, 150_000, 300, 70_000, 90_000, 2_000, 40, 200_000, 33_000];
  for (let windowBits = 8; windowBits <= 15; windowBits++) {
    for (const noContextTakeover of [false, true]) {
      test(`window ${windowBits}, ${noContextTakeover ? "no " : ""}context takeover: messages before, between and after large ones inflate`, async () => {
        const prepared = await checkSequence(windowBits, noContextTakeover, SIZES, windowBits * 100);
        assert.equal(prepared, 5, "the five messages of 32 KiB or more went to the workers");
      });
    }
  }

  test("fuzz: 8 seeds of 30 interleaved small and large messages, random windows and takeover", async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const next = random(seed * 7919);
      const sizes = Array.from(
        { length: 30 },
        () => next() < 0.3 ? 32_000 + Math.floor(next() * 200_000) : Math.floor(next() * 40_000),
      );
      const windowBits = 8 + Math.floor(next() * 8);
      await checkSequence(windowBits, next() < 0.3, sizes, seed * 1000);
    }
  });

  test("a codec that cannot be primed (pako) keeps large messages inline with context takeover", () => {
    const server = new PerMessageDeflate("server", agreed(15, false), { codec: pakoCodec });
    assert.equal(server.prepare(message(300_000, 1)), undefined);
    server.release();
  });

  test("compress: false, parallel: false, small messages and 0 workers are not prepared", async () => {
    const server = new PerMessageDeflate("server", agreed(15, false), {});
    const large = message(300_000, 1);
    const prepared = server.prepare(large);
    // By default the pool has min(2, cores - 1) workers: none on one core.
    assert.equal(
      prepared !== undefined,
      defaultDeflateWorkers() > 0,
      "a large message is prepared by default",
    );
    if (prepared !== undefined) server.encode(dataFrame(await prepared));
    assert.equal(server.prepare(large, { compress: false }), undefined);
    assert.equal(server.prepare(message(1000, 1)), undefined);
    assert.equal(server.prepare("x".repeat(1000)), undefined);
    assert.equal(
      new PerMessageDeflate("server", agreed(15, false), { parallel: false }).prepare(large),
      undefined,
    );
    assert.equal(
      new PerMessageDeflate("server", agreed(15, false), { parallel: { workers: 0 } }).prepare(large),
      undefined,
    );
    server.release();
  });

  test("a text message is prepared from its UTF-8 and sent as text", async () => {
    const server = new PerMessageDeflate("server", agreed(15, false), {});
    const client = new PerMessageDeflate("client", agreed(15, false), {});
    const text = "é🙂 hello ".repeat(20_000);
    const bytes = await server.prepare(text)!;
    assert.deepEqual(bytes, encoder.encode(text));
    const frame = server.encode({ ...dataFrame(bytes), opcode: Opcode.Text });
    assert.ok(frame.rsv1);
    assert.equal(new TextDecoder().decode(client.decode(frame, NO_LIMIT).payload), text);
    server.release();
    client.release();
  });

  test("when the workers fail, the prepared message is deflated inline", async () => {
    const failing: SpawnDeflateWorker = (_onResult, onError) => {
      queueMicrotask(() => onError(new Error("crashed")));
      return { post: () => {}, terminate: () => {} };
    };
    const pool = new DeflateWorkerPool(failing, 1);
    await assert.rejects(pool.deflate(new Uint8Array(2000), { windowBits: 15, level: 6, memLevel: 8 }));
    // The extension uses the shared pool; close it mid-job, which rejects the job the same way.
    const server = new PerMessageDeflate("server", agreed(15, false), {});
    const payload = message(300_000, 9);
    const pending = server.prepare(payload)!;
    closeDeflateWorkers();
    const bytes = await pending;
    const frame = server.encode(dataFrame(bytes));
    assert.ok(Buffer.from(inflateStrict(frame.payload, 15, undefined)).equals(Buffer.from(payload)));
    server.release();
  });

  test("bad parallel options throw", () => {
    const make = (parallel: unknown) =>
      new PerMessageDeflate("server", agreed(15, false), { parallel: parallel as false });
    assert.throws(() => make("yes"), TypeError);
    assert.throws(() => make({ threshold: -1 }), RangeError);
    assert.throws(() => make({ workers: 1.5 }), RangeError);
    assert.throws(() => make({ chunkSize: 100 }), RangeError);
  });
});

describe("Connection: a large message deflated on a worker keeps its place", () => {
  function pair(noContextTakeover: boolean, windowBits = 15) {
    const parameters = agreed(windowBits, noContextTakeover);
    const toClient = new TransformStream<Uint8Array, Uint8Array>();
    const toServer = new TransformStream<Uint8Array, Uint8Array>();
    const server = new Connection({ readable: toServer.readable, writable: toClient.writable }, {
      role: "server",
      heartbeat: false,
      extensions: [new PerMessageDeflate("server", parameters, { parallel: { threshold: 32 * 1024 } })],
    });
    const client = new Connection({ readable: toClient.readable, writable: toServer.writable }, {
      role: "client",
      heartbeat: false,
      maxMessageSize: 64 * 1024 * 1024,
      extensions: [new PerMessageDeflate("client", parameters)],
    });
    const received: (string | Uint8Array)[] = [];
    client.onmessage = (data) => received.push(data);
    return { server, client, received };
  }

  async function until(condition: () => boolean): Promise<void> {
    for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(condition(), "in time");
  }

  for (const noContextTakeover of [false, true]) {
    test(`sends and publishes after a large message go after it, ${noContextTakeover ? "no " : ""}context takeover`, async () => {
      const { server, client, received } = pair(noContextTakeover);
      const large = message(400_000, 5);
      const expected: (string | Uint8Array)[] = [];
      const sends: Promise<void>[] = [];
      for (let round = 0; round < 3; round++) {
        sends.push(server.send("small before " + round));
        expected.push("small before " + round);
        sends.push(server.send(large));
        expected.push(large);
        sends.push(server.send("x".repeat(50_000) + round)); // large text, prepared too
        expected.push("x".repeat(50_000) + round);
        server.publish({ topic: "t", data: "published " + round, size: 12 });
        expected.push("published " + round);
        sends.push(server.send("small after " + round));
        expected.push("small after " + round);
      }
      await Promise.all(sends);
      await until(() => received.length === expected.length);
      for (let i = 0; i < expected.length; i++) {
        const want = expected[i];
        if (typeof want === "string") {
          assert.ok(
            received[i] === want,
            `message ${i}: ${String(received[i]).slice(0, 20)} for ${want.slice(0, 20)}`,
          );
        } else assert.ok(Buffer.from(received[i] as Uint8Array).equals(Buffer.from(want)), `message ${i}`);
      }
      server.close(1000);
      await Promise.all([server.closed, client.closed]);
    });
  }

  test("published behind a large message: close() writes it before the close frame; after a failure it is reported as dropped", async () => {
    {
      const { server, client, received } = pair(false, 10);
      const large = message(500_000, 7);
      const sent = server.send(large);
      assert.equal(server.publish({ topic: "t", data: "behind", size: 6 }), true);
      server.close(1000, "done");
      await sent;
      assert.equal((await client.closed).code, 1000);
      assert.equal(received.length, 2, "the large message and the publish behind it");
      assert.equal(received[1], "behind");
      assert.equal(server.dropped, 0);
    }
    {
      const { server, client } = pair(false, 10);
      const drops: [string, number][] = [];
      server.ondrop = (topic, count) => drops.push([topic, count]);
      const sent = server.send(message(500_000, 8)).catch(() => {});
      assert.equal(server.publish({ topic: "t", data: "behind", size: 6 }), true);
      server.fail(1011); // the connection ends while the large message is on a worker
      await sent;
      await until(() => drops.length > 0);
      assert.deepEqual(drops, [["t", 1]]);
      assert.equal(server.dropped, 1);
      await client.closed;
    }
  });

  test("close() right after a large send: the message goes before the close frame", async () => {
    const { server, client, received } = pair(false, 10);
    const large = message(500_000, 6);
    const sent = server.send(large);
    server.close(1000, "done");
    await sent;
    const result = await client.closed;
    assert.equal(result.code, 1000);
    assert.equal(received.length, 1);
    assert.ok(Buffer.from(received[0] as Uint8Array).equals(Buffer.from(large)));
  });
});
