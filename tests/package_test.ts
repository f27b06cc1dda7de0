/**
 * The package as Node users get it: package.json's `exports` give deno.json's subpaths, each from its
 * compiled file in dist/, and its `wsengine` command is the built CLI. Under Node (the suite compiled into
 * dist-tests/) every subpath is imported by the package's name, and TypeScript type-checks a program that
 * imports the package against the declarations in dist/, as a Node project would: Node's types, no DOM
 * library.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { modulePath, repoPath, RUNTIME } from "./_files.ts";

interface PackageJson {
  name: string;
  main: string;
  types: string;
  exports: Record<string, { types: string; default: string }>;
  bin: Record<string, string>;
  files: string[];
}

const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as PackageJson;
const denoExports = (JSON.parse(readFileSync(repoPath("deno.json"), "utf8")) as { exports: Record<string, string> }).exports;

/** The Node build is what these tests load; under Deno and Bun the suite runs from the sources. */
const nodeOnly = RUNTIME === "node" ? false : "loads the Node build (dist/) by the package's name: the Node suite runs it";

/** `.` -> `wsengine`, `./serve` -> `wsengine/serve`. */
function specifier(subpath: string): string {
  return subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
}

describe("package.json for Node", () => {
  test("exports deno.json's subpaths, each from its compiled JavaScript and declarations in dist/", () => {
    const expected = Object.fromEntries(Object.entries(denoExports).map(([subpath, source]) => {
      const base = source.replace(/^\.\//, "./dist/").replace(/\.ts$/, "");
      return [subpath, { types: `${base}.d.ts`, default: `${base}.js` }];
    }));
    assert.deepEqual(pkg.exports, expected);
    assert.equal(pkg.main, pkg.exports["."].default);
    assert.equal(pkg.types, pkg.exports["."].types);
    assert.deepEqual(pkg.bin, { wsengine: "./dist/cli.js" });
    assert.ok(pkg.files.includes("dist/"), "dist/ is in the published files");
  });

  test("every subpath imports by the package's name and exports what the module compiled from the same source does", { skip: nodeOnly }, async () => {
    for (const [subpath, source] of Object.entries(denoExports)) {
      const byName = Object.keys(await import(specifier(subpath))).sort();
      const fromSource = Object.keys(await import(pathToFileURL(modulePath(source.slice(2))).href)).sort();
      assert.ok(byName.length > 0, `${specifier(subpath)} exports something`);
      assert.deepEqual(byName, fromSource, specifier(subpath));
    }
  });

  test("the wsengine command is dist/cli.js with a node shebang (npm links it as is)", { skip: nodeOnly }, () => {
    const cli = readFileSync(repoPath("dist/cli.js"), "utf8");
    assert.ok(cli.startsWith("#!/usr/bin/env node\n"), cli.slice(0, 40));
  });

  test("TypeScript with Node's types resolves the package's declarations: a right program checks clean, a wrong one fails", { skip: nodeOnly, timeout: 60_000 }, async () => {
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
    assert.deepEqual(elsewhere.map((d) => `${d.file?.fileName ?? "(options)"}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`), []);
    assert.deepEqual(messages(right), []);
    const errors = messages(wrong);
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0], /^TS2322: Type 'number' is not assignable to type 'string'/);
  });
});
