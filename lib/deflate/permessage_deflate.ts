/**
 * The permessage-deflate extension at work (RFC 7692 §6, §7.2): compresses messages sent, inflates
 * messages received, per the negotiated {@linkcode DeflateParameters}.
 *
 * @module
 */

import { CloseCode } from "../core/close_code.ts";
import type { Compressor, DeflateCodec, Decompressor } from "./codec.ts";
import { type DeflateParameters, PERMESSAGE_DEFLATE } from "./negotiation.ts";
import type { EncodeOptions, Extension } from "../core/extension.ts";
import type { Frame } from "../core/frame.ts";
import { Opcode } from "../core/opcode.ts";
import { type IdleReleaser, idleReleaser } from "./idle_release.ts";
import { ProtocolError } from "../core/protocol_error.ts";
import { defaultCodec } from "./zlib_wasm_codec.ts";
import { DEFAULT_CHUNK_SIZE, defaultDeflateWorkers, sharedDeflatePool, sharedInflatePool } from "./parallel_deflate.ts";

/** Where large messages are deflated off the event loop (see {@linkcode PerMessageDeflateOptions.parallel}). */
export interface ParallelDeflateOptions {
  /** Messages of at least this many bytes go to the workers. @default {DEFAULT_PARALLEL_THRESHOLD} */
  threshold?: number;
  /** Workers in the process's shared pool. @default {defaultDeflateWorkers()}: min(2, cores), 0 on one core */
  workers?: number;
  /** Bytes per piece compressed in parallel (at least 1024). @default {DEFAULT_CHUNK_SIZE} */
  chunkSize?: number;
  /**
   * Received messages of one frame whose compressed payload has at least this many bytes are inflated on
   * the workers, where the driver can wait for them (see {@linkcode PerMessageDeflate.deferLargeInflates}).
   * @default {DEFAULT_PARALLEL_INFLATE_THRESHOLD}
   */
  inflateThreshold?: number;
}

/**
 * Messages of at least this many bytes are deflated on workers, where there are any. Measured with
 * `bench/parallel_deflate_bench.ts --threshold-table` (Deno, 2 cores, one worker): inline, JSON of 64 KiB
 * holds the event loop 1.9 ms and 128 KiB 4.3 ms, while a trip to a worker adds 0.4-1 ms whatever the
 * size (up to 4 ms on a loaded machine): from 128 KiB the other connections gain more than the message
 * loses.
 */
export const DEFAULT_PARALLEL_THRESHOLD = 128 * 1024;

/**
 * Received messages of one frame whose compressed payload has at least this many bytes are inflated on
 * workers, where there are any and the driver waits for them (`lib/connection.ts` does). Measured with
 * `bench/inflate_threshold_bench.ts` (Deno and Bun, 2 cores, load 4-6): inline, 16 KiB compressed (128 KiB
 * of JSON) holds the event loop 0.25-0.35 ms and 32 KiB 0.55-0.67 ms, while the trip to a worker costs the
 * event loop 0.2-0.4 ms (the window, two copies of the compressed bytes, the post, the priming) whatever
 * the size, more when the collector runs: from 32 KiB the other connections gain.
 */
export const DEFAULT_PARALLEL_INFLATE_THRESHOLD = 32 * 1024;

