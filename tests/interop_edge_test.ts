/**
 * Our client on an edge runtime: workerd (Cloudflare's open-source Workers runtime, the npm package this
 * project pins) runs examples/cloudflare_worker.ts, bundled at test time with `deno bundle`. Its `node:`
 * modules are switched off (`no_nodejs_compat`, `no_nodejs_compat_v2`), so the bundle must load and run
 * without them, and its network reaches loopback addresses only.
 *
 * For each client API (connectTransport's Connection; WebSocketStream and WebSocket with the `transport`
 * option) and each server (ours, from `serve()`; `ws` from npm), the test fetches the Worker's URL; the
 * Worker connects over `connect()` from `cloudflare:sockets` through a tapping proxy, offers
 * permessage-deflate, sends text and binary messages of 0 B to 1 MiB, reads the echoes, asks for the
 * server's report and closes with 1000, then answers with a JSON report. Checked: the digests of what the
 * Worker sent, of what came back and of what the server received (as the server reports it and as the test
 * recorded it in-process), all against the test's own; permessage-deflate negotiated and used both ways on
 * the wire (RSV1 on every message of 1000 bytes or more, compressible text smaller than its payload); and
 * the close: 1000 with the Worker's reason, 1000 back, the server closing TCP first.
 *
 * Also run there: the README's Worker example. The matrix rows have the peer "workerd client
 * (cloudflare:sockets)" and the server in the direction; deno and bun only host the servers and the proxy.
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWsPeerServer } from "./_ws_peer.ts";
import { serve } from "../lib/adapters/serve.ts";
import { BUNDLE_MS, fetchWorker, probeWorkerd, ROOT, startWorkerd, type Workerd } from "./_workerd.ts";
import {
  assertWire,
  BASE_SIZES,
  canonicalExtensions,
  digest,
  interopTest,
  type MessageDigest,
  messageSet,
  OUR_REASON,
  REPORT_REQUEST,
  REQUIRE_PEERS,
  startTapProxy,
  STEP_MS,
  webSocketSession,
  withTimeout,
} from "./_interop.ts";

const PEER = "workerd client (cloudflare:sockets)";
const SIZES = [...BASE_SIZES, 1024 * 1024];
const messages = messageSet(SIZES);
const proves =
  "text and binary of 0 B..1 MiB intact both ways, permessage-deflate negotiated and used on the wire, close 1000";
const OUR_OFFER = "permessage-deflate; client_max_window_bits";
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Bound for a whole test: bundling and starting workerd may fall to the first one. */
const TEST_MS = BUNDLE_MS + 60_000;

// ---------------------------------------------------------------------------------------------------------
// workerd (tests/_workerd.ts: bundled with `deno bundle`, one Worker on a free loopback port, `node:` modules
// off, `connect()` allowed to loopback only)

const availability = probeWorkerd();

// The example Worker's workerd, shared by the cases and started by the first (so a failure to bundle or
// to start is that test's failure, with the reason, recorded in its matrix row).
let exampleWorkerd: Promise<Workerd> | undefined;

function getExampleWorkerd(): Promise<Workerd> {
  return exampleWorkerd ??= startWorkerd(join(ROOT, "examples/cloudflare_worker.ts"));
}

after(async () => {
  await (await exampleWorkerd?.catch(() => undefined))?.stop();
});

/** Where the README's Worker connects; the test points it at its own server. */
const README_URL = "ws://echo.example.com/";
/** What the README's Worker sends. */
const README_MESSAGE = "Hello from a Worker";

/** The README's ```ts block that imports `cloudflare:sockets`. */
function readmeWorker(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);
  const workers = blocks.filter((block) => block.includes(`from "cloudflare:sockets"`));
  assert.equal(workers.length, 1, "README ts blocks that import cloudflare:sockets");
  assert.ok(workers[0].includes(README_URL), `the README's Worker connects to ${README_URL}`);
  assert.ok(
    workers[0].includes(JSON.stringify(README_MESSAGE)),
    `the README's Worker sends ${README_MESSAGE}`,
  );
  return workers[0];
}

// ---------------------------------------------------------------------------------------------------------
// The servers, in this process

/** A server that echoes, answers `__report__`, and records what it received and how the close came. */
interface EchoServer {
  url: string;
  port: number;
  /** Digests of the messages received (the report request excluded), as this process computed them. */
  received: MessageDigest[];
  /** The close code and reason received. */
  closeSeen: Promise<{ code: number; reason: string }>;
  /** What the server answered in `Sec-WebSocket-Extensions`. */
  extensions(): string | undefined;
  stop(): Promise<void>;
}

/**
 * The interop peers' answers (EchoRecorder's): the message back, or for `__report__` the digests of what
 * came before it; the digests go to a list the test reads too.
 */
function echoReply(received: MessageDigest[], message: string | Uint8Array): string | Uint8Array {
  if (message === REPORT_REQUEST) return JSON.stringify({ count: received.length, messages: received });
  received.push(digest(message));
  return message;
}

/** Our `serve()`, permessage-deflate on for every message size. */
async function startOurServer(): Promise<EchoServer> {
  const received: MessageDigest[] = [];
  let extensions: string | undefined;
  let seen!: (close: { code: number; reason: string }) => void;
  const closeSeen = new Promise<{ code: number; reason: string }>((resolve) => seen = resolve);
  const server = await serve({
    hostname: "127.0.0.1",
    port: 0,
    deflate: { threshold: 0 },
    maxMessageSize: MAX_MESSAGE,
    websocket: {
      open: (socket) => extensions = socket.extensions,
      message: (socket, data) => {
        socket.send(echoReply(received, data)).catch(() => {});
      },
      close: (_socket, code, reason) => seen({ code, reason }),
    },
  });
  return {
    url: server.url,
    port: server.port,
    received,
    closeSeen,
    extensions: () => extensions,
    stop: () => withTimeout(server.close(), STEP_MS, "our server to close"),
  };
}

