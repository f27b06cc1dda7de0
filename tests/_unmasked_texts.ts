/**
 * Test helper: the text payloads of unmasked, unfragmented frames laid end to end (what a server wrote), in
 * order. Payloads under 64 KiB only (7-bit and 16-bit lengths).
 *
 * @module
 */

/** The payloads of the frames in `chunks` (joined in order), decoded as UTF-8. */
export function unmaskedTexts(chunks: readonly Uint8Array[]): string[] {
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  const out: string[] = [];
  for (let at = 0; at < bytes.length;) {
    let length = bytes[at + 1] & 0x7f, start = at + 2;
    if (length === 126) {
      length = (bytes[at + 2] << 8) | bytes[at + 3];
      start = at + 4;
    }
    out.push(new TextDecoder().decode(bytes.subarray(start, start + length)));
    at = start + length;
  }
  return out;
}
