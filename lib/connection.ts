/**
 * Drives the sans-I/O {@linkcode Protocol} over any `{ readable, writable }` byte pair, with the close
 * timeout and backpressure. The facades (`WebSocket`, `WebSocketStream`) and the servers build on it.
 *
 * @module
 */

import { Fifo } from "./core/fifo.ts";
import { PublishLedger } from "./core/publish_ledger.ts";
import { joinBytes } from "./core/join_bytes.ts";
import { CloseCode } from "./core/close_code.ts";
import { Protocol, type ProtocolOptions, type SendOptions } from "./core/protocol.ts";
import { ReadyState } from "./core/ready_state.ts";
import { debugLogger, type Logger } from "./core/logger.ts";
import { ProtocolError } from "./core/protocol_error.ts";
import { deferLargeInflates, inflatedMessage } from "./deflate/deferred_inflate.ts";

/**
 * Frames produced in one turn (the replies to one read, a burst of sends) are written together: runs of
 * small frames are copied into one buffer of at most this many bytes, so a read that carried ten messages
 * costs one socket write for the ten echoes, not ten. Larger frames are written as they are.
 */
const MERGE_LIMIT = 64 * 1024;
/** Frames (and payloads written apart from their header) at least this large are never copied to be merged. */
const MERGE_FRAME_LIMIT = 8 * 1024;
/**
 * Milliseconds of work (parsing, inflating, the handlers) one connection may do before the others get a
 * turn: then it yields to the event loop (a macrotask) and goes on where it stopped. Without it, a read
 * full of compressed messages that each inflate to 1 MiB, or of a million pings, held every other
 * connection of the process for seconds (the reads of one socket chain through microtasks).
 */
const SLICE_MS = 10;
/** Events handled between two looks at the clock (an event of 16 KiB or more counts as that many). */
const EVENTS_PER_CLOCK_CHECK = 32;

/**
 * Resolves in a later turn of the event loop, after pending I/O. A timer, not `setImmediate`: Deno runs
 * immediates before it polls sockets, so with them a flooding connection still held the others (measured
 * with bench/fairness_bench.ts: a canary's round trip up to 1 s on Deno with `setImmediate`, 50 ms with a
 * timer; Node and Bun read sockets between timers too).
 */
function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, 0));
}

/** A byte stream pair: whatever a runtime's socket gives, or any custom transport. */
export interface Transport {
  /** Bytes from the peer. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. */
  writable: WritableStream<Uint8Array>;
  /**
   * Optional: a writer that hands each chunk to the transport at once, without the stream machinery of
   * `writable` (a promise chain and a queue per chunk: ~10 us a write on Node, the most of a 16 KiB
   * fan-out's CPU). A {@linkcode Connection} takes it instead of `writable.getWriter()`; it locks `writable`.
   */
  getWriter?(): TransportWriter;
}

/**
 * What a {@linkcode Connection} uses of a writer: a `WritableStreamDefaultWriter`, or a transport's own
 * ({@linkcode Transport.getWriter}) with the same meaning (`write` resolves once the transport wrote the
 * chunk, `ready` and `desiredSize` count bytes against its high-water mark, `close` once everything was
 * written), and optionally `writev`.
 *
 * @example A writer over an array (a test double's shape; real ones are in `lib/adapters/`)
 * ```ts
 * import assert from "node:assert/strict";
 * import type { TransportWriter } from "./connection.ts";
 * const written: Uint8Array[] = [];
 * const writer: TransportWriter = {
 *   desiredSize: 1,
 *   ready: Promise.resolve(),
 *   write: async (chunk) => void written.push(chunk!),
 *   writev: async (chunks) => void written.push(...chunks),
 *   close: async () => {},
 *   abort: async () => {},
 * };
 * await writer.writev!([new Uint8Array([1]), new Uint8Array([2])]);
 * assert.equal(written.length, 2);
 * ```
 */
export interface TransportWriter
  extends Pick<WritableStreamDefaultWriter<Uint8Array>, "write" | "close" | "abort" | "ready" | "desiredSize"> {
  /**
   * Optional: writes several chunks, in order, as one write where the transport can (a `writev`, a corked
   * burst, one joined buffer): a publish that reaches a subscriber's outbox several frames at a time then
   * costs one system call instead of one per frame. Resolves once every chunk was written.
   */
  writev?(chunks: readonly Uint8Array[]): Promise<void>;
  /**
   * Optional, with `writev`: `writev` copies its chunks into writes of its own without allocating (a buffer
   * it reuses), so the connection hands them over as they are instead of joining runs of small frames into a
   * new buffer first (Bun.listen's sockets).
   */
  readonly joinsChunks?: boolean;
  /**
   * Optional: a promise `write` and `writev` return (this very object, already fulfilled) when the
   * transport took the chunks before returning, as their promise would report once settled, and so every
   * chunk written before them: the connection then counts them as written at once instead of in a
   * callback per write. Bun.listen's sockets return it when the kernel took the whole write; `node:net`
   * sockets when the socket holds nothing after the write (its callback has run).
   */
  readonly writtenNow?: Promise<void>;
}

/** Options for {@linkcode Connection}. */
export interface ConnectionOptions extends Omit<ProtocolOptions, "state"> {
  /**
   * Milliseconds to wait for the peer's close frame after ours, and, in the client role, for the server to
   * close the TCP connection after the closing handshake (§7.1.1); then the transport is cut.
   * @default {5000}
   */
  closeTimeout?: number;
  /** Bytes already read from the transport (past an HTTP head), processed before anything else. */
  head?: Uint8Array;
  /**
   * Keepalive: when nothing has arrived for `interval` ms a ping is sent, and when nothing at all (pong or
   * any frame) arrives within `timeout` ms of it, the peer is taken for gone: a close frame with 1001 is
   * sent in case it is still there, the transport is cut, and `closed` reports 1006 (no close frame was
   * received). On by default, under the idle limits of common proxies (nginx cuts an idle socket after
   * 60 s, Cloudflare after 100 s); `false` turns it off. One timer serves every connection of the process.
   * The pongs to these pings measure the round trip ({@linkcode Connection.latency}).
   * @default {{ interval: 25000, timeout: 20000 }}
   */
  heartbeat?: { interval: number; timeout: number } | false;
  /**
   * The queue of published messages ({@linkcode Connection.publish}) that the transport cannot take yet:
   * its bound and the policy past it. Direct `send()`s are not dropped: their promises apply backpressure.
   * @default {{ limit: 1048576, policy: "close" }}
   */
  publishQueue?: PublishQueueOptions;
  /**
   * Where this connection's events are logged, one line each (never one per message): `closed` with the
   * code, reason and wasClean (debug), published messages dropped, a slow consumer closed with 1013 and a
   * heartbeat timeout (warn). See {@linkcode Logger}.
   * @default none; a console logger when the environment has `DEBUG=wsengine*` (read by the adapters)
   */
  logger?: Logger;
}

