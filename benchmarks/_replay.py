"""Replaying captured wire traffic for the benchmarks: exchanges cut from a wiretap, and
servers that answer each request with the frames the real simulator sent for it.

A replay server does no parsing beyond finding where a request ends (a websocket message;
an AMI packet's blank line) and, when asked, the request id, which it writes into the
captured replies in place of the captured id so a live agent can correlate them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import attrs
import trio
import trio_websocket
from _tap import Captured

from cti_fsm.adapter import Frame

#: Where an AMI packet (and so a request) ends.
PACKET_END = b"\r\n\r\n"
_CHUNK = 65536


def as_bytes(frame: Frame) -> bytes:
    """A frame as it travels (text as UTF-8)."""
    return frame.encode() if isinstance(frame, str) else frame


@attrs.frozen
class Exchange:
    """Request frames the agent sent together, and every frame that came back before its
    next request.

    Attributes:
        command: the chart command, when known.
        replies_before_return: how many replies had arrived when the command's await
            returned (the rest arrived after it).
    """

    requests: tuple[Frame, ...]
    replies: tuple[Frame, ...]
    command: str = ""
    replies_before_return: int = 0

    @property
    def out_bytes(self) -> int:
        return sum(len(as_bytes(f)) for f in self.requests)

    @property
    def in_bytes(self) -> int:
        return sum(len(as_bytes(f)) for f in self.replies)


def exchanges(captured: Sequence[Captured]) -> tuple[Exchange, ...]:
    """A wiretap's frames grouped into exchanges: a run of requests, then what arrived
    until the next request. Frames that arrive before any request greet the client; they
    go with the first request's replies, which is where a client sees them."""
    out: list[Exchange] = []
    requests: list[Frame] = []
    replies: list[Frame] = []
    greeting: list[Frame] = []
    for c in captured:
        if c.direction == "out":
            if replies:
                out.append(Exchange(tuple(requests), tuple(replies)))
                requests, replies = [], []
            requests.append(c.frame)
        elif requests:
            replies.append(c.frame)
        else:
            greeting.append(c.frame)
    if requests:
        out.append(Exchange(tuple(requests), tuple(replies)))
    if greeting and out:
        out[0] = attrs.evolve(out[0], replies=(*greeting, *out[0].replies))
    return tuple(out)


@attrs.frozen
class Script:
    """What a replay server plays to each connection: the ``setup`` exchanges once, in
    order, then the ``pair`` alternately for as long as the client goes on.

    Attributes:
        request_id: finds the request id in a request frame (group 0 is the whole token,
            as it also appears in the replies); None replays replies verbatim.
    """

    setup: tuple[Exchange, ...]
    pair: tuple[Exchange, Exchange]
    request_id: re.Pattern[str] | None = None

    def turns(self) -> Iterator[Exchange]:
        """The setup, then the pair alternately, without end (the connection ends it)."""
        yield from self.setup
        while True:
            yield from self.pair

    def renumbered(self, exchange: Exchange, request: Frame) -> Sequence[Frame]:
        """``exchange``'s replies answering ``request`` (its id instead of the captured)."""
        if self.request_id is None:
            return exchange.replies
        old = self.request_id.search(_text(exchange.requests[0]))
        new = self.request_id.search(_text(request))
        if old is None or new is None or old.group(0) == new.group(0):
            return exchange.replies
        return [_replace(f, old.group(0), new.group(0)) for f in exchange.replies]


def _text(frame: Frame) -> str:
    return frame if isinstance(frame, str) else frame.decode("utf-8", "replace")


def _replace(frame: Frame, old: str, new: str) -> Frame:
    if isinstance(frame, str):
        return frame.replace(old, new)
    return frame.replace(old.encode(), new.encode())


@asynccontextmanager
async def websocket_server(script: Script) -> AsyncIterator[str]:
    """A trio-websocket server playing ``script``; yields its ``ws://`` URL."""

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            for turn in script.turns():
                first: Frame = ""
                for i in range(len(turn.requests)):
                    message = await ws.get_message()
                    first = message if i == 0 else first
                for reply in script.renumbered(turn, first):
                    await ws.send_message(reply)
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
        )
        yield f"ws://127.0.0.1:{server.port}/"
        nursery.cancel_scope.cancel()


class PacketReader:
    """Reads blank-line-terminated packets from a byte stream."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def packet(self) -> bytes | None:
        """The next packet, or None at the end of the stream."""
        while True:
            end = self._buffer.find(PACKET_END)
            if end >= 0:
                packet = bytes(self._buffer[: end + len(PACKET_END)])
                del self._buffer[: end + len(PACKET_END)]
                return packet
            data = await self._stream.receive_some(_CHUNK)
            if not data:
                return None
            self._buffer += data


@asynccontextmanager
async def tcp_server(script: Script) -> AsyncIterator[str]:
    """A trio TCP server playing ``script``, a request being one packet and each captured
    reply written with its own ``send_all``; yields its ``tcp://`` URL."""

    async def handler(stream: trio.SocketStream) -> None:
        reader = PacketReader(stream)
        try:
            for turn in script.turns():
                first = b""
                for i in range(len(turn.requests)):
                    packet = await reader.packet()
                    if packet is None:
                        return
                    first = packet if i == 0 else first
                for reply in script.renumbered(turn, first):
                    await stream.send_all(as_bytes(reply))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        yield f"tcp://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        nursery.cancel_scope.cancel()


def split_packets(data: bytes) -> list[bytes]:
    """A captured stream cut after each blank line (what a server writes one at a time)."""
    out, rest = [], data
    while rest:
        end = rest.find(PACKET_END)
        cut = len(rest) if end < 0 else end + len(PACKET_END)
        out.append(rest[:cut])
        rest = rest[cut:]
    return out
