"""The one trio thread every ``cti_fsm.asyncio`` and ``cti_fsm.sync`` agent of a process runs in.

Agents are trio code. An asyncio program or a plain thread reaches them through a portal:
``shared_thread()`` is the process's one ``TrioThread``; each bridged agent ``acquire``s it
(the first starts the thread and its ``trio.run``) and ``release``s it when it closes (the
last stops the run and joins the thread, so nothing is left running).

Work crosses the boundary in batches (``Batch``): what one side hands the other is
appended to a queue, and only the first item of a batch wakes the other side
(``TrioToken.run_sync_soon`` into trio, ``loop.call_soon_threadsafe`` into asyncio); the
items queued before the wake-up is served ride along with it. A command's answer and the
notifications its confirming signal caused usually cross as one batch.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import trio

__all__ = ["Batch", "TrioThread", "shared_thread"]

log = logging.getLogger("cti_fsm.bridge")

Job = Callable[[], object]


class Batch:
    """Calls queued from any thread, run in order on one side by one wake-up per batch.

    Args:
        wake: schedules a callable on the side that runs the batch, from any thread
            (``TrioToken.run_sync_soon``, ``loop.call_soon_threadsafe``).
    """

    __slots__ = ("_jobs", "_scheduled", "_wake")

    def __init__(self, wake: Callable[[Callable[[], None]], object]) -> None:
        self._wake = wake
        self._jobs: collections.deque[Job] = collections.deque()
        self._scheduled = False

    def call_soon(self, job: Job) -> None:
        """Run ``job()`` on the batch's side, after the jobs queued before it.

        Raises:
            RuntimeError: the side is gone (its loop closed, its trio run ended).
        """
        self._jobs.append(job)
        # Only the first job of a batch wakes the other side. The runner clears the flag
        # before it takes jobs, so a job appended while this reads True is taken by the run
        # already scheduled, and one appended after the clear schedules the next run.
        if not self._scheduled:
            self._scheduled = True
            self._wake(self._run)

    def _run(self) -> None:
        self._scheduled = False
        jobs = self._jobs
        while jobs:
            job = jobs.popleft()
            try:
                job()
            except Exception:  # a job must not take the others, or the loop, with it
                log.exception("cti_fsm bridge: %r raised", job)


class TrioThread:
    """A thread running ``trio.run`` for as long as some agent uses it.

    ``acquire`` starts it if it is not running; ``release`` by the last user stops it and
    joins it. ``call_soon`` and ``start_soon`` hand it work from any other thread.
    """

    def __init__(self, name: str = "cti-fsm trio") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._users = 0
        self._thread: threading.Thread | None = None
        self._batch: Batch | None = None
        self._nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None

    def __repr__(self) -> str:
        running = self._thread is not None and self._thread.is_alive()
        return f"<TrioThread {self.name!r} users={self._users} running={running}>"

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def users(self) -> int:
        """How many agents hold the thread now."""
        return self._users

    def in_thread(self) -> bool:
        """True when called from the trio thread itself."""
        return threading.current_thread() is self._thread

    def acquire(self) -> None:
        """Count one more user, starting the thread (and waiting until trio runs) if needed.

        Raises:
            RuntimeError: the thread could not start trio.
        """
        with self._lock:
            if self._users == 0:
                self._start()
            self._users += 1

    def release(self) -> None:
        """Count one user less; the last one stops trio and joins the thread.

        Raises:
            RuntimeError: released more often than acquired, or from the trio thread.
        """
        with self._lock:
            if self._users <= 0:
                raise RuntimeError("TrioThread released more often than acquired")
            if self.in_thread():
                raise RuntimeError("a bridged agent cannot be closed from the trio thread")
            self._users -= 1
            if self._users == 0:
                self._finish()

    def call_soon(self, job: Job) -> None:
        """Run the plain function ``job()`` in the trio thread, in order with the others.

        Raises:
            RuntimeError: the thread is not running (no user holds it).
        """
        batch = self._batch
        if batch is None:
            raise RuntimeError("the cti-fsm trio thread is not running")
        batch.call_soon(job)

    def start_soon(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start ``task(*args)`` as a task in the thread's nursery.

        Raises:
            RuntimeError: the thread is not running.
        """
        self.call_soon(lambda: self.spawn(task, *args))

    def spawn(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """``start_soon`` called in the trio thread itself.

        Raises:
            RuntimeError: the thread is stopping.
        """
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError("the cti-fsm trio thread is stopping")
        nursery.start_soon(task, *args)

    # --- the thread -------------------------------------------------------------------------
    def _start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._main, args=(ready, failure), name=self.name, daemon=True
        )
        self._thread = thread
        thread.start()
        ready.wait()
        if failure:
            self._thread = None
            thread.join()
            raise RuntimeError(f"the cti-fsm trio thread did not start: {failure[0]!r}")

    def _finish(self) -> None:
        batch, stop, thread = self._batch, self._stop, self._thread
        if batch is not None and stop is not None:
            batch.call_soon(stop.set)
        if thread is not None:
            thread.join()
        self._thread = None

    def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            trio.run(self._serve, ready)
        except BaseException as exc:
            if not ready.is_set():
                failure.append(exc)
            else:
                log.exception("the cti-fsm trio thread stopped with an error")
        finally:
            self._batch = None
            self._nursery = None
            self._stop = None
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = trio.Event()
        token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._batch = Batch(token.run_sync_soon)
            ready.set()
            await self._stop.wait()
            # every agent has closed by now; anything left is cancelled, not waited for
            nursery.cancel_scope.cancel()


_SHARED = TrioThread()


def shared_thread() -> TrioThread:
    """The process's one trio thread for bridged agents."""
    return _SHARED
