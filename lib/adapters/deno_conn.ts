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

import type { Transport } from "../connection.ts";

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
  return { readable, writable };
}
