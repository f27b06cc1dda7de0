/**
 * Reads the JUnit XML that `deno test`, `bun test` and `node --test` write: how many test cases passed,
 * failed and were skipped, which failed and why. Pure (no I/O), so that the suite can test it on each
 * runtime; scripts/run_tests.ts reads the files.
 *
 * @module
 */

/** A runner's results. */
export interface JunitCount {
  passed: number;
  failed: number;
  skipped: number;
  /** The failed cases' names (a group's name, ` > `, the case's, where the runner writes it so). */
  failures: string[];
  /** Why each failure failed (its `<failure>`'s text, shortened), in the order of `failures`. */
  reasons: string[];
}

/** Attributes of an element, each value whole: Node's may hold `>`. */
const ATTRIBUTES = String.raw`(?:\s+[\w:.-]+="[^"]*")*`;
const TESTCASE = new RegExp(
  String.raw`<testcase\s+name="([^"]*)"${ATTRIBUTES}\s*(?:\/>|>([\s\S]*?)<\/testcase>)`,
  "g",
);
const FAILURE = new RegExp(String.raw`<(failure|error)(${ATTRIBUTES})\s*(?:\/>|>([\s\S]*?)<\/\1>)`);
/** Lines and characters of a reason that are shown. */
const REASON_LINES = 8, REASON_CHARS = 800;

/**
 * Counts the leaf test cases of a JUnit document. Deno lists `describe` groups as cases too (a group fails
 * when a step fails): those are skipped. Bun and Node nest groups as `<testsuite>`s.
 *
 * @param xml The document.
 * @returns The counts, the failed cases' names and their reasons.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countJunitXml } from "./junit_counts.ts";
 * const xml = `<testsuite><testcase name="a"/><testcase name="b"><failure message="no">it broke</failure></testcase></testsuite>`;
 * const count = countJunitXml(xml);
 * assert.deepEqual([count.passed, count.failed, count.failures, count.reasons], [1, 1, ["b"], ["it broke"]]);
 * ```
 */
export function countJunitXml(xml: string): JunitCount {
  const cases: { name: string; body: string }[] = [];
  for (const match of xml.matchAll(TESTCASE)) cases.push({ name: match[1], body: match[2] ?? "" });
  const names = cases.map((c) => c.name);
  const count: JunitCount = { passed: 0, failed: 0, skipped: 0, failures: [], reasons: [] };
  for (const { name, body } of cases) {
    if (names.some((other) => other.startsWith(`${name} &gt; `))) continue; // a group, not a test
    if (body.includes("<failure") || body.includes("<error")) {
      count.failed++;
      count.failures.push(unescapeXml(name));
      count.reasons.push(failureReason(body));
    } else if (body.includes("<skipped")) count.skipped++;
    else count.passed++;
  }
  return count;
}

/**
 * Undoes XML's escapes (the five named ones and numeric references).
 *
 * @param text An attribute value or text.
 * @returns The text as written.
 */
export function unescapeXml(text: string): string {
  return text.replace(/&(?:#(\d+)|#x([\da-f]+)|(lt|gt|quot|apos|amp));/gi, (_, dec, hex, named) => {
    if (dec !== undefined) return String.fromCodePoint(Number(dec));
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    return { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" }[(named as string).toLowerCase() as "lt"];
  });
}

/**
 * The reason a failed case gives: its `<failure>`'s (or `<error>`'s) text, else its `message`, cut to a few
 * lines so that CI's tail shows why, not only what, failed.
 */
function failureReason(body: string): string {
  const element = FAILURE.exec(body);
  if (element === null) return "";
  const message = /\bmessage="([^"]*)"/.exec(element[2])?.[1] ?? "";
  const text = unescapeXml((element[3] ?? "").trim() !== "" ? element[3] : message);
  const lines = text.split("\n").map((line) => line.trimEnd()).filter((line) => line.trim() !== "");
  const shown = lines.slice(0, REASON_LINES).join("\n").slice(0, REASON_CHARS);
  return lines.length > REASON_LINES || shown.length === REASON_CHARS ? `${shown} …` : shown;
}
