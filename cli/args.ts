/**
 * The command line's argument parsing, shared by `serve` and `connect`: each command declares its flags
 * once ({@linkcode FlagSpec}), and that one list is both what the parser accepts and what `--help` prints.
 * Anything not declared is a {@linkcode UsageError} (exit code 2), never silently ignored.
 *
 * @module
 */

import type { ServerDeflateOptions } from "../lib/handshake/server_handshake.ts";
import type { ClientDeflateOptions } from "../lib/handshake/client_handshake.ts";
import { parseExtensions } from "../lib/handshake/extension_header.ts";

/** A wrong command line: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  /**
   * @param message What is wrong, naming the flag or argument.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** One flag of a command. */
export interface FlagSpec {
  /** The long name, without `--`. */
  name: string;
  /** A one-letter alias, without `-`. */
  short?: string;
  /** The value's placeholder in the help (`FILE`); a flag without one takes no value. */
  value?: string;
  /** Whether the flag may be given several times (its values are all kept). */
  repeat?: boolean;
  /** One line of help. */
  help: string;
}

/** A parsed command line. */
export interface ParsedArgs {
  /** The arguments that are not flags, in order. */
  positional: string[];
  /** Each value flag given, by long name, with every value in order. */
  values: Map<string, string[]>;
  /** Each flag without a value given, by long name. */
  flags: Set<string>;
}

/** `-h, --help`, accepted by every command. */
export const HELP_FLAG: FlagSpec = { name: "help", short: "h", help: "print this help and exit" };

