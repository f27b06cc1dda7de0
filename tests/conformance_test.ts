import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runFuzzingClient, type Summary } from "../conformance/fuzzing_client.ts";
import { runClientCases } from "../conformance/run_client_cases.ts";
import { formatResult } from "../conformance/_runner.ts";
import { startServer } from "./_raw_client.ts";
import type { ServerSocket } from "../lib/adapters/_socket_handler.ts";
import { listenBun } from "../lib/adapters/bun_listen.ts";
import { listenDeno } from "../lib/adapters/deno_listen.ts";

// The Autobahn-style conformance cases (conformance/cases.ts: groups 1-7, 9, 10, 12, 13) on the runtime
// under test: our server (handleNodeUpgrade, permessage-deflate on) against the fuzzing client, and our
// client (connectNode, echoing) against the fuzzing server. Every case must pass; a NON-STRICT outcome is
// accepted only for a case listed here, with the reason it is acceptable.

/** Case id to why a NON-STRICT outcome is acceptable there. Empty: every case must be strictly OK. */
const ALLOWED_NON_STRICT: Readonly<Record<string, string>> = {};

/** How many cases run at once; performance cases run alone whatever this says. */
const CONCURRENCY = 6;

function assertConformant(summary: Summary, who: string): void {
  console.log(`${who}: ${summary.line}`);
  const unexpected = summary.results.filter((r) =>
    r.verdict === "FAILED" || (r.verdict === "NON-STRICT" && !(r.id in ALLOWED_NON_STRICT))
  );
  assert.ok(summary.results.length > 500, `${who}: only ${summary.results.length} cases ran`);
  assert.equal(
    unexpected.length,
    0,
    `${who}: ${summary.line}\n${unexpected.map(formatResult).join("\n")}`,
  );
}

describe("conformance (Autobahn TestSuite cases)", () => {
  test("our server passes every case of the fuzzing client", { timeout: 30_000 }, async () => {
    const server = await startServer({ upgrade: { deflate: {} } });
    try {
      const summary = await runFuzzingClient(server.url, { concurrency: CONCURRENCY });
      assertConformant(summary, "server");
    } finally {
      await server.close();
    }
  });

  // The runtimes' own listeners, with this library's engine over their raw sockets: the same cases.
  const echoing = {
    deflate: {},
    websocket: {
      message: (ws: ServerSocket, data: string | Uint8Array, binary: boolean) =>
        void ws.send(data, { binary }).catch(() => {}),
    },
  };
  test("listenBun() passes every case of the fuzzing client", {
    timeout: 30_000,
    skip: "Bun" in globalThis ? false : "Bun.listen exists only on Bun",
  }, async () => {
    const server = await listenBun({ port: 0, ...echoing });
    try {
      assertConformant(await runFuzzingClient(server.url, { concurrency: CONCURRENCY }), "listenBun");
    } finally {
      await server.close();
    }
  });

  test("listenDeno() passes every case of the fuzzing client", {
    timeout: 30_000,
    skip: "Deno" in globalThis ? false : "Deno.listen exists only on Deno",
  }, async () => {
    const server = await listenDeno({ port: 0, ...echoing });
    try {
      assertConformant(await runFuzzingClient(server.url, { concurrency: CONCURRENCY }), "listenDeno");
    } finally {
      await server.close();
    }
  });

  test("our client passes every case of the fuzzing server", { timeout: 30_000 }, async () => {
    const summary = await runClientCases({ concurrency: CONCURRENCY });
    assertConformant(summary, "client");
  });
});
