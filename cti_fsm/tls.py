"""TLS for the transports: a verified connection, or a failure said at once with its reason.

``open_tls(host, port, name=..., ssl_context=...)`` connects over TCP and runs the TLS
handshake before returning, so a certificate the client refuses (or a server that does
not speak TLS) is ``Disconnected`` at once, naming TLS and the reason ("TLS with the CTI
server at cti.example:7443 failed: certificate verify failed: self-signed certificate"),
not a login that times out later. The connection it returns is a ``TlsTransport``:
``cti_fsm.adapter``'s ``Transport`` for stream protocols, and a byte stream for framed
ones to run on.

Verification is on by default: ``client_context(None)`` is
``ssl.create_default_context()`` (the system's CAs, the server's name checked). A private
CA is trusted by passing a context that loads it
(``ssl.create_default_context(cafile="ca.pem")``); verification can be turned off only in
a context the caller builds itself (``check_hostname = False``, ``verify_mode =
ssl.CERT_NONE``): no flag here does it.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import trio

from .errors import Disconnected

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "TRANSPORT_OPTIONS",
    "TlsTransport",
    "client_context",
    "open_tls",
    "tls_reason",
]

#: Seconds the TLS handshake may take before the connection is given up.
HANDSHAKE_TIMEOUT = 10.0
#: The agent's options that are the transport's, not the protocol's (``Agent(options=)``).
TRANSPORT_OPTIONS = frozenset({"ssl_context"})
#: The most bytes one ``receive`` returns.
_CHUNK = 65536


def client_context(ssl_context: Any = None) -> ssl.SSLContext:
    """The context to verify a server with: ``ssl_context``, or the default one.

    Raises:
        TypeError: ``ssl_context`` is neither None nor an ``ssl.SSLContext`` (a path or a
            flag is refused: build a context, ``ssl.create_default_context(cafile=...)``).
    """
    if ssl_context is None:
        return ssl.create_default_context()
    if not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(
            "ssl_context must be an ssl.SSLContext (for a private CA:"
            f" ssl.create_default_context(cafile=...)), not {type(ssl_context).__name__}"
        )
    return ssl_context


def tls_reason(error: BaseException) -> str:
    """What went wrong in a TLS handshake, in words (from the ``ssl`` error under trio's)."""
    cause = error.__cause__ if isinstance(error, trio.BrokenResourceError) else error
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {cause.verify_message or cause.reason}"
    if isinstance(cause, ssl.SSLError):
        text = str(cause.reason or "").replace("_", " ").lower()
        return text or str(cause) or type(cause).__name__
    if isinstance(cause, OSError):
        return cause.strerror or str(cause) or type(cause).__name__
    # trio's own: the peer went away in the middle of the handshake
    return "the server closed the connection during the handshake (is it a TLS port?)"


class TlsTransport:
    """A ``trio.SSLStream`` whose handshake is done, as a transport: frames are chunks of
    the stream, every failure is ``Disconnected``, and sends are taken one at a time
    (``SSLStream.send_all`` refuses a second concurrent caller).

    Args:
        stream: the TLS stream.
        peer: who is at the other end, for messages (``"the CTI server at host:port"``).
    """

    def __init__(self, stream: trio.SSLStream[trio.SocketStream], peer: str) -> None:
        self._stream = stream
        self._peer = peer
        self._send_lock = trio.StrictFIFOLock()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self._peer} {state}>"

    @property
    def closed(self) -> bool:
        """``aclose`` was called."""
        return self._closed

    async def send(self, frame: bytes | str) -> None:
        """Write all of ``frame`` (text as UTF-8), after any write already under way.

        Raises:
            Disconnected: the stream is closed or broke.
        """
        data = frame.encode("utf-8") if isinstance(frame, str) else frame
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise self._broke(exc) from None

    async def receive(self) -> bytes:
        """The next bytes of the stream (never empty).

        Raises:
            Disconnected: the peer closed the stream, it broke, or it was closed here.
        """
        try:
            data = await self._stream.receive_some(_CHUNK)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._broke(exc) from None
        if not data:
            raise Disconnected(f"{self._peer} closed the connection")
        return bytes(data) if isinstance(data, bytearray) else data

    async def aclose(self) -> None:
        """Close (no TLS goodbye is waited for); idempotent.

        Raises:
            trio.Cancelled: cancelled (the stream is closed all the same).
        """
        self._closed = True
        await self._stream.aclose()

    def _broke(self, exc: trio.BrokenResourceError | trio.ClosedResourceError) -> Disconnected:
        if isinstance(exc, trio.ClosedResourceError):
            return Disconnected(f"the connection to {self._peer} was closed")
        return Disconnected(f"the TLS connection to {self._peer} broke: {tls_reason(exc)}")


async def open_tls(
    host: str,
    port: int,
    *,
    name: str = "the server",
    ssl_context: Any = None,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> TlsTransport:
    """Connect to ``host:port`` and complete the TLS handshake (see the module).

    Args:
        host: a name or an address; the certificate must be valid for it.
        port: the TCP port.
        name: what the server is, for messages ("TLS with the CTI server at ... failed").
        ssl_context: the context to verify the server with (default: the system's CAs).
        timeout: seconds for the TCP connection and the handshake together.

    Raises:
        Disconnected: unreachable, or the handshake failed or timed out (the reason
            names TLS and why: the certificate, the protocol, no answer).
        TypeError: ``ssl_context`` is not an ``ssl.SSLContext``.
    """
    context = client_context(ssl_context)
    where = f"{name} at {host}:{port}"
    stream: trio.SSLStream[trio.SocketStream] | None = None
    try:
        with trio.fail_after(timeout):
            tcp = await trio.open_tcp_stream(host, port)
            # https_compatible: a server may drop TCP without a TLS goodbye, as web servers do
            stream = trio.SSLStream(tcp, context, server_hostname=host, https_compatible=True)
            await stream.do_handshake()
    except OSError as exc:
        raise Disconnected(f"cannot reach {where}: {_connect_reason(exc)}") from None
    except trio.TooSlowError:
        if stream is None:
            raise Disconnected(f"cannot reach {where}: no answer within {timeout:g} s") from None
        await trio.aclose_forcefully(stream)
        raise Disconnected(f"TLS with {where} failed: no handshake within {timeout:g} s") from None
    except trio.BrokenResourceError as exc:
        assert stream is not None  # only the handshake raises it
        await trio.aclose_forcefully(stream)
        raise Disconnected(f"TLS with {where} failed: {tls_reason(exc)}") from None
    except BaseException:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise
    return TlsTransport(stream, where)


def _connect_reason(exc: OSError) -> str:
    """Why no connection was made: trio names "all attempts failed" and keeps each
    address's error under it; the last one says why ("Connection refused")."""
    cause = exc.__cause__
    if exc.strerror is None and isinstance(cause, BaseExceptionGroup):
        last = cause.exceptions[-1]
        if isinstance(last, OSError) and last.errno:
            # trio's strerror repeats the address; the system's words are enough
            return os.strerror(last.errno)
    return exc.strerror or str(exc) or type(exc).__name__
