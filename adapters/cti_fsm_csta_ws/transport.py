"""The websocket client transport: where to connect, the limits, and the connection's
life as an ``async with``.

The websocket itself is ``wsclient.WebSocketTransport`` (wsproto, read by the task that
calls ``receive``: no background task, nothing outlives the block). Under it is
``cti_fsm.tcp.TcpTransport`` for ``ws://`` and ``cti_fsm.tls.TlsTransport`` for ``wss://``:
the server's certificate and name verified (the system's CAs, or the caller's
``ssl_context``: a private CA, or verification off in a context the caller built), the TLS
handshake done before the websocket's, so a refused certificate is reported at once.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio

from cti_fsm.errors import Disconnected
from cti_fsm.tcp import open_tcp
from cti_fsm.tls import client_context, open_tls

from .wsclient import ByteStream, WebSocketTransport, handshake

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_MAX_MESSAGE",
    "DISCONNECT_TIMEOUT",
    "WebSocketTransport",
    "open_websocket",
    "parse_url",
]

#: Largest message the transport accepts. Above the codec's limit on purpose: an oversized
#: message still reaches the codec, which reports it and decoding goes on, where closing
#: the link would throw the agent into a reconnect.
DEFAULT_MAX_MESSAGE = 16 << 20
#: Seconds to open the TCP connection (and TLS) and finish the opening handshake.
CONNECT_TIMEOUT = 10.0
#: Seconds ``aclose`` waits for the peer's reply to its close before dropping the socket.
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


@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    max_message: int = DEFAULT_MAX_MESSAGE,
    timeout: float = CONNECT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[WebSocketTransport]:
    """Connect to ``url``; the websocket lives for the block and is closed after it
    (closing handshake bounded by ``DISCONNECT_TIMEOUT``).

    Args:
        url: ``ws://host[:port]/path`` or ``wss://...``.
        max_message: the longest message accepted; a longer one closes the link (1009).
        timeout: seconds for the TCP connection, TLS and the opening handshake together.
        ssl_context: for ``wss://``; default ``ssl.create_default_context()`` (the
            server's certificate and name verified).

    Raises:
        Disconnected: (on entering) bad URL, an ``ssl_context`` for a ``ws://`` URL,
            unreachable, refused, TLS failed (the reason says so, and why), or the
            handshake was refused (the reason names the HTTP status) or timed out.
        TypeError: ``ssl_context`` is not an ``ssl.SSLContext``.
    """
    try:
        secure, host, port, resource = parse_url(url)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    if ssl_context is not None and not secure:
        # a context for a plain link would make the caller believe it is protected
        raise Disconnected(f"an ssl_context was given for a plain {url!r}: use wss://")
    ssl_context = client_context(ssl_context) if secure else None
    peer = f"{host}:{port}"
    # the Host header: brackets for an IPv6 address, the port only when not the default
    host_header = f"[{host}]" if ":" in host else host
    if port != (443 if secure else 80):
        host_header += f":{port}"
    try:
        with trio.fail_after(timeout):
            stream = await _dial(host, port, ssl_context, timeout)
            try:
                transport = await handshake(
                    stream,
                    host=host_header,
                    resource=resource,
                    peer=peer,
                    max_message=max_message,
                    close_timeout=DISCONNECT_TIMEOUT,
                )
            except BaseException:
                await stream.aclose()
                raise
    except trio.TooSlowError:
        raise Disconnected(
            f"cannot open a websocket to {peer}: no answer within {timeout:g} s"
        ) from None
    except Disconnected as exc:
        raise Disconnected(f"cannot open a websocket to {peer}: {exc.reason}") from None
    try:
        yield transport
    finally:
        await transport.aclose()


async def _dial(
    host: str, port: int, ssl_context: ssl.SSLContext | None, timeout: float
) -> ByteStream:
    """The byte stream to run the websocket on: plain TCP, or TLS (handshake done).

    Raises:
        Disconnected: the name does not resolve, the connection was refused, or TLS failed.
    """
    if ssl_context is None:
        return await open_tcp(host, port, name="the websocket server")
    return await open_tls(
        host, port, name="the websocket server", ssl_context=ssl_context, timeout=timeout
    )
