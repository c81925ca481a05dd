"""The AMI transport: a TCP connection (``cti_fsm.tcp``) for ``tcp://``, TLS
(``cti_fsm.tls``) for ``tls://`` (Asterisk's ``manager.conf`` ``tlsenable``, port 5039 by
default); ``receive`` hands over whatever bytes arrived, and the codec finds the packets in
them. Over TLS the server's certificate and name are verified, against the system's CAs or
the caller's ``ssl_context``; the handshake is done before the banner is read, so a refused
certificate is reported at once."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from cti_fsm import tcp
from cti_fsm.errors import Disconnected
from cti_fsm.tcp import TcpTransport
from cti_fsm.tls import TlsTransport, open_tls

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TLS_PORT",
    "TcpTransport",
    "TlsTransport",
    "connected",
    "open_tcp",
    "parse_url",
]

#: AMI's registered port.
DEFAULT_PORT = 5038
#: Asterisk's default AMI port over TLS (``manager.conf`` ``tlsbindaddr``).
DEFAULT_TLS_PORT = 5039
_PORTS = {"tcp": DEFAULT_PORT, "tls": DEFAULT_TLS_PORT}


def parse_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` or ``tls://host:port`` (or ``host:port``, or ``host``: tcp) as
    ``(host, port)``.

    Raises:
        ValueError: neither a tcp nor a tls URL, or no host.
    """
    _, host, port = _parse(url)
    return host, port


def _parse(url: str) -> tuple[bool, str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.scheme not in _PORTS:
        raise ValueError(f"AMI needs a tcp:// or tls://host:port URL, not {parts.scheme}://")
    if not parts.hostname:
        raise ValueError(f"no host in AMI URL {url!r}")
    return parts.scheme == "tls", parts.hostname, parts.port or _PORTS[parts.scheme]


async def open_tcp(
    url: str, *, ssl_context: ssl.SSLContext | None = None
) -> TcpTransport | TlsTransport:
    """Connect to an AMI server, over TLS for a ``tls://`` URL.

    Args:
        url: ``tcp://host[:port]`` or ``tls://host[:port]``.
        ssl_context: for ``tls://``: the context to verify the server with (default: the
            system's CAs, the server's name checked).

    Raises:
        Disconnected: a bad URL, an ``ssl_context`` for a ``tcp://`` URL, the server
            cannot be reached ("cannot reach AMI at host:port: Connection refused"), or
            TLS failed ("TLS with AMI at host:port failed: certificate verify failed: ...").
        TypeError: ``ssl_context`` is not an ``ssl.SSLContext``.
    """
    try:
        secure, host, port = _parse(url)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    if secure:
        return await open_tls(host, port, name="AMI", ssl_context=ssl_context)
    if ssl_context is not None:
        # a context for a plain link would make the caller believe it is protected
        raise Disconnected(f"an ssl_context was given for a plain {url!r}: use tls://")
    return await tcp.open_tcp(host, port, name="AMI")


@asynccontextmanager
async def connected(
    url: str, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[TcpTransport | TlsTransport]:
    """``open_tcp`` for the life of an ``async with`` block (closed when it ends).

    Raises:
        Disconnected: (on entering) as ``open_tcp``.
        TypeError: ``ssl_context`` is not an ``ssl.SSLContext``.
    """
    transport = await open_tcp(url, ssl_context=ssl_context)
    try:
        yield transport
    finally:
        await transport.aclose()
