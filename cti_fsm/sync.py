"""The agent for threaded programs (Django, Flask, scripts): every command blocks.

::

    import cti_fsm.sync

    with cti_fsm.sync.open_agent("csta-ws", url, "1001", password, timeout=10) as agent:
        agent.check_in("sales")
        for note in agent.notifications(timeout=60):
            ...

The agent is the trio agent (``cti_fsm.agent``), run in the process's one trio thread
(``cti_fsm._trio_thread``), shared with ``cti_fsm.asyncio``'s agents: the first agent opened
starts it, the last one closed stops it. Any thread may call commands (typed for the
default chart, ``cti_fsm.default_sync_commands``); each is checked against the chart
before anything is sent and raises what the trio agent raises. ``timeout`` bounds how long
a call blocks: past it the command is cancelled (its answer is no longer awaited; what
was sent stays sent) and ``CommandTimeout`` is raised. Listeners run in order in one
listener thread of the agent's own, started by the first ``on`` and stopped on close.
"""

from __future__ import annotations

import _thread
import collections
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._bridge import CANCELLED, BridgedReading, CommandJob, Deliver, HostedAgent
from ._trio_thread import shared_thread
from .adapter import Adapter
from .agent import Agent as TrioAgent
from .chart import Chart
from .command_lookup import SyncCommandLookup
from .default_sync_commands import DefaultSyncCommands
from .errors import CommandTimeout, Disconnected
from .events import Notification, RawMessage, Step

__all__ = ["Agent", "open_agent"]

log = logging.getLogger("cti_fsm.sync")

Listener = Callable[[Notification], Any]


class _Waiter:
    """One blocked call: a lock the trio thread releases with the answer."""

    __slots__ = ("error", "lock", "step")

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.lock.acquire()
        self.step: Step | None = None
        self.error: BaseException | None = None

    def deliver(self, step: Step | None, error: BaseException | None) -> None:
        self.step, self.error = step, error
        self.lock.release()

    def wait(self, timeout: float | None) -> bool:
        return self.lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))


class _Subscription:
    """A bounded queue of notifications for one consuming thread."""

    def __init__(self, names: frozenset[str] | None, maxlen: int) -> None:
        self.names = names
        self.maxlen = maxlen
        self.queue: collections.deque[Notification] = collections.deque()
        self.ready = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, note: Notification) -> None:
        if self.names is not None and note.name not in self.names:
            return
        with self.ready:
            if len(self.queue) >= self.maxlen:
                # a consumer that stopped reading must not grow memory without bound
                self.queue.popleft()
                self.dropped += 1
            self.queue.append(note)
            self.ready.notify()

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()

    def get(self, deadline: float) -> Notification | None:
        with self.ready:
            while not self.queue:
                if self.closed:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.ready.wait(None if math.isinf(left) else left)
            return self.queue.popleft()


