/**
 * Interop of large messages deflated on workers (`lib/deflate/parallel_deflate.ts`): our server sends small
 * and large messages interleaved (the large ones in pieces deflated in parallel, joined with sync flushes,
 * the compressor then primed with their tail), for every server window 8..15, with and without context
 * takeover, to Chromium, `ws` and python-websockets. Each peer echoes what it inflated and reports SHA-256
 * digests; the wire tap proves the messages went compressed and the answer carried the parameters. The
 * pool's counter proves the workers did the large ones.
 */

import { describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserContext, chromium } from "playwright-core";
import WsWebSocket from "ws";
import {
  type Availability,
  CHROMIUM_PATH,
  chromiumAvailability,
  interopTest,
  messageSet,
  OUR_SERVER,
  ourServerCase,
  type PeerView,
  pythonAvailability,
  runEchoClient,
  type StartedClient,
  startPython,
  type WebSocketLike,
  withTimeout,
} from "./_interop.ts";
import { closeDeflateWorkers, sharedDeflatePool } from "../lib/deflate/parallel_deflate.ts";
import { useNodeDeflateWorkers } from "../lib/adapters/node_worker_pool.ts";
import type { ServerDeflateOptions } from "../lib/handshake/server_handshake.ts";

/** Small and large, text and binary, interleaved: 0 B..1 MiB. */
const messages = messageSet([20, 1000, 200_000, 125, 1024 * 1024, 65536, 300_000, 0]);
const proves =
  "small and large messages interleaved, the large deflated on workers, intact, compressed on the wire";
/** Every peer here offers the same. */
const OFFER = "permessage-deflate; client_max_window_bits";
const TEST_MS = 90_000;
const STEP_MS = 30_000;

await useNodeDeflateWorkers();

function deflateOptions(windowBits: number, noContextTakeover: boolean): ServerDeflateOptions {
  return {
    threshold: 0,
    serverMaxWindowBits: windowBits,
    serverNoContextTakeover: noContextTakeover,
    parallel: { threshold: 32 * 1024, chunkSize: 64 * 1024, workers: 2 }, // two pieces a message at least
  };
}

/** §7.1.2.1: a server may limit its own window though the client did not ask; §7.1.1.1 likewise. */
function answer(windowBits: number, noContextTakeover: boolean): string {
  return "permessage-deflate" + (windowBits < 15 ? `; server_max_window_bits=${windowBits}` : "") +
    (noContextTakeover ? "; server_no_context_takeover" : "");
}

// ---------------------------------------------------------------------------------------------------------
// The peers (as in interop_chromium_test.ts, interop_ws_test.ts and interop_python_test.ts)

const CHROMIUM_PAGE = `<!doctype html>
<meta charset="utf-8"><title>wsengine interop</title>
<script>
const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
window.result = new Promise((resolve) => {
  const socket = new WebSocket(new URLSearchParams(location.search).get("ws"));
  socket.binaryType = "arraybuffer";
  const received = [];
  let extensions = "";
  socket.onopen = () => extensions = socket.extensions;
  socket.onmessage = async (event) => {
    if (event.data === "__close__") {
      socket.close(1000, "peer done");
      return;
    }
    if (event.data !== "__report__") {
      received.push(event.data);
      socket.send(event.data);
      return;
    }
    const messages = [];
    for (const message of received) {
      const bytes = typeof message === "string" ? new TextEncoder().encode(message) : new Uint8Array(message);
      const type = typeof message === "string" ? "text" : "binary";
      messages.push({ type, length: bytes.length, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)) });
    }
    socket.send(JSON.stringify({ count: messages.length, messages }));
  };
  socket.onclose = (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean, extensions });
});
</script>
`;

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"];