/**
 * Parses a command's arguments: `--name value`, `--name=value`, `-n value`, `-nvalue`; `--` ends the flags.
 *
 * @param argv The arguments after the command.
 * @param specs The command's flags.
 * @returns What was given.
 * @throws {UsageError} For an unknown flag, a missing value, or a value given to a flag that takes none.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const parsed: ParsedArgs = { positional: [], values: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      parsed.positional.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let shown: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      shown = equals === -1 ? arg : arg.slice(0, equals);
      if (equals !== -1) inline = arg.slice(equals + 1);
      spec = specs.find((s) => `--${s.name}` === shown);
    } else if (arg.startsWith("-") && arg.length > 1) {
      shown = arg.slice(0, 2);
      spec = specs.find((s) => s.short !== undefined && `-${s.short}` === shown);
      if (arg.length > 2) {
        // `-Hname:value` for a flag with a value; anything else glued on is not understood.
        if (spec?.value === undefined) throw new UsageError(`unknown flag ${arg}`);
        inline = arg.slice(2).replace(/^=/, "");
      }
    } else {
      parsed.positional.push(arg);
      continue;
    }
    if (spec === undefined) throw new UsageError(`unknown flag ${shown}`);
    if (spec.value === undefined) {
      if (inline !== undefined) throw new UsageError(`${shown} takes no value`);
      parsed.flags.add(spec.name);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${shown} needs a value (${spec.value})`);
    const previous = parsed.values.get(spec.name) ?? [];
    parsed.values.set(spec.name, spec.repeat === true ? [...previous, value] : [value]);
  }
  return parsed;
}

/**
 * The help's table of flags, one per line, aligned.
 *
 * @param specs A command's flags.
 * @returns The lines, indented by two spaces.
 */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const left = specs.map((s) => `${s.short === undefined ? "    " : `-${s.short}, `}--${s.name}${s.value === undefined ? "" : ` ${s.value}`}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return specs.map((s, i) => `  ${left[i].padEnd(width)}${s.help}${s.repeat === true ? " (repeatable)" : ""}`).join("\n");
}

/** @returns The last value given for a flag, or `undefined`. */
export function lastValue(args: ParsedArgs, name: string): string | undefined {
  return args.values.get(name)?.at(-1);
}

/**
 * Reads a size in bytes: `65536`, `64k`, `16m`, `1g` (binary multiples, `KiB`, `MB` and the like accepted).
 *
 * @param flag The flag, for the error.
 * @param text The value.
 * @returns The size.
 * @throws {UsageError} For anything else.
 */
export function parseSize(flag: string, text: string): number {
  const match = /^(\d+)\s*(?:([kmg])i?b?)?$/i.exec(text.trim());
  if (match === null) throw new UsageError(`${flag} ${text} is not a size (bytes, or with k, m or g)`);
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? "").toLowerCase() as "" | "k" | "m" | "g"];
  const size = Number(match[1]) * scale;
  if (!Number.isSafeInteger(size) || size < 1) throw new UsageError(`${flag} ${text} is not a size of at least 1 byte`);
  return size;
}

/**
 * Reads a duration in seconds (decimals allowed) into milliseconds.
 *
 * @param flag The flag, for the error.
 * @param text The value.
 * @param allowZero Whether 0 is accepted.
 * @returns Milliseconds.
 * @throws {UsageError} For anything else.
 */
export function parseSeconds(flag: string, text: string, allowZero = true): number {
  const seconds = /^\d+(?:\.\d+)?$|^\.\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(seconds) || (!allowZero && seconds === 0)) {
    throw new UsageError(`${flag} ${text} is not a number of seconds${allowZero ? "" : " above 0"}`);
  }
  return Math.round(seconds * 1000);
}

/**
 * `--heartbeat interval,timeout` (seconds) and `--no-heartbeat` into the connection's `heartbeat` option.
 *
 * @param args The parsed arguments.
 * @returns The option, or `undefined` for the library's default.
 * @throws {UsageError} For a malformed value, or both flags.
 */
export function heartbeatOption(args: ParsedArgs): { interval: number; timeout: number } | false | undefined {
  const value = lastValue(args, "heartbeat");
  if (args.flags.has("no-heartbeat")) {
    if (value !== undefined) throw new UsageError("--heartbeat and --no-heartbeat contradict each other");
    return false;
  }
  if (value === undefined) return undefined;
  const parts = value.split(",");
  if (parts.length !== 2) throw new UsageError(`--heartbeat ${value} is not INTERVAL,TIMEOUT (seconds, e.g. 25,20)`);
  return { interval: parseSeconds("--heartbeat", parts[0], false), timeout: parseSeconds("--heartbeat", parts[1], false) };
}

const WINDOW_BITS = /^(?:8|9|1[0-5])$/;

/**
 * Reads `--deflate "<params>"` (the parameters of a `permessage-deflate` header element, `;`-separated) into
 * deflate options for one role. Both roles take `server_no_context_takeover`, `client_no_context_takeover`,
 * `server_max_window_bits=N` and `client_max_window_bits[=N]` (N in 8..15), and the codec's `level=0..9`,
 * `mem_level=1..9` and `threshold=BYTES`; the server also takes `broadcast` (see
 * `DeflateNegotiationOptions.broadcast`).
 *
 * @param params The flag's value (`""` for the defaults).
 * @param role Whose options.
 * @returns The options.
 * @throws {UsageError} Naming the parameter that is unknown, repeated, or has a wrong value.
 */
export function deflateOptions(params: string, role: "server" | "client"): ServerDeflateOptions & ClientDeflateOptions {
  let offer;
  try {
    [offer] = parseExtensions(params.trim() === "" ? "permessage-deflate" : `permessage-deflate; ${params}`);
  } catch (error) {
    throw new UsageError(`--deflate: ${(error as Error).message}`);
  }
  const options: ServerDeflateOptions & ClientDeflateOptions = {};
  const seen = new Set<string>();
  const integer = (name: string, value: string | null, min: number, max: number): number => {
    if (value === null || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new UsageError(`--deflate: ${name} needs a value in ${min}..${max}${value === null ? "" : `, not ${value}`}`);
    }
    return Number(value);
  };
  const flag = (name: string, value: string | null): true => {
    if (value !== null) throw new UsageError(`--deflate: ${name} takes no value`);
    return true;
  };
  for (const [rawName, value] of offer.params) {
    const name = rawName.toLowerCase();
    if (seen.has(name)) throw new UsageError(`--deflate: ${name} appears twice`);
    seen.add(name);
    switch (name) {
      case "server_no_context_takeover":
        options.serverNoContextTakeover = flag(name, value);
        break;
      case "client_no_context_takeover":
        options.clientNoContextTakeover = flag(name, value);
        break;
      case "server_max_window_bits":
        if (value === null || !WINDOW_BITS.test(value)) throw new UsageError(`--deflate: ${name} needs a value in 8..15`);
        options.serverMaxWindowBits = Number(value);
        break;
      case "client_max_window_bits":
        // Bare, it is what a client offers anyway (and a server's default).
        if (value !== null && !WINDOW_BITS.test(value)) throw new UsageError(`--deflate: ${name} needs a value in 8..15`);
        if (value !== null) options.clientMaxWindowBits = Number(value);
        break;
      case "broadcast":
        if (role === "client") {
          throw new UsageError("--deflate: broadcast is a server option (a client asks with server_no_context_takeover and server_max_window_bits)");
        }
        options.broadcast = flag(name, value);
        break;
      case "level":
        options.level = integer(name, value, 0, 9);
        break;
      case "mem_level":
        options.memLevel = integer(name, value, 1, 9);
        break;
      case "threshold":
        options.threshold = integer(name, value, 0, Number.MAX_SAFE_INTEGER);
        break;
      default:
        throw new UsageError(`--deflate: unknown parameter ${name}`);
    }
  }
  return options;
}
