/**
 * Interop with a real browser: Debian's Chromium, headless, driven by playwright-core (which downloads no
 * browser: it launches /usr/bin/chromium). A page served by our node:http server opens a WebSocket to our
 * server (through the tapping proxy), echoes what it gets, reports SHA-256 digests and closes with 1000.
 * Chromium always offers `permessage-deflate; client_max_window_bits`, so "off" is our server declining.
 * Each test launches its own browser with a fresh profile, and closes it (or kills it) in a finally.
 *
 * playwright-core drives Chromium under both deno test and bun test (its pipe transport works in both), so
 * these run on both runtimes.
 */

import { describe } from "node:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserContext, chromium } from "playwright-core";
import {
  BASE_SIZES,
  CHROMIUM_PATH,
  chromiumAvailability,
  interopTest,
  messageSet,
  OUR_SERVER,
  ourServerCase,
  type PeerView,
  type StartedClient,
  variantLabel,
  VARIANTS,
  withTimeout,
} from "./_interop.ts";
import type { ServerDeflateOptions } from "../lib/handshake/server_handshake.ts";

const PEER = "Chromium";
const availability = chromiumAvailability();
const messages = messageSet([...BASE_SIZES, 4 * 1024 * 1024]);
const proves =
  "text and binary of 0 B..4 MiB intact both ways, negotiated as expected and used on the wire, close 1000";
const CHROMIUM_OFFER = "permessage-deflate; client_max_window_bits";
/** Launch, 16 MiB of messages each way through the proxy, and the close, with room on a slow machine. */
const TEST_MS = 90_000;
const STEP_MS = 30_000;

/** The page: the peer's side of the exchange in the browser's own WebSocket. */
const PAGE = `<!doctype html>
<meta charset="utf-8"><title>wsengine interop</title>
<script>
const REPORT_REQUEST = "__report__";
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
    if (event.data !== REPORT_REQUEST) {
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

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches Chromium with a fresh profile (a new temporary user-data-dir) and opens the page. */
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
      args: ARGS,
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

/**
 * The fallback when Chromium does not close: kills, by process id, the processes started with our own
 * user-data-dir (playwright gives no process handle for a persistent context).
 */
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

interface Config {
  compression: string;
  deflate: false | ServerDeflateOptions;
  answer: string | null;
}

const CONFIGS: Config[] = [
  { compression: "off", deflate: false, answer: null },
  { compression: "on (default)", deflate: { threshold: 0 }, answer: "permessage-deflate" },
  {
    compression: "on (server_max_window_bits=9, client_max_window_bits=10)",
    deflate: { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
    answer: "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
  },
  {
    // The smallest windows: zlib cannot deflate raw with 8 bits and runs 9 (its farthest distance, 250
    // bytes, still fits an 8-bit window); the inflaters must accept that.
    compression: "on (server_max_window_bits=8, client_max_window_bits=8)",
    deflate: { threshold: 0, serverMaxWindowBits: 8, clientMaxWindowBits: 8 },
    answer: "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
  },
  {
    compression: "on (server_no_context_takeover, client_no_context_takeover)",
    deflate: { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
    answer: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  },
];

describe("interop with Chromium", () => {
  for (const config of CONFIGS) {
    const on = config.deflate !== false;
    interopTest({
      peer: PEER,
      direction: OUR_SERVER,
      compression: config.compression,
      proves,
      availability,
      timeout: TEST_MS,
    }, () =>
      ourServerCase({
        deflate: config.deflate,
        messages,
        page: PAGE,
        ms: STEP_MS,
        startPeer: startChromium,
        expect: { offer: CHROMIUM_OFFER, answer: config.answer, weCompress: on, peerCompresses: on },
      }));
  }
  for (const variant of VARIANTS) {
    interopTest({
      peer: PEER,
      direction: OUR_SERVER,
      compression: variantLabel("on (default)", variant),
      proves,
      availability,
      timeout: TEST_MS,
    }, () =>
      ourServerCase({
        deflate: { threshold: 0 },
        messages,
        page: PAGE,
        ms: STEP_MS,
        startPeer: startChromium,
        expect: {
          offer: CHROMIUM_OFFER,
          answer: "permessage-deflate",
          weCompress: true,
          peerCompresses: true,
          sending: variant.sending,
          serverCloses: variant.serverCloses,
        },
      }));
  }
});
