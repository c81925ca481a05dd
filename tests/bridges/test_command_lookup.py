"""A chart of your own through the bridges: its commands as attributes (blocking for
``cti_fsm.sync``, awaitable for the trio and asyncio agents), positional arguments in the
chart's order, unknown names refused as attributes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cti_fsm import Step, load_chart
from cti_fsm.command_lookup import AsyncCommandLookup, SyncCommandLookup

CHART = load_chart(Path(__file__).resolve().parents[1] / "charts" / "after_call_work.yaml")


class SyncRecorder(SyncCommandLookup):
    def __init__(self) -> None:
        self.chart = CHART
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def command(self, name: str, /, **args: Any) -> Step | None:
        self.sent.append((name, args))
        return None


class AsyncRecorder(AsyncCommandLookup):
    def __init__(self) -> None:
        self.chart = CHART
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def command(self, name: str, /, **args: Any) -> Step | None:
        self.sent.append((name, args))
        return None


def test_sync_lookup_blocks_and_maps_positional_arguments() -> None:
    agent = SyncRecorder()
    assert agent.extend_wrap_up(30) is None  # type: ignore[attr-defined]
    agent.finish_wrap_up()  # type: ignore[attr-defined]
    assert agent.sent == [("extend_wrap_up", {"seconds": 30}), ("finish_wrap_up", {})]
    assert agent.__dict__["finish_wrap_up"].__name__ == "finish_wrap_up"
    with pytest.raises(TypeError, match="got argument 'seconds' twice"):
        agent.extend_wrap_up(30, seconds=40)  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute or command 'hodl'"):
        agent.hodl()  # type: ignore[attr-defined]


def test_async_lookup_is_awaitable() -> None:
    agent = AsyncRecorder()
    asyncio.run(agent.extend_wrap_up(seconds=5))  # type: ignore[attr-defined]
    assert agent.sent == [("extend_wrap_up", {"seconds": 5})]
    with pytest.raises(TypeError, match="at most 1 positional"):
        asyncio.run(agent.extend_wrap_up(1, 2))  # type: ignore[attr-defined]
