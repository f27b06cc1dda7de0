/**
 * The logger the servers, clients and connections report to: what happened to a connection, one line per
 * event (a handshake accepted or refused, what was negotiated, a close, a drop, a heartbeat timeout, a
 * reconnect), never one per message. No runtime APIs here: the environment switch (`DEBUG=wsengine*`) is
 * read by the adapters, which install a console logger with {@linkcode useDebugLogger}.
 *
 * @module
 */

/** Structured fields of a log line (`code`, `reason`, `protocol`, `extensions`, `remoteAddress` ...). */
export type LogFields = Record<string, unknown>;

/**
 * Where log lines go: `console` fits as it is, as do Deno's `std/log` loggers, winston and loglevel (message
 * first, then the fields). pino and bunyan take the fields first: wrap them,
 * `{ debug: (m, f) => log.debug(f, m), warn: (m, f) => log.warn(f, m), error: (m, f) => log.error(f, m) }`.
 *
 * Levels: `debug` for the trace (handshakes, negotiation, closes, reconnects), `warn` for what cost data or
 * a connection (published messages dropped, a slow consumer closed with 1013, a heartbeat timeout),
 * `error` for a handler that threw.
 */
export interface Logger {
  /** A trace line. */
  debug(message: string, fields?: LogFields): void;
  /** Something was lost: messages dropped, a connection given up on. */
  warn(message: string, fields?: LogFields): void;
  /** A failure the application should fix (a handler threw). */
  error(message: string, fields?: LogFields): void;
}

/** Which side a line is about: the `wsengine:server` or `wsengine:client` namespace. */
export type LogSide = "server" | "client";

const installed: { server: Logger | undefined; client: Logger | undefined } = {
  server: undefined,
  client: undefined,
};

/**
 * Installs the logger used where none is given in the options (the adapters do, when the environment asks
 * for debug output); `undefined` turns it off. Nothing is logged by default.
 *
 * @param side The side it is for.
 * @param logger The logger, or `undefined`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { consoleLogger, debugLogger, useDebugLogger } from "./logger.ts";
 * useDebugLogger("client", consoleLogger("wsengine:client"));
 * assert(debugLogger("client") !== undefined);
 * useDebugLogger("client", undefined);
 * assert.equal(debugLogger("client"), undefined);
 * ```
 */
export function useDebugLogger(side: LogSide, logger: Logger | undefined): void {
  installed[side] = logger;
}

/**
 * @param side The side.
 * @returns The logger installed for that side, or `undefined` (then nothing is traced, at no cost).
 * @example
 * ```ts
 * import { debugLogger } from "./logger.ts";
 * debugLogger("server")?.debug("handshake accepted", { protocol: "chat" });
 * ```
 */
export function debugLogger(side: LogSide): Logger | undefined {
  return installed[side];
}

/**
 * Formats fields as `key=value` pairs on one line (strings with spaces or quotes JSON-quoted).
 *
 * @param fields The fields.
 * @returns The line's tail, `""` for none.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatFields } from "./logger.ts";
 * assert.equal(formatFields({ code: 1000, reason: "bye now", wasClean: true }), 'code=1000 reason="bye now" wasClean=true');
 * ```
 */
export function formatFields(fields: LogFields | undefined): string {
  if (fields === undefined) return "";
  const parts: string[] = [];
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined) continue;
    const text = typeof value === "string"
      ? value
      : value instanceof Error
      ? value.message
      : JSON.stringify(value) ?? String(value);
    parts.push(
      `${key}=${
        typeof value === "string" && (text === "" || /[\s"=]/.test(text)) ? JSON.stringify(text) : text
      }`,
    );
  }
  return parts.join(" ");
}

/**
 * A logger that writes one line per event to `console` (`console.debug`, `console.warn`, `console.error`),
 * prefixed with a namespace: `wsengine:server closed code=1000 reason="" wasClean=true`.
 *
 * @param namespace The prefix.
 * @param write Where the lines go. @default the console's method of the line's level
 * @returns The logger.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { consoleLogger } from "./logger.ts";
 * const lines: string[] = [];
 * consoleLogger("wsengine:server", (_level, line) => lines.push(line)).debug("closed", { code: 1000 });
 * assert.deepEqual(lines, ["wsengine:server closed code=1000"]);
 * ```
 */
export function consoleLogger(
  namespace: string,
  write: (level: "debug" | "warn" | "error", line: string) => void = (level, line) => console[level](line),
): Logger {
  const line = (message: string, fields: LogFields | undefined) => {
    const tail = formatFields(fields);
    return tail === "" ? `${namespace} ${message}` : `${namespace} ${message} ${tail}`;
  };
  return {
    debug: (message, fields) => write("debug", line(message, fields)),
    warn: (message, fields) => write("warn", line(message, fields)),
    error: (message, fields) => write("error", line(message, fields)),
  };
}

/**
 * Whether a `DEBUG` value (the convention of the `debug` package, used by socket.io, engine.io and
 * express: comma- or space-separated names, `*` for any run of characters, `-name` to leave one out)
 * names a namespace.
 *
 * @param pattern The `DEBUG` value.
 * @param namespace The namespace (`wsengine:server`).
 * @returns Whether it is enabled.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { debugEnabled } from "./logger.ts";
 * assert(debugEnabled("wsengine*", "wsengine:server"));
 * assert(debugEnabled("express:*,wsengine:client", "wsengine:client"));
 * assert(!debugEnabled("*,-wsengine:server", "wsengine:server"));
 * ```
 */
export function debugEnabled(pattern: string, namespace: string): boolean {
  let enabled = false;
  for (const name of pattern.split(/[\s,]+/)) {
    if (name === "") continue;
    const skip = name.startsWith("-");
    const glob = skip ? name.slice(1) : name;
    const regex = new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
    if (!regex.test(namespace)) continue;
    if (skip) return false;
    enabled = true;
  }
  return enabled;
}
