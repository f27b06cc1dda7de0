/**
 * The README's examples are run: each ```ts block that starts a server is extracted, run by the runtime
 * under test on a free port, and talked to with our client. The Worker example (the block that imports
 * `cloudflare:sockets`) is not for Deno or Bun: tests/interop_edge_test.ts runs it in workerd.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import process from "node:process";
import { connectNode } from "../lib/adapters/node_client.ts";
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

function runtimeArgs(file: string): string[] {
  return "Deno" in globalThis ? ["run", "--allow-all", file] : [file];
}

/** A block that starts a server on port 8080 (node:http's listen or serve()'s port option). */
function isServer(block: string): boolean {
  return block.includes(".listen(8080") || block.includes("port: 8080");
}

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);

test("README has a runnable server example", () => {
  assert.ok(blocks.some(isServer), "a ts block that listens on 8080");
});

blocks.forEach((block, index) => {
  if (!isServer(block)) return;
  test(`README example ${index + 1} runs and echoes over a real connection`, async () => {
    const port = await freePort();
    mkdirSync(new URL("../.test-results/", import.meta.url), { recursive: true });
    const file = new URL(`../.test-results/readme_example_${index + 1}.ts`, import.meta.url);
    writeFileSync(
      file,
      block.replaceAll('"./lib/', '"../lib/').replace(".listen(8080", `.listen(${port}`).replace("port: 8080", `port: ${port}`),
    );
    const child = spawn(process.execPath, runtimeArgs(file.pathname), { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => stderr += chunk);
    try {
      // Retry until the example listens (bounded: 50 tries, 100 ms apart).
      let client;
      for (let attempt = 0; client === undefined; attempt++) {
        try {
          client = await connectNode(`ws://127.0.0.1:${port}/`, { protocols: ["chat"], handshakeTimeout: 2000 });
        } catch (error) {
          if (attempt >= 50) throw new Error(`The example never listened: ${(error as Error).message}\n${stderr}`);
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
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

blocks.forEach((block, index) => {
  if (isServer(block) || !block.includes("ws://127.0.0.1:8080/")) return;
  test(`README client example ${index + 1} runs against an echo server and exits cleanly`, { timeout: 30_000 }, async () => {
    const server = await startServer({ upgrade: { protocols: ["chat"] } });
    try {
      mkdirSync(new URL("../.test-results/", import.meta.url), { recursive: true });
      const file = new URL(`../.test-results/readme_example_${index + 1}.ts`, import.meta.url);
      writeFileSync(file, block.replaceAll('"./mod.ts"', '"../mod.ts"').replaceAll("ws://127.0.0.1:8080/", server.url));
      const result = await runFile(file.pathname);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /received: Hello/);
      assert.match(result.stdout, /closed: 1000/);
    } finally {
      await server.close();
    }
  });
});
