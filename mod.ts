/**
 * WebSocket servers and clients for Deno, Bun, Node 20+ and Cloudflare Workers (RFC 6455), with
 * permessage-deflate (RFC 7692), topics (rooms) and a reconnecting client, on Web standards
 * (`Request`/`Response`, WHATWG streams, Web Crypto) over a sans-I/O protocol core.
 *
 * A server first: `serve()` from `./serve` runs the same code on Deno, Bun and Node, answers plain HTTP
 * requests with a `fetch`-style handler and upgrades the rest. Then a client: {@linkcode WebSocket} is the
 * browser's API, compression included (or {@linkcode WebSocketStream} with backpressure, or
 * {@linkcode ReconnectingWebSocket}, which comes back by itself):
 *
 * ```ts
 * import { serve } from "@wsengine/wsengine/serve";
 * import { WebSocket } from "@wsengine/wsengine";
 *
 * const server = await serve({
 *   port: 0, // a free port (8080, say)
 *   websocket: { message: (socket, data) => socket.send(data) }, // echo
 * });
 * const socket = new WebSocket(server.url);
 * socket.onopen = () => socket.send("Hello");
 * const reply = await new Promise((resolve) => socket.onmessage = (event) => resolve(event.data));
 * console.log(reply, socket.extensions); // Hello permessage-deflate
 * socket.close(1000);
 * await new Promise((resolve) => socket.onclose = resolve);
 * await server.close();
 * ```
 *
 * Entry points (npm: `wsengine`, `wsengine/serve`, ...):
 *
 * | import | what | runs on |
 * |---|---|---|
 * | `@wsengine/wsengine` | clients ({@linkcode WebSocket}, {@linkcode WebSocketStream}, {@linkcode ReconnectingWebSocket}), topics ({@linkcode createPubSub}), the handshake ({@linkcode serverHandshake}), the connection driver ({@linkcode Connection}), permessage-deflate and its codecs, the core and its TransformStreams | all, browsers included (a client needs a `transport` where there is no `node:net`, as on Cloudflare Workers) |
 * | `@wsengine/wsengine/serve` | `serve()`: a server on `node:http` | Deno, Bun, Node |
 * | `@wsengine/wsengine/bun-serve` | `bunServe()`, spread into `Bun.serve` | Bun |
 * | `@wsengine/wsengine/deno-serve` | `denoServe()`, the handler of `Deno.serve` | Deno |
 * | `@wsengine/wsengine/deno-listen` | `listenDeno()`: a server on `Deno.listen` (this library's permessage-deflate, no `node:`) | Deno |
 * | `@wsengine/wsengine/bun-listen` | `listenBun()`: a server on `Bun.listen` (this library's permessage-deflate, no `node:`) | Bun |
 * | `@wsengine/wsengine/cloudflare` | `cloudflareServe()` on a Worker's `WebSocketPair`, `durableObjectServe()` for a Durable Object (hibernation API) | Cloudflare Workers |
 * | `@wsengine/wsengine/node-http` | `handleNodeUpgrade()` for a `node:http` server's `upgrade` event | Deno, Bun, Node |
 * | `@wsengine/wsengine/node-client` | `connectNode()`: a client connection over `node:net`/`node:tls` | Deno, Bun, Node |
 * | `@wsengine/wsengine/node-socket` | `socketToTransport()`: a `node:net` socket as a transport | Deno, Bun, Node |
 * | `@wsengine/wsengine/node-zlib-codec` | `nodeZlibCodec`: deflate through `node:zlib` for large messages | Deno, Bun, Node |
 * | `@wsengine/wsengine/pubsub` | `createPubSub()` and the topic registry alone | all |
 * | `@wsengine/wsengine/redis` | `redisBackplane()`: topics across processes through Redis | Deno, Bun, Node |
 *
 * Inside `Bun.serve` and `Deno.serve`, the same callbacks:
 *
 * ```ts ignore
 * import { bunServe } from "@wsengine/wsengine/bun-serve";
 * Bun.serve({ port: 8080, ...bunServe({ websocket: { message: (socket, data) => socket.send(data) } }) });
 * ```
 *
 * ```ts ignore
 * import { denoServe } from "@wsengine/wsengine/deno-serve";
 * Deno.serve({ port: 8080 }, denoServe({ websocket: { message: (socket, data) => socket.send(data) } }));
 * ```
 *
 * Below the APIs, for building one's own: the core ({@linkcode Protocol}: bytes in, events and bytes out,
 * no I/O), the TransformStreams over it ({@linkcode FrameDecoderStream}, {@linkcode FrameEncoderStream},
 * {@linkcode MessageAssemblerStream}, {@linkcode MessageFragmenterStream}), the opening handshake
 * ({@linkcode serverHandshake}, {@linkcode ClientHandshake}) and permessage-deflate
 * ({@linkcode PerMessageDeflate}; zlib compiled to WebAssembly, pako where WebAssembly cannot be compiled).
 *
 * @module
 */

