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

export { computeAcceptKey, isValidKey, WEBSOCKET_GUID } from "./lib/accept_key.ts";
export {
  type ClientDeflateOptions,
  ClientHandshake,
  type ClientHandshakeOptions,
  type ClientHandshakeResult,
  parseWebSocketUrl,
} from "./lib/client_handshake.ts";
export { type ClientConnection, type ConnectOptions, connectTransport, parseResponseHead } from "./lib/connect_transport.ts";
export type { Compressor, CompressorOptions, DeflateCodec, Decompressor } from "./lib/deflate_codec.ts";
export {
  type DeflateAcceptance,
  type DeflateNegotiationOptions,
  acceptDeflateOffer,
  deflateOffer,
  type DeflateParameters,
  PERMESSAGE_DEFLATE,
  verifyDeflateResponse,
} from "./lib/deflate_negotiation.ts";
export { type ExtensionOffer, formatExtensions, parseExtensions } from "./lib/extension_header.ts";
export { type ClientOptions, openClient } from "./lib/open_client.ts";
export { pakoCodec } from "./lib/pako_codec.ts";
export {
  defaultCodec,
  zlibWasmAvailable,
  zlibWasmCodec,
  type ZlibWasmMemory,
  zlibWasmMemory,
} from "./lib/zlib_wasm_codec.ts";
export { PerMessageDeflate, type PerMessageDeflateOptions } from "./lib/permessage_deflate.ts";
export { CloseCode, isValidCloseCode } from "./lib/close_code.ts";
export { type CloseResult, Connection, type ConnectionOptions, type Transport } from "./lib/connection.ts";
export { encodeFrame, type EncodeFrameOptions } from "./lib/encode_frame.ts";
export type { EncodeOptions, Extension } from "./lib/extension.ts";
export type { Frame } from "./lib/frame.ts";
export { FrameDecoderStream, type FrameDecoderStreamOptions } from "./lib/frame_decoder_stream.ts";
export { FrameEncoderStream, type FrameEncoderStreamOptions } from "./lib/frame_encoder_stream.ts";
export { DEFAULT_MAX_MESSAGE_SIZE, FrameParser, type FrameParserOptions, type PartialFrame } from "./lib/frame_parser.ts";
export { hasToken, isToken, parseTokenList } from "./lib/header_tokens.ts";
export { applyMask, writeMaskKey } from "./lib/mask.ts";
export { MessageAssembler, type MessageAssemblerOptions } from "./lib/message_assembler.ts";
export { MessageAssemblerStream, type MessageAssemblerStreamOptions } from "./lib/message_assembler_stream.ts";
export { MessageFragmenterStream, type MessageFragmenterStreamOptions } from "./lib/message_fragmenter_stream.ts";
export { isControlOpcode, isKnownOpcode, Opcode } from "./lib/opcode.ts";
export {
  type CloseInfo,
  decodeClosePayload,
  encodeClosePayload,
  Protocol,
  type ProtocolEvent,
  type ProtocolOptions,
  type SendOptions,
} from "./lib/protocol.ts";
export { ProtocolError } from "./lib/protocol_error.ts";
export { CloseEvent, type CloseEventInit, WebSocket, type WebSocketOptions } from "./lib/websocket.ts";
export { type WebSocketCloseInfo, WebSocketError } from "./lib/websocket_error.ts";
export { type WebSocketOpenInfo, WebSocketStream, type WebSocketStreamOptions } from "./lib/websocket_stream.ts";
export { ReadyState } from "./lib/ready_state.ts";
export {
  type OriginPolicy,
  type ProtocolSelector,
  type ServerDeflateOptions,
  serverHandshake,
  type ServerHandshake,
  type ServerHandshakeOptions,
} from "./lib/server_handshake.ts";
