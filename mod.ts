/**
 * A WebSocket engine for Deno, Bun, Node and edge runtimes: RFC 6455 framing and handshake on Web
 * standards (`Request`/`Response`, WHATWG streams, Web Crypto), with a sans-I/O protocol core.
 *
 * Layers, from the bottom: the core ({@linkcode Protocol}, {@linkcode FrameParser},
 * {@linkcode encodeFrame}, {@linkcode MessageAssembler}) and the TransformStreams over it for building
 * one's own pipeline ({@linkcode FrameDecoderStream}, {@linkcode FrameEncoderStream},
 * {@linkcode MessageAssemblerStream}, {@linkcode MessageFragmenterStream}); the opening handshake
 * ({@linkcode serverHandshake}, {@linkcode ClientHandshake}); permessage-deflate
 * ({@linkcode PerMessageDeflate}); the connection driver ({@linkcode Connection}); the APIs
 * ({@linkcode WebSocket}, {@linkcode WebSocketStream}); adapters for each runtime (`./node-http`,
 * `./node-client`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Protocol } from "./mod.ts";
 * const server = new Protocol({ role: "server" });
 * server.receive(new Uint8Array([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
 * assert(server.takeEvents()[0].type === "message");
 * ```
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
  defaultCodec,
  loadDefaultCodec,
  zlibWasmAvailable,
  zlibWasmCodec,
  type ZlibWasmMemory,
  zlibWasmMemory,
} from "./lib/deflate/zlib_wasm_codec.ts";
export { PerMessageDeflate, type PerMessageDeflateOptions } from "./lib/deflate/permessage_deflate.ts";
export { CloseCode, isValidCloseCode } from "./lib/core/close_code.ts";
export { consoleLogger, debugEnabled, type Logger, type LogFields } from "./lib/core/logger.ts";
export {
  type CloseResult,
  Connection,
  type ConnectionOptions,
  type PublishedMessage,
  type PublishQueueOptions,
  type SlowConsumerPolicy,
  type Transport,
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
export { CloseEvent, type CloseEventInit, WebSocket, type WebSocketOptions } from "./lib/client/websocket.ts";
export {
  type BackoffOptions,
  DEFAULT_TERMINAL_CODES,
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
