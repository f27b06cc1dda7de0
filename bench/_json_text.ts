/**
 * The JSON the large-message benchmarks compress (bench/parallel_deflate_bench.ts,
 * bench/large_codec_bench.ts): an array of small records, about `size` bytes.
 *
 * @module
 */

/**
 * JSON of about `size` bytes (at least `size`, one record more at most).
 *
 * @param size The length wanted.
 * @returns The JSON text.
 */
export function jsonText(size: number): string {
  const items: string[] = [];
  let length = 2;
  for (let i = 0; length < size; i++) {
    const item = JSON.stringify({
      id: i,
      user: `user${i % 97}`,
      score: (i * 7919) % 10007,
      tags: ["a", "b", `t${i % 13}`],
      ok: i % 3 === 0,
    });
    items.push(item);
    length += item.length + 1;
  }
  return `[${items.join(",")}]`;
}
