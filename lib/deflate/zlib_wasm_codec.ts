/**
 * A {@linkcode DeflateCodec} on zlib itself, compiled to WebAssembly (`scripts/build_zlib_wasm.sh`):
 * synchronous like pako, so the sans-I/O core can call it, with zlib's real sync flush and a window kept
 * across messages: 1.2-1.7x pako's speed to compress and 1.4-11x to inflate text (`bench/codec_bench.ts`
 * on Deno and Bun), byte for byte the output of plain zlib 1.2.13 (a digest test). It runs wherever
 * WebAssembly may be compiled at run time (Deno, Bun, Node, browsers); where it may not (Cloudflare's
 * workerd forbids it), {@linkcode defaultCodec} is pako, loaded there and only there with a dynamic
 * `import()` (see {@linkcode loadDefaultCodec}), so a bundle's entry chunk does not carry it.
 *
 * Memory: each compressor holds zlib's `2^(windowBits+2) + 2^(memLevel+9)` bytes less the pending buffer
 * all compressors share (`2^(memLevel+8)`; ~192 KiB at 15/8 in all), each
 * decompressor ~7 KiB plus its `2^windowBits` window, in the linear memory of a WebAssembly instance shared
 * by many connections. Linear memory never shrinks: freed streams are reused by later ones, so an instance
 * stays at its busiest size. Streams are placed in an instance until it reaches
 * {@linkcode INSTANCE_SOFT_LIMIT}, then in a new one; an instance no stream refers to is garbage collected
 * whole. Idle connections hibernate to a few KiB of JavaScript memory (see `releaseAfterIdle`), and the
 * state open at once is bounded ({@linkcode DEFAULT_COMPRESSOR_BUDGET}, {@linkcode DEFAULT_DECOMPRESSOR_BUDGET}):
 * with many connections active, the least recently used streams hibernate first, and a new stream goes
 * where one was freed.
 *
 * @module
 */

import { ZLIB_WASM_DEFLATED_BASE64, ZLIB_WASM_SIZE } from "./_zlib_wasm_binary.ts";
import { inflateRaw } from "./_inflate_raw.ts";
import { CloseCode } from "../core/close_code.ts";
import type { Compressor, CompressorOptions, DeflateCodec, Decompressor } from "./codec.ts";
import { ProtocolError } from "../core/protocol_error.ts";

const Z_NO_FLUSH = 0;
const Z_SYNC_FLUSH = 2;
const Z_BLOCK = 5;
const Z_OK = 0;
const Z_STREAM_END = 1;
const Z_MEM_ERROR = -4;
const Z_BUF_ERROR = -5;

/** Input is copied into the instance this many bytes at a time. */
const INPUT_STAGE = 64 * 1024;
/**
 * Output is read out of the instance in chunks of the output area's size: 64 KiB (which also holds a whole
 * 32 KiB window), grown up to this size when messages inflate to more, so that a message of up to 1 MiB is
 * copied out once (copies of fresh large arrays cost more than inflating: Bun's profile of a 1 MiB echo).
 */
const OUTPUT_STAGE_MAX = 1024 * 1024;
const OUTPUT_STAGE_MIN = 64 * 1024;
/** New streams go to a fresh instance once an instance's linear memory has grown to this size. */
export const INSTANCE_SOFT_LIMIT = 32 * 1024 * 1024;
/**
 * An instance left with no stream is dropped (its memory goes back to the garbage collector) unless it is
 * the one new streams go to and no larger than this: a quiet server keeps one small instance.
 */
const INSTANCE_KEEP_LIMIT = 4 * 1024 * 1024;
/** As in pako_codec.ts: a hibernating compressor keeps this much history (a decompressor keeps all). */
const COMPRESSOR_DICTIONARY_LIMIT = 8 * 1024;
/**
 * Compressor state (zlib's window, hash chains and hash table: `2^(windowBits+2) + 2^(memLevel+8)` bytes,
 * 160 KiB at 15/7, 192 KiB at 15/8) that may be open at once in the process unless changed with
 * {@linkcode setZlibWasmBudget}. Beyond it, the compressor least recently used gives its state back and
 * keeps the last 8 KiB of its window, as on idle hibernation: 1,000 connections that each sent a message
 * hold the state of ~200 (15/7), not 1,000. Waking costs a rebuild of the hash chains from those 8 KiB
 * (`bench/codec_bench.ts --connections-table`), paid only when more connections than that take turns
 * sending.
 */
