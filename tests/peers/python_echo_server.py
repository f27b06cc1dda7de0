"""python-websockets as the server: an echo server on 127.0.0.1, a free port.

Usage: /usr/bin/python3 python_echo_server.py [--no-compression]
Prints {"event": "listening", "port": N}, then per connection {"event": "open", "extensions": ...} and
{"event": "closed", "code": ..., "reason": ...} (the close frame received from the client). On
"__close__" it closes with 1000 "peer done".
"""

import asyncio

import websockets

from _protocol import CLOSE_REQUEST, PEER_REASON, REPORT_REQUEST, compression_arg, digest, emit, report


async def handler(ws, *_):
    emit("open", extensions=ws.response_headers.get("Sec-WebSocket-Extensions"))
    received = []
    try:
        async for message in ws:
            if message == CLOSE_REQUEST:
                await ws.close(1000, PEER_REASON)
                break
            if message == REPORT_REQUEST:
                await ws.send(report(received))
                continue
            received.append(digest(message))
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    emit("closed", code=ws.close_code, reason=ws.close_reason)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, compression=compression_arg(), max_size=None) as server:
        emit("listening", port=server.sockets[0].getsockname()[1])
        await asyncio.sleep(120)  # the test kills it long before


asyncio.run(main())