export { computeAcceptKey, isValidKey, WEBSOCKET_GUID } from "./lib/handshake/accept_key.ts";
export {
  type ClientDeflateOptions,
  ClientHandshake,
  type ClientHandshakeOptions,
  type ClientHandshakeResult,
  parseWebSocketUrl,
} from "./lib/handshake/client_handshake.ts";
export { type ClientConnection, type ConnectOptions, connectTransport, parseResponseHead } from "./lib/client/connect_transport.ts";
export type { Compressor, CompressorOptions, DeflateCodec, Decompressor } from "./lib/deflate/codec.ts";
export {
  type DeflateAcceptance,
  type DeflateNegotiationOptions,
  acceptDeflateOffer,
  deflateOffer,
  type DeflateParameters,
  PERMESSAGE_DEFLATE,
  verifyDeflateResponse,
} from "./lib/deflate/negotiation.ts";
export { type ExtensionOffer, formatExtensions, parseExtensions } from "./lib/handshake/extension_header.ts";
export { HandshakeRefusedError } from "./lib/handshake/handshake_refused_error.ts";
export { type ClientOptions, openClient } from "./lib/client/open_client.ts";
export { pakoCodec } from "./lib/deflate/pako_codec.ts";
export {
  DEFAULT_COMPRESSOR_BUDGET,
  DEFAULT_DECOMPRESSOR_BUDGET,
  defaultCodec,
  loadDefaultCodec,
  setZlibWasmBudget,
  type ZlibWasmBudget,
  zlibWasmAvailable,
  zlibWasmCodec,
  type ZlibWasmMemory,
  zlibWasmMemory,
} from "./lib/deflate/zlib_wasm_codec.ts";
export {
  DEFAULT_PARALLEL_THRESHOLD,
  type ParallelDeflateOptions,
  PerMessageDeflate,
  type PerMessageDeflateOptions,
} from "./lib/deflate/permessage_deflate.ts";
export { closeDeflateWorkers } from "./lib/deflate/parallel_deflate.ts";
export { CloseCode, isValidCloseCode } from "./lib/core/close_code.ts";
export { consoleLogger, debugEnabled, type Logger, type LogFields } from "./lib/core/logger.ts";
export {
  type CloseResult,
  Connection,
  type ConnectionOptions,
  type PublishedMessage,
  type PublishQueueOptions,
  QUEUED_MESSAGE_COST,
  type SlowConsumerPolicy,
  type Transport,
  type TransportWriter,
} from "./lib/connection.ts";
export {
  createPubSub,
  type PublishOptions,
  PubSub,
  type PubSubOptions,
  type PubSubStats,
  type Subscriber,
  TopicEvent,
} from "./lib/pubsub/pubsub.ts";
export {
  type PresenceBackplane,
  PresenceEvent,
  type PresenceJoin,
  type PresenceMember,
  type PresenceOptions,
  type PresenceReceiver,
  type SocketSubscribeOptions,
} from "./lib/pubsub/presence.ts";
export type {
  HistoryBackplane,
  HistoryData,
  HistoryEntry,
  HistoryOption,
  HistoryOptions,
  HistoryPage,
  HistoryRead,
  HistoryReadOptions,
  PublishData,
  Recovery,
  ResolvedHistoryOptions,
  StreamPosition,
} from "./lib/pubsub/history.ts";
export type { HistoryStats } from "./lib/pubsub/history_topics.ts";
export { PreparedMessage, type PreparedMessageOptions } from "./lib/pubsub/prepared_message.ts";
export type { Backplane, BackplaneReceiver, RemoteMessage } from "./lib/pubsub/backplane.ts";
export { TopicSocket } from "./lib/pubsub/topic_socket.ts";
export { encodeFrame, type EncodeFrameOptions } from "./lib/core/encode_frame.ts";
export type { EncodeOptions, Extension } from "./lib/core/extension.ts";
export type { Frame } from "./lib/core/frame.ts";
export { FrameDecoderStream, type FrameDecoderStreamOptions } from "./lib/streams/frame_decoder_stream.ts";
export { FrameEncoderStream, type FrameEncoderStreamOptions } from "./lib/streams/frame_encoder_stream.ts";
export { DEFAULT_MAX_MESSAGE_SIZE, FrameParser, type FrameParserOptions, type PartialFrame } from "./lib/core/frame_parser.ts";
export { hasToken, isToken, parseTokenList } from "./lib/handshake/header_tokens.ts";
export { applyMask, writeMaskKey } from "./lib/core/mask.ts";
export { MessageAssembler, type MessageAssemblerOptions } from "./lib/core/message_assembler.ts";
export { MessageAssemblerStream, type MessageAssemblerStreamOptions } from "./lib/streams/message_assembler_stream.ts";
export { MessageFragmenterStream, type MessageFragmenterStreamOptions } from "./lib/streams/message_fragmenter_stream.ts";
export type { OutgoingMessage } from "./lib/streams/message_fragmenter_stream.ts";
export { isControlOpcode, isKnownOpcode, Opcode } from "./lib/core/opcode.ts";
export {
  type CloseInfo,
  decodeClosePayload,
  encodeClosePayload,
  Protocol,
  type ProtocolEvent,
  type ProtocolOptions,
  type SendOptions,
} from "./lib/core/protocol.ts";
export { ProtocolError } from "./lib/core/protocol_error.ts";
export {
  type BinaryType,
  CloseEvent,
  type CloseEventConstructor,
  type CloseEventInit,
  type Handler as WebSocketEventHandler,
  WebSocket,
  type WebSocketOptions,
} from "./lib/client/websocket.ts";
export {
  type AutoPingOptions,
  type BackoffOptions,
  type BasicEventInit,
  DEFAULT_TERMINAL_CODES,
  type Handler as ReconnectingEventHandler,
  type MessageData,
  type NetworkStatus,
  type OfflineQueuePolicy,
  type PerAttempt,
  ReconnectingCloseEvent,
  type ReconnectingCloseEventInit,
  ReconnectingDropEvent,
  type ReconnectingDropEventInit,
  ReconnectingErrorEvent,
  type ReconnectingErrorEventInit,
  ReconnectingOpenEvent,
  type ReconnectingOpenEventInit,
  type ReconnectingState,
  ReconnectingWebSocket,
  type ReconnectingWebSocketOptions,
  type ReconnectInfo,
  type WebSocketClass,
  type WebSocketLike,
} from "./lib/client/reconnecting_websocket.ts";
export { type WebSocketCloseInfo, WebSocketError } from "./lib/client/websocket_error.ts";
export { type WebSocketOpenInfo, WebSocketStream, type WebSocketStreamOptions } from "./lib/client/websocket_stream.ts";
export { ReadyState } from "./lib/core/ready_state.ts";
export {
  type OriginPolicy,
  type ProtocolSelector,
  type ServerDeflateOptions,
  serverHandshake,
  type ServerHandshake,
  type ServerHandshakeOptions,
  type UpgradeAcceptance,
  type UpgradeHook,
} from "./lib/handshake/server_handshake.ts";
