/**
 * Where the repository's files are, whichever way the suite runs: from the sources (`deno test`,
 * `bun test`: this file is tests/_files.ts) or from the Node build (`node --test`: this file is
 * dist-tests/tests/_files.js, see tsconfig.test.json); and how to run a module in a child process with the
 * runtime under test.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The runtime running the suite. */
export const RUNTIME: "deno" | "bun" | "node" = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";

/** Whether the suite runs from the Node build's JavaScript (dist-tests/) rather than from the sources. */
export const COMPILED: boolean = import.meta.url.endsWith(".js");

/** The repository's root. */
const ROOT = new URL(COMPILED ? "../../" : "../", import.meta.url);
/** The root of what the suite runs: the repository, or dist-tests/ (its compiled mirror). */
const RUN_ROOT = new URL("../", import.meta.url);

/**
 * @param path A path from the repository's root: `README.md`, `tests/peers/x.py`, `.test-results/`.
 * @returns Its absolute file path; under the Node build, still in the repository (data files are not
 * copied into dist-tests/).
 */
export function repoPath(path: string): string {
  return fileURLToPath(new URL(path, ROOT));
}

/**
 * @param path A TypeScript module's path from the repository's root, to run in a child process (`cli.ts`).
 * @returns The source under Deno and Bun; its compiled JavaScript in dist-tests/ under the Node build.
 */
export function modulePath(path: string): string {
  return fileURLToPath(new URL(COMPILED ? path.replace(/\.ts$/, ".js") : path, RUN_ROOT));
}

/**
 * @param file A module to run (see {@linkcode modulePath}).
 * @param args Its arguments.
 * @returns The arguments for `process.execPath`: `run --allow-all file ...` under Deno, `file ...` under Bun
 * and Node.
 */
export function runtimeArgs(file: string, args: readonly string[] = []): string[] {
  return RUNTIME === "deno" ? ["run", "--allow-all", file, ...args] : [file, ...args];
}
