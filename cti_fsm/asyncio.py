"""The agent for asyncio programs (FastAPI, aiohttp, Django Channels), as ``redis.asyncio``
is to redis.

::

    import cti_fsm.asyncio

    async with cti_fsm.asyncio.open_agent("csta-ws", url, "1001", password) as agent:
        agent.on("onCallInRing", lambda note: print(note["phone_number"]))
        await agent.check_in("sales")
        async for note in agent.notifications():
            ...

The agent is the trio agent (``cti_fsm.agent``), run in the process's one trio thread
(``cti_fsm._trio_thread``): the first agent opened starts the thread, the last one closed
stops it. Every chart command is awaitable from asyncio (typed for the default chart, as
the trio agent's are), checked against the chart before anything is sent, and raises the
same exceptions. Cancelling the asyncio task that awaits a command cancels the command:
its answer is no longer awaited and nothing may settle it afterwards (what was sent stays
sent). Listeners run on the asyncio loop that opened the agent, in order; async listeners
as tasks of that loop. A loop that stops running (blocked by a call that does not await)
while 10 000 notifications wait to reach it loses the ones that come after, counted in
``statistics().dropped_notifications``: the crossing never grows without bound.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from ._bridge import CANCELLED, BridgedReading, CommandJob, Deliver, HostedAgent
from ._trio_thread import Batch, shared_thread
from .adapter import Adapter
from .agent import Agent as TrioAgent
from .agent import _unregister
from .chart import Chart
from .command_lookup import AsyncCommandLookup
from .default_commands import DefaultCommands
from .errors import Disconnected
from .events import Notification, RawMessage, Step

__all__ = ["Agent", "open_agent"]

log = logging.getLogger("cti_fsm.asyncio")

Listener = Callable[[Notification], Any]


class _Subscription:
    """A bounded queue of notifications for one ``async for`` on the loop."""

    __slots__ = ("dropped", "maxlen", "names", "queue", "ready")

    def __init__(self, names: frozenset[str] | None, maxlen: int) -> None:
        self.names = names
        self.maxlen = maxlen
        self.queue: collections.deque[Notification] = collections.deque()
        self.ready = asyncio.Event()
        self.dropped = 0

    def put(self, note: Notification) -> None:
        if self.names is not None and note.name not in self.names:
            return
        if len(self.queue) >= self.maxlen:
            # a consumer that stopped reading must not grow memory without bound
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(note)
        self.ready.set()


class Agent(BridgedReading, DefaultCommands, AsyncCommandLookup):
    """An agent driven from asyncio; create it with ``open_agent``.

    The default chart's commands are typed awaitable methods (``await agent.hold()``); a
    chart of your own gets its commands as attributes too, and ``await
    agent.command(name, **args)`` sends any of them.

    Attributes:
        chart: the chart the agent runs.
        user: the agent's login.
        trio_agent: the trio agent underneath (lives in the trio thread: read it, do not
            call its methods from asyncio).
    """

    def __init__(self, trio_agent: TrioAgent, loop: asyncio.AbstractEventLoop) -> None:
        self.trio_agent = trio_agent
        self.chart: Chart = trio_agent.chart
        self.user = trio_agent.user
        self._loop = loop
        self._host = HostedAgent(trio_agent, shared_thread())
        self._inbox = Batch(loop.call_soon_threadsafe)
        self._listeners: dict[str, list[tuple[Listener, bool]]] = {}
        self._step_listeners: list[tuple[Callable[[Step], Any], bool]] = []
        self._raw_listeners: list[tuple[Callable[[RawMessage], Any], bool]] = []
        self._subscriptions: set[_Subscription] = set()
        self._buffer = 10_000
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener_errors = 0
        self._forwarded = self._emitted = self._lost_crossing = 0
        # read by the trio thread: forward notifications only while someone listens here
        self._wanted = False
        trio_agent.on("*", self._forward)

    def _dropped(self) -> int:
        return self._lost_crossing + sum(s.dropped for s in self._subscriptions)

    def __repr__(self) -> str:
        return f"<cti_fsm.asyncio.Agent {self.user!r} state={self.state!r}>"

    # --- commands -------------------------------------------------------------------------------
    async def command(self, name: str, /, **args: Any) -> Step | None:
        """Send a chart command and wait for its answer, from asyncio.

        Cancelling the awaiting task cancels the command in the trio thread.

        Returns:
            The step the confirming signal took (None if the command has none).

        Raises:
            The trio agent's errors (``Agent.command``): IllegalCommand,
            PermissionDenied, InvalidArguments, Unsupported, MissingContext, Busy,
            Disconnected, CommandFailed, CommandTimeout.
        """
        return await self._cross(name, lambda deliver: self._host.command(name, args, deliver))

    async def send_raw(self, message: RawMessage) -> None:
        """Send a raw vendor message as is (no chart check): the passthrough for features
        the chart does not cover. Its answer arrives at ``on_raw`` listeners.

        Raises:
            Disconnected: not connected.
        """
        await self._cross("send_raw", lambda deliver: self._host.send_raw(message, deliver))

    async def _cross(self, name: str, start: Callable[[Deliver], CommandJob]) -> Step | None:
        """Start a job in the trio thread and wait on the loop for its answer; cancelling
        the waiting task cancels the job."""
        future: asyncio.Future[Step | None] = self._loop.create_future()

        def deliver(step: Step | None, error: BaseException | None) -> None:
            self._to_loop(lambda: _settle(future, step, error))

        try:
            job = start(deliver)
        except RuntimeError:
            raise Disconnected("closed", command=name) from None
        try:
            return await future
        except asyncio.CancelledError:
            self._host.cancel(job)
            raise

    # --- listeners ------------------------------------------------------------------------------
    def on(self, name: str, listener: Listener) -> None:
        """Call ``listener(notification)`` on the loop for every notification named
        ``name`` ("*": all); an async listener runs as a task of the loop. One that raises
        is logged and does not break the agent.

        Raises:
            KeyError: the chart has no notification of that name.
        """
        if name != "*" and name not in self.chart.notifications:
            raise KeyError(f"chart {self.chart.name!r} has no notification {name!r}")
        self._listeners.setdefault(name, []).append(
            (listener, inspect.iscoroutinefunction(listener))
        )
        self._wanted = True

    def off(self, name: str, listener: Listener) -> None:
        """Remove a listener added with ``on`` (no error if it was not there)."""
        _unregister(self._listeners.get(name, []), listener)
        self._wanted = bool(self._subscriptions) or any(self._listeners.values())

    def on_step(self, listener: Callable[[Step], Any]) -> None:
        """Call ``listener(step)`` on the loop for every signal that moved the machine or
        emitted something (before that step's notifications): for timelines and audits."""
        if not self._step_listeners:
            self._host.listen(lambda agent: agent.on_step(self._forward_step))
        self._step_listeners.append((listener, inspect.iscoroutinefunction(listener)))

    def off_step(self, listener: Callable[[Step], Any]) -> None:
        """Remove a step listener."""
        _unregister(self._step_listeners, listener)

    def on_raw(self, listener: Callable[[RawMessage], Any]) -> None:
        """Call ``listener(message)`` on the loop for every raw message received (from the
        next frame on), before it is mapped: the passthrough's other half."""
        if not self._raw_listeners:
            self._host.listen(lambda agent: agent.on_raw(self._forward_raw))
        self._raw_listeners.append((listener, inspect.iscoroutinefunction(listener)))

    def off_raw(self, listener: Callable[[RawMessage], Any]) -> None:
        """Remove a raw listener."""
        _unregister(self._raw_listeners, listener)

    @asynccontextmanager
    async def subscribe(
        self, names: Iterable[str] | None = None
    ) -> AsyncIterator[AsyncIterator[Notification]]:
        """``async with agent.subscribe() as notes: async for note in notes:`` with a scope
        that unsubscribes; only notifications named in ``names`` if given. A consumer that
        falls 10 000 behind loses the oldest."""
        sub = _Subscription(frozenset(names) if names is not None else None, self._buffer)
        self._subscriptions.add(sub)
        self._wanted = True
        try:
            yield self._drain(sub)
        finally:
            self._subscriptions.discard(sub)
            self._wanted = bool(self._subscriptions) or any(self._listeners.values())

    async def notifications(
        self, names: Iterable[str] | None = None
    ) -> AsyncIterator[Notification]:
        """``async for note in agent.notifications():`` every notification from now on."""
        async with self.subscribe(names) as notes:
            async for note in notes:
                yield note

    async def _drain(self, sub: _Subscription) -> AsyncIterator[Notification]:
        while True:
            while sub.queue:
                yield sub.queue.popleft()
            sub.ready.clear()
            await sub.ready.wait()

    def _to_loop(self, job: Callable[[], object]) -> None:
        """Run ``job`` on the agent's loop (from the trio thread)."""
        try:
            self._inbox.call_soon(job)
        except RuntimeError:
            # the loop has closed under an agent nobody closed: nobody is left to tell
            log.warning("%s: the asyncio loop is closed; dropped %r", self.user, job)

    def _forward(self, note: Notification) -> None:
        # in the trio thread, from the trio agent's "*" listener
        if not self._wanted:
            return
        # a loop that does not run (blocked, or slower than the switch) must not let the
        # crossing grow without bound: each counter is written by one thread only
        if self._forwarded - self._emitted >= self._buffer:
            self._lost_crossing += 1
            return
        self._forwarded += 1
        self._to_loop(lambda: self._emit(note))

    def _forward_step(self, step: Step) -> None:
        # in the trio thread
        if self._step_listeners:
            self._to_loop(lambda: self._call_all(self._step_listeners, step))

    def _forward_raw(self, message: RawMessage) -> None:
        # in the trio thread
        if self._raw_listeners:
            self._to_loop(lambda: self._call_all(self._raw_listeners, message))

    def _emit(self, note: Notification) -> None:
        # on the loop
        self._emitted += 1
        for name in (note.name, "*"):
            listeners = self._listeners.get(name)
            if listeners:
                self._call_all(listeners, note)
        for sub in self._subscriptions:
            sub.put(note)

    def _call_all(self, listeners: list[tuple[Callable[[Any], Any], bool]], value: Any) -> None:
        """Call each listener with ``value`` on the loop; an async one as a task."""
        for listener, is_async in tuple(listeners):
            try:
                if is_async:
                    task = self._loop.create_task(self._run_async(listener, value))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    listener(value)
            except Exception:
                self._listener_errors += 1
                log.exception("%s: listener %r raised; the agent goes on", self.user, listener)

    async def _run_async(self, listener: Callable[[Any], Awaitable[Any]], note: Any) -> None:
        try:
            await listener(note)
        except Exception:
            self._listener_errors += 1
            log.exception("%s: listener %r raised; the agent goes on", self.user, listener)

    async def _stop_listener_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return  # cancelled meanwhile
    if error is CANCELLED:
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


@asynccontextmanager
async def open_agent(
    vendor: Adapter | str,
    url: str,
    user: str,
    password: str,
    **kwargs: Any,
) -> AsyncIterator[Agent]:
    """Connect, log in and synchronise an agent from asyncio; close it on exit.

    ``kwargs`` are the trio ``Agent``'s keyword arguments (rights, chart, options,
    reconnect, reconcile_every, ...). The first agent open in the process starts the trio
    thread; closing the last one stops it.

    Raises:
        AdapterNotFound: no adapter is registered under ``vendor``.
        Disconnected: the server cannot be reached.
        CommandFailed: the login was refused.
        CommandTimeout: the login was not answered in time.
    """
    loop = asyncio.get_running_loop()
    trio_agent = TrioAgent(vendor, url, user, password, **kwargs)
    thread = shared_thread()
    thread.acquire()
    try:
        agent = Agent(trio_agent, loop)
        started: asyncio.Future[None] = loop.create_future()
        ended: asyncio.Future[None] = loop.create_future()
        agent._host.start(
            lambda error: agent._to_loop(lambda: _settle(started, None, error)),
            lambda error: agent._to_loop(lambda: _settle(ended, None, error)),
        )
        try:
            await asyncio.shield(started)
        except asyncio.CancelledError:
            # cancelled while logging in: stop the login and wait until it has stopped
            agent._host.close()
            await _wait_out(started)
            if started.done() and not started.cancelled() and started.exception() is None:
                await _close(agent, ended)
            raise
        try:
            yield agent
        finally:
            await _close(agent, ended)
    finally:
        thread.release()


async def _wait_out(future: asyncio.Future[Any]) -> bool:
    """Wait until ``future`` is done, through cancellations of the caller; True if the
    caller was cancelled meanwhile (it should then raise ``CancelledError`` itself)."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = cancelled or not future.done()
        except Exception:
            pass  # the future's own error: read by whoever asks for it
    return cancelled


async def _close(agent: Agent, ended: asyncio.Future[None]) -> None:
    """Close the agent and wait until the trio side has let it go; a caller cancelled
    meanwhile still leaves nothing running, and is cancelled once it is done.

    Raises:
        asyncio.CancelledError: the caller was cancelled while the agent closed.
    """
    await agent._stop_listener_tasks()
    if not ended.done():
        agent._host.close()
    cancelled = await _wait_out(ended)
    error = ended.exception()
    if error is not None and not isinstance(error, Disconnected):
        log.warning("%s: the agent ended with %r", agent.user, error)
    if cancelled:
        raise asyncio.CancelledError
