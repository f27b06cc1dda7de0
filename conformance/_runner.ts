/**
 * Runs cases a few at a time (performance cases alone), reports results in case order, and sums them up.
 * Shared by the fuzzing client and the client-case driver.
 *
 * @module
 */

import process from "node:process";
import type { ConformanceCase } from "./cases.ts";
import type { CaseResult } from "./_session.ts";

/** The results of a run. */
export interface Summary {
  /** Every result, in case order. */
  results: CaseResult[];
  /** Cases that passed. */
  ok: number;
  /** Cases that passed non-strictly. */
  nonStrict: number;
  /** Cases that failed. */
  failed: number;
  /** `conformance: N OK, M NON-STRICT, K FAILED`. */
  line: string;
}

/** Options shared by the runners. */
export interface RunOptions {
  /** Case id patterns (`"1.*"`, `"6.4.1"`); none runs every case. @default {[]} */
  cases?: readonly string[];
  /** Cases run at once (performance cases always run alone). @default {4} */
  concurrency?: number;
  /** Factor on the cases' waits and timers (0.5 halves them). @default {1} */
  timeScale?: number;
  /** Called with each result, in case order. */
  onResult?: (result: CaseResult) => void;
}

/**
 * Runs cases with bounded concurrency and reports each result in case order.
 *
 * @param cases The cases, in order.
 * @param concurrency How many may run at once.
 * @param runOne Runs one case.
 * @param onResult Called with each result, in case order.
 * @returns The summary.
 */
export async function runCases(
  cases: readonly ConformanceCase[],
  concurrency: number,
  runOne: (testCase: ConformanceCase) => Promise<CaseResult>,
  onResult?: (result: CaseResult) => void,
): Promise<Summary> {
  const results: (CaseResult | undefined)[] = new Array(cases.length);
  let reported = 0;
  const report = () => {
    while (reported < cases.length && results[reported] !== undefined) {
      const result = results[reported++]!;
      onResult?.(result);
    }
  };
  const running = new Set<Promise<void>>();
  const start = (index: number) => {
    const task = runOne(cases[index]).then((result) => {
      results[index] = result;
      report();
    }).finally(() => running.delete(task));
    running.add(task);
  };
  for (let i = 0; i < cases.length; i++) {
    if (cases[i].exclusive) {
      await Promise.all(running);
      start(i);
      await Promise.all(running);
    } else {
      while (running.size >= Math.max(1, concurrency)) await Promise.race(running);
      start(i);
    }
  }
  await Promise.all(running);
  return summarize(results as CaseResult[]);
}

/**
 * Sums up results.
 *
 * @param results The results.
 * @returns The summary.
 */
export function summarize(results: CaseResult[]): Summary {
  const count = (verdict: string) => results.filter((r) => r.verdict === verdict).length;
  const ok = count("OK"), nonStrict = count("NON-STRICT"), failed = count("FAILED");
  return {
    results,
    ok,
    nonStrict,
    failed,
    line: `conformance: ${ok} OK, ${nonStrict} NON-STRICT, ${failed} FAILED`,
  };
}

/**
 * One result as a line: id, verdict, duration, and the reason when there is one.
 *
 * @param result The result.
 * @returns The line.
 */
export function formatResult(result: CaseResult): string {
  const line = `${result.id.padEnd(8)} ${result.verdict.padEnd(10)} ${
    String(result.durationMs).padStart(6)
  } ms`;
  return result.reason === "" ? line : `${line}  ${result.reason}`;
}

/** Command-line options of the runners. */
export interface CliOptions extends RunOptions {
  /** Arguments that are not options. */
  positional: string[];
  /** `--port`, for the standalone fuzzing server. */
  port?: number;
}

/**
 * Reads `--cases a,b`, `--concurrency N`, `--time-scale X`, `--port P` and positional arguments.
 *
 * @param args The arguments after the script.
 * @returns The options.
 */
export function parseArgs(args: readonly string[] = process.argv.slice(2)): CliOptions {
  const options: CliOptions = { positional: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? arg.split(/=(.*)/s, 2)
      : [arg, undefined];
    const value = () => inline ?? args[++i] ?? "";
    switch (name) {
      case "--cases":
        options.cases = value().split(",").filter((p) => p !== "");
        break;
      case "--concurrency":
        options.concurrency = Number(value());
        break;
      case "--time-scale":
        options.timeScale = Number(value());
        break;
      case "--port":
        options.port = Number(value());
        break;
      default:
        if (arg.startsWith("--")) throw new SyntaxError(`Unknown option: ${arg}`);
        options.positional.push(arg);
    }
  }
  return options;
}
