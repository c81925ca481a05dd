"""The server shell every adapter's simulator runs in (trio).

A simulator speaks one vendor's protocol over a real socket, backed by a ``Switch``. What
is not the protocol is the same for every one of them, and lives here once:

- listening: TCP on ``host:port`` (127.0.0.1, port 0 by default), ``task_status.started``
  with the bound port, ``url`` once serving (``cti_fsm.adapter.Simulator``); with
  ``serve(ssl_context=...)`` (a server context: its certificate loaded), TLS on every
  connection, the handshake done before the simulator's ``_open_link`` gets a
  ``trio.SSLStream`` (a byte protocol wraps it in a ``StreamLink``), and a TLS ``url``;
- one ``Client`` per connection: opened by the simulator's ``_open_link`` (a websocket
  server does its handshake there; a TCP protocol returns a ``TcpLink``), read by one task,
  closed in order (or abruptly) when either side ends it or the server stops;
- an outbox per client, optionally bounded, written in order by one writer at a time: the
  connection's reader writes what a request caused at once (unless ``reader_writes`` is
  False), a writer task what arrived from elsewhere (another agent's request, a test
  driving the switch); a byte-stream link (``SendsBatches``: ``TcpLink``) gets all that
  is queued in one write, as a real server writes a response and the events it caused;
- ``TcpLink``: a plain TCP connection over ``cti_fsm.tcp``, whose reads and writes go
  through trio's scheduler only when the kernel makes them wait;
- which agent each client logged in as (``connected_agents()``), and fault injection by
  agent: ``drop_link``, ``duplicate_next_event``, ``delay_next_event``, ``send_malformed``
  (the frame the simulator's ``_malformed`` names); ``frames_from`` counts what each agent sent;
- a bounded log of what the clients sent, and the subscription to the switch's events.

A simulator subclasses ``SimulatorServer`` and keeps only its protocol: how a link opens
(``_open_link``), what its client record holds (``_new_client``), what a frame from a client
means (``_client_sent``), what to say first (``_client_opened``) and how the switch's
events become its frames (``_on_switch_events``). Every adapter's simulator runs in it,
over websocket or plain TCP, and a new adapter's simulator starts from it.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import itertools
import logging
import ssl
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import attrs
import trio

from cti_fsm.errors import Disconnected
from cti_fsm.switch import Switch, SwitchEvent
from cti_fsm.tcp import DEFAULT_CHUNK, TcpTransport

__all__ = ["Client", "ClientLink", "SendsBatches", "SimulatorServer", "StreamLink", "TcpLink"]

log = logging.getLogger("cti_fsm.simulator_server")

FrameT = TypeVar("FrameT")
FrameIn = TypeVar("FrameIn", contravariant=True)
#: What a link's ``send`` and a closing connection may raise once the client has gone.
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)
#: Seconds an orderly close may wait for the client.
CLOSE_TIMEOUT = 1.0
#: Seconds a client has to complete the TLS handshake.
TLS_HANDSHAKE_TIMEOUT = 10.0


class ClientLink(Protocol[FrameT]):
    """One client's connection, frame by frame (a websocket message, a chunk of TCP bytes)."""

    async def receive(self) -> FrameT | None:
        """The next frame from the client; None once the client has closed or gone."""
        ...

    async def send(self, frame: FrameT) -> None:
        """Write one frame.

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        ...

    async def close(self, *, dropped: bool) -> None:
        """Close in the protocol's orderly way (``dropped``: the server chose to end it,
        as against the client leaving or the server stopping); must not raise."""
        ...

    async def abort(self) -> None:
        """Close the socket with no goodbye, as a crashed server would; must not raise."""
        ...


@runtime_checkable
class SendsBatches(Protocol[FrameIn]):
    """A ``ClientLink`` that can write several frames as one (a byte stream, where frames
    are only bytes in order): the outbox is written in one go, as a server writes what
    one request caused (its response, then its events) in one system call."""

    async def send_many(self, frames: Sequence[FrameIn]) -> None:
        """Write ``frames`` in order.

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        ...


