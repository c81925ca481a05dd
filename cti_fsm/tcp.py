"""A TCP connection for trio that goes through the scheduler only when it must wait.

``trio.SocketStream`` makes every ``send_all`` and ``receive_some`` a full checkpoint: a
trip through the run loop even when the kernel could answer at once. On a request and
answer link (a CTI round trip is a few small writes and reads) that trip costs more than
the system calls themselves. ``TcpTransport`` instead tries the system call first on a
non-blocking stdlib socket and waits (``trio.lowlevel.wait_readable``/``wait_writable``,
public trio API) only when the kernel says it would block:

- ``receive`` is ``recv`` at once, waiting only on ``BlockingIOError``;
- ``send`` is ``send`` at once, waiting only while the kernel's buffer is full, until the
  whole frame is written; concurrent senders queue in order behind a frame part-way out;
- every call is still a cancel point (``trio.lowlevel.checkpoint_if_cancelled``: free
  unless cancelled), and a call that does not wait yields anyway every ``YIELD_EVERY``
  calls in a row, so a peer that keeps data coming cannot starve the other tasks;
- ``aclose`` wakes a task waiting in ``receive`` or ``send`` with ``Disconnected``
  (``trio.lowlevel.notify_closing``).

It satisfies ``cti_fsm.adapter.Transport`` for stream protocols (frames are chunks of the
stream, cut anywhere); an adapter opens one with ``open_tcp`` (or, from a ``tcp://host:port``
URL, ``open_url`` and ``connected``) or wraps an accepted ``trio.SocketStream`` with
``TcpTransport.from_stream`` (the simulators' server side).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio

from .errors import Disconnected

__all__ = ["DEFAULT_CHUNK", "YIELD_EVERY", "TcpStatistics", "TcpTransport", "open_tcp"]

#: The most bytes one ``receive`` returns by default.
DEFAULT_CHUNK = 65536
#: Calls in a row that completed without waiting after which the next one yields to the
#: scheduler first. Waiting yields already; without this a peer that always has data ready
#: (or a socket buffer that always has room) would let one task run forever. 16 keeps the
#: yield's cost under a tenth of what a per-call checkpoint costs, and bounds the delay
#: others see to 16 calls' work.
YIELD_EVERY = 16


@attrs.frozen
class TcpStatistics:
    """A snapshot of one connection's counters (``TcpTransport.statistics()``).

    Attributes:
        bytes_sent: bytes the kernel took.
        bytes_received: bytes read.
        send_waits: times a send waited for room in the kernel's buffer.
        receive_waits: times a receive waited for data.
        fairness_yields: yields made only so that other tasks run (``YIELD_EVERY``).
        closed: ``aclose`` was called.
    """

    bytes_sent: int
    bytes_received: int
    send_waits: int
    receive_waits: int
    fairness_yields: int
    closed: bool


class TcpTransport:
    """One open TCP connection over a non-blocking stdlib socket (see the module).

    Frames are bytes (text is sent as UTF-8); ``receive`` hands over whatever arrived.
    One task may receive at a time; any number may send (in the order they called).

    Args:
        sock: a connected stream socket; it is made non-blocking and owned from now on.
        peer: who is at the other end, for messages (``"the CTI server at pbx:5038"``).
        max_chunk: the most bytes one ``receive`` returns.
    """

    def __init__(
        self, sock: socket.socket, peer: str = "the server", *, max_chunk: int = DEFAULT_CHUNK
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._peer = peer
        self._max_chunk = max_chunk
        self._closed = False
        #: why sending is impossible though the socket is open (a send cancelled part-way)
        self._broken: str | None = None
        #: held only by a send that has to wait, so a later send cannot overtake its rest
        self._send_lock = trio.StrictFIFOLock()
        self._send_streak = 0
        self._receive_streak = 0
        self._sent = self._received = 0
        self._send_waits = self._receive_waits = self._yields = 0

    @classmethod
    def from_stream(
        cls, stream: trio.SocketStream, peer: str = "the client", *, max_chunk: int = DEFAULT_CHUNK
    ) -> TcpTransport:
        """Take over the socket of a connected ``trio.SocketStream`` (an accepted one, say);
        the stream must not be used afterwards (its socket is detached from it).

        Raises:
            OSError: the socket cannot be taken over (already closed).
        """
        trio_socket = stream.socket
        # the stdlib socket reads the family, type and protocol from the descriptor
        sock = socket.socket(fileno=trio_socket.detach())
        return cls(sock, peer, max_chunk=max_chunk)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self._peer} {state}>"

    @property
    def closed(self) -> bool:
        """``aclose`` was called."""
        return self._closed

    def statistics(self) -> TcpStatistics:
        """The counters now."""
        return TcpStatistics(
            self._sent,
            self._received,
            self._send_waits,
            self._receive_waits,
            self._yields,
            self._closed,
        )

    # --- receiving -------------------------------------------------------------------------------
    async def receive(self) -> bytes:
        """The next chunk of the stream (at most ``max_chunk`` bytes, cut anywhere).

        Raises:
            Disconnected: the peer closed the connection, it broke, or it was closed here
                (also while waiting).
            trio.BusyResourceError: another task is receiving on it.
        """
        if self._closed:
            raise Disconnected(f"the connection to {self._peer} is closed")
        # a cancel point, as every trio call is; before reading, so that nothing read is
        # lost to a cancellation
        await trio.lowlevel.checkpoint_if_cancelled()
        self._receive_streak += 1
        if self._receive_streak >= YIELD_EVERY:
            await self._fairness_yield()
            self._receive_streak = 0
        sock = self._sock
        while True:
            try:
                data = sock.recv(self._max_chunk)
            except BlockingIOError:
                self._receive_streak = 0
                self._receive_waits += 1
                try:
                    await trio.lowlevel.wait_readable(sock)
                except trio.ClosedResourceError:
                    raise Disconnected(f"the connection to {self._peer} was closed") from None
                continue
            except OSError as exc:
                raise self._broke(exc) from None
            if not data:
                raise Disconnected(f"{self._peer} closed the connection")
            self._received += len(data)
            return data

    # --- sending ---------------------------------------------------------------------------------
    async def send(self, frame: bytes | str) -> None:
        """Send all of ``frame`` (text as UTF-8), after any frame another task is still
        sending. A send cancelled part-way through its frame leaves the stream cut mid-frame:
        every later send raises ``Disconnected``.

        Raises:
            Disconnected: the connection is closed (also while waiting), broke, or an earlier
                send was cancelled part-way.
        """
        data = frame.encode("utf-8") if isinstance(frame, str) else frame
        self._check_sendable()
        await trio.lowlevel.checkpoint_if_cancelled()
        self._send_streak += 1
        if self._send_streak >= YIELD_EVERY:
            await self._fairness_yield()
            self._send_streak = 0
            self._check_sendable()
        lock = self._send_lock
        if lock.locked():
            # another send is waiting to write the rest of its frame: ours goes after it
            async with lock:
                self._check_sendable()
                await self._send_waiting(memoryview(data), started=False)
            return
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise self._broke(exc) from None
        self._sent += sent
        if sent == len(data):
            return
        # free: nobody holds it and this task has not yielded since looking
        lock.acquire_nowait()
        try:
            await self._send_waiting(memoryview(data)[sent:], started=sent > 0)
        finally:
            lock.release()

    async def _send_waiting(self, view: memoryview, *, started: bool) -> None:
        """Write all of ``view``, waiting for room whenever the kernel's buffer is full."""
        sock = self._sock
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                self._send_streak = 0
                self._send_waits += 1
                try:
                    await trio.lowlevel.wait_writable(sock)
                except trio.ClosedResourceError:
                    raise Disconnected(f"the connection to {self._peer} was closed") from None
                except BaseException:
                    if started:
                        # the peer has part of a frame; anything sent after it would be
                        # read as the rest of that frame
                        self._broken = "a send was cancelled part-way through a frame"
                    raise
                continue
            except OSError as exc:
                raise self._broke(exc) from None
            self._sent += sent
            started = True
            view = view[sent:]

    def _check_sendable(self) -> None:
        if self._closed:
            raise Disconnected(f"the connection to {self._peer} is closed")
        if self._broken is not None:
            raise Disconnected(f"the connection to {self._peer} is unusable: {self._broken}")

    # --- closing ---------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the connection; idempotent. A task waiting in ``receive`` or ``send`` wakes
        with ``Disconnected``. Closes even if cancelled (and then raises ``Cancelled``).

        Raises:
            trio.Cancelled: cancelled (the connection is closed all the same).
        """
        if not self._closed:
            self._closed = True
            # wakes the waiters before the descriptor number can be reused
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()
        await trio.lowlevel.checkpoint()

    # --- helpers ---------------------------------------------------------------------------------
    async def _fairness_yield(self) -> None:
        self._yields += 1
        await trio.lowlevel.checkpoint()

    def _broke(self, exc: OSError) -> Disconnected:
        reason = exc.strerror or type(exc).__name__
        return Disconnected(f"the connection to {self._peer} broke: {reason}")


async def open_tcp(
    host: str, port: int, *, name: str = "the server", max_chunk: int = DEFAULT_CHUNK
) -> TcpTransport:
    """Connect to ``host:port``, trying its addresses in the order the resolver gives them
    (no happy eyeballs: a CTI server is one host, usually named by address). Nagle's
    algorithm is off: the frames are small requests whose answers are waited for.

    Args:
        host: a name or an address.
        port: the TCP port.
        name: what the server is, for messages (``"the CTI server"``: "cannot reach the CTI
            server at ...").
        max_chunk: as for ``TcpTransport``.

    Raises:
        Disconnected: the name does not resolve or no address accepted the connection
            (the reason names the last address's error, "Connection refused" say).
    """
    where = f"{name} at {host}:{port}"
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Disconnected(f"cannot reach {where}: {_reason(exc)}") from None
    error: OSError = OSError(errno.EADDRNOTAVAIL, "no address to connect to")
    for family, type_, proto, _, address in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await _connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return TcpTransport(sock, where, max_chunk=max_chunk)
    raise Disconnected(f"cannot reach {where}: {_reason(error)}")


async def _connect(sock: socket.socket, address: Any) -> None:
    """A non-blocking connect, waiting for it to complete.

    Raises:
        OSError: the connection failed (refused, unreachable, ...).
    """
    try:
        sock.connect(address)
    except BlockingIOError:
        # under way (EINPROGRESS): writable once it has succeeded or failed
        await trio.lowlevel.wait_writable(sock)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code)) from None
    else:
        # connected at once (it happens on loopback); still a checkpoint, as trio's are
        await trio.lowlevel.checkpoint()


def parse_url(url: str, default_port: int, *, name: str = "TCP") -> tuple[str, int]:
    """``tcp://host:port`` (or ``host:port``, or ``host``) as ``(host, port)``.

    Args:
        url: the URL.
        default_port: the port when the URL names none.
        name: the protocol, for messages ("ESL needs a tcp://host:port URL").

    Raises:
        ValueError: not a tcp URL, or no host.
    """
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.scheme != "tcp":
        raise ValueError(f"{name} needs a tcp://host:port URL, not {parts.scheme}://")
    if not parts.hostname:
        raise ValueError(f"no host in {name} URL {url!r}")
    return parts.hostname, parts.port or default_port


async def open_url(url: str, default_port: int, *, name: str = "TCP") -> TcpTransport:
    """``open_tcp`` to the server a ``tcp://host:port`` URL names.

    Raises:
        Disconnected: the URL is not a tcp URL, or the server cannot be reached.
    """
    try:
        host, port = parse_url(url, default_port, name=name)
    except ValueError as exc:
        raise Disconnected(str(exc)) from None
    return await open_tcp(host, port, name=name)


@asynccontextmanager
async def connected(
    url: str, default_port: int, *, name: str = "TCP"
) -> AsyncIterator[TcpTransport]:
    """``open_url`` for the life of an ``async with`` block (closed when it ends).

    Raises:
        Disconnected: (on entering) the URL is not a tcp URL, or the server cannot be reached.
    """
    transport = await open_url(url, default_port, name=name)
    try:
        yield transport
    finally:
        await transport.aclose()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