export const DEFAULT_COMPRESSOR_BUDGET = 32 * 1024 * 1024;
/**
 * Decompressor state (zlib's ~7 KiB and the `2^windowBits` window) that may be open at once unless changed
 * with {@linkcode setZlibWasmBudget}. Beyond it, the decompressor least recently used between messages
 * copies its window out and gives its state back (as on idle hibernation); waking copies the window back
 * in. A decompressor in the middle of a message is never evicted.
 */
export const DEFAULT_DECOMPRESSOR_BUDGET = 8 * 1024 * 1024;
/** zlib's inflate_state (its code tables included), about. */
const INFLATE_STATE = 7 * 1024;
/** The largest LZ77 window (15 bits). */
const MAX_WINDOW = 32 * 1024;
/** §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload of the message." */
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** What wasm/zlib_glue.c exports. Pointers are offsets into `memory`. */
interface ZlibExports {
  memory: WebAssembly.Memory;
  wz_malloc(size: number): number;
  wz_free(pointer: number): void;
  wz_deflate_new(level: number, windowBits: number, memLevel: number): number;
  wz_deflate(stream: number, out: number, outLength: number, flush: number): number;
  wz_deflate_reset(stream: number): number;
  wz_deflate_set_dictionary(stream: number, dictionary: number, length: number): number;
  wz_deflate_get_dictionary(stream: number, out: number): number;
  wz_deflate_end(stream: number): void;
  wz_inflate_new(windowBits: number): number;
  wz_inflate(stream: number, out: number, outLength: number, flush: number): number;
  wz_inflate_reset(stream: number): number;
  wz_inflate_reset_keep(stream: number): number;
  wz_inflate_set_dictionary(stream: number, dictionary: number, length: number): number;
  wz_inflate_get_dictionary(stream: number, out: number): number;
  wz_inflate_end(stream: number): void;
  wz_set_input(stream: number, input: number, length: number): void;
  wz_avail_in(stream: number): number;
  wz_avail_out(stream: number): number;
  wz_data_type(stream: number): number;
  wz_message(stream: number): number;
}

let compiled: WebAssembly.Module | null | undefined;

function compile(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  const text = atob(ZLIB_WASM_DEFLATED_BASE64);
  const deflated = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) deflated[i] = text.charCodeAt(i);
  // Shipped deflated (20 KiB, not 56): ~48 KB less in every bundle that carries the codec. Outside the
  // try: a failure here is a bug, not a runtime without WebAssembly.
  const bytes = inflateRaw(deflated, ZLIB_WASM_SIZE);
  try {
    compiled = new WebAssembly.Module(bytes);
  } catch {
    compiled = null; // no WebAssembly, or compiling at run time is forbidden (workerd)
  }
  return compiled;
}

/** Whether this runtime can run {@linkcode zlibWasmCodec} (compiles the module on first call). */
export function zlibWasmAvailable(): boolean {
  return compile() !== null;
}