/**
 * What a connection does when a published message would take its publish queue past its bound (a
 * subscriber that reads more slowly than messages are published): `"close"` closes it with 1013 (Try Again
 * Later) and drops what was queued, `"drop-oldest"` drops queued messages from the oldest until the new one
 * fits, `"drop-newest"` drops the new one. Every drop is counted and reported ({@linkcode Connection.ondrop}).
 */
export type SlowConsumerPolicy = "close" | "drop-oldest" | "drop-newest";

/** The bound of a connection's publish queue and what happens past it. */
export interface PublishQueueOptions {
  /**
   * Bytes of published messages held while the transport cannot take them, each counted with the cost of
   * its place in the queue ({@linkcode QUEUED_MESSAGE_COST}): the bound is one on memory, small messages
   * included. @default {1048576}
   */
  limit?: number;
  /** What happens past the limit. @default {"close"} */
  policy?: SlowConsumerPolicy;
}

/**
 * Bytes each queued message counts beyond its own against the publish queue's limit: what a queued entry
 * holds in memory besides its bytes (the entry, the frame's array and buffer objects), measured with
 * 100,000 queued 64-byte messages: 259 bytes each on V8 (Deno, Node), 187 on JavaScriptCore (Bun). Without
 * it a subscriber that never reads pinned ~5x the limit at 64-byte messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QUEUED_MESSAGE_COST } from "./connection.ts";
 * // A 1 MiB bound holds about 3,300 queued 64-byte messages, or 63 of 16 KiB.
 * assert.equal(Math.floor(1048576 / (64 + QUEUED_MESSAGE_COST)), 3276);
 * ```
 */
export const QUEUED_MESSAGE_COST = 256;

/** A published message for one connection ({@linkcode Connection.publish}). */
export interface PublishedMessage {
  /** The topic it was published to (reported with a drop). */
  readonly topic: string;
  /** The whole frame, ready for the wire (shared by the subscribers that can take the same bytes). */
  readonly frame?: Uint8Array;
  /** Or the message, to be framed (and compressed) by this connection when it is written. */
  readonly data?: string | Uint8Array;
  /** How `data` is sent. */
  readonly options?: SendOptions;
  /** Its size in bytes, counted against the queue's limit. */
  readonly size: number;
}

/** An entry of the publish queue: a published message, or a direct send that came after one. */
interface Queued {
  topic: string | undefined; // undefined: a direct send(), never dropped
  frame?: Uint8Array;
  data?: string | Uint8Array;
  options?: SendOptions;
  size: number;
  resolve?: () => void;
  reject?: (error: Error) => void;
}

const DEFAULT_PUBLISH_QUEUE_LIMIT = 1024 * 1024;

/**
 * What the connection reads the transport with: its readable's reader, typed by what is used (Bun's
 * declarations add `readMany` to the global reader type, which a `node:stream/web` reader lacks).
 */
interface TransportReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

/** The heartbeat's default: a ping after 25 s of silence, given up on 20 s later. */
export const DEFAULT_HEARTBEAT = { interval: 25_000, timeout: 20_000 } as const;

/** A connection's side of the shared heartbeat timer. */
interface Beating {
  /** Called on every tick of the shared timer. */
  beat(now: number): void;
  /** Its interval and timeout: the timer ticks at least every half of the smallest. */
  readonly period: number;
}

/**
 * One timer for every connection with a heartbeat: it ticks at half the smallest interval or timeout in use
 * and visits each connection (a comparison or two when nothing is due). It runs only while connections
 * are registered, so it keeps no process alive by itself.
 */
const heartbeats = {
  beating: new Set<Beating>(),
  timer: undefined as ReturnType<typeof setInterval> | undefined,
  period: Infinity,
  add(beating: Beating): void {
    this.beating.add(beating);
    if (beating.period < this.period || this.timer === undefined) this.restart();
  },
  delete(beating: Beating): void {
    if (!this.beating.delete(beating)) return;
    if (this.beating.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.period = Infinity;
    }
  },
  restart(): void {
    clearInterval(this.timer);
    let period = Infinity;
    for (const beating of this.beating) period = Math.min(period, beating.period);
    this.period = period;
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const beating of this.beating) beating.beat(now);
    }, Math.max(1, period / 2));
  },
};

/** How a connection ended (RFC 6455 §7.1.5, §7.1.6). */
export interface CloseResult {
  /** The code of the close frame received; 1005 if it had none, 1006 if none was received. */
  readonly code: number;
  /** The reason of the close frame received, or `""`. */
  readonly reason: string;
  /** Whether the closing handshake completed: a close frame went each way. */
  readonly wasClean: boolean;
}

/**
 * A WebSocket connection after the opening handshake. Set `onmessage` (and optionally `onping`, `onpong`,
 * `onerror`) before the first turn of the event loop; await `closed` for the end.
 *
 * @example
 * ```ts ignore
 * import { Connection } from "./connection.ts";
 * declare const transport: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
 * const connection = new Connection(transport, { role: "server" });
 * connection.onmessage = (data) => connection.send(data); // echo
 * const { code, reason } = await connection.closed;
 * ```
 */
export class Connection {
  #onmessage: ((data: string | Uint8Array, binary: boolean) => void) | undefined;
  // Messages that arrived while no onmessage handler was set, or that are being inflated on a worker
  // (`inflating`: the first of them, nothing is delivered or parsed after it until it is done).
  #held: { data: string | Uint8Array; binary: boolean; inflating?: boolean }[] = [];
  // Large compressed messages inflated on workers: the promise of the last message event's payload.
  #takeDeferredInflate: (() => Promise<Uint8Array> | undefined) | undefined;
  /** Called with each ping's payload (the pong is sent already). */
  onping: ((data: Uint8Array) => void) | undefined;
  /** Called with each pong's payload. */
  onpong: ((data: Uint8Array) => void) | undefined;
  /** Called with the peer's close frame, as soon as it arrives. */
  oncloseframe: ((code: number, reason: string) => void) | undefined;
  /** Called with an error that failed the connection: a `ProtocolError`, a transport or a handler error. */
  onerror: ((error: Error) => void) | undefined;
  /**
   * Called when published messages for this connection are dropped (its publish queue was over its limit,
   * or the connection ended before they were written), with their topic and how many.
   */
  ondrop: ((topic: string, count: number) => void) | undefined;

