/**
 * The JSR package (`@wsengine/wsengine`), as `deno publish` and a Deno project see it: the dry run passes
 * with no warning and ships the library alone (deno.json's `publish.include`), `deno doc --lint` passes on
 * every export, the module doc (the JSR landing page) starts with a server and a client and names every
 * entry point, and a Deno project outside the repository that links the package (`"links"` in its
 * deno.json: what `deno add` of a local checkout amounts to) and imports it by its `jsr:` name needs no
 * import map of its own (the npm dependencies, pako and ioredis, resolve through the package's deno.json).
 * Deno's own tools check it: under Bun and Node, the Deno that npm installed. About a second in all.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { repoPath, RUNTIME } from "./_files.ts";

/** This Deno under Deno; the project's (npm installs it) under Bun and Node, which run the same checks. */
const DENO = RUNTIME === "deno" ? process.execPath : repoPath("node_modules/.bin/deno");

const denoJson = JSON.parse(readFileSync(repoPath("deno.json"), "utf8")) as {
  name: string;
  version: string;
  license: string;
  exports: Record<string, string>;
  publish: { include: string[] };
};

/** Runs Deno with a bound on its time. */
function deno(args: string[], cwd: string, ms = 90_000): Promise<{ code: number | null; output: string }> {
  const child = spawn(DENO, args, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let output = "";
  child.stdout.on("data", (chunk) => output += chunk);
  child.stderr.on("data", (chunk) => output += chunk);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`deno ${args.join(" ")} took more than ${ms} ms:\n${output}`));
    }, ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The module doc of mod.ts: its first JSDoc block, without the leading ` * `. */
function moduleDoc(): string {
  const source = readFileSync(repoPath("mod.ts"), "utf8");
  const block = source.slice(0, source.indexOf("*/"));
  return block.split("\n").map((line) => line.replace(/^\s*\/?\*\*? ?/, "")).join("\n");
}

describe("JSR", () => {
  test(
    "deno publish --dry-run passes with no warning and ships the library alone: LICENSE, README, deno.json, mod.ts, cli, demo, lib",
    { timeout: 120_000 },
    async () => {
      // --no-check: the type-check is `deno check`'s, earlier in npm test (14-20 s more here); the slow-types
      // check, the license and the file list are publish's own and run all the same.
      const { code, output } = await deno(
        ["publish", "--dry-run", "--allow-dirty", "--no-check"],
        repoPath("."),
      );
      assert.equal(code, 0, output);
      assert.match(output, /Success Dry run complete/);
      assert.doesNotMatch(output, /warning/i, "no warning");
      const root = repoPath(".");
      const files = [...output.matchAll(/^\s+file:\/\/(\S+) \(/gm)].map((match) =>
        match[1].slice(root.length)
      );
      assert.ok(files.length > 30, `${files.length} files listed:\n${output}`);
      for (const required of ["LICENSE", "README.md", "deno.json", "mod.ts", "cli.ts"]) {
        assert.ok(files.includes(required), `${required} is published`);
      }
      const include = denoJson.publish.include;
      const outside = files.filter((file) =>
        !include.some((entry) => entry.endsWith("/") ? file.startsWith(entry) : file === entry)
      );
      assert.deepEqual(outside, [], "only what publish.include names");
      assert.deepEqual(files.filter((file) => /(^|\/)[^/]*_test\.ts$/.test(file)), [], "no tests");
    },
  );

  test("deno doc --lint passes on every export of deno.json", { timeout: 60_000 }, async () => {
    const { code, output } = await deno(["doc", "--lint", ...Object.values(denoJson.exports)], repoPath("."));
    assert.equal(code, 0, output);
  });

  test("the module doc opens with a server (serve) and a client, and names every entry point and runtime", () => {
    const doc = moduleDoc();
    const firstExample = doc.slice(doc.indexOf("```ts"), doc.indexOf("```", doc.indexOf("```ts") + 5));
    assert.match(firstExample, /import \{ serve \} from "@wsengine\/wsengine\/serve"/);
    assert.match(firstExample, /new WebSocket\(/);
    for (const subpath of Object.keys(denoJson.exports)) {
      const name = subpath === "." ? denoJson.name : `${denoJson.name}/${subpath.slice(2)}`;
      assert.ok(doc.includes(`\`${name}\``), `the module doc names ${name}`);
    }
    for (const runtime of ["Deno", "Bun", "Node", "Cloudflare Workers"]) {
      assert.ok(doc.includes(runtime), `names ${runtime}`);
    }
  });

  test(
    "a Deno project that links the package and imports it by its jsr: name needs no import map: every subpath loads",
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "wsengine-jsr-consumer-"));
      try {
        writeFileSync(join(dir, "deno.json"), JSON.stringify({ links: [repoPath(".")] }));
        const names = Object.keys(denoJson.exports).map((subpath) =>
          `jsr:${denoJson.name}@${denoJson.version}${subpath.slice(1)}`
        );
        writeFileSync(
          join(dir, "main.ts"),
          names.map((name, i) => `import * as m${i} from "${name}";`).join("\n") +
            `\nconsole.log(JSON.stringify([${
              names.map((_, i) => `Object.keys(m${i}).length`).join(", ")
            }]));\n`,
        );
        const ran = await deno(["run", "--allow-all", "main.ts"], dir);
        assert.equal(ran.code, 0, ran.output);
        const counts = JSON.parse(ran.output.trim().split("\n").at(-1)!) as number[];
        assert.ok(counts.every((count) => count > 0), `every subpath exports something: ${counts}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