/** One instance of the module: its memory, and the staging areas all its streams share. */
class ZlibInstance {
  readonly zlib: ZlibExports;
  readonly input: number;
  output: number;
  outputSize = OUTPUT_STAGE_MIN;
  #heap: Uint8Array;
  #live = 0; // streams open in this instance
  /** Frees the streams of codecs that were dropped without `release()`. */
  readonly #finalizer = new FinalizationRegistry<{ stream: number; inflate: boolean }>(({ stream, inflate }) => {
    this.#free(stream, inflate);
  });

  constructor(module: WebAssembly.Module) {
    this.zlib = new WebAssembly.Instance(module, {}).exports as unknown as ZlibExports;
    this.input = this.zlib.wz_malloc(INPUT_STAGE);
    this.output = this.zlib.wz_malloc(this.outputSize);
    if (this.input === 0 || this.output === 0) throw new RangeError("Cannot start zlib: out of memory");
    this.#heap = new Uint8Array(this.zlib.memory.buffer);
  }

  /** The linear memory, as a view that is renewed after the memory grows. */
  get heap(): Uint8Array {
    const buffer = this.zlib.memory.buffer;
    if (this.#heap.buffer !== buffer) this.#heap = new Uint8Array(buffer);
    return this.#heap;
  }

  get full(): boolean {
    return this.zlib.memory.buffer.byteLength >= INSTANCE_SOFT_LIMIT;
  }

  /** Records a stream opened for `owner`, to be freed by `close` or, failing that, when `owner` is collected. */
  opened(stream: number, inflate: boolean, owner: object): void {
    this.#live++;
    this.#finalizer.register(owner, { stream, inflate }, owner);
  }

  /** Frees `owner`'s stream; an instance left with none may be dropped. */
  close(stream: number, inflate: boolean, owner: object): void {
    this.#finalizer.unregister(owner);
    this.#free(stream, inflate);
  }

  /** Grows the output area towards the size a message needed (bounded by OUTPUT_STAGE_MAX). */
  growOutput(needed: number): void {
    const size = Math.min(OUTPUT_STAGE_MAX, 2 ** Math.ceil(Math.log2(needed)));
    if (size <= this.outputSize) return;
    const output = this.zlib.wz_malloc(size);
    if (output === 0) return; // keep the small one
    this.zlib.wz_free(this.output);
    this.output = output;
    this.outputSize = size;
  }

  /** zlib's message for the stream's last error. */
  message(stream: number, status: number): string {
    const pointer = this.zlib.wz_message(stream);
    if (pointer === 0) return `zlib status ${status}`;
    const heap = this.heap;
    let end = pointer;
    while (heap[end] !== 0) end++;
    return String.fromCharCode(...heap.subarray(pointer, end));
  }

  /** Copies `bytes` (at most 32 KiB, a window) into the instance, through the output area. */
  stageDictionary(bytes: Uint8Array): number {
    this.heap.set(bytes, this.output);
    return this.output;
  }

  /** Copies out the `length` bytes at `pointer`. */
  copyOut(pointer: number, length: number): Uint8Array {
    return this.heap.slice(pointer, pointer + length);
  }

  #free(stream: number, inflate: boolean): void {
    if (inflate) this.zlib.wz_inflate_end(stream);
    else this.zlib.wz_deflate_end(stream);
    if (--this.#live === 0) {
      if (recentlyFreed === this) recentlyFreed = undefined;
      this.#drop();
    } else {
      recentlyFreed = this;
    }
  }

  /** With no stream left: lets the instance go, unless it is the small one new streams go to. */
  #drop(): void {
    if (this === current && this.zlib.memory.buffer.byteLength > INSTANCE_KEEP_LIMIT) current = undefined;
  }
}

let current: ZlibInstance | undefined;
/**
 * The instance where a stream was last freed (while others stay open there): the next stream goes there,
 * into that memory, rather than into fresh pages of the current one (which would grow the resident set
 * while the freed memory stays resident, unused).
 */
let recentlyFreed: ZlibInstance | undefined;
const instances: WeakRef<ZlibInstance>[] = [];

/** The instance new streams go to. */
function instanceForNewStream(): ZlibInstance {
  if (current === undefined || current.full) {
    const module = compile();
    if (module === null) throw new Error("Cannot start zlib: WebAssembly cannot be compiled here");
    current = new ZlibInstance(module);
    instances.push(new WeakRef(current));
  }
  return current;
}

/**
 * Opens a stream with `open` in `preferred` if given (where a stream was freed: its memory is reused), else
 * in the instance new streams go to; if that instance is out of memory, in a fresh one.
 *
 * @returns The instance and the stream.
 */
function openStream(
  open: (zlib: ZlibExports) => number,
  inflate: boolean,
  owner: object,
  preferred?: ZlibInstance,
): [ZlibInstance, number] {
  if (preferred !== undefined) {
    const stream = open(preferred.zlib);
    if (stream !== 0) {
      preferred.opened(stream, inflate, owner);
      return [preferred, stream];
    }
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    const instance = instanceForNewStream();
    const stream = open(instance.zlib);
    if (stream !== 0) {
      instance.opened(stream, inflate, owner);
      return [instance, stream];
    }
    if (current === instance) current = undefined; // full: new streams go elsewhere
  }
  throw new RangeError(`Cannot create ${inflate ? "decompressor" : "compressor"}: zlib is out of memory`);
}

