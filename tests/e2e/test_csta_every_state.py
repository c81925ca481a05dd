"""Commands the chart allows in every state under ``checked_in`` (queries, a supervisor
acting on another agent, a forced sign-out), tried in each call state against the csta-ws
simulator: the agent's state never moves, its notifications say what happened, and it
matches the switch afterwards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from cti_fsm_csta_ws import CstaSimulator
from e2etools import OpenAgent, Pair, settled

from cti_fsm.errors import CommandFailed
from cti_fsm.switch import Switch

A, S = "1001", "9001"


async def _ring(pair: Pair, switch: Switch, user: str, group: str) -> None:
    notes = pair[1]
    mark = notes.mark()
    switch.inbound_call(group)
    await notes.wait("onCallInRing", after=mark)


async def _talk(pair: Pair, switch: Switch, user: str, group: str) -> None:
    await _ring(pair, switch, user, group)
    await pair[0].answer()


async def _consult(pair: Pair, switch: Switch, user: str, group: str) -> None:
    await _talk(pair, switch, user, group)
    await pair[0].consult(target="5550199")


async def _consult_answered(pair: Pair, switch: Switch, user: str, group: str) -> None:
    await _consult(pair, switch, user, group)
    mark = pair[1].mark()
    switch.third_party_answers(user)
    await pair[1].wait("onConsult", after=mark)


async def _three_party(pair: Pair, switch: Switch, user: str, group: str) -> None:
    await _consult_answered(pair, switch, user, group)
    await pair[0].conference()


async def _dial(pair: Pair, switch: Switch, user: str, group: str) -> None:
    await pair[0].dial_out(number="5550100")


async def _hold(pair: Pair, switch: Switch, user: str, group: str) -> None:
    await _talk(pair, switch, user, group)
    await pair[0].hold()


Setup = Callable[[Pair, Switch, str, str], Awaitable[None]]
STATES: dict[str, Setup] = {
    "checked_in.ringing": _ring,
    "checked_in.dialing": _dial,
    "checked_in.talking": _talk,
    "checked_in.held": _hold,
    "checked_in.consulting.consult_ringing": _consult,
    "checked_in.consulting.consult_talking": _consult_answered,
    "checked_in.three_party": _three_party,
}


@pytest.mark.parametrize("state", [*STATES, "checked_in.listening"])
async def test_a_supervisor_in_a_call_queries_and_acts_on_another_agent(
    login: OpenAgent, agent: Pair, supervisor: Pair, switch: Switch, state: str
) -> None:
    a, _ = agent
    s, notes = supervisor
    await a.check_in(group_ids=["support"])
    await s.check_in(group_ids=["sales"])
    if state == "checked_in.listening":
        await _talk(agent, switch, A, "support")
        await s.listen(agent_id=A)
    else:
        await STATES[state](supervisor, switch, S, "sales")
    assert await settled(s, switch, S) == state
    # a third agent, free, for the supervisor to pause and restore
    other, _ = await login("1003")
    await other.check_in(group_ids=["sales"])
    mark = notes.mark()
    await s.get_transfer_groups()
    await s.get_agent_groups()
    await s.get_all_agents()
    await s.get_rights()
    outcomes = []
    for command, target in [
        ("pause", "1003"),
        ("restore", "1003"),
        ("pause", "nobody"),
        ("restore", "nobody"),
    ]:
        try:
            await getattr(s, command)(agent_id=target)
            outcomes.append("success")
        except CommandFailed:
            outcomes.append("fail")
        assert s.state == state
    assert outcomes == ["success", "success", "fail", "fail"]
    with pytest.raises(CommandFailed):
        await s.logout_agent(agent_id="nobody")
    if state.startswith("checked_in.consulting") or state == "checked_in.three_party":
        with pytest.raises(CommandFailed):
            await s.send_dtmf(digits="not digits")
    await s.logout_agent(agent_id=A)
    heard = notes.since(mark)
    assert heard[:8] == [
        "onGetOrgAgtgrps",
        "onGetAgtGroups",
        "onAllAgtInfo",
        "onGetAgentRights",
        "onPause",
        "onRestore",
        "onPause",
        "onRestore",
    ]
    assert heard[8] == "onCommandFailed" and heard[-1] == "onLogoutAgent"
    # forcing out the agent it listens to ends the supervisor's listen too
    after = "checked_in.available.idle" if state == "checked_in.listening" else state
    assert await settled(s, switch, S) == after
    assert await settled(a, switch, A) == "connected"


@pytest.mark.parametrize("state", list(STATES))
async def test_a_forced_sign_out_ends_whatever_the_agent_was_doing(
    agent: Pair, supervisor: Pair, sim: CstaSimulator, switch: Switch, state: str
) -> None:
    a, notes = agent
    s, _ = supervisor
    await a.check_in(group_ids=["sales"])
    await STATES[state](agent, switch, A, "sales")
    assert await settled(a, switch, A) == state
    mark = notes.mark()
    await s.logout_agent(agent_id=A)
    await notes.wait("onCheckOut", after=mark)
    assert notes.since(mark)[-1] == "onCheckOut"
    assert notes.last("onCheckOut")["message"] == "forcedTransition"
    assert await settled(a, switch, A) == "connected"
    assert switch.calls() == () or all(
        leg.agent != A for call in switch.calls() for leg in call.legs
    )


async def test_transfer_from_hold(agent: Pair, switch: Switch) -> None:
    a, notes = agent
    await a.check_in(group_ids=["sales"])
    await _hold(agent, switch, A, "sales")
    mark = notes.mark()
    with pytest.raises(CommandFailed):
        await a.transfer(target="1002")  # logged out: refused by the switch
    await a.transfer(target="5550111")
    assert notes.since(mark) == ["onTransfer", "onTransfer", "onIdle"]
    assert [n["result"] for n in notes.notes[mark : mark + 2]] == ["fail", "success"]
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_consult_refused_while_talking(agent: Pair, switch: Switch) -> None:
    a, notes = agent
    await a.check_in(group_ids=["sales"])
    await _talk(agent, switch, A, "sales")
    mark = notes.mark()
    with pytest.raises(CommandFailed):
        await a.consult(target="no such party")
    assert notes.since(mark) == ["onConsult"]
    assert notes.last("onConsult")["result"] == "fail"
    assert await settled(a, switch, A) == "checked_in.talking"


async def test_take_over_while_only_listening(
    agent: Pair, supervisor: Pair, switch: Switch
) -> None:
    a, a_notes = agent
    s, notes = supervisor
    await a.check_in(group_ids=["sales"])
    await s.check_in(group_ids=["support"])
    await _talk(agent, switch, A, "sales")
    await s.listen(agent_id=A)
    mark, a_mark = notes.mark(), a_notes.mark()
    await s.disconnect_call(agent_id=A)
    await a_notes.wait("onIdle", after=a_mark)
    assert notes.since(mark) == ["onTakeOver", "onInCall"]
    assert await settled(s, switch, S) == "checked_in.talking"
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_take_over_refused_in_a_three_party_call(
    agent: Pair, supervisor: Pair, switch: Switch
) -> None:
    a, _ = agent
    s, notes = supervisor
    await a.check_in(group_ids=["sales"])
    await s.check_in(group_ids=["support"])
    await _talk(agent, switch, A, "sales")
    await s.listen(agent_id=A)
    await s.join_talk(agent_id=A)
    mark = notes.mark()
    with pytest.raises(CommandFailed):
        await s.disconnect_call(agent_id="1002")  # not in this call
    assert notes.since(mark) == ["onCommandFailed"]
    assert notes.last("onCommandFailed")["command"] == "disconnect_call"
    assert await settled(s, switch, S) == "checked_in.three_party"
    assert await settled(a, switch, A) == "checked_in.three_party"


@pytest.mark.parametrize(
    "state",
    [
        "checked_in.ringing",
        "checked_in.dialing",
        "checked_in.held",
        "checked_in.three_party",
        "checked_in.listening",
    ],
)
async def test_hangup_fails_when_the_phone_already_hung_up(
    agent: Pair, supervisor: Pair, sim: CstaSimulator, switch: Switch, state: str
) -> None:
    a, _ = agent
    s, _ = supervisor
    if state == "checked_in.listening":
        pair, user = supervisor, S
        await a.check_in(group_ids=["sales"])
        await s.check_in(group_ids=["support"])
        await _talk(agent, switch, A, "sales")
        await s.listen(agent_id=A)
    else:
        pair, user = agent, A
        await a.check_in(group_ids=["sales"])
        await STATES[state](agent, switch, A, "sales")
    who, notes = pair
    assert await settled(who, switch, user) == state
    sim.delay_next_event(user, 0.3)
    switch.hangup(user)  # on the phone; the agent hears late
    mark = notes.mark()
    with pytest.raises(CommandFailed):
        await who.hangup()
    assert notes.since(mark) == ["onCommandFailed"]
    assert notes.last("onCommandFailed")["command"] == "hangup"
    assert who.state == state
    assert await settled(who, switch, user) == "checked_in.available.idle"


async def test_a_consultation_ending_late_after_its_call(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await a.check_in(group_ids=["sales"])
    await _consult(agent, switch, A, "sales")
    sim.delay_next_event(A, 0.2)  # the consultation's end arrives after the call's
    mark = notes.mark()
    switch.hangup(A)
    await notes.wait("onIdle", after=mark)
    assert await settled(a, switch, A) == "checked_in.available.idle"
    assert notes.since(mark) == ["onIdle"]


async def test_everything_a_paused_supervisor_can_do(
    login: OpenAgent, agent: Pair, supervisor: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    """Not ready is a state like idle: the same commands and signals, and a call that ends
    comes back to it."""
    a, a_notes = agent
    s, notes = supervisor
    await a.check_in(group_ids=["sales"])
    await s.check_in(group_ids=["support"])
    await s.pause(reason="admin")
    paused = "checked_in.available.paused"
    mark = notes.mark()
    await s.pause(reason="training")  # a new reason, still not ready
    assert switch.agent_info(S).reason == "training"
    await s.get_all_agents()
    await s.pause(agent_id=A, reason="coaching")
    await s.restore(agent_id=A)
    with pytest.raises(CommandFailed):
        await s.logout_agent(agent_id="nobody")
    with pytest.raises(CommandFailed):
        await s.dial_out(number="not a number")
    with pytest.raises(CommandFailed):
        await s.pause(agent_id="nobody")
    sim.delay_next_event(S, 0.3)
    switch.inbound_call("support")  # rings nobody: the only support agent is not ready
    switch.dial(A, "8901")  # a direct call rings a not-ready agent all the same
    with pytest.raises(CommandFailed):
        await s.check_out()  # busy: the switch knows of the call, the supervisor not yet
    await notes.wait("onCallInRing", after=mark)
    await s.hangup()
    assert await settled(s, switch, S) == paused
    assert notes.since(mark) == [
        "onPause",
        "onAllAgtInfo",
        "onPause",
        "onRestore",
        "onCommandFailed",
        "onDialOver",
        "onPause",
        "onCheckOut",
        "onCallInRing",
        "onIdle",
    ]
    await a.dial_out(number="5550100")  # the agent calls out; the supervisor listens
    await s.listen(agent_id=A)
    await s.hangup()
    assert await settled(s, switch, S) == paused
    mark = notes.mark()
    sim.drop_link(S)
    await notes.wait("onConnect", after=mark)
    assert notes.since(mark) == ["onDisconnect", "onConnect"]
    assert await settled(s, switch, S) == paused
    assert a_notes.names.count("onPause") == 1
