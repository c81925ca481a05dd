"""The trio half of a bridged agent: a trio ``Agent`` hosted in the shared trio thread.

``cti_fsm.asyncio`` and ``cti_fsm.sync`` differ only in how the caller waits (an asyncio
future, a lock). Both hand the trio thread the same work, written here once: start the
agent and report the login's outcome, run one command as a task of its own and report its
step or error, cancel that command, close the agent. Every ``on_*``/``deliver`` callback
runs in the trio thread and must only hand the result over (it must not block).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from ._trio_thread import TrioThread
from .agent import Agent, AgentStatistics, _sole_error
from .errors import Disconnected
from .events import RawMessage, Step

__all__ = ["CANCELLED", "BridgedReading", "CommandJob", "Deliver", "HostedAgent"]

log = logging.getLogger("cti_fsm.bridge")

#: What a command cancelled from the caller's side reports (the caller raises its own
#: cancellation or timeout instead).
CANCELLED = Disconnected("cancelled by the caller")

Deliver = Callable[[Step | None, BaseException | None], object]


class BridgedReading:
    """What a bridged agent reads straight from the trio agent, from any thread: reads of
    a few attributes, which the interpreter makes whole, as of the last signal the trio
    thread handled. A subclass counts its own listener errors and dropped notifications."""

    trio_agent: Agent
    _listener_errors: int

    def _dropped(self) -> int:
        """Notifications the subclass's own consumers lost."""
        return 0

    @property
    def state(self) -> str:
        """The machine's full state path."""
        return self.trio_agent.state

    @property
    def connected(self) -> bool:
        """True while a transport is open and logged in."""
        return self.trio_agent.connected

    def allowed(self) -> tuple[str, ...]:
        """The commands that may be sent now: allowed by the chart and done by the vendor."""
        return self.trio_agent.allowed()

    def statistics(self) -> AgentStatistics:
        """The trio agent's counters, with this side's listener errors and dropped
        notifications added."""
        stats = self.trio_agent.statistics()
        return attrs.evolve(
            stats,
            listener_errors=stats.listener_errors + self._listener_errors,
            dropped_notifications=stats.dropped_notifications + self._dropped(),
        )


class CommandJob:
    """One command crossing into trio: started, run, answered once, cancellable. With
    ``raw``, the raw vendor message ``Agent.send_raw`` sends instead of a chart command."""

    __slots__ = ("agent", "args", "cancelled", "deliver", "name", "raw", "scope")

    def __init__(
        self,
        agent: Agent,
        name: str,
        args: Mapping[str, Any],
        deliver: Deliver,
        raw: RawMessage | None = None,
    ) -> None:
        self.agent = agent
        self.name = name
        self.args = args
        self.deliver = deliver
        self.raw = raw
        self.scope: trio.CancelScope | None = None
        self.cancelled = False

    async def run(self) -> None:
        """The command as a trio task: answer ``deliver`` exactly once."""
        if self.cancelled:
            self.deliver(None, CANCELLED)
            return
        step: Step | None = None
        error: BaseException | None = None
        try:
            with trio.CancelScope() as scope:
                self.scope = scope
                if self.raw is None:
                    step = await self.agent.command(self.name, **self.args)
                else:
                    await self.agent.send_raw(self.raw)
        except trio.Cancelled:
            # the trio thread itself is stopping: the caller learns the agent has gone
            self.deliver(None, Disconnected("closed", command=self.name))
            raise
        except Exception as exc:
            error = exc
        if self.scope is not None and self.scope.cancelled_caught:
            error = CANCELLED
        self.deliver(step, error)

    def cancel(self) -> None:
        """Cancel the command (in the trio thread): its ticket is abandoned, nothing may
        answer it any more; ``deliver`` then reports ``CANCELLED``."""
        self.cancelled = True
        if self.scope is not None:
            self.scope.cancel()


