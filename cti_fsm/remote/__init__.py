"""The agent API over NATS, for business services that hold no vendor connection: an agent
held by a ``cti-fsm gateway`` (somewhere), driven as if it were local.

::

    from cti_fsm.remote import open_remote_agent

    async with open_remote_agent("nats://127.0.0.1:4222", "acme", "1001") as agent:
        agent.on("onCallInRing", lambda note: print(note["phone_number"]))
        await agent.check_in("sales")           # the typed commands of the chart
        print(agent.state, agent.allowed())

The commands are the chart's (typed for the default chart, ``DefaultCommands``; a chart
of your own by attribute, ``cti_fsm.command_lookup``), checked by the gateway's agent
before anything reaches the vendor, and they raise the same exceptions with the same
messages (``IllegalCommand`` with its ``state`` and ``allowed``...). Listeners and
``notifications()`` hear every notification from the agent's stream, once each, in order,
whichever gateway holds the agent; a command returns once its notifications have arrived.

This is the trio flavour; ``cti_fsm.remote.asyncio`` is the asyncio one. nats-py is an
asyncio library: here it runs on one asyncio loop thread shared by the process
(``cti_fsm._asyncio_thread``), and events cross to trio in batches; the asyncio flavour
runs it on the caller's own loop, with no thread at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._asyncio_thread import AsyncioThread, asyncio_thread
from .._trio_thread import Batch
from ..chart import Chart
from ..chart_loader import default_chart
from ..command_lookup import AsyncCommandLookup
from ..default_commands import DefaultCommands
from ..errors import Disconnected
from ..events import Notification, Step
from ..gateway.wire import Event
from ._core import Bounded, RemoteCore, RemoteReading, RemoteView, reply_timeout

__all__ = ["CATCH_UP_SECONDS", "RemoteAgent", "open_remote_agent"]

#: how long a command waits, after its reply, for its notifications to arrive from the
#: stream before it returns with the reply's snapshot instead
CATCH_UP_SECONDS = 5.0


class RemoteAgent(RemoteReading, DefaultCommands, AsyncCommandLookup):
    """An agent held by a gateway, driven from trio; create it with ``open_remote_agent``.

    Attributes:
        chart: the chart the gateway's agent runs (the commands' names and arguments).
        agent_id: the agent's id.
        tenant: its tenant.
    """

    def __init__(
        self,
        tenant: str,
        agent_id: str,
        *,
        chart: Chart | None = None,
        notification_buffer: int = 10_000,
        thread: AsyncioThread | None = None,
    ) -> None:
        self.chart = chart or default_chart()
        self.tenant = tenant
        self.agent_id = agent_id
        self._view = RemoteView()
        self._listeners = {}
        self._listener_errors = 0
        self._buffer = notification_buffer
        self._subscriptions: set[tuple[Bounded, trio.Event]] = set()
        self._waiters: list[trio.Event] = []
        self._thread = thread or asyncio_thread()
        self._core = RemoteCore(tenant, agent_id, self._from_loop)
        self._to_trio: Batch | None = None
        self._nursery: trio.Nursery | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<cti_fsm.remote.RemoteAgent {self.agent_id!r} state={self.state!r}>"

    # --- the stream ---------------------------------------------------------------------------
    def _from_loop(self, event: Event) -> None:
        # on the loop: to trio, batched with the events that came before trio woke up
        to_trio = self._to_trio
        if to_trio is None or self._closed:
            return
        # the trio run may have ended: nobody listens any more
        with contextlib.suppress(RuntimeError, trio.RunFinishedError):
            to_trio.call_soon(lambda: self._arrived(event))

    def _arrived(self, event: Event) -> None:
        note = self._view.apply(event)
        if note is not None:
            self._hear(note)
            for sub, ready in self._subscriptions:
                if sub.put(note):
                    ready.set()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()

    def _spawn(
        self, listener: Callable[[Notification], Awaitable[Any]], note: Notification
    ) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._run_listener, listener, note)

    async def _run_listener(
        self, listener: Callable[[Notification], Awaitable[Any]], note: Notification
    ) -> None:
        try:
            await listener(note)
        except Exception:
            self._listener_errors += 1

    async def notifications(
        self, names: Iterable[str] | None = None
    ) -> AsyncIterator[Notification]:
        """``async for note in agent.notifications():`` every notification from now on (a
        consumer more than ``notification_buffer`` behind loses the oldest)."""
        sub = Bounded(frozenset(names) if names is not None else None, self._buffer)
        entry = (sub, trio.Event())
        self._subscriptions.add(entry)
        try:
            while True:
                while sub.queue:
                    yield sub.queue.popleft()
                self._subscriptions.discard(entry)
                entry = (sub, trio.Event())
                self._subscriptions.add(entry)
                await entry[1].wait()
        finally:
            self._subscriptions.discard(entry)

    # --- commands -------------------------------------------------------------------------------
    async def command(self, name: str, /, **args: Any) -> Step | None:
        """Send a chart command to the gateway holding the agent and wait for its answer.

        Returns:
            The step the confirming signal took (None if the command has none).

        Raises:
            The local agent's errors, as the gateway's agent raised them:
            IllegalCommand, PermissionDenied, InvalidArguments, Unsupported,
            MissingContext, Busy, CommandFailed, CommandTimeout, Disconnected; and
            Disconnected when no gateway holds the agent or none answers in time.
        """
        if self._closed:
            raise Disconnected("closed", command=name)
        reply = await self._thread.run(
            self._core.request(name, args, reply_timeout(self.chart, name))
        )
        with trio.move_on_after(CATCH_UP_SECONDS):
            while self._view.seq < reply.seq:
                waiter = trio.Event()
                self._waiters.append(waiter)
                await waiter.wait()
        self._view.settle(reply)
        if reply.error is not None:
            raise reply.error
        return reply.step

    # --- life -----------------------------------------------------------------------------------
    async def _open(self, nats_url: str, nursery: trio.Nursery) -> None:
        self._thread.acquire()
        self._nursery = nursery
        self._to_trio = Batch(trio.lowlevel.current_trio_token().run_sync_soon)
        try:
            entry = await self._thread.run(self._core.open(nats_url, None))
        except BaseException:
            self._thread.release()
            raise
        if entry is not None and self._view.seq == 0:
            self._view.start(entry)

    async def aclose(self) -> None:
        """Stop following the agent and close the connection (the agent stays as it is,
        held by its gateway); idempotent."""
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            try:
                await self._thread.run(self._core.close())
            finally:
                self._thread.release()


@asynccontextmanager
async def open_remote_agent(
    nats_url: str,
    tenant: str,
    agent_id: str,
    *,
    chart: Chart | None = None,
    notification_buffer: int = 10_000,
) -> AsyncIterator[RemoteAgent]:
    """Follow agent ``agent_id`` of ``tenant`` through the broker at ``nats_url``, from its
    current state on; close on exit.

    Args:
        nats_url: the broker.
        tenant: the tenant in the gateway's configuration.
        agent_id: the agent's id there.
        chart: the chart the gateway runs (default: the default chart).
        notification_buffer: how far a ``notifications()`` consumer may fall behind.

    Raises:
        Disconnected: the broker cannot be reached.
    """
    async with trio.open_nursery() as nursery:
        agent = RemoteAgent(tenant, agent_id, chart=chart, notification_buffer=notification_buffer)
        await agent._open(nats_url, nursery)
        try:
            yield agent
        finally:
            await agent.aclose()
            nursery.cancel_scope.cancel()
