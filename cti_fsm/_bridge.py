"""The trio half of a bridged agent: a trio ``Agent`` hosted in the shared trio thread.

``cti_fsm.asyncio`` and ``cti_fsm.sync`` differ only in how the caller waits (an asyncio
future, a lock). Both hand the trio thread the same work, written here once: start the
agent and report the login's outcome, run one command as a task of its own and report its
step or error, cancel that command, close the agent. Every ``on_*``/``deliver`` callback
runs in the trio thread and must only hand the result over (it must not block).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import trio

from ._trio_thread import TrioThread
from .agent import Agent, _sole_error
from .errors import Disconnected
from .events import Step

__all__ = ["CANCELLED", "CommandJob", "HostedAgent"]

log = logging.getLogger("cti_fsm.bridge")

#: What a command cancelled from the caller's side reports (the caller raises its own
#: cancellation or timeout instead).
CANCELLED = Disconnected("cancelled by the caller")

Deliver = Callable[[Step | None, BaseException | None], object]


class CommandJob:
    """One command crossing into trio: started, run, answered once, cancellable."""

    __slots__ = ("agent", "args", "cancelled", "deliver", "name", "scope")

    def __init__(self, agent: Agent, name: str, args: Mapping[str, Any], deliver: Deliver) -> None:
        self.agent = agent
        self.name = name
        self.args = args
        self.deliver = deliver
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
                step = await self.agent.command(self.name, **self.args)
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
        """Run command ``name`` (from any thread); ``deliver(step, error)`` answers it."""
        job = CommandJob(self.agent, name, args, deliver)
        self.thread.start_soon(job.run)
        return job

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
                on_started(None)
                await stop.wait()
                with trio.CancelScope(shield=True):
                    await self.agent.aclose()
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            ended = _sole_error(group)
        except BaseException as exc:
            ended = exc
        if isinstance(ended, trio.Cancelled):
            # the thread is stopping under the agent: report it as closed, and let trio
            # see its cancellation
            (on_ended if started else on_started)(Disconnected("closed"))
            raise ended
        if not started:
            on_started(ended or Disconnected("closed"))
        else:
            on_ended(ended)
