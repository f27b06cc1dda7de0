/**
 * A `node:net`-style socket (Deno, Bun and Node all have one) as a {@linkcode Transport}: a byte
 * `ReadableStream` that pauses the socket when nobody reads, and a `WritableStream` that waits for
 * `drain`.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import type { Transport } from "../connection.ts";

/**
 * Bytes queued for the socket beyond which `writer.ready` waits: backpressure is counted in bytes, so a few
 * large messages hold the sender back as well as many small ones.
 */
const WRITE_HIGH_WATER_MARK = 256 * 1024;

/**
 * Wraps a connected socket.
 *
 * @param socket The socket (from an `upgrade` event, `net.connect`, `tls.connect`).
 * @param head Bytes already read past the HTTP head, delivered first.
 * @returns The transport; cancelling the readable or aborting the writable destroys the socket.
 */
export function socketToTransport(socket: Duplex, head?: Uint8Array): Transport {
  let ended = false;
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
      socket.destroy();
    },
  }, { highWaterMark: 4 });

  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        if (socket.destroyed) {
          reject(new Error("Cannot write: the socket is closed"));
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
          reject(new Error("Cannot write: the socket closed"));
        };
        socket.once("drain", onDrain);
        socket.once("close", onClose);
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        if (socket.destroyed || socket.writableFinished) {
          resolve();
          return;
        }
        socket.once("close", () => resolve());
        socket.end(() => resolve());
      });
    },
    abort() {
      socket.destroy();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: WRITE_HIGH_WATER_MARK }));

  return { readable, writable };
}
