/**
 * A WebSocket engine for Deno, Bun, Node and edge runtimes: RFC 6455 framing and handshake on Web
 * standards (`Request`/`Response`, WHATWG streams, Web Crypto), with a sans-I/O protocol core.
 *
 * Layers, from the bottom: the core ({@linkcode Protocol}, {@linkcode FrameParser},
 * {@linkcode encodeFrame}, {@linkcode MessageAssembler}); the opening handshake
 * ({@linkcode serverHandshake}); the connection driver ({@linkcode Connection}); adapters for each runtime
 * (`./node-http`).
 *
 * @example
 * ```ts
 * import { Protocol } from "./mod.ts";
 * const server = new Protocol({ role: "server" });
 * server.receive(new Uint8Array([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
 * console.assert(server.takeEvents()[0].type === "message");
 * ```
 *
 * @module
 */

export { computeAcceptKey, isValidKey, WEBSOCKET_GUID } from "./lib/accept_key.ts";
export { CloseCode, isValidCloseCode } from "./lib/close_code.ts";
export { type CloseResult, Connection, type ConnectionOptions, type Transport } from "./lib/connection.ts";
export { encodeFrame, type EncodeFrameOptions } from "./lib/encode_frame.ts";
export type { Extension } from "./lib/extension.ts";
export type { Frame } from "./lib/frame.ts";
export { DEFAULT_MAX_MESSAGE_SIZE, FrameParser, type FrameParserOptions, type PartialFrame } from "./lib/frame_parser.ts";
export { hasToken, isToken, parseTokenList } from "./lib/header_tokens.ts";
export { applyMask, writeMaskKey } from "./lib/mask.ts";
export { MessageAssembler, type MessageAssemblerOptions } from "./lib/message_assembler.ts";
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
export { ReadyState } from "./lib/ready_state.ts";
export {
  type OriginPolicy,
  type ProtocolSelector,
  serverHandshake,
  type ServerHandshake,
  type ServerHandshakeOptions,
} from "./lib/server_handshake.ts";
