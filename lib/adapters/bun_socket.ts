/**
 * A raw TCP (or TLS) socket of `Bun.listen` as a {@linkcode Transport}. Bun's sockets are driven by
 * handler callbacks (`data`, `drain`, `end`, `close`) rather than streams; {@linkcode BunSocketPipe} is what
 * those callbacks feed, and what it exposes is the usual pair of streams:
 *
 * - the readable takes each chunk Bun hands over (a fresh buffer every time: kept as is, no copy) and
 *   pauses the socket while the consumer is behind, so TCP pushes back on the peer;
 * - the writable hands each chunk to `socket.write`, which takes what the kernel takes at once and returns
 *   the count; the rest waits for `drain`, and the write's promise with it. 256 KiB may queue in front
 *   before `writer.ready` holds the sender back (counted in bytes, as over node:net and Deno.Conn);
 * - `transport.getWriter()` gives a `Connection` the same writes without the stream's promise
 *   chain and queue per chunk (a 16 KiB fan-out to 1,000 subscribers: 5.2 -> 3.1 us of user CPU per
 *   delivered message), and a `writev` that writes several chunks behind one promise. Bun's sockets have
 *   no writev, so the chunks are copied into one shared buffer, up to 64 KiB, and written with one
 *   `socket.write`: a 16 KiB echo's frame header and payload went as two system calls and two TCP
 *   segments (24 us of system CPU per message; joined, 10-13, and 27-33k -> 39-42k messages/s);
 * - closing the writable shuts our sending half (FIN) once every accepted byte was handed to the kernel;
 *   the peer's FIN ends the readable, not our writing (the listener runs with `allowHalfOpen`); cancelling
 *   the readable ends the socket once the writable is done, and until then reads and drops what arrives
 *   (unread input would make the kernel reset the connection, which can take our last bytes with it).
 *
 * @module
 */

import type { Transport, TransportWriter } from "../connection.ts";
import { copyChunks, joinSkew } from "../core/join_bytes.ts";
import { type Deferred, deferred, failed, resolved } from "./_write_promises.ts";

/** Bytes queued for the socket beyond which `writer.ready` waits. */
const WRITE_HIGH_WATER_MARK = 256 * 1024;
/**
 * Chunks of one `writev` are copied into one buffer (a scratch buffer shared by every socket: a write is
 * synchronous) up to this many bytes and written with one `socket.write`: Bun's sockets have no writev, and
 * a frame's header and payload as two writes cost two system calls and two TCP segments.
 */
const JOIN_LIMIT = 64 * 1024;
/**
 * The buffer `writev` joins chunks in, from a few bytes in (lib/core/join_bytes.ts: away from the C library's
 * slow copy distances; less than 4 KiB in); what the kernel does not take of it is copied out.
 */
const scratch = new Uint8Array(JOIN_LIMIT + 4096);
/** After our FIN and a cancelled read, how long the peer has to close before the socket is cut. */
const LINGER_MS = 5000;

/** A write the kernel did not take all of yet: what is left, and its promise. */
interface Unwritten {
  rest: Uint8Array;
  done: Deferred;
}

/** The part of Bun's TCP `Socket` this module uses. */
export interface BunTcpSocket {
  /** Writes what the kernel takes now; returns that count (-1 when the socket is closed). */
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  /** Without an argument, sends FIN: our half is done; reading goes on (with `allowHalfOpen`). */
  shutdown(): void;
  /** Closes gracefully: FIN if not sent yet, and the socket goes once both halves are done. */
  end(): void;
  /** Closes the socket at once. */
  terminate(): void;
  /** Stops reading (TCP pushes back on the peer). */
  pause(): void;
  /** Reads again. */
  resume(): void;
  /** The peer's address. */
  readonly remoteAddress: string;
}

/**
 * One socket's streams, fed by the listener's handler callbacks.
 *
 * @example
 * ```ts ignore
 * // In Bun.listen's handlers (see listenBun):
 * // open(socket) { socket.data = new BunSocketPipe(socket); use(socket.data.transport); }
 * // data(socket, chunk) { socket.data.receive(chunk); }
 * // drain(socket) { socket.data.drain(); }
 * // end(socket) { socket.data.peerEnded(); }
 * // close(socket, error) { socket.data.closed(error); }
 * ```
 */
