"""The websocket client transport: wsproto over a trio stream, driven by its reader.

``Adapter.connect(url)`` must return an open transport without being handed a nursery, so
this client runs no background task: ``receive`` reads the socket, answers pings and
reassembles fragmented messages itself. trio-websocket's client needs a nursery for its
reader task; wsproto (the sans-IO protocol trio-websocket is built on) needs none, and
nothing can outlive the agent's own nursery. The simulator serves with trio-websocket.

Only one task may call ``receive`` at a time (the agent's reader); ``send`` may be called
from any number of tasks.
"""

from __future__ import annotations

import collections
import contextlib
import ssl
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from cti_fsm.adapter import Frame
from cti_fsm.errors import Disconnected

__all__ = ["DEFAULT_MAX_MESSAGE", "WebSocketTransport", "open_websocket", "parse_url"]

#: Largest message the transport assembles. Above the codec's limit on purpose: an
#: oversized message still reaches the codec, which reports it and decoding goes on,
#: where closing the link would throw the agent into a reconnect.
DEFAULT_MAX_MESSAGE = 16 << 20
#: Seconds to open the TCP connection and finish the opening handshake.
CONNECT_TIMEOUT = 10.0
_CHUNK = 65536
_NETWORK_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)


def parse_url(url: str) -> tuple[bool, str, int, str]:
    """``ws://host:port/path`` as ``(secure, host, port, resource)``.

    Raises:
        ValueError: not a ws:// or wss:// URL, or no host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"a websocket URL starts with ws:// or wss://, not {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    secure = parts.scheme == "wss"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return secure, parts.hostname, parts.port or (443 if secure else 80), resource


async def open_websocket(
    url: str,
    *,
    max_message: int = DEFAULT_MAX_MESSAGE,
    timeout: float = CONNECT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> WebSocketTransport:
    """Connect to ``url`` and complete the websocket opening handshake.

    Raises:
        Disconnected: bad URL, unreachable, refused, or the handshake failed or timed out.
    """
    try:
        secure, host, port, resource = parse_url(url)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(timeout):
            if secure:
                stream = await trio.open_ssl_over_tcp_stream(
                    host, port, ssl_context=ssl_context or ssl.create_default_context()
                )
            else:
                stream = await trio.open_tcp_stream(host, port)
            ws = WSConnection(ConnectionType.CLIENT)
            host_header = host if port in (80, 443) else f"{host}:{port}"
            await stream.send_all(ws.send(Request(host=host_header, target=resource)))
            early = await _handshake(stream, ws)
    except trio.TooSlowError:
        await _close_quietly(stream)
        raise Disconnected(
            f"no websocket handshake with {host}:{port} within {timeout:g}s"
        ) from None
    except (*_NETWORK_ERRORS, RemoteProtocolError) as exc:
        await _close_quietly(stream)
        raise Disconnected(f"cannot connect to {host}:{port}: {exc}") from None
    except Disconnected:
        await _close_quietly(stream)
        raise
    return WebSocketTransport(stream, ws, early, peer=f"{host}:{port}", max_message=max_message)


async def _handshake(stream: trio.abc.Stream, ws: WSConnection) -> list[Event]:
    """Read until the server accepts; returns events that arrived right behind the accept.

    Raises:
        Disconnected: rejected, or the connection closed first.
    """
    while True:
        data = await stream.receive_some(_CHUNK)
        if not data:
            raise Disconnected("the server closed the connection during the handshake")
        ws.receive_data(bytes(data))
        events = list(ws.events())
        for i, event in enumerate(events):
            if isinstance(event, AcceptConnection):
                return events[i + 1 :]
            if isinstance(event, (RejectConnection, RejectData)):
                status = getattr(event, "status_code", "?")
                raise Disconnected(f"the server refused the websocket (HTTP {status})")


async def _close_quietly(stream: trio.abc.Stream | None) -> None:
    if stream is not None:
        with trio.CancelScope(shield=True):
            await stream.aclose()


class WebSocketTransport:
    """An open websocket client connection (``cti_fsm.adapter.Transport``)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        ws: WSConnection,
        early: list[Event] | None = None,
        *,
        peer: str = "",
        max_message: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self._stream = stream
        self._ws = ws
        self._events: collections.deque[Event] = collections.deque(early or ())
        self._parts: list[str | bytes] = []
        self._size = 0
        self._send_lock = trio.Lock()
        self._closed = False
        self._why = "closed"
        self.peer = peer
        self.max_message = max_message

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<WebSocketTransport {self.peer} {state}>"

    async def send(self, frame: Frame) -> None:
        """Send one websocket message (text for ``str``, binary for ``bytes``).

        Raises:
            Disconnected: the connection is closed or broke.
        """
        event = TextMessage(data=frame) if isinstance(frame, str) else BytesMessage(data=frame)
        async with self._send_lock:
            await self._write(event)

    async def receive(self) -> Frame:
        """The next complete message; pings are answered on the way.

        Raises:
            Disconnected: the server closed the connection or it broke.
        """
        while True:
            while self._events:
                message = await self._handle(self._events.popleft())
                if message is not None:
                    return message
            if self._closed:
                raise Disconnected(self._why)
            try:
                data = await self._stream.receive_some(_CHUNK)
            except _NETWORK_ERRORS as exc:
                raise self._lost(f"connection broke: {exc}") from None
            if not data:
                raise self._lost("connection lost (closed without a close frame)")
            try:
                self._ws.receive_data(bytes(data))
                self._events.extend(self._ws.events())
            except RemoteProtocolError as exc:
                raise self._lost(f"websocket protocol error from the server: {exc}") from None

    async def _handle(self, event: Event) -> Frame | None:
        if isinstance(event, (TextMessage, BytesMessage)):
            self._size += len(event.data)
            if self._size > self.max_message:
                await self._send_close(1009, "message too big")
                await _close_quietly(self._stream)
                raise self._lost(f"a message exceeded {self.max_message} bytes")
            data = event.data
            self._parts.append(bytes(data) if isinstance(data, bytearray) else data)
            if not event.message_finished:
                return None
            parts, self._parts, self._size = self._parts, [], 0
            if isinstance(event, TextMessage):
                return "".join(p for p in parts if isinstance(p, str))
            return b"".join(p for p in parts if isinstance(p, bytes))
        if isinstance(event, Ping):
            async with self._send_lock:
                await self._write(event.response())
        elif isinstance(event, CloseConnection):
            detail = f"{event.code}, {event.reason}" if event.reason else f"{event.code}"
            if self._ws.state == ConnectionState.REMOTE_CLOSING:
                async with self._send_lock:
                    with contextlib.suppress(Disconnected):
                        await self._write(event.response())
            raise self._lost(f"closed by the server (code {detail})")
        return None

    async def _write(self, event: Event) -> None:
        if self._closed:
            raise Disconnected(self._why)
        try:
            data = self._ws.send(event)
        except LocalProtocolError as exc:
            raise Disconnected(f"cannot send now: {exc}") from None
        try:
            await self._stream.send_all(data)
        except _NETWORK_ERRORS as exc:
            raise self._lost(f"connection broke: {exc}") from None

    def _lost(self, why: str) -> Disconnected:
        if not self._closed:
            self._closed, self._why = True, why
        return Disconnected(self._why)

    async def _send_close(self, code: int, reason: str) -> None:
        """Send a close frame if the connection is still open, within a second, shielded
        (closing must work inside a cancelled scope)."""
        with trio.move_on_after(1) as scope:
            scope.shield = True
            async with self._send_lock:
                if self._closed or self._ws.state != ConnectionState.OPEN:
                    return
                try:
                    await self._stream.send_all(self._ws.send(CloseConnection(code, reason)))
                except (*_NETWORK_ERRORS, LocalProtocolError):
                    pass

    async def aclose(self) -> None:
        """Send a close frame (briefly) and close the socket; idempotent."""
        await self._send_close(1000, "")
        if not self._closed:
            self._closed, self._why = True, "closed"
        await _close_quietly(self._stream)
