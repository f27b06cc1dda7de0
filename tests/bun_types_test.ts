/**
 * The sources as a Bun project sees them: tsc with `@types/bun` and `lib: ["ESNext"]` (Bun's tsconfig
 * template), over mod.ts and the Bun entry points. Bun's declarations type the global stream reader with
 * `readMany` and `Response.status` as a property, where Node's and the DOM's do not (friction point 5 of
 * the newcomer review: 4 errors from the sources).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { repoPath, RUNTIME } from "./_files.ts";

test("mod.ts, bunServe and listenBun type-check under @types/bun with lib ESNext", {
  skip: RUNTIME === "node" ? false : "one runtime is enough for a type check (tsc runs the same everywhere)",
  timeout: 120_000,
}, async () => {
  const { default: ts } = await import("typescript");
  const files = ["mod.ts", "lib/adapters/bun_serve.ts", "lib/adapters/bun_listen.ts"].map((file) => repoPath(file));
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.esnext.d.ts"],
    types: ["bun"],
    typeRoots: [repoPath("node_modules/@types")],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowImportingTsExtensions: true,
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) =>
    `${d.file?.fileName ?? "(options)"}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, "\n").split("\n")[0]}`
  );
  assert.deepEqual(problems, []);
});