  readonly #protocol: Protocol;
  readonly #reader: TransportReader;
  readonly #writer: TransportWriter;
  readonly #closeTimeout: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #transportError: Error | undefined;
  #transportClosing = false;
  #transportClosed: Promise<void> | undefined;
  #bufferedAmount = 0;
  #finished = false;
  #errorReported = false;
  #streaming: Promise<void> | undefined;
  #prepared: { data: string | Uint8Array; options: SendOptions | undefined; sent: boolean } | undefined; // see #sendPrepared
  /** Published while a prepared message owned the data frames: written after it, or by close() before its frame. */
  #publishedBehind: { message: PublishedMessage; done: boolean }[] = [];
  #lastWrite: Promise<void> = Promise.resolve();
  #outbox: Uint8Array[] = []; // frames taken from the protocol, not yet handed to the writer
  #outboxBytes = 0;
  #writeScheduled = false; // a microtask will write the outbox
  readonly #writeOutboxBound = () => this.#writeOutbox();
  #readyAfterWrite: Promise<void> | undefined; // writer.ready once that write is queued
  #paused: { promise: Promise<void>; resolve: () => void } | undefined;
  #heartbeat: Beating | undefined;
  #heartbeatPing: Uint8Array | undefined; // the payload of the heartbeat's ping awaiting its pong
  #latency = NaN;
  #lastReceived = 0;
  #drainOnClose = true;
  #sliceStart = 0; // performance.now() less the work done in the current slice
  readonly #queueLimit: number;
  readonly #queuePolicy: SlowConsumerPolicy;
  #queue = new Fifo<Queued>(); // published messages (and the sends after them) the transport cannot take yet
  #queueBytes = 0;
  #draining = false;
  #dropped = 0;
  readonly #ledger = new PublishLedger(); // published messages handed towards the transport, not yet written
  #writesQueued = 0; // writes handed to the writer so far
  #closeWriteIndex = 0; // the number of the write that carried our close frame, once it was handed over
  #writesDoneNow = 0; // the number of the last write the writer completed before returning (`writtenNow`)
  #closeWritten = false; // that write succeeded
  #unparsed = false; // #dispatch stopped for the time budget: buffered input may hold more events
  readonly #closed: Promise<CloseResult>;
  #resolveClosed!: (result: CloseResult) => void;