async function startChromium(url: string, serverPort: number): Promise<StartedClient> {
  const profile = mkdtempSync(join(tmpdir(), "wsengine-chromium-"));
  const stop = async (context?: BrowserContext) => {
    try {
      if (context !== undefined) await withTimeout(context.close(), 10_000, "Chromium to close");
    } catch {
      killByProfile(profile);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  };
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: STEP_MS,
    });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${serverPort}/?ws=${encodeURIComponent(url)}`, { timeout: STEP_MS });
    const view = page.evaluate(() => (globalThis as unknown as { result: Promise<PeerView> }).result);
    view.catch(() => {}); // awaited by the case; closing the browser early must not leave it unhandled
    return { view, stop: () => stop(context) };
  } catch (error) {
    await stop(context);
    throw error;
  }
}

/** When Chromium does not close: kills, by process id, the processes started with our own profile. */
function killByProfile(profile: string): void {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(`--user-data-dir=${profile}`)) {
        process.kill(Number(pid), "SIGKILL");
      }
    } catch {
      // Gone already, or not ours to read.
    }
  }
}

function startWsClient(url: string): Promise<StartedClient> {
  const socket = new WsWebSocket(url, { perMessageDeflate: { threshold: 0 }, maxPayload: 16 * 1024 * 1024 });
  socket.on("error", () => {}); // the close event says what happened
  let extensions = "";
  socket.on("upgrade", (response: { headers: Record<string, string | undefined> }) => {
    extensions = response.headers["sec-websocket-extensions"] ?? "";
  });
  const view = runEchoClient(socket as WebSocketLike, () => extensions);
  return Promise.resolve({ view, stop: () => Promise.resolve(socket.terminate()) });
}

function startPythonClient(url: string): Promise<StartedClient> {
  const peer = startPython("python_echo_client.py", [url]);
  const view = (async (): Promise<PeerView> => {
    const open = await peer.next("open");
    const closed = await peer.next("closed");
    return {
      code: closed.code as number,
      reason: closed.reason as string,
      extensions: (open.extensions as string | null) ?? "",
    };
  })();
  view.catch(() => {}); // awaited by the case; an early failure must not be unhandled
  return Promise.resolve({ view, stop: () => peer.stop() });
}

interface Peer {
  name: string;
  availability: Availability;
  start: (url: string, serverPort: number) => Promise<StartedClient>;
  page?: string;
}

const PEERS: Peer[] = [
  { name: "Chromium", availability: chromiumAvailability(), start: startChromium, page: CHROMIUM_PAGE },
  { name: "ws", availability: { available: true }, start: startWsClient },
  { name: "python-websockets", availability: pythonAvailability(), start: startPythonClient },
];

describe("interop: large messages deflated on workers", { concurrency: false }, () => {
  for (const peer of PEERS) {
    for (let windowBits = 8; windowBits <= 15; windowBits++) {
      for (const noContextTakeover of [false, true]) {
        const compression = `on (parallel deflate; server_max_window_bits=${windowBits}${
          noContextTakeover ? "; server_no_context_takeover" : ""
        })`;
        interopTest(
          {
            peer: peer.name,
            direction: OUR_SERVER,
            compression,
            proves,
            availability: peer.availability,
            timeout: TEST_MS,
          },
          async () => {
            const pool = sharedDeflatePool(2);
            assert.ok(pool !== undefined, "workers run here");
            const before = pool.completed;
            try {
              await ourServerCase({
                deflate: deflateOptions(windowBits, noContextTakeover),
                messages,
                page: peer.page,
                ms: STEP_MS,
                startPeer: peer.start,
                expect: {
                  offer: OFFER,
                  answer: answer(windowBits, noContextTakeover),
                  weCompress: true,
                  peerCompresses: true,
                },
              });
              // 64 KiB, 200 KB, 1 MiB and 300 KB, text and binary, each in two pieces (one per worker), the
              // binary 64 KiB in one.
              assert.ok(
                pool.completed - before >= 15,
                `pieces deflated on workers: ${pool.completed - before}`,
              );
            } finally {
              closeDeflateWorkers();
            }
          },
        );
      }
    }
  }
});
