"""The ESL transport: a plain TCP connection (``cti_fsm.tcp``); ``receive`` hands over
whatever bytes arrived, and the codec finds the frames in them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from cti_fsm import tcp
from cti_fsm.errors import Disconnected
from cti_fsm.tcp import TcpTransport

__all__ = ["DEFAULT_PORT", "TcpTransport", "connected", "open_tcp", "parse_url"]

#: mod_event_socket's port.
DEFAULT_PORT = 8021


def parse_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` (or ``host:port``, or ``host``) as ``(host, port)``.

    Raises:
        ValueError: not a tcp URL, or no host.
    """
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.scheme != "tcp":
        raise ValueError(f"ESL needs a tcp://host:port URL, not {parts.scheme}://")
    if not parts.hostname:
        raise ValueError(f"no host in ESL URL {url!r}")
    return parts.hostname, parts.port or DEFAULT_PORT


async def open_tcp(url: str) -> TcpTransport:
    """Connect to a FreeSWITCH Event Socket.

    Raises:
        Disconnected: the URL is not a tcp URL, or the server cannot be reached.
    """
    try:
        host, port = parse_url(url)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    return await tcp.open_tcp(host, port, name="ESL")


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[TcpTransport]:
    """``open_tcp`` for the life of an ``async with`` block (closed when it ends).

    Raises:
        Disconnected: (on entering) the URL is not a tcp URL, or the server cannot be reached.
    """
    transport = await open_tcp(url)
    try:
        yield transport
    finally:
        await transport.aclose()