  /**
   * Starts driving a connection over `transport`, whose opening handshake is done.
   *
   * @param transport The byte streams; the connection takes both (it locks them).
   * @param options The role, limits, extensions and close timeout.
   */
  constructor(transport: Transport, options: ConnectionOptions) {
    this.#protocol = new Protocol(options);
    this.#takeDeferredInflate = deferLargeInflates(this.#protocol.extensions);
    this.#log = options.logger ?? debugLogger(options.role);
    this.#closeTimeout = options.closeTimeout ?? 5000;
    if (!(this.#closeTimeout >= 0)) throw new RangeError(`Cannot create connection: closeTimeout ${options.closeTimeout} is negative`);
    const queue = options.publishQueue ?? {};
    this.#queueLimit = queue.limit ?? DEFAULT_PUBLISH_QUEUE_LIMIT;
    if (!(this.#queueLimit >= 0)) throw new RangeError(`Cannot create connection: publishQueue.limit ${queue.limit} is not a size`);
    this.#queuePolicy = queue.policy ?? "close";
    if (!["close", "drop-oldest", "drop-newest"].includes(this.#queuePolicy)) {
      throw new RangeError(`Cannot create connection: publishQueue.policy ${queue.policy} is not "close", "drop-oldest" or "drop-newest"`);
    }
    this.#reader = transport.readable.getReader();
    this.#writer = transport.getWriter?.() ?? transport.writable.getWriter();
    this.#closed = new Promise((resolve) => this.#resolveClosed = resolve);
    const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT;
    if (heartbeat !== false) this.#startHeartbeat(heartbeat);
    this.#readLoop(options.head);
  }

  /**
   * Called with each message: a `string` for text (its UTF-8 bytes with `textAsBytes`), a `Uint8Array` for
   * binary; `binary` tells which the message was. Messages that arrive while no
   * handler is set are held, and reading pauses, until one is set: nothing is lost to a handler set after
   * a few awaits.
   */
  get onmessage(): ((data: string | Uint8Array, binary: boolean) => void) | undefined {
    return this.#onmessage;
  }

  set onmessage(handler: ((data: string | Uint8Array, binary: boolean) => void) | undefined) {
    this.#onmessage = handler;
    if (handler !== undefined && this.#held.length > 0) queueMicrotask(() => this.#releaseHeld());
  }

  /** CONNECTING, OPEN, CLOSING or CLOSED, as the protocol sees it. */
  get readyState(): ReadyState {
    return this.#finished ? ReadyState.Closed : this.#protocol.state === ReadyState.Closed ? ReadyState.Closing : this.#protocol.state;
  }

  /** Bytes handed to the transport and not yet written by it. */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /**
   * The round trip in milliseconds measured by the heartbeat's last ping and its pong (`NaN` until one came
   * back, or with the heartbeat off). Pings go out only when the connection is idle.
   */
  get latency(): number {
    return this.#latency;
  }

  /**
   * Bytes of published messages (and sends after them) waiting for the transport to take them, each with
   * {@linkcode QUEUED_MESSAGE_COST}: what is counted against the publish queue's limit.
   */
  get queuedAmount(): number {
    return this.#queueBytes;
  }

  /** Published messages dropped so far (see {@linkcode SlowConsumerPolicy}). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Resolves when everything handed to the transport so far has been written (or the write failed). */
  get drained(): Promise<void> {
    this.#writeOutbox();
    return this.#lastWrite;
  }

  /** The underlying protocol state (for close frames sent and received, and the failure). */
  get protocol(): Protocol {
    return this.#protocol;
  }

  /** Resolves when the transport is closed, with the close code, reason and cleanliness. */
  get closed(): Promise<CloseResult> {
    return this.#closed;
  }

  /**
   * Sends a message (text for a string, binary for bytes).
   *
   * @param data The message.
   * @param options Per-message fragment size and compression.
   * @returns A promise that resolves when the transport can take more (backpressure).
   * @throws {DOMException} `InvalidStateError` unless OPEN.
   */
  send(data: string | Uint8Array, options?: SendOptions): Promise<void> {
    // A message streaming out owns the data frames until it ends: later messages queue behind it.
    if (this.#streaming !== undefined) return this.#streaming.then(() => this.send(data, options));
    // Published messages are waiting: this one goes after them (the order of the calls is the order sent).
    if (this.#queue.length > 0) {
      if (this.#protocol.state !== ReadyState.Open) {
        throw new DOMException("Cannot send: the connection is not open", "InvalidStateError");
      }
      return new Promise<void>((resolve, reject) => {
        const size = sizeOf(data) + QUEUED_MESSAGE_COST;
        this.#queue.push({ topic: undefined, data, options, size, resolve, reject });
        this.#queueBytes += size;
        this.#drainQueue();
      });
    }
    const prepared = this.#sendPrepared(data, options);
    if (prepared !== undefined) return prepared;
    this.#protocol.send(data, options);
    this.#flush();
    return this.#ready();
  }

  /**
   * A large message that an extension prepares off the event loop (permessage-deflate on workers): like a
   * streamed message, it owns the data frames until it is sent, so later sends and published messages
   * queue behind it, in order; other connections carry on meanwhile.
   *
   * @returns `undefined` when no extension prepares this message: it is sent at once.
   */
  #sendPrepared(data: string | Uint8Array, options: SendOptions | undefined): Promise<void> | undefined {
    if (this.#protocol.state !== ReadyState.Open) return undefined; // send() throws as usual
    let pending: Promise<Uint8Array> | undefined;
    for (const extension of this.#protocol.extensions) {
      pending = extension.prepare?.(data, options);
      if (pending !== undefined) break;
    }
    if (pending === undefined) return undefined;
    const prepared = { data, options, sent: false };
    this.#prepared = prepared;
    const sending = pending.then((payload) => {
      if (prepared.sent) return; // close() sent it already
      prepared.sent = true;
      this.#prepared = undefined;
      // The connection failed or closed meanwhile: the message is lost with the transport, as a message
      // handed to a transport that then fails.
      if (this.#protocol.state !== ReadyState.Open) return;
      this.#protocol.send(payload, { ...options, binary: options?.binary ?? typeof data !== "string" });
      this.#flush();
    });
    const done = sending.then(() => {}, () => {}).finally(() => {
      if (this.#streaming === done) this.#streaming = undefined;
    });
    this.#streaming = done;
    return sending.then(() => this.#ready());
  }

  /**
   * Sends a message of unknown length from a stream, as a fragmented message (§5.4): each chunk becomes a
   * frame as it arrives, text when the first chunk is a string. Pings, pongs and close may go out between
   * the fragments; other messages wait until this one ends. If the stream errors, the message cannot be
   * completed honestly, so the connection fails with 1011 and the error is rethrown.
   *
   * @param stream The message's chunks.
   * @param options `compress: false` sends it uncompressed.
   * @returns Resolves when the last fragment has been handed to the transport.
   */
  sendStream(stream: ReadableStream<string | Uint8Array>, options?: SendOptions): Promise<void> {
    if (this.#streaming !== undefined) return this.#streaming.then(() => this.sendStream(stream, options));
    this.#releaseQueue(); // what was published before goes first
    const sending = this.#pumpStream(stream, options);
    const done = sending.then(() => {}, () => {}).finally(() => {
      if (this.#streaming === done) this.#streaming = undefined;
    });
    this.#streaming = done;
    return sending;
  }

  async #pumpStream(stream: ReadableStream<string | Uint8Array>, options?: SendOptions): Promise<void> {
    const reader = stream.getReader();
    // One chunk is held back, so that the last one carries FIN (no empty final frame).
    let held: string | Uint8Array | undefined;
    let started = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (held !== undefined) {
          this.#protocol.sendFragment(held, false, started ? undefined : options);
          started = true;
          this.#flush();
          await this.#ready();
        }
        held = value;
      }
    } catch (error) {
      if (started) this.fail(CloseCode.InternalError, "");
      throw error;
    } finally {
      reader.releaseLock();
    }
    this.#protocol.sendFragment(held ?? new Uint8Array(0), true, started ? undefined : options);
    this.#flush();
    await this.#ready();
  }

  /**
   * Sends one fragment of a message of unknown length (see {@linkcode Protocol.sendFragment}).
   *
   * @param data The fragment.
   * @param fin Whether it ends the message.
   * @returns A promise that resolves when the transport can take more.
   */
  sendFragment(data: string | Uint8Array, fin: boolean): Promise<void> {
    if (!this.#protocol.sendingFragments) this.#releaseQueue(); // what was published before goes first
    this.#protocol.sendFragment(data, fin);
    this.#flush();
    if (fin && this.#queue.length > 0) this.#drainQueue();
    return this.#ready();
  }

  /**
   * Sends a ping.
   *
   * @param data At most 125 bytes.
   */
  ping(data?: string | Uint8Array): void {
    this.#protocol.ping(data);
    this.#flush();
  }

  /**
   * Sends a pong.
   *
   * @param data At most 125 bytes.
   */
  pong(data?: string | Uint8Array): void {
    this.#protocol.pong(data);
    this.#flush();
  }

  /**
   * Sends a published message without ever waiting: written at once when the transport has room and
   * nothing is queued, else queued, in order with direct sends. Past the publish queue's limit the
   * connection's {@linkcode SlowConsumerPolicy} applies. Does nothing unless OPEN.
   *
   * @param message A whole frame shared with other subscribers, or the message to frame here.
   * @returns Whether the message was written or queued (`false`: dropped, or the connection is not open).
   */
  publish(message: PublishedMessage): boolean {
    if (this.#protocol.state !== ReadyState.Open || this.#finished) return false;
    // A message being deflated on a worker owns the data frames: what is published after it goes after it,
    // in call order with the sends waiting for it.
    if (this.#prepared !== undefined) {
      const behind = { message, done: false };
      this.#publishedBehind.push(behind);
      this.#streaming!.then(() => {
        if (behind.done) return; // close() wrote it
        behind.done = true;
        this.#publishedBehind.splice(this.#publishedBehind.indexOf(behind), 1);
        // Accepted, then the connection failed meanwhile: counted and reported, never lost in silence.
        if (this.#protocol.state !== ReadyState.Open || this.#finished) this.#drop(new Map([[message.topic, 1]]));
        else this.publish(message);
      });
      return true;
    }
    if (this.#queue.length === 0 && this.#canWriteNow()) {
      this.#writeQueued(message); // the common case: no queue entry to make
      return true;
    }
    const queued: Queued = { ...message, topic: message.topic, size: message.size + QUEUED_MESSAGE_COST };
    if (this.#queueBytes + queued.size > this.#queueLimit) {
      // drop-oldest too for a message larger than the whole bound: emptying the queue would not make it fit.
      if (this.#queuePolicy === "drop-newest" || (this.#queuePolicy === "drop-oldest" && queued.size > this.#queueLimit)) {
        this.#drop(new Map([[queued.topic!, 1]]));
        return false;
      }
      if (this.#queuePolicy === "close") {
        this.#closeSlow(queued.topic!);
        return false;
      }
      // drop-oldest: published messages go from the head until this one fits (direct sends stay).
      const dropped = new Map<string, number>();
      for (let i = 0; i < this.#queue.length && this.#queueBytes + queued.size > this.#queueLimit;) {
        const old = this.#queue.at(i)!;
        if (old.topic === undefined) {
          i++;
          continue;
        }
        this.#queue.removeAt(i);
        this.#queueBytes -= old.size;
        dropped.set(old.topic, (dropped.get(old.topic) ?? 0) + 1);
      }
      if (this.#queueBytes + queued.size > this.#queueLimit) dropped.set(queued.topic!, (dropped.get(queued.topic!) ?? 0) + 1);
      this.#drop(dropped);
      if (dropped.has(queued.topic!) && this.#queueBytes + queued.size > this.#queueLimit) return false;
    }
    this.#queue.push(queued);
    this.#queueBytes += queued.size;
    this.#drainQueue();
    return true;
  }

  /** Whether a data frame can be handed to the transport now without passing its high-water mark. */
  #canWriteNow(): boolean {
    return this.#streaming === undefined && !this.#protocol.sendingFragments &&
      (this.#writer.desiredSize ?? 0) - this.#outboxBytes > 0;
  }

  #writeQueued(queued: Pick<Queued, "topic" | "frame" | "data" | "options">): void {
    if (queued.frame !== undefined) {
      this.#flush(); // what the protocol produced before goes first
      this.#enqueueOutgoing(queued.frame);
    } else {
      this.#protocol.send(queued.data!, queued.options);
      this.#flush();
    }
    if (queued.topic !== undefined) this.#ledger.published(queued.topic);
  }

  /** Hands queued messages to the transport as it takes them, in order. */
  async #drainQueue(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#queue.length > 0 && !this.#finished && this.#protocol.state === ReadyState.Open) {
        if (this.#streaming !== undefined) {
          await this.#streaming;
          continue;
        }
        if (this.#protocol.sendingFragments) return; // the last fragment's sendFragment drains again
        if (!this.#canWriteNow()) {
          this.#writeOutbox();
          await this.#writer.ready;
          continue;
        }
        this.#sendFromQueue(this.#queue.shift()!);
      }
    } catch {
      // The transport failed: the connection ends, and #finish reports what was not written.
    } finally {
      this.#draining = false;
    }
  }

  #sendFromQueue(queued: Queued): void {
    this.#queueBytes -= queued.size;
    try {
      this.#writeQueued(queued);
      queued.resolve?.();
    } catch (error) {
      if (queued.reject === undefined) throw error;
      queued.reject(asError(error));
    }
  }

  /** Hands everything queued to the transport now, whatever its high-water mark (before a close). */
  #releaseQueue(): void {
    while (this.#queue.length > 0 && this.#protocol.state === ReadyState.Open) this.#sendFromQueue(this.#queue.shift()!);
  }

  /** The `"close"` policy: what was queued is dropped, and the connection is closed with 1013. */
  #closeSlow(topic: string): void {
    const dropped = new Map<string, number>([[topic, 1]]);
    this.#discardQueue(dropped, "the connection was closed: it did not read fast enough");
    this.#drop(dropped);
    // RFC 6455 §7.4.1: 1013 is not in the RFC's list; IANA's registry has it: "Try Again Later".
    if (this.#protocol.state === ReadyState.Open) {
      this.#log?.warn("slow consumer closed with 1013", { role: this.#protocol.role, topic, limit: this.#queueLimit });
      this.#protocol.close(CloseCode.TryAgainLater, "slow consumer: publish queue over its limit");
      this.resumeReading();
      this.#flush();
      this.#startTimer();
    }
  }

  /** Empties the queue: published messages counted into `dropped`, direct sends rejected. */
  #discardQueue(dropped: Map<string, number>, why: string): void {
    for (const queued of this.#queue.clear()) {
      if (queued.topic === undefined) queued.reject?.(new Error(`Cannot send: ${why}`));
      else dropped.set(queued.topic, (dropped.get(queued.topic) ?? 0) + 1);
    }
    this.#queueBytes = 0;
  }

  #drop(dropped: Map<string, number>): void {
    for (const [topic, count] of dropped) {
      this.#dropped += count;
      this.#log?.warn("published messages dropped", { role: this.#protocol.role, topic, count, policy: this.#queuePolicy });
      try {
        this.ondrop?.(topic, count);
      } catch {
        // A drop handler that throws has nowhere further to report to.
      }
    }
  }

  /**
   * Stops reading from the transport (messages already parsed are still delivered). TCP then pushes back
   * on the peer. For consumers that buffer messages, like a stream with a full queue.
   */
  pauseReading(): void {
    if (this.#paused !== undefined || this.#finished) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => resolve = r);
    this.#paused = { promise, resolve };
  }

  /** Resumes reading after {@linkcode Connection.pauseReading}. */
  resumeReading(): void {
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.resolve();
  }

  /**
   * Starts the closing handshake; if the peer does not answer within the close timeout, the transport is
   * cut. Does nothing when already closing.
   *
   * @param code A status code valid on the wire.
   * @param reason At most 123 bytes of UTF-8.
   * @returns The same promise as {@linkcode Connection.closed}.
   */
  close(code?: number, reason?: string): Promise<CloseResult> {
    const before = this.#protocol.state;
    // What was accepted for sending goes before the close frame (the close timeout bounds the wait); a
    // message being deflated on a worker is deflated here instead.
    if (before === ReadyState.Open) {
      const prepared = this.#prepared;
      if (prepared !== undefined && !prepared.sent) {
        prepared.sent = true;
        this.#prepared = undefined;
        this.#protocol.send(prepared.data, prepared.options);
        // What was published behind it goes next, in order, before the close frame.
        for (const behind of this.#publishedBehind.splice(0)) {
          if (behind.done) continue;
          behind.done = true;
          this.publish(behind.message);
        }
      }
      this.#releaseQueue();
    }
    this.#protocol.close(code, reason);
    // The peer's close frame must be read, whatever the consumer's backpressure.
    this.resumeReading();
    if (before === ReadyState.Open) {
      this.#flush();
      this.#startTimer();
    }
    return this.#closed;
  }

  /**
   * Fails the connection with a code (e.g. 1008 for a policy violation found by the application, 1001 when
   * a heartbeat gets no answer): a close frame is sent if possible and the transport is closed at once.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  fail(code: number, reason = ""): void {
    this.#protocol.fail(code, reason);
    this.#afterProtocolStep();
  }

  async #readLoop(head: Uint8Array | undefined): Promise<void> {
    // Let the constructor's caller set the handlers first.
    await Promise.resolve();
    const reader = this.#reader;
    const protocol = this.#protocol;
    try {
      this.#sliceStart = performance.now();
      if (head !== undefined && head.length > 0) {
        protocol.feed(head);
        if (!this.#work() || (this.#unparsed && !await this.#workOn())) {
          return this.#closeTransport().then(() => this.#finish());
        }
      }
      while (!this.#finished) {
        if (this.#paused !== undefined) await this.#paused.promise;
        // Events left in what was read (a slice ran out, or a message waited for its handler) come first.
        if (this.#unparsed) {
          if (!await this.#workOn()) break;
          continue;
        }
        // Reads that come back to back (queued in the stream) never leave the microtask queue: once they
        // add up to a slice of work, the others get a turn.
        let waitStart = performance.now();
        if (waitStart - this.#sliceStart >= SLICE_MS) {
          this.#writeOutbox();
          await nextTurn();
          this.#sliceStart = waitStart = performance.now();
        }
        const { value, done } = await reader.read();
        if (done || value === undefined) {
          protocol.receiveEof();
          break;
        }
        // The slice counts work, not waiting: a read that waited a while let the event loop turn (a new
        // slice starts); a short wait is left out of this one.
        const readAt = performance.now();
        if (readAt - waitStart >= 1) this.#sliceStart = readAt;
        else this.#sliceStart += readAt - waitStart;
        this.#lastReceived = readAt;
        protocol.feed(value);
        if (!this.#work() || (this.#unparsed && !await this.#workOn())) break;
        this.#writeOutbox();
        // Backpressure: while the peer does not read our replies (pongs, echoes), stop reading its input.
        const writer = this.#writer;
        if (writer.desiredSize !== null && writer.desiredSize <= 0) {
          await writer.ready;
          this.#sliceStart = performance.now();
        }
      }
    } catch (error) {
      this.#transportFailed(error);
      protocol.receiveEof();
    }
    await this.#closeTransport();
    this.#finish();
  }

  /**
   * Handles the events in what was fed, for one slice of work.
   *
   * @returns `false` when reading should stop.
   */
  #work(): boolean {
    this.#dispatch();
    return this.#afterProtocolStep();
  }

  /**
   * Goes on with the events left when a slice ran out (`#unparsed`), a slice at a time: what was produced is
   * written and the event loop gets a turn before each.
   *
   * @returns `false` when reading should stop.
   */
  async #workOn(): Promise<boolean> {
    while (this.#unparsed && this.#paused === undefined) {
      this.#writeOutbox();
      await nextTurn();
      if (this.#finished) return false;
      this.#sliceStart = performance.now();
      if (!this.#work()) return false;
    }
    return true;
  }

  /**
   * Parses what was fed one event at a time and hands each to its handler, writing what it produced before
   * parsing on: replies leave in the order of the input. A handler that throws fails the connection with
   * 1011. Stops when the slice of work is used up (`#unparsed` then says so).
   */
  #dispatch(): void {
    const protocol = this.#protocol;
    const sliceStart = this.#sliceStart;
    let sinceCheck = 0;
    this.#unparsed = false;
    // While a message waits for a handler nothing further is parsed: events stay in input order, and a
    // violation later in the same read cannot fail the connection before that message is delivered.
    for (let event; this.#held.length === 0 && (event = protocol.nextEvent()) !== undefined;) {
      try {
        switch (event.type) {
          case "message": {
            sinceCheck += event.data.length >>> 14;
            const inflating = this.#takeDeferredInflate?.();
            if (inflating !== undefined) {
              this.#awaitInflate(inflating, event.data, event.binary);
            } else if (this.#onmessage === undefined) {
              this.#held.push(event);
              this.pauseReading();
            } else {
              this.#onmessage(event.data, event.binary);
            }
            break;
          }
          case "ping":
            this.onping?.(event.data);
            break;
          case "pong":
            if (this.#heartbeatPing !== undefined && sameBytes(event.data, this.#heartbeatPing)) this.#heartbeatPong();
            this.onpong?.(event.data);
            break;
          case "close":
            this.oncloseframe?.(event.code, event.reason);
            break;
        }
      } catch (error) {
        this.#report(asError(error));
        protocol.fail(CloseCode.InternalError, "");
      }
      // The pong the protocol queued for a ping stays with it, so that the pong for a later ping in the
      // same read can replace it (§5.5.3); whatever comes next takes it along, in order.
      if (event.type !== "ping") this.#flush();
      if (++sinceCheck >= EVENTS_PER_CLOCK_CHECK) {
        sinceCheck = 0;
        if (performance.now() - sliceStart >= SLICE_MS) {
          this.#unparsed = true;
          return;
        }
      }
    }
  }

  /**
   * Holds a message being inflated on a worker (its event carries an empty payload) and pauses reading:
   * nothing after it is parsed or delivered until it is inflated, then it is delivered as if inflated
   * inline. A message refused (1007, 1009) fails the connection as it would have inline.
   */
  #awaitInflate(inflating: Promise<Uint8Array>, placeholder: string | Uint8Array, binary: boolean): void {
    const entry = { data: placeholder, binary, inflating: true };
    const as = binary ? "binary" : typeof placeholder === "string" ? "string" : "utf8";
    this.#held.push(entry);
    this.pauseReading();
    inflating.then((bytes) => {
      entry.data = inflatedMessage(bytes, as);
    }).then(
      () => {
        entry.inflating = false;
        if (!this.#finished) this.#releaseHeld();
      },
      (error) => {
        this.#held.length = 0;
        if (this.#finished) return;
        if (error instanceof ProtocolError) this.#protocol.fail(error.code, error.message);
        else {
          // Unexpected errors close with 1011 and no detail.
          this.#report(asError(error));
          this.#protocol.fail(CloseCode.InternalError, "");
        }
        this.#afterProtocolStep();
      },
    );
  }

  #releaseHeld(): void {
    while (this.#held.length > 0 && this.#onmessage !== undefined && this.#held[0].inflating !== true) {
      const { data, binary } = this.#held.shift()!;
      try {
        this.#onmessage(data, binary);
      } catch (error) {
        this.#report(asError(error));
        this.#protocol.fail(CloseCode.InternalError, "");
        this.#afterProtocolStep();
        return;
      }
      this.#flush();
    }
    if (this.#held.length > 0) return;
    // Parse on from where the held message stopped (the read loop goes on with what a slice leaves), then
    // read again.
    this.#sliceStart = performance.now();
    this.#dispatch();
    // A message held again (another large one being inflated) keeps reading paused.
    if (this.#afterProtocolStep() && this.#held.length === 0) this.resumeReading();
  }

  /** Writes what the protocol produced and reacts to its state. @returns `false` when reading should stop. */
  #afterProtocolStep(): boolean {
    this.#flush();
    const protocol = this.#protocol;
    if (protocol.failure !== undefined && !this.#transportClosing && protocol.shouldCloseTransport) {
      this.#report(protocol.failure);
    }
    if (protocol.shouldCloseTransport) {
      this.#closeTransport().then(() => this.#finish());
      return false;
    }
    if (protocol.state === ReadyState.Closed) {
      // A client whose closing handshake completed: §7.1.1 "the client SHOULD wait for the server to close
      // the connection"; the timer bounds the wait.
      this.#startTimer();
    }
    return true;
  }

  /**
   * Takes what the protocol produced into the outbox; it is written at the end of the current turn (a
   * microtask), or at once when it is large: replies to one read and bursts of sends share a write.
   */
  #flush(): void {
    const chunks = this.#protocol.takeOutgoing();
    if (chunks.length === 0 || this.#transportClosing) return;
    for (const chunk of chunks) {
      this.#outbox.push(chunk);
      this.#ledger.pushed(chunk.length);
      this.#outboxBytes += chunk.length;
      this.#bufferedAmount += chunk.length;
    }
    this.#scheduleOutbox();
  }

  /** Adds bytes (a whole frame) to the outbox. */
  #enqueueOutgoing(chunk: Uint8Array): void {
    if (this.#transportClosing) return;
    this.#outbox.push(chunk);
    this.#ledger.pushed(chunk.length);
    this.#outboxBytes += chunk.length;
    this.#bufferedAmount += chunk.length;
    this.#scheduleOutbox();
  }

  #scheduleOutbox(): void {
    if (this.#outboxBytes >= MERGE_LIMIT) {
      this.#writeOutbox();
    } else if (!this.#writeScheduled) {
      this.#writeScheduled = true;
      queueMicrotask(this.#writeOutboxBound);
    }
  }

  /** `writer.ready` as it will be once the outbox is written: what `send()` returns (backpressure). */
  #ready(): Promise<void> {
    if (!this.#writeScheduled) return this.#writer.ready;
    // Microtasks run in the order they were queued: this one runs after the outbox's write.
    return this.#readyAfterWrite ??= Promise.resolve().then(() => this.#writer.ready);
  }

  /** Hands the outbox to the writer, merging runs of small frames into one buffer each. */
  #writeOutbox(): void {
    this.#writeScheduled = false;
    this.#readyAfterWrite = undefined;
    const chunks = this.#outbox;
    if (chunks.length === 0) return;
    this.#outbox = [];
    if (this.#transportClosing) {
      this.#bufferedAmount -= this.#outboxBytes;
      this.#outboxBytes = 0;
      return;
    }
    this.#outboxBytes = 0;
    if (chunks.length === 1) {
      this.#write(this.#writer.write(chunks[0]), chunks[0].length);
    } else if (this.#writer.joinsChunks === true && this.#writer.writev !== undefined) {
      // The writer joins them itself, into a buffer it reuses: handed over as they are, no new buffer here.
      let bytes = 0;
      for (let i = 0; i < chunks.length; i++) bytes += chunks[i].length;
      this.#write(this.#writer.writev(chunks), bytes);
    } else {
      // Runs of small frames are joined into one buffer each; what results goes to the transport as one
      // `writev` when it has one (several large frames from publishes in one turn: one system call).
      const pieces: Uint8Array[] = [];
      let piecesBytes = 0;
      for (let i = 0; i < chunks.length;) {
        let end = i + 1;
        let bytes = chunks[i].length;
        if (bytes < MERGE_FRAME_LIMIT) {
          while (end < chunks.length && chunks[end].length < MERGE_FRAME_LIMIT && bytes + chunks[end].length <= MERGE_LIMIT) {
            bytes += chunks[end].length;
            end++;
          }
        }
        pieces.push(end === i + 1 ? chunks[i] : joinBytes(chunks, i, end, bytes));
        piecesBytes += bytes;
        i = end;
      }
      if (pieces.length > 1 && this.#writer.writev !== undefined) this.#write(this.#writer.writev(pieces), piecesBytes);
      else for (const piece of pieces) this.#write(this.#writer.write(piece), piece.length);
    }
    // Our close frame is in what was just written (nothing is sent after it): its write is the last.
    if (this.#closeWriteIndex === 0 && this.#protocol.closeSent !== undefined) {
      this.#closeWriteIndex = this.#writesQueued;
      if (this.#writesDoneNow === this.#writesQueued) this.#closeWritten = true;
    }
  }

  /** Follows one write to the transport (`written`, of `size` bytes) for `bufferedAmount`, the close and errors. */
  #write(written: Promise<void>, size: number): void {
    const index = ++this.#writesQueued;
    if (written === this.#writer.writtenNow) {
      // Written before the call returned, with every earlier write: nothing to wait for (`#lastWrite`, the
      // previous write's, settles as soon as its callback runs).
      this.#writesDoneNow = index;
      this.#bufferedAmount -= size;
      this.#ledger.written(size);
      return;
    }
    this.#lastWrite = written.then(
      () => {
        this.#bufferedAmount -= size;
        this.#ledger.written(size);
        if (index === this.#closeWriteIndex) this.#closeWritten = true;
      },
      (error) => {
        this.#bufferedAmount -= size;
        this.#transportFailed(error);
        this.#protocol.receiveEof();
        this.#closeTransport().then(() => this.#finish());
      },
    );
  }

  /**
   * Records a transport error (a reset, a failed write) for `wasClean`. §7.1.4: "If the TCP connection was
   * closed after the WebSocket closing handshake was completed, the WebSocket connection is said to have
   * been closed _cleanly_": once a close frame went each way (the peer's received, ours written to the
   * transport), how TCP ends (a reset included) changes nothing.
   */
  #transportFailed(error: unknown): void {
    if (this.#protocol.closeReceived !== undefined && this.#closeWritten) return;
    this.#transportError ??= asError(error);
  }

  /** What was accepted for sending is about to be cut off unwritten: said, and the close is not clean. */
  #notWritten(): void {
    const error = new Error(`Cannot close: ${this.#bufferedAmount} bytes were not written within ${this.#closeTimeout} ms`);
    this.#transportError ??= error;
    this.#report(error);
  }

  #startTimer(): void {
    if (this.#timer !== undefined || this.#finished) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#bufferedAmount > 0) this.#notWritten();
      this.#protocol.receiveEof();
      this.#abortTransport();
      this.#finish();
    }, this.#closeTimeout);
  }

  /** Closes the transport gracefully (our queued bytes, the close frame among them, go out first). */
  #closeTransport(): Promise<void> {
    return this.#transportClosed ??= this.#closeTransportOnce();
  }

  async #closeTransportOnce(): Promise<void> {
    this.#writeOutbox(); // the close frame may still be in it
    this.#transportClosing = true;
    this.resumeReading();
    // A close that fails left bytes unwritten (the transport broke first): not a clean end.
    const graceful = this.#writer.close().then(() => true, (error) => {
      this.#transportFailed(error);
      return true;
    });
    // A peer that never reads would hold the close forever: bound it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), this.#closeTimeout));
    const done = await Promise.race([graceful, timeout]);
    clearTimeout(timer);
    if (!done) {
      this.#notWritten();
      this.#abortTransport();
      return;
    }
    if (!this.#drainOnClose) {
      await this.#reader.cancel().catch(() => {});
      return;
    }
    // Our side is half-closed (FIN sent). Destroying the socket now would make the bytes the peer is still
    // sending trigger a TCP reset, which can discard our close frame from its receive buffer: read and
    // discard until its EOF instead, bounded by the close timeout (as python-websockets does).
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    const drainTimeout = new Promise<void>((resolve) => drainTimer = setTimeout(resolve, this.#closeTimeout));
    const drain = (async () => {
      for (;;) {
        const { done } = await this.#reader.read();
        if (done) return;
      }
    })().catch(() => {});
    await Promise.race([drain, drainTimeout]);
    clearTimeout(drainTimer);
    await this.#reader.cancel().catch(() => {});
  }

  #abortTransport(): void {
    this.#transportClosing = true;
    this.#bufferedAmount -= this.#outboxBytes;
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#writer.abort().catch(() => {});
    this.#reader.cancel().catch(() => {});
  }

  #startHeartbeat({ interval, timeout }: { interval: number; timeout: number }): void {
    if (!(interval > 0) || !(timeout > 0)) {
      throw new RangeError(`Cannot create connection: heartbeat interval ${interval} and timeout ${timeout} must be positive`);
    }
    this.#lastReceived = performance.now();
    let pingSentAt = 0;
    let pings = 0;
    const beat = (now: number) => {
      if (this.#finished || this.#protocol.state !== ReadyState.Open) return;
      if (pingSentAt !== 0 && this.#lastReceived < pingSentAt && now - pingSentAt >= timeout) {
        this.#report(new Error(`Heartbeat: nothing received within ${timeout} ms of a ping`));
        this.#log?.warn("heartbeat timeout", { role: this.#protocol.role, interval, timeout });
        // The peer is taken for gone: no waiting for it to finish sending before the transport is cut.
        this.#drainOnClose = false;
        this.fail(CloseCode.GoingAway, "heartbeat timeout");
        return;
      }
      if (this.#lastReceived >= pingSentAt) pingSentAt = 0;
      if (pingSentAt === 0 && now - this.#lastReceived >= interval) {
        pingSentAt = now;
        // A payload of its own (a count), so that its pong, and so the round trip, is recognised.
        const payload = new Uint8Array(4);
        new DataView(payload.buffer).setUint32(0, ++pings);
        this.#heartbeatPing = payload;
        this.#heartbeatSentAt = now;
        this.ping(payload);
      }
    };
    this.#heartbeat = { beat, period: Math.min(interval, timeout) };
    heartbeats.add(this.#heartbeat);
  }

  #heartbeatSentAt = 0;
  /** Where events are logged; `undefined` (the default): nowhere, at the cost of one comparison an event. */
  readonly #log: Logger | undefined;

  #heartbeatPong(): void {
    this.#latency = performance.now() - this.#heartbeatSentAt;
    this.#heartbeatPing = undefined;
  }


  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    // Handed towards the transport and cut off unwritten (a heartbeat or close timeout, a failed write),
    // then what was still queued: counted per topic like any drop.
    const dropped = this.#ledger.cut();
    if (this.#queue.length > 0) this.#discardQueue(dropped, "the connection closed before it was written");
    if (dropped.size > 0) this.#drop(dropped);
    if (this.#heartbeat !== undefined) heartbeats.delete(this.#heartbeat);
    this.#protocol.releaseExtensions();
    this.resumeReading(); // a paused read loop wakes, sees the end and exits
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const protocol = this.#protocol;
    const received = protocol.closeReceived;
    // §7.1.5: "If _The WebSocket Connection is Closed_ and no Close control frame was received by the
    // endpoint ..., _The WebSocket Connection Close Code_ is considered to be 1006."
    const result = {
      code: received?.code ?? CloseCode.AbnormalClosure,
      reason: received?.reason ?? "",
      wasClean: received !== undefined && protocol.closeSent !== undefined && protocol.failure === undefined &&
        this.#transportError === undefined,
    };
    if (this.#log !== undefined) {
      const sent = protocol.closeSent;
      this.#log.debug("closed", {
        role: protocol.role,
        ...result,
        sentCode: sent?.code,
        failure: protocol.failure?.message,
        transportError: this.#transportError?.message,
      });
    }
    this.#resolveClosed(result);
  }

  #report(error: Error): void {
    // One error per connection, the first: what follows from it is not news.
    if (this.#errorReported) return;
    this.#errorReported = true;
    try {
      this.onerror?.(error);
    } catch {
      // An error handler that throws has nowhere further to report to.
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Bytes a message takes, near enough for a queue's bound (a string's UTF-8 is up to 3 bytes a unit). */
function sizeOf(data: string | Uint8Array): number {
  return typeof data === "string" ? data.length : data.byteLength;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
