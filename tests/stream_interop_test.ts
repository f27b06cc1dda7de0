/**
 * The stream examples (examples/stream_client.ts, examples/stream_server.ts: the public TransformStreams
 * plus the handshake functions over node:net) against real peers with permessage-deflate negotiated both
 * ways: Chromium (client), `ws` (client and server) and our own `Connection` (client and server).
 *
 * Every window size 8..15 with and without context takeover against each peer, for both ends (our
 * `server_max_window_bits` and `client_max_window_bits` are the same number, and both `no_context_takeover`
 * parameters go together). Message sizes are not crossed with all 16: window 15 without context takeover
 * gets every size (text and binary, 0 B to 4 MiB) whole and in 16 KiB fragments, window 15 with context
 * takeover every size in 16 KiB fragments; the other windows get 20 B, 1000 B and 64 KiB, fragmented on
 * odd windows. Each exchange checks: the
 * parameters the handshake agreed; every message back intact and in order; RSV1 seen on frames both ways
 * (compression used, not only negotiated); a message written with `compress: false` accepted; close 1000,
 * clean.
 */

import { after, describe } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WsWebSocket from "ws";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import type { Frame } from "../lib/core/frame.ts";
import { parseExtensions } from "../lib/handshake/extension_header.ts";
import type { OutgoingMessage } from "../lib/streams/message_fragmenter_stream.ts";
import { openClient } from "../lib/client/open_client.ts";
import { connectStreamClient } from "../examples/stream_client.ts";
import { serveStreams } from "../examples/stream_server.ts";
import type { StreamSession } from "../examples/stream_session.ts";
import {
  binaryMessage,
  CHROMIUM_PATH,
  chromiumAvailability,
  interopTest,
  OUR_CLIENT,
  OUR_SERVER,
  startOurServer,
  textMessage,
  withTimeout,
} from "./_interop.ts";
import { startWsPeerServer } from "./_ws_peer.ts";

const FULL_SIZES = [0, 20, 125, 1000, 65536, 4 * 1024 * 1024];
const FEW_SIZES = [20, 1000, 65536];
const FRAGMENT = 16 * 1024;
const MAX_PAYLOAD = 16 * 1024 * 1024;

interface Combo {
  bits: number;
  noContextTakeover: boolean;
  /** The exchanges on one connection: the message set, and the fragment size our end sends with. */
  sizes: number[];
  fragmentSizes: number[];
}

const COMBOS: Combo[] = [];
for (let bits = 8; bits <= 15; bits++) {
  for (const noContextTakeover of [true, false]) {
    COMBOS.push(
      bits === 15
        ? { bits, noContextTakeover, sizes: FULL_SIZES, fragmentSizes: noContextTakeover ? [Infinity, FRAGMENT] : [FRAGMENT] }
        : { bits, noContextTakeover, sizes: FEW_SIZES, fragmentSizes: [bits % 2 === 1 ? 1000 : Infinity] },
    );
  }
}

function label(combo: Combo): string {
  return `window ${combo.bits}, ${combo.noContextTakeover ? "no context takeover" : "context takeover"}`;
}

function messagesFor(combo: Combo): (string | Uint8Array)[] {
  const out: (string | Uint8Array)[] = [];
  combo.sizes.forEach((size, i) => out.push(textMessage(size, 2 * i + combo.bits), binaryMessage(size, 2 * i + 1)));
  return out;
}

/** What both ends must have agreed for `combo` (all four parameters). */
function expectedParameters(combo: Combo): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  if (combo.noContextTakeover) out.server_no_context_takeover = out.client_no_context_takeover = true;
  out.server_max_window_bits = String(combo.bits);
  out.client_max_window_bits = String(combo.bits);
  return out;
}

/** The parameters of a `Sec-WebSocket-Extensions` answer, window bits defaulted to 15 (RFC 7692 §7.1.2). */
function agreedParameters(header: string): Record<string, string | true> {
  const [deflate, ...others] = parseExtensions(header);
  assert.equal(others.length, 0, `one extension in ${header}`);
  assert.equal(deflate?.name, "permessage-deflate", `permessage-deflate negotiated: "${header}"`);
  const out: Record<string, string | true> = {};
  for (const [name, value] of deflate.params) out[name.toLowerCase()] = value === undefined || value === null ? true : String(value);
  out.server_max_window_bits ??= "15";
  if (out.client_max_window_bits === undefined || out.client_max_window_bits === true) out.client_max_window_bits = "15";
  return out;
}

