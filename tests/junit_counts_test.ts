/**
 * scripts/junit_counts.ts on the JUnit files the three runners really write (tests/fixtures/junit/: one
 * `describe` group with a failing, a passing and a skipped test, written by `deno test --junit-path`, `bun
 * test --reporter=junit` and `node --test --test-reporter=junit`): the counts CI's last line is made of, and
 * the reason it prints under each failure.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { repoPath } from "./_files.ts";
import { countJunitXml, unescapeXml } from "../scripts/junit_counts.ts";

const fixture = (runner: string) => readFileSync(repoPath(`tests/fixtures/junit/${runner}.xml`), "utf8");

for (const runner of ["deno", "bun", "node"]) {
  test(`${runner}'s JUnit: one passed, one failed, one skipped; the failure's name and reason`, () => {
    const count = countJunitXml(fixture(runner));
    assert.equal(count.passed, 1);
    assert.equal(count.failed, 1, "a Deno group that failed because a step did is not counted again");
    assert.equal(count.skipped, 1);
    const name = runner === "deno"
      ? "a group > fails with <a> reason & more"
      : "fails with <a> reason & more";
    assert.deepEqual(count.failures, [name]);
    assert.equal(count.reasons.length, 1);
    assert.match(count.reasons[0], /one is not two\n1 !== 2/);
    assert.ok(count.reasons[0].split("\n").length <= 8, count.reasons[0]);
  });
}

test("a reason is cut to 8 lines and 800 characters, with a mark where it was cut", () => {
  const long = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n");
  const wide = "x".repeat(2000);
  const xml = `<testsuite><testcase name="long"><failure>${long}</failure></testcase>` +
    `<testcase name="wide"><error message="m">${wide}</error></testcase>` +
    `<testcase name="bare"><failure message="only a message"/></testcase></testsuite>`;
  const count = countJunitXml(xml);
  assert.equal(count.failed, 3);
  assert.equal(count.reasons[0], `${long.split("\n").slice(0, 8).join("\n")} …`);
  assert.equal(count.reasons[1], `${"x".repeat(800)} …`);
  assert.equal(count.reasons[2], "only a message");
});

test("no test cases: all counts 0", () => {
  assert.deepEqual(countJunitXml("<testsuites></testsuites>"), {
    passed: 0,
    failed: 0,
    skipped: 0,
    failures: [],
    reasons: [],
  });
});

test("XML's escapes, named and numeric, are undone once", () => {
  assert.equal(
    unescapeXml("&lt;a&gt; &amp;amp; &quot;q&quot; &apos;s&apos; &#10;&#x41;"),
    `<a> &amp; "q" 's' \nA`,
  );
});