class TcpLink:
    """A TCP stream as a ``ClientLink`` of byte chunks (framing is the protocol's codec's),
    over ``cti_fsm.tcp.TcpTransport``: a read or write the kernel can do at once does not
    go through the scheduler. Writes whole batches (``SendsBatches``).

    Args:
        stream: the accepted connection; the link takes its socket over.
        max_chunk: the most bytes one ``receive`` returns.

    Raises:
        OSError: (constructing) the stream's socket is already closed.
    """

    def __init__(self, stream: trio.SocketStream, max_chunk: int = DEFAULT_CHUNK) -> None:
        self.connection = TcpTransport.from_stream(stream, "the client", max_chunk=max_chunk)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection!r}>"

    async def receive(self) -> bytes | None:
        """The next chunk the client sent; None at its end of stream or a reset."""
        try:
            return await self.connection.receive()
        except Disconnected:
            return None  # a reset is as good as a close here

    async def send(self, frame: bytes) -> None:
        """Write ``frame``.

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        try:
            await self.connection.send(frame)
        except Disconnected as exc:
            raise trio.BrokenResourceError(exc.reason) from None

    async def send_many(self, frames: Sequence[bytes]) -> None:
        """Write ``frames`` in one go (one system call while the kernel has room).

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        await self.send(frames[0] if len(frames) == 1 else b"".join(frames))

    async def close(self, *, dropped: bool) -> None:
        """Close the connection (TCP has no goodbye but the close itself)."""
        await self.connection.aclose()

    async def abort(self) -> None:
        """Close the connection."""
        await self.connection.aclose()


