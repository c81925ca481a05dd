"""The AMI transport: a plain TCP connection (``cti_fsm.tcp``); ``receive`` hands over
whatever bytes arrived, and the codec finds the packets in them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from cti_fsm import tcp
from cti_fsm.tcp import TcpTransport

__all__ = ["DEFAULT_PORT", "TcpTransport", "connected", "open_tcp", "parse_url"]

#: AMI's registered port.
DEFAULT_PORT = 5038


def parse_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` (or ``host:port``, or ``host``) as ``(host, port)``.

    Raises:
        ValueError: not a tcp URL, or no host.
    """
    return tcp.parse_url(url, DEFAULT_PORT, name="AMI")


async def open_tcp(url: str) -> TcpTransport:
    """Connect to an AMI server.

    Raises:
        Disconnected: the URL is not a tcp URL, or the server cannot be reached
            ("cannot reach AMI at host:port: Connection refused").
    """
    return await tcp.open_url(url, DEFAULT_PORT, name="AMI")


def connected(url: str) -> AbstractAsyncContextManager[TcpTransport]:
    """``open_tcp`` for the life of an ``async with`` block (closed when it ends).

    Raises:
        Disconnected: (on entering) the URL is not a tcp URL, or the server cannot be reached.
    """
    return tcp.connected(url, DEFAULT_PORT, name="AMI")
