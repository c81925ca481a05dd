"""The AMI transport: one trio TCP stream; ``receive`` hands over whatever bytes arrived."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio

from cti_fsm.errors import Disconnected

__all__ = ["DEFAULT_PORT", "TcpTransport", "connected", "open_tcp", "parse_url"]

#: AMI's registered port.
DEFAULT_PORT = 5038
_CHUNK = 65536


def parse_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` (or ``host:port``, or ``host``) as ``(host, port)``.

    Raises:
        ValueError: not a tcp URL, or no host.
    """
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.scheme != "tcp":
        raise ValueError(f"AMI needs a tcp://host:port URL, not {parts.scheme}://")
    if not parts.hostname:
        raise ValueError(f"no host in AMI URL {url!r}")
    return parts.hostname, parts.port or DEFAULT_PORT


class TcpTransport:
    """An open AMI connection over a trio stream (``trio.SocketStream`` or any stream)."""

    def __init__(self, stream: trio.abc.Stream, peer: str = "") -> None:
        self._stream = stream
        self._peer = peer
        self._closed = False

    async def send(self, frame: bytes | str) -> None:
        """Send bytes (text is sent as UTF-8).

        Raises:
            Disconnected: the connection is gone.
        """
        data = frame.encode("utf-8") if isinstance(frame, str) else frame
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise Disconnected(
                f"send to {self._peer or 'AMI'} failed: {type(exc).__name__}"
            ) from None

    async def receive(self) -> bytes:
        """The next chunk of the stream (any size, cut anywhere).

        Raises:
            Disconnected: the server closed the connection, or it broke.
        """
        try:
            data = await self._stream.receive_some(_CHUNK)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise Disconnected(
                f"connection to {self._peer or 'AMI'} broke: {type(exc).__name__}"
            ) from None
        if not data:
            raise Disconnected(f"{self._peer or 'AMI'} closed the connection")
        return bytes(data)

    async def aclose(self) -> None:
        """Close the connection; idempotent."""
        if not self._closed:
            self._closed = True
            await self._stream.aclose()


async def open_tcp(url: str) -> TcpTransport:
    """Connect to an AMI server.

    Raises:
        Disconnected: the URL is not a tcp URL, or the server cannot be reached.
    """
    try:
        host, port = parse_url(url)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise Disconnected(f"cannot reach AMI at {host}:{port}: {reason}") from None
    return TcpTransport(stream, f"{host}:{port}")


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[TcpTransport]:
    """``open_tcp`` for the life of an ``async with`` block (closed when it ends).

    Raises:
        Disconnected: (on entering) the URL is not a tcp URL, or the server cannot be reached.
    """
    tcp = await open_tcp(url)
    try:
        yield tcp
    finally:
        await tcp.aclose()
