/**
 * examples/history_query.ts and examples/history_first_message.ts run as their doc comments say (a shorter
 * cut-off), on the runtime under test: a reconnecting client cut off while messages are published loses
 * none, its position carried in the query string of its reconnect URL or in its first message.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { modulePath, runtimeArgs } from "./_files.ts";

/** Runs an example to its end (at most 30 s); its exit code and output. */
function run(example: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, runtimeArgs(modulePath(example), args), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => output += chunk);
    child.stderr.on("data", (chunk) => output += chunk);
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => { // after the output is read, which "exit" may precede
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

for (const example of ["examples/history_query.ts", "examples/history_first_message.ts"]) {
  test(
    `${example}: a client cut off for 1 s while messages are published loses none`,
    { timeout: 40_000 },
    async () => {
      const { code, output } = await run(example, ["--cutoff", "1000"]);
      assert.equal(code, 0, output);
      assert.match(
        output,
        /back: \d+ published while cut off; received \d+ in all, 0 missed, 0 twice, 0 reset, 1 reconnect/,
      );
      assert.match(output, /nothing lost/);
      const [, published] = /back: (\d+) published while cut off/.exec(output)!;
      assert.ok(Number(published) > 5, `messages were published while cut off: ${output}`);
    },
  );
}
