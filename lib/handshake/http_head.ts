/**
 * Reading and parsing HTTP/1.1 heads (RFC 9112 §2-§5) from a byte stream, for the handshakes that run over
 * raw transports: the client reading a 101, a raw listener reading an upgrade request.
 *
 * @module
 */

/** A head read from a stream, and the bytes that followed it. */
export interface HttpHead {
  /** The head as text (latin1), without the blank line. */
  head: string;
  /** Bytes read past the head (the start of the WebSocket stream). */
  rest: Uint8Array;
}

/** Why reading a head failed, with the HTTP status a server answers it with. */
export class HttpHeadError extends Error {
  /** 431 for a head too large, 408 for one too slow, 400 for a malformed one or a stream that ended. */
  readonly status: number;

  /**
   * @param status The HTTP status that fits.
   * @param message What went wrong.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpHeadError";
    this.status = status;
  }
}

const latin1 = new TextDecoder("latin1");

/**
 * What is read from: a byte stream's reader. Only `read` is used, so a reader typed by any runtime's
 * declarations fits (Bun's adds `readMany` to the global one, which Node's `stream/web` reader lacks).
 */
export interface ByteReader {
  /** The next chunk, or `done`. */
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
}

/**
 * Reads from `reader` until a blank line ends the head, within `maxSize` bytes and `timeout` ms.
 *
 * @param reader The stream's reader; it stays locked, positioned after the bytes returned in `rest`.
 * @param limits The largest head and the longest wait.
 * @returns The head and the bytes after it.
 * @throws {HttpHeadError} 431, 408, or 400 when the stream ends first.
 */
export async function readHttpHead(
  reader: ByteReader,
  limits: { maxSize: number; timeout: number },
): Promise<HttpHead> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpHeadError(408, `no complete head within ${limits.timeout} ms`)), limits.timeout);
  });
  try {
    let received = new Uint8Array(0);
    for (;;) {
      const { value, done } = await Promise.race([reader.read(), timedOut]);
      if (done || value === undefined) throw new HttpHeadError(400, "the connection closed before the head was complete");
      const joined = new Uint8Array(received.length + value.length);
      joined.set(received);
      joined.set(value, received.length);
      const end = findHeadEnd(joined, Math.max(0, received.length - 3));
      received = joined;
      // The limit holds however the head was chunked.
      if ((end === -1 ? received.length : end) > limits.maxSize) {
        throw new HttpHeadError(431, `the head exceeds ${limits.maxSize} bytes`);
      }
      if (end !== -1) return { head: latin1.decode(received.subarray(0, end)), rest: received.subarray(end + 4) };
    }
  } finally {
    clearTimeout(timer);
  }
}

function findHeadEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

function parseHeaderLines(lines: string[], kind: "request" | "response"): Headers {
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon."
    if (colon <= 0 || /[ \t]/.test(line[colon - 1])) throw new Error(`malformed ${kind} header line: ${line.slice(0, 80)}`);
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ""));
    } catch {
      throw new Error(`malformed ${kind} header line: ${line.slice(0, 80)}`);
    }
  }
  return headers;
}

/**
 * Parses an HTTP/1.1 response head (status line and header lines).
 *
 * @param head The head as text.
 * @returns The status and headers.
 * @throws {Error} When the head is malformed or not HTTP/1.1.
 */
export function parseResponseHead(head: string): { status: number; headers: Headers } {
  const lines = head.split("\r\n");
  // RFC 7230 §6.7: Upgrade and 101 are HTTP/1.1 ("A server MUST ignore an Upgrade header field that is
  // received in an HTTP/1.0 request"): an HTTP/1.0 status line cannot come from a hop that switched.
  const match = /^HTTP\/1\.1 (\d{3})(?: .*)?$/.exec(lines[0]);
  if (match === null) throw new Error(`the response does not start with an HTTP/1.1 status line: ${lines[0].slice(0, 80)}`);
  return { status: Number(match[1]), headers: parseHeaderLines(lines.slice(1), "response") };
}

/**
 * Parses an HTTP/1.x request head into a `Request` (no body: an upgrade request has none).
 *
 * @param head The head as text.
 * @param scheme `http` or `https`, for the request's URL.
 * @returns The request and its HTTP version.
 * @throws {Error} When the head is malformed.
 */
export function parseRequestHead(head: string, scheme: "http" | "https"): { request: Request; version: string } {
  const lines = head.split("\r\n");
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0]);
  if (match === null) throw new Error(`malformed request line: ${lines[0].slice(0, 80)}`);
  const [, method, target, version] = match;
  const headers = parseHeaderLines(lines.slice(1), "request");
  const url = new URL(target, `${scheme}://${headers.get("host") ?? "localhost"}`);
  return { request: new Request(url.href, { method, headers }), version };
}

const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};

/**
 * Serializes a `Response` as an HTTP/1.1 response for a raw socket: a 101 is the head alone; anything else
 * gets its body, `content-length` and `connection: close` (a refused upgrade ends the connection).
 *
 * @param response The response.
 * @returns The bytes to write.
 */
export async function serializeResponse(response: Response): Promise<Uint8Array> {
  const switching = response.status === 101;
  const body = switching || response.body === null ? new Uint8Array(0) : new Uint8Array(await response.arrayBuffer());
  let head = `HTTP/1.1 ${response.status} ${response.statusText || REASONS[response.status] || ""}\r\n`;
  response.headers.forEach((value, name) => {
    head += `${name}: ${value}\r\n`;
  });
  if (!switching) head += `content-length: ${body.length}\r\nconnection: close\r\n`;
  const headBytes = new TextEncoder().encode(head + "\r\n");
  if (body.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}
