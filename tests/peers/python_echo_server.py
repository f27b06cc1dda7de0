"""python-websockets as the server: an echo server on 127.0.0.1, a free port.

Usage: /usr/bin/python3 python_echo_server.py [--no-compression]
Prints {"event": "listening", "port": N}, then per connection {"event": "open", "extensions": ...} and
{"event": "closed", "code": ..., "reason": ...} (the close frame received from the client). On
"__close__" it closes with 1000 "peer done".
"""

import asyncio

import websockets

from _protocol import compression_arg, echo_loop, emit


async def handler(ws, *_):
    emit("open", extensions=ws.response_headers.get("Sec-WebSocket-Extensions"))
    try:
        await echo_loop(ws)
    except websockets.ConnectionClosed:
        pass
    emit("closed", code=ws.close_code, reason=ws.close_reason)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, compression=compression_arg(), max_size=None) as server:
        emit("listening", port=server.sockets[0].getsockname()[1])
        await asyncio.sleep(120)  # the test kills it long before


asyncio.run(main())