export class BunSocketPipe {
  /** The streams over the socket. */
  readonly transport: Transport;
  readonly #socket: BunTcpSocket;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #paused = false;
  #readEnded = false; // the readable is closed, errored or cancelled
  #dropInput = false; // cancelled: what arrives is read and dropped
  #writingDone = false; // the writable is closed or aborted
  #endWhenWritten = false; // the readable was cancelled before that
  #socketClosed = false;
  #linger: ReturnType<typeof setTimeout> | undefined;
  /** Writes the kernel did not take (all) yet, in order: the first one's rest, and the promise waiting for each. */
  #unwritten: Unwritten[] = [];
  #unwrittenBytes = 0;
  /** `ready` of the writer of {@linkcode BunSocketPipe.transport}'s `getWriter`, while it waits for room. */
  #ready: Deferred | undefined;
  /** Settles once nothing is left unwritten (what the writer's `close` waits for). */
  #allWritten: Deferred | undefined;

  /** @param socket The socket, just opened. */
  constructor(socket: BunTcpSocket) {
    this.#socket = socket;
    const readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        if (this.#paused) {
          this.#paused = false;
          this.#socket.resume();
        }
      },
      cancel: () => {
        this.#readEnded = true;
        this.#dropInput = true;
        if (this.#paused) {
          this.#paused = false;
          this.#socket.resume();
        }
        if (this.#writingDone) this.#lingerThenClose();
        else this.#endWhenWritten = true;
      },
    }, { highWaterMark: 4 });
    const writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.#send(chunk),
      close: () => this.#shutdownWriting(),
      abort: () => this.#abortWriting(),
    }, new ByteLengthQueuingStrategy({ highWaterMark: WRITE_HIGH_WATER_MARK }));
    this.transport = { readable, writable, getWriter: () => this.#directWriter(writable) };
  }

  /** Bun's `data` callback: bytes from the peer (a buffer of its own, kept without copying). */
  receive(chunk: Uint8Array): void {
    if (this.#readEnded) return; // cancelled: dropped
    this.#controller.enqueue(chunk);
    if ((this.#controller.desiredSize ?? 0) <= 0 && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** Bun's `drain` callback: the kernel takes more. */
  drain(): void {
    while (this.#unwritten.length > 0) {
      const head = this.#unwritten[0];
      const n = this.#socket.write(head.rest);
      if (n < 0) return; // closed: `closed()` rejects the writes
      this.#unwrittenBytes -= n;
      if (n < head.rest.length) {
        head.rest = head.rest.subarray(n);
        break;
      }
      this.#unwritten.shift();
      head.done.resolve();
    }
    if (this.#ready !== undefined && this.#unwrittenBytes < WRITE_HIGH_WATER_MARK) {
      this.#ready.resolve();
      this.#ready = undefined;
    }
    if (this.#unwritten.length === 0 && this.#allWritten !== undefined) {
      this.#allWritten.resolve();
      this.#allWritten = undefined;
    }
  }

  /** Bun's `end` callback: the peer sent FIN. Our writing goes on. */
  peerEnded(): void {
    this.#endReading();
    if (this.#linger !== undefined) this.#socket.end(); // both halves are done: close (gracefully)
  }

  /** Bun's `close` callback: the socket is gone, both ways. */
  closed(error?: Error): void {
    this.#socketClosed = true;
    clearTimeout(this.#linger);
    const failure = error ?? new Error("Cannot write: the socket closed before the write was done");
    const unwritten = this.#unwritten;
    this.#unwritten = [];
    this.#unwrittenBytes = 0;
    for (const each of unwritten) each.done.reject(failure);
    this.#ready?.reject(failure);
    this.#allWritten?.reject(failure);
    this.#ready = this.#allWritten = undefined;
    if (error !== undefined && !this.#readEnded) {
      this.#readEnded = true;
      try {
        this.#controller.error(error);
      } catch {
        // Already cancelled.
      }
      return;
    }
    this.#endReading();
  }

  #endReading(): void {
    if (this.#readEnded) return;
    this.#readEnded = true;
    try {
      this.#controller.close();
    } catch {
      // Already cancelled.
    }
  }

  /**
   * Hands `chunk` to the socket behind what waits: written at once when the kernel takes it (no promise),
   * else the rest waits for `drain` (and the promise with it).
   */
  #send(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#socketClosed) throw new Error("Cannot write: the socket is closed");
    let n = 0;
    if (this.#unwritten.length === 0) {
      n = this.#socket.write(chunk);
      if (n < 0) throw new Error("Cannot write: the socket is closed");
      if (n === chunk.length) return undefined;
    }
    return this.#waitForDrain(chunk.subarray(n));
  }

  /** Queues `rest`, what the kernel did not take, for `drain`; its promise settles once it is written. */
  #waitForDrain(rest: Uint8Array): Promise<void> {
    const done = deferred();
    this.#unwritten.push({ rest, done });
    this.#unwrittenBytes += rest.length;
    return done.promise;
  }

  /**
   * Hands `chunks[start..end)` (`bytes` in all, at most {@linkcode JOIN_LIMIT}) to the socket as one write,
   * copied into the scratch buffer; behind what waits, they are queued as they are.
   */
  #sendJoined(chunks: readonly Uint8Array[], start: number, end: number, bytes: number): Promise<void> | undefined {
    if (this.#socketClosed) throw new Error("Cannot write: the socket is closed");
    if (this.#unwritten.length > 0) {
      let last: Promise<void> | undefined;
      for (let i = start; i < end; i++) last = this.#send(chunks[i]) ?? last;
      return last;
    }
    const skew = joinSkew(chunks, start, end);
    copyChunks(scratch, skew, chunks, start, end);
    const n = this.#socket.write(scratch, skew, bytes);
    if (n < 0) throw new Error("Cannot write: the socket is closed");
    if (n === bytes) return undefined;
    return this.#waitForDrain(scratch.slice(skew + n, skew + bytes)); // a copy: the scratch buffer is reused
  }

  /** Our sending half is done: FIN once everything accepted was handed to the kernel (the writable's `close`). */
  #shutdownWriting(): void {
    this.#finishWriting();
    if (this.#socketClosed) throw new Error("Cannot close: the socket closed before everything was written");
    this.#socket.shutdown();
    if (this.#endWhenWritten) this.#lingerThenClose();
  }

  #abortWriting(): void {
    this.#finishWriting();
    this.#socket.terminate();
  }

  /**
   * The writer a `Connection` takes (`Transport.getWriter`): `write` as the writable's, with no stream in
   * between, and `writev`, the chunks joined into writes of up to 64 KiB, in order, settled with the last.
   * `ready` and `desiredSize` count the bytes the kernel has not taken against 256 KiB; `close` sends FIN
   * once they are written. It locks the writable.
   */
  #directWriter(writable: WritableStream<Uint8Array>): TransportWriter {
    writable.getWriter(); // the lock: nothing else writes past this writer
    // Arrows for the getters below, which cannot see `this` of the pipe.
    const socketClosed = () => this.#socketClosed;
    const unwrittenBytes = () => this.#unwrittenBytes;
    const whenRoom = () => (this.#ready ??= deferred()).promise;
    let closed = false; // close() or abort() was called
    const writev = (chunks: readonly Uint8Array[]): Promise<void> => {
      if (closed) return failed(new TypeError("Cannot write: the connection's writing side is closed"));
      let last: Promise<void> | undefined;
      try {
        for (let i = 0; i < chunks.length;) {
          let end = i + 1, bytes = chunks[i].length;
          while (end < chunks.length && bytes + chunks[end].length <= JOIN_LIMIT) bytes += chunks[end++].length;
          last = (end === i + 1 ? this.#send(chunks[i]) : this.#sendJoined(chunks, i, end, bytes)) ?? last;
          i = end;
        }
      } catch (error) {
        return failed(error);
      }
      // The writes settle in order: the last one's promise settles after every earlier one's.
      return last ?? resolved;
    };
    return {
      get desiredSize() {
        if (socketClosed()) return null;
        return closed ? 0 : WRITE_HIGH_WATER_MARK - unwrittenBytes();
      },
      get ready() {
        if (socketClosed()) return failed(new Error("Cannot write: the socket is closed"));
        if (closed || unwrittenBytes() < WRITE_HIGH_WATER_MARK) return resolved;
        return whenRoom();
      },
      write: (chunk) => {
        if (chunk === undefined) return failed(new TypeError("Cannot write: no chunk"));
        if (closed) return failed(new TypeError("Cannot write: the connection's writing side is closed"));
        try {
          return this.#send(chunk) ?? resolved;
        } catch (error) {
          return failed(error);
        }
      },
      writev,
      joinsChunks: true,
      writtenNow: resolved,
      close: async () => {
        if (closed) throw new TypeError("Cannot close: the connection's writing side is closed");
        closed = true;
        if (this.#unwritten.length > 0) await (this.#allWritten ??= deferred()).promise;
        this.#shutdownWriting();
      },
      abort: () => {
        closed = true;
        this.#abortWriting();
        return resolved;
      },
    };
  }

  #finishWriting(): void {
    this.#writingDone = true;
  }

  /**
   * Our FIN is sent and reading was given up: what arrives is dropped until the peer closes, for at most
   * `LINGER_MS`, then the socket is cut (a socket whose peer never closes would otherwise stay open).
   */
  #lingerThenClose(): void {
    if (this.#socketClosed || this.#linger !== undefined) return;
    this.#linger = setTimeout(() => this.#socket.terminate(), LINGER_MS);
  }
}