/** What {@linkcode zlibWasmMemory} reports. */
export interface ZlibWasmMemory {
  /** Live WebAssembly instances (each with its own linear memory). */
  instances: number;
  /** Their linear memory in all, in bytes. */
  bytes: number;
}

/**
 * The linear memory {@linkcode zlibWasmCodec} holds now, for monitoring. An instance's memory does not
 * shrink, but an instance left with no stream is dropped (and collected); instances not yet collected
 * are counted.
 *
 * @returns Instances alive and their bytes.
 */
export function zlibWasmMemory(): ZlibWasmMemory {
  let bytes = 0;
  let live = 0;
  for (let i = instances.length - 1; i >= 0; i--) {
    const instance = instances[i].deref();
    if (instance === undefined) {
      instances.splice(i, 1);
      continue;
    }
    live++;
    bytes += instance.zlib.memory.buffer.byteLength;
  }
  return { instances: live, bytes };
}

/** How much state one direction's open streams may hold at once, in bytes (see {@linkcode setZlibWasmBudget}). */
export interface ZlibWasmBudget {
  /** Compressors' state. @default {DEFAULT_COMPRESSOR_BUDGET} */
  compressors?: number;
  /** Decompressors' state. @default {DEFAULT_DECOMPRESSOR_BUDGET} */
  decompressors?: number;
}

/** Open streams of one direction, least recently used first, and the state they hold (estimated). */
class StreamBudget {
  readonly slots = new Set<StreamSlot>();
  bytes = 0;
  limit: number;
  /** What an evicted stream keeps of its window. */
  readonly #keep: number;

  constructor(limit: number, keep: number) {
    this.limit = limit;
    this.#keep = keep;
  }

  /**
   * Evicts the streams least recently used (not those in the middle of a message) until `more` bytes fit.
   *
   * @returns Whether it evicted any.
   */
  evict(more: number): boolean {
    let evicted = false;
    for (const slot of this.slots) {
      if (this.bytes + more <= this.limit) break;
      if (slot.busy) continue;
      slot.hibernate(this.#keep);
      evicted = true;
    }
    return evicted;
  }
}

const compressorBudget = new StreamBudget(DEFAULT_COMPRESSOR_BUDGET, COMPRESSOR_DICTIONARY_LIMIT);
const decompressorBudget = new StreamBudget(DEFAULT_DECOMPRESSOR_BUDGET, Infinity);

/**
 * Sets how much zlib state may be open at once in the process (see {@linkcode DEFAULT_COMPRESSOR_BUDGET}
 * and {@linkcode DEFAULT_DECOMPRESSOR_BUDGET}): less memory per connection when many connections are
 * active, at the cost of rebuilding the state from the window kept for a stream that was evicted
 * (`bench/codec_bench.ts --connections-table`). Streams over a lowered budget are evicted at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_COMPRESSOR_BUDGET, setZlibWasmBudget } from "./zlib_wasm_codec.ts";
 * const previous = setZlibWasmBudget({ compressors: 8 * 1024 * 1024 });
 * assert.equal(previous.compressors, DEFAULT_COMPRESSOR_BUDGET);
 * setZlibWasmBudget(previous);
 * ```
 *
 * @param budget Bytes for each direction; a direction left out keeps its budget (`Infinity`: streams
 * keep their state until idle, as before budgets).
 * @returns The budgets it replaces, both.
 */
export function setZlibWasmBudget(budget: ZlibWasmBudget): Required<ZlibWasmBudget> {
  for (const [name, bytes] of Object.entries(budget)) {
    if (bytes !== undefined && !(bytes >= 0)) throw new RangeError(`Cannot set zlib budget: ${name} ${bytes} is not a number of bytes`);
  }
  const previous = { compressors: compressorBudget.limit, decompressors: decompressorBudget.limit };
  compressorBudget.limit = budget.compressors ?? compressorBudget.limit;
  decompressorBudget.limit = budget.decompressors ?? decompressorBudget.limit;
  compressorBudget.evict(0);
  decompressorBudget.evict(0);
  return previous;
}

/** `parts` joined, at most `length` bytes of them. */
function join(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0].subarray(0, length);
  const result = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    if (offset >= length) break;
    const take = Math.min(part.length, length - offset);
    result.set(take === part.length ? part : part.subarray(0, take), offset);
    offset += take;
  }
  return result;
}

