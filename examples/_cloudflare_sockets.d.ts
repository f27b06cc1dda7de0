/**
 * The part of workerd's `cloudflare:sockets` module that the example Worker uses, so that `deno check`
 * checks the Worker against it (without this, Deno types an import it cannot resolve as `any`). The full
 * declarations are in `@cloudflare/workers-types`; workerd provides the module itself at run time.
 *
 * @module
 */

declare module "cloudflare:sockets" {
  /** Where to connect. */
  export interface SocketAddress {
    hostname: string;
    port: number;
  }

  /** How to connect. */
  export interface SocketOptions {
    /** `"on"`: TLS from the start; `"starttls"`: plain, upgradable with `startTls()`. @default {"off"} */
    secureTransport?: "off" | "on" | "starttls";
    /** Keep the writable side open after the peer's EOF. @default {false} */
    allowHalfOpen?: boolean;
  }

  /** An outbound TCP connection. */
  export interface Socket {
    /** Bytes from the peer. */
    readonly readable: ReadableStream<Uint8Array>;
    /** Bytes to the peer. */
    readonly writable: WritableStream<Uint8Array>;
    /** Resolves when the connection is established. */
    readonly opened: Promise<{ remoteAddress?: string; localAddress?: string }>;
    /** Resolves when the socket is closed. */
    readonly closed: Promise<void>;
    /** Closes both directions. */
    close(): Promise<void>;
  }

  /**
   * Opens a TCP connection (through the Worker's outbound network service).
   *
   * @param address A `SocketAddress` or `"host:port"`.
   * @param options TLS and half-open behaviour.
   * @returns The socket, connecting.
   */
  export function connect(address: SocketAddress | string, options?: SocketOptions): Socket;
}
