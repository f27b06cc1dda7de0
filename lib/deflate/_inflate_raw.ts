/**
 * A small synchronous raw-DEFLATE decoder (RFC 1951), for the one stream this library ships deflated: zlib's
 * WebAssembly module (`_zlib_wasm_binary.ts`, 56 KiB that deflate to 20 KiB, so every bundle that carries
 * the codec is ~48 KB smaller). It runs once, before the codec exists, so it cannot use it; the messages of
 * connections go through zlib. Private to the deflate folder.
 *
 * @module
 */

// RFC 1951 §3.2.5: lengths 3..258 (codes 257..285) and distances 1..32768 (codes 0..29), base and extra bits.
const LENGTH_BASE = [
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11,
  13,
  15,
  17,
  19,
  23,
  27,
  31,
  35,
  43,
  51,
  59,
  67,
  83,
  99,
  115,
  131,
  163,
  195,
  227,
  258,
];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [
  1,
  2,
  3,
  4,
  5,
  7,
  9,
  13,
  17,
  25,
  33,
  49,
  65,
  97,
  129,
  193,
  257,
  385,
  513,
  769,
  1025,
  1537,
  2049,
  3073,
  4097,
  6145,
  8193,
  12289,
  16385,
  24577,
];
const DISTANCE_EXTRA = [
  0,
  0,
  0,
  0,
  1,
  1,
  2,
  2,
  3,
  3,
  4,
  4,
  5,
  5,
  6,
  6,
  7,
  7,
  8,
  8,
  9,
  9,
  10,
  10,
  11,
  11,
  12,
  12,
  13,
  13,
];
// §3.2.7: the order in which the code length code lengths come.
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

/** §3.2.2: the canonical code of the given code lengths (0: symbol unused). */
function huffman(lengths: Uint8Array): Huffman {
  const counts = new Uint16Array(16);
  for (const length of lengths) counts[length]++;
  counts[0] = 0;
  const offsets = new Uint16Array(16);
  for (let length = 1; length < 16; length++) offsets[length] = offsets[length - 1] + counts[length - 1];
  const symbols = new Uint16Array(lengths.length);
  lengths.forEach((length, symbol) => {
    if (length !== 0) symbols[offsets[length]++] = symbol;
  });
  return { counts, symbols };
}

/**
 * Inflates a raw DEFLATE stream whose inflated size is known.
 *
 * @param input The stream (no zlib or gzip wrapper).
 * @param size Its inflated size in bytes.
 * @returns The inflated bytes.
 * @throws {RangeError} For a stream that is corrupt or does not inflate to exactly `size` bytes.
 */
export function inflateRaw(input: Uint8Array, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let position = 0; // in input
  let bits = 0; // unread bits, the next one lowest (at most 32: up to 24 kept plus a byte)
  let bitCount = 0;
  let written = 0;
  const fail = (why: string): never => {
    throw new RangeError(`Cannot inflate: ${why}`);
  };
  // §3.1.1: data elements are packed starting with the least significant bit of each byte.
  const read = (count: number): number => {
    while (bitCount < count) {
      if (position >= input.length) fail("the stream ends early");
      bits |= input[position++] << bitCount;
      bitCount += 8;
    }
    const value = bits & ((1 << count) - 1);
    bits >>>= count;
    bitCount -= count;
    return value;
  };
  // §3.1.1: Huffman codes are packed most significant bit first.
  const decode = ({ counts, symbols }: Huffman): number => {
    let code = 0, first = 0, index = 0;
    for (let length = 1; length < 16; length++) {
      if (bitCount === 0) {
        if (position >= input.length) fail("the stream ends early");
        bits = input[position++];
        bitCount = 8;
      }
      code |= bits & 1;
      bits >>>= 1;
      bitCount--;
      const count = counts[length];
      if (code - first < count) return symbols[index + code - first];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    return fail("a Huffman code is invalid");
  };
  const put = (byte: number): void => {
    if (written >= size) fail(`it inflates to more than ${size} bytes`);
    out[written++] = byte;
  };
  let final = 0;
  while (final === 0) {
    final = read(1);
    const type = read(2);
    if (type === 0) {
      // §3.2.4: stored; skip to a byte boundary, then LEN and NLEN.
      bits = 0;
      bitCount = 0;
      if (position + 4 > input.length) fail("the stream ends early");
      const length = input[position] | (input[position + 1] << 8);
      if ((length ^ (input[position + 2] | (input[position + 3] << 8))) !== 0xffff) {
        fail("a stored block's length is invalid");
      }
      position += 4;
      if (position + length > input.length) fail("the stream ends early");
      for (let i = 0; i < length; i++) put(input[position++]);
      continue;
    }
    let literals: Huffman, distances: Huffman;
    if (type === 1) {
      // §3.2.6: the fixed codes.
      const lengths = new Uint8Array(288);
      lengths.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
      literals = huffman(lengths);
      distances = huffman(new Uint8Array(30).fill(5));
    } else if (type === 2) {
      // §3.2.7: the codes, themselves Huffman-coded.
      const literalCount = read(5) + 257, distanceCount = read(5) + 1, codeLengthCount = read(4) + 4;
      const codeLengths = new Uint8Array(19);
      for (let i = 0; i < codeLengthCount; i++) codeLengths[CODE_LENGTH_ORDER[i]] = read(3);
      const codeLengthCode = huffman(codeLengths);
      const lengths = new Uint8Array(literalCount + distanceCount);
      for (let i = 0; i < lengths.length;) {
        const symbol = decode(codeLengthCode);
        if (symbol < 16) {
          lengths[i++] = symbol;
          continue;
        }
        if (symbol === 16 && i === 0) fail("a length repeats nothing");
        const [value, repeat] = symbol === 16
          ? [lengths[i - 1], read(2) + 3]
          : symbol === 17
          ? [0, read(3) + 3]
          : [0, read(7) + 11];
        if (i + repeat > lengths.length) fail("code lengths overflow");
        lengths.fill(value, i, i + repeat);
        i += repeat;
      }
      literals = huffman(lengths.subarray(0, literalCount));
      distances = huffman(lengths.subarray(literalCount));
    } else {
      return fail("a block type is reserved");
    }
    for (;;) {
      const symbol = decode(literals);
      if (symbol < 256) {
        put(symbol);
        continue;
      }
      if (symbol === 256) break;
      const code = symbol - 257;
      if (code >= LENGTH_BASE.length) fail("a length code is invalid");
      const length = LENGTH_BASE[code] + read(LENGTH_EXTRA[code]);
      const distanceCode = decode(distances);
      if (distanceCode >= DISTANCE_BASE.length) fail("a distance code is invalid");
      const distance = DISTANCE_BASE[distanceCode] + read(DISTANCE_EXTRA[distanceCode]);
      if (distance > written) fail("a distance reaches before the start");
      if (written + length > size) fail(`it inflates to more than ${size} bytes`);
      for (let i = 0; i < length; i++, written++) out[written] = out[written - distance];
    }
  }
  if (written !== size) fail(`it inflates to ${written} bytes, not ${size}`);
  return out;
}
