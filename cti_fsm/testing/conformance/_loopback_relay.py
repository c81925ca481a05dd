"""A protocol-blind TCP relay on 127.0.0.1: counts the bytes each way, cuts links, stalls.

The conformance suite puts one between each agent and the simulator, to prove that a
refused command sends not one byte and to drop an agent's link; tests use it on its own.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import attrs
import trio


@attrs.define(eq=False)
class _Link:
    scope: trio.CancelScope


class LoopbackRelay:
    """A TCP relay on 127.0.0.1 between clients and a server: counts the bytes each way,
    cuts links and stalls the server's side. Protocol-blind, so it works for any adapter
    whose URL names a TCP host and port (``ws://``, ``tcp://``, ...)::

        relay = LoopbackRelay(simulator.url)
        await nursery.start(relay.serve)
        async with open_agent(adapter, relay.url, ...) as agent: ...
        relay.upstream      # bytes the clients sent
        relay.drop()        # close every connection (the clients see a dropped link)
        relay.stall()       # hold what the server sends ... relay.resume()

    Args:
        target: the server's URL (its host and port are used).

    Raises:
        ValueError: the URL names no port.
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        if parts.port is None or parts.hostname is None:
            raise ValueError(f"the relay needs a host and a port in {target!r}")
        self.target = target
        self._host, self._port = parts.hostname, parts.port
        #: bytes received from clients (and passed to the server)
        self.upstream = 0
        #: bytes received from the server (and passed to clients)
        self.downstream = 0
        #: connections accepted so far
        self.accepted = 0
        self.port: int | None = None
        self._links: set[_Link] = set()
        self._flowing = trio.Event()
        self._flowing.set()

    def __repr__(self) -> str:
        return (
            f"<LoopbackRelay :{self.port} -> {self._host}:{self._port} links={len(self._links)}"
            f" up={self.upstream} down={self.downstream}>"
        )

    @property
    def url(self) -> str:
        """``target`` with its host and port replaced by the relay's.

        Raises:
            RuntimeError: not serving yet.
        """
        if self.port is None:
            raise RuntimeError("the relay is not serving yet")
        parts = urlsplit(self.target)
        netloc = f"127.0.0.1:{self.port}"
        if parts.username is not None:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def links(self) -> int:
        """Connections open now."""
        return len(self._links)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 (a free port) until cancelled; ``task_status.started(port)``."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        try:
            task_status.started(self.port)
            await trio.serve_listeners(self._handle, listeners)
        finally:
            self.port = None

    def drop(self) -> int:
        """Close every open connection (both sides); returns how many."""
        links = list(self._links)
        for link in links:
            link.scope.cancel()
        return len(links)

    def stall(self) -> None:
        """Hold everything the server sends until ``resume`` (a stalled network)."""
        if self._flowing.is_set():
            self._flowing = trio.Event()

    def resume(self) -> None:
        """Pass on what the server sent, and everything after it."""
        self._flowing.set()

    async def _handle(self, client: trio.SocketStream) -> None:
        self.accepted += 1
        try:
            server = await trio.open_tcp_stream(self._host, self._port)
        except OSError:
            await client.aclose()
            return
        link = _Link(trio.CancelScope())
        self._links.add(link)
        try:
            with link.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, client, server, True, nursery.cancel_scope)
                    nursery.start_soon(self._pump, server, client, False, nursery.cancel_scope)
        finally:
            self._links.discard(link)
            with trio.CancelScope(shield=True):
                await client.aclose()
                await server.aclose()

    async def _pump(
        self, source: trio.SocketStream, sink: trio.SocketStream, up: bool, scope: trio.CancelScope
    ) -> None:
        try:
            while True:
                data = await source.receive_some(65536)
                if not data:
                    break
                if up:
                    self.upstream += len(data)
                else:
                    await self._flowing.wait()
                    self.downstream += len(data)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        # one side is gone: so is the link
        scope.cancel()
