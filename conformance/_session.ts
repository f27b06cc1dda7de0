/**
 * One conformance case on one connection, after the opening handshake, from the fuzzing side: runs the
 * case's script (frames masked in the client role, unmasked in the server role), reacts as Autobahn's
 * fuzzing peer does (answers pings and close frames, closes TCP as a server, waits for the server to close
 * it as a client), records what the peer does, and judges the case.
 *
 * Judgement follows Autobahn: the events received are compared with the OK and NON-STRICT outcomes; the
 * close is judged on who started it, whether it was clean, the peer's close code and (as a client) who
 * closed TCP. Two additions make it stricter: a peer that must fail the connection and never does fails the
 * case, and any frame from the peer that breaks RFC 6455 or RFC 7692 fails it.
 *
 * @module
 */

import type { Socket } from "node:net";
import { setImmediate } from "node:timers";
import { encodeFrame } from "../lib/core/encode_frame.ts";
import type { Frame } from "../lib/core/frame.ts";
import { FrameParser } from "../lib/core/frame_parser.ts";
import type { DeflateState } from "./_deflate.ts";
import {
  type ConformanceCase,
  type Event,
  type FrameSpec,
  Op,
  type RoundTripMessage,
  type Step,
} from "./cases.ts";

/** A case's outcome. */
export type Verdict = "OK" | "NON-STRICT" | "FAILED";

/** What a case came to. */
export interface CaseResult {
  /** The case number. */
  id: string;
  /** The outcome. */
  verdict: Verdict;
  /** Why, when not OK (and a note when OK needs one); empty otherwise. */
  reason: string;
  /** Wall time of the case, from connecting to TCP close. */
  durationMs: number;
}

/** Options for {@linkcode runSession}. */
export interface SessionOptions {
  /** The fuzzing side's role: a client masks what it sends, a server closes TCP after the closing handshake. */
  role: "client" | "server";
  /** Factor applied to the script's waits and timers. @default {1} */
  timeScale?: number;
  /** permessage-deflate in force, if any. */
  deflate?: DeflateState;
  /** Bytes read past the opening handshake. */
  head?: Uint8Array;
  /** When the case started (`performance.now()`), for the duration. @default now */
  started?: number;
}

