"""The asyncio flavour of ``cti_fsm.remote``: the same remote agent for asyncio programs
(FastAPI, aiohttp), with nats-py on the caller's own loop: no thread, no crossing.

::

    from cti_fsm.remote.asyncio import open_remote_agent

    async with open_remote_agent("nats://127.0.0.1:4222", "acme", "1001") as agent:
        await agent.check_in("sales")

Pass ``nc=`` a connection of your own to share it among many agents (it is not closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from nats.aio.client import Client

from ..chart import Chart
from ..chart_loader import default_chart
from ..command_lookup import AsyncCommandLookup
from ..default_commands import DefaultCommands
from ..errors import Disconnected
from ..events import Notification, Step
from ..gateway.wire import Event
from . import CATCH_UP_SECONDS
from ._core import Bounded, RemoteCore, RemoteReading, RemoteView, reply_timeout

__all__ = ["RemoteAgent", "open_remote_agent"]


class RemoteAgent(RemoteReading, DefaultCommands, AsyncCommandLookup):
    """An agent held by a gateway, driven from asyncio; create it with ``open_remote_agent``.

    Attributes:
        chart: the chart the gateway's agent runs.
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
    ) -> None:
        self.chart = chart or default_chart()
        self.tenant = tenant
        self.agent_id = agent_id
        self._view = RemoteView()
        self._listeners = {}
        self._listener_errors = 0
        self._buffer = notification_buffer
        self._subscriptions: set[tuple[Bounded, asyncio.Event]] = set()
        self._advanced = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._core = RemoteCore(tenant, agent_id, self._arrived)
        self._closed = False

    def __repr__(self) -> str:
        return f"<cti_fsm.remote.asyncio.RemoteAgent {self.agent_id!r} state={self.state!r}>"

    def _arrived(self, event: Event) -> None:
        if self._closed:
            return
        note = self._view.apply(event)
        if note is not None:
            self._hear(note)
            for sub, ready in self._subscriptions:
                if sub.put(note):
                    ready.set()
        self._advanced.set()

    def _spawn(
        self, listener: Callable[[Notification], Awaitable[Any]], note: Notification
    ) -> None:
        async def run() -> None:
            try:
                await listener(note)
            except Exception:
                self._listener_errors += 1

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notifications(
        self, names: Iterable[str] | None = None
    ) -> AsyncIterator[Notification]:
        """``async for note in agent.notifications():`` every notification from now on."""
        sub = Bounded(frozenset(names) if names is not None else None, self._buffer)
        entry = (sub, asyncio.Event())
        self._subscriptions.add(entry)
        try:
            while True:
                while sub.queue:
                    yield sub.queue.popleft()
                entry[1].clear()
                await entry[1].wait()
        finally:
            self._subscriptions.discard(entry)

    async def command(self, name: str, /, **args: Any) -> Step | None:
        """Send a chart command to the gateway holding the agent and wait for its answer.

        Raises:
            The local agent's errors, as the gateway's agent raised them, and
            Disconnected when no gateway holds the agent or none answers in time.
        """
        if self._closed:
            raise Disconnected("closed", command=name)
        reply = await self._core.request(name, args, reply_timeout(self.chart, name))
        try:
            async with asyncio.timeout(CATCH_UP_SECONDS):
                while self._view.seq < reply.seq:
                    self._advanced.clear()
                    await self._advanced.wait()
        except TimeoutError:
            pass
        self._view.settle(reply)
        if reply.error is not None:
            raise reply.error
        return reply.step

    async def aclose(self) -> None:
        """Stop following the agent (and close the connection if it opened it)."""
        if self._closed:
            return
        self._closed = True
        await self._core.close()


@asynccontextmanager
async def open_remote_agent(
    nats_url: str,
    tenant: str,
    agent_id: str,
    *,
    chart: Chart | None = None,
    nc: Client | None = None,
    notification_buffer: int = 10_000,
) -> AsyncIterator[RemoteAgent]:
    """Follow agent ``agent_id`` of ``tenant`` from asyncio (see ``cti_fsm.remote``).

    Raises:
        Disconnected: the broker cannot be reached.
    """
    agent = RemoteAgent(tenant, agent_id, chart=chart, notification_buffer=notification_buffer)
    entry = await agent._core.open(nats_url, nc)
    if entry is not None and agent._view.seq == 0:
        agent._view.start(entry)
    try:
        yield agent
    finally:
        await agent.aclose()