class StreamLink:
    """Any trio byte stream (a ``trio.SSLStream``, say) as a ``ClientLink`` of byte chunks;
    writes whole batches (``SendsBatches``).

    Args:
        stream: the connection, ready for data (a TLS handshake done).
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {type(self.stream).__name__}>"

    async def receive(self) -> bytes | None:
        """The next chunk the client sent; None at its end of stream or a reset."""
        try:
            data = await self.stream.receive_some(DEFAULT_CHUNK)
        except _GONE:
            return None
        return bytes(data) or None

    async def send(self, frame: bytes) -> None:
        """Write ``frame``.

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        try:
            await self.stream.send_all(frame)
        except trio.ClosedResourceError as exc:
            raise trio.BrokenResourceError(str(exc)) from None

    async def send_many(self, frames: Sequence[bytes]) -> None:
        """Write ``frames`` in one go.

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        await self.send(frames[0] if len(frames) == 1 else b"".join(frames))

    async def close(self, *, dropped: bool) -> None:
        """Close the connection."""
        await self.stream.aclose()

    async def abort(self) -> None:
        """Close the connection."""
        await trio.aclose_forcefully(self.stream)


@attrs.frozen
class _Outgoing(Generic[FrameT]):
    frame: FrameT
    #: events are what ``duplicate_next_event`` and ``delay_next_event`` act on; answers
    #: and raw frames are never duplicated or delayed
    is_event: bool


@attrs.define(eq=False)
class Client(Generic[FrameT]):
    """The server's record of one client connection. A simulator subclasses it for its
    protocol's per-connection state (every added field needs a default).

    Attributes:
        id: unique in this server, from 1, in the order links opened.
        link: the connection.
        nursery: the connection's nursery (its writer, late frames, a websocket's reader).
        agent: the agent it logged in as (``SimulatorServer._log_in``), if it has.
    """

    id: int
    link: ClientLink[FrameT]
    nursery: trio.Nursery
    agent: str | None = None
    #: frames not written yet, in order; one task at a time (holding ``writing``) writes them
    outbox: collections.deque[_Outgoing[FrameT]] = attrs.field(factory=collections.deque)
    writing: trio.StrictFIFOLock = attrs.field(factory=trio.StrictFIFOLock)
    #: set when frames were queued that no request's reader will write (see ``_send``)
    wake: trio.Event = attrs.field(factory=trio.Event)
    #: no more frames are queued (the connection is ending)
    closed: bool = False
    #: the reading task's scope: cancelling it ends the connection
    reader: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    #: the link writes a run of frames as one (``SendsBatches``); looked up once, as a
    #: runtime protocol check costs microseconds
    batches: bool = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: isinstance(self.link, SendsBatches), takes_self=True),
    )
    abrupt: bool = False
    duplicate_next: bool = False
    delay_next: float | None = None


ClientT = TypeVar("ClientT", bound=Client[Any])


class SimulatorServer(abc.ABC, Generic[FrameT, ClientT]):
    """The shell of a simulator: listening, clients, outboxes, faults, switch events.

    Args:
        switch: the switch the clients' requests act on and whose events are sent.
        received_kept: how many received requests ``_received`` remembers (the oldest are
            forgotten, so a long-running simulator does not grow without end).
        backlog: how many frames may wait for one client before it is dropped as not
            reading (None: no bound).
        reader_writes: a connection's reader writes what the client's frame caused before
            it reads the next one, so a client that stops reading stops being read.
            False: the writer task writes everything and reading runs ahead of writing
            (then ``backlog`` is what stops a client that does not read).

    Attributes:
        switch: as given.
        host: the address listened on, once serving.
        port: the port listened on, once serving.
    """

    #: ``url`` once serving, from ``host`` and ``port`` (``"tcp://{host}:{port}"``).
    url_template: ClassVar[str] = "tcp://{host}:{port}"
    #: ``url`` once serving over TLS (the protocol's secure scheme); None: no TLS.
    tls_url_template: ClassVar[str | None] = None

    def __init__(
        self,
        switch: Switch,
        *,
        received_kept: int,
        backlog: int | None,
        reader_writes: bool = True,
    ) -> None:
        self.switch = switch
        self._reader_writes = reader_writes
        self.host: str | None = None
        self.port: int | None = None
        self.ssl_context: ssl.SSLContext | None = None
        self._backlog = backlog
        self._clients: dict[int, ClientT] = {}
        self._by_agent: dict[str, list[ClientT]] = {}
        self._client_ids = itertools.count(1)
        #: what clients sent, for tests to inspect; each simulator decides what an entry is
        self._received: collections.deque[Any] = collections.deque(maxlen=received_kept)
        # the client whose frame is being handled, if its reader writes what that causes
        self._serving: ClientT | None = None
        # frames received from each agent's logged-in connections (one key per agent)
        self._frames_from: collections.Counter[str] = collections.Counter()
        # set when the switch changed, for the task running its timers (``serve``)
        self._switch_changed = trio.Event()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.port is not None else "not serving"
        return f"<{type(self).__name__} {where} connections={len(self._clients)} {self.switch!r}>"

    @property
    def url(self) -> str:
        """The URL a client connects to, once serving.

        Raises:
            RuntimeError: not serving yet.
        """
        if self.port is None:
            raise RuntimeError("the simulator is not serving yet")
        template = self.tls_url_template if self.ssl_context else self.url_template
        assert template is not None  # serve() refuses TLS without a TLS URL
        return template.format(host=self.host, port=self.port)

    # --- the protocol: what a simulator writes ---------------------------------------------------
    @abc.abstractmethod
    async def _open_link(
        self, stream: trio.SocketStream | trio.SSLStream[trio.SocketStream], nursery: trio.Nursery
    ) -> ClientLink[FrameT] | None:
        """The link over a new connection (``TcpLink(stream)``, ``StreamLink`` over TLS, or
        after a handshake run in ``nursery``); None closes the connection unserved."""

    @abc.abstractmethod
    def _new_client(self, id: int, link: ClientLink[FrameT], nursery: trio.Nursery) -> ClientT:
        """The record of a new client (the simulator's ``Client`` subclass)."""

    def _client_opened(self, client: ClientT) -> None:
        """Called once a client is connected, before its first frame (a banner, say)."""

    @abc.abstractmethod
    def _client_sent(self, client: ClientT, frame: FrameT) -> bool:
        """Carry out what the client sent, queueing answers with ``_send``; False ends
        the connection once what is queued is written (a logoff, say)."""

    @abc.abstractmethod
    def _on_switch_events(self, events: Sequence[SwitchEvent]) -> None:
        """The switch changed: queue what the clients are told (``_send``)."""

    # --- serving ---------------------------------------------------------------------------------
    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` (0: the OS picks) until cancelled; ``task_status.started``
        with the bound port once listening. Clients still connected are closed in order.
        With ``ssl_context`` (a server context holding the certificate), over TLS.

        Raises:
            OSError: the address cannot be listened on.
            ValueError: ``ssl_context`` for a simulator whose protocol has no TLS URL.
        """
        if ssl_context is not None and self.tls_url_template is None:
            raise ValueError(f"{type(self).__name__} has no TLS variant")
        self.ssl_context = ssl_context
        listeners = await trio.open_tcp_listeners(port, host=host)
        unsubscribe = self.switch.subscribe(self._on_switch_events)
        # the switch's timers (after-call work, ring timeouts) run on this loop's clock
        # while it serves, so a test's virtual clock drives them too
        clock, self.switch.clock = self.switch.clock, trio.current_time
        self._switch_changed = trio.Event()
        unsubscribe_timers = self.switch.subscribe(self._switch_changed_now)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._run_switch_timers)
                self.host, self.port = host, listeners[0].socket.getsockname()[1]
                log.info("%s listening on %s", type(self).__name__, self.url)
                task_status.started(self.port)
                await trio.serve_listeners(
                    self._serve_connection, listeners, handler_nursery=nursery
                )
        finally:
            unsubscribe_timers()
            unsubscribe()
            self.switch.clock = clock
            self.port = None

    def _switch_changed_now(self, events: Sequence[SwitchEvent]) -> None:
        self._switch_changed.set()

    async def _run_switch_timers(self) -> None:
        """Fire the switch's timers when due (``Switch.wake_at``), looking again whenever
        the switch changed (a change may arm an earlier timer)."""
        while True:
            with trio.move_on_at(self.switch.wake_at):
                await self._switch_changed.wait()
            # wake_at is read afresh below and on the next round: no change goes unseen
            self._switch_changed = trio.Event()
            now = trio.current_time()
            if self.switch.wake_at <= now:
                try:
                    self.switch.tick(now)
                except Exception:
                    # a simulator bug fails this one tick (loudly, in the log), not the server
                    log.exception("%s: the switch's timers failed", type(self).__name__)

    async def _serve_connection(self, tcp: trio.SocketStream) -> None:
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = tcp
        if self.ssl_context is not None:
            stream = trio.SSLStream(tcp, self.ssl_context, server_side=True, https_compatible=True)
            with trio.move_on_after(TLS_HANDSHAKE_TIMEOUT) as handshake:
                try:
                    await stream.do_handshake()
                except trio.BrokenResourceError as exc:
                    # a client refusing the certificate ends it here: its side says why
                    log.info("TLS handshake failed: %s", exc.__cause__ or exc)
                    handshake.cancel()
            if handshake.cancelled_caught:
                await trio.aclose_forcefully(stream)
                return
        async with trio.open_nursery() as nursery:
            link = await self._open_link(stream, nursery)
            if link is None:
                nursery.cancel_scope.cancel()
                await stream.aclose()
                return
            client = self._new_client(next(self._client_ids), link, nursery)
            self._clients[client.id] = client
            nursery.start_soon(self._writer, client)
            try:
                with client.reader:
                    await self._read(client)
            finally:
                self._log_out(client)
                del self._clients[client.id]
                client.closed = True
                client.outbox.clear()
                with trio.CancelScope(shield=True):
                    if client.abrupt:
                        await link.abort()
                    else:
                        # a client that never answers the goodbye must not hold the server
                        with trio.move_on_after(CLOSE_TIMEOUT):
                            await link.close(dropped=client.reader.cancel_called)
                nursery.cancel_scope.cancel()

    async def _read(self, client: ClientT) -> None:
        self._serving = client if self._reader_writes else None
        try:
            self._client_opened(client)
        finally:
            self._serving = None
        more = True
        while more:
            if self._reader_writes:
                # the reader writes what the client's frame caused itself, as a plain
                # server does: a hand-off to the writer task would cost a trip through the
                # scheduler per request. Reading waits until it is written, so a client
                # that stops reading stops its own requests from being read instead of
                # growing the outbox.
                try:
                    await self._write_outbox(client)
                except _GONE:
                    return
            frame = await client.link.receive()
            if frame is None:
                return
            if client.agent is not None:
                self._frames_from[client.agent] += 1
            self._serving = client if self._reader_writes else None
            try:
                more = self._client_sent(client, frame)
            finally:
                self._serving = None
        # the client ended it (a logoff): what answers it goes out before the close
        with contextlib.suppress(*_GONE):
            await self._write_outbox(client)

    async def _writer(self, client: ClientT) -> None:
        """Write what was queued outside the client's own frames (events the switch emitted
        for another agent's request or a test's stimulus, injected faults)."""
        try:
            while True:
                await client.wake.wait()
                client.wake = trio.Event()
                await self._write_outbox(client)
        except _GONE:
            client.reader.cancel()

    async def _write_outbox(self, client: ClientT) -> None:
        """Write the outbox in order; one writer at a time, so frames never overtake.

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        if not client.outbox:
            return
        # free in the usual case: no trip through the scheduler to take it
        try:
            client.writing.acquire_nowait()
        except trio.WouldBlock:
            await client.writing.acquire()
        try:
            if client.batches:
                await self._write_batches(client)
                return
            while client.outbox:
                out = client.outbox.popleft()
                if out.is_event and client.delay_next is not None:
                    delay, client.delay_next = client.delay_next, None
                    client.nursery.start_soon(self._send_late, client, out.frame, delay)
                    continue
                if out.is_event and client.duplicate_next:
                    client.duplicate_next = False
                    await client.link.send(out.frame)
                await client.link.send(out.frame)
        finally:
            client.writing.release()

    async def _write_batches(self, client: ClientT) -> None:
        """``_write_outbox`` for a link that writes a run of frames as one: what is queued
        goes in one write, in order, with the same faults applied frame by frame. The frames
        of a write in progress have left the outbox, so a client that stops reading is
        dropped at ``backlog`` frames more than one write.

        Raises:
            trio.BrokenResourceError: the client has gone.
        """
        link: Any = client.link  # a SendsBatches (client.batches)
        outbox = client.outbox
        while outbox:
            frames: list[FrameT] = []
            while outbox:
                out = outbox.popleft()
                if out.is_event and client.delay_next is not None:
                    delay, client.delay_next = client.delay_next, None
                    client.nursery.start_soon(self._send_late, client, out.frame, delay)
                    continue
                if out.is_event and client.duplicate_next:
                    client.duplicate_next = False
                    frames.append(out.frame)
                frames.append(out.frame)
            if frames:
                await link.send_many(frames)

    async def _send_late(self, client: ClientT, frame: FrameT, delay: float) -> None:
        await trio.sleep(delay)
        with contextlib.suppress(*_GONE):
            await client.link.send(frame)

    def _send(self, client: ClientT, frame: FrameT, *, event: bool = False) -> None:
        """Queue ``frame`` for ``client`` (``event``: duplicating and delaying apply)."""
        if client.closed:
            return
        if self._backlog is not None and len(client.outbox) >= self._backlog:
            log.warning("connection %d: %d frames unread, dropped", client.id, self._backlog)
            self._drop(client, abrupt=True)
            return
        client.outbox.append(_Outgoing(frame, event))
        if client is not self._serving:
            # no reader is about to flush this connection: its writer task must
            client.wake.set()

    def _drop(self, client: ClientT, *, abrupt: bool) -> None:
        client.closed = True
        client.abrupt = abrupt
        client.reader.cancel()

    # --- clients and agents ----------------------------------------------------------------------
    def _log_in(self, client: ClientT, agent_id: str) -> None:
        """Record that ``client`` is now ``agent_id``'s (``connected_agents``, faults)."""
        if client.agent is not None:
            self._log_out(client)
        client.agent = agent_id
        self._by_agent.setdefault(agent_id, []).append(client)

    def _log_out(self, client: ClientT) -> None:
        """Forget whose ``client`` was (also called when it closes)."""
        if client.agent is not None:
            clients = self._by_agent.get(client.agent, [])
            if client in clients:
                clients.remove(client)
            if not clients:
                self._by_agent.pop(client.agent, None)
        client.agent = None

    def _clients_of(self, agent_id: str) -> list[ClientT]:
        return list(self._by_agent.get(agent_id, ()))

    def _logged_in_clients(self) -> list[ClientT]:
        """Every client logged in as some agent, in the order they connected."""
        return [c for c in self._clients.values() if c.agent is not None]

    def frames_from(self, agent_id: str) -> int:
        """How many frames the agent's connections sent once logged in, over all of them:
        a test compares it before and after to see that nothing was sent."""
        return self._frames_from[agent_id]

    def connected_agents(self) -> tuple[str, ...]:
        """The agents with a logged-in connection, in login order."""
        return tuple(a for a, clients in self._by_agent.items() if clients)

    # --- fault injection -------------------------------------------------------------------------
    def drop_link(self, agent_id: str, *, abrupt: bool = True) -> int:
        """Drop the agent's connections: the socket closes with no goodbye from the protocol
        (``abrupt=False``: with the link's orderly close). The switch keeps the agent, as a
        real server does. Returns how many connections were dropped."""
        clients = self._clients_of(agent_id)
        for client in clients:
            self._drop(client, abrupt=abrupt)
        return len(clients)

    def duplicate_next_event(self, agent_id: str) -> int:
        """Send the agent's next event twice; returns how many connections it applies to."""
        clients = self._clients_of(agent_id)
        for client in clients:
            client.duplicate_next = True
        return len(clients)

    def delay_next_event(self, agent_id: str, seconds: float) -> int:
        """Hold the agent's next event back ``seconds``; the events after it go first.
        Returns how many connections it applies to."""
        clients = self._clients_of(agent_id)
        for client in clients:
            client.delay_next = seconds
        return len(clients)

    def send_malformed(self, agent_id: str) -> int:
        """Send the agent's connections a frame their codec cannot decode (in order with
        the other frames), which a client must drop, counting it, and stay connected.
        Returns how many connections it was sent to.

        Raises:
            NotImplementedError: this simulator names no malformed frame (``_malformed``).
        """
        frame = self._malformed()
        if frame is None:
            raise NotImplementedError(f"{type(self).__name__} cannot send a malformed frame")
        return self._push_raw(agent_id, frame)

    def _malformed(self) -> FrameT | None:
        """A frame of this protocol that no client can decode (None: none is known)."""
        return None

    def _push_raw(self, agent_id: str, frame: FrameT) -> int:
        """Queue ``frame`` as it is to the agent's connections, in order with the others."""
        clients = self._clients_of(agent_id)
        for client in clients:
            self._send(client, frame)
        return len(clients)
