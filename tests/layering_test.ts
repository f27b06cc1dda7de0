/**
 * The layering of lib/, read from the imports of every file so that it cannot rot (README, "Layers"):
 *
 * - lib/core/ (the sans-I/O RFC 6455 core) imports nothing outside lib/core/;
 * - lib/deflate/ and lib/handshake/ import only lib/core/, each other, and npm packages;
 * - no file imports from a layer above its own (core, then deflate and handshake, then streams and the
 *   connection, then the clients and the topics (pubsub), then the adapters);
 * - nothing outside lib/adapters/ imports a `node:` module or uses `Deno.*` or `Bun.*` at run time (a
 *   type-only import is fine);
 * - no `.ts` file sits directly in lib/ except those that join layers.
 *
 * The checker runs on the real tree and on a made-up one with one violation of each rule, which it must
 * report: a test that could not fail would prove nothing.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { repoPath } from "./_files.ts";

/** The layers, lowest first; a file may import its own layer, any layer of a lower rank, and its peers. */
const LAYERS: Record<string, number> = {
  "core": 0,
  "deflate": 1,
  "handshake": 1,
  "streams": 2,
  "connection.ts": 2,
  "client": 3,
  "pubsub": 3,
  "backplane": 3,
  "adapters": 4,
};

/** Files directly in lib/ that join layers. */
const JOINING_FILES = new Set(["connection.ts"]);

/**
 * Imports that cross a rule on purpose, each with its reason. `from -> to`, paths relative to lib/.
 */
const ALLOWED_CROSSINGS = new Map<string, string>([
  [
    "client/open_client.ts -> adapters/node_client.ts",
    "a client given no transport loads the node:net one lazily (a dynamic import), so that a bundle for an " +
    "edge runtime, which passes its own transport, never loads node:net",
  ],
]);

interface ImportRecord {
  /** The file, relative to lib/ (posix). */
  from: string;
  /** The specifier as written. */
  specifier: string;
  /** The target relative to lib/, for a relative specifier inside lib/. */
  target: string | undefined;
  /** Whether only types are imported (erased at run time). */
  typeOnly: boolean;
  /** Whether it is a dynamic `import()`. */
  dynamic: boolean;
}

/**
 * Source without comments (strings are kept: a specifier is a string). Regular expression literals are
 * skipped whole (a quote in `/[#$%&'*]/` opens no string), recognised by what precedes a `/` as usual.
 */
