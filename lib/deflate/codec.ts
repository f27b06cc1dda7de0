/**
 * The small interface a permessage-deflate codec implements (RFC 7692 §7.2), so that one can be swapped
 * for another. Both halves are synchronous: the sans-I/O core calls them.
 *
 * @module
 */

/** Compresses messages for one direction of one connection. */
export interface Compressor {
  /**
   * Compresses the next piece of a message and sync-flushes (§7.2.1: "Compress all the octets of the
   * payload of the message using DEFLATE. If the resulting data does not end with an empty DEFLATE block
   * with no compression (the "BTYPE" bits are set to 00), append an empty DEFLATE block with no
   * compression to the tail end."). On the message's last piece the trailing `00 00 ff ff` is removed
   * ("Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end").
   *
   * @param data Uncompressed bytes (not kept after the call).
   * @param end Whether this piece ends the message.
   * @returns The compressed bytes, a new array the caller owns.
   */
  compress(data: Uint8Array, end: boolean): Uint8Array;
  /** Forgets the sliding window (no context takeover): the next message starts afresh. */
  reset(): void;
  /** Releases the codec's memory; the next call allocates it again. */
  release(): void;
  /**
   * Between messages: keeps only the last bytes of the sliding window (at most `2^windowBits`, fewer when
   * less has been compressed) and releases the rest of the state. The next call rebuilds the state from
   * those bytes (a preset dictionary), so later messages may still refer to earlier ones: the window the
   * peer keeps (context takeover, §7.2.1) stays valid. Costs a rebuild of the hash chains on wake.
   */
  hibernate?(): void;
  /**
   * Between messages: forgets the window and starts it again from `dictionary` (its last `2^windowBits`
   * bytes count), as if those bytes had just been compressed. After a message that was deflated elsewhere
   * (on a worker), priming with that message's tail makes this compressor's window what the peer's
   * window holds, so later messages may refer to it (context takeover, RFC 7692 §7.2.1).
   */
  prime?(dictionary: Uint8Array): void;
}

/** Decompresses messages for one direction of one connection. */
export interface Decompressor {
  /**
   * Inflates the next piece of a message; on its last piece `00 00 ff ff` is appended first (§7.2.2).
   * Output beyond `maxSize` bytes stops inflation at once with a 1009 `ProtocolError`, so a small message
   * that would inflate to gigabytes costs at most `maxSize` plus one chunk of memory. Corrupt data throws
   * a 1007 `ProtocolError`. A message that ends in a BFINAL block is valid (§7.2.3.4).
   *
   * @param data Compressed bytes.
   * @param end Whether this piece ends the message.
   * @param maxSize Largest output allowed for this piece.
   * @returns The inflated bytes, a new array the caller owns.
   */
  decompress(data: Uint8Array, end: boolean, maxSize: number): Uint8Array;
  /** Forgets the sliding window (no context takeover). */
  reset(): void;
  /** Releases the codec's memory; the next call allocates it again. */
  release(): void;
  /**
   * Between messages: keeps only the window's bytes (at most `2^windowBits`) and releases the rest; the
   * next call restores the window from them, so the peer's next message may still refer to earlier ones.
   */
  hibernate?(): void;
  /**
   * Between messages: a copy of the sliding window, the last bytes inflated (at most `2^windowBits`, fewer
   * when less has been inflated): what the peer's next message may refer to (context takeover, RFC 7692
   * §7.2.2). A message inflated elsewhere (on a worker) takes it as its preset dictionary.
   */
  window?(): Uint8Array;
  /**
   * Between messages: forgets the window and starts it again from `dictionary` (its last `2^windowBits`
   * bytes count), as if those bytes had just been inflated. After a message inflated elsewhere (on a
   * worker), priming with the window that message leaves makes this decompressor what it would be had it
   * inflated the message itself.
   */
  prime?(dictionary: Uint8Array): void;
}

/** Settings for a compressor. */
export interface CompressorOptions {
  /** Base-2 logarithm of the LZ77 window, 8..15 (a codec must never reference farther). */
  windowBits: number;
  /** Compression level 0..9. */
  level: number;
  /** zlib memLevel 1..9: hash table memory, `2^(memLevel+9)` bytes. */
  memLevel: number;
}

/** Makes compressors and decompressors. */
export interface DeflateCodec {
  /** The codec's name, for reports. */
  readonly name: string;
  /**
   * Makes a compressor for one direction of one connection.
   *
   * @param options Window, level and memory settings.
   * @returns A compressor; its memory is allocated on first use.
   */
  createCompressor(options: CompressorOptions): Compressor;
  /**
   * Makes a decompressor for one direction of one connection.
   *
   * @param windowBits Base-2 logarithm of the peer's LZ77 window, 8..15.
   * @returns A decompressor; its memory is allocated on first use.
   */
  createDecompressor(windowBits: number): Decompressor;
}
