/**
 * The little HTTP/1.1 the fuzzing side needs for the opening handshake (RFC 6455 §4), written here rather
 * than borrowed from the engine under test.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Socket } from "node:net";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HEAD = 16 * 1024;

/**
 * `Sec-WebSocket-Accept` for a key (§4.2.2): base64 of the SHA-1 of the key and the GUID.
 *
 * @param key The `Sec-WebSocket-Key`.
 * @returns The accept value.
 */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** A parsed HTTP head: the start line and the headers (names lowercased, repeated ones joined by ", "). */
export interface HttpHead {
  startLine: string;
  headers: Map<string, string>;
}

/**
 * Reads an HTTP head from a socket, then pauses the socket and stops listening, so that no byte is lost
 * before the next reader attaches.
 *
 * @param socket A connected socket.
 * @param timeoutMs Bound on the wait.
 * @returns The head and the bytes read past it.
 * @throws {Error} On timeout, a closed socket, or a head over 16 KiB.
 */
export function readHead(socket: Socket, timeoutMs: number): Promise<{ head: HttpHead; rest: Uint8Array }> {
  return new Promise((resolve, reject) => {
    let buffered = new Uint8Array(0);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("error", onError);
    };
    const fail = (message: string) => {
      cleanup();
      reject(new Error(message));
    };
    const onClose = () => fail("the connection closed during the opening handshake");
    const onError = (error: Error) => fail(`socket error during the opening handshake: ${error.message}`);
    const onData = (chunk: Uint8Array) => {
      const joined = new Uint8Array(buffered.length + chunk.length);
      joined.set(buffered);
      joined.set(chunk, buffered.length);
      buffered = joined;
      let end = -1;
      for (let i = 0; i + 3 < buffered.length; i++) {
        if (
          buffered[i] === 13 && buffered[i + 1] === 10 && buffered[i + 2] === 13 && buffered[i + 3] === 10
        ) {
          end = i;
          break;
        }
      }
      if (end === -1) {
        if (buffered.length > MAX_HEAD) fail(`the HTTP head exceeds ${MAX_HEAD} bytes`);
        return;
      }
      socket.pause();
      cleanup();
      try {
        resolve({
          head: parseHead(new TextDecoder().decode(buffered.subarray(0, end))),
          rest: buffered.slice(end + 4),
        });
      } catch (error) {
        reject(error);
      }
    };
    const timer = setTimeout(() => fail(`no complete HTTP head within ${timeoutMs} ms`), timeoutMs);
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.once("error", onError);
    socket.resume();
  });
}

function parseHead(text: string): HttpHead {
  const [startLine, ...lines] = text.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed header line: ${line.slice(0, 80)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { startLine, headers };
}

/**
 * Whether a comma-separated header value contains a token (ASCII case-insensitive).
 *
 * @param value The header value, or `undefined`.
 * @param token The token.
 * @returns Whether it is there.
 */
export function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(",").some((part) => part.trim().toLowerCase() === token);
}
