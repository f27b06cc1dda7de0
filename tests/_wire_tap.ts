/**
 * A passive reader of WebSocket bytes on the wire, for tests that must prove what was sent: the HTTP head,
 * every frame's RSV1 bit and size, messages as they travelled (compressed or not) and the close frames.
 * It never changes the bytes it sees, and a frame it cannot read is recorded, not thrown.
 *
 * @module
 */

import { FrameParser } from "../lib/core/frame_parser.ts";

/** Byte and frame counts for one direction. */
export interface WireStats {
  /** Bytes after the HTTP head: frame headers and payloads. */
  bytes: number;
  /** Frames read. */
  frames: number;
  /** Frames with RSV1 set. */
  rsv1Frames: number;
}

/** A data message as it crossed the wire. */
export interface WireMessage {
  /** 1 for text, 2 for binary (the first frame's opcode). */
  opcode: number;
  /** RSV1 of the first frame: the message was compressed. */
  rsv1: boolean;
  /** Frames it took. */
  frames: number;
  /** Payload bytes on the wire (compressed size when compressed), frame headers excluded. */
  wireBytes: number;
  /** The largest frame payload of the message. */
  largestFrame: number;
}

/** A close frame as it crossed the wire. */
export interface WireClose {
  /** The status code, or `undefined` for an empty close frame. */
  code: number | undefined;
  /** The reason, decoded as UTF-8. */
  reason: string;
}

/** Options for {@linkcode WireTap}. */
export interface WireTapOptions {
  /** Who reads these bytes: `"server"` for bytes a client sends (masked), `"client"` for a server's. */
  role: "server" | "client";
  /** The bytes start with an HTTP head (request or response) to record and skip. @default {false} */
  head?: boolean;
  /** Counts to update (so a caller can keep its own object). @default a new object */
  stats?: WireStats;
}

const CRLFCRLF = [13, 10, 13, 10];
const MAX_HEAD = 64 * 1024;

/** Reads one direction of a connection, chunk by chunk, at any chunk boundary. */
export class WireTap {
  /** Byte and frame counts. */
  readonly stats: WireStats;
  /** Data messages, in order. */
  readonly messages: WireMessage[] = [];
  /** Close frames, in order (one, normally). */
  readonly closes: WireClose[] = [];
  /** Things a peer must not do that the frame parser lets through: RSV1 on a continuation or control frame. */
  readonly violations: string[] = [];
  /** Why reading stopped (a frame the parser refused), if it did. */
  error: string | undefined;
  /** The HTTP head, without the blank line, once read (when the `head` option is set). */
  head: string | undefined;

  readonly #parser: FrameParser;
  #headBytes: Uint8Array | undefined;
  #current: WireMessage | undefined;

  /** @param options The reading role, whether an HTTP head comes first, and counts to update. */
  constructor(options: WireTapOptions) {
    this.stats = options.stats ?? { bytes: 0, frames: 0, rsv1Frames: 0 };
    this.#parser = new FrameParser({
      role: options.role,
      allowedRsv: 0x40,
      maxPayloadSize: Number.MAX_SAFE_INTEGER,
    });
    this.#headBytes = options.head === true ? new Uint8Array(0) : undefined;
  }

  /**
   * Reads more bytes. The chunk is copied (the parser unmasks in place), so the caller's bytes stay intact.
   *
   * @param chunk The next bytes of this direction (a `Buffer` too: its `slice()` would not copy).
   */
  push(chunk: Uint8Array): void {
    if (this.error !== undefined || chunk.length === 0) return;
    let bytes = new Uint8Array(chunk);
    if (this.#headBytes !== undefined) {
      const joined = new Uint8Array(this.#headBytes.length + bytes.length);
      joined.set(this.#headBytes);
      joined.set(bytes, this.#headBytes.length);
      const end = indexOf(joined, CRLFCRLF, Math.max(0, this.#headBytes.length - 3));
      if (end === -1) {
        this.#headBytes = joined;
        if (joined.length > MAX_HEAD) this.error = `No end of the HTTP head in ${joined.length} bytes`;
        return;
      }
      this.head = new TextDecoder("latin1").decode(joined.subarray(0, end));
      this.#headBytes = undefined;
      bytes = joined.subarray(end + 4);
    }
    this.stats.bytes += bytes.length;
    this.#parser.push(bytes);
    try {
      for (let frame = this.#parser.next(); frame !== undefined; frame = this.#parser.next()) {
        this.stats.frames++;
        if (frame.rsv1) this.stats.rsv1Frames++;
        if (frame.opcode >= 8) {
          if (frame.rsv1) this.violations.push(`RSV1 on a control frame (opcode ${frame.opcode})`);
          if (frame.opcode === 8) this.closes.push(decodeClose(frame.payload));
          continue;
        }
        if (frame.opcode === 0) {
          if (frame.rsv1) this.violations.push("RSV1 on a continuation frame");
          if (this.#current === undefined) {
            this.violations.push("a continuation frame with no message to continue");
            continue;
          }
        } else {
          if (this.#current !== undefined) this.violations.push("a new message before the last one ended");
          this.#current = {
            opcode: frame.opcode,
            rsv1: frame.rsv1,
            frames: 0,
            wireBytes: 0,
            largestFrame: 0,
          };
          this.messages.push(this.#current);
        }
        this.#current.frames++;
        this.#current.wireBytes += frame.payload.length;
        this.#current.largestFrame = Math.max(this.#current.largestFrame, frame.payload.length);
        if (frame.fin) this.#current = undefined;
      }
    } catch (error) {
      this.error = (error as Error).message;
    }
  }

  /**
   * The values of one header of the recorded HTTP head, joined with `, ` when repeated.
   *
   * @param name The header name, any case.
   * @returns The value, or `null` when absent or when no head was read.
   */
  header(name: string): string | null {
    if (this.head === undefined) return null;
    const values: string[] = [];
    for (const line of this.head.split("\r\n").slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name.toLowerCase()) {
        values.push(line.slice(colon + 1).trim());
      }
    }
    return values.length === 0 ? null : values.join(", ");
  }
}

/**
 * A pass-through stream that feeds a {@linkcode WireTap} with what flows through it.
 *
 * @param role Who reads these bytes (see {@linkcode WireTapOptions.role}); with `"client"` the bytes start
 * with the server's HTTP response head, which is skipped.
 * @param stats Counts to update.
 * @returns The stream; its readable side carries the bytes unchanged.
 */
export function tapStream(
  role: "server" | "client",
  stats: WireStats,
): TransformStream<Uint8Array, Uint8Array> {
  const tap = new WireTap({ role, head: role === "client", stats });
  return new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      tap.push(chunk);
    },
  });
}

function decodeClose(payload: Uint8Array): WireClose {
  if (payload.length < 2) return { code: undefined, reason: "" };
  return { code: (payload[0] << 8) | payload[1], reason: new TextDecoder().decode(payload.subarray(2)) };
}

function indexOf(bytes: Uint8Array, pattern: number[], from: number): number {
  outer: for (let i = from; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}
