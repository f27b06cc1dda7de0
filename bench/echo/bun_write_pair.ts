/**
 * How Bun's raw socket (`Bun.listen`/`Bun.connect`, what listenBun writes to) takes a frame's header and
 * payload: two `socket.write` calls (the pair, nothing copied) against one write of a joined buffer (a new
 * array and a copy, what lib/core/encode_frame.ts does for payloads up to 16 KiB). One process writes to a
 * loopback socket as fast as the kernel takes it; CPU per frame (writer and reader together) and MB/s.
 *
 * Mode `scratch`: header and payload copied into one buffer allocated once and reused (what a writer with
 * a per-socket scratch buffer would do).
 *
 *   bun bench/echo/bun_write_pair.ts SIZE pair|joined|scratch SECONDS
 *
 * @module
 */
import process from "node:process";

/** The parts of Bun's API used here (no Bun types in `deno check`). */
interface RawSocket {
  write(data: Uint8Array): number;
  end(): void;
}
const Bun = (globalThis as unknown as {
  Bun: {
    listen(options: { hostname: string; port: number; socket: { data(socket: RawSocket, chunk: Uint8Array): void } }): { port: number; stop(closeActiveConnections?: boolean): void };
    connect(options: {
      hostname: string;
      port: number;
      socket: { open(socket: RawSocket): void; drain(socket: RawSocket): void; data(): void };
    }): unknown;
    sleep(ms: number): Promise<void>;
  };
}).Bun;
const [size, mode, seconds] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
let received = 0;
const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data(_s, chunk) { received += chunk.length; } } });
const header = new Uint8Array(size < 65536 ? 4 : 10);
const payload = new Uint8Array(size).fill(7);
const scratch = new Uint8Array(header.length + size); // mode "scratch": one buffer reused for every frame
let frames = 0, pending: Uint8Array[] = [];
const end = performance.now() + seconds * 1000;
const cpu0 = process.cpuUsage();
await new Promise<void>((resolve) => {
  const pump = (s: RawSocket) => {
    while (pending.length > 0) {
      const n = s.write(pending[0]);
      if (n < pending[0].length) { pending[0] = pending[0].subarray(Math.max(n, 0)); return; }
      pending.shift();
    }
    while (performance.now() < end) {
      const chunks = mode === "pair"
        ? [header, payload]
        : mode === "scratch"
        ? [(scratch.set(header), scratch.set(payload, header.length), scratch)]
        : [(() => { const j = new Uint8Array(header.length + size); j.set(header); j.set(payload, header.length); return j; })()];
      frames++;
      for (let i = 0; i < chunks.length; i++) {
        const n = s.write(chunks[i]);
        // The scratch buffer is reused: what the kernel did not take is copied out.
        const rest = (c: Uint8Array) => (c === scratch ? c.slice(Math.max(n, 0)) : c.subarray(Math.max(n, 0)));
        if (n < chunks[i].length) { pending = [rest(chunks[i]), ...chunks.slice(i + 1)]; return; }
      }
    }
    s.end(); resolve();
  };
  Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { open: pump, drain: pump, data() {} } });
});
await Bun.sleep(200);
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ size, mode, frames, cpuUsPerFrame: +((cpu.user + cpu.system) / frames).toFixed(2), MBps: +(frames * size / seconds / 1e6).toFixed(0) }));
server.stop(true);