class HostedAgent:
    """A trio ``Agent`` run in ``thread``'s nursery on behalf of another thread.

    Args:
        agent: the trio agent, constructed but not running.
        thread: the trio thread (acquired by the caller for as long as this lives).
    """

    def __init__(self, agent: Agent, thread: TrioThread) -> None:
        self.agent = agent
        self.thread = thread
        self._stop: trio.Event | None = None
        self._opening: trio.CancelScope | None = None
        self._close_requested = False
        # commands on their way to the worker, which a byte on its socket wakes
        self._jobs: collections.deque[CommandJob] = collections.deque()
        self._wake_receive, self._wake_send = socket.socketpair()
        self._wake_receive.setblocking(False)
        self._wake_send.setblocking(False)
        self._busy = False
        self._ended = False
        self._nursery: trio.Nursery | None = None

    def start(
        self,
        on_started: Callable[[BaseException | None], object],
        on_ended: Callable[[BaseException | None], object],
    ) -> None:
        """Start the agent (from any thread). ``on_started(None)`` once logged in and
        synchronised, or ``on_started(error)`` if that failed (then ``on_ended`` is not
        called); ``on_ended(error or None)`` once a started agent has stopped."""
        self.thread.start_soon(self._host, on_started, on_ended)

    def close(self) -> None:
        """Log out and close (from any thread); ``on_ended`` says when it is done."""
        self.thread.call_soon(self._request_close)

    def command(self, name: str, args: Mapping[str, Any], deliver: Deliver) -> CommandJob:
        """Run command ``name`` (from any thread); ``deliver(step, error)`` answers it.

        Raises:
            RuntimeError: the trio thread is not running.
        """
        return self._submit(CommandJob(self.agent, name, args, deliver))

    def send_raw(self, message: RawMessage, deliver: Deliver) -> CommandJob:
        """Send a raw vendor message (from any thread); ``deliver(None, error)`` answers."""
        return self._submit(CommandJob(self.agent, "send_raw", {}, deliver, raw=message))

    def listen(self, register: Callable[[Agent], object]) -> None:
        """Call ``register(agent)`` in the trio thread (to add a trio-side listener there,
        between two frames)."""
        self.thread.call_soon(lambda: register(self.agent))

    def _submit(self, job: CommandJob) -> CommandJob:
        jobs = self._jobs
        jobs.append(job)
        # Whoever takes a job out of the queue answers it: the worker, the rescue, or
        # the end of the host (and this caller, if the host has already ended).
        if self._ended:
            with contextlib.suppress(ValueError):
                jobs.remove(job)
                job.deliver(None, Disconnected("closed", command=job.name))
        elif self._busy:
            # the worker runs a command and does not watch its socket: a task of its own
            self.thread.call_soon(self._rescue)
        else:
            # the worker waits on its socket: the byte wakes it with no other task between
            with contextlib.suppress(OSError):
                self._wake_send.send(b"\0")
        return job

    def _rescue(self) -> None:
        # in the trio thread: jobs that came while the worker was busy
        nursery = self._nursery
        while self._jobs:
            try:
                job = self._jobs.popleft()
            except IndexError:
                return
            if nursery is None:
                job.deliver(None, Disconnected("closed", command=job.name))
            else:
                nursery.start_soon(job.run)

    async def _worker(self) -> None:
        """Run the commands handed to it (``command``) until cancelled: the first of each
        wake-up in this task, any others as tasks of their own."""
        jobs, wake = self._jobs, self._wake_receive
        nursery = self._nursery
        assert nursery is not None
        while True:
            self._busy = False
            if not jobs:
                await trio.lowlevel.wait_readable(wake)
                with contextlib.suppress(BlockingIOError):
                    while wake.recv(4096):
                        pass
            # busy before taking: a caller that then sees it idle had queued in time
            self._busy = True
            taken: list[CommandJob] = []
            while jobs:
                try:
                    taken.append(jobs.popleft())
                except IndexError:
                    break
            for job in taken[1:]:
                nursery.start_soon(job.run)
            if taken:
                await taken[0].run()

    def cancel(self, job: CommandJob) -> None:
        """Cancel ``job`` (from any thread)."""
        self.thread.call_soon(job.cancel)

    def _request_close(self) -> None:
        self._close_requested = True
        if self._stop is not None:
            self._stop.set()
        if self._opening is not None:
            self._opening.cancel()

    async def _host(
        self,
        on_started: Callable[[BaseException | None], object],
        on_ended: Callable[[BaseException | None], object],
    ) -> None:
        started = False
        ended: BaseException | None = None
        self._stop = stop = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                with trio.CancelScope() as opening:
                    self._opening = opening
                    if self._close_requested:
                        opening.cancel()
                    await nursery.start(self.agent.run)
                self._opening = None
                if opening.cancelled_caught:
                    raise Disconnected("closed before the login completed")
                started = True
                self._nursery = nursery
                nursery.start_soon(self._worker)
                on_started(None)
                await stop.wait()
                with trio.CancelScope(shield=True):
                    await self.agent.aclose()
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            ended = _sole_error(group)
        except BaseException as exc:
            ended = exc
        finally:
            self._nursery = None
            self._ended = True
            self._wake_receive.close()
            self._wake_send.close()
            while self._jobs:
                try:
                    job = self._jobs.popleft()
                except IndexError:
                    break
                job.deliver(None, Disconnected("closed", command=job.name))
        if isinstance(ended, trio.Cancelled):
            # the thread is stopping under the agent: report it as closed, and let trio
            # see its cancellation
            (on_ended if started else on_started)(Disconnected("closed"))
            raise ended
        if not started:
            on_started(ended or Disconnected("closed"))
        else:
            on_ended(ended)
