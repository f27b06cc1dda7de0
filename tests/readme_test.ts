/**
 * The README's examples are run: each `ts` code block that starts a server is extracted, run by the
 * runtime under test on a free port, and talked to with our client; each client block runs against our
 * echo server. Under Node (the suite compiled into dist-tests/) a `ts` block is compiled to JavaScript
 * first and imports the Node build (dist/) instead of the sources; the `js` blocks, written for Node
 * users, import the package by its name (`wsengine`, resolved through package.json's `exports` to dist/)
 * and run under Node only.
 * The Worker example (the block that imports `cloudflare:sockets`) is not for these runtimes:
 * tests/interop_edge_test.ts runs it in workerd; the `Bun.serve` block runs on Bun only, the `Deno.serve`
 * one on Deno only.
 * Every block type-checks: with `deno check` (Deno's types), and under Node with `tsc` as a project that
 * installed the package would, against its declarations in dist/: Node's types for the Node and
 * cross-runtime blocks, Bun's (`@types/bun`) for the `Bun.serve` one.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import process from "node:process";
import { connectNode } from "../lib/adapters/node_client.ts";
import { repoPath, RUNTIME, runtimeArgs } from "./_files.ts";
import { startServer } from "./_raw_client.ts";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A block that starts a server on port 8080 (node:http's listen or serve()'s port option). */
function isServer(block: string): boolean {
  return block.includes(".listen(8080") || block.includes("port: 8080");
}

interface Block {
  language: "ts" | "js";
  code: string;
}

const readme = readFileSync(repoPath("README.md"), "utf8");
const blocks: Block[] = [...readme.matchAll(/```(ts|js)\n([\s\S]*?)```/g)].map((match) => ({
  language: match[1] as "ts" | "js",
  code: match[2],
}));

