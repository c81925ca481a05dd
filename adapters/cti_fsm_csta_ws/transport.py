"""The websocket client transport: where to connect, the limits, and the connection's
life as an ``async with``.

The websocket itself is ``wsclient.WebSocketTransport`` (wsproto, read by the task that
calls ``receive``: no background task, nothing outlives the block). Under it is
``cti_fsm.tcp.TcpTransport`` for ``ws://`` and a ``trio.SSLStream`` for ``wss://``,
certificates verified unless the caller's ``ssl_context`` says otherwise.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio

from cti_fsm.errors import Disconnected
from cti_fsm.tcp import open_tcp

from .wsclient import ByteStream, TlsByteStream, WebSocketTransport, handshake

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
        Disconnected: (on entering) bad URL, unreachable, refused, TLS failed, or the
            handshake was refused (the reason names the HTTP status) or timed out.
    """
    try:
        secure, host, port, resource = parse_url(url)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    if secure and ssl_context is None:
        ssl_context = ssl.create_default_context()
    peer = f"{host}:{port}"
    # the Host header: brackets for an IPv6 address, the port only when not the default
    host_header = f"[{host}]" if ":" in host else host
    if port != (443 if secure else 80):
        host_header += f":{port}"
    try:
        with trio.fail_after(timeout):
            stream = await _dial(host, port, ssl_context, peer)
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


async def _dial(host: str, port: int, ssl_context: ssl.SSLContext | None, peer: str) -> ByteStream:
    """The byte stream to run the websocket on: plain TCP, or TLS over trio's TCP.

    Raises:
        Disconnected: the name does not resolve or the connection was refused.
    """
    if ssl_context is None:
        return await open_tcp(host, port, name="the websocket server")
    try:
        # https_compatible: the server may drop TCP without a TLS goodbye, as web servers
        # do (trio-websocket sets it too); the TLS handshake runs on the first send
        stream = await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=ssl_context, https_compatible=True
        )
    except OSError as exc:
        raise Disconnected(f"cannot reach the websocket server: {exc.strerror or exc}") from None
    return TlsByteStream(stream, peer)
