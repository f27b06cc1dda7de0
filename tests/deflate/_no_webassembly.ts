/**
 * Run in a child process by default_codec_test.ts: a runtime where WebAssembly cannot be compiled at run
 * time, as on Cloudflare's workerd, where `new WebAssembly.Module(bytes)` throws "Wasm code generation
 * disallowed by embedder" (made so before the library is loaded; `WebAssembly` itself stays, as Node's own
 * fetch compiles its HTTP parser with it). Prints one JSON line: what the default codec did before and
 * after a server handshake negotiated permessage-deflate.
 *
 * @module
 */

Object.defineProperty(WebAssembly, "Module", {
  value: function Module(): never {
    throw new WebAssembly.CompileError("Wasm code generation disallowed by embedder");
  },
  configurable: true,
  writable: true,
});

const { defaultCodec, zlibWasmAvailable } = await import("../../lib/deflate/zlib_wasm_codec.ts");
const { serverHandshake } = await import("../../lib/handshake/server_handshake.ts");

const report: Record<string, unknown> = { wasm: zlibWasmAvailable(), name: defaultCodec.name };
try {
  defaultCodec.createCompressor({ windowBits: 15, level: 6, memLevel: 8 });
  report.before = "created";
} catch (error) {
  report.before = (error as Error).message;
}
const request = new Request("http://127.0.0.1/", {
  headers: {
    host: "127.0.0.1",
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    "sec-websocket-extensions": "permessage-deflate",
  },
});
const handshake = await serverHandshake(request, { deflate: { threshold: 0 } });
if (!handshake.ok) throw new Error(`the handshake was refused: ${handshake.reason}`);
report.extensions = handshake.extensions;
const [deflate] = handshake.negotiated;
// RFC 7692 §7.2.3.1: "Hello" compresses to f2 48 cd c9 c9 07 00.
const frame = deflate.encode({
  fin: true,
  rsv1: false,
  rsv2: false,
  rsv3: false,
  opcode: 1,
  payload: new TextEncoder().encode("Hello"),
});
report.hello = [...frame.payload].map((byte) => byte.toString(16).padStart(2, "0")).join(" ");
report.after = defaultCodec.name;
console.log(JSON.stringify(report));
