"""The peer's side of the interop exchange (see tests/_interop.ts): echo every message, answer
"__report__" with the type, byte length and SHA-256 of each message received, close with 1000 "peer done"
on "__close__"; print events as JSON lines."""

import hashlib
import json
import sys

REPORT_REQUEST = "__report__"
CLOSE_REQUEST = "__close__"
PEER_REASON = "peer done"


def emit(event, **fields):
    """Prints one JSON line for the test to read."""
    print(json.dumps({"event": event, **fields}), flush=True)


def digest(message):
    data = message.encode() if isinstance(message, str) else message
    kind = "text" if isinstance(message, str) else "binary"
    return {"type": kind, "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def report(received):
    return json.dumps({"count": len(received), "messages": received})


def compression_arg():
    """--no-compression turns permessage-deflate off; otherwise the library's default offer/answer."""
    return None if "--no-compression" in sys.argv[1:] else "deflate"


async def echo_loop(ws):
    """The peer's part of the exchange on an open connection: echo each message and record its digest,
    answer REPORT_REQUEST with the report, close with 1000 PEER_REASON on CLOSE_REQUEST."""
    received = []
    async for message in ws:
        if message == CLOSE_REQUEST:
            await ws.close(1000, PEER_REASON)
            break
        if message == REPORT_REQUEST:
            await ws.send(report(received))
            continue
        received.append(digest(message))
        await ws.send(message)