/** Codec settings for {@linkcode PerMessageDeflate}. */
export interface PerMessageDeflateOptions {
  /** zlib compression level, 0..9. @default {6} */
  level?: number;
  /**
   * zlib memLevel, 1..9: the hash table takes `2^(memLevel+8)` bytes. 7 (not zlib's 8) saves 32 KiB per
   * compressor for 0-1% more bytes on the wire (`bench/codec_bench.ts --connections-table`). @default {7}
   */
  memLevel?: number;
  /**
   * Messages shorter than this many bytes are sent uncompressed (a sender may always do that).
   * @default {32}
   */
  threshold?: number;
  /**
   * The codec. `pakoCodec` is pure JavaScript; `zlibWasmCodec` is zlib in WebAssembly, 2-3x faster on large
   * messages. @default defaultCodec: zlibWasmCodec where WebAssembly can be compiled at run time, else pakoCodec
   */
  codec?: DeflateCodec;
  /**
   * With context takeover, a connection whose codecs have been unused for this many milliseconds keeps
   * only their windows (at most `2^windowBits` bytes each way, fewer when less was sent) and releases the
   * rest (~256 KiB to compress at 15 bits and memLevel 8, ~40 KiB to inflate); the next message rebuilds
   * the state from the window, so compression keeps referring to earlier messages. `Infinity` keeps the
   * state for the connection's life, as `ws` does.
   * @default {DEFAULT_RELEASE_AFTER_IDLE}
   */
  releaseAfterIdle?: number;
  /**
   * Whole messages of at least `threshold` bytes are deflated off the event loop, on a pool of workers the
   * process shares, in pieces of `chunkSize` compressed in parallel, each from the `2^windowBits` bytes
   * before it as a preset dictionary; the connection's compressor is then primed with the message's last `2^windowBits`
   * bytes, so later messages still refer to it (context takeover). Other connections' messages do not
   * wait meanwhile; this connection's later messages go after it, in order. Workers are Web Workers on
   * Deno and Bun, `worker_threads` on Node (wired in by the Node adapters); where there are none (workerd,
   * browsers), or with a codec that cannot be primed, messages are deflated inline. `false`: always inline.
   * Without context takeover on the sending side (`server_no_context_takeover` for a server), nothing is
   * primed: each message starts from an empty window anyway (the workers run zlib in WebAssembly, whatever
   * the connection's codec, or at 15 bits the runtime's native `node:zlib` where the adapters start them:
   * listenDeno, listenBun and the `node:http`/`node:net` paths, 1.2-1.7x less CPU, its own bytes on the
   * wire: `adapters/native_deflate.ts`). With a window below 15 bits, each piece's dictionary and the priming are the
   * last `2^windowBits` bytes (512 for 8: zlib deflates raw with 9 bits at least and then refers at most
   * 250 bytes back, within an 8-bit window).
   * @default {{ threshold: DEFAULT_PARALLEL_THRESHOLD, workers: defaultDeflateWorkers(), chunkSize: DEFAULT_CHUNK_SIZE }}
   */
  parallel?: ParallelDeflateOptions | false;
}

/** Milliseconds of no messages after which a connection's codec state shrinks to its windows. */
export const DEFAULT_RELEASE_AFTER_IDLE = 1000;

// With no context takeover, a message compressed or inflated in one call leaves no state behind: one codec
// per setting serves every connection, so such connections hold no codec memory at all. Keyed by codec first,
// so that a connection given its own codec gets that codec's.
const sharedCompressors = new WeakMap<DeflateCodec, Map<string, Compressor>>();
const sharedDecompressors = new WeakMap<DeflateCodec, Map<string, Decompressor>>();

/**
 * permessage-deflate for one connection. Codec state is allocated on first use; with no context
 * takeover, whole messages go through codecs shared by all connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PerMessageDeflate } from "./permessage_deflate.ts";
 * const parameters = {
 *   serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15,
 * };
 * const server = new PerMessageDeflate("server", parameters, { threshold: 0 });
 * const hello = new TextEncoder().encode("Hello");
 * const frame = server.encode({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0x1, payload: hello });
 * // RFC 7692 §7.2.3.1: c1 07 f2 48 cd c9 c9 07 00 on the wire.
 * assert(frame.rsv1 && frame.payload.join() === [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00].join());
 * ```
 */
export class PerMessageDeflate implements Extension {
  /** The extension token. */
  readonly name: typeof PERMESSAGE_DEFLATE = PERMESSAGE_DEFLATE;
  /** RSV1: "Per-Message Compressed" (RFC 7692 §6). */
  readonly rsvBits = 0x40;
  /** The negotiated parameters. */
  readonly parameters: DeflateParameters;

  readonly #codec: DeflateCodec;
  readonly #level: number;
  readonly #memLevel: number;
  readonly #threshold: number;
  readonly #sendWindow: number;
  readonly #sendNoContext: boolean;
  readonly #receiveWindow: number;
  readonly #receiveNoContext: boolean;
  #compressor: Compressor | undefined;
  #decompressor: Decompressor | undefined;
  #inflating = false; // the message being received is compressed
  #deflating = false; // the message being sent (fragment by fragment) is compressed
  readonly #releaser: IdleReleaser | undefined;
  // workers undefined: defaultDeflateWorkers() when a message is prepared (on Node the core count is
  // known only once adapters/node_worker_pool.ts has loaded node:os, after the first handshakes).
  readonly #parallel: Required<Omit<ParallelDeflateOptions, "workers">> & { workers: number | undefined } | undefined;
  #prepared: { input: Uint8Array; output: Uint8Array | undefined } | undefined; // see prepare()
  #deferring = false; // see deferLargeInflates()
  #deferred: Promise<Uint8Array> | undefined; // a message being inflated on a worker, not yet taken
  #inflatingElsewhere = false; // a message is being inflated on a worker

