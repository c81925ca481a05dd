"""Faults, end to end against the csta-ws simulator: the link dropped mid-call, during a
pending command and during the resync; garbage, truncated and oversized frames; duplicated
and late events; floods. After each the agent is up, its state matches the switch, and
nothing but the documented exceptions reached the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from cti_fsm_csta_ws import CstaSimulator
from e2etools import DOCUMENTED, Pair, fast_chart, settled, talking, until

from cti_fsm.agent import Agent
from cti_fsm.switch import Switch, SwitchError
from cti_fsm.testing.conformance import LoopbackRelay

A, S = "1001", "9001"


@asynccontextmanager
async def busy_user(agent: Agent) -> AsyncIterator[list[BaseException]]:
    """Business code querying the agent all along: collects the exceptions it got. Any
    exception outside the documented ones ends the test right there."""
    errors: list[BaseException] = []

    async def loop() -> None:
        while True:
            try:
                await agent.get_transfer_groups()
            except DOCUMENTED as exc:
                errors.append(exc)
            await trio.sleep(0.005)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop)
        yield errors
        nursery.cancel_scope.cancel()


# --- the link drops ---------------------------------------------------------------------------
@pytest.mark.parametrize("abrupt", [True, False])
async def test_link_dropped_mid_call(
    agent: Pair, sim: CstaSimulator, switch: Switch, abrupt: bool
) -> None:
    a, notes = agent
    await talking(agent, switch)
    mark = notes.mark()
    async with busy_user(a):
        assert sim.drop_link(A, abrupt=abrupt) == 1
        await notes.wait("onConnect", after=mark)
    # nothing changed while the link was down: the user hears of the drop and the return
    assert notes.since(mark)[0] == "onDisconnect"
    assert [n for n in notes.since(mark) if n != "onGetOrgAgtgrps"] == [
        "onDisconnect",
        "onConnect",
    ]
    assert a.statistics().reconnects == 1
    assert await settled(a, switch, A) == "checked_in.talking"
    await a.hangup()  # the adapter still knows the call after the resync
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_the_call_ends_while_the_link_is_down(
    login: Any, relay: LoopbackRelay, switch: Switch
) -> None:
    a, notes = await login(A, url=relay.url)
    call = await talking((a, notes), switch)
    mark = notes.mark()
    relay.stall()  # the reconnection's login is held
    relay.drop()
    await until(lambda: not a.connected and relay.links == 1)
    switch.customer_hangs_up(call)
    relay.resume()
    await notes.wait("onConnect", after=mark)
    assert notes.since(mark) == ["onDisconnect", "onIdle", "onConnect"]
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_link_dropped_again_during_the_resync(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await talking(agent, switch)
    snapshot = switch.snapshot
    trapped: list[str] = []

    def drop_before_answering(agent_id: str) -> Any:
        # the second login's snapshot request arrives: cut the link before answering it
        if not trapped:
            trapped.append(agent_id)
            sim.drop_link(agent_id)
            raise SwitchError("invalid_agent_state", "the link went down")
        return snapshot(agent_id)

    switch.snapshot = drop_before_answering  # type: ignore[method-assign]
    mark = notes.mark()
    async with busy_user(a) as errors:
        sim.drop_link(A)
        await until(lambda: a.statistics().reconnects == 2 and a.connected)
        await notes.wait("onConnect", after=mark)
    assert trapped == [A]
    assert all(isinstance(e, DOCUMENTED) for e in errors)
    assert await settled(a, switch, A) == "checked_in.talking"
    # the call never changed: the user hears drops and returns, not a new call
    heard = [n for n in notes.since(mark) if n != "onGetOrgAgtgrps"]
    assert set(heard) <= {"onDisconnect", "onConnect"}, f"heard {heard}"
    assert heard[-1] == "onConnect"


# --- bad frames ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        "garbage",
        "binary garbage",
        "truncated",
        "oversized",
        "not an object",
        "NaN",
    ],
)
async def test_bad_frames_are_dropped_and_the_link_stays_up(
    agent: Pair, sim: CstaSimulator, switch: Switch, fault: str
) -> None:
    a, notes = agent
    await talking(agent, switch)
    mark = notes.mark()
    faults: dict[str, Callable[[], int]] = {
        "garbage": lambda: sim.send_garbage(A),
        "binary garbage": lambda: sim.send_garbage(A, b"\xff\xfe\x00garbage"),
        "truncated": lambda: sim.send_truncated(A),
        "oversized": lambda: sim.send_oversized(A),
        "not an object": lambda: sim.send_garbage(A, "[1, 2, 3]"),
        "NaN": lambda: sim.send_garbage(A, '{"type": "event", "x": NaN}'),
    }
    assert faults[fault]() == 1
    await until(lambda: a.statistics().malformed_frames == 1)
    assert a.connected and a.statistics().reconnects == 0
    assert notes.since(mark) == []
    await a.hold()  # the next frames decode as if nothing happened
    assert await settled(a, switch, A) == "checked_in.held"


# --- duplicated and late events -----------------------------------------------------------------
async def test_duplicated_events_move_the_agent_once(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await a.check_in(group_ids=["sales"])
    mark = notes.mark()
    sim.duplicate_next_event(A)
    switch.inbound_call("sales")
    await until(lambda: a.statistics().ignored_signals >= 1)
    assert notes.since(mark) == ["onCallInRing"]
    await a.answer()
    sim.duplicate_next_event(A)
    await a.hold()
    await until(lambda: a.statistics().ignored_signals >= 2)
    assert notes.since(mark) == ["onCallInRing", "onCallIn", "onInCall", "onHold"]
    assert await settled(a, switch, A) == "checked_in.held"


async def test_a_late_event_still_lands(agent: Pair, sim: CstaSimulator, switch: Switch) -> None:
    a, notes = agent
    await a.check_in(group_ids=["sales"])
    mark = notes.mark()
    sim.delay_next_event(A, 0.2)
    switch.inbound_call("sales")
    assert a.state == "checked_in.available.idle"
    await notes.wait("onCallInRing", after=mark)
    assert await settled(a, switch, A) == "checked_in.ringing"


# --- floods ------------------------------------------------------------------------------------
async def test_a_flood_of_queries_all_resolve(login: Any, sim: CstaSimulator) -> None:
    # a 3 s timeout (not 10): a query that is never answered fails the test sooner
    a, notes = await login(A, chart=fast_chart(3.0))
    count = 2000
    mark, sent = notes.mark(), len(sim.services(A))
    done: list[int] = []

    async def ask(i: int) -> None:
        await a.get_transfer_groups()
        done.append(i)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(ask, i)
    assert len(done) == count
    assert notes.since(mark) == ["onGetOrgAgtgrps"] * count
    assert sim.services(A)[sent:] == ["Escape"] * count
    stats = a.statistics()
    assert stats.pending == () and stats.dropped_notifications == 0 and stats.reconnects == 0
    assert a.state == "connected"


async def test_a_flood_of_dtmf_in_a_call_all_resolve(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await talking(agent, switch)
    mark = notes.mark()
    count = 1000
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(lambda: a.send_dtmf(digits="5"))
    assert notes.since(mark) == ["onDtmfSent"] * count
    assert a.statistics().pending == ()
    assert await settled(a, switch, A) == "checked_in.talking"


async def test_a_burst_of_switch_events(agent: Pair, switch: Switch) -> None:
    a, notes = agent
    await a.check_in(group_ids=["sales"])
    mark = notes.mark()
    count = 1000
    for _ in range(count):  # another console toggling the agent, as fast as it can
        switch.pause(A, "burst")
        switch.restore(A)
    await notes.wait("onRestore", count, after=mark)
    assert notes.since(mark) == ["onPause", "onRestore"] * count
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_a_flood_of_garbage_between_real_events(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await a.check_in(group_ids=["sales"])
    for i in range(500):
        sim.send_garbage(A, f"garbage {i} {{")
        if i == 250:
            switch.inbound_call("sales")
    await until(lambda: a.statistics().malformed_frames == 500)
    assert notes.names.count("onCallInRing") == 1
    assert a.statistics().reconnects == 0
    assert await settled(a, switch, A) == "checked_in.ringing"


async def test_events_out_of_order_are_healed_by_reconciliation(
    login: Any, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = await login(A, reconcile_every=0.1)
    await a.check_in(group_ids=["sales"])
    mark = notes.mark()
    sim.delay_next_event(A, 0.05)  # the call rings late: after it has already ended
    call = switch.inbound_call("sales")
    switch.customer_hangs_up(call)
    await notes.wait("onCallInRing", after=mark)
    # the late ring left the agent ringing for a call the switch has ended ...
    assert a.state == "checked_in.ringing" and switch.call_of(A) is None
    await until(lambda: a.statistics().drift_corrections == 1)
    # ... until the reconciliation took two looks and walked it back
    assert await settled(a, switch, A) == "checked_in.available.idle"
    assert notes.since(mark)[-1] == "onIdle"


async def test_reconciliation_finds_no_drift_in_a_normal_call(
    login: Any, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = await login(A, reconcile_every=0.02)  # a look every 20 ms, all call long
    mark = notes.mark()
    await talking((a, notes), switch)  # checks in, takes a call
    for _ in range(5):
        await a.hold()
        await trio.sleep(0.03)
        await a.retrieve()
        await trio.sleep(0.03)
    await a.hangup()
    await trio.sleep(0.1)
    assert await settled(a, switch, A) == "checked_in.available.idle"
    assert a.statistics().drift_corrections == 0
    assert sim.services(A).count("SnapshotDevice") >= 5  # it did look
    assert notes.since(mark).count("onHold") == 5
