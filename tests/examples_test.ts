/**
 * The examples run as their doc comments say, on the runtime under test (under Node, compiled into
 * dist-tests/examples/): started on a free port, talked to with our client.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { connectNode } from "../lib/adapters/node_client.ts";
import { modulePath, runtimeArgs } from "./_files.ts";
import { WAIT_MS, withTimeout } from "./_raw_client.ts";

test("examples/echo_server.ts listens on the port it is given and echoes text and binary, compressed", { timeout: 30_000 }, async () => {
  const child = spawn(process.execPath, runtimeArgs(modulePath("examples/echo_server.ts"), ["--port", "0"]), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "", stderr = "";
  child.stderr.on("data", (chunk) => stderr += chunk);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`No "listening" line within 10 s: ${stdout}${stderr}`)), 10_000);
      child.stdout.on("data", (chunk) => {
        stdout += chunk;
        const match = /listening on (ws:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`The example exited with ${code}: ${stderr}`));
      });
    });
    const { connection, extensions } = await connectNode(url);
    assert.match(extensions, /^permessage-deflate/);
    const received: (string | Uint8Array)[] = [];
    const both = new Promise<void>((resolve) => {
      connection.onmessage = (data) => {
        received.push(data);
        if (received.length === 2) resolve();
      };
    });
    await connection.send("hello, example");
    await connection.send(Uint8Array.of(0, 1, 2, 255));
    await withTimeout(both, WAIT_MS, "the two echoes");
    assert.deepEqual(received, ["hello, example", Uint8Array.of(0, 1, 2, 255)]);
    assert.equal((await connection.close(1000)).code, 1000);
  } finally {
    child.kill();
  }
});
