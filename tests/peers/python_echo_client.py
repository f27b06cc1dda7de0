"""python-websockets as the client: connects, echoes every message, answers "__report__", closes with
1000 "peer done" on "__close__".

Usage: /usr/bin/python3 python_echo_client.py ws://127.0.0.1:PORT/ [--no-compression]
Prints {"event": "open", "extensions": ...} and {"event": "closed", "code": ..., "reason": ...} (the close
frame received from the server), or {"event": "error", "error": ...}. If the server closes first, the loop
ends and the same "closed" line follows.
"""

import asyncio
import sys

import websockets

from _protocol import compression_arg, echo_loop, emit


async def main(url):
    async with websockets.connect(
        url, compression=compression_arg(), max_size=None, open_timeout=10, close_timeout=10
    ) as ws:
        emit("open", extensions=ws.response_headers.get("Sec-WebSocket-Extensions"))
        await echo_loop(ws)
        emit("closed", code=ws.close_code, reason=ws.close_reason)


try:
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
except Exception as error:  # reported to the test, which fails with it
    emit("error", error=repr(error))
    sys.exit(1)
