"""A websocket client on wsproto with no task of its own: the caller's ``receive`` reads.

trio-websocket runs a reader task per connection, so each message takes two trips through
the scheduler (socket -> reader task -> memory channel -> the task that asked). Here the
task that calls ``receive`` does the reading: it pulls bytes from the stream, feeds wsproto
(sans-IO: it only turns bytes into events and events into bytes) and returns the first
whole message; the rest of what was read stays in wsproto's buffer for the next call, so
a chunk holding several messages is read once. What a reader task did on the side is done
on the way:

- a fragmented message is put back together (``message_finished``), within a size limit
  (over it: close code 1009 and ``Disconnected``, as trio-websocket does);
- a ping is answered with its pong from within ``receive``;
- the peer's close is answered, then ``Disconnected`` names its code and reason; a peer
  that just drops is ``Disconnected`` with code 1006; a frame that breaks the protocol is
  answered with a close of the code wsproto gives it (1002, 1007) and ``Disconnected``;
- ``aclose`` sends our close and waits (bounded) for the reply: the task in ``receive``
  reads it if there is one, else ``aclose`` reads it itself.

The bytes come from a ``ByteStream``: ``cti_fsm.tcp.TcpTransport`` for ``ws://`` (it
returns without a scheduler trip when data is ready), ``cti_fsm.tls.TlsTransport`` (a
``trio.SSLStream`` whose handshake is done) for ``wss://``. Opening (``handshake``) is
wsproto's client ``Request``, answered by ``AcceptConnection`` or ``RejectConnection``.
URLs, limits and timeouts are the adapter's business (``transport.py``).
"""

from __future__ import annotations

import contextlib
from typing import Any, NoReturn, Protocol

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import ProtocolError

from cti_fsm.adapter import Frame
from cti_fsm.errors import Disconnected

__all__ = ["ByteStream", "WebSocketTransport", "close_reason", "handshake"]

_OPEN = ConnectionState.OPEN
_LOCAL_CLOSING = ConnectionState.LOCAL_CLOSING
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_CLOSED = ConnectionState.CLOSED


class ByteStream(Protocol):
    """What a websocket runs on: a byte stream whose failures are all ``Disconnected``
    (``cti_fsm.tcp.TcpTransport`` is one). Any number of tasks may send at once (each
    write whole, in some order); one receives."""

    async def send(self, data: bytes) -> None:
        """Write all of ``data``.

        Raises:
            Disconnected: the stream is closed or broke.
        """
        ...

    async def receive(self) -> bytes:
        """The next bytes of the stream (never empty).

        Raises:
            Disconnected: the peer closed the stream, it broke, or it was closed here.
        """
        ...

    async def aclose(self) -> None:
        """Close; idempotent. A task waiting in ``receive`` wakes with ``Disconnected``."""
        ...


def close_reason(code: int, reason: str | None = None) -> str:
    """The words ``Disconnected`` carries for a close: ``websocket closed: 1001 GOING_AWAY
    (bye)`` (code names as trio-websocket gives them)."""
    try:
        name = CloseReason(code).name
    except ValueError:
        if 1000 <= code <= 2999:
            name = "RFC_RESERVED"
        elif 3000 <= code <= 3999:
            name = "IANA_RESERVED"
        elif 4000 <= code <= 4999:
            name = "PRIVATE_RESERVED"
        else:
            name = "INVALID_CODE"
    detail = f" ({reason})" if reason else ""
    return f"websocket closed: {int(code)} {name}{detail}"