/** `ws`'s server, permessage-deflate on for every message size. */
async function startWsServer(): Promise<EchoServer> {
  const received: MessageDigest[] = [];
  const server = await startWsPeerServer(
    { perMessageDeflate: { threshold: 0 }, maxPayload: MAX_MESSAGE },
    () => (message) => echoReply(received, message),
  );
  return { ...server, url: `ws://127.0.0.1:${server.port}/`, received };
}

// ---------------------------------------------------------------------------------------------------------
// The cases

/** The Worker's answer (see `WorkerReport` in examples/cloudflare_worker.ts). */
interface WorkerReport {
  api: string;
  extensions: string;
  sent: MessageDigest[];
  echoes: MessageDigest[];
  intact: boolean;
  peerReport: unknown;
  close: { code: number; reason: string; wasClean: boolean };
  ms: number;
}

const APIS = [
  { api: "connection", label: "connectTransport" },
  { api: "stream", label: "WebSocketStream with transport" },
  { api: "websocket", label: "WebSocket with transport" },
] as const;

const SERVERS = [
  { name: "our", start: startOurServer },
  { name: "ws", start: startWsServer },
] as const;

async function edgeCase(api: string, startServer: () => Promise<EchoServer>): Promise<void> {
  const server = await startServer();
  const proxy = await startTapProxy(server.port);
  try {
    const url = `ws://127.0.0.1:${proxy.port}/`;
    const path = `/?api=${api}&sizes=${SIZES.join(",")}&url=${encodeURIComponent(url)}`;
    const { status, body } = await fetchWorker(await getExampleWorkerd(), path);
    assert.equal(status, 200, `the Worker's answer: ${body.slice(0, 2000)}`);
    const report = JSON.parse(body) as WorkerReport;
    const expected = messages.map(digest);
    assert.equal(report.api, api);
    assert.deepEqual(report.sent, expected, "what the Worker sent (digests made in workerd)");
    assert.deepEqual(report.echoes, expected, "what came back to the Worker");
    assert.equal(report.intact, true, "every echo equals what the Worker sent, byte for byte");
    assert.deepEqual(server.received, expected, "what the server received (digests made in this process)");
    assert.deepEqual(
      report.peerReport,
      { count: messages.length, messages: expected },
      "the server's report",
    );
    assert.equal(
      canonicalExtensions(report.extensions || null),
      "permessage-deflate",
      "the answer, as the Worker's client saw it",
    );
    assert.equal(
      canonicalExtensions(server.extensions() || null),
      "permessage-deflate",
      "the answer, as the server sent it",
    );
    assert.equal(report.close.code, 1000, "the close code the Worker received");
    assert.equal(report.close.wasClean, true, "the Worker saw the closing handshake complete");
    assert.deepEqual(await withTimeout(server.closeSeen, STEP_MS, "the server to see the close"), {
      code: 1000,
      reason: OUR_REASON,
    });
    await assertWire(webSocketSession(proxy), messages, {
      ours: "client",
      offer: OUR_OFFER,
      answer: "permessage-deflate",
      weCompress: true,
      peerCompresses: true,
      closer: "ours",
    });
  } finally {
    await proxy.close();
    await server.stop();
  }
}

describe(`our client in workerd (${availability.version || "not installed"}) over cloudflare:sockets`, () => {
  for (const { name, start } of SERVERS) {
    for (const { api, label } of APIS) {
      interopTest(
        {
          peer: PEER,
          direction: `our client → ${name} server`,
          compression: `on (default; ${label})`,
          proves,
          availability,
          timeout: TEST_MS,
        },
        () => edgeCase(api, start),
      );
    }
  }

  const skip = availability.available || (REQUIRE_PEERS && availability.required)
    ? undefined
    : availability.reason;
  test(
    "the README's Worker example runs in workerd: an echo over cloudflare:sockets, compressed, close 1000",
    {
      skip,
      timeout: TEST_MS,
    },
    async () => {
      if (!availability.available) {
        throw new Error(`Cannot run workerd: ${availability.reason}, and REQUIRE_PEERS=1`);
      }
      const server = await startOurServer();
      const dir = mkdtempSync(join(tmpdir(), "wsengine-readme-worker-"));
      let workerd: Workerd | undefined;
      try {
        const source = join(dir, "readme_worker.ts");
        const block = readmeWorker().replaceAll('"./mod.ts"', JSON.stringify(join(ROOT, "mod.ts")));
        writeFileSync(source, block.replaceAll(README_URL, server.url));
        workerd = await startWorkerd(source);
        const { status, body } = await fetchWorker(workerd, "/");
        assert.equal(status, 200, `the README Worker's answer: ${body.slice(0, 2000)}`);
        const answer = JSON.parse(body);
        assert.equal(canonicalExtensions(answer.extensions || null), "permessage-deflate", "negotiated");
        assert.equal(answer.echo, README_MESSAGE, "the echo");
        assert.equal(answer.closeCode, 1000, "the close code");
        assert.deepEqual(server.received, [digest(README_MESSAGE)], "what the server received");
        assert.deepEqual(await withTimeout(server.closeSeen, STEP_MS, "the server to see the close"), {
          code: 1000,
          reason: "",
        });
      } finally {
        await workerd?.stop();
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