class _Calls:
    """The listener thread's bounded queue of calls to make, in order."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self.queue: collections.deque[Callable[[], None]] = collections.deque()
        self.ready = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, call: Callable[[], None]) -> None:
        with self.ready:
            if len(self.queue) >= self.maxlen:
                # listeners slower than the switch must not grow memory without bound
                self.queue.popleft()
                self.dropped += 1
            self.queue.append(call)
            self.ready.notify()

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()

    def run(self) -> None:
        """Make the calls until closed (then those already queued, and stop)."""
        while True:
            with self.ready:
                while not self.queue and not self.closed:
                    self.ready.wait()
                if not self.queue:
                    return
                call = self.queue.popleft()
            call()


class Agent(BridgedReading, DefaultSyncCommands, SyncCommandLookup):
    """An agent driven from plain threads; create it with ``open_agent``.

    The default chart's commands are typed blocking methods (``agent.hold()``); a chart of
    your own gets its commands as attributes too, and ``agent.command(name, **args)``
    sends any of them.

    Attributes:
        chart: the chart the agent runs.
        user: the agent's login.
        timeout: seconds a command may block before it is cancelled (None: the chart's
            own timeouts only). Settable.
        trio_agent: the trio agent underneath (lives in the trio thread: read it, do not
            call its methods).
    """

    def __init__(self, trio_agent: TrioAgent, timeout: float | None) -> None:
        self.trio_agent = trio_agent
        self.chart: Chart = trio_agent.chart
        self.user = trio_agent.user
        self.timeout = timeout
        self._host = HostedAgent(trio_agent, shared_thread())
        self._listeners: dict[str, list[Listener]] = {}
        self._step_listeners: list[Callable[[Step], Any]] = []
        self._raw_listeners: list[Callable[[RawMessage], Any]] = []
        self._subscriptions: set[_Subscription] = set()
        self._buffer = 10_000
        self._listener_errors = 0
        self._calls: _Calls | None = None
        self._listener_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        trio_agent.on("*", self._forward)

    def _dropped(self) -> int:
        calls = self._calls
        lost = calls.dropped if calls is not None else 0
        return lost + sum(s.dropped for s in tuple(self._subscriptions))

    def __repr__(self) -> str:
        return f"<cti_fsm.sync.Agent {self.user!r} state={self.state!r}>"

    # --- commands -------------------------------------------------------------------------------
    def command(self, name: str, /, **args: Any) -> Step | None:
        """Send a chart command and block until its answer (at most ``self.timeout``).

        Returns:
            The step the confirming signal took (None if the command has none).

        Raises:
            CommandTimeout: no answer within ``self.timeout`` (the command is cancelled),
                or within the chart's timeout.
            The trio agent's errors (``Agent.command``): IllegalCommand,
            PermissionDenied, InvalidArguments, Unsupported, MissingContext, Busy,
            Disconnected, CommandFailed.
        """
        return self._cross(name, lambda deliver: self._host.command(name, args, deliver))

    def send_raw(self, message: RawMessage) -> None:
        """Send a raw vendor message as is (no chart check): the passthrough for features
        the chart does not cover. Its answer arrives at ``on_raw`` listeners.

        Raises:
            Disconnected: not connected.
            CommandTimeout: not sent within ``self.timeout``.
        """
        self._cross("send_raw", lambda deliver: self._host.send_raw(message, deliver))

    def _cross(self, name: str, start: Callable[[Deliver], CommandJob]) -> Step | None:
        """Start a job in the trio thread and block until its answer or ``self.timeout``
        (then the job is cancelled)."""
        waiter = _Waiter()
        try:
            job = start(waiter.deliver)
        except RuntimeError:
            raise Disconnected("closed", command=name) from None
        if not waiter.wait(self.timeout):
            self._cancel(job, waiter)
            if waiter.error is CANCELLED:
                assert self.timeout is not None
                raise CommandTimeout(name, self.timeout)
        if waiter.error is not None:
            raise waiter.error
        return waiter.step

    def _cancel(self, job: CommandJob, waiter: _Waiter) -> None:
        self._host.cancel(job)
        # the trio side answers at once: cancelled, or the answer that beat the cancel
        waiter.wait(None)

    # --- listeners ------------------------------------------------------------------------------
    def on(self, name: str, listener: Listener) -> None:
        """Call ``listener(notification)`` for every notification named ``name`` ("*": all),
        in order, in the agent's listener thread (started by the first ``on``). One that
        raises is logged and does not break the agent.

        Raises:
            KeyError: the chart has no notification of that name.
        """
        if name != "*" and name not in self.chart.notifications:
            raise KeyError(f"chart {self.chart.name!r} has no notification {name!r}")
        with self._lock:
            self._listeners.setdefault(name, []).append(listener)
            self._start_listener_thread()

    def off(self, name: str, listener: Listener) -> None:
        """Remove a listener added with ``on`` (no error if it was not there)."""
        with self._lock, contextlib.suppress(ValueError):
            self._listeners.get(name, []).remove(listener)

    def on_step(self, listener: Callable[[Step], Any]) -> None:
        """Call ``listener(step)`` in the listener thread for every signal that moved the
        machine or emitted something (before that step's notifications)."""
        with self._lock:
            if not self._step_listeners:
                self._host.listen(lambda agent: agent.on_step(self._forward_step))
            self._step_listeners.append(listener)
            self._start_listener_thread()

    def off_step(self, listener: Callable[[Step], Any]) -> None:
        """Remove a step listener."""
        with self._lock, contextlib.suppress(ValueError):
            self._step_listeners.remove(listener)

    def on_raw(self, listener: Callable[[RawMessage], Any]) -> None:
        """Call ``listener(message)`` in the listener thread for every raw message
        received (from the next frame on), before it is mapped."""
        with self._lock:
            if not self._raw_listeners:
                self._host.listen(lambda agent: agent.on_raw(self._forward_raw))
            self._raw_listeners.append(listener)
            self._start_listener_thread()

    def off_raw(self, listener: Callable[[RawMessage], Any]) -> None:
        """Remove a raw listener."""
        with self._lock, contextlib.suppress(ValueError):
            self._raw_listeners.remove(listener)

    def _start_listener_thread(self) -> None:
        # under self._lock
        if self._listener_thread is None and not self._closed:
            calls = self._calls = _Calls(self._buffer)
            self._listener_thread = threading.Thread(
                target=calls.run, name=f"cti-fsm listeners {self.user}", daemon=True
            )
            self._listener_thread.start()

    @contextlib.contextmanager
    def subscribe(
        self, names: Iterable[str] | None = None, *, timeout: float | None = None
    ) -> Iterator[Iterator[Notification]]:
        """``with agent.subscribe() as notes: for note in notes:`` with a scope that
        unsubscribes; only notifications named in ``names`` if given. The iteration ends
        when no notification came for ``timeout`` seconds (None: never) or the agent
        closes. A consumer that falls 10 000 behind loses the oldest."""
        sub = _Subscription(frozenset(names) if names is not None else None, self._buffer)
        with self._lock:
            if self._closed:
                sub.closed = True
            self._subscriptions.add(sub)
        try:
            yield self._drain(sub, timeout)
        finally:
            with self._lock:
                self._subscriptions.discard(sub)

    def notifications(
        self, names: Iterable[str] | None = None, *, timeout: float | None = None
    ) -> Iterator[Notification]:
        """``for note in agent.notifications(timeout=30):`` the notifications from the
        first ``next`` on, until none came for ``timeout`` seconds or the agent closes."""
        with self.subscribe(names, timeout=timeout) as notes:
            yield from notes

    def _drain(self, sub: _Subscription, timeout: float | None) -> Iterator[Notification]:
        while True:
            deadline = math.inf if timeout is None else time.monotonic() + timeout
            note = sub.get(deadline)
            if note is None:
                return
            yield note

    def _forward(self, note: Notification) -> None:
        # in the trio thread, from the trio agent's "*" listener: only queue it
        for sub in tuple(self._subscriptions):
            sub.put(note)
        calls = self._calls
        if calls is not None:
            calls.put(lambda: self._call_named(note))

    def _forward_step(self, step: Step) -> None:
        calls = self._calls
        if calls is not None:
            calls.put(lambda: self._call_all(self._step_listeners, step))

    def _forward_raw(self, message: RawMessage) -> None:
        calls = self._calls
        if calls is not None:
            calls.put(lambda: self._call_all(self._raw_listeners, message))

    def _call_named(self, note: Notification) -> None:
        for name in (note.name, "*"):
            listeners = self._listeners.get(name)
            if listeners:
                self._call_all(listeners, note)

    def _call_all(self, listeners: list[Callable[[Any], Any]], value: Any) -> None:
        # in the listener thread
        for listener in tuple(listeners):
            try:
                listener(value)
            except Exception:
                self._listener_errors += 1
                log.exception("%s: listener %r raised; the agent goes on", self.user, listener)

    def _stop_listening(self) -> None:
        with self._lock:
            self._closed = True
            subs = tuple(self._subscriptions)
            thread, self._listener_thread = self._listener_thread, None
        for sub in subs:
            sub.close()
        if self._calls is not None:
            self._calls.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join()


@contextlib.contextmanager
def open_agent(
    vendor: Adapter | str,
    url: str,
    user: str,
    password: str,
    *,
    timeout: float | None = 30.0,
    **kwargs: Any,
) -> Iterator[Agent]:
    """Connect, log in and synchronise an agent from a plain thread; close it on exit.

    ``timeout`` bounds the login and, as ``agent.timeout``, each command. ``kwargs`` are
    the trio ``Agent``'s keyword arguments (rights, chart, options, reconnect, ...).

    Raises:
        AdapterNotFound: no adapter is registered under ``vendor``.
        Disconnected: the server cannot be reached.
        CommandFailed: the login was refused.
        CommandTimeout: the login was not done within ``timeout`` (or the chart's).
    """
    trio_agent = TrioAgent(vendor, url, user, password, **kwargs)
    thread = shared_thread()
    thread.acquire()
    try:
        agent = Agent(trio_agent, timeout)
        started, ended = _Waiter(), _Waiter()
        agent._host.start(
            lambda error: started.deliver(None, error), lambda error: ended.deliver(None, error)
        )
        if not started.wait(timeout):
            agent._host.close()
            started.wait(None)
            if started.error is None:
                _close(agent, ended)
                raise CommandTimeout(trio_agent.lifecycle.connect, timeout or 0.0)
            if isinstance(started.error, Disconnected):
                raise CommandTimeout(trio_agent.lifecycle.connect, timeout or 0.0)
        if started.error is not None:
            raise started.error
        try:
            yield agent
        finally:
            _close(agent, ended)
    finally:
        thread.release()


def _close(agent: Agent, ended: _Waiter) -> None:
    agent._host.close()
    ended.wait(None)
    agent._stop_listening()
    error = ended.error
    if error is not None and not isinstance(error, Disconnected):
        log.warning("%s: the agent ended with %r", agent.user, error)
