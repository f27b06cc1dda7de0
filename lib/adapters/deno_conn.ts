/**
 * A `Deno.Conn` (TCP or TLS) as a {@linkcode Transport}, read into slabs. `conn.readable` allocates a
 * fresh 64 KiB buffer for every read (and keeps it alive for as long as any message read into it lives),
 * whatever arrived: at 64-byte messages that was most of the server's time (malloc and memset, measured
 * with `--v8-flags=--prof`). Here reads go into the free end of a slab and hand out views of exactly what
 * arrived: no copy, and one allocation per slab. Slabs start small, so an idle connection's pending read
 * holds 4 KiB, and double (to 64 KiB) while reads fill them.
 *
 * @module
 */

import type { Transport, TransportWriter } from "../connection.ts";
import { joinBytes } from "../core/join_bytes.ts";
import { type Deferred, deferred, failed, resolved } from "./_write_promises.ts";

const FIRST_SLAB = 4 * 1024;
const LARGEST_SLAB = 64 * 1024;
/** A read is given at least this much room; a slab with less left is replaced. */
const MIN_ROOM = 1024;
/** Bytes queued for the connection beyond which `writer.ready` waits (as over node:net). */
const WRITE_HIGH_WATER_MARK = 256 * 1024;

/**
 * Wraps a connection.
 *
 * @param conn A TCP or TLS connection from `Deno.listen`, `Deno.listenTls` or `Deno.connect`.
 * @returns The transport: reads from slabs, writes through `conn.writable` with a byte-counted queue of
 * 256 KiB; cancelling the readable closes the connection.
 */
export function denoConnTransport(conn: Deno.Conn): Transport {
  // Nagle's algorithm held each small frame sent while an earlier one was unacknowledged until the peer's
  // delayed ACK (up to 40 ms on Linux): a fan-out of 64 B messages to 1,000 sockets then ran one publish
  // in flight at a time (see the setting's measurement in bench/results/fanout-16k-2026-12-03.md). Frames
  // are joined here already (batchingWriter), as every WebSocket server does (ws, Bun, Node's http).
  (conn as { setNoDelay?: (noDelay?: boolean) => void }).setNoDelay?.(true);
  let slab = new Uint8Array(0);
  let offset = 0;
  let nextSize = FIRST_SLAB;
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (slab.length - offset < MIN_ROOM) {
        slab = new Uint8Array(nextSize);
        offset = 0;
      }
      const room = slab.subarray(offset);
      const n = await conn.read(room);
      if (n === null) {
        controller.close();
        return;
      }
      controller.enqueue(slab.subarray(offset, offset + n));
      offset += n;
      // A read that took all the room it had: more is coming, read in larger slabs.
      if (n === room.length) nextSize = Math.min(nextSize * 2, LARGEST_SLAB);
    },
    cancel() {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  }, { highWaterMark: 0 });
  // `conn.writable` counts its queue in chunks (one); the connection's backpressure and its publish queue
  // count bytes, as over node:net: 256 KiB may wait here before `writer.ready` holds the sender back.
  // (Measured: with conn.writable itself, a fan-out to 1,000 sockets went one chunk at a time, at 1.5x
  // `ws`'s rate against 5x over node:http, and a chat burst filled the publish queues: 1013 for all.) The
  // conn's writer is taken at the first write: the opening handshake writes to `conn.writable` first.
  let connWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      return (connWriter ??= conn.writable.getWriter()).write(chunk);
    },
    close() {
      return (connWriter ??= conn.writable.getWriter()).close();
    },
    abort(reason) {
      return (connWriter ??= conn.writable.getWriter()).abort(reason);
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: WRITE_HIGH_WATER_MARK }));
  const closeConn = () => (connWriter ??= conn.writable.getWriter()).close();
  const abortConn = (reason: unknown) => (connWriter ??= conn.writable.getWriter()).abort(reason);
  return { readable, writable, getWriter: () => batchingWriter(conn, writable, closeConn, abortConn) };
}

/** Most bytes joined into one `conn.write`. */
const LARGEST_JOIN = 256 * 1024;