function sameMessage(a: string | Uint8Array | undefined, b: string | Uint8Array): boolean {
  if (typeof b === "string") return a === b;
  if (!(a instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describeMessage(m: string | Uint8Array | undefined): string {
  return m === undefined ? "nothing" : `${typeof m === "string" ? "text" : "binary"} of ${m.length}`;
}

/** Counts data frames with RSV1 set each way (the sessions' frame tap). */
class Rsv1Counter {
  in = 0;
  out = 0;
  readonly onFrame = (frame: Frame, direction: "in" | "out") => {
    if (frame.rsv1) this[direction]++;
  };
}

/**
 * Our end drives: writes every message (the 1000 B text one as `{ compress: false }`), reads each echo
 * while writing, compares, then closes with 1000 and reads to the end.
 */
async function drive(session: StreamSession, messages: (string | Uint8Array)[], what: string): Promise<void> {
  const writer = session.writable.getWriter();
  const reader = session.readable.getReader();
  const writing = (async () => {
    for (const message of messages) {
      const chunk: string | Uint8Array | OutgoingMessage = typeof message === "string" && message.length === 1000
        ? { data: message, compress: false }
        : message;
      await writer.write(chunk);
    }
  })();
  for (let i = 0; i < messages.length; i++) {
    const { value, done } = await withTimeout(reader.read(), 30_000, `echo ${i} (${what})`);
    assert.ok(!done, `${what}: the stream ended after ${i} of ${messages.length} echoes`);
    assert.ok(sameMessage(value, messages[i]), `${what}: echo ${i} is ${describeMessage(value)}, sent ${describeMessage(messages[i])}`);
  }
  await writing;
  writer.releaseLock();
  reader.releaseLock();
}

async function closeAndDrain(session: StreamSession, what: string): Promise<void> {
  const closing = session.close(1000, "done");
  for await (const _ of session.readable) { /* nothing more is expected */ }
  const close = await withTimeout(closing, 15_000, `the close (${what})`);
  assert.deepEqual({ code: close.code, wasClean: close.wasClean }, { code: 1000, wasClean: true }, what);
}

function assertCompressedBothWays(counter: Rsv1Counter, what: string): void {
  assert.ok(counter.out > 0, `${what}: no frame we sent had RSV1`);
  assert.ok(counter.in > 0, `${what}: no frame the peer sent had RSV1`);
}

// Our offer as a client, and our server's configuration: the same four parameters.
function deflateOptions(combo: Combo) {
  return {
    serverMaxWindowBits: combo.bits,
    clientMaxWindowBits: combo.bits,
    serverNoContextTakeover: combo.noContextTakeover,
    clientNoContextTakeover: combo.noContextTakeover,
  };
}

/** Our stream client against an echo server at `url`, every exchange of `combo` on one connection. */
async function clientRun(url: string, combo: Combo, what: string): Promise<void> {
  const counter = new Rsv1Counter();
  for (const [index, fragmentSize] of combo.fragmentSizes.entries()) {
    const client = await connectStreamClient(url, { deflate: deflateOptions(combo), fragmentSize, onFrame: counter.onFrame, maxMessageSize: MAX_PAYLOAD });
    try {
      assert.deepEqual(agreedParameters(client.extensions), expectedParameters(combo), `${what}: ${client.extensions}`);
      await drive(client, messagesFor(combo), `${what}, fragments ${fragmentSize}, connection ${index + 1}`);
      await closeAndDrain(client, what);
    } finally {
      await client.close(1000).catch(() => {});
    }
  }
  assertCompressedBothWays(counter, what);
}

/**
 * Our stream server, driving each connection a peer client opens: `connectPeer(url)` opens one and
 * resolves when the peer's side has closed, with the extensions it saw.
 */
async function serverRun(
  combo: Combo,
  what: string,
  connectPeer: (url: string) => Promise<{ code: number; extensions?: string }>,
): Promise<void> {
  const counter = new Rsv1Counter();
  for (const fragmentSize of combo.fragmentSizes) {
    const results: Promise<void>[] = [];
    const server = await serveStreams({
      port: 0,
      deflate: deflateOptions(combo),
      fragmentSize,
      maxMessageSize: MAX_PAYLOAD,
      onFrame: counter.onFrame,
      onSession(session, upgrade) {
        results.push((async () => {
          assert.deepEqual(agreedParameters(upgrade.extensions), expectedParameters(combo), `${what}: ${upgrade.extensions}`);
          await drive(session, messagesFor(combo), `${what}, fragments ${fragmentSize}`);
          await closeAndDrain(session, what);
        })());
      },
    });
    try {
      const peer = await withTimeout(connectPeer(`ws://127.0.0.1:${server.port}/`), 60_000, `the peer (${what})`);
      assert.equal(results.length, 1, `${what}: one connection`);
      await results[0];
      assert.equal(peer.code, 1000, `${what}: the peer's close code`);
      if (peer.extensions !== undefined) assert.deepEqual(agreedParameters(peer.extensions), expectedParameters(combo));
    } finally {
      await server.close();
    }
  }
  assertCompressedBothWays(counter, what);
}

const PROVES = "negotiated as asked, every message back intact, RSV1 both ways, close 1000";

function comboCases(direction: typeof OUR_SERVER | typeof OUR_CLIENT, peer: string, run: (combo: Combo, what: string) => Promise<void>) {
  for (const combo of COMBOS) {
    const what = `${peer}, ${label(combo)}`;
    const sizes = `${combo.sizes.join("/")} B${combo.fragmentSizes.some((f) => f !== Infinity) ? ", fragmented" : ""}`;
    interopTest(
      { peer: `${peer} (streams)`, direction, compression: `${label(combo)}; ${sizes}`, proves: PROVES, timeout: 60_000 },
      () => run(combo, what),
    );
  }
}

describe("stream examples ↔ ws", () => {
  comboCases(OUR_CLIENT, "ws", async (combo, what) => {
    const server = await startWsPeerServer({ perMessageDeflate: { threshold: 0 }, maxPayload: MAX_PAYLOAD }, () => (message) => message);
    try {
      await clientRun(`ws://127.0.0.1:${server.port}/`, combo, what);
    } finally {
      await server.stop();
    }
  });

  comboCases(OUR_SERVER, "ws", (combo, what) =>
    serverRun(combo, what, (url) =>
      new Promise((resolve, reject) => {
        const socket = new WsWebSocket(url, { perMessageDeflate: { threshold: 0, ...deflateOptions(combo) }, maxPayload: MAX_PAYLOAD });
        socket.on("message", (data: Uint8Array, isBinary: boolean) => socket.send(isBinary ? data : new TextDecoder().decode(data)));
        socket.on("error", reject);
        // ws's `extensions` names the extensions only: the parameters are checked on our side.
        socket.on("close", (code: number) => resolve({ code }));
      })));
});

describe("stream examples ↔ our Connection", () => {
  comboCases(OUR_CLIENT, "Connection", async (combo, what) => {
    const server = await startOurServer({ deflate: deflateOptions(combo), maxMessageSize: MAX_PAYLOAD });
    // One connection per exchange of the combo, each echoed.
    const echo = (async () => {
      for (let i = 0; i < combo.fragmentSizes.length; i++) {
        const { connection } = await server.nextUpgrade(60_000);
        connection.onmessage = (data) => void connection.send(data).catch(() => {});
      }
    })();
    echo.catch(() => {}); // a missing upgrade fails clientRun first
    try {
      await clientRun(`ws://127.0.0.1:${server.port}/`, combo, what);
      await echo;
    } finally {
      for (const connection of server.connections) connection.close(1001);
      await server.close();
    }
  });

  comboCases(OUR_SERVER, "Connection", (combo, what) =>
    serverRun(combo, what, async (url) => {
      const { connection, extensions } = await openClient(new URL(url), { deflate: deflateOptions(combo), maxMessageSize: MAX_PAYLOAD });
      connection.onmessage = (data) => void connection.send(data).catch(() => {});
      const closed = await connection.closed;
      return { code: closed.code, extensions };
    }));
});

// ---------------------------------------------------------------------------------------------------------
// Chromium: a client only. It offers `permessage-deflate; client_max_window_bits`; our stream server picks
// the window sizes and requires or grants no context takeover.

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>wsengine stream interop</title>
<script>
window.run = (url) => new Promise((resolve) => {
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  let extensions = "";
  socket.onopen = () => extensions = socket.extensions;
  socket.onmessage = (event) => socket.send(event.data);
  socket.onclose = (event) => resolve({ code: event.code, wasClean: event.wasClean, extensions });
});
</script>
`;

const chromiumState: { page?: Promise<{ page: Page; context: BrowserContext; profile: string; http: ReturnType<typeof createHttpServer> }> } = {};

function chromiumPage(): Promise<Page> {
  chromiumState.page ??= (async () => {
    const http = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const profile = mkdtempSync(join(tmpdir(), "wsengine-chromium-streams-"));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      timeout: 30_000,
    });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`, { timeout: 30_000 });
    return { page, context, profile, http };
  })();
  return chromiumState.page.then((state) => state.page);
}

describe("stream examples ↔ Chromium", () => {
  after(async () => {
    const started = await chromiumState.page?.catch(() => undefined);
    if (started === undefined) return;
    await withTimeout(started.context.close(), 15_000, "Chromium to close").catch(() => {});
    rmSync(started.profile, { recursive: true, force: true });
    await new Promise<void>((resolve) => started.http.close(() => resolve()));
  });

  const availability = chromiumAvailability();
  for (const combo of COMBOS) {
    const what = `Chromium, ${label(combo)}`;
    const sizes = `${combo.sizes.join("/")} B${combo.fragmentSizes.some((f) => f !== Infinity) ? ", fragmented" : ""}`;
    interopTest(
      { peer: "Chromium (streams)", direction: OUR_SERVER, compression: `${label(combo)}; ${sizes}`, proves: PROVES, availability, timeout: 90_000 },
      async () => {
        const page = await chromiumPage();
        await serverRun(combo, what, (url) =>
          page.evaluate((target) => (globalThis as unknown as { run(url: string): Promise<{ code: number; extensions: string }> }).run(target), url));
      },
    );
  }
});
