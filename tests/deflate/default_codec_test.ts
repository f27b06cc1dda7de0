/**
 * The default codec's choice: zlib in WebAssembly where it can be compiled, at once and synchronously;
 * elsewhere pako, loaded with a dynamic `import()` by the handshake that negotiates permessage-deflate (so
 * that a bundle of the client puts pako in a chunk of its own). The second case runs in a child process of
 * the runtime under test where `new WebAssembly.Module()` throws, as on Cloudflare's workerd (where
 * tests/interop_edge_test.ts runs the real thing).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import {
  defaultCodec,
  defaultCodecReady,
  loadDefaultCodec,
  zlibWasmCodec,
} from "../../lib/deflate/zlib_wasm_codec.ts";
import { modulePath, runtimeArgs } from "../_files.ts";

describe("defaultCodec", () => {
  test("where WebAssembly can be compiled: zlib's, with nothing to wait for (defaultCodecReady() is undefined)", async () => {
    assert.equal(defaultCodecReady(), undefined);
    assert.equal(defaultCodec.name, zlibWasmCodec.name);
    assert.equal(await loadDefaultCodec(), zlibWasmCodec);
  });

  test(
    "where WebAssembly cannot be compiled: pako, loaded by the handshake that negotiates permessage-deflate",
    { timeout: 30_000 },
    async () => {
      const child = spawn(process.execPath, runtimeArgs(modulePath("tests/deflate/_no_webassembly.ts")), {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "", stderr = "";
      child.stdout.on("data", (chunk) => stdout += chunk);
      child.stderr.on("data", (chunk) => stderr += chunk);
      const timer = setTimeout(() => child.kill(), 25_000);
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      clearTimeout(timer);
      assert.equal(code, 0, stderr);
      assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), {
        wasm: false,
        name: "pako",
        before:
          "Cannot use permessage-deflate yet: WebAssembly cannot be compiled here and the pako fallback is not loaded (await loadDefaultCodec() first)",
        extensions: "permessage-deflate",
        hello: "f2 48 cd c9 c9 07 00",
        after: "pako",
      });
    },
  );
});
