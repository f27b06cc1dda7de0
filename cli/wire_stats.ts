/**
 * `connect --show-stats`: what each message cost on the wire. The client's transport is tapped on both
 * sides, and the bytes are scanned for WebSocket frame headers (after the HTTP head of the handshake), so a
 * message's size on the wire (its frames' headers and payloads, compressed or not) is known exactly
 * without any hook in the library; the payload size is the message's own (what `send` was given, what
 * `onmessage` got). Frames arrive in the order of the messages, so the two are matched in order.
 *
 * @module
 */

import type { Transport } from "../lib/connection.ts";

/** One data message as it was on the wire. */
export interface WireMessage {
  /** Its frames' bytes: headers (masking keys included) and payloads. */
  wire: number;
  /** Whether its first frame had RSV1 set (permessage-deflate compressed it). */
  compressed: boolean;
  /** Whether it was a binary message. */
  binary: boolean;
}

/**
 * Follows one direction of a client's byte stream: the HTTP head, then frames. Reports each complete data
 * message and counts control frames.
 */
export class FrameScanner {
  /** Bytes of the HTTP head (request or response). */
  headBytes = 0;
  /** Control frames seen (ping, pong, close). */
  controlFrames = 0;
  /** Their bytes. */
  controlBytes = 0;
  #inHead = true;
  #crlf = 0; // how much of "\r\n\r\n" was matched
  #header = new Uint8Array(14);
  #headerLength = 0;
  #headerNeeded = 2;
  #payloadLeft = -1; // -1: reading a header
  #frameWire = 0;
  #message: WireMessage | undefined;
  readonly #onMessage: (message: WireMessage) => void;

  /**
   * @param onMessage Called with each complete data message, in order.
   */
  constructor(onMessage: (message: WireMessage) => void) {
    this.#onMessage = onMessage;
  }

  /**
   * @param chunk The next bytes of the stream.
   */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#inHead) {
        const byte = chunk[i++];
        this.headBytes++;
        const expected = this.#crlf % 2 === 0 ? 13 : 10;
        this.#crlf = byte === expected ? this.#crlf + 1 : byte === 13 ? 1 : 0;
        if (this.#crlf === 4) this.#inHead = false;
        continue;
      }
      if (this.#payloadLeft === -1) {
        this.#header[this.#headerLength++] = chunk[i++];
        if (this.#headerLength === 2) {
          const length7 = this.#header[1] & 0x7f;
          this.#headerNeeded = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (this.#header[1] & 0x80 ? 4 : 0);
        }
        if (this.#headerLength < this.#headerNeeded) continue;
        this.#payloadLeft = this.#payloadLength();
        this.#frameWire = this.#headerLength + this.#payloadLeft;
      } else {
        const taken = Math.min(this.#payloadLeft, chunk.length - i);
        i += taken;
        this.#payloadLeft -= taken;
      }
      // A frame ends with its payload (or with its header, for an empty one).
      if (this.#payloadLeft === 0) this.#endFrame();
    }
  }

  #payloadLength(): number {
    const h = this.#header;
    const length7 = h[1] & 0x7f;
    if (length7 === 126) return (h[2] << 8) | h[3];
    if (length7 === 127) {
      const view = new DataView(h.buffer, h.byteOffset + 2, 8);
      return view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    }
    return length7;
  }

  #endFrame(): void {
    const first = this.#header[0];
    const opcode = first & 0x0f;
    const wire = this.#frameWire;
    this.#headerLength = 0;
    this.#headerNeeded = 2;
    this.#payloadLeft = -1;
    if (opcode >= 8) {
      this.controlFrames++;
      this.controlBytes += wire;
      return;
    }
    if (opcode !== 0 || this.#message === undefined) {
      this.#message = { wire: 0, compressed: (first & 0x40) !== 0, binary: opcode === 2 };
    }
    this.#message.wire += wire;
    if ((first & 0x80) !== 0) {
      const message = this.#message;
      this.#message = undefined;
      this.#onMessage(message);
    }
  }
}

/**
 * Wraps a transport so that every chunk read and written is seen first.
 *
 * @param transport The socket's transport.
 * @param onRead Called with each chunk read.
 * @param onWrite Called with each chunk written.
 * @returns A transport to hand to the connection instead.
 */
export function tapTransport(transport: Transport, onRead: (chunk: Uint8Array) => void, onWrite: (chunk: Uint8Array) => void): Transport {
  const readable = transport.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onRead(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  const writer = transport.writable.getWriter();
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      onWrite(chunk);
      await writer.write(chunk);
    },
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  }, new ByteLengthQueuingStrategy({ highWaterMark: 256 * 1024 }));
  return { readable, writable };
}

/**
 * @param bytes A byte count.
 * @returns It for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * @param wire Bytes on the wire.
 * @param payload Bytes of payload.
 * @returns The wire's share of the payload, `3.1%`, or `-` for an empty payload.
 */
export function formatRatio(wire: number, payload: number): string {
  return payload === 0 ? "-" : `${(100 * wire / payload).toFixed(1)}%`;
}

/**
 * @param count A number of messages.
 * @returns `1 message`, `2 messages`.
 */
export function messages(count: number): string {
  return `${count} message${count === 1 ? "" : "s"}`;
}
