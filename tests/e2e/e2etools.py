"""Helpers for the end-to-end tests: agents over real loopback sockets, their notifications
in order, and waiting for the agent to agree with the switch (never by fixed sleeps)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from cti_fsm.agent import Agent, Backoff
from cti_fsm.chart import Chart
from cti_fsm.chart_loader import default_chart_path, load_chart_text
from cti_fsm.errors import (
    Busy,
    CommandFailed,
    CommandTimeout,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    PermissionDenied,
    Unsupported,
)
from cti_fsm.machine import Notification
from cti_fsm.switch import Switch
from cti_fsm.testing.conformance import Account, Gap, Login

#: The exceptions an agent's command may raise; anything else escaping is a bug.
DOCUMENTED = (
    CommandFailed,
    CommandTimeout,
    Disconnected,
    IllegalCommand,
    PermissionDenied,
    InvalidArguments,
    Unsupported,
    Busy,
)
#: Reconnect at once in tests (the default backoff starts at half a second).
FAST = Backoff(base=0.01, cap=0.05)
#: ``agent, notes = await login("1001", **agent_kwargs)`` (the ``login`` fixture).
OpenAgent = Callable[..., Awaitable[tuple[Agent, "Recorder"]]]
#: How long anything may take over loopback before a test gives up.
PATIENCE = 2.0


def fast_chart(timeout: float = 0.5) -> Chart:
    """The default chart with every command's timeout cut to ``timeout`` seconds. Loaded
    from the default chart's own path, so chart coverage counts it as the default chart."""
    path = default_chart_path()
    text = Path(path).read_text(encoding="utf-8")
    assert "  timeout: 10\n" in text
    return load_chart_text(text.replace("  timeout: 10\n", f"  timeout: {timeout}\n"), path)


class Recorder:
    """Every notification an agent emits, in order, with a way to wait for one."""

    def __init__(self, agent: Agent) -> None:
        self.notes: list[Notification] = []
        self._changed = trio.Event()
        agent.on("*", self._on)

    def _on(self, note: Notification) -> None:
        self.notes.append(note)
        self._changed.set()
        self._changed = trio.Event()

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.notes]

    def mark(self) -> int:
        """A position to read new notifications from (``since``)."""
        return len(self.notes)

    def since(self, mark: int) -> list[str]:
        return [n.name for n in self.notes[mark:]]

    def last(self, name: str) -> Notification:
        return next(n for n in reversed(self.notes) if n.name == name)

    async def wait(self, name: str, count: int = 1, *, after: int = 0) -> Notification:
        """Wait until ``name`` was emitted ``count`` times after position ``after``."""
        with trio.fail_after(PATIENCE):
            while self.since(after).count(name) < count:
                await self._changed.wait()
        return self.last(name)


#: An agent and its notifications (the ``agent`` and ``supervisor`` fixtures).
Pair = tuple[Agent, Recorder]


async def run_recorded(nursery: trio.Nursery, agent: Agent) -> Pair:
    """Start ``agent`` in ``nursery``; returns once it is logged in. The ``Recorder`` is
    attached before the agent runs, so its notes begin with the login's own."""
    notes = Recorder(agent)
    await nursery.start(agent.run)
    return agent, notes


async def talking(pair: Pair, switch: Switch) -> str:
    """Check the agent in to ``sales``, ring it with an inbound call and answer it;
    returns the call's id."""
    agent, notes = pair
    await agent.check_in(group_ids=["sales"])
    mark = notes.mark()
    call = switch.inbound_call("sales")
    await notes.wait("onCallInRing", after=mark)
    await agent.answer()
    return call


async def settled(agent: Agent, switch: Switch, agent_id: str, *, quiet: float = 0.02) -> str:
    """Wait until the agent is connected and in the switch's state and stays there for
    ``quiet`` seconds (late frames have landed); returns that state."""
    with trio.fail_after(PATIENCE):
        while True:
            truth = switch.chart_state(agent_id)
            if agent.connected and agent.state == truth:
                await trio.sleep(quiet)
                if agent.state == switch.chart_state(agent_id) and agent.connected:
                    return truth
            await trio.sleep(0.002)


async def until(predicate: Callable[[], Any], timeout: float = PATIENCE) -> None:
    """Poll ``predicate`` (state of another process's making) until true."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.002)


async def raises(
    expected: type[BaseException], call: Callable[[], Awaitable[Any]], timeout: float = PATIENCE
) -> Any:
    """Await ``call()`` and return the ``expected`` exception it must raise."""
    with trio.fail_after(timeout):
        try:
            await call()
        except expected as exc:
            return exc
    raise AssertionError(f"{expected.__name__} was not raised")


async def sent_since(sim: Any, agent: Agent, user: str, mark: int) -> list[str]:
    """The services a csta-ws simulator received from ``user`` since ``mark``. A query
    goes last as a barrier: anything sent before it has arrived once it is answered."""
    await agent.get_transfer_groups()
    services: list[str] = sim.services(user)[mark:]
    assert services[-1] == "Escape"
    return services[:-1]


# --- asterisk-ami: how its agents log in ----------------------------------------------------
def ami_login(account: Account) -> Login:
    """An AMI agent is the queue member PJSIP/<device>; the manager user is its agent id."""
    return Login(
        f"PJSIP/{account.device}",
        account.password,
        {"username": account.id, "queues": ["sales", "support"]},
    )


#: What the AMI adapter README documents that AMI cannot tell an agent.
AMI_GAPS = (
    Gap(
        "barge-in unseen by the spied agent",
        "ChanSpy's barge mode is a DTMF switch inside the supervisor's ChanSpy: AMI sends"
        " the spied agent no event, so it stays talking while the switch has three parties",
        agent_state="checked_in.talking",
        switch_state="checked_in.three_party",
        role="agent",
    ),
)

__all__ = [
    "AMI_GAPS",
    "DOCUMENTED",
    "FAST",
    "PATIENCE",
    "OpenAgent",
    "Pair",
    "Recorder",
    "ami_login",
    "fast_chart",
    "raises",
    "run_recorded",
    "sent_since",
    "settled",
    "talking",
    "until",
]