class WebSocketTransport:
    """One open websocket (``cti_fsm.adapter.Transport``): one message is one frame, text
    as ``str`` and binary as ``bytes``. One task may receive at a time; any number may
    send. Made by ``handshake``.

    Args:
        stream: the byte stream the handshake was done on; owned from now on.
        connection: wsproto's connection, open, holding any bytes read past the handshake.
        peer: ``host:port``, for messages.
        max_message: the longest message accepted (characters of text, bytes of binary).
        close_timeout: seconds ``aclose`` waits for the peer's reply to its close.
    """

    def __init__(
        self,
        stream: ByteStream,
        connection: Connection,
        peer: str,
        *,
        max_message: int,
        close_timeout: float,
    ) -> None:
        self._stream = stream
        self._conn = connection
        self.peer = peer
        self._max_message = max_message
        self._close_timeout = close_timeout
        #: the parts of a fragmented message read so far, and their length
        #: (a message's parts are all text or all binary)
        self._parts: list[Any] = []
        self._size = 0
        #: why the websocket is over (closed here or there, dropped, broken); from then on
        #: messages are not delivered and every call raises ``Disconnected`` with it
        self._why: str | None = None
        self._aclosed = False
        #: a task is in ``receive``: ``aclose`` leaves the reading to it
        self._receiving = False
        #: set when that task leaves ``receive``, for an ``aclose`` waiting to read
        self._left_receive: trio.Event | None = None

    def __repr__(self) -> str:
        state = "open" if self._why is None else "closed"
        return f"<WebSocketTransport {self.peer} {state}>"

    @property
    def closed(self) -> bool:
        """The websocket is over (closed at either end, or the connection dropped)."""
        return self._why is not None

    # --- sending ---------------------------------------------------------------------------------
    async def send(self, frame: Frame) -> None:
        """Send one message: ``str`` as a text message, ``bytes`` as a binary one.

        Raises:
            Disconnected: the websocket is closed or closing, or the connection is gone.
        """
        if self._why is not None:
            raise Disconnected(self._why)
        event = TextMessage(data=frame) if isinstance(frame, str) else BytesMessage(data=frame)
        await self._stream.send(self._conn.send(event))

    # --- receiving -------------------------------------------------------------------------------
    async def receive(self) -> Frame:
        """The next whole message (text as ``str``, binary as ``bytes``).

        Raises:
            Disconnected: the websocket was closed here or by the peer (the reason names
                its code), the connection dropped (1006), a message was over the limit
                (1009) or a frame broke the protocol.
            trio.Cancelled: cancelled; nothing read is lost (a message half put together
                is kept for the next call).
        """
        if self._why is not None:
            raise Disconnected(self._why)
        # a cancel point even when a message is already in the buffer, as trio calls are
        await trio.lowlevel.checkpoint_if_cancelled()
        self._receiving = True
        try:
            return await self._read()
        finally:
            self._receiving = False
            if self._left_receive is not None:
                self._left_receive.set()

    async def _read(self) -> Frame:
        """Feed wsproto until a message is whole, handling control frames on the way. Once
        the websocket is over, messages are dropped: only the close (or a drop) ends it.

        Raises:
            Disconnected: as ``receive``.
        """
        conn = self._conn
        while True:
            for event in conn.events():
                if isinstance(event, TextMessage | BytesMessage):
                    data = event.data
                    if event.message_finished and not self._parts:
                        # the usual case: a message in one frame
                        if len(data) > self._max_message:
                            await self._too_big()
                        if self._why is None:
                            return bytes(data) if isinstance(data, bytearray) else data
                        continue
                    parts = self._parts
                    parts.append(data)
                    self._size += len(data)
                    if self._size > self._max_message:
                        await self._too_big()
                    if event.message_finished:
                        self._parts, self._size = [], 0
                        message = "".join(parts) if isinstance(data, str) else b"".join(parts)
                        if self._why is None:
                            return message
                elif isinstance(event, Ping):
                    if conn.state is _OPEN:
                        await self._send_quietly(conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await self._peer_closed(event)
                # a Pong: we send no pings, so none is awaited
            try:
                data = await self._stream.receive()
            except Disconnected as exc:
                if conn.state is not _CLOSED:
                    # wsproto's way of hearing that the connection is gone (code 1006)
                    conn.receive_data(None)
                if self._why is None:
                    self._why = close_reason(CloseReason.ABNORMAL_CLOSURE, exc.reason)
                raise Disconnected(self._why) from None
            conn.receive_data(data)

    async def _too_big(self) -> NoReturn:
        """Close with 1009, as trio-websocket does.

        Raises:
            Disconnected: always.
        """
        self._parts, self._size = [], 0
        reason = f"Exceeded maximum message size: {self._max_message} bytes"
        await self._fail(CloseReason.MESSAGE_TOO_BIG, reason)

    async def _peer_closed(self, event: CloseConnection) -> NoReturn:
        """The peer's close: the reply to ours, the peer's own (answered), or wsproto's
        report of a frame that broke the protocol (the connection still open: we close it
        with that code).

        Raises:
            Disconnected: always.
        """
        state = self._conn.state
        if state is _OPEN:
            await self._fail(event.code, event.reason)
        if state is _REMOTE_CLOSING:
            # set first: a send racing with the reply must not go out after it
            self._why = self._why or close_reason(event.code, event.reason)
            await self._send_quietly(self._conn.send(event.response()))
        self._why = self._why or close_reason(event.code, event.reason)
        raise Disconnected(self._why)

    async def _fail(self, code: int, reason: str | None) -> NoReturn:
        """End the websocket from this side with ``code``.

        Raises:
            Disconnected: always.
        """
        self._why = self._why or close_reason(code, reason)
        if self._conn.state is _OPEN:
            await self._send_quietly(self._conn.send(CloseConnection(code=code, reason=reason)))
        raise Disconnected(self._why)

    async def _send_quietly(self, data: bytes) -> None:
        # a control frame that cannot go out changes nothing: the next read reports the drop
        with contextlib.suppress(Disconnected):
            await self._stream.send(data)

    # --- closing ---------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close: send our close and wait for the peer's reply (at most ``close_timeout``
        seconds), then close the connection; idempotent. A task in ``receive`` wakes with
        ``Disconnected`` (when the reply comes, or when the connection is closed).

        Raises:
            trio.Cancelled: cancelled (the connection is closed all the same).
        """
        if self._aclosed:
            await trio.lowlevel.checkpoint()
            return
        self._aclosed = True
        try:
            with trio.move_on_after(self._close_timeout):
                await self._closing_handshake()
        finally:
            await self._stream.aclose()

    async def _closing_handshake(self) -> None:
        conn = self._conn
        if conn.state is _OPEN:
            self._why = self._why or close_reason(CloseReason.NORMAL_CLOSURE)
            try:
                await self._stream.send(conn.send(CloseConnection(code=1000)))
            except Disconnected:
                return
        while conn.state is _LOCAL_CLOSING:
            if self._receiving:
                # one reader at a time: the task in receive reads the reply (or leaves)
                self._left_receive = left = trio.Event()
                await left.wait()
                self._left_receive = None
                continue
            try:
                await self._read()
            except Disconnected:
                return


async def handshake(
    stream: ByteStream,
    *,
    host: str,
    resource: str,
    peer: str,
    max_message: int,
    close_timeout: float,
) -> WebSocketTransport:
    """The opening handshake on ``stream``: a websocket over it, or the server's refusal.
    No time limit here (the caller sets one); ``stream`` is not closed on failure.

    Args:
        host: the ``Host`` header (``name:port``, the port left out when it is the
            scheme's own).
        resource: the path and query (``/agents?x=1``).
        peer, max_message, close_timeout: as for ``WebSocketTransport``.

    Raises:
        Disconnected: the server refused the upgrade (the reason names the HTTP status),
            did not answer as a websocket server, or the connection dropped.
    """
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send(ws.send(Request(host=host, target=resource)))
    try:
        while True:
            ws.receive_data(await stream.receive())
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    assert ws.connection is not None  # wsproto makes it with the accept
                    # any bytes read past the answer wait in it for the first receive
                    return WebSocketTransport(
                        stream,
                        ws.connection,
                        peer,
                        max_message=max_message,
                        close_timeout=close_timeout,
                    )
                if isinstance(event, RejectConnection):
                    raise Disconnected(
                        f"the server refused the websocket: HTTP {event.status_code}"
                    )
    except ProtocolError as exc:
        raise Disconnected(f"the server did not answer as a websocket server: {exc}") from None
