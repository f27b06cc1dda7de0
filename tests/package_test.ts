/**
 * The package as users get it. package.json: publishable (a license, a repository, no `private`), its
 * `exports` are deno.json's subpaths, each from its compiled file in dist/ (Bun: the TypeScript source),
 * its `wsengine` command is the built CLI under a path npm keeps, its runtime dependencies are the ones
 * lib/ imports, and `sideEffects` names every module imported for its effect. Under Node (the suite
 * compiled into dist-tests/, right after `npm run build`): every subpath is imported by the package's name,
 * TypeScript type-checks a program that imports it against the declarations in dist/ (Node's types, no DOM
 * library), and the tarball of `npm pack` is installed into an empty project outside the repository, where
 * every subpath is imported on Node, on Bun and on Deno (`npm:` specifiers) and the `wsengine` command runs.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { modulePath, repoPath, RUNTIME } from "./_files.ts";

interface PackageJson {
  name: string;
  private?: boolean;
  license: string;
  repository: { type: string; url: string };
  keywords: string[];
  sideEffects: false | string[];
  main: string;
  types: string;
  exports: Record<string, { types: string; bun: string; default: string }>;
  bin: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as PackageJson;
const denoJson = JSON.parse(readFileSync(repoPath("deno.json"), "utf8")) as {
  license: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
};
const denoExports = denoJson.exports;

/** The Node build is what these tests load; under Deno and Bun the suite runs from the sources. */
const nodeOnly = RUNTIME === "node"
  ? false
  : "loads the Node build (dist/) by the package's name: the Node suite runs it";
/** The tarball test packs dist/ as the Node suite has just built it, once for the three runtimes. */
const packOnce = RUNTIME === "node"
  ? false
  : "packs dist/ as the Node suite has just built it (npm test), and imports it on all three runtimes from there";

/** `.` -> `wsengine`, `./serve` -> `wsengine/serve`. */
function specifier(subpath: string): string {
  return subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
}

/** Every .ts file under a folder of the repository. */
function sources(folder: string): string[] {
  return readdirSync(repoPath(folder), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => `${folder}/${file.replaceAll("\\", "/")}`);
}

