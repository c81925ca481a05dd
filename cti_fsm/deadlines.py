"""Command deadlines: one watchdog per trio run fails whatever is not answered in time.

Every command an agent sends has a timeout. A cancel scope per command costs more than the
rest of sending it, and a watchdog task per agent costs a few KiB for each of the thousands
of agents one process may run. So one system task per trio run keeps every agent's
deadlines in a heap, sleeps until the first, and expires what is late. What was answered
in time is dropped from the heap when it comes to the top, or sooner.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Protocol

import trio

__all__ = ["Timed", "Watchdog", "watchdog"]


class Timed(Protocol):
    """Something with a deadline: expired unless settled by then."""

    @property
    def settled(self) -> bool:
        """True once it no longer needs its deadline (answered, failed, abandoned)."""

    def expire(self) -> None:
        """Called once, at the deadline, if it is not settled by then; must not raise."""


class Watchdog:
    """The deadlines of one trio run (get it with ``watchdog()``)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timed]] = []
        self._order = itertools.count()  # ties expire in the order they were watched
        self._sleep: trio.CancelScope | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def watch(self, deadline: float, timed: Timed) -> None:
        """Expire ``timed`` at ``deadline`` (trio's clock) unless it is settled by then."""
        heap = self._heap
        while heap and heap[0][2].settled:
            heapq.heappop(heap)  # answered in time: the usual case, kept off the heap
        heapq.heappush(heap, (deadline, next(self._order), timed))
        sleep = self._sleep
        if sleep is not None and deadline < sleep.deadline:
            sleep.deadline = deadline

    async def run(self) -> None:
        """Sleep until the first deadline, expire what is late, repeat (forever)."""
        heap = self._heap
        while True:
            with trio.CancelScope() as sleep:
                sleep.deadline = heap[0][0] if heap else math.inf
                self._sleep = sleep
                await trio.sleep_forever()
            now = trio.current_time()
            while heap and (heap[0][0] <= now or heap[0][2].settled):
                _, _, timed = heapq.heappop(heap)
                if not timed.settled:
                    timed.expire()


_WATCHDOG: trio.lowlevel.RunVar[Watchdog] = trio.lowlevel.RunVar("cti_fsm.watchdog")


def watchdog() -> Watchdog:
    """This trio run's watchdog, started (as a system task) on first use.

    Raises:
        RuntimeError: not inside a trio run.
    """
    try:
        return _WATCHDOG.get()
    except LookupError:
        found = Watchdog()
        _WATCHDOG.set(found)
        trio.lowlevel.spawn_system_task(found.run, name="cti_fsm command deadlines")
        return found