/** How long the fuzzing side waits for the peer's close frame, and (as a client) for the server's TCP close. */
const CLOSE_WAIT_MS = 2000;
/** Largest frame accepted from the peer. */
const MAX_FRAME = 64 * 1024 * 1024;

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder("utf-8", { fatal: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    decoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** RFC 6455 §7.4: codes a peer may send (1012-1014 are registered since; 1004-1006 and 1015 never go on the wire). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function equalEvents(a: readonly Event[], b: readonly Event[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((event, i) => {
    const other = b[i];
    if (event.type !== other.type) return false;
    if (event.type === "timeout") return event.tag === (other as typeof event).tag;
    if (event.type === "message" && event.opcode !== (other as typeof event).opcode) return false;
    return equalBytes(event.payload, (other as { payload: Uint8Array }).payload);
  });
}

function preview(bytes: Uint8Array): string {
  if (bytes.length === 0) return "";
  const shown = bytes.subarray(0, 24);
  const printable = shown.every((b) => b >= 0x20 && b < 0x7f);
  const body = printable
    ? JSON.stringify(new TextDecoder().decode(shown))
    : "0x" + Array.from(shown, (b) => b.toString(16).padStart(2, "0")).join("");
  return ` ${body}${bytes.length > shown.length ? "..." : ""}`;
}

/** Events in a short readable form, for reasons. */
export function describeEvents(events: readonly Event[]): string {
  if (events.length === 0) return "nothing";
  const shown = events.slice(0, 4).map((event) => {
    if (event.type === "timeout") return `timeout ${event.tag}`;
    const kind = event.type === "message" ? (event.opcode === Op.Text ? "text" : "binary") : event.type;
    return `${kind} (${event.payload.length} B${preview(event.payload)})`;
  });
  return shown.join(", ") + (events.length > 4 ? `, ... (${events.length} events)` : "");
}

/** What happened on the connection, for the judge. */
interface Observation {
  received: Event[];
  /** The fuzzing side sent a close frame; `first` when it did so before the peer's. */
  closeSent: { first: boolean } | undefined;
  closeReceived: { code: number | null; reason: Uint8Array } | undefined;
  droppedByMe: boolean;
  unclean: string | undefined;
  violation: string | undefined;
  /** The kill timer fired before the peer sent a close frame or closed TCP. */
  killedOpen: boolean;
  timedOut: boolean;
  roundTrips: { done: boolean; failure: string | undefined };
}

type Behavior = "OK" | "NON-STRICT" | "FAILED";
type CloseBehavior = "OK" | "FAILED" | "UNCLEAN" | "WRONG CODE" | "FAILED BY CLIENT";

const RANK: Record<Verdict, number> = { "OK": 0, "NON-STRICT": 1, "FAILED": 2 };

/**
 * Judges a case from what was observed.
 *
 * @param testCase The case.
 * @param role The fuzzing side's role.
 * @param o The observation.
 * @returns The verdict and the reason.
 */
function judge(
  testCase: ConformanceCase,
  role: "client" | "server",
  o: Observation,
): { verdict: Verdict; reason: string } {
  if (o.violation !== undefined) return { verdict: "FAILED", reason: o.violation };
  if (o.timedOut) {
    return { verdict: "FAILED", reason: `the case did not finish within ${testCase.timeoutMs ?? 10_000} ms` };
  }
  const reasons: string[] = [];

  // Events.
  let behavior: Behavior = "FAILED";
  const expect = testCase.expect;
  if (expect === "roundTrips") {
    if (o.roundTrips.done) behavior = "OK";
    else reasons.push(o.roundTrips.failure ?? "the echoes did not all arrive");
  } else if (equalEvents(o.received, expect.ok)) {
    behavior = "OK";
  } else if (expect.nonStrict?.some((alternative) => equalEvents(o.received, alternative))) {
    behavior = "NON-STRICT";
    reasons.push(
      `expected ${describeEvents(expect.ok)}, got ${describeEvents(o.received)} (a non-strict outcome)`,
    );
  } else {
    reasons.push(`expected ${describeEvents(expect.ok)}, got ${describeEvents(o.received)}`);
  }

  // Close.
  const close = testCase.close;
  const closedByMe = o.closeSent?.first === true;
  const peerCode = o.closeReceived?.code ?? null;
  let closeBehavior: CloseBehavior;
  if (close.by === "peer" && o.killedOpen && o.closeReceived === undefined) {
    closeBehavior = "FAILED";
    reasons.push(
      "the peer did not fail the connection (no close frame, no TCP close) before the fuzzer gave up",
    );
  } else if ((close.by === "fuzzer") !== closedByMe) {
    closeBehavior = "FAILED";
    reasons.push(
      closedByMe
        ? "the fuzzer had to close: the connection was failed by the wrong endpoint"
        : `the peer closed first (code ${
          peerCode ?? "none"
        }): the connection was failed by the wrong endpoint`,
    );
  } else if (
    close.requireClean &&
    (o.closeSent === undefined || o.closeReceived === undefined || o.unclean !== undefined)
  ) {
    closeBehavior = "UNCLEAN";
    reasons.push(
      `unclean close: ${
        o.unclean ?? (o.closeReceived === undefined ? "no close frame from the peer" : "no close frame sent")
      }`,
    );
  } else if (peerCode !== null && !close.codes.includes(peerCode)) {
    closeBehavior = "WRONG CODE";
    reasons.push(`the peer closed with ${peerCode}; expected ${close.codes.join(" or ")} or none`);
  } else if (role === "client" && o.droppedByMe) {
    closeBehavior = "FAILED BY CLIENT";
    reasons.push(`the fuzzing client had to drop TCP: ${o.unclean ?? "the server did not close it"}`);
  } else {
    closeBehavior = "OK";
  }
  if (close.wrongEndpointFatal && (close.by === "fuzzer") !== closedByMe) behavior = "FAILED";
  if (close.wrongCodeFatal && closeBehavior === "WRONG CODE") behavior = "FAILED";

  const closeVerdict: Verdict = closeBehavior === "OK"
    ? "OK"
    : closeBehavior === "WRONG CODE" || closeBehavior === "FAILED BY CLIENT"
    ? "NON-STRICT"
    : "FAILED";
  const verdict = RANK[behavior] >= RANK[closeVerdict] ? behavior : closeVerdict;
  if (verdict === "OK") return { verdict, reason: "" };
  // How the connection ended helps explain a missing event (a TCP reset can discard data not yet read).
  if (o.unclean !== undefined && !reasons.some((r) => r.includes(o.unclean!))) reasons.push(`(${o.unclean})`);
  return { verdict, reason: reasons.join("; ") };
}

class Session {
  readonly #socket: Socket;
  readonly #case: ConformanceCase;
  readonly #role: "client" | "server";
  readonly #scale: number;
  readonly #deflate: DeflateState | undefined;
  readonly #parser: FrameParser;
  readonly #o: Observation = {
    received: [],
    closeSent: undefined,
    closeReceived: undefined,
    droppedByMe: false,
    unclean: undefined,
    violation: undefined,
    killedOpen: false,
    timedOut: false,
    roundTrips: { done: false, failure: undefined },
  };
  #tcpClosed = false;
  #pending: Uint8Array[] = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #listeners = new Set<() => void>();
  #fragment: { opcode: number; compressed: boolean; parts: Uint8Array[] } | undefined;
  #messageWaiter: ((event: Event | undefined) => void) | undefined;
  #encoded = new Map<FrameSpec, { bytes: Uint8Array; headerLength: number }>();

  constructor(socket: Socket, testCase: ConformanceCase, options: SessionOptions) {
    this.#socket = socket;
    this.#case = testCase;
    this.#role = options.role;
    this.#scale = options.timeScale ?? 1;
    this.#deflate = options.deflate;
    this.#parser = new FrameParser({
      role: options.role,
      maxPayloadSize: MAX_FRAME,
      allowedRsv: options.deflate === undefined ? 0 : 0x40,
    });
  }

  async run(head: Uint8Array | undefined, started: number): Promise<CaseResult> {
    const socket = this.#socket;
    const limit = this.#case.timeoutMs ?? 10_000;
    let hardStop: ReturnType<typeof setTimeout> | undefined;
    const closed = new Promise<void>((resolve) => {
      const onClosed = () => {
        if (this.#tcpClosed) return;
        this.#tcpClosed = true;
        this.#notify();
        resolve();
      };
      socket.once("close", onClosed);
      // Closed before the session began (between the handshake and now): no event will come.
      if (socket.destroyed || (socket as { closed?: boolean }).closed === true) queueMicrotask(onClosed);
      // Should a runtime not report the close of a destroyed socket, the case still ends.
      hardStop = setTimeout(() => {
        socket.destroy();
        onClosed();
      }, limit + CLOSE_WAIT_MS);
    });
    socket.on("error", (error: Error) => {
      this.#o.unclean ??= `socket error: ${error.message}`;
    });
    socket.on(
      "data",
      (chunk: Uint8Array) => this.#onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
    );
    socket.resume();
    if (head !== undefined && head.length > 0) this.#onData(head.slice());
    this.#timer(limit, () => {
      this.#o.timedOut = true;
      this.#drop("the case timed out");
    });
    const script = this.#script().catch((error) => {
      this.#o.violation ??= `runner error: ${(error as Error).stack ?? error}`;
      this.#drop("runner error");
    });
    await closed;
    clearTimeout(hardStop);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.race([script, new Promise((resolve) => setImmediate(resolve))]);
    const { verdict, reason } = judge(this.#case, this.#role, this.#o);
    return { id: this.#case.id, verdict, reason, durationMs: Math.round(performance.now() - started) };
  }

  // ---- the script -------------------------------------------------------------------------------------

  async #script(): Promise<void> {
    for (const step of this.#case.steps) {
      if (this.#tcpClosed) break;
      const go = await this.#step(step);
      if (!go) break;
    }
    this.#flush();
  }

  async #step(step: Step): Promise<boolean> {
    switch (step.do) {
      case "frame": {
        const { bytes } = this.#encode(step.frame);
        if (step.chop !== undefined && step.chop > 0) {
          this.#flush();
          for (let offset = 0; offset < bytes.length; offset += step.chop) {
            if (!this.#writable) break;
            await this.#write(bytes.subarray(offset, offset + step.chop));
          }
        } else if (step.sync) {
          this.#flush();
          await this.#write(bytes);
          await new Promise((resolve) => setImmediate(resolve));
        } else {
          this.#pending.push(bytes);
        }
        return true;
      }
      case "frameBytes": {
        const { bytes, headerLength } = this.#encode(step.frame);
        const from = step.from === 0 ? 0 : headerLength + step.from;
        const to = step.to === undefined ? bytes.length : headerLength + step.to;
        this.#pending.push(bytes.subarray(from, to));
        this.#flush();
        return true;
      }
      case "message":
        for (const frame of this.#messageFrames(step.opcode, step.payload, step.fragmentSize ?? 0)) {
          this.#pending.push(frame);
        }
        return true;
      case "close":
        this.#flush();
        this.#sendClose(step.payload);
        return true;
      case "wait": {
        this.#flush();
        await this.#sleepWhileOpen(step.ms * this.#scale);
        if (!this.#open) return false;
        if (step.tag !== undefined) this.#o.received.push({ type: "timeout", tag: step.tag });
        return true;
      }
      case "killAfter":
        this.#flush();
        this.#timer(step.ms * this.#scale, () => {
          if (this.#o.closeReceived === undefined) this.#o.killedOpen = true;
          this.#drop("the fuzzer dropped the connection (kill timer)");
        });
        return true;
      case "closeAfter":
        this.#flush();
        this.#timer(step.ms * this.#scale, () => {
          if (this.#open) this.#sendClose(Uint8Array.of(0x03, 0xe8));
        });
        return true;
      case "roundTrips":
        this.#flush();
        await this.#roundTrips(step.count, step.message, step.fragmentSize ?? 0);
        return true;
    }
  }

  async #roundTrips(
    count: number,
    make: (index: number) => RoundTripMessage,
    fragmentSize: number,
  ): Promise<void> {
    const state = this.#o.roundTrips;
    for (let i = 0; i < count; i++) {
      if (!this.#open) {
        state.failure ??= `the connection closed after ${i} of ${count} echoes`;
        return;
      }
      const sent = make(i);
      const echo = new Promise<Event | undefined>((resolve) => this.#messageWaiter = resolve);
      for (const frame of this.#messageFrames(sent.opcode, sent.payload, fragmentSize)) {
        this.#pending.push(frame);
      }
      this.#flush();
      const got = await echo;
      if (got === undefined) {
        state.failure ??= `the connection closed after ${i} of ${count} echoes`;
        return;
      }
      if (got.type !== "message" || got.opcode !== sent.opcode || !equalBytes(got.payload, sent.payload)) {
        state.failure ??=
          `echo ${i + 1} of ${count} differs: sent ${describeEvents([{ type: "message", ...sent }])}, ` +
          `got ${describeEvents([got])}`;
        this.#sendClose(Uint8Array.of(0x03, 0xe8));
        return;
      }
    }
    if (state.failure === undefined) state.done = true;
    if (this.#open) this.#sendClose(Uint8Array.of(0x03, 0xe8));
  }

  /** The frames of one message: compressed when permessage-deflate is in force, then fragmented. */
  #messageFrames(opcode: number, payload: Uint8Array, fragmentSize: number): Uint8Array[] {
    const compressed = this.#deflate !== undefined;
    const data = compressed ? this.#deflate!.compress(payload) : payload;
    const frames: Uint8Array[] = [];
    const size = fragmentSize > 0 ? fragmentSize : Math.max(data.length, 1);
    for (let offset = 0; offset === 0 || offset < data.length; offset += size) {
      const fin = offset + size >= data.length;
      const { bytes } = this.#encode({
        opcode: offset === 0 ? opcode : Op.Continuation,
        payload: data.subarray(offset, offset + size),
        fin,
        rsv: offset === 0 && compressed ? 4 : 0,
      });
      frames.push(bytes);
    }
    return frames;
  }

  #encode(spec: FrameSpec, cache = true): { bytes: Uint8Array; headerLength: number } {
    const cached = this.#encoded.get(spec);
    if (cached !== undefined) return cached;
    const payload = spec.payload ?? EMPTY;
    const bytes = concat(
      encodeFrame(spec.opcode, payload, { fin: spec.fin ?? true, mask: this.#role === "client" }),
    );
    // `concat` made one new buffer (a masked frame is always one): setting RSV bits touches no payload.
    bytes[0] |= ((spec.rsv ?? 0) & 7) << 4;
    const encoded = { bytes, headerLength: bytes.length - payload.length };
    if (cache) this.#encoded.set(spec, encoded);
    return encoded;
  }

  // ---- writing ----------------------------------------------------------------------------------------

  get #writable(): boolean {
    const socket = this.#socket;
    return !this.#tcpClosed && !socket.destroyed && !socket.writableEnded;
  }

  /** Whether neither side has sent a close frame and TCP is up (Autobahn's STATE_OPEN). */
  get #open(): boolean {
    return !this.#tcpClosed && this.#o.closeSent === undefined && this.#o.closeReceived === undefined;
  }

  /** Writes what is queued, as one chunk (frames queued back to back leave in one TCP write). */
  #flush(): void {
    if (this.#pending.length === 0) return;
    const data = concat(this.#pending);
    this.#pending = [];
    if (this.#writable) this.#socket.write(data);
  }

  #write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#writable) return resolve();
      this.#socket.write(bytes, () => resolve());
    });
  }

  #sendClose(payload: Uint8Array): void {
    const o = this.#o;
    if (o.closeSent !== undefined || !this.#writable) return;
    o.closeSent = { first: o.closeReceived === undefined };
    this.#flush();
    this.#socket.write(this.#encode({ opcode: Op.Close, payload }, false).bytes);
    this.#notify();
    if (o.closeReceived === undefined) {
      this.#timer(CLOSE_WAIT_MS, () => {
        if (o.closeReceived === undefined) {
          this.#drop(`no close frame from the peer within ${CLOSE_WAIT_MS} ms of ours`);
        }
      });
    }
  }

  /** Drops TCP (the fuzzing side fails the connection, or gives up waiting). */
  #drop(why: string): void {
    if (this.#tcpClosed) return;
    this.#o.droppedByMe = true;
    this.#o.unclean ??= why;
    this.#socket.destroy();
  }

  #timer(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#tcpClosed) action();
    }, ms);
    this.#timers.add(timer);
  }

  #sleepWhileOpen(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        resolve();
      };
      const check = () => {
        if (!this.#open) done();
      };
      const timer = setTimeout(done, ms);
      this.#listeners.add(check);
      check();
    });
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
    if (!this.#open && this.#messageWaiter !== undefined) {
      const waiter = this.#messageWaiter;
      this.#messageWaiter = undefined;
      waiter(undefined);
    }
  }

  // ---- reading ----------------------------------------------------------------------------------------

  #onData(chunk: Uint8Array): void {
    if (this.#o.violation !== undefined || this.#tcpClosed) return;
    this.#parser.push(chunk);
    try {
      for (let frame = this.#parser.next(); frame !== undefined; frame = this.#parser.next()) {
        this.#onFrame(frame);
        if (this.#o.violation !== undefined) return;
      }
    } catch (error) {
      this.#violate(`the peer sent an invalid frame: ${(error as Error).message}`);
    }
  }

  #violate(reason: string): void {
    this.#o.violation ??= reason;
    this.#drop(reason);
  }

  #onFrame(frame: Frame): void {
    const o = this.#o;
    if (o.closeReceived !== undefined) return this.#violate("the peer sent a frame after its close frame");
    switch (frame.opcode) {
      case Op.Close:
        return this.#onClose(frame.payload);
      case Op.Ping:
        this.#event({ type: "ping", payload: frame.payload.slice() });
        if (o.closeSent === undefined && this.#writable) {
          this.#flush();
          this.#socket.write(this.#encode({ opcode: Op.Pong, payload: frame.payload }, false).bytes);
        }
        return;
      case Op.Pong:
        return this.#event({ type: "pong", payload: frame.payload.slice() });
      case Op.Text:
      case Op.Binary:
        if (this.#fragment !== undefined) {
          return this.#violate("the peer began a data message inside a fragmented one");
        }
        this.#fragment = { opcode: frame.opcode, compressed: frame.rsv1, parts: [] };
        break;
      case Op.Continuation:
        if (this.#fragment === undefined) {
          return this.#violate("the peer sent a continuation frame with nothing to continue");
        }
        // RFC 7692 §6.1: RSV1 is set on the first frame of a message only.
        if (frame.rsv1) return this.#violate("the peer set RSV1 on a continuation frame");
        break;
      default:
        return this.#violate(`the peer sent opcode ${frame.opcode}`);
    }
    const message = this.#fragment!;
    let data: Uint8Array = frame.payload.slice();
    if (message.compressed) {
      try {
        data = this.#deflate!.decompress(data, frame.fin);
      } catch (error) {
        return this.#violate(`the peer's compressed message does not inflate: ${(error as Error).message}`);
      }
    }
    message.parts.push(data);
    if (!frame.fin) return;
    this.#fragment = undefined;
    const payload = concat(message.parts);
    if (message.opcode === Op.Text && !isUtf8(payload)) {
      return this.#violate("the peer sent a text message that is not UTF-8");
    }
    this.#event({ type: "message", opcode: message.opcode, payload });
  }

  #event(event: Event): void {
    const o = this.#o;
    if (this.#case.expect === "roundTrips") {
      if (event.type !== "message") return;
      const waiter = this.#messageWaiter;
      if (waiter === undefined) {
        o.roundTrips.failure ??= `unsolicited message: ${describeEvents([event])}`;
        return;
      }
      this.#messageWaiter = undefined;
      waiter(event);
      return;
    }
    o.received.push(event);
    // Autobahn's finishWhenDone: once what was received is the one expected outcome, close.
    const expect = this.#case.expect;
    const close = this.#case.close;
    if (
      close.by === "fuzzer" && close.autoClose !== false && expect.nonStrict === undefined &&
      equalEvents(o.received, expect.ok) && this.#open
    ) {
      this.#sendClose(Uint8Array.of(0x03, 0xe8));
    }
  }

  #onClose(payload: Uint8Array): void {
    const o = this.#o;
    let code: number | null = null;
    let reason = EMPTY;
    if (payload.length === 1) return this.#violate("the peer sent a close frame with a 1-byte payload");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isValidCloseCode(code)) {
        return this.#violate(`the peer sent close code ${code}, which is not valid on the wire`);
      }
      reason = payload.slice(2);
      if (!isUtf8(reason)) return this.#violate("the peer's close reason is not UTF-8");
    }
    o.closeReceived = { code, reason };
    if (o.closeSent === undefined) {
      // Echo the peer's code, as Autobahn does.
      this.#sendClose(code === null ? EMPTY : payload.subarray(0, 2));
    }
    this.#notify();
    if (this.#role === "server") {
      // §7.1.1: "the server MUST close the underlying TCP connection immediately" after the handshake.
      this.#flush();
      this.#socket.end();
    } else {
      // §7.1.1: the client "SHOULD wait for the server to close the connection".
      this.#timer(CLOSE_WAIT_MS, () => {
        this.#drop(`the server did not close TCP within ${CLOSE_WAIT_MS} ms of the closing handshake`);
      });
    }
  }
}

/**
 * Runs one case on a connection whose opening handshake is done; resolves when TCP has closed.
 *
 * @param socket The connected socket (flowing or paused; its `data` listeners are the session's from now).
 * @param testCase The case.
 * @param options The role, time scale, permessage-deflate state and bytes read past the handshake.
 * @returns The judged result.
 */
export function runSession(
  socket: Socket,
  testCase: ConformanceCase,
  options: SessionOptions,
): Promise<CaseResult> {
  return new Session(socket, testCase, options).run(options.head, options.started ?? performance.now());
}

/**
 * A failed result for a case that never got to run (the opening handshake failed, say).
 *
 * @param id The case number.
 * @param reason Why.
 * @param started When the case started (`performance.now()`).
 * @returns The result.
 */
export function failedResult(id: string, reason: string, started: number): CaseResult {
  return { id, verdict: "FAILED", reason, durationMs: Math.round(performance.now() - started) };
}
