/**
 * Runs the whole suite: `deno check`, `deno lint`, then every test file under `deno test` and under
 * `bun test`. Prints a count per runtime and ends with one line `N passed, M failed` summing both; exits
 * non-zero if anything failed.
 *
 * Usage: `deno task test [-- <filter>]` (a filter is passed to both runners as a test name pattern).
 *
 * @module
 */

const results = ".test-results";
// Spawn this very Deno, and the project's Bun (npm installs both); fall back to PATH.
const denoBin = Deno.execPath();
const bunBin = await Deno.stat("node_modules/.bin/bun").then(() => "node_modules/.bin/bun", () => "bun");
const filter = Deno.args[0];
await Deno.mkdir(results, { recursive: true });

interface Count {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

async function run(label: string, cmd: string, args: string[]): Promise<number> {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`);
  const child = new Deno.Command(cmd, { args, stdout: "inherit", stderr: "inherit", env: { NO_COLOR: "1" } }).spawn();
  const { code } = await child.status;
  return code;
}

/** Counts leaf test cases in a JUnit file. Deno lists `describe` groups as cases too: those are skipped. */
async function countJunit(path: string): Promise<Count | undefined> {
  let xml: string;
  try {
    xml = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  const cases: { name: string; body: string }[] = [];
  for (const match of xml.matchAll(/<testcase\s+name="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    cases.push({ name: match[1], body: match[2] ?? "" });
  }
  const names = cases.map((c) => c.name);
  const count: Count = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const { name, body } of cases) {
    if (names.some((other) => other.startsWith(`${name} &gt; `))) continue; // a group, not a test
    if (body.includes("<failure") || body.includes("<error")) {
      count.failed++;
      count.failures.push(name.replaceAll("&gt;", ">").replaceAll("&quot;", '"').replaceAll("&amp;", "&"));
    } else if (body.includes("<skipped")) count.skipped++;
    else count.passed++;
  }
  return count;
}

let extraFailures = 0;
const problems: string[] = [];

const checkCode = await run("deno check", denoBin, ["check", "mod.ts", "cli.ts", "lib/", "tests/", "bench/", "examples/", "scripts/", "conformance/"]);
if (checkCode !== 0) {
  extraFailures++;
  problems.push("deno check");
}
const lintCode = await run("deno lint", denoBin, ["lint"]);
if (lintCode !== 0) {
  extraFailures++;
  problems.push("deno lint");
}

// --doc runs the @example blocks of lib/ and mod.ts too (Deno only: Bun has no doc tests).
const denoArgs = ["test", "--allow-all", "--doc", `--junit-path=${results}/deno.xml`];
if (filter) denoArgs.push("--filter", filter);
denoArgs.push("tests/", "lib/", "mod.ts");
await Deno.remove(`${results}/deno.xml`).catch(() => {});
const denoCode = await run("deno test", denoBin, denoArgs);
const deno = await countJunit(`${results}/deno.xml`);

const bunArgs = ["test", "--reporter=junit", `--reporter-outfile=${results}/bun.xml`];
if (filter) bunArgs.push("--test-name-pattern", filter);
await Deno.remove(`${results}/bun.xml`).catch(() => {});
const bunCode = await run("bun test", bunBin, bunArgs);
const bun = await countJunit(`${results}/bun.xml`);

console.log("\n=== summary");
let passed = 0, failed = extraFailures;
for (const [name, count, code] of [["deno", deno, denoCode], ["bun", bun, bunCode]] as const) {
  if (count === undefined) {
    console.log(`${name}: no results (runner exited with ${code})`);
    failed++;
    problems.push(`${name} test produced no results`);
    continue;
  }
  console.log(`${name}: ${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped (exit ${code})`);
  for (const failure of count.failures) console.log(`  FAILED [${name}] ${failure}`);
  passed += count.passed;
  failed += count.failed;
  if (code !== 0 && count.failed === 0) {
    failed++;
    problems.push(`${name} test exited with ${code} but reported no failing test`);
  }
}
for (const problem of problems) console.log(`  FAILED ${problem}`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
