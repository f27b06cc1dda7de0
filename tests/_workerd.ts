/**
 * workerd (Cloudflare's open-source Workers runtime, from npm) for the tests: a Worker bundled from its
 * TypeScript sources with `deno bundle`, served by workerd on a free loopback port that workerd reports on a
 * control pipe, and stopped (the process and its temporary directory) by the test.
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { Readable } from "node:stream";
import { repoPath } from "./_files.ts";
import { type Availability, STEP_MS, withTimeout } from "./_interop.ts";

// The repository (also when this runs compiled, from dist-tests/ under Node): Workers are bundled from
// their TypeScript sources.
export const ROOT: string = repoPath("");
export const WORKERD: string = join(ROOT, "node_modules/.bin/workerd");
export const DENO: string = join(ROOT, "node_modules/.bin/deno");
/** Bound for bundling (the first `deno bundle` on a machine fetches esbuild from the npm registry). */
export const BUNDLE_MS = 120_000;

/**
 * workerd from npm (a devDependency, so required under REQUIRE_PEERS=1), and Deno to bundle for it.
 *
 * @returns Whether both run here, and workerd's version.
 */
export function probeWorkerd(): Availability & { version: string } {
  for (const [binary, name] of [[WORKERD, "workerd"], [DENO, "deno"]]) {
    if (!existsSync(binary)) {
      const reason = `${binary} is missing (npm install installs ${name})`;
      return { available: false, reason, required: true, version: "" };
    }
  }
  const probe = spawnSync(WORKERD, ["--version"], { timeout: 10_000, encoding: "utf8" });
  if (probe.status === 0) return { available: true, version: probe.stdout.trim() };
  const why = probe.error?.message ?? `exit ${probe.status}: ${String(probe.stderr).slice(0, 300)}`;
  return { available: false, reason: `workerd --version failed (${why})`, required: true, version: "" };
}

/**
 * A workerd config running one Worker (its bundle embedded as worker.js) on a free loopback port. The
 * `no_nodejs_compat` flags remove the `node:` modules that compatibility dates from 2026-08-04 on provide by
 * default. `connect()` goes out through the service named "internet", whose default allow list is
 * "public" only: here it is "local" only (loopback).
 */
export interface WorkerdConfigOptions {
  /** Extra compatibility flags. */
  flags?: string[];
  /** Lines inside the Worker struct (`durableObjectNamespaces = [...]`, `bindings = [...]`), each ending in ",". */
  worker?: string;
}

/** The capnp config. */
export function workerdConfig(options: WorkerdConfigOptions = {}): string {
  const flags = ["no_nodejs_compat", "no_nodejs_compat_v2", ...(options.flags ?? [])];
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2026-11-17",
  compatibilityFlags = ${JSON.stringify(flags)},
  ${options.worker ?? ""}
);
`;
}

/** A running workerd. */
export interface Workerd {
  /** Where its Worker answers: `http://127.0.0.1:<port>`. */
  origin: string;
  /** Its port. */
  port: number;
  /** What workerd wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Runs a process to its end, bounded; rejects with its output when it fails. */
export function run(command: string, args: string[], ms: number): Promise<void> {
  const child = spawn(command, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let output = "";
  child.stdout!.on("data", (chunk) => output += chunk);
  child.stderr!.on("data", (chunk) => output += chunk);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return withTimeout(exited, ms, `${command} ${args[0]}`)
    .catch((error) => {
      child.kill("SIGKILL");
      throw error;
    })
    .then((code) => {
      if (code !== 0) {
        throw new Error(`${command} ${args.join(" ")} exited with ${code}:\n${output.slice(-2000)}`);
      }
    });
}

/** Options for {@linkcode startWorkerd}. */
export interface StartWorkerdOptions extends WorkerdConfigOptions {
  /** Modules workerd provides, left out of the bundle. @default {["cloudflare:sockets"]} */
  external?: string[];
  /** Run workerd with `--experimental` (for the `unsafe_module` flag, say). @default {false} */
  experimental?: boolean;
}

/**
 * Bundles a Worker with `deno bundle` and serves it with workerd on a free loopback port.
 *
 * @param source The Worker's TypeScript entry point.
 * @param options Its config and bundle.
 * @returns The running workerd.
 */
export async function startWorkerd(source: string, options: StartWorkerdOptions = {}): Promise<Workerd> {
  const dir = mkdtempSync(join(tmpdir(), "wsengine-workerd-"));
  let child: ChildProcess | undefined;
  try {
    const external = (options.external ?? ["cloudflare:sockets"]).flatMap((name) => ["--external", name]);
    await run(DENO, [
      "bundle",
      "--config",
      join(ROOT, "deno.json"),
      "--platform",
      "browser",
      ...external,
      "--output",
      join(dir, "worker.js"),
      source,
    ], BUNDLE_MS);
    writeFileSync(join(dir, "config.capnp"), workerdConfig(options));
    const args = [
      "serve",
      join(dir, "config.capnp"),
      "--control-fd=3",
      ...(options.experimental ? ["--experimental"] : []),
    ];
    const started = spawn(WORKERD, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe", "pipe"] });
    child = started;
    let output = "";
    started.stdout!.on("data", (chunk) => output += chunk);
    started.stderr!.on("data", (chunk) => output += chunk);
    const exit = new Promise<void>((resolve) => started.once("exit", () => resolve()));
    const control = started.stdio[3] as Readable;
    control.setEncoding("utf8");
    const listening = new Promise<number>((resolve, reject) => {
      let pending = "";
      control.on("data", (text: string) => {
        pending += text;
        for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
          const message = JSON.parse(pending.slice(0, end));
          pending = pending.slice(end + 1);
          if (message.event === "listen" && message.socket === "http") resolve(message.port);
        }
      });
      exit.then(() => reject(new Error(`workerd exited before listening:\n${output.slice(-2000)}`)));
    });
    const port = await withTimeout(listening, STEP_MS, "workerd to listen");
    return {
      origin: `http://127.0.0.1:${port}`,
      port,
      output: () => output,
      async stop() {
        started.kill("SIGTERM");
        await withTimeout(exit, 5000, "workerd to exit").catch(async () => {
          started.kill("SIGKILL");
          await withTimeout(exit, 5000, "workerd to exit after SIGKILL").catch(() => {});
        });
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * GETs a path from a Worker, bounded.
 *
 * @returns The status and the body.
 */
export async function fetchWorker(workerd: Workerd, path: string): Promise<{ status: number; body: string }> {
  const signal = AbortSignal.timeout(3 * STEP_MS);
  const response = await fetch(`${workerd.origin}${path}`, { signal }).catch((error) => {
    throw new Error(
      `Cannot fetch ${path} from workerd: ${error}\nits output: ${workerd.output().slice(-2000)}`,
    );
  });
  return { status: response.status, body: await response.text() };
}
