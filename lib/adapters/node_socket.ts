/**
 * A `node:net`-style socket (Deno, Bun and Node all have one) as a {@linkcode Transport}: a byte
 * `ReadableStream` that pauses the socket when nobody reads, and a `WritableStream` that waits for
 * `drain`.
 *
 * Bytes the writable has accepted are written before the socket goes, or the writable reports that they
 * were not: its owner ends the writing half by closing it (never the peer's FIN), cancelling the readable
 * destroys the socket only once that writing half is done, and `close()` resolves only once everything was
 * handed to the system (it rejects when the socket broke first).
 *
 * @module
 */

import type { Duplex } from "node:stream";
import type { Transport, TransportWriter } from "../connection.ts";
import { useNodeDeflateWorkers } from "./node_worker_pool.ts";
import { type Deferred, deferred, failed, resolved } from "./_write_promises.ts";
import { Fifo } from "../core/fifo.ts";

/** Bun's `node:net` (see `writev` in `directWriter`). */
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/**
 * Bytes queued for the socket beyond which `writer.ready` waits: backpressure is counted in bytes, so a few
 * large messages hold the sender back as well as many small ones.
 */
const WRITE_HIGH_WATER_MARK = 256 * 1024;

/**
 * Wraps a connected socket.
 *
 * @param socket The socket (from an `upgrade` event, `net.connect`, `tls.connect`, a `net.Server`).
 * @param head Bytes already read past the HTTP head, delivered first.
 * @returns The transport. Aborting the writable destroys the socket. Cancelling the readable stops reading
 * (what arrives then is discarded) and destroys the socket once the writable is closed (everything written)
 * or aborted, at once if it already is.
 */
export function socketToTransport(socket: Duplex, head?: Uint8Array): Transport {
  void useNodeDeflateWorkers(); // large compressed messages deflated on worker_threads (Node has no global Worker)
  // The peer's FIN ends our reading, not our writing: with allowHalfOpen false (the default of `net.connect`
  // and `net.createServer`) the runtime ends the writing half itself when the FIN arrives, and whatever was
  // still queued behind a pending write (a close frame) was never written, while the close looked clean.
  socket.allowHalfOpen = true;
  let ended = false; // the readable is closed, errored or cancelled
  let writingDone = false; // the writable is closed (everything handed to the system) or aborted
  let destroyWhenWritten = false; // the readable was cancelled before that

  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head !== undefined && head.length > 0) controller.enqueue(new Uint8Array(head));
      const end = () => {
        if (ended) return;
        ended = true;
        try {
          controller.close();
        } catch {
          // Already cancelled.
        }
      };
      socket.on("data", (chunk: Uint8Array) => {
        if (ended) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        // Stop reading from the socket while the consumer is behind (TCP then pushes back on the peer).
        if ((controller.desiredSize ?? 0) <= 0) socket.pause();
      });
      socket.on("end", end);
      socket.on("close", end);
      socket.on("error", (error: Error) => {
        if (ended) return;
        ended = true;
        try {
          controller.error(error);
        } catch {
          // Already cancelled.
        }
      });
    },
    pull() {
      socket.resume();
    },
    cancel() {
      ended = true;
      if (writingDone || socket.destroyed || socket.writableFinished) {
        socket.destroy();
        return;
      }
      // Bytes the writable accepted may still be queued in the runtime: destroying the socket now would drop
      // them (an echo cut off mid-frame, no close frame). Read on and discard what arrives (bytes left unread
      // make close(2) send a reset, which can take our last bytes with it), and destroy the socket once the
      // writable is closed or aborted.
      destroyWhenWritten = true;
      socket.resume();
    },
  }, { highWaterMark: 4 });

  const finishWriting = () => {
    writingDone = true;
    if (destroyWhenWritten) socket.destroy();
  };

  const writable = new WritableStream<Uint8Array>({
    start(controller) {
      // A write that failed after it was accepted (its promise resolved): later writes and close() report it.
      socket.on("error", (error: Error) => controller.error(error));
    },
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        if (socket.destroyed) {
          reject(new Error("Cannot write: the socket is closed"));
          return;
        }
        if (socket.writableEnded) {
          reject(new Error("Cannot write: the socket's writing side is closed"));
          return;
        }
        const ok = socket.write(chunk, (error) => {
          if (error) reject(error);
        });
        if (ok) {
          resolve();
          return;
        }
        const onDrain = () => {
          socket.off("close", onClose);
          resolve();
        };
        const onClose = () => {
          socket.off("drain", onDrain);
          reject(new Error("Cannot write: the socket closed before the write was done"));
        };
        socket.once("drain", onDrain);
        socket.once("close", onClose);
      });
    },
    close() {
      return endWriting(socket, finishWriting);
    },
    abort() {
      finishWriting();
      socket.destroy();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: WRITE_HIGH_WATER_MARK }));

  return { readable, writable, getWriter: () => directWriter(socket, writable, finishWriting) };
}

/**
 * Ends the socket's writing half once everything queued is written (the FIN after it).
 *
 * @returns Resolves once everything was handed to the system; rejects when the socket closed first.
 */