describe("package.json", () => {
  test("exports deno.json's subpaths: types and JavaScript from dist/, the TypeScript source for Bun", () => {
    const expected = Object.fromEntries(
      Object.entries(denoExports).map(([subpath, source]) => {
        const base = source.replace(/^\.\//, "./dist/").replace(/\.ts$/, "");
        return [subpath, { types: `${base}.d.ts`, bun: source, default: `${base}.js` }];
      }),
    );
    assert.deepEqual(pkg.exports, expected);
    assert.equal(pkg.main, pkg.exports["."].default);
    assert.equal(pkg.types, pkg.exports["."].types);
    for (const [subpath, conditions] of Object.entries(pkg.exports)) {
      assert.deepEqual(
        Object.keys(conditions),
        ["types", "bun", "default"],
        `${subpath}: "types" first, "default" last`,
      );
    }
  });

  test("is publishable: MIT as deno.json and LICENSE say, a repository, keywords, no private flag", () => {
    assert.equal(pkg.private, undefined);
    assert.equal(pkg.license, "MIT");
    assert.equal(denoJson.license, "MIT");
    assert.match(readFileSync(repoPath("LICENSE"), "utf8"), /^MIT License\n/);
    assert.match(pkg.repository.url, /^git\+https:\/\/github\.com\/[\w-]+\/[\w-]+\.git$/);
    assert.ok(pkg.keywords.includes("websocket"));
  });

  test("bin is dist/cli.js without a leading ./ (which npm 11's publish strips) and dist/ is published", () => {
    assert.deepEqual(pkg.bin, { wsengine: "dist/cli.js" });
    assert.ok(pkg.files.includes("dist/"), "dist/ is in the published files");
  });

  test("the runtime dependencies are what lib/ imports, at deno.json's versions", () => {
    const imported = new Set<string>();
    for (const file of [...sources("lib"), ...sources("cli"), "mod.ts", "cli.ts"]) {
      const code = readFileSync(repoPath(file), "utf8");
      // Static and dynamic imports of bare specifiers (not node:, not relative, not in comments' examples).
      for (
        const match of code.matchAll(
          /^(?:import|export)[^"'`]*?from\s+"([^".][^"]*)"|import\("([^".][^"]*)"\)/gm,
        )
      ) {
        const name = match[1] ?? match[2];
        if (name.startsWith("node:") || name.startsWith("cloudflare:")) continue;
        imported.add(name.startsWith("@") ? name.split("/").slice(0, 2).join("/") : name.split("/")[0]);
      }
    }
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), [...imported].sort());
    for (const [name, version] of Object.entries(pkg.dependencies)) {
      assert.equal(
        denoJson.imports[name],
        `npm:${name}@${version}`,
        `deno.json maps ${name} to the same version`,
      );
    }
  });

  test("sideEffects lists every module imported only for its effect (the rest may be dropped by bundlers)", () => {
    assert.ok(Array.isArray(pkg.sideEffects));
    const forEffect = new Set<string>();
    for (const file of [...sources("lib"), "mod.ts"]) {
      for (const match of readFileSync(repoPath(file), "utf8").matchAll(/^import\s+"(\.[^"]+)";/gm)) {
        const target = relative(repoPath("."), join(dirname(repoPath(file)), match[1])).replaceAll("\\", "/");
        forEffect.add(`./${target}`);
        forEffect.add(`./dist/${target.replace(/\.ts$/, ".js")}`);
      }
    }
    assert.deepEqual([...pkg.sideEffects].sort(), [...forEffect].sort());
  });

  test(
    "every subpath imports by the package's name and exports what the module compiled from the same source does",
    { skip: nodeOnly },
    async () => {
      for (const [subpath, source] of Object.entries(denoExports)) {
        const byName = Object.keys(await import(specifier(subpath))).sort();
        const fromSource = Object.keys(await import(pathToFileURL(modulePath(source.slice(2))).href)).sort();
        assert.ok(byName.length > 0, `${specifier(subpath)} exports something`);
        assert.deepEqual(byName, fromSource, specifier(subpath));
      }
    },
  );

  test(
    "the wsengine command is dist/cli.js with a node shebang (npm links it as is)",
    { skip: nodeOnly },
    () => {
      const cli = readFileSync(repoPath("dist/cli.js"), "utf8");
      assert.ok(cli.startsWith("#!/usr/bin/env node\n"), cli.slice(0, 40));
    },
  );

  test(
    "TypeScript with Node's types resolves the package's declarations: a right program checks clean, a wrong one fails",
    { skip: nodeOnly, timeout: 60_000 },
    async () => {
      const { default: ts } = await import("typescript");
      // Inside the repository, so that `wsengine` resolves to the package itself (self-reference).
      const dir = repoPath(".test-results/package_consumer/");
      mkdirSync(dir, { recursive: true });
      const program = (port: string) => `
import { serve } from "wsengine/serve";
import { handleNodeUpgrade } from "wsengine/node-http";
import { connectNode } from "wsengine/node-client";
import { type CloseResult, WebSocket, WebSocketStream } from "wsengine";
export type * from "wsengine/node-socket";
export type * from "wsengine/bun-serve";
export type * from "wsengine/deno-serve";
export type * from "wsengine/deno-listen";
const server = await serve({ port: 0, protocols: ["chat"], websocket: { message: (socket, data) => socket.send(data) } });
const port: ${port} = server.port;
const socket = new WebSocket(server.url, ["chat"]);
const state: number = socket.readyState;
socket.onmessage = (event) => console.log(event.data);
socket.onclose = (event) => console.log(event.code, event.reason, event.wasClean);
const stream = new WebSocketStream(server.url);
const { connection } = await connectNode(server.url, { protocols: ["chat"] });
const closed: CloseResult = await connection.close(1000);
export { closed, handleNodeUpgrade, port, state, stream };
`;
      const right = `${dir}right.ts`, wrong = `${dir}wrong.ts`;
      writeFileSync(right, program("number"));
      writeFileSync(wrong, program("string"));
      const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram([right, wrong], {
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        lib: ["lib.es2023.d.ts"], // no "dom": the declarations must not need its names
        types: ["node"],
        strict: true,
        noEmit: true,
      }));
      const messages = (file: string | undefined) =>
        diagnostics.filter((d) => d.file?.fileName === file)
          .map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
      // None in the declarations of dist/ (or anywhere but the two programs): they are checked too.
      const elsewhere = diagnostics.filter((d) => d.file?.fileName !== right && d.file?.fileName !== wrong);
      assert.deepEqual(
        elsewhere.map((d) =>
          `${d.file?.fileName ?? "(options)"}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`
        ),
        [],
      );
      assert.deepEqual(messages(right), []);
      const errors = messages(wrong);
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0], /^TS2322: Type 'number' is not assignable to type 'string'/);
    },
  );
});

