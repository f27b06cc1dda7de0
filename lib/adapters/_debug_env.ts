/**
 * The environment switch for debug output, read once when an adapter is loaded: `DEBUG=wsengine*` (the
 * convention of the `debug` package that socket.io and engine.io use: `wsengine:server`,
 * `wsengine:client`, or both with `wsengine*`), or `WSENGINE_DEBUG=1` for both. It installs a console
 * logger ({@linkcode useDebugLogger}) for the sides it names; a `logger` option still wins. Imported for its
 * effect. Private to the adapters folder.
 *
 * Under Deno without `--allow-env` the variables are not readable, and nothing is switched on (no prompt).
 *
 * @module
 */

import { consoleLogger, debugEnabled, type Logger, type LogSide, useDebugLogger } from "../core/logger.ts";

interface DenoEnv {
  permissions: { querySync(descriptor: { name: "env"; variable: string }): { state: string } };
  env: { get(name: string): string | undefined };
}

/** An environment variable, or `undefined` where it is unset or may not be read. */
function readEnv(name: string): string | undefined {
  try {
    const deno = (globalThis as unknown as { Deno?: DenoEnv }).Deno;
    if (deno !== undefined) {
      return deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
        ? deno.env.get(name)
        : undefined;
    }
    return (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
  } catch {
    return undefined;
  }
}

const all = readEnv("WSENGINE_DEBUG");
const pattern = readEnv("DEBUG") ?? "";
for (const side of ["server", "client"] as LogSide[]) {
  const namespace = `wsengine:${side}`;
  if ((all !== undefined && all !== "" && all !== "0") || debugEnabled(pattern, namespace)) {
    useDebugLogger(side, consoleLogger(namespace));
  }
}

/**
 * Logs a server's answer to an upgrade request: `handshake accepted` with the subprotocol and extensions
 * (with their parameters), or `handshake refused` with the status and the reason.
 *
 * @param logger The logger, or `undefined` (nothing is done).
 * @param target The upgrade request, or its request target (`/chat?room=1`).
 * @param answer The handshake's result (or a refusal made by the adapter).
 * @param remoteAddress The peer's address, where the runtime tells it.
 */
export function logHandshake(
  logger: Logger | undefined,
  target: Request | string,
  answer: { ok: boolean; response: Response; reason?: string; protocol?: string; extensions?: string },
  remoteAddress: string | undefined,
): void {
  if (logger === undefined) return;
  // The path only: a query string may carry a token.
  const path =
    (typeof target === "string" ? target : target.url.replace(/^[a-z]+:\/\/[^/]*/i, "")).split("?")[0];
  if (answer.ok) {
    logger.debug("handshake accepted", {
      status: 101,
      path,
      protocol: answer.protocol || undefined,
      extensions: answer.extensions || undefined,
      remoteAddress,
    });
  } else {
    logger.debug("handshake refused", {
      status: answer.response.status,
      reason: answer.reason,
      path,
      remoteAddress,
    });
  }
}
