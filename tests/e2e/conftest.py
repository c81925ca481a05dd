"""Fixtures for the end-to-end tests: the demo switch, the csta-ws simulator on 127.0.0.1
port 0, a loopback relay in front of it, and real agents logged in over the socket. Every
server and agent runs in the test's nursery and is stopped when the test ends."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

HERE = Path(__file__).resolve().parent
# e2etools, and the FreeSWITCH tests' esltools (its login and documented gap, for the
# fault matrix) when tests/e2e runs alone
for folder in (HERE, HERE.parent / "freeswitch"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from cti_fsm_csta_ws import CstaSimulator, adapter  # noqa: E402
from e2etools import FAST, OpenAgent, Pair, run_recorded  # noqa: E402

from cti_fsm.agent import Agent  # noqa: E402
from cti_fsm.switch import Switch, demo_switch  # noqa: E402
from cti_fsm.testing.conformance import LoopbackRelay  # noqa: E402


@pytest.fixture
def switch() -> Switch:
    return demo_switch()


@pytest.fixture
async def sim(nursery: trio.Nursery, switch: Switch) -> CstaSimulator:
    simulator = adapter.simulator(switch)
    await nursery.start(simulator.serve)
    return simulator


@pytest.fixture
async def relay(nursery: trio.Nursery, sim: CstaSimulator) -> LoopbackRelay:
    """A relay in front of the simulator: what the agents send, stalls, cuts."""
    front = LoopbackRelay(sim.url)
    await nursery.start(front.serve)
    return front


@pytest.fixture
async def login(nursery: trio.Nursery, sim: CstaSimulator) -> AsyncIterator[OpenAgent]:
    """``agent, notes = await login("1001")``: a logged-in agent whose notifications are
    recorded from the very first (the login's own). Keyword arguments go to ``Agent``
    (``rights``, ``chart``, ...); ``url`` overrides the simulator's (to go through a relay);
    ``password`` the demo one."""
    agents: list[Agent] = []

    async def open_one(
        user: str, *, password: str | None = None, url: str | None = None, **kwargs: Any
    ) -> Pair:
        kwargs.setdefault("reconnect", FAST)
        agent = Agent(adapter, url or sim.url, user, password or f"pw{user}", **kwargs)
        agents.append(agent)  # closed at the end even if its login fails
        return await run_recorded(nursery, agent)

    yield open_one
    for agent in agents:
        await agent.aclose()


@pytest.fixture
async def agent(login: OpenAgent) -> Pair:
    """Agent 1001, logged in (connected, not signed in to any group)."""
    return await login("1001")


@pytest.fixture
async def supervisor(login: OpenAgent) -> Pair:
    """Supervisor 9001 (right ``supervisor``), logged in."""
    return await login("9001", rights={"supervisor"})
