/**
 * Lets the shared deflate pool (`deflate/parallel_deflate.ts`) run workers that deflate with the runtime's
 * native `node:zlib` (`node_worker_pool.ts`'s `useNativeDeflateWorkers`), for the adapters that do not
 * already go through `node_socket.ts`. Imported for its effect; no worker starts until a large compressed
 * message is sent. Private to the adapters folder.
 *
 * @module
 */

import { useNativeDeflateWorkers } from "./node_worker_pool.ts";

void useNativeDeflateWorkers();
