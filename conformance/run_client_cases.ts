/**
 * Runs our client (`connectNode` and a `Connection` that echoes every message) against the fuzzing server,
 * one connection per case.
 *
 * ```sh
 * deno run -A conformance/run_client_cases.ts [--cases 1.*,5.*] [--concurrency 4] [--time-scale 1]
 * bun conformance/run_client_cases.ts
 * ```
 *
 * Prints one line per case and `conformance: N OK, M NON-STRICT, K FAILED`; exits 1 if any case FAILED.
 *
 * @module
 */

import process from "node:process";
import { connectNode } from "../lib/adapters/node_client.ts";
import { ReadyState } from "../lib/core/ready_state.ts";
import { type ConformanceCase, selectCases } from "./cases.ts";
import { startFuzzingServer } from "./fuzzing_server.ts";
import { formatResult, parseArgs, runCases, type RunOptions, type Summary } from "./_runner.ts";
import type { CaseResult } from "./_session.ts";

export type { RunOptions, Summary } from "./_runner.ts";

/**
 * Starts a fuzzing server on 127.0.0.1, runs our client against each selected case, and stops the server.
 *
 * @param options Which cases, how many at once, the time scale, a per-result callback.
 * @returns The summary.
 * @example
 * ```ts ignore
 * import { runClientCases } from "./run_client_cases.ts";
 * console.log((await runClientCases({ cases: ["5.*"] })).line);
 * ```
 */
export async function runClientCases(options: RunOptions = {}): Promise<Summary> {
  const cases = selectCases(options.cases);
  const server = await startFuzzingServer({ timeScale: options.timeScale });
  try {
    return await runCases(
      cases,
      options.concurrency ?? 4,
      (c) => runOne(server.url, c, server.result),
      options.onResult,
    );
  } finally {
    await server.close();
  }
}

async function runOne(
  base: string,
  testCase: ConformanceCase,
  result: (id: string, ms?: number) => Promise<CaseResult>,
): Promise<CaseResult> {
  const bound = (testCase.timeoutMs ?? 10_000) + 5000;
  const judged = result(testCase.id, bound);
  let clientProblem: string | undefined;
  try {
    const { connection } = await connectNode(`${base}case/${testCase.id}`, {
      // Outside groups 12 and 13 the default offer goes out, and the fuzzing server declines it.
      deflate: testCase.deflate?.clientOptions ?? {},
      handshakeTimeout: 5000,
    });
    connection.onmessage = (data) => {
      if (connection.readyState !== ReadyState.Open) return;
      try {
        connection.send(data).catch(() => {});
      } catch {
        // Closing meanwhile: nothing to echo into.
      }
    };
    let cancel = () => {};
    const gaveUp = new Promise<undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), bound);
      cancel = () => clearTimeout(timer);
    });
    const closed = await Promise.race([connection.closed, gaveUp]);
    cancel();
    if (closed === undefined) clientProblem = `our client's connection did not close within ${bound} ms`;
  } catch (error) {
    clientProblem = `our client could not connect: ${(error as Error).message}`;
  }
  const judgedResult = await judged;
  if (clientProblem === undefined) return judgedResult;
  return {
    ...judgedResult,
    verdict: "FAILED",
    reason: judgedResult.reason === "" ? clientProblem : `${clientProblem}; ${judgedResult.reason}`,
  };
}

async function main(): Promise<void> {
  const options = parseArgs();
  const summary = await runClientCases({
    ...options,
    onResult: (result) => console.log(formatResult(result)),
  });
  console.log(summary.line);
  process.exit(summary.failed > 0 ? 1 : 0);
}

if (import.meta.main) await main();
