/**
 * The CLI, driven as other tools drive it: `serve` prints a line with ws://H:P when it listens; `connect`
 * sends stdin lines, prints `< ` lines, reports protocol and extensions on stderr, exits 0 at end of input.
 * Under Deno and Bun the source runs (`deno run -A cli.ts`, `bun cli.ts`); under Node, the published
 * build, `node dist/cli.js` (the package's `bin`).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { COMPILED, repoPath, runtimeArgs } from "./_files.ts";

const CLI = repoPath(COMPILED ? "dist/cli.js" : "cli.ts");

function cliArgs(args: string[]): string[] {
  return runtimeArgs(CLI, args);
}

/** Starts `serve` and resolves with its ws:// URL once the listening line appears (bounded). */
function startServe(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, cliArgs(["serve", "--port", "0", ...args]), { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`serve printed no ws:// line within 10 s: ${out}`));
    }, 10_000);
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const match = /ws:\/\/[^\s/]+:\d+/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[0] + "/" });
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

/** Runs `connect` with `input` on stdin; resolves with its exit code, stdout and stderr (bounded). */
function runConnect(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, cliArgs(["connect", ...args]), { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stdout!.on("data", (chunk) => stdout += chunk);
  child.stderr!.on("data", (chunk) => stderr += chunk);
  child.stdin!.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`connect did not exit within 15 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 15_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test("serve + connect: lines echo back as '< ' lines; protocol and extensions on stderr; exit 0", { timeout: 40_000 }, async () => {
  const { child, url } = await startServe(["--protocols", "chat,superchat"]);
  try {
    const result = await runConnect([url + "any/path", "--protocol", "superchat", "--protocol", "chat"], "first line\nsecond line\n");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), ["< first line", "< second line"]);
    assert.match(result.stderr, /protocol: chat/);
    assert.match(result.stderr, /extensions: permessage-deflate/);

    const plain = await runConnect([url, "--no-deflate"], "no compression\n");
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.trim(), "< no compression");
    assert.match(plain.stderr, /extensions: \(none\)/);

    const custom = await runConnect([url, "--deflate", "client_max_window_bits=10; server_no_context_takeover"], "custom\n");
    assert.equal(custom.code, 0, custom.stderr);
    assert.match(custom.stderr, /server_no_context_takeover/);
    assert.match(custom.stderr, /client_max_window_bits=10/);
  } finally {
    child.kill();
  }
});

test("serve --no-deflate declines compression; connect to a closed port fails with exit 1", { timeout: 40_000 }, async () => {
  const { child, url } = await startServe(["--no-deflate"]);
  try {
    const result = await runConnect([url], "hi\n");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /extensions: \(none\)/);
  } finally {
    child.kill();
  }
  const refused = await runConnect(["ws://127.0.0.1:1/"], "");
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /Cannot connect to ws:\/\/127\.0\.0\.1:1\//);
});

test("npm start's command takes its port from PORT (README: `PORT=9000 npm start` picks another port)", { timeout: 20_000 }, async () => {
  const { readFileSync } = await import("node:fs");
  const start: string = JSON.parse(readFileSync(repoPath("package.json"), "utf8")).scripts.start;
  assert.match(start, /cli\.ts serve$/, "the start script leaves the port to PORT (no --port)");
  // A free port: ask the OS, then hand it over through PORT.
  const net = await import("node:net");
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const child = spawn(process.execPath, cliArgs(["serve"]), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PORT: String(port) } });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`serve printed no ws:// line within 10 s: ${out}`)), 10_000);
      child.stdout!.on("data", (chunk) => {
        out += chunk;
        if (/ws:\/\/\S+/.test(out)) {
          clearTimeout(timer);
          resolve(out);
        }
      });
    });
    assert.match(line, new RegExp(`ws://127\\.0\\.0\\.1:${port}/`));
  } finally {
    child.kill();
  }
});