function endWriting(socket: Duplex, finishWriting: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const settle = () => {
      socket.off("close", settle);
      finishWriting();
      if (socket.writableFinished) {
        resolve();
        return;
      }
      reject(new Error("Cannot close: the socket closed before everything was written"));
    };
    if (socket.writableFinished || socket.destroyed) {
      settle();
      return;
    }
    socket.once("close", settle);
    // Called once everything is handed to the system and the FIN sent ('finish'), or with an error.
    socket.end(settle);
  });
}

/**
 * The transport's writer for a {@linkcode Connection}: each chunk goes to `socket.write` at once (the socket
 * keeps the order and joins what waits into one `writev`), without the stream's promise chain and queue
 * per chunk. Measured on a fan-out of 16 KiB messages to 1,000 sockets, Node's WritableStream machinery
 * was ~10 us of a ~25 us write; the system call is the rest. `write` resolves once the socket wrote the
 * chunk (its callback), so `bufferedAmount` counts what the runtime still holds; a write the socket took
 * at once returns `writtenNow`, so that the connection counts it without a callback; `ready` and
 * `desiredSize` count the bytes the socket holds against the same 256 KiB as the writable. It locks the
 * writable.
 */
function directWriter(
  socket: Duplex,
  writable: WritableStream<Uint8Array>,
  finishWriting: () => void,
): TransportWriter {
  writable.getWriter(); // the lock: nothing else writes past this writer
  let writeError: Error | undefined; // the socket failed: later writes, ready and close() report it
  socket.on("error", (error: Error) => writeError ??= error);
  let waiting: Promise<void> | undefined; // ready while the socket holds its high-water mark or more
  const closedError = () => new Error("Cannot write: the socket is closed");
  // One callback for every write (Node counts repeats of the same callback instead of queueing a tick for
  // each), and, per write in order, the promise it settles, or nothing for a write that was done at once.
  const pending = new Fifo<Deferred | undefined>();
  const onWritten = (error?: Error | null) => {
    const write = pending.shift();
    if (write === undefined) return;
    if (error) write.reject(error);
    else write.resolve();
  };
  /**
   * The writes just made (the last one with `onWritten`): done if the socket holds nothing now (its
   * callback ran already: every byte went to the system, or to the runtime's own writer on Deno and Bun,
   * where the callback says no more), else a promise that settles with the callback.
   */
  const afterWrite = (): Promise<void> => {
    // A write that failed at once has taken its bytes off `writableLength` too: `errored` tells it apart.
    if (socket.writableLength === 0 && socket.errored === null && !socket.destroyed && writeError === undefined) {
      pending.push(undefined);
      return resolved;
    }
    const write = deferred();
    pending.push(write);
    return write.promise;
  };
  const waitForDrain = () =>
    new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        socket.off("drain", onDrain);
        socket.off("close", onClose);
        socket.off("error", settle);
        waiting = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      const onDrain = () => settle();
      const onClose = () => settle(writeError ?? new Error("Cannot write: the socket closed before the write was done"));
      socket.on("drain", onDrain);
      socket.on("close", onClose);
      socket.on("error", settle);
    });
  return {
    get desiredSize() {
      if (writeError !== undefined || socket.destroyed) return null;
      return socket.writableEnded ? 0 : WRITE_HIGH_WATER_MARK - socket.writableLength;
    },
    get ready() {
      if (writeError !== undefined) return failed(writeError);
      if (socket.destroyed) return failed(closedError());
      if (socket.writableEnded || socket.writableLength < WRITE_HIGH_WATER_MARK) return resolved;
      // A write returned false (the socket holds more than its own mark, 16 KiB): 'drain' follows.
      waiting ??= waitForDrain();
      waiting.catch(() => {});
      return waiting;
    },
    write(chunk) {
      if (chunk === undefined) return failed(new TypeError("Cannot write: no chunk"));
      if (writeError !== undefined) return failed(writeError);
      if (socket.destroyed) return failed(closedError());
      if (socket.writableEnded) return failed(new Error("Cannot write: the socket's writing side is closed"));
      socket.write(chunk, onWritten);
      return afterWrite();
    },
    // Corked, the chunks leave in one `writev` when the socket uncorks (Node's net.Socket `_writev`; Deno's
    // emulation writes them as one). Not on Bun: its emulation's corked writes cost more than separate ones
    // (16 KiB fan-out to 1,000: 17.7-18.2 us user CPU per delivered message against 7.3-7.8).
    writev: isBun ? undefined : (chunks) => {
      if (writeError !== undefined) return failed(writeError);
      if (socket.destroyed) return failed(closedError());
      if (socket.writableEnded) return failed(new Error("Cannot write: the socket's writing side is closed"));
      socket.cork();
      const last = chunks.length - 1;
      for (let i = 0; i < last; i++) socket.write(chunks[i]);
      socket.write(chunks[last], onWritten);
      socket.uncork();
      return afterWrite();
    },
    writtenNow: resolved,
    close() {
      if (writeError !== undefined) {
        finishWriting();
        return failed(writeError);
      }
      return endWriting(socket, finishWriting);
    },
    abort() {
      finishWriting();
      socket.destroy();
      return resolved;
    },
  };
}