function stripComments(source: string): string {
  let out = "";
  for (let i = 0; i < source.length;) {
    const c = source[i], next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end === -1 ? source.length : end + 2;
    } else if (c === "/" && /(^|[(,=:[!&|?{};]|\breturn)\s*$/.test(out.slice(-12))) {
      let j = i + 1, inClass = false;
      while (j < source.length && source[j] !== "\n" && (inClass || source[j] !== "/")) {
        if (source[j] === "\\") j++;
        else if (source[j] === "[") inClass = true;
        else if (source[j] === "]") inClass = false;
        j++;
      }
      out += source.slice(i, j + 1);
      i = j + 1;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === "\\" ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The imports of one file. */
function importsOf(file: string, source: string): ImportRecord[] {
  const code = stripComments(source);
  const records: ImportRecord[] = [];
  const add = (specifier: string, typeOnly: boolean, dynamic: boolean) => {
    let target: string | undefined;
    if (specifier.startsWith(".")) target = posix.normalize(posix.join(posix.dirname(file), specifier));
    records.push({ from: file, specifier, target, typeOnly, dynamic });
  };
  const statics = /\b(import|export)\s+(type\s+)?([\s\S]*?)\s*from\s*["']([^"']+)["']/g;
  for (const match of code.matchAll(statics)) {
    const clause = match[3];
    // `import { type A, type B } from` imports only types too.
    const names = /^\{([\s\S]*)\}$/.exec(clause.trim())?.[1].split(",").map((n) => n.trim()).filter(Boolean);
    const allTypes = names !== undefined && names.length > 0 && names.every((n) => n.startsWith("type "));
    add(match[4], match[2] !== undefined || allTypes, false);
  }
  for (const match of code.matchAll(/\bimport\s*["']([^"']+)["']/g)) add(match[1], false, false);
  for (const match of code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) add(match[1], false, true);
  return records;
}

/** The layer of a file relative to lib/: its folder, or its name for a file directly in lib/. */
function layerOf(file: string): string {
  return file.includes("/") ? file.slice(0, file.indexOf("/")) : file;
}

/**
 * Checks the rules on a set of files (paths relative to lib/, posix) and their sources.
 *
 * @returns One line per violation.
 */
function checkLayering(files: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, source] of files) {
    const layer = layerOf(file);
    if (!file.includes("/") && !JOINING_FILES.has(file)) problems.push(`${file}: a file directly in lib/ that joins no layers`);
    if (LAYERS[layer] === undefined) problems.push(`${file}: in no known layer (${layer})`);
    const code = stripComments(source);
    if (layer !== "adapters") {
      // Run-time use of a runtime's namespace (`Deno.Conn` as a type is only allowed in adapters too).
      for (const match of code.matchAll(/(?<![\w.$"'])(Deno|Bun)\s*\.\s*\w+/g)) {
        problems.push(`${file}: uses ${match[0]} outside lib/adapters/`);
      }
    }
    for (const record of importsOf(file, source)) {
      const crossing = `${file} -> ${record.target ?? record.specifier}`;
      if (ALLOWED_CROSSINGS.has(crossing)) continue;
      if (record.specifier.startsWith("node:")) {
        if (layer !== "adapters" && !record.typeOnly) problems.push(`${file}: imports ${record.specifier} at run time`);
        continue;
      }
      if (record.target === undefined) continue; // an npm package
      if (record.target.startsWith("..")) {
        problems.push(`${file}: imports ${record.specifier}, outside lib/`);
        continue;
      }
      const targetLayer = layerOf(record.target);
      if (layer === "core" && targetLayer !== "core") problems.push(`${file}: the core imports ${record.target}`);
      if ((layer === "deflate" || layer === "handshake") && !["core", "deflate", "handshake"].includes(targetLayer)) {
        problems.push(`${file}: ${layer} imports ${record.target}`);
      }
      if (LAYERS[targetLayer] !== undefined && LAYERS[layer] !== undefined && LAYERS[targetLayer] > LAYERS[layer]) {
        problems.push(`${file}: imports ${record.target}, from a layer above (${targetLayer} over ${layer})`);
      }
    }
  }
  return problems;
}

function readTree(root: string, prefix = ""): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync(join(root, prefix))) {
    const path = prefix === "" ? name : `${prefix}/${name}`;
    if (statSync(join(root, path)).isDirectory()) {
      for (const [file, source] of readTree(root, path)) files.set(file, source);
    } else if (name.endsWith(".ts")) {
      files.set(path, readFileSync(join(root, path), "utf8"));
    }
  }
  return files;
}

const LIB = repoPath("lib/");

describe("layering of lib/ (README, Layers)", () => {
  test("lib/ holds one folder per layer and at most the files that join them", () => {
    const entries = readdirSync(LIB);
    const folders = entries.filter((name) => statSync(join(LIB, name)).isDirectory()).sort();
    assert.deepEqual(folders, ["adapters", "backplane", "client", "core", "deflate", "handshake", "pubsub", "streams"]);
    const files = entries.filter((name) => name.endsWith(".ts")).sort();
    assert.deepEqual(files, [...JOINING_FILES].sort());
  });

  test("every import in lib/ follows the layering rules", () => {
    const files = readTree(LIB);
    assert.ok(files.size > 40, `read ${files.size} files`);
    assert.deepEqual(checkLayering(files), []);
  });

  test("every allowed crossing is still used (a stale exception would hide a new one)", () => {
    const files = readTree(LIB);
    for (const crossing of ALLOWED_CROSSINGS.keys()) {
      const [from, to] = crossing.split(" -> ");
      const used = importsOf(from, files.get(from) ?? "").some((record) => record.target === to);
      assert.ok(used, `${crossing} is no longer imported`);
    }
  });

  test("the checker reports each kind of violation (it can fail)", () => {
    const files = new Map<string, string>([
      ["core/a.ts", `import { b } from "../handshake/b.ts";\nexport const a = b;`],
      ["handshake/b.ts", `import { c } from "../client/c.ts";\nexport const b = c;`],
      ["client/c.ts", `import { createHash } from "node:crypto";\nexport const c = createHash;`],
      ["streams/d.ts", `// Deno.listen in a comment is fine\nexport const d = Deno.listen;`],
      ["streams/e.ts", `import { f } from "../adapters/f.ts";\nexport const e = f;`],
      ["adapters/f.ts", `import { createServer } from "node:http";\nexport const f = Bun.serve ?? createServer;`],
      ["client/g.ts", `import type { Socket } from "node:net";\nimport { type A } from "node:tls";\nexport type G = Socket | A;`],
      ["stray.ts", `export const stray = 1;`],
      // A quote inside a regular expression opens no string: the import after it is still seen.
      ["core/h.ts", `const TOKEN = /^[!#$%&'*+]+$/;\nimport { z } from "../streams/z.ts";\nexport const h = [TOKEN, z];`],
    ]);
    const problems = checkLayering(files);
    const expected = [
      "core/a.ts: the core imports handshake/b.ts",
      "core/a.ts: imports handshake/b.ts, from a layer above (handshake over core)",
      "handshake/b.ts: handshake imports client/c.ts",
      "handshake/b.ts: imports client/c.ts, from a layer above (client over handshake)",
      "client/c.ts: imports node:crypto at run time",
      "streams/d.ts: uses Deno.listen outside lib/adapters/",
      "streams/e.ts: imports adapters/f.ts, from a layer above (adapters over streams)",
      "stray.ts: a file directly in lib/ that joins no layers",
      "stray.ts: in no known layer (stray.ts)",
      "core/h.ts: the core imports streams/z.ts",
      "core/h.ts: imports streams/z.ts, from a layer above (streams over core)",
    ];
    assert.deepEqual([...problems].sort(), [...expected].sort());
  });
});
