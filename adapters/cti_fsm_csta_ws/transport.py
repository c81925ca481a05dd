"""The websocket client transport: trio-websocket, opened for the life of an ``async with``.

trio-websocket runs a background reader task; ``open_websocket`` keeps it inside the
caller's ``async with`` (the agent's connection scope), so nothing outlives the agent.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
import trio_websocket
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection

from cti_fsm.adapter import Frame
from cti_fsm.errors import Disconnected

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_MAX_MESSAGE",
    "WebSocketTransport",
    "open_websocket",
    "parse_url",
]

#: Largest message the transport accepts. Above the codec's limit on purpose: an oversized
#: message still reaches the codec, which reports it and decoding goes on, where closing
#: the link would throw the agent into a reconnect.
DEFAULT_MAX_MESSAGE = 16 << 20
#: Seconds to open the TCP connection and finish the opening handshake.
CONNECT_TIMEOUT = 10.0
#: Seconds to wait for the closing handshake before dropping the socket.
DISCONNECT_TIMEOUT = 2.0


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


class WebSocketTransport:
    """One open websocket (``cti_fsm.adapter.Transport``): one message is one frame."""

    def __init__(self, ws: WebSocketConnection, peer: str) -> None:
        self._ws = ws
        self.peer = peer

    def __repr__(self) -> str:
        state = "closed" if self._ws.closed else "open"
        return f"<WebSocketTransport {self.peer} {state}>"

    async def send(self, frame: Frame) -> None:
        """Send one message.

        Raises:
            Disconnected: the connection is gone.
        """
        try:
            await self._ws.send_message(frame)
        except ConnectionClosed as exc:
            raise Disconnected(_why(exc)) from None

    async def receive(self) -> Frame:
        """The next message.

        Raises:
            Disconnected: the connection ended.
        """
        try:
            message: Frame = await self._ws.get_message()
        except ConnectionClosed as exc:
            raise Disconnected(_why(exc)) from None
        return message

    async def aclose(self) -> None:
        """Close (closing handshake, bounded by ``DISCONNECT_TIMEOUT``); idempotent."""
        with trio.move_on_after(DISCONNECT_TIMEOUT):
            await self._ws.aclose()


def _why(exc: ConnectionClosed) -> str:
    reason = exc.reason
    if reason is None:
        return "websocket closed"
    detail = f" ({reason.reason})" if reason.reason else ""
    return f"websocket closed: {reason.code} {reason.name}{detail}"


@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    max_message: int = DEFAULT_MAX_MESSAGE,
    timeout: float = CONNECT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[WebSocketTransport]:
    """Connect to ``url``; the websocket (and its reader task) lives for the block.

    Raises:
        Disconnected: bad URL, unreachable, refused, or the handshake failed or timed out.
    """
    try:
        secure, host, port, _resource = parse_url(url)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    if secure and ssl_context is None:
        ssl_context = ssl.create_default_context()
    opening = trio_websocket.open_websocket_url(
        url,
        ssl_context=ssl_context,
        max_message_size=max_message,
        connect_timeout=timeout,
        disconnect_timeout=DISCONNECT_TIMEOUT,
    )
    try:
        ws = await opening.__aenter__()
    except (HandshakeError, OSError, trio.TooSlowError) as exc:
        raise Disconnected(f"cannot open a websocket to {host}:{port}: {exc}") from None
    # entered by hand so that opening errors and errors of the block stay apart
    try:
        yield WebSocketTransport(ws, f"{host}:{port}")
    except BaseException as exc:
        if not await opening.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        await opening.__aexit__(None, None, None)
