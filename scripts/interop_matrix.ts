/**
 * Prints the interop matrix as a markdown table: peer x direction x compression -> result under deno, bun
 * and node, from the rows the interop tests append to `.test-results/interop-deno.jsonl`,
 * `.test-results/interop-bun.jsonl` and `.test-results/interop-node.jsonl` (see tests/_interop.ts). When a cell was recorded more than once (the
 * files are appended to across runs; .ci/run clears them first), the last row wins.
 *
 * Usage: `deno run --allow-read scripts/interop_matrix.ts`
 *
 * @module
 */

const RUNTIMES = ["deno", "bun", "node"] as const;
const PEERS = ["Chromium", "ws", "python-websockets", "Bun", "Deno", "workerd client (cloudflare:sockets)"];
const DIRECTIONS = ["our server ← peer client", "our client → peer server"];

interface Row {
  peer: string;
  direction: string;
  compression: string;
  runtime: string;
  result: string;
  ms?: number;
  detail?: string;
}

const results = new URL("../.test-results/", import.meta.url);
const cells = new Map<string, Map<string, Row>>(); // "peer|direction|compression" -> runtime -> row
const order: string[] = [];
const missing: string[] = [];

for (const runtime of RUNTIMES) {
  let text: string;
  try {
    text = await Deno.readTextFile(new URL(`interop-${runtime}.jsonl`, results));
  } catch {
    missing.push(`interop-${runtime}.jsonl`);
    continue;
  }
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let row: Row;
    try {
      row = JSON.parse(line);
    } catch {
      continue;
    }
    const key = `${row.peer}|${row.direction}|${row.compression}`;
    if (!cells.has(key)) {
      cells.set(key, new Map());
      order.push(key);
    }
    cells.get(key)!.set(runtime, row);
  }
}

const rank = (list: string[], value: string) => (list.indexOf(value) + 1 || list.length + 1);
const sorted = order.map((key, index) => ({ key, index, parts: key.split("|") })).sort((a, b) =>
  rank(PEERS, a.parts[0]) - rank(PEERS, b.parts[0]) ||
  rank(DIRECTIONS, a.parts[1]) - rank(DIRECTIONS, b.parts[1]) ||
  a.index - b.index
);

function cell(row: Row | undefined): string {
  if (row === undefined) return "—";
  if (row.result === "fail") return "**FAIL**";
  return row.result;
}

const counts: Record<string, number> = {};
console.log(`| peer | direction | compression | ${RUNTIMES.join(" | ")} |`);
console.log(`|---|---|---|${RUNTIMES.map(() => "---|").join("")}`);
for (const { key, parts } of sorted) {
  const [peer, direction, compression] = parts;
  const byRuntime = cells.get(key)!;
  for (const runtime of RUNTIMES) {
    const result = byRuntime.get(runtime)?.result ?? "missing";
    counts[result] = (counts[result] ?? 0) + 1;
  }
  console.log(`| ${peer} | ${direction} | ${compression} | ${RUNTIMES.map((r) => cell(byRuntime.get(r))).join(" | ")} |`);
}
console.log("");
const summary = Object.entries(counts).map(([result, n]) => `${n} ${result}`).join(", ");
console.log(`Interop cells: ${summary || "none"}${missing.length > 0 ? ` (no ${missing.join(", ")})` : ""}`);
for (const { key } of sorted) {
  for (const [runtime, row] of cells.get(key)!) {
    if (row.result === "fail") {
      console.log(
        `  FAIL [${runtime}] ${row.peer}, ${row.direction}, ${row.compression}: ${row.detail ?? ""}`,
      );
    }
  }
}
