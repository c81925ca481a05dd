"""The ESL transport: a plain TCP connection (``cti_fsm.tcp``); ``receive`` hands over
whatever bytes arrived, and the codec finds the frames in them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from cti_fsm import tcp
from cti_fsm.tcp import TcpTransport

__all__ = ["DEFAULT_PORT", "TcpTransport", "connected", "open_tcp", "parse_url"]

#: mod_event_socket's port.
DEFAULT_PORT = 8021


def parse_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` (or ``host:port``, or ``host``) as ``(host, port)``.

    Raises:
        ValueError: not a tcp URL, or no host.
    """
    return tcp.parse_url(url, DEFAULT_PORT, name="ESL")


async def open_tcp(url: str) -> TcpTransport:
    """Connect to a FreeSWITCH Event Socket.

    Raises:
        Disconnected: the URL is not a tcp URL, or the server cannot be reached
            ("cannot reach ESL at host:port: Connection refused").
    """
    return await tcp.open_url(url, DEFAULT_PORT, name="ESL")


def connected(url: str) -> AbstractAsyncContextManager[TcpTransport]:
    """``open_tcp`` for the life of an ``async with`` block (closed when it ends).

    Raises:
        Disconnected: (on entering) the URL is not a tcp URL, or the server cannot be reached.
    """
    return tcp.connected(url, DEFAULT_PORT, name="ESL")
