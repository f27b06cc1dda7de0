/**
 * Large received compressed messages inflated on the deflate pool's workers (PerMessageDeflate's
 * `deferLargeInflates`, driven by lib/connection.ts): the connection must deliver exactly what inline
 * inflation would, in input order, for every window size and both takeover settings, and refuse bad
 * messages with the same close codes (RFC 7692 §7.2.2, RFC 6455 §7.4.1).
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Connection } from "../../lib/connection.ts";
import { CloseCode } from "../../lib/core/close_code.ts";
import { encodeFrame } from "../../lib/core/encode_frame.ts";
import { FrameParser } from "../../lib/core/frame_parser.ts";
import { Opcode } from "../../lib/core/opcode.ts";
import { decodeClosePayload } from "../../lib/core/protocol.ts";
import type { DeflateParameters } from "../../lib/deflate/negotiation.ts";
import { PerMessageDeflate } from "../../lib/deflate/permessage_deflate.ts";
import { closeDeflateWorkers, sharedInflatePool } from "../../lib/deflate/parallel_deflate.ts";
import { zlibWasmCodec } from "../../lib/deflate/zlib_wasm_codec.ts";
import type { Compressor } from "../../lib/deflate/codec.ts";
import { useNativeDeflateWorkers } from "../../lib/adapters/node_worker_pool.ts";

// The workers the server adapters use: worker_threads on Node, Web Workers on Deno and Bun.
await useNativeDeflateWorkers();

after(() => closeDeflateWorkers());

const WORKERS = 1;
const pool = () => sharedInflatePool(WORKERS);
// Until a worker has answered, large messages are inflated inline.
await pool()?.warm();

/** xorshift32: the same "random" sequence on every run and runtime. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const WORDS = ["alpha", "beta", "gamma", "delta", "épsilon", "zeta", "eta", "θeta", "iota", "kappa", "{\"id\":", "},"];

/** Compressible text with some non-ASCII, of about `size` characters. */
function text(next: () => number, size: number): string {
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const word = WORDS[Math.floor(next() * WORDS.length)] + (next() < 0.3 ? String(Math.floor(next() * 1e6)) : "") + " ";
    parts.push(word);
    length += word.length;
  }
  return parts.join("");
}

/** Binary with runs and noise: compresses, but not to nothing. */
function binary(next: () => number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = next() < 0.5 ? (i >> 6) & 0xff : Math.floor(next() * 256);
  return bytes;
}

interface Peer {
  connection: Connection;
  /** What the connection delivered, in order: messages and control events. */
  log: string[];
  /** Feeds bytes from the "client". */
  feed(bytes: Uint8Array): void;
  /** The close code the connection sent, once it did. */
  closeCode(): Promise<number | undefined>;
}

function describeData(data: string | Uint8Array, binary: boolean): string {
  if (typeof data === "string") return `text ${data.length} ${hash(new TextEncoder().encode(data))}`;
  return `${binary ? "binary" : "utf8"} ${data.length} ${hash(data)}`;
}

function hash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h;
}

function serverPeer(
  parameters: DeflateParameters,
  options: { maxMessageSize?: number; inflateThreshold?: number; textAsBytes?: boolean } = {},
): Peer {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  const written = new FrameParser({ role: "client", maxPayloadSize: 1 << 30 });
  let closeSeen: (code: number | undefined) => void;
  const closed = new Promise<number | undefined>((resolve) => closeSeen = resolve);
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      written.push(chunk.slice());
      for (let frame; (frame = written.next()) !== undefined;) {
        if (frame.opcode !== Opcode.Close) continue;
        closeSeen(decodeClosePayload(frame.payload).code);
        try {
          controller.close(); // the client's side ends too
        } catch {
          // already closed
        }
      }
    },
    close() {
      closeSeen(undefined);
    },
  });
  const extension = new PerMessageDeflate("server", parameters, {
    parallel: { workers: WORKERS, inflateThreshold: options.inflateThreshold ?? 1024 },
  });
  const connection = new Connection({ readable, writable }, {
    role: "server",
    extensions: [extension],
    maxMessageSize: options.maxMessageSize ?? 16 * 1024 * 1024,
    textAsBytes: options.textAsBytes,
  });
  const log: string[] = [];
  connection.onmessage = (data, isBinary) => log.push(describeData(data, isBinary));
  connection.onping = (data) => log.push(`ping ${hash(data)}`);
  connection.oncloseframe = (code) => log.push(`close ${code}`);
  connection.onerror = () => {};
  return {
    connection,
    log,
    feed: (bytes) => {
      try {
        controller.enqueue(bytes);
      } catch {
        // the connection has stopped reading
      }
    },
    closeCode: () => closed,
  };
}