  /**
   * Makes the extension for one connection from what its handshake negotiated.
   *
   * @param role Which end this is: it picks which parameters apply to sending and which to receiving.
   * @param parameters What was negotiated.
   * @param options Codec settings.
   */
  constructor(role: "server" | "client", parameters: DeflateParameters, options: PerMessageDeflateOptions = {}) {
    this.parameters = parameters;
    this.#codec = options.codec ?? defaultCodec;
    this.#level = checkInteger("level", options.level ?? 6, 0, 9);
    this.#memLevel = checkInteger("memLevel", options.memLevel ?? 7, 1, 9);
    this.#threshold = checkInteger("threshold", options.threshold ?? 32, 0, Number.MAX_SAFE_INTEGER);
    const idle = options.releaseAfterIdle ?? DEFAULT_RELEASE_AFTER_IDLE;
    if (!(idle >= 0)) throw new RangeError(`Cannot configure ${PERMESSAGE_DEFLATE}: releaseAfterIdle ${idle} is not a number of milliseconds`);
    this.#releaser = idle === Infinity ? undefined : idleReleaser(idle);
    const parallel = options.parallel ?? {};
    if (parallel !== false) {
      if (typeof parallel !== "object" || parallel === null) throw new TypeError(`Cannot configure ${PERMESSAGE_DEFLATE}: parallel is neither false nor an object`);
      this.#parallel = {
        threshold: checkInteger("parallel.threshold", parallel.threshold ?? DEFAULT_PARALLEL_THRESHOLD, 0, Number.MAX_SAFE_INTEGER),
        workers: parallel.workers === undefined ? undefined : checkInteger("parallel.workers", parallel.workers, 0, 256),
        chunkSize: checkInteger("parallel.chunkSize", parallel.chunkSize ?? DEFAULT_CHUNK_SIZE, 1024, Number.MAX_SAFE_INTEGER),
        inflateThreshold: checkInteger("parallel.inflateThreshold", parallel.inflateThreshold ?? DEFAULT_PARALLEL_INFLATE_THRESHOLD, 1, Number.MAX_SAFE_INTEGER),
      };
    }
    // §7: "client_" parameters configure the client's compressor and the server's decompressor;
    // "server_" parameters the server's compressor and the client's decompressor.
    const server = role === "server";
    this.#sendWindow = server ? parameters.serverMaxWindowBits : parameters.clientMaxWindowBits;
    this.#sendNoContext = server ? parameters.serverNoContextTakeover : parameters.clientNoContextTakeover;
    this.#receiveWindow = server ? parameters.clientMaxWindowBits : parameters.serverMaxWindowBits;
    this.#receiveNoContext = server ? parameters.clientNoContextTakeover : parameters.serverNoContextTakeover;
  }

  /**
   * Inflates a received data frame of a compressed message.
   *
   * @param frame A Text, Binary or Continuation frame.
   * @param maxSize Largest inflated payload allowed.
   * @returns The frame with its payload inflated and RSV1 cleared.
   * @throws {ProtocolError} 1002 for RSV1 on a continuation frame, 1007 for corrupt data, 1009 past
   * `maxSize`.
   */
  decode(frame: Frame, maxSize: number): Frame {
    if (frame.opcode !== Opcode.Continuation) {
      this.#inflating = frame.rsv1;
      if (!frame.rsv1) return frame;
      if (frame.fin && this.#deferring && this.#deferInflate(frame.payload, maxSize)) {
        this.#inflating = false;
        return { ...frame, rsv1: false, payload: EMPTY };
      }
      if (frame.fin && this.#receiveNoContext) {
        // A whole message, no window kept: the shared decompressor does it and keeps nothing.
        const decompressor = sharedDecompressor(this.#codec, this.#receiveWindow);
        this.#inflating = false;
        return { ...frame, rsv1: false, payload: inflate(decompressor, frame.payload, maxSize) };
      }
    } else {
      // RFC 7692 §6.1: the "Per-Message Compressed" bit is set "on the first frame of the message" only;
      // RFC 6455 §5.2: an RSV bit with no negotiated meaning MUST fail the connection.
      if (frame.rsv1) throw new ProtocolError(CloseCode.ProtocolError, "Cannot decode frame: RSV1 is set on a continuation frame");
      if (!this.#inflating) return frame;
    }
    const decompressor = this.#decompressor ??= this.#codec.createDecompressor(this.#receiveWindow);
    let payload: Uint8Array;
    try {
      payload = decompressor.decompress(frame.payload, frame.fin, maxSize);
    } catch (error) {
      this.#inflating = false;
      throw error;
    }
    if (frame.fin) {
      this.#inflating = false;
      // The peer resets its window after every message: ours need not be kept.
      if (this.#receiveNoContext) {
        decompressor.release();
        this.#decompressor = undefined;
      } else {
        this.#releaser?.touch(this);
      }
    }
    return { ...frame, rsv1: false, payload };
  }

  /**
   * Compresses a data frame about to be sent: a whole message (FIN on a Text or Binary frame) or a fragment
   * of one sent piece by piece.
   *
   * @param frame The frame.
   * @param options `compress: false` sends this message uncompressed.
   * @returns The frame to put on the wire; RSV1 set on the first frame of a compressed message.
   */
  encode(frame: Frame, options?: EncodeOptions): Frame {
    if (frame.opcode === Opcode.Continuation) {
      if (!this.#deflating) return frame;
      const payload = this.#ownCompressor().compress(frame.payload, frame.fin);
      if (frame.fin) this.#endSentMessage();
      return { ...frame, payload };
    }
    const payload = frame.payload;
    const prepared = this.#prepared;
    if (prepared !== undefined) {
      this.#prepared = undefined;
      if (prepared.input === payload && frame.fin && prepared.output !== undefined) return this.#sendPrepared(frame, prepared.output);
    }
    if (options?.compress === false || (frame.fin && payload.length < this.#threshold)) {
      this.#deflating = false;
      return frame;
    }
    if (frame.fin && this.#sendNoContext) {
      // A whole message with no window kept: the shared compressor, reset after use (the key is
      // sharedEncoding's).
      const key = `${this.#sendWindow}/${this.#level}/${this.#memLevel}`;
      const compressor = shared(sharedCompressors, this.#codec, key, () => this.#createCompressor());
      const compressed = compressor.compress(payload, true);
      compressor.reset();
      // Nothing depends on this message's window: when compression does not pay, send it as it is.
      if (compressed.length >= payload.length) return frame;
      return { ...frame, rsv1: true, payload: compressed };
    }
    this.#deflating = !frame.fin;
    const compressed = this.#ownCompressor().compress(payload, frame.fin);
    if (frame.fin) this.#endSentMessage();
    return { ...frame, rsv1: true, payload: compressed };
  }

  /**
   * Starts deflating a large whole message on the shared worker pool (see
   * {@linkcode PerMessageDeflateOptions.parallel}); the next {@linkcode PerMessageDeflate.encode} of the
   * bytes it resolves to sends the result. If the workers fail, that encode deflates inline.
   *
   * @param data The message.
   * @param options `compress: false` sends it uncompressed (nothing to prepare).
   * @returns The message's bytes once deflated; `undefined` when it is deflated inline, as usual (too
   * small, parallel off, no workers here, a fragmented message in progress, a codec that cannot be primed).
   */
  prepare(data: string | Uint8Array, options?: EncodeOptions): Promise<Uint8Array> | undefined {
    const parallel = this.#parallel;
    if (parallel === undefined || options?.compress === false || this.#deflating) return undefined;
    const threshold = Math.max(parallel.threshold, this.#threshold);
    // A string's UTF-8 takes 1 to 3 bytes a UTF-16 unit.
    if (typeof data === "string" ? data.length * 3 < threshold : data.length < threshold) return undefined;
    // §7.2.1 with context takeover: the next message refers to this one's window, which the compressor
    // learns by being primed with the message's tail.
    if (!this.#sendNoContext && this.#ownCompressor().prime === undefined) return undefined;
    const pool = sharedDeflatePool(parallel.workers ?? defaultDeflateWorkers());
    if (pool === undefined) return undefined;
    const payload = typeof data === "string" ? encoder.encode(data) : data;
    if (payload.length < threshold) return undefined;
    const prepared: { input: Uint8Array; output: Uint8Array | undefined } = { input: payload, output: undefined };
    this.#prepared = prepared;
    const settings = { windowBits: this.#sendWindow, level: this.#level, memLevel: this.#memLevel };
    return pool.deflate(payload, settings, parallel.chunkSize).then(
      (output) => {
        prepared.output = output;
        return payload;
      },
      () => payload, // the workers failed or were closed: encode deflates it inline
    );
  }

  /**
   * What makes a compressed message of this connection's the same bytes as another connection's: with no
   * context takeover on the sending side (RFC 7692 §7.1.1.1), a whole message is compressed from an empty
   * window, so every connection with the same codec, window size, level and memLevel sends it identically
   * (one compression can serve them all: a broadcast). `undefined` with context takeover, where each
   * connection's output depends on its own history.
   */
  get sharedEncoding(): { codec: DeflateCodec; key: string; threshold: number } | undefined {
    if (!this.#sendNoContext) return undefined;
    return { codec: this.#codec, key: `${this.#sendWindow}/${this.#level}/${this.#memLevel}`, threshold: this.#threshold };
  }

  /**
   * Releases this connection's codec memory (both directions), windows included: for a connection that
   * has ended. (Between messages, {@linkcode PerMessageDeflate.hibernate} keeps the windows.)
   */
  release(): void {
    this.#releaser?.forget(this);
    this.#compressor?.release();
    this.#compressor = undefined;
    this.#decompressor?.release();
    this.#decompressor = undefined;
  }

  /**
   * Shrinks the codecs to their windows (see `releaseAfterIdle`); called by the idle releaser.
   *
   * @returns `false` while a fragmented message is being sent or received (it is tried again later).
   */
  hibernate(): boolean {
    if (this.#inflating || this.#deflating || this.#inflatingElsewhere) return false;
    this.#compressor?.hibernate?.();
    this.#decompressor?.hibernate?.();
    return true;
  }

  /**
   * Lets {@linkcode PerMessageDeflate.decode} inflate large messages on the shared worker pool, for a driver
   * that waits for them: a message of one frame whose compressed payload has at least
   * `parallel.inflateThreshold` bytes is then decoded to an empty payload at once, and
   * {@linkcode PerMessageDeflate.takeDeferredInflate}, called right after that frame's decode, gives the
   * promise of its real payload. The driver must decode no further frame until that promise settles (the
   * next message is inflated with the window this one leaves). Without workers here, with `parallel: false`
   * or a codec that cannot give and take its window, messages are inflated inline, as before.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { PerMessageDeflate } from "./permessage_deflate.ts";
   * const parameters = {
   *   serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15,
   * };
   * const server = new PerMessageDeflate("server", parameters);
   * server.deferLargeInflates();
   * assert.equal(server.takeDeferredInflate(), undefined); // nothing received yet
   * ```
   */
  deferLargeInflates(): void {
    this.#deferring = true;
  }

  /**
   * The payload of the message whose decode just returned an empty payload to wait for (see
   * {@linkcode PerMessageDeflate.deferLargeInflates}); `undefined` when the last message was inflated inline.
   *
   * @returns The inflated payload; rejects with a `ProtocolError` (1007 corrupt, 1009 too large) for a
   * message to refuse. If the workers fail, the message is inflated inline.
   */
  takeDeferredInflate(): Promise<Uint8Array> | undefined {
    const deferred = this.#deferred;
    this.#deferred = undefined;
    return deferred;
  }

  /** Starts inflating a whole message on a worker; `false` when it is to be inflated inline. */
  #deferInflate(payload: Uint8Array, maxSize: number): boolean {
    const parallel = this.#parallel;
    if (parallel === undefined || payload.length < parallel.inflateThreshold || maxSize < 1 || this.#inflatingElsewhere) return false;
    let decompressor: Decompressor | undefined;
    if (!this.#receiveNoContext) {
      decompressor = this.#decompressor ??= this.#codec.createDecompressor(this.#receiveWindow);
      if (decompressor.window === undefined || decompressor.prime === undefined) return false;
    }
    const pool = sharedInflatePool(parallel.workers ?? defaultDeflateWorkers());
    if (pool === undefined) return false;
    // No worker ready: this message is inflated inline rather than wait for one to start (a decompression
    // bomb must get its 1009 at once); the next finds one ready.
    if (!pool.ready) {
      void pool.warm();
      return false;
    }
    // §7.2.2: "the receiver MUST decompress each new message using the LZ77 sliding window used to process
    // the last compressed message": the worker starts from that window as its preset dictionary.
    const dictionary = decompressor === undefined ? EMPTY : decompressor.window!();
    const input = new Uint8Array(payload); // a copy (Buffer#slice would be a view), kept should the workers fail
    const windowBits = this.#receiveWindow;
    this.#inflatingElsewhere = true;
    this.#deferred = pool.inflate(input, dictionary, windowBits, maxSize).then(
      (output) => {
        this.#inflatingElsewhere = false;
        // The window the message leaves: its last 2^windowBits bytes, after the window before it.
        if (decompressor !== undefined && decompressor === this.#decompressor) {
          decompressor.prime!(lastBytes(dictionary, output, 2 ** windowBits));
          this.#releaser?.touch(this);
        }
        return output;
      },
      (error) => {
        this.#inflatingElsewhere = false;
        if (error instanceof ProtocolError) throw error;
        // The workers failed or were closed: inline, from the window the decompressor still holds.
        if (decompressor === undefined) {
          const shared = sharedDecompressor(this.#codec, windowBits);
          return inflate(shared, input, maxSize);
        }
        return decompressor.decompress(input, true, maxSize);
      },
    );
    return true;
  }

  /** Sends a message deflated on the workers. */
  #sendPrepared(frame: Frame, compressed: Uint8Array): Frame {
    this.#deflating = false;
    if (this.#sendNoContext) {
      // Nothing depends on this message's window: when compression does not pay, send it as it is.
      if (compressed.length >= frame.payload.length) return frame;
      return { ...frame, rsv1: true, payload: compressed };
    }
    // §7.2.1: with context takeover the peer inflates the next message "using the LZ77 sliding window used
    // to process the last compressed message": it ends with this message's bytes, so ours must hold them
    // and nothing else (the pieces referred to no earlier message). The compressor keeps the tail that
    // fits its window (2^windowBits; 512 bytes for 8, of which zlib refers back at most 250).
    this.#ownCompressor().prime!(frame.payload);
    this.#endSentMessage();
    return { ...frame, rsv1: true, payload: compressed };
  }

  #ownCompressor(): Compressor {
    return this.#compressor ??= this.#createCompressor();
  }

  #createCompressor(): Compressor {
    return this.#codec.createCompressor({ windowBits: this.#sendWindow, level: this.#level, memLevel: this.#memLevel });
  }

  #endSentMessage(): void {
    this.#deflating = false;
    // §7.1.1: without context takeover, the next message must not reference this one.
    if (this.#sendNoContext) {
      this.#compressor?.release();
      this.#compressor = undefined;
    } else {
      this.#releaser?.touch(this);
    }
  }
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

function sharedDecompressor(codec: DeflateCodec, windowBits: number): Decompressor {
  return shared(sharedDecompressors, codec, `${windowBits}`, () => codec.createDecompressor(windowBits));
}

/** The last `size` bytes of `before` followed by `after`. */
function lastBytes(before: Uint8Array, after: Uint8Array, size: number): Uint8Array {
  if (after.length >= size) return after.subarray(after.length - size);
  const keep = Math.min(before.length, size - after.length);
  const joined = new Uint8Array(keep + after.length);
  joined.set(before.subarray(before.length - keep));
  joined.set(after, keep);
  return joined;
}

function inflate(decompressor: Decompressor, payload: Uint8Array, maxSize: number): Uint8Array {
  try {
    return decompressor.decompress(payload, true, maxSize);
  } finally {
    decompressor.reset();
  }
}

function shared<T>(caches: WeakMap<DeflateCodec, Map<string, T>>, codec: DeflateCodec, key: string, create: () => T): T {
  let cache = caches.get(codec);
  if (cache === undefined) {
    cache = new Map();
    caches.set(codec, cache);
  }
  let value = cache.get(key);
  if (value === undefined) {
    value = create();
    cache.set(key, value);
  }
  return value;
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot configure ${PERMESSAGE_DEFLATE}: ${name} ${value} is not an integer in ${min}..${max}`);
  }
  return value;
}