/**
 * One codec's zlib stream: opened on first use, in the instance new streams go to, from the window kept by
 * the last hibernation if any; closed by release or hibernation.
 */
class StreamSlot {
  instance: ZlibInstance | undefined;
  stream = 0;
  /** The window kept by {@linkcode StreamSlot.hibernate}, restored as a preset dictionary on open. */
  window: Uint8Array | undefined;
  /** In the middle of a message (a decompressor's state is more than its window): not to be evicted. */
  busy = false;
  /** The state the stream holds while open, counted against its direction's budget. */
  #cost = 0;
  readonly #inflate: boolean;
  readonly #budget: StreamBudget;

  constructor(inflate: boolean) {
    this.#inflate = inflate;
    this.#budget = inflate ? decompressorBudget : compressorBudget;
  }

  /**
   * Opens the stream with `create` and restores the kept window. Its `cost` counts against its direction's
   * budget: the least recently used streams are evicted first, and the new one goes where a stream was
   * freed last.
   */
  open(create: (zlib: ZlibExports) => number, cost: number): void {
    // Where a stream was freed, unless that instance has reached its soft limit: then only into the memory
    // of a stream of the same direction just evicted (the same size, as settings go).
    const budget = this.#budget;
    const evicted = budget.evict(cost);
    const preferred = recentlyFreed !== undefined && (evicted || !recentlyFreed.full) ? recentlyFreed : undefined;
    const [instance, stream] = openStream(create, this.#inflate, this, preferred);
    this.instance = instance;
    this.stream = stream;
    this.#cost = cost;
    budget.slots.add(this);
    budget.bytes += cost;
    const window = this.window;
    if (window === undefined) return;
    this.window = undefined;
    const { zlib } = instance;
    const setDictionary = this.#inflate ? zlib.wz_inflate_set_dictionary : zlib.wz_deflate_set_dictionary;
    const status = setDictionary(stream, instance.stageDictionary(window), window.length);
    if (status !== Z_OK) throw new Error(`Cannot restore ${this.#inflate ? "decompressor" : "compressor"} window: zlib status ${status}`);
  }

  /** Keeps the window's last `limit` bytes (oldest first) and closes the stream. */
  hibernate(limit: number): void {
    if (this.stream === 0) return;
    const instance = this.instance!;
    const { zlib, output } = instance;
    const getDictionary = this.#inflate ? zlib.wz_inflate_get_dictionary : zlib.wz_deflate_get_dictionary;
    const length = getDictionary(this.stream, output);
    const keep = Math.min(Math.max(length, 0), limit);
    this.window = keep === 0 ? undefined : instance.copyOut(output + length - keep, keep);
    this.close();
  }

  /** Marks the stream as the one most recently used (the last to be evicted). */
  touch(): void {
    const slots = this.#budget.slots;
    slots.delete(this);
    slots.add(this);
  }

  close(): void {
    if (this.stream === 0) return;
    this.#budget.slots.delete(this);
    this.#budget.bytes -= this.#cost;
    this.#cost = 0;
    this.busy = false;
    this.instance!.close(this.stream, this.#inflate, this);
    this.stream = 0;
    this.instance = undefined;
  }
}

class ZlibWasmCompressor implements Compressor {
  readonly #options: CompressorOptions;
  readonly #slot = new StreamSlot(false);

  constructor(options: CompressorOptions) {
    this.#options = options;
  }

  compress(data: Uint8Array, end: boolean): Uint8Array {
    const slot = this.#slot;
    if (slot.stream === 0) this.#open();
    else slot.touch();
    const instance = slot.instance!;
    const { zlib, input, output, outputSize } = instance;
    const stream = slot.stream;
    const parts: Uint8Array[] = [];
    let total = 0;
    let offset = 0;
    do {
      const length = Math.min(INPUT_STAGE, data.length - offset);
      instance.heap.set(data.subarray(offset, offset + length), input);
      offset += length;
      // §7.2.1: the message's octets are compressed and the result ends with an empty stored block: zlib's
      // sync flush, at the end of the piece.
      const flush = offset === data.length ? Z_SYNC_FLUSH : Z_NO_FLUSH;
      zlib.wz_set_input(stream, input, length);
      for (;;) {
        const status = zlib.wz_deflate(stream, output, outputSize, flush);
        if (status !== Z_OK && status !== Z_BUF_ERROR) throw new Error(`Cannot compress: ${instance.message(stream, status)}`);
        const left = zlib.wz_avail_out(stream);
        if (left !== outputSize) {
          parts.push(instance.copyOut(output, outputSize - left));
          total += outputSize - left;
        }
        // With output space left over, zlib has taken all the input (and completed the flush).
        if (left !== 0) break;
      }
    } while (offset < data.length);
    // A flush with no input right after a flush emits nothing: what was sent already ends with 00 00 ff ff.
    // §7.2.3.6: "an empty uncompressed DEFLATE block can be built and used ... 0x00".
    if (total === 0) return end ? Uint8Array.of(0x00) : new Uint8Array(0);
    // §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end" on the message's last piece.
    return join(parts, end ? total - 4 : total);
  }

  reset(): void {
    const slot = this.#slot;
    if (slot.stream !== 0) slot.instance!.zlib.wz_deflate_reset(slot.stream);
    slot.window = undefined;
  }

  release(): void {
    this.#slot.close();
    this.#slot.window = undefined;
  }

  hibernate(): void {
    this.#slot.hibernate(COMPRESSOR_DICTIONARY_LIMIT);
  }

  prime(dictionary: Uint8Array): void {
    const slot = this.#slot;
    // zlib keeps at most a window's worth (the tail): 32 KiB covers every window size.
    const window = dictionary.subarray(Math.max(0, dictionary.length - MAX_WINDOW));
    if (slot.stream === 0) {
      // Restored as the preset dictionary when the stream opens.
      slot.window = window.length === 0 ? undefined : window.slice();
      return;
    }
    const { zlib } = slot.instance!;
    // deflateSetDictionary on a raw stream is allowed between flushes (no lookahead); after the reset the
    // window holds the dictionary alone.
    zlib.wz_deflate_reset(slot.stream);
    slot.window = undefined;
    if (window.length === 0) return;
    const status = zlib.wz_deflate_set_dictionary(slot.stream, slot.instance!.stageDictionary(window), window.length);
    if (status !== Z_OK) throw new Error(`Cannot prime compressor: zlib status ${status}`);
  }

  #open(): void {
    const { level, memLevel } = this.#options;
    // zlib cannot make a raw stream with an 8-bit window. At 9 bits it never references farther back than
    // 512 - 262 (MIN_LOOKAHEAD) = 250 bytes, which an 8-bit (256-byte) window holds: valid for 8.
    const windowBits = Math.max(this.#options.windowBits, 9);
    // zlib's window (2 bytes per position), hash chains (2 per position) and hash table (2 per entry).
    const cost = 2 ** (windowBits + 2) + 2 ** (memLevel + 8);
    this.#slot.open((zlib) => zlib.wz_deflate_new(level, windowBits, memLevel), cost);
  }
}

class ZlibWasmDecompressor implements Decompressor {
  readonly #windowBits: number;
  readonly #slot = new StreamSlot(true);
  #ended = false; // a BFINAL block ended and no byte of the message has come since

  constructor(windowBits: number) {
    this.#windowBits = windowBits;
  }

  decompress(data: Uint8Array, end: boolean, maxSize: number): Uint8Array {
    const slot = this.#slot;
    if (slot.stream === 0) {
      const windowBits = this.#windowBits;
      slot.open((zlib) => zlib.wz_inflate_new(windowBits), 2 ** windowBits + INFLATE_STATE);
    } else slot.touch();
    const instance = slot.instance!;
    const { zlib, input, output, outputSize } = instance;
    const stream = slot.stream;
    const parts: Uint8Array[] = [];
    let total = 0;
    const feed = (piece: Uint8Array, appended: boolean): void => {
      if (this.#ended) {
        // §7.2.3.4: a message that ends with its BFINAL block (no empty block after it) needs no tail.
        if (appended || piece.length === 0) return;
        this.#ended = false;
      }
      instance.heap.set(piece, input);
      zlib.wz_set_input(stream, input, piece.length);
      for (;;) {
        // One byte past the limit at most: inflation stops there, however large the output area is.
        const room = Math.min(outputSize, maxSize - total + 1);
        // The appended tail is inflated up to the next block boundary only, to check where it ends.
        const status = zlib.wz_inflate(stream, output, room, appended ? Z_BLOCK : Z_SYNC_FLUSH);
        const produced = room - zlib.wz_avail_out(stream);
        if (produced !== 0) {
          total += produced;
          if (total > maxSize) {
            throw new ProtocolError(CloseCode.MessageTooBig, `Cannot inflate message: more than the limit of ${maxSize} bytes`);
          }
          parts.push(instance.copyOut(output, produced));
        }
        if (status === Z_STREAM_END) {
          // §7.2.1: "An endpoint MAY use both DEFLATE blocks with the "BFINAL" bit set to 0 and DEFLATE blocks
          // with the "BFINAL" bit set to 1. ... The next DEFLATE block follows the padded data if any." Read on,
          // keeping the window (§7.2.2: "MUST decompress each new message using the LZ77 sliding window used
          // to process the last compressed message").
          zlib.wz_inflate_reset_keep(stream);
          this.#ended = zlib.wz_avail_in(stream) === 0;
          if (this.#ended) return;
          continue;
        }
        if (status === Z_MEM_ERROR) throw new RangeError("Cannot inflate message: zlib is out of memory");
        if (status !== Z_OK && status !== Z_BUF_ERROR) {
          throw new ProtocolError(CloseCode.InvalidPayloadData, `Cannot inflate message: ${instance.message(stream, status)}`);
        }
        // Output area full: there may be more, even with no input left.
        if (zlib.wz_avail_out(stream) === 0) continue;
        // §7.2.1 ends a message with "an empty DEFLATE block with no compression" less its 4 last octets: the
        // appended octets are its LEN and NLEN, so they end exactly at a block boundary (data_type bit 128).
        if (appended && (zlib.wz_avail_in(stream) !== 0 || (zlib.wz_data_type(stream) & 128) === 0)) {
          throw new ProtocolError(CloseCode.InvalidPayloadData, "Cannot inflate message: it does not end at a DEFLATE block boundary");
        }
        return;
      }
    };
    try {
      for (let offset = 0; offset < data.length || offset === 0; offset += INPUT_STAGE) {
        feed(data.subarray(offset, offset + INPUT_STAGE), false);
      }
      if (end) feed(TAIL, true);
    } catch (error) {
      this.reset();
      throw error;
    }
    if (end) this.#ended = false;
    slot.busy = !end;
    if (parts.length === 0) return new Uint8Array(0);
    // Output that took several chunks: a larger output area next time (one copy for up to 1 MiB).
    if (parts.length > 1) instance.growOutput(total);
    return join(parts, total);
  }

  reset(): void {
    const slot = this.#slot;
    if (slot.stream !== 0) slot.instance!.zlib.wz_inflate_reset(slot.stream);
    slot.window = undefined;
    slot.busy = false;
    this.#ended = false;
  }

  release(): void {
    this.#slot.close();
    this.#slot.window = undefined;
    this.#ended = false;
  }

  hibernate(): void {
    // The peer may refer to any of the window: all of it is kept (at most 2^windowBits bytes).
    this.#slot.hibernate(Infinity);
    this.#ended = false;
  }

  window(): Uint8Array {
    const slot = this.#slot;
    if (slot.stream === 0) return slot.window === undefined ? new Uint8Array(0) : slot.window.slice();
    const instance = slot.instance!;
    const length = instance.zlib.wz_inflate_get_dictionary(slot.stream, instance.output);
    return length > 0 ? instance.copyOut(instance.output, length) : new Uint8Array(0);
  }

  prime(dictionary: Uint8Array): void {
    const slot = this.#slot;
    this.#ended = false;
    slot.busy = false;
    // zlib keeps at most a window's worth (the tail).
    const window = dictionary.subarray(Math.max(0, dictionary.length - 2 ** this.#windowBits));
    if (slot.stream === 0) {
      // Restored as the preset dictionary when the stream opens.
      slot.window = window.length === 0 ? undefined : window.slice();
      return;
    }
    const { zlib } = slot.instance!;
    // zlib: "For raw inflate, this function can be called at any time to set the dictionary"; after the
    // reset the window holds the dictionary alone.
    zlib.wz_inflate_reset(slot.stream);
    slot.window = undefined;
    if (window.length === 0) return;
    const status = zlib.wz_inflate_set_dictionary(slot.stream, slot.instance!.stageDictionary(window), window.length);
    if (status !== Z_OK) throw new Error(`Cannot prime decompressor: zlib status ${status}`);
  }
}

/**
 * The zlib (WebAssembly) codec. Throws on first use where WebAssembly cannot be compiled; see
 * {@linkcode defaultCodec} for the choice made automatically.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zlibWasmCodec } from "./zlib_wasm_codec.ts";
 * const compressor = zlibWasmCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
 * const bytes = compressor.compress(new TextEncoder().encode("Hello"), true);
 * // RFC 7692 §7.2.3.1: "Hello" compresses to f2 48 cd c9 c9 07 00.
 * assert.deepEqual([...bytes], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
 * compressor.release();
 * ```
 */
export const zlibWasmCodec: DeflateCodec = {
  name: "zlib (WebAssembly)",
  createCompressor: (options) => new ZlibWasmCompressor(options),
  createDecompressor: (windowBits) => new ZlibWasmDecompressor(windowBits),
};

/** pako, once {@linkcode loadDefaultCodec} has loaded it (only where WebAssembly cannot be compiled). */
let fallback: DeflateCodec | undefined;
let fallbackLoading: Promise<DeflateCodec> | undefined;

/** The codec {@linkcode defaultCodec} stands for now. */
function chosenCodec(): DeflateCodec {
  if (zlibWasmAvailable()) return zlibWasmCodec;
  if (fallback !== undefined) return fallback;
  throw new Error(
    "Cannot use permessage-deflate yet: WebAssembly cannot be compiled here and the pako fallback is not loaded (await loadDefaultCodec() first)",
  );
}

/**
 * The codec permessage-deflate uses unless told otherwise: {@linkcode zlibWasmCodec} where WebAssembly can
 * be compiled at run time (decided on first use), else pako, which {@linkcode loadDefaultCodec} loads
 * first. The handshakes (`serverHandshake`, `ClientHandshake`) await that on their own when they
 * negotiate permessage-deflate, so only code that builds a `PerMessageDeflate` itself on such a runtime
 * needs to call it.
 */
export const defaultCodec: DeflateCodec = {
  get name() {
    return zlibWasmAvailable() ? zlibWasmCodec.name : "pako";
  },
  createCompressor: (options) => chosenCodec().createCompressor(options),
  createDecompressor: (windowBits) => chosenCodec().createDecompressor(windowBits),
};

/**
 * Makes {@linkcode defaultCodec} usable: at once where WebAssembly can be compiled (zlib in WebAssembly,
 * nothing to load), else by importing the pako codec (`import()` on first call; bundlers put it in a
 * chunk of its own, fetched only there).
 *
 * @returns `undefined` when nothing needs loading, so a synchronous caller need not wait; else a promise
 * that settles once the fallback is loaded.
 */
export function defaultCodecReady(): Promise<DeflateCodec> | undefined {
  if (zlibWasmAvailable() || fallback !== undefined) return undefined;
  return fallbackLoading ??= import("./pako_codec.ts").then(
    (module) => fallback = module.pakoCodec,
    (error) => {
      fallbackLoading = undefined; // a later handshake tries again
      throw error;
    },
  );
}

/**
 * Loads what {@linkcode defaultCodec} needs on this runtime (pako, where WebAssembly cannot be compiled)
 * and returns the codec it stands for. The handshakes call it when they negotiate permessage-deflate; call
 * it yourself only before building a `PerMessageDeflate` by hand on such a runtime (Cloudflare Workers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadDefaultCodec } from "./zlib_wasm_codec.ts";
 * const codec = await loadDefaultCodec();
 * assert.equal(codec.name, "zlib (WebAssembly)"); // "pako" on Cloudflare Workers
 * ```
 *
 * @returns The codec permessage-deflate uses by default here.
 */
export async function loadDefaultCodec(): Promise<DeflateCodec> {
  await defaultCodecReady();
  return chosenCodec();
}
