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
 * - closing the writable shuts our sending half (FIN) once every accepted byte was handed to the kernel;
 *   the peer's FIN ends the readable, not our writing (the listener runs with `allowHalfOpen`); cancelling
 *   the readable ends the socket once the writable is done, and until then reads and drops what arrives
 *   (unread input would make the kernel reset the connection, which can take our last bytes with it).
 *
 * @module
 */

import type { Transport } from "../connection.ts";

/** Bytes queued for the socket beyond which `writer.ready` waits. */
const WRITE_HIGH_WATER_MARK = 256 * 1024;
/** After our FIN and a cancelled read, how long the peer has to close before the socket is cut. */
const LINGER_MS = 5000;

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
  /** The rest of a chunk the kernel did not take yet, and the write waiting for it. */
  #unwritten: Uint8Array | undefined;
  #written: { resolve(): void; reject(error: Error): void } | undefined;

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
      write: (chunk) => this.#write(chunk),
      close: () => {
        this.#finishWriting();
        if (this.#socketClosed) {
          throw new Error("Cannot close: the socket closed before everything was written");
        }
        this.#socket.shutdown();
        if (this.#endWhenWritten) this.#lingerThenClose();
      },
      abort: () => {
        this.#finishWriting();
        this.#socket.terminate();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: WRITE_HIGH_WATER_MARK }));
    this.transport = { readable, writable };
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
    const rest = this.#unwritten;
    if (rest === undefined) return;
    const n = this.#socket.write(rest);
    if (n < 0) return; // closed: `closed()` rejects the write
    if (n < rest.length) {
      this.#unwritten = rest.subarray(n);
      return;
    }
    this.#unwritten = undefined;
    const written = this.#written;
    this.#written = undefined;
    written?.resolve();
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
    const written = this.#written;
    this.#written = this.#unwritten = undefined;
    written?.reject(error ?? new Error("Cannot write: the socket closed before the write was done"));
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

  #write(chunk: Uint8Array): Promise<void> | void {
    if (this.#socketClosed) throw new Error("Cannot write: the socket is closed");
    const n = this.#socket.write(chunk);
    if (n < 0) throw new Error("Cannot write: the socket is closed");
    if (n === chunk.length) return;
    this.#unwritten = chunk.subarray(n);
    return new Promise<void>((resolve, reject) => this.#written = { resolve, reject });
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
