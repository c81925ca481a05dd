"""A working day against an embedded simulator, printed as a live timeline.

An agent and a supervisor log in to a simulated CTI server on 127.0.0.1 (the adapter's own
simulator over a real socket, backed by the vendor-neutral switch), and play: check in, an
inbound call answered, hold and retrieve, DTMF, a consultation and transfer, an outbound call
that fails and one that connects, pause and restore, the supervisor listening, barging in
and taking over, check out. Every command and every step is printed as it happens.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

import attrs
import trio

from .adapter import Adapter, adapter_names, load_adapter
from .agent import Agent, Backoff, open_agent
from .errors import CtiError
from .machine import Step
from .switch import Switch, demo_switch

__all__ = ["DEMO_COMMANDS", "Timeline", "choose_adapter", "run_demo"]

#: every command the demo's day uses: an adapter must support all of them
DEMO_COMMANDS = frozenset(
    {
        "connect",
        "disconnect",
        "check_in",
        "check_out",
        "answer",
        "hold",
        "retrieve",
        "send_dtmf",
        "consult",
        "complete_transfer",
        "dial_out",
        "hangup",
        "pause",
        "restore",
        "listen",
        "join_talk",
        "disconnect_call",
    }
)

AGENT, SUPERVISOR = "1001", "9001"


def choose_adapter(name: str | None = None) -> Adapter:
    """The adapter to demo: ``name``, or the first installed one that supports every
    command the day uses.

    Raises:
        AdapterNotFound: ``name`` is not installed.
        CtiError: ``name`` cannot play the whole day (it names the commands it lacks and
            the adapters that can), or no installed adapter can.
    """
    able = []
    for candidate in adapter_names():
        try:
            adapter = load_adapter(candidate)
        except Exception:  # a broken third-party adapter must not stop the demo
            continue
        if not DEMO_COMMANDS & adapter.unsupported:
            if name is None:
                return adapter
            able.append(candidate)
    if name is None:
        raise CtiError("no installed adapter supports every command the demo uses")
    adapter = load_adapter(name)
    lacking = sorted(DEMO_COMMANDS & adapter.unsupported)
    if lacking:
        raise CtiError(
            f"{name!r} cannot play the demo's day: it cannot {', '.join(lacking)}"
            f" (adapters that can: {', '.join(able) or 'none installed'})"
        )
    return adapter


@attrs.define
class Timeline:
    """Prints one line per command and per step: time, who, what, state from -> to."""

    out: TextIO = sys.stdout
    start: float = attrs.field(factory=trio.current_time)
    lines: int = 0

    def _print(self, who: str, what: str, change: str = "") -> None:
        elapsed = trio.current_time() - self.start
        self.out.write(f"{elapsed:7.3f}s  {who:<10} {what:<44} {change}\n".rstrip() + "\n")
        self.out.flush()
        self.lines += 1

    def note(self, who: str, text: str) -> None:
        """A line of narration (what the outside world does)."""
        self._print(who, text)

    def step(self, who: str, step: Step) -> None:
        """A signal that moved the agent (or emitted notifications)."""
        what = f"{step.signal} -> {', '.join(step.names) or '(no event)'}"
        change = f"{step.source} -> {step.target}" if step.changed else f"(stays {step.target})"
        self._print(who, what, change)

    def watch(self, who: str, agent: Agent) -> None:
        """Print every step ``agent`` takes from now on."""
        agent.on_step(lambda step: self.step(who, step))

    async def command(self, who: str, agent: Agent, name: str, /, **args: Any) -> Step | None:
        """Send a command, printing it first (secrets are never among demo arguments)."""
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        self._print(who, f"> {name}({shown})")
        return await agent.command(name, **args)


async def wait_for(agent: Agent, name: str, timeout: float = 5.0) -> None:
    """Wait until ``agent`` emits the notification ``name``.

    Raises:
        trio.TooSlowError: it did not within ``timeout`` seconds.
    """
    arrived = trio.Event()

    def seen(_: Any) -> None:
        arrived.set()

    agent.on(name, seen)
    try:
        with trio.fail_after(timeout):
            await arrived.wait()
    finally:
        agent.off(name, seen)


async def _stimulus(
    timeline: Timeline, agent: Agent, waits_for: str, text: str, act: Callable[[], Any]
) -> None:
    """Do something in the outside world and wait until the agent hears of it."""
    arrived = trio.Event()
    agent.on(waits_for, lambda _: arrived.set())
    timeline.note("world", text)
    act()
    with trio.fail_after(5):
        await arrived.wait()


async def play_day(
    switch: Switch, agent: Agent, supervisor: Agent, timeline: Timeline, pace: float
) -> None:
    """The day itself: every seed method and the events it produces."""
    say = timeline.command
    a, s = "agent", "supervisor"

    async def pause() -> None:
        await trio.sleep(pace)

    await say(a, agent, "check_in", group_ids="sales,support")
    await say(s, supervisor, "check_in", group_ids="sales")
    await say(s, supervisor, "pause", reason="supervising")
    await pause()

    # an inbound call, answered, held, retrieved, DTMF, consulted and transferred
    await _stimulus(
        timeline,
        agent,
        "onCallInRing",
        "customer +44 20 7946 0001 calls sales",
        lambda: switch.inbound_call("sales", caller="+442079460001"),
    )
    await say(a, agent, "answer")
    await pause()
    await say(a, agent, "hold")
    await say(a, agent, "retrieve")
    await say(a, agent, "send_dtmf", digits="1")
    await say(a, agent, "consult", target="+442079460099")
    await _stimulus(
        timeline,
        agent,
        "onConsult",
        "the consulted expert answers",
        lambda: switch.third_party_answers(AGENT),
    )
    await say(a, agent, "complete_transfer")
    await pause()

    # an outbound call that fails, then one that connects
    await say(a, agent, "dial_out", number="+15550100")
    call = switch.call_of(AGENT)
    await _stimulus(
        timeline,
        agent,
        "onDialOver",
        "the far end is busy",
        lambda: switch.customer_busy(call) if call else None,
    )
    await say(a, agent, "dial_out", number="+15550199")
    call = switch.call_of(AGENT)
    await _stimulus(
        timeline,
        agent,
        "onCallOut",
        "the far end answers",
        lambda: switch.customer_answers(call) if call else None,
    )
    await pause()
    await say(a, agent, "hangup")

    await say(a, agent, "pause", reason="lunch")
    await pause()
    await say(a, agent, "restore")

    # the supervisor listens to a call, barges in, then takes it over
    await _stimulus(
        timeline,
        agent,
        "onCallInRing",
        "customer +44 20 7946 0002 calls sales",
        lambda: switch.inbound_call("sales", caller="+442079460002"),
    )
    await say(a, agent, "answer")
    await say(s, supervisor, "listen", agent_id=AGENT)
    await pause()
    await say(s, supervisor, "join_talk", agent_id=AGENT)
    await pause()
    await say(s, supervisor, "disconnect_call", agent_id=AGENT)
    await pause()
    await say(s, supervisor, "hangup")

    await say(a, agent, "check_out")
    await say(s, supervisor, "check_out")


async def run_demo(
    vendor: str | None = None, *, pace: float = 0.2, out: TextIO = sys.stdout
) -> int:
    """Start the simulator, connect an agent and a supervisor, play the day, log out; 0 if
    the agent was where the switch said at the end of the day and after logging out.

    Raises:
        ValueError: ``pace`` is negative (or not a number).
        AdapterNotFound: ``vendor`` is not installed.
        CtiError: ``vendor`` (or, without one, every adapter) cannot play the day, or a
            step of the day failed.
    """
    if not pace >= 0:
        raise ValueError(f"pace must be 0 or more seconds, not {pace}")
    adapter = choose_adapter(vendor)
    switch = demo_switch()
    timeline = Timeline(out)
    timeline.note("demo", f"vendor {adapter.name!r}: simulator on 127.0.0.1")
    async with trio.open_nursery() as nursery:
        simulator = adapter.simulator(switch)
        await nursery.start(simulator.serve, "127.0.0.1", 0)
        url = simulator.url
        timeline.note("demo", f"listening at {url}")
        fast = Backoff(base=0.05, cap=1.0)
        async with (
            open_agent(adapter, url, AGENT, f"pw{AGENT}", reconnect=fast) as agent,
            open_agent(
                adapter,
                url,
                SUPERVISOR,
                f"pw{SUPERVISOR}",
                rights={"supervisor"},
                reconnect=fast,
            ) as supervisor,
        ):
            timeline.watch("agent", agent)
            timeline.watch("supervisor", supervisor)
            timeline.note("demo", f"agent {agent.state}, supervisor {supervisor.state}")
            await play_day(switch, agent, supervisor, timeline, pace)
            day = (agent.state, switch.chart_state(AGENT))
            timeline.note("demo", f"day over: agent in {day[0]} (the switch says {day[1]})")
            timeline.note("demo", "logging out")
        # said only now, after the log-outs it reports were printed
        ends = (agent.state, switch.chart_state(AGENT))
        nursery.cancel_scope.cancel()
    timeline.note("demo", f"done: agent ends in {ends[0]} (the switch says {ends[1]})")
    return 0 if day[0] == day[1] and ends[0] == ends[1] else 1
