"""Commands that never reach the server (refused by the chart or the vendor), commands the
server does not answer in time (CommandTimeout), and commands whose link drops before the
answer (Disconnected), end to end against the csta-ws simulator. Timeouts use a copy of
the default chart whose commands time out after a fraction of a second."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio
from cti_fsm_csta_ws import CstaSimulator, CstaWsAdapter
from e2etools import Pair, fast_chart, raises, run_recorded, sent_since, settled, talking, until

from cti_fsm.agent import Agent
from cti_fsm.errors import (
    CommandTimeout,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    PermissionDenied,
    Unsupported,
)
from cti_fsm.switch import Switch
from cti_fsm.testing.conformance import LoopbackRelay
from cti_fsm.vendor_map import vendor_map_path

A = "1001"
TIMEOUT = 0.3


# --- refused before anything is sent ------------------------------------------------------------
async def test_chart_refusals_send_nothing_and_change_nothing(
    agent: Pair, sim: CstaSimulator
) -> None:
    a, notes = agent
    mark, sent = notes.mark(), len(sim.services(A))
    error = await raises(IllegalCommand, a.hold)
    assert error.state == "connected" and "check_in" in error.allowed
    await raises(IllegalCommand, lambda: a.dial_out(number="5550100"))
    await raises(PermissionDenied, a.get_all_agents)
    # through command(): the typed method would not let these past the type checker
    await raises(InvalidArguments, lambda: a.command("check_in"))  # group_ids missing
    await raises(InvalidArguments, lambda: a.command("check_in", group_ids=["sales"], colour="red"))
    assert a.state == "connected"
    assert notes.since(mark) == []
    assert await sent_since(sim, a, A, sent) == []
    assert a.statistics().pending == ()


async def test_vendor_unsupported_command_sends_nothing(
    tmp_path: Path, sim: CstaSimulator, switch: Switch, nursery: trio.Nursery
) -> None:
    text = Path(vendor_map_path("csta-ws")).read_text(encoding="utf-8")
    assert "unsupported: []\n" in text
    # a vendor without hold: the command listed as unsupported, its template gone
    template = re.search(r"\n  hold:\n(    .*\n)+", text)
    assert template is not None
    text = text.replace(template.group(0), "\n")
    limited = tmp_path / "csta-no-hold.yaml"
    limited.write_text(text.replace("unsupported: []\n", "unsupported: [hold]\n"))
    vendor = CstaWsAdapter(vendor_map_file=limited)
    agent, notes = await run_recorded(nursery, Agent(vendor, sim.url, A, "pw1001", reconnect=None))
    try:
        await talking((agent, notes), switch)
        assert "hold" not in agent.allowed() and "hangup" in agent.allowed()
        mark, sent = notes.mark(), len(sim.services(A))
        error = await raises(Unsupported, agent.hold)
        assert error.command == "hold"
        assert agent.state == "checked_in.talking"
        assert notes.since(mark) == []
        assert await sent_since(sim, agent, A, sent) == []
    finally:
        await agent.aclose()


# --- no answer in time ------------------------------------------------------------------------
async def test_command_confirmed_by_a_late_event_times_out(
    login: Any, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = await login(A, chart=fast_chart(TIMEOUT))
    await talking((a, notes), switch)
    sim.delay_next_event(A, 1.0)  # the server holds the call but says so late
    mark = notes.mark()
    started = trio.current_time()
    error = await raises(CommandTimeout, a.hold)
    assert TIMEOUT <= trio.current_time() - started < 0.9
    assert error.command == "hold" and error.timeout == TIMEOUT
    assert a.state == "checked_in.talking"
    assert notes.since(mark) == []
    assert a.statistics().pending == ()
    # the late confirmation still moves the agent to where the switch is
    await notes.wait("onHold", after=mark)
    assert notes.last("onHold")["result"] == "success"
    assert await settled(a, switch, A) == "checked_in.held"


async def test_command_confirmed_by_its_response_times_out_on_a_stalled_link(
    login: Any, relay: LoopbackRelay, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = await login(A, chart=fast_chart(TIMEOUT), url=relay.url)
    await talking((a, notes), switch)
    relay.stall()
    mark = notes.mark()
    error = await raises(CommandTimeout, lambda: a.send_dtmf(digits="7"))
    assert error.command == "send_dtmf"
    assert sim.services(A)[-1] == "GenerateDigits"  # it went out; the answer is stuck
    assert notes.since(mark) == []
    relay.resume()
    await notes.wait("onDtmfSent", after=mark)
    assert await settled(a, switch, A) == "checked_in.talking"
    assert a.statistics().pending == ()


async def test_check_in_times_out_then_lands(
    login: Any, relay: LoopbackRelay, switch: Switch
) -> None:
    a, notes = await login(A, chart=fast_chart(TIMEOUT), url=relay.url)
    relay.stall()
    mark = notes.mark()
    await raises(CommandTimeout, lambda: a.check_in(group_ids=["sales"]))
    assert a.state == "connected"
    relay.resume()
    await notes.wait("onCheckIn", after=mark)
    assert await settled(a, switch, A) == "checked_in.available.idle"


# --- the link drops before the answer ------------------------------------------------------------
async def test_link_drop_fails_the_pending_command_then_resyncs(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await talking(agent, switch)
    sim.delay_next_event(A, 5.0)  # the confirmation will not come on this link
    mark = notes.mark()
    async with trio.open_nursery() as nursery:
        failed: list[BaseException] = []

        async def hold() -> None:
            try:
                await a.hold()
            except Disconnected as exc:
                failed.append(exc)

        nursery.start_soon(hold)
        await until(lambda: sim.services(A)[-1] == "HoldCall" and a.statistics().pending)
        sim.drop_link(A)
    assert len(failed) == 1
    assert isinstance(failed[0], Disconnected) and failed[0].command == "hold"
    await notes.wait("onConnect", after=mark)
    # the resync walks from talking to held: the user hears the hold it asked for
    assert notes.since(mark) == ["onDisconnect", "onHold", "onConnect"]
    assert await settled(a, switch, A) == "checked_in.held"
    assert a.statistics().reconnects == 1


async def test_link_drop_on_a_stalled_link_fails_the_pending_command(
    login: Any, relay: LoopbackRelay, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = await login(A, url=relay.url)
    await a.check_in(group_ids=["sales"])
    relay.stall()
    mark = notes.mark()
    async with trio.open_nursery() as nursery:
        outcome: list[BaseException] = []

        async def dial() -> None:
            try:
                await a.dial_out(number="5550100")
            except Disconnected as exc:
                outcome.append(exc)

        nursery.start_soon(dial)
        await until(lambda: sim.services(A)[-1] == "MakeCall")
        assert relay.drop() == 1
        relay.resume()
    assert [type(e) for e in outcome] == [Disconnected]
    await notes.wait("onConnect", after=mark)
    assert notes.since(mark) == ["onDisconnect", "onCallout", "onConnect"]
    assert await settled(a, switch, A) == "checked_in.dialing"


async def test_commands_while_reconnecting_raise_disconnected_and_send_nothing(
    login: Any, relay: LoopbackRelay, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = await login(A, url=relay.url)
    await talking((a, notes), switch)
    relay.stall()  # the next login will not be answered until resume
    relay.drop()
    await until(lambda: not a.connected and relay.links == 1)
    error = await raises(Disconnected, a.get_transfer_groups)
    assert "not connected" in error.reason
    await raises(Disconnected, lambda: a.send_dtmf(digits="1"))
    relay.resume()
    assert await settled(a, switch, A) == "checked_in.talking"
    assert "GenerateDigits" not in sim.services(A)