/** What a child printed, and how it ended. */
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a bound on its time (killed past it, which fails the test with its output). */
function run(command: string, args: string[], cwd: string, ms: number): Promise<Run> {
  const child = spawn(command, args, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stdout = "", stderr = "";
  child.stdout.on("data", (chunk) => stdout += chunk);
  child.stderr.on("data", (chunk) => stderr += chunk);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${command} ${args.join(" ")} took more than ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, ms);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not be started: ${error.message}`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed; returns its standard output. */
async function ok(command: string, args: string[], cwd: string, ms: number): Promise<string> {
  const result = await run(command, args, cwd, ms);
  assert.equal(
    result.code,
    0,
    `${command} ${args.join(" ")} exited with ${result.code}\n${result.stdout}\n${result.stderr}`,
  );
  return result.stdout;
}

/** A module that imports each subpath (through `prefix`: "" or "npm:") and prints its export names. */
function importer(prefix: string): string {
  const names = Object.keys(denoExports).map(specifier);
  return `const names = ${JSON.stringify(names)};
const result = {};
for (const name of names) result[name] = Object.keys(await import(${JSON.stringify(prefix)} + name)).sort();
console.log(JSON.stringify(result));
`;
}

describe("the npm tarball, installed into an empty project", () => {
  test(
    "packs the library alone, installs, imports every subpath on Node, Bun and Deno (npm:), runs the wsengine command; npm publish --dry-run keeps the bin",
    {
      skip: packOnce,
      timeout: 240_000,
    },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "wsengine-tarball-"));
      try {
        // Once: the tarball of what is in dist/ now (no prepare: the suite's build is the one to test).
        const packed = JSON.parse(
          await ok(
            "npm",
            ["pack", "--ignore-scripts", "--json", "--pack-destination", dir],
            repoPath("."),
            60_000,
          ),
        ) as {
          filename: string;
          files: { path: string }[];
        }[];
        const files = packed[0].files.map((file) => file.path);
        for (
          const required of [
            "LICENSE",
            "README.md",
            "package.json",
            "dist/mod.js",
            "dist/mod.d.ts",
            "dist/cli.js",
            "mod.ts",
          ]
        ) {
          assert.ok(files.includes(required), `the tarball has ${required}`);
        }
        const stray = files.filter((file) =>
          /(^|\/)(tests?|bench|conformance|dist-tests|\.ci)\//.test(file) || file.endsWith(".js.map")
        );
        assert.deepEqual(
          stray,
          [],
          "no tests, benches, conformance or JavaScript source maps in the tarball",
        );

        const app = join(dir, "app");
        mkdirSync(app);
        writeFileSync(
          join(app, "package.json"),
          JSON.stringify({ name: "app", private: true, type: "module" }),
        );
        // Once; from npm's cache when it has the dependencies (npm install in the checkout put them there).
        await ok(
          "npm",
          ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, packed[0].filename)],
          app,
          60_000,
        );
        writeFileSync(join(app, "check.mjs"), importer(""));
        writeFileSync(join(app, "check_deno.mjs"), importer("npm:"));

        const expected: Record<string, string[]> = {};
        for (const [subpath, source] of Object.entries(denoExports)) {
          expected[specifier(subpath)] = Object.keys(
            await import(pathToFileURL(modulePath(source.slice(2))).href),
          ).sort();
        }
        const bin = (name: string) => repoPath(`node_modules/.bin/${name}`);
        const runtimes: [string, string, string[]][] = [
          ["node", process.execPath, ["check.mjs"]],
          ["bun", bin("bun"), ["check.mjs"]],
          ["deno", bin("deno"), ["run", "--allow-all", "check_deno.mjs"]],
        ];
        for (const [name, command, args] of runtimes) {
          const output = await ok(command, args, app, 60_000);
          assert.deepEqual(
            JSON.parse(output.trim().split("\n").at(-1)!),
            expected,
            `${name}: every subpath and its exports`,
          );
        }

        // npm's own checks of the manifest: a bin path it would strip, a private flag.
        const publish = await run("npm", ["publish", "--dry-run", "--ignore-scripts"], repoPath("."), 60_000);
        assert.equal(publish.code, 0, publish.stdout + publish.stderr);
        assert.doesNotMatch(publish.stderr, /invalid and removed|private/i, publish.stderr);

        const help = await run(join(app, "node_modules/.bin/wsengine"), ["--help"], app, 30_000);
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout + help.stderr, /serve/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