/**
 * The transport's writer for a {@linkcode Connection}: a chunk goes to `conn.write` at once when no write is
 * in flight; what comes while one is (the frames of a fan-out's next publishes, say) waits and goes in one
 * `conn.write` of the chunks joined (up to 256 KiB), one op for many frames. Through `conn.writable` each
 * frame was an op and two streams' promise chains: a 64 B fan-out to 1,000 sockets spent 20-30 us per
 * delivered message on this (against ~4 over node:net). `write` resolves once its chunk was written;
 * `ready` and `desiredSize` count the bytes not yet written against 256 KiB, as the writable. `close` and
 * `abort` go to `conn.writable` (after what waits, for `close`). It locks the writable.
 */
function batchingWriter(
  conn: Deno.Conn,
  writable: WritableStream<Uint8Array>,
  closeConn: () => Promise<void>,
  abortConn: (reason: unknown) => Promise<void>,
): TransportWriter {
  writable.getWriter(); // the lock: nothing else writes past this writer
  let waiting: Uint8Array[] = []; // chunks behind the write in flight
  let waitingDone: Deferred | undefined; // settles when they are written
  let unwritten = 0; // bytes accepted and not yet written (in flight and waiting)
  let writing: Promise<void> | undefined; // the pump, while it runs
  let error: unknown; // a write failed: everything after it fails
  let closed = false; // close() or abort() was called
  let ready: Deferred | undefined; // while `unwritten` is at the high-water mark or more

  const writeAll = async (data: Uint8Array) => {
    for (let offset = 0; offset < data.length;) offset += await conn.write(data.subarray(offset));
  };
  const pump = async (first: readonly Uint8Array[], done: Deferred) => {
    let chunks = first;
    for (;;) {
      let bytes = 0;
      for (const chunk of chunks) bytes += chunk.length;
      try {
        if (chunks.length === 1) await writeAll(chunks[0]);
        else {
          // Joined in runs of at most LARGEST_JOIN bytes (a chunk larger than that alone).
          for (let i = 0; i < chunks.length;) {
            let end = i + 1, size = chunks[i].length;
            while (end < chunks.length && size + chunks[end].length <= LARGEST_JOIN) size += chunks[end++].length;
            await writeAll(end === i + 1 ? chunks[i] : joinBytes(chunks, i, end, size));
            i = end;
          }
        }
      } catch (cause) {
        error ??= cause;
        done.reject(cause);
        waitingDone?.reject(cause);
        ready?.reject(cause);
        waiting = [];
        waitingDone = ready = undefined;
        writing = undefined;
        return;
      }
      unwritten -= bytes;
      done.resolve();
      if (ready !== undefined && unwritten < WRITE_HIGH_WATER_MARK) {
        ready.resolve();
        ready = undefined;
      }
      if (waiting.length === 0) {
        writing = undefined;
        return;
      }
      chunks = waiting;
      done = waitingDone!;
      waiting = [];
      waitingDone = undefined;
    }
  };

  // Chunks (one, or the frames of several publishes in one turn): written at once when nothing is in
  // flight, else joined with what waits into the next conn.write.
  const writev = (chunks: readonly Uint8Array[]): Promise<void> => {
    if (error !== undefined) return failed(error);
    if (closed) return failed(new TypeError("Cannot write: the connection's writing side is closed"));
    for (const chunk of chunks) unwritten += chunk.length;
    if (writing !== undefined) {
      waiting.push(...chunks);
      return (waitingDone ??= deferred()).promise;
    }
    const done = deferred();
    writing = pump(chunks, done);
    return done.promise;
  };

  return {
    get desiredSize() {
      if (error !== undefined) return null;
      return closed ? 0 : WRITE_HIGH_WATER_MARK - unwritten;
    },
    get ready() {
      if (error !== undefined) return failed(error);
      if (closed || unwritten < WRITE_HIGH_WATER_MARK) return resolved;
      return (ready ??= deferred()).promise;
    },
    write(chunk) {
      if (chunk === undefined) return failed(new TypeError("Cannot write: no chunk"));
      return writev([chunk]);
    },
    writev,
    async close() {
      if (error !== undefined) return failed(error);
      closed = true;
      while (writing !== undefined) await writing;
      if (error !== undefined) return failed(error);
      return closeConn();
    },
    abort(reason) {
      closed = true;
      error ??= reason ?? new Error("Cannot write: the transport was aborted");
      waitingDone?.reject(error);
      ready?.reject(error);
      return abortConn(reason);
    },
  };
}
