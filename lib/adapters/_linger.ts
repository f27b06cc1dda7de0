/**
 * Ending a connection without cutting its last answer short, shared by the raw listeners' refusals and the
 * CLI's plain HTTP answers.
 *
 * @module
 */

import type { ByteReader } from "../handshake/http_head.ts";

/**
 * Shuts our side (FIN after what was written), then reads and drops what the peer still sends until it
 * closes, for at most `lingerMs` (closing with unread input makes the kernel answer with a RST, which can
 * discard the answer on its way); then ends the connection.
 *
 * @param shut Ends our writing side once everything written has gone.
 * @param reader What the peer sends.
 * @param lingerMs The longest wait for the peer to close.
 * @param cut Ends the connection when the wait runs out.
 * @param end Ends the connection afterwards in every case (`cut` unless given).
 */
export async function lingerThenEnd(
  shut: () => Promise<void>,
  reader: ByteReader,
  lingerMs: number,
  cut: () => void,
  end: () => void = cut,
): Promise<void> {
  const timer = setTimeout(cut, lingerMs);
  try {
    await shut();
    while (!(await reader.read()).done);
  } catch {
    // Cut by the timer, closed by the server's close(), or reset by the peer.
  } finally {
    clearTimeout(timer);
    end();
  }
}
