"""A wiretap for benchmarks: wraps an adapter so every frame its transports send and
receive is recorded, to capture what a real command round trip puts on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs

from cti_fsm.adapter import Adapter, Frame, Simulator, Transport, VendorProtocol
from cti_fsm.chart import Chart

Direction = Literal["out", "in"]


@attrs.frozen
class Captured:
    """One frame as the agent's transport saw it (``in``: one ``receive`` result, which
    for a stream transport is one read, not one message)."""

    direction: Direction
    frame: Frame

    @property
    def size(self) -> int:
        """Bytes on the wire (UTF-8 for text frames)."""
        return len(self.frame.encode() if isinstance(self.frame, str) else self.frame)


@attrs.define
class TapTransport:
    """A transport that records what passes through it while ``recording`` is set."""

    inner: Transport
    log: list[Captured]
    recording: list[bool]

    async def send(self, frame: Frame) -> None:
        if self.recording[0]:
            self.log.append(Captured("out", frame))
        await self.inner.send(frame)

    async def receive(self) -> Frame:
        frame = await self.inner.receive()
        if self.recording[0]:
            self.log.append(Captured("in", frame))
        return frame

    async def aclose(self) -> None:
        await self.inner.aclose()


class TapAdapter:
    """``adapter`` with every transport it opens wrapped in a ``TapTransport``.
    Call ``start()`` / ``stop()`` around what is to be captured; ``log`` holds it."""

    def __init__(self, adapter: Adapter) -> None:
        self.inner = adapter
        self.name = adapter.name
        self.log: list[Captured] = []
        self._recording = [False]

    @property
    def chart(self) -> Chart:
        return self.inner.chart

    @property
    def unsupported(self) -> frozenset[str]:
        return self.inner.unsupported

    def protocol(self, *, user: str, options: Mapping[str, Any]) -> VendorProtocol:
        return self.inner.protocol(user=user, options=options)

    @asynccontextmanager
    async def connect(self, url: str) -> AsyncIterator[Transport]:
        async with self.inner.connect(url) as transport:
            yield TapTransport(transport, self.log, self._recording)

    def simulator(self, switch: Any) -> Simulator:
        return self.inner.simulator(switch)

    def start(self) -> None:
        """Record from now on, forgetting what was recorded before."""
        self.log.clear()
        self._recording[0] = True

    def stop(self) -> list[Captured]:
        """Stop recording; what was recorded."""
        self._recording[0] = False
        return list(self.log)
