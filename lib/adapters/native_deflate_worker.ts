/**
 * The Web Worker (Deno, Bun) that deflates pieces of large messages for `deflate/parallel_deflate.ts` with
 * the runtime's native `node:zlib` (see `native_deflate.ts`), zlib in WebAssembly for what it leaves. The
 * pool uses it once `node_worker_pool.ts`'s `useNativeDeflateWorkers` has run; else the pool runs
 * `deflate/parallel_deflate_worker.ts` (WebAssembly only).
 *
 * @module
 */

import "./native_deflate.ts";
import "./native_inflate.ts";
import "../deflate/parallel_deflate_worker.ts";