/** The runtime whose own server API a block uses (`Bun.serve`, `Deno.serve`), if any. */
function runtimeOf(block: Block): "bun" | "deno" | undefined {
  return /\bBun\.serve\(/.test(block.code) ? "bun" : /\bDeno\.serve\(/.test(block.code) ? "deno" : undefined;
}

/** Why a block cannot run on this runtime, or false. */
function skipReason(block: Block): string | false {
  if (block.language === "js" && RUNTIME !== "node") {
    return "a Node example: it imports the Node build by the package's name; the Node suite runs it";
  }
  const own = runtimeOf(block);
  return own !== undefined && own !== RUNTIME
    ? `a ${own === "bun" ? "Bun.serve" : "Deno.serve"} example: the ${own} suite runs it`
    : false;
}

/**
 * Writes a block into .test-results/ as a file the runtime under test can run, its imports of `./lib/...`
 * and `./mod.ts` pointed at the sources, or under Node at the build (dist/), types stripped by TypeScript.
 * A js block stays as it is: inside the repository, `wsengine` resolves to the package itself.
 *
 * @returns The file's path.
 */
async function writeExample(block: Block, index: number, edit: (code: string) => string): Promise<string> {
  mkdirSync(repoPath(".test-results/"), { recursive: true });
  const code = edit(block.code);
  if (block.language === "js") {
    const file = repoPath(`.test-results/readme_example_${index + 1}.mjs`);
    writeFileSync(file, code);
    return file;
  }
  if (RUNTIME !== "node") {
    const file = repoPath(`.test-results/readme_example_${index + 1}.ts`);
    writeFileSync(file, code.replace(/"\.\/(lib\/[\w/]+\.ts|mod\.ts)"/g, '"../$1"'));
    return file;
  }
  const { default: ts } = await import("typescript");
  const javascript = ts.transpileModule(code.replace(/"\.\/(lib\/[\w/]+|mod)\.ts"/g, '"../dist/$1.js"'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const file = repoPath(`.test-results/readme_example_${index + 1}.mjs`);
  writeFileSync(file, javascript);
  return file;
}

test("README has a runnable server example, and one for Node", () => {
  assert.ok(
    blocks.some((block) => block.language === "ts" && isServer(block.code)),
    "a ts block that listens on 8080",
  );
  assert.ok(
    blocks.some((block) => block.language === "js" && isServer(block.code)),
    "a js block that listens on 8080",
  );
});

blocks.forEach((block, index) => {
  if (!isServer(block.code)) return;
  test(`README example ${index + 1} (${block.language}) runs and echoes over a real connection`, {
    skip: skipReason(block),
  }, async () => {
    const port = await freePort();
    const file = await writeExample(
      block,
      index,
      (code) => code.replace(".listen(8080", `.listen(${port}`).replace("port: 8080", `port: ${port}`),
    );
    const child = spawn(process.execPath, runtimeArgs(file), { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => stderr += chunk);
    try {
      // Retry until the example listens (bounded: 50 tries, 100 ms apart).
      let client;
      for (let attempt = 0; client === undefined; attempt++) {
        try {
          client = await connectNode(`ws://127.0.0.1:${port}/`, {
            protocols: ["chat"],
            handshakeTimeout: 2000,
          });
        } catch (error) {
          if (attempt >= 50) {
            throw new Error(`The example never listened: ${(error as Error).message}\n${stderr}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const { connection, protocol } = client;
      assert.equal(protocol, "chat");
      const echoed = new Promise((resolve) => connection.onmessage = resolve);
      await connection.send("Hello from the README test");
      assert.equal(await echoed, "Hello from the README test");
      const closed = await connection.close(1000, "bye");
      assert.equal(closed.code, 1000);
      assert.equal(closed.wasClean, true);
    } finally {
      child.kill();
    }
  });
});

/** Runs a file with the runtime under test; resolves with its exit code and output (bounded). */
function runFile(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, runtimeArgs(file), { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stdout.on("data", (chunk) => stdout += chunk);
  child.stderr.on("data", (chunk) => stderr += chunk);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`The example did not exit within 15 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 15_000);
    child.on("close", (code) => { // after the output is read, which "exit" may precede
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

blocks.forEach((block, index) => {
  if (isServer(block.code) || !block.code.includes("ws://127.0.0.1:8080/")) return;
  test(
    `README client example ${index + 1} (${block.language}) runs against an echo server and exits cleanly`,
    { skip: skipReason(block), timeout: 30_000 },
    async () => {
      const server = await startServer({ upgrade: { protocols: ["chat"] } });
      try {
        const file = await writeExample(
          block,
          index,
          (code) => code.replaceAll("ws://127.0.0.1:8080/", server.url),
        );
        const result = await runFile(file);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /received: Hello/);
        assert.match(result.stdout, /closed: 1000/);
      } finally {
        await server.close();
      }
    },
  );
});

test("every ts block of the README type-checks (deno check)", {
  skip: RUNTIME === "deno" ? false : "deno check runs under Deno",
  timeout: 120_000,
}, async () => {
  const checked: string[] = [];
  const checkDir = mkdtempSync(join(tmpdir(), "readme-check-"));
  for (const [index, block] of blocks.entries()) {
    // The Worker example needs workerd's types (tests/interop_edge_test.ts bundles and runs it), the
    // Bun.serve one Bun's (the tsc test below).
    if (block.language !== "ts" || block.code.includes("cloudflare:sockets") || runtimeOf(block) === "bun") {
      continue;
    }
    // Outside the repository: deno.json excludes .test-results/, and an excluded file is not checked.
    const file = join(checkDir, `readme_check_${index + 1}.ts`);
    writeFileSync(
      file,
      block.code.replace(/"\.\/(lib\/[\w/]+\.ts|mod\.ts)"/g, (_, path) => JSON.stringify(repoPath(path))),
    );
    checked.push(file);
  }
  assert.ok(checked.length >= 5, `${checked.length} blocks`);
  const child = spawn(process.execPath, ["check", "--config", repoPath("deno.json"), ...checked], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => output += chunk);
  child.stderr.on("data", (chunk) => output += chunk);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  rmSync(checkDir, { recursive: true, force: true });
  assert.equal(code, 0, output);
  assert.match(output, /Check/, "deno check checked the blocks");
});

/** deno.json's exports the other way round: `./lib/adapters/serve.ts` -> `wsengine/serve`. */
function packageSpecifiers(): Map<string, string> {
  const { exports } = JSON.parse(readFileSync(repoPath("deno.json"), "utf8")) as {
    exports: Record<string, string>;
  };
  const { name } = JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as { name: string };
  return new Map(
    Object.entries(exports).map((
      [subpath, source],
    ) => [source, subpath === "." ? name : `${name}${subpath.slice(1)}`]),
  );
}

test(
  "every ts and js block of the README type-checks with tsc against the package's declarations: Node's types, Bun's for Bun.serve",
  {
    skip: RUNTIME === "node"
      ? false
      : "checks against the Node build's declarations (dist/), which the Node suite has just built",
    timeout: 120_000,
  },
  async () => {
    const { default: ts } = await import("typescript");
    const specifiers = packageSpecifiers();
    // Inside the repository, so that `wsengine` resolves to the package itself (self-reference), as it does
    // in a project that installed it.
    const dir = repoPath(".test-results/readme_tsc/");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const nodeFiles: string[] = [], bunFiles: string[] = [];
    for (const [index, block] of blocks.entries()) {
      // Workerd's and Deno's types are not tsc's here: interop_edge_test.ts and deno check cover those blocks.
      if (block.code.includes("cloudflare:sockets") || runtimeOf(block) === "deno") continue;
      const code = block.code.replace(/"(\.\/(?:lib\/[\w/]+\.ts|mod\.ts))"/g, (_whole, path: string) => {
        const name = specifiers.get(path);
        assert.ok(
          name !== undefined,
          `README example ${index + 1} imports ${path}, which is no entry point of the package`,
        );
        return JSON.stringify(name);
      });
      const file = join(dir, `readme_${index + 1}.${block.language === "js" ? "mjs" : "mts"}`);
      writeFileSync(file, code);
      (runtimeOf(block) === "bun" ? bunFiles : nodeFiles).push(file);
    }
    assert.ok(
      nodeFiles.length >= 5 && bunFiles.length >= 1,
      `${nodeFiles.length} Node blocks, ${bunFiles.length} Bun blocks`,
    );
    const base = {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      allowJs: true,
      checkJs: true,
    };
    const problems: string[] = [];
    const check = (files: string[], options: Record<string, unknown>) => {
      const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram(files, { ...base, ...options }));
      for (const d of diagnostics) {
        problems.push(
          `${d.file?.fileName ?? "(options)"}: TS${d.code} ${
            ts.flattenDiagnosticMessageText(d.messageText, "\n")
          }`,
        );
      }
    };
    // A Node project: Node's types, no DOM library. skipLibCheck (tests/package_test.ts checks the
    // declarations themselves): a third of the time.
    check(nodeFiles, { lib: ["lib.es2023.d.ts"], types: ["node"], skipLibCheck: true });
    // A Bun project: @types/bun (which brings Node's); skipLibCheck, as Bun's own tsconfig template has it
    // (bun-types and @types/node 20 disagree on a few globals).
    check(bunFiles, { lib: ["lib.es2023.d.ts"], types: ["bun"], skipLibCheck: true });
    assert.deepEqual(problems, []);
  },
);
