/**
 * One WebSocket connection built from the public TransformStreams, after the opening handshake: what
 * `examples/stream_client.ts` and `examples/stream_server.ts` share. No `Connection` here: the four streams,
 * given the handshake's `negotiated` extensions (permessage-deflate), do framing, masking, fragmentation,
 * compression and inflation; this file adds what the streams leave to their user: answering pings, the
 * close handshake (RFC 6455 §5.5.1, §7), and failing the connection with the close code of an error.
 *
 *   receive: transport.readable → FrameDecoderStream → MessageAssemblerStream → session.readable (messages)
 *   send:    session.writable (messages) → MessageFragmenterStream → FrameEncoderStream → transport.writable
 *                       control frames (pong, close) ──────────────────┘ (between fragments, §5.4)
 *
 * Backpressure runs end to end: every hop is a `pipeTo`, so a reader that stops reading `readable` stops
 * the reads from the transport (the socket is paused, TCP's window closes, the peer's writes wait), and a
 * transport that cannot send makes `writable`'s `writer.ready` wait.
 *
 * Runs on Deno, Bun and Node 20+ (only Web streams and this library).
 *
 * @module
 */

import {
  CloseCode,
  decodeClosePayload,
  encodeClosePayload,
  type Extension,
  type Frame,
  FrameDecoderStream,
  FrameEncoderStream,
  MessageAssemblerStream,
  MessageFragmenterStream,
  Opcode,
  type OutgoingMessage,
  ProtocolError,
  type Transport,
} from "../mod.ts";

/** Options for {@linkcode openStreamSession}. */
export interface StreamSessionOptions {
  /** Largest message received, after inflating. @default {16777216} */
  maxMessageSize?: number;
  /** Largest frame payload sent; longer messages are fragmented. @default {Infinity} */
  fragmentSize?: number;
  /**
   * Called with every data frame as it passes, in (`"in"`, before inflating) or out (`"out"`, compressed):
   * to see RSV1 on the wire. It adds one stream hop each way; leave it out for speed.
   * @default {undefined}
   */
  onFrame?: (frame: Frame, direction: "in" | "out") => void;
  /** Milliseconds to wait for the peer's Close after sending ours, then the transport is dropped. @default {5000} */
  closeTimeout?: number;
}

/** How the connection ended. */
export interface StreamSessionClose {
  /** The code: the peer's (1005 when its Close had none), ours when we failed the connection, 1006 with no Close. */
  code: number;
  /** The reason. */
  reason: string;
  /** Both Close frames were exchanged. */
  wasClean: boolean;
}

/** An open connection: messages in, messages out, and its end. */
export interface StreamSession {
  /** Messages from the peer: `string` for text, `Uint8Array` for binary. Ends after the close. */
  readable: ReadableStream<string | Uint8Array>;
  /** Messages to the peer; an `OutgoingMessage` with `compress: false` is sent uncompressed. */
  writable: WritableStream<string | Uint8Array | OutgoingMessage>;
  /** Resolves once the connection has ended. */
  closed: Promise<StreamSessionClose>;
  /**
   * Starts the close handshake: waits for the messages written so far to be framed, sends a Close, then
   * waits for the peer's. Resolves with {@linkcode StreamSession.closed}'s value.
   */
  close(code?: number, reason?: string): Promise<StreamSessionClose>;
}

/**
 * Runs one WebSocket connection over `transport` with the public streams.
 *
 * @param transport The bytes after the handshake (`{ readable, writable }`).
 * @param role `"client"` masks what it sends and requires unmasked frames; `"server"` the reverse (§5.1).
 * @param extensions The handshake's `negotiated` extensions, unchanged.
 * @param options Limits, fragmenting, a frame tap.
 * @returns The session.
 */
