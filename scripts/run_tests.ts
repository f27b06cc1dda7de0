/**
 * Runs the whole suite: `deno check`, `deno lint`, then every test file under `deno test` and under
 * `bun test`, then the Node build (`npm run build`: dist/ and the compiled suite in dist-tests/, and
 * `npm run check:node`, tsc's type-check against Node's types) and the compiled suite under `node --test`.
 * Prints a count per runtime and ends with one line `N passed, M failed` summing the three; exits non-zero
 * if anything failed.
 *
 * Usage: `deno task test [-- <filter>]` (a filter is passed to the three runners as a test name pattern).
 *
 * @module
 */

import { countJunitXml, type JunitCount } from "./junit_counts.ts";

const results = ".test-results";
// Spawn this very Deno, and the project's Bun (npm installs both); fall back to PATH. Node and npm are
// the ones on PATH.
const denoBin = Deno.execPath();
const bunBin = await Deno.stat("node_modules/.bin/bun").then(() => "node_modules/.bin/bun", () => "bun");
const nodeBin = "node", npmBin = "npm";
const filter = Deno.args[0];
await Deno.mkdir(results, { recursive: true });

async function run(label: string, cmd: string, args: string[]): Promise<number> {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`);
  try {
    const child = new Deno.Command(cmd, {
      args,
      stdout: "inherit",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).spawn();
    const { code } = await child.status;
    return code;
  } catch (error) {
    console.log(`${cmd} could not be started: ${(error as Error).message}`);
    return 127;
  }
}

/** @returns Whether `node` accepts `flag` (Node 20's `--experimental-websocket` may be gone in later ones). */
async function nodeAccepts(flag: string): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(nodeBin, {
      args: [flag, "-e", ""],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/** Counts the test cases of a runner's JUnit file (scripts/junit_counts.ts); `undefined` when it is missing. */
async function countJunit(path: string): Promise<JunitCount | undefined> {
  let xml: string;
  try {
    xml = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  return countJunitXml(xml);
}

let extraFailures = 0;
const problems: string[] = [];

const checkCode = await run("deno check", denoBin, [
  "check",
  "mod.ts",
  "cli.ts",
  "lib/",
  "tests/",
  "bench/",
  "examples/",
  "scripts/",
  "conformance/",
]);
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

// Node runs the build: dist/ (the package) and dist-tests/ (this suite, compiled; see tsconfig.test.json).
let nodeCode = 0;
let node: JunitCount | undefined;
await Deno.remove(`${results}/node.xml`).catch(() => {});
const buildCode = await run("node build", npmBin, ["run", "--silent", "build"]);
if (buildCode !== 0) {
  extraFailures++;
  problems.push("npm run build");
} else {
  const typesCode = await run("tsc check (Node types)", npmBin, ["run", "--silent", "check:node"]);
  if (typesCode !== 0) {
    extraFailures++;
    problems.push("npm run check:node");
  }
  // Node 20 has its global WebSocket (undici's, a peer in tests/peers_test.ts) behind this flag; the test
  // files' processes inherit it. The timeout only ends a hung test file (Node has no default).
  const nodeArgs = (await nodeAccepts("--experimental-websocket")) ? ["--experimental-websocket"] : [];
  nodeArgs.push(
    "--test",
    "--test-timeout=600000",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=junit",
    `--test-reporter-destination=${results}/node.xml`,
  );
  if (filter) nodeArgs.push("--test-name-pattern", filter);
  nodeArgs.push("dist-tests/tests/");
  nodeCode = await run("node --test", nodeBin, nodeArgs);
  node = await countJunit(`${results}/node.xml`);
}

console.log("\n=== summary");
let passed = 0, failed = extraFailures;
const runs = [["deno", deno, denoCode], ["bun", bun, bunCode]] as [string, JunitCount | undefined, number][];
if (buildCode === 0) runs.push(["node", node, nodeCode]);
for (const [name, count, code] of runs) {
  if (count === undefined) {
    console.log(`${name}: no results (runner exited with ${code})`);
    failed++;
    problems.push(`${name} test produced no results`);
    continue;
  }
  console.log(
    `${name}: ${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped (exit ${code})`,
  );
  count.failures.forEach((failure, i) => {
    console.log(`  FAILED [${name}] ${failure}`);
    if (count.reasons[i] !== "") console.log(count.reasons[i].replace(/^/gm, "      "));
  });
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