/** The client's side: compresses messages as a peer with these parameters would, frames them masked. */
class ClientSide {
  readonly #compressor: Compressor;
  readonly #noContext: boolean;
  constructor(parameters: DeflateParameters) {
    this.#compressor = zlibWasmCodec.createCompressor({ windowBits: parameters.clientMaxWindowBits, level: 6, memLevel: 8 });
    this.#noContext = parameters.clientNoContextTakeover;
  }
  compressed(payload: Uint8Array): Uint8Array {
    const output = this.#compressor.compress(payload, true);
    if (this.#noContext) this.#compressor.reset();
    return output;
  }
  message(data: string | Uint8Array, compress = true): Uint8Array {
    const payload = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const opcode = typeof data === "string" ? Opcode.Text : Opcode.Binary;
    return frameBytes(opcode, compress ? this.compressed(payload) : payload, compress);
  }
}

function frameBytes(opcode: number, payload: Uint8Array, rsv1 = false): Uint8Array {
  const parts = encodeFrame(opcode, payload, { mask: true, rsv1 });
  return parts.length === 1 ? parts[0] : join(parts);
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function parameters(windowBits: number, noContext: boolean): DeflateParameters {
  return {
    serverNoContextTakeover: noContext,
    clientNoContextTakeover: noContext,
    serverMaxWindowBits: windowBits,
    clientMaxWindowBits: windowBits,
  };
}

describe("inflating large received messages on workers (RFC 7692 §7.2.2)", { skip: pool() === undefined }, () => {
  for (const noContext of [false, true]) {
    for (let windowBits = 8; windowBits <= 15; windowBits++) {
      test(`delivers what inline inflation would, in order, window ${windowBits}, ${noContext ? "no context takeover" : "context takeover"}`, async () => {
        const params = parameters(windowBits, noContext);
        const peer = serverPeer(params);
        const client = new ClientSide(params);
        const next = random(windowBits * 2 + (noContext ? 1 : 0));
        const expected: string[] = [];
        const inflatedBefore = pool()!.inflated;
        let chunk: Uint8Array[] = [];
        for (let i = 0; i < 24; i++) {
          const kind = next();
          const large = next() < 0.4;
          const size = large ? 20_000 + Math.floor(next() * 60_000) : Math.floor(next() * 300);
          if (kind < 0.1) {
            const ping = Uint8Array.of(i, i + 1);
            chunk.push(frameBytes(Opcode.Ping, ping));
            expected.push(`ping ${hash(ping)}`);
          } else if (kind < 0.6) {
            const message = text(next, size);
            chunk.push(client.message(message, next() < 0.9));
            expected.push(`text ${message.length} ${hash(new TextEncoder().encode(message))}`);
          } else {
            const message = binary(next, size);
            chunk.push(client.message(message, next() < 0.9));
            expected.push(`binary ${message.length} ${hash(message)}`);
          }
          // Several frames in one read at times, split reads at others.
          if (next() < 0.5) {
            const bytes = join(chunk);
            chunk = [];
            const cut = Math.floor(next() * bytes.length);
            peer.feed(bytes.subarray(0, cut));
            peer.feed(bytes.subarray(cut));
          }
        }
        if (chunk.length > 0) peer.feed(join(chunk));
        peer.feed(frameBytes(Opcode.Close, Uint8Array.of(0x03, 0xe8)));
        expected.push("close 1000");
        assert.equal(await peer.closeCode(), CloseCode.NormalClosure);
        await peer.connection.closed;
        assert.deepEqual(peer.log, expected);
        assert.ok(pool()!.inflated > inflatedBefore, "the workers inflated the large messages");
      });
    }
  }

  test("a message past maxMessageSize closes with 1009", async () => {
    const params = parameters(15, false);
    const peer = serverPeer(params, { maxMessageSize: 100_000 });
    const client = new ClientSide(params);
    const next = random(7);
    peer.feed(client.message(text(next, 50_000)));
    const large = client.compressed(new TextEncoder().encode(text(next, 300_000)));
    assert.ok(large.length < 100_000, "the frame passes the header check: the limit is hit while inflating");
    peer.feed(frameBytes(Opcode.Text, large, true));
    peer.feed(client.message("never delivered"));
    assert.equal(await peer.closeCode(), CloseCode.MessageTooBig);
    await peer.connection.closed;
    assert.equal(peer.log.length, 1);
    assert.match(peer.log[0], /^text 50/);
  });

  test("corrupt compressed data closes with 1007", async () => {
    const params = parameters(15, false);
    const peer = serverPeer(params);
    const garbage = binary(random(3), 8_000);
    garbage[0] = 0xff; // BTYPE 11: a reserved block type
    peer.feed(frameBytes(Opcode.Binary, garbage, true));
    assert.equal(await peer.closeCode(), CloseCode.InvalidPayloadData);
    await peer.connection.closed;
    assert.deepEqual(peer.log, []);
  });

  for (const textAsBytes of [false, true]) {
    test(`text that is not UTF-8 closes with 1007${textAsBytes ? " (textAsBytes)" : ""}`, async () => {
      const params = parameters(15, false);
      const peer = serverPeer(params, { textAsBytes });
      const client = new ClientSide(params);
      const bytes = binary(random(5), 40_000);
      bytes[20_000] = 0xff; // never in UTF-8
      peer.feed(frameBytes(Opcode.Text, client.compressed(bytes), true));
      assert.equal(await peer.closeCode(), CloseCode.InvalidPayloadData);
      await peer.connection.closed;
      assert.deepEqual(peer.log, []);
    });
  }

  test("a close frame behind a large message is handled after it, in the same read", async () => {
    const params = parameters(15, false);
    const peer = serverPeer(params);
    const client = new ClientSide(params);
    const message = text(random(11), 200_000);
    const inflatedBefore = pool()!.inflated;
    peer.feed(join([
      client.message(message),
      frameBytes(Opcode.Ping, Uint8Array.of(1)),
      frameBytes(Opcode.Close, Uint8Array.of(0x03, 0xe8)),
    ]));
    assert.equal(await peer.closeCode(), CloseCode.NormalClosure);
    await peer.connection.closed;
    assert.deepEqual(peer.log, [
      `text ${message.length} ${hash(new TextEncoder().encode(message))}`,
      `ping ${hash(Uint8Array.of(1))}`,
      "close 1000",
    ]);
    assert.equal(pool()!.inflated, inflatedBefore + 1);
  });

  test("a read that is a Node Buffer keeps its memory: the workers get copies, not Buffer#slice views", async () => {
    // Bun's and Node's sockets hand Buffers; `Buffer#slice` is a view, and transferring its buffer to a
    // worker detached the chunk, so the frames behind the large message failed ("Buffer is detached").
    const params = parameters(15, false);
    const peer = serverPeer(params);
    const client = new ClientSide(params);
    const message = text(random(17), 150_000);
    const inflatedBefore = pool()!.inflated;
    const frames = join([
      client.message(message),
      client.message("behind it"),
      frameBytes(Opcode.Close, Uint8Array.of(0x03, 0xe8)),
    ]);
    const read = Buffer.alloc(frames.length + 64);
    read.set(frames, 32);
    peer.feed(read.subarray(32, 32 + frames.length));
    assert.equal(await peer.closeCode(), CloseCode.NormalClosure);
    await peer.connection.closed;
    assert.equal(read.buffer.byteLength, frames.length + 64, "the read's memory is not detached");
    assert.deepEqual(peer.log, [
      `text ${message.length} ${hash(new TextEncoder().encode(message))}`,
      `text 9 ${hash(new TextEncoder().encode("behind it"))}`,
      "close 1000",
    ]);
    assert.equal(pool()!.inflated, inflatedBefore + 1);
  });

  test("text delivered as bytes (textAsBytes) stays bytes", async () => {
    const params = parameters(15, false);
    const peer = serverPeer(params, { textAsBytes: true });
    const client = new ClientSide(params);
    const message = text(random(13), 100_000);
    peer.feed(client.message(message));
    await until(() => peer.log.length === 1, "the message");
    const bytes = new TextEncoder().encode(message);
    assert.deepEqual(peer.log, [`utf8 ${bytes.length} ${hash(bytes)}`]);
    peer.connection.close(1000);
    peer.feed(frameBytes(Opcode.Close, Uint8Array.of(0x03, 0xe8)));
    await peer.connection.closed;
  });
});