export function openStreamSession(
  transport: Transport,
  role: "client" | "server",
  extensions: Extension[],
  options: StreamSessionOptions = {},
): StreamSession {
  const onFrame = options.onFrame;
  const closeTimeout = options.closeTimeout ?? 5000;

  // Send side: one writer into the encoder, shared by the data frames (from the fragmenter) and the control
  // frames this file sends. §5.3: "A client MUST mask all frames that it sends to the server"; §5.1: "A
  // server MUST NOT mask any frames that it sends to the client".
  const encoder = new FrameEncoderStream({ mask: role === "client" });
  const sent = encoder.readable.pipeTo(transport.writable);
  const frames = encoder.writable.getWriter();
  const fragmenter = new MessageFragmenterStream({ fragmentSize: options.fragmentSize, extensions });
  let closeSent = false;
  let closeReceived: { code: number; reason: string } | undefined;
  const stopSending = new AbortController();
  const dataSent = fragmenter.readable.pipeTo(
    new WritableStream<Frame>({
      write(frame) {
        // §5.5.1: "The application MUST NOT send any more data frames after sending a Close frame."
        if (closeSent) throw new TypeError("Cannot send: the connection is closing");
        onFrame?.(frame, "out");
        return frames.write(frame);
      },
    }),
    { signal: stopSending.signal },
  );
  dataSent.catch(() => {}); // reported through writable

  let settle!: (close: StreamSessionClose) => void;
  const closed = new Promise<StreamSessionClose>((resolve) => settle = resolve);
  let ended = false;
  let timer: ReturnType<typeof setTimeout> | undefined; // the wait for the peer's Close
  let dropTimer: ReturnType<typeof setTimeout> | undefined; // a client's wait for the server to close TCP
  const stopReading = new AbortController();
  const end = (close: StreamSessionClose) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    settle(close);
    // No data frame may follow our Close: messages still queued are refused (their writes reject).
    stopSending.abort(new TypeError(`Cannot send: the connection closed with ${close.code}`));
    // Our writing half ends after the last frame. §7.1.1: "the underlying TCP connection, in most normal
    // cases, SHOULD be closed first by the server": a server stops reading (the transport goes) once its
    // bytes are out; a client waits for the server's end of the stream, for at most closeTimeout.
    frames.close().catch(() => {});
    sent.catch(() => {}).finally(() => {
      if (role === "server" || !close.wasClean) stopReading.abort();
      else dropTimer = setTimeout(() => stopReading.abort(), closeTimeout);
    });
  };

  const sendClose = (code: number, reason: string) => {
    if (closeSent) return;
    closeSent = true;
    const payload = encodeClosePayload(code === CloseCode.NoStatusReceived ? undefined : code, reason);
    frames.write({ fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: Opcode.Close, payload }).catch(() => {});
  };

  // Fail the WebSocket Connection (§7.1.7) with the close code the error carries; unexpected errors are 1011.
  const fail = (error: unknown) => {
    if (ended) return;
    const code = error instanceof ProtocolError ? error.code : CloseCode.InternalError;
    // 1006 is never sent (§7.4.1): the input ended inside a frame or message.
    if (code !== CloseCode.AbnormalClosure) sendClose(code, "");
    end({ code, reason: error instanceof Error ? error.message : String(error), wasClean: false });
  };

  const onControlFrame = (frame: Frame) => {
    if (frame.opcode === Opcode.Ping) {
      // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response, unless it
      // already received a Close frame" with "identical "Application data"".
      if (!closeSent) frames.write({ ...frame, opcode: Opcode.Pong }).catch(() => {});
    } else if (frame.opcode === Opcode.Close) {
      const info = decodeClosePayload(frame.payload); // a bad Close throws a ProtocolError: 1002 or 1007
      closeReceived = info;
      // §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close frame, the
      // endpoint MUST send a Close frame in response", "typically echoing the status code it received".
      sendClose(info.code, "");
      end({ code: info.code, reason: info.reason, wasClean: true });
    }
  };

  // Receive side.
  const decoder = new FrameDecoderStream({ role, extensions, maxPayloadSize: options.maxMessageSize });
  const assembler = new MessageAssemblerStream({ extensions, maxMessageSize: options.maxMessageSize, onControlFrame });
  // preventAbort: when reading stops after the close, the decoder is closed rather than errored, so that
  // `readable` ends normally.
  transport.readable.pipeTo(decoder.writable, { signal: stopReading.signal, preventAbort: true }).then(
    () => clearTimeout(dropTimer),
    (error) => {
      clearTimeout(dropTimer);
      if (error instanceof ProtocolError) fail(error);
      // Reading stopped after the close, or the transport broke (reset): no more frames.
      else end({ code: CloseCode.AbnormalClosure, reason: String(error), wasClean: false });
      decoder.writable.close().catch(() => {});
    },
  );
  let frameSource: ReadableStream<Frame> = decoder.readable;
  if (onFrame !== undefined) {
    frameSource = frameSource.pipeThrough(
      new TransformStream<Frame, Frame>({
        transform(frame, controller) {
          if (frame.opcode < Opcode.Close) onFrame(frame, "in");
          controller.enqueue(frame);
        },
      }),
    );
  }
  const received = frameSource.pipeTo(assembler.writable);
  // Once nothing more is compressed or inflated, the extensions' codec memory goes (RFC 7692 state, up to
  // ~300 KiB a connection with context takeover). Messages already assembled stay readable.
  Promise.allSettled([dataSent, received]).then(() => {
    for (const extension of extensions) extension.release?.();
  });
  received.then(
    // The transport ended: cleanly after a Close, abnormally (1006) without one.
    () => end(closeReceived === undefined ? { code: CloseCode.AbnormalClosure, reason: "", wasClean: false } : { ...closeReceived, wasClean: true }),
    fail,
  );

  const close = async (code = CloseCode.NormalClosure, reason = ""): Promise<StreamSessionClose> => {
    // Messages already written go first (unless the caller still holds a writer on `writable`); then the Close.
    if (!fragmenter.writable.locked) {
      await fragmenter.writable.close().catch(() => {});
      await dataSent.catch(() => {});
    }
    if (ended) return closed;
    sendClose(code, reason);
    timer ??= setTimeout(() => end({ code: CloseCode.AbnormalClosure, reason: "no Close from the peer in time", wasClean: false }), closeTimeout);
    return closed;
  };

  return { readable: assembler.readable, writable: fragmenter.writable, closed, close };
}
