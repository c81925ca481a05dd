"""An asyncio loop in a thread of its own, for trio code that needs an asyncio library (the
NATS client, ``nats-py``, is asyncio only).

The gateway and ``cti_fsm.remote``'s trio agents are trio; nats-py needs an asyncio loop.
Rather than run trio inside asyncio (or the reverse) the loop runs in its own thread,
which every user of a process shares: ``asyncio_thread()`` is the one ``AsyncioThread``,
``acquire``d by each user (the first starts the loop) and ``release``d (the last stops it).
Trio code awaits a coroutine run on that loop with ``await thread.run(coro)``; plain calls
cross with ``thread.call_soon(job)``, in batches (``cti_fsm._trio_thread.Batch``): one
wake-up of the loop carries every job queued before it was served, so a burst of
notifications crosses as one batch, not once per message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import trio

from ._trio_thread import Batch

__all__ = ["AsyncioThread", "asyncio_thread"]

T = TypeVar("T")


class AsyncioThread:
    """A thread running an asyncio loop for as long as someone holds it."""

    def __init__(self, name: str = "cti-fsm asyncio") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._users = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: Batch | None = None

    def __repr__(self) -> str:
        return f"<AsyncioThread {self.name!r} users={self._users}>"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop.

        Raises:
            RuntimeError: the thread is not running.
        """
        if self._loop is None:
            raise RuntimeError("the cti-fsm asyncio thread is not running")
        return self._loop

    def acquire(self) -> None:
        """One more user; the first starts the loop's thread (and waits until it runs)."""
        with self._lock:
            if self._users == 0:
                self._start()
            self._users += 1

    def release(self) -> None:
        """One user less; the last cancels what is left on the loop, stops it and joins it.

        Raises:
            RuntimeError: released more often than acquired.
        """
        with self._lock:
            if self._users <= 0:
                raise RuntimeError("AsyncioThread released more often than acquired")
            self._users -= 1
            if self._users == 0:
                self._finish()

    def call_soon(self, job: Callable[[], object]) -> None:
        """Run the plain function ``job()`` on the loop, in order, batched with the jobs
        queued before the loop woke up.

        Raises:
            RuntimeError: the thread is not running.
        """
        batch = self._batch
        if batch is None:
            raise RuntimeError("the cti-fsm asyncio thread is not running")
        batch.call_soon(job)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop (from any thread but the loop's); its future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """From trio: run ``coro`` on the loop and return its result (raise its error).
        Cancelling the trio task cancels the coroutine."""
        future = self.submit(coro)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def finished(_: object) -> None:
            # the trio run may have ended meanwhile: nobody waits any more
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        future.add_done_callback(finished)
        try:
            await done.wait()
        except BaseException:
            future.cancel()
            raise
        return future.result()

    # --- the thread -------------------------------------------------------------------------
    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            # cancel what is left and let it finish before the loop closes
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._loop, self._thread = loop, thread
        self._batch = Batch(loop.call_soon_threadsafe)
        thread.start()
        ready.wait()

    def _finish(self) -> None:
        loop, thread = self._loop, self._thread
        self._batch = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()
        self._loop = self._thread = None


_SHARED = AsyncioThread()


def asyncio_thread() -> AsyncioThread:
    """The process's one asyncio thread for trio code using asyncio libraries."""
    return _SHARED
