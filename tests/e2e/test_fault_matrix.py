"""The fault matrix (``cti_fsm.testing.faults``) for every adapter: each conformance
scenario with the link dropped at every step in every way, in virtual time; and a sample of
it over real sockets. A new adapter is one more row in ``ADAPTERS``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import trio
from e2etools import AMI_GAPS, ami_login, fast_chart
from esltools import ESL_GAPS, esl_login

from cti_fsm.adapter import load_adapter
from cti_fsm.errors import Disconnected
from cti_fsm.testing.conformance import (
    AGENT,
    SCENARIOS,
    Gap,
    Scenario,
    check_adapter,
    drop,
)
from cti_fsm.testing.faults import (
    FAULTS,
    FaultCase,
    VirtualWorld,
    check_fault_matrix,
    fault_cases,
    run_fault_case,
)

#: AMI cannot tell a supervisor resynchronised after barging in that it barged in.
AMI_RESYNC_GAPS = (
    *AMI_GAPS,
    Gap(
        "barge-in unseen after a reconnect",
        "ChanSpy's barge mode is a DTMF switch inside ChanSpy: CoreShowChannels lists the"
        " supervisor's channel in ChanSpy alike in either mode, so a supervisor whose link"
        " dropped after barging in resynchronises to listening",
        agent_state="checked_in.listening",
        switch_state="checked_in.three_party",
        role="supervisor",
    ),
)

#: FreeSWITCH cannot tell a supervisor resynchronised after barging in that it barged in.
ESL_RESYNC_GAPS = (
    *ESL_GAPS,
    Gap(
        "barge-in unseen after a reconnect",
        "eavesdrop's three-way key is a DTMF inside the supervisor's eavesdrop: show channels"
        " lists the supervisor's leg running eavesdrop on the agent's leg alike in either"
        " mode, so a supervisor whose link dropped after barging in resynchronises to"
        " listening",
        agent_state="checked_in.listening",
        switch_state="checked_in.three_party",
        role="supervisor",
    ),
)

#: Every adapter the matrix runs on, with how its agents log in and its declared gaps.
ADAPTERS: Mapping[str, Mapping[str, Any]] = {
    "csta-ws": {},
    "asterisk-ami": {"login": ami_login, "gaps": AMI_RESYNC_GAPS},
    # no login options: the agent's phone is its mod_callcenter contact, from the agent list
    "freeswitch-esl": {"gaps": ESL_RESYNC_GAPS},
}


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_the_whole_fault_matrix_finds_nothing(name: str) -> None:
    report = check_fault_matrix(name, **ADAPTERS[name])
    assert report.ok, str(report)
    scenarios_steps = sum(len(s.steps) for s in SCENARIOS)
    # every step of every scenario in every way that applies to it, plus each clean run
    assert report.cases == len(fault_cases())
    assert report.cases > 3 * scenarios_steps
    assert report.drops >= report.cases - len(SCENARIOS)
    # commands cut in flight were reported as sent, outcome unknown
    assert report.unknown_outcomes > 100


def test_the_matrix_catches_an_adapter_that_does_not_resynchronise() -> None:
    base = load_adapter("csta-ws")

    class NoResync:
        name = base.name
        chart = base.chart
        unsupported = base.unsupported

        def protocol(self, *, user: str, options: Mapping[str, Any]) -> Any:
            protocol = base.protocol(user=user, options=options)
            protocol.snapshot_request = lambda request_id: []  # type: ignore[method-assign]
            return protocol

        def simulator(self, switch: Any) -> Any:
            return base.simulator(switch)

    scenario = next(s for s in SCENARIOS if s.name == "hold and retrieve")
    report = check_fault_matrix(NoResync(), scenarios=[scenario], faults=["response_lost"])  # type: ignore[arg-type]
    assert report.count("mismatch") > 0
    assert "the switch says checked_in.held" in str(report)


def test_a_command_cut_in_flight_raises_disconnected_saying_it_was_sent() -> None:
    world = VirtualWorld(load_adapter("csta-ws"))
    for role in ("agent", "supervisor"):
        world.connect(role)
    world.settle()
    session = world.links[AGENT].session
    ticket = session.send_command("check_in", {"group_ids": ["sales"]}, world.now)
    world.links[AGENT].lose_down = True
    world.pump()
    world.drop(AGENT)
    assert isinstance(ticket.error, Disconnected) and ticket.error.sent
    assert "it had been sent, its outcome is unknown" in str(ticket.error)
    # the switch did it; the resync says so
    world.connect(AGENT)
    world.settle()
    assert world.machines[AGENT].state == world.truth(AGENT) == "checked_in.available.idle"
    names = [n.name for n in world.notes[AGENT]]
    assert names[-3:] == ["onDisconnect", "onCheckIn", "onConnect"]


@pytest.mark.parametrize(
    ("scenario", "step", "fault"),
    [
        # the two ways AMI resynchronised to the wrong state (issue 11)
        ("consultation, then transfer", 3, "between"),
        ("consultation, then transfer", 4, "response_lost"),
        ("outbound call answered", 2, "between"),
        ("consulted party hangs up", 5, "twice"),
        ("supervisor listens, barges in and takes over", 4, "during_resync"),
        ("pause and restore with a reason", 3, "response_lost"),
    ],
)
def test_ami_resynchronises_to_the_switch(scenario: str, step: int, fault: str) -> None:
    case = FaultCase(scenario, step, fault)
    assert run_fault_case("asterisk-ami", case, login=ami_login, gaps=AMI_GAPS) == []


@pytest.mark.parametrize(
    ("scenario", "step", "fault"),
    [
        # the ways FreeSWITCH resynchronised to the wrong state, or could not go on (issue 12)
        ("consultation, then transfer", 3, "between"),  # held, not consulting
        ("consulted party hangs up", 4, "twice"),  # consult_talking
        ("pause and restore with a reason", 3, "response_lost"),  # back to paused after it
        ("supervisor listens, barges in and takes over", 4, "between"),  # no take-over
        ("supervisor listens, barges in and takes over", 4, "request_lost"),  # no listen
    ],
)
def test_freeswitch_resynchronises_to_the_switch(scenario: str, step: int, fault: str) -> None:
    case = FaultCase(scenario, step, fault)
    assert run_fault_case("freeswitch-esl", case, login=esl_login, gaps=ESL_GAPS) == []


def test_fault_cases_cover_every_fault_where_it_applies() -> None:
    cases = fault_cases()
    assert {c.fault for c in cases} == {None, *FAULTS}
    with pytest.raises(ValueError, match="unknown fault"):
        fault_cases(faults=["flood"])


def _dropped_after_every_step(scenario: Scenario) -> Scenario:
    steps: list[Any] = []
    for spec in scenario.steps:
        steps += [spec, drop(spec.role if spec.role != "supervisor" else "supervisor")]
    return Scenario(f"{scenario.name}, the link dropped after every step", tuple(steps))


SOCKET_SAMPLE: Sequence[str] = (
    "consultation, then transfer",
    "outbound call answered",
)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
async def test_a_sample_of_the_matrix_over_real_sockets(name: str) -> None:
    scenarios = [_dropped_after_every_step(s) for s in SCENARIOS if s.name in SOCKET_SAMPLE]
    options = dict(ADAPTERS[name])
    report = await check_adapter(
        name,
        scenarios=scenarios,
        walk_examples=0,
        settle=0.01,
        step_timeout=2.0,
        chart=fast_chart(2.0),
        **options,
    )
    assert report.steps_checked >= sum(len(s.steps) for s in scenarios)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
async def test_an_answer_lost_over_a_real_socket(name: str) -> None:
    """Over loopback: the server carries out a pause whose answer the network holds; the
    link drops; the caller is told the pause had been sent, the resync reports it."""
    from cti_fsm.agent import Backoff, open_agent
    from cti_fsm.switch import demo_switch
    from cti_fsm.testing.conformance import Account, LoopbackRelay, default_login

    switch = demo_switch()
    adapter = load_adapter(name)
    simulator: Any = adapter.simulator(switch)
    login = ADAPTERS[name].get("login", default_login)(Account("1001", "8001", "pw1001"))
    async with trio.open_nursery() as nursery:
        await nursery.start(simulator.serve, "127.0.0.1", 0)
        relay = LoopbackRelay(simulator.url)
        await nursery.start(relay.serve)
        async with open_agent(
            adapter,
            relay.url,
            login.user,
            login.password,
            options=login.options,
            reconnect=Backoff(base=0.01, cap=0.05),
        ) as agent:
            heard: list[str] = []
            agent.on("*", lambda note: heard.append(note.name))
            await agent.check_in(group_ids=["sales"])
            relay.stall()
            outcome: list[BaseException] = []

            async def pause() -> None:
                try:
                    await agent.pause()
                except Disconnected as exc:
                    outcome.append(exc)

            async with trio.open_nursery() as inner:
                inner.start_soon(pause)
                with trio.fail_after(2):
                    while switch.agent_info("1001").ready:
                        await trio.sleep(0.005)
                relay.drop()
                relay.resume()
            (error,) = outcome
            assert isinstance(error, Disconnected) and error.sent, error
            with trio.fail_after(2):
                while agent.state != "checked_in.available.paused":
                    await trio.sleep(0.005)
            assert "onPause" in heard[heard.index("onDisconnect") :]
        nursery.cancel_scope.cancel()
