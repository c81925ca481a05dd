"""Every command of the default chart, end to end over loopback against the csta-ws
simulator: the success path and every failure path (the switch refuses it: CommandFailed
with the vendor's reason and the chart's failure notification). Each test asserts the
agent's state, the notifications in order, and what the simulator received.

Failures the switch would only produce in a race (the call went away while the agent
still thought it rang) are staged with the simulator's ``delay_next_event``: the switch
changes, the event telling the agent is held back, the agent sends the command, the switch
refuses it, and then the late event brings the agent where the switch is."""

from __future__ import annotations

from typing import Any

import pytest
from cti_fsm_csta_ws import CstaSimulator
from e2etools import Pair, Recorder, sent_since, settled, until

from cti_fsm.agent import Agent
from cti_fsm.errors import CommandFailed, IllegalCommand, PermissionDenied
from cti_fsm.switch import Switch

A, S = "1001", "9001"


async def check_in(pair: Pair, group: str = "sales") -> None:
    agent, _ = pair
    await agent.check_in(group_ids=[group])
    assert agent.state == "checked_in.available.idle"


async def ringing(pair: Pair, switch: Switch, caller: str = "13800000001") -> str:
    agent, notes = pair
    await check_in(pair)
    mark = notes.mark()
    call = switch.inbound_call("sales", caller=caller)
    await notes.wait("onCallInRing", after=mark)
    assert agent.state == "checked_in.ringing"
    return call


async def talking(pair: Pair, switch: Switch) -> str:
    call = await ringing(pair, switch)
    await pair[0].answer()
    assert pair[0].state == "checked_in.talking"
    return call


async def consulting(pair: Pair, switch: Switch, *, answered: bool = True) -> None:
    agent, notes = pair
    await talking(pair, switch)
    await agent.consult(target="5550199")
    assert agent.state == "checked_in.consulting.consult_ringing"
    if answered:
        mark = notes.mark()
        switch.third_party_answers(A)
        await notes.wait("onConsult", after=mark)
        assert agent.state == "checked_in.consulting.consult_talking"


def fields(note: Any, *names: str) -> dict[str, Any]:
    return {n: note[n] for n in names}


# --- session ---------------------------------------------------------------------------------
async def test_connect_logs_in_and_takes_a_snapshot(agent: Pair, sim: CstaSimulator) -> None:
    a, notes = agent
    assert a.state == "connected" and a.connected
    assert notes.names == ["onConnect"]
    assert notes.last("onConnect")["result"] == "success"
    assert sim.services(A) == ["StartApplicationSession", "SnapshotDevice"]
    login = sim.requests(A)[0]["params"]["applicationInfo"]["applicationSpecificInfo"]
    assert login == {"userID": A, "password": "***"}


async def test_connect_with_a_wrong_password_fails_with_the_vendors_reason(
    login: Any, sim: CstaSimulator, nursery: Any
) -> None:
    agent = Agent("csta-ws", sim.url, A, "Typo-s3cret", reconnect=None)
    notes = Recorder(agent)
    with pytest.raises(CommandFailed) as info:
        await nursery.start(agent.run)
    assert info.value.reason.startswith("operation.invalidAgentPassword")
    assert "Typo-s3cret" not in str(info.value) + repr(info.value)
    assert notes.names == ["onConnect"]
    assert fields(notes.last("onConnect"), "result") == {"result": "fail"}
    assert agent.state == "offline"
    assert sim.services(A) == ["StartApplicationSession"]


async def test_disconnect_logs_out(agent: Pair, sim: CstaSimulator, switch: Switch) -> None:
    a, notes = agent
    await check_in(agent)
    mark = notes.mark()
    await a.disconnect()
    assert a.state == "offline"
    assert notes.since(mark) == ["onDisconnect"]
    assert sim.services(A)[-1] == "StopApplicationSession"
    assert switch.situation(A) == "offline"


# --- groups ----------------------------------------------------------------------------------
async def test_check_in_and_out(agent: Pair, sim: CstaSimulator, switch: Switch) -> None:
    a, notes = agent
    mark = notes.mark()
    step = await a.check_in(group_ids="sales,support")
    assert step is not None and step.target == "checked_in.available.idle"
    assert notes.since(mark) == ["onCheckIn"]
    assert notes.last("onCheckIn")["result"] == "success"
    assert notes.last("onCheckIn")["group_ids"] == ["sales", "support"]
    request = sim.requests(A)[-1]
    assert request["service"] == "SetAgentState"
    assert request["params"]["requestedAgentState"] == "loggedOn"
    assert request["params"]["agentGroup"] == ["sales", "support"]
    assert switch.agent_info(A).checked_in == ("sales", "support")

    mark = notes.mark()
    await a.check_out()
    assert a.state == "connected"
    assert notes.since(mark) == ["onCheckOut"]
    assert notes.last("onCheckOut")["result"] == "success"
    assert sim.requests(A)[-1]["params"]["requestedAgentState"] == "loggedOff"
    assert switch.agent_info(A).checked_in == ()


async def test_check_in_to_an_unknown_group_fails(agent: Pair, sim: CstaSimulator) -> None:
    a, notes = agent
    mark, sent = notes.mark(), len(sim.services(A))
    with pytest.raises(CommandFailed) as info:
        await a.check_in(group_ids=["nowhere"])
    assert info.value.reason.startswith("operation.invalidAgentGroup")
    assert info.value.signal == "check_in_failed"
    assert a.state == "connected"
    assert notes.since(mark) == ["onCheckIn"]
    note = notes.last("onCheckIn")
    assert note["result"] == "fail" and note["message"] == info.value.reason
    assert await sent_since(sim, a, A, sent) == ["SetAgentState"]


async def test_check_out_refused_by_a_busy_switch(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await check_in(agent)
    sim.delay_next_event(A, 0.3)
    switch.inbound_call("sales")  # the call rings, but the agent hears of it late
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.check_out()
    assert info.value.reason.startswith("stateIncompatibility.invalidDeviceState")
    assert notes.since(mark) == ["onCheckOut"]
    assert notes.last("onCheckOut")["result"] == "fail"
    assert a.state == "checked_in.available.idle"
    await notes.wait("onCallInRing", after=mark)
    assert await settled(a, switch, A) == "checked_in.ringing"


# --- availability ----------------------------------------------------------------------------
async def test_pause_with_a_reason_and_restore(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await check_in(agent)
    mark = notes.mark()
    await a.pause(reason="lunch")
    assert a.state == "checked_in.available.paused"
    assert notes.since(mark) == ["onPause"]
    assert fields(notes.last("onPause"), "result", "reason") == {
        "result": "success",
        "reason": "lunch",
    }
    params = sim.requests(A)[-1]["params"]
    assert params["requestedAgentState"] == "notReady" and params["reasonCode"] == "lunch"
    assert switch.agent_info(A).reason == "lunch"

    mark = notes.mark()
    await a.restore()
    assert a.state == "checked_in.available.idle"
    assert notes.since(mark) == ["onRestore"]
    assert notes.last("onRestore")["result"] == "success"
    assert sim.requests(A)[-1]["params"]["requestedAgentState"] == "ready"
    assert switch.agent_info(A).ready


async def test_pause_refused_by_a_busy_switch(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await check_in(agent)
    sim.delay_next_event(A, 0.3)
    switch.inbound_call("sales")
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.pause(reason="lunch")
    assert info.value.reason.startswith("stateIncompatibility.invalidDeviceState")
    assert notes.since(mark) == ["onPause"]
    assert notes.last("onPause")["result"] == "fail"
    assert a.state == "checked_in.available.idle"
    assert await settled(a, switch, A) == "checked_in.ringing"


async def test_restore_refused_when_the_switch_has_the_agent_ready(
    agent: Pair, supervisor: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await check_in(agent)
    await a.pause(reason="lunch")
    sim.delay_next_event(A, 0.3)
    await supervisor[0].restore(agent_id=A)  # behind the agent's back; it hears late
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.restore()
    assert info.value.reason.startswith("operation.invalidAgentState")
    assert notes.since(mark) == ["onRestore"]
    assert notes.last("onRestore")["result"] == "fail"
    assert a.state == "checked_in.available.paused"
    await notes.wait("onRestore", 2, after=mark)
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_supervisor_pauses_and_restores_another_agent(
    agent: Pair, supervisor: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, a_notes = agent
    s, s_notes = supervisor
    await check_in(agent)
    a_mark, s_mark = a_notes.mark(), s_notes.mark()
    await s.pause(agent_id=A, reason="coaching")
    assert s.state == "connected"  # acting on another agent moves nobody but that agent
    assert s_notes.since(s_mark) == ["onPause"]
    assert fields(s_notes.last("onPause"), "result", "agent_id", "reason") == {
        "result": "success",
        "agent_id": A,
        "reason": "coaching",
    }
    params = sim.requests(S)[-1]["params"]
    assert params["agentID"] == A and "device" not in params
    await a_notes.wait("onPause", after=a_mark)
    assert await settled(a, switch, A) == "checked_in.available.paused"

    a_mark, s_mark = a_notes.mark(), s_notes.mark()
    await s.restore(agent_id=A)
    assert s_notes.since(s_mark) == ["onRestore"]
    assert s_notes.last("onRestore")["agent_id"] == A
    await a_notes.wait("onRestore", after=a_mark)
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_supervisor_pause_and_restore_of_an_unknown_or_absent_agent_fail(
    supervisor: Pair, sim: CstaSimulator
) -> None:
    s, notes = supervisor
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await s.pause(agent_id="nobody", reason="x")
    assert info.value.reason.startswith("operation.invalidAgentIdentifier")
    with pytest.raises(CommandFailed) as info:
        await s.restore(agent_id="1002")  # not logged in
    assert info.value.reason.startswith("security.generic")
    assert notes.since(mark) == ["onPause", "onRestore"]
    assert [n["result"] for n in notes.notes[mark:]] == ["fail", "fail"]
    assert s.state == "connected"


# --- outbound ---------------------------------------------------------------------------------
async def test_dial_out_answered_then_hung_up(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await check_in(agent)
    mark = notes.mark()
    await a.dial_out(number="5550100")
    assert a.state == "checked_in.dialing"
    await notes.wait("onCallOutRing", after=mark)
    assert notes.since(mark) == ["onCallout", "onCallOutRing"]
    assert notes.last("onCallout")["phone_number"] == "5550100"
    params = sim.requests(A)[-1]["params"]
    assert params == {"callingDevice": "8001", "calledDirectoryNumber": "5550100"}

    call = switch.call_of(A)
    assert call is not None
    mark = notes.mark()
    switch.customer_answers(call)
    await notes.wait("onInCall", after=mark)
    assert notes.since(mark) == ["onCallOut", "onInCall"]
    assert a.state == "checked_in.talking"

    mark = notes.mark()
    await a.hangup()
    assert notes.since(mark) == ["onIdle"]
    assert a.state == "checked_in.available.idle"
    assert sim.requests(A)[-1]["params"]["connectionToBeCleared"] == {
        "callID": call,
        "deviceID": "8001",
    }
    assert await settled(a, switch, A) == "checked_in.available.idle"


@pytest.mark.parametrize("outcome", ["customer_busy", "customer_no_answer"])
async def test_dial_out_that_does_not_connect(agent: Pair, switch: Switch, outcome: str) -> None:
    a, notes = agent
    await check_in(agent)
    await a.dial_out(number="5550100")
    await notes.wait("onCallOutRing")
    mark = notes.mark()
    getattr(switch, outcome)(switch.call_of(A))
    await notes.wait("onDialOver", after=mark)
    assert notes.since(mark) == ["onDialOver"]
    assert notes.last("onDialOver")["reason"] in ("busy", "callNotAnswered")
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_dial_out_hung_up_while_dialling(agent: Pair, switch: Switch) -> None:
    a, notes = agent
    await check_in(agent)
    await a.dial_out(number="5550100")
    await notes.wait("onCallOutRing")
    mark = notes.mark()
    await a.hangup()
    assert notes.since(mark) == ["onDialOver"]
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_dial_out_to_an_invalid_number_fails(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await check_in(agent)
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.dial_out(number="not a number")
    assert info.value.reason.startswith("operation.invalidDestination")
    assert notes.since(mark) == ["onDialOver"]
    assert a.state == "checked_in.available.idle"
    assert sim.services(A)[-1] == "MakeCall"
    assert switch.calls() == ()


# --- inbound, hold, DTMF ------------------------------------------------------------------------
async def test_answer_hold_retrieve_dtmf_and_hangup(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    mark = notes.mark()
    call = await ringing(agent, switch, caller="13800000009")
    ring = notes.last("onCallInRing")
    assert fields(ring, "call_id", "phone_number", "agent_id") == {
        "call_id": call,
        "phone_number": "13800000009",
        "agent_id": A,
    }
    await a.answer()
    assert sim.requests(A)[-1]["params"] == {
        "callToBeAnswered": {"callID": call, "deviceID": "8001"}
    }
    await a.hold()
    await a.retrieve()
    await a.send_dtmf(digits="12#")
    assert sim.requests(A)[-1]["params"]["charactersToSend"] == "12#"
    assert notes.last("onDtmfSent")["digits"] == "12#"
    await a.hangup()
    assert notes.since(mark) == [
        "onCheckIn",
        "onCallInRing",
        "onCallIn",
        "onInCall",
        "onHold",
        "onRetrieve",
        "onDtmfSent",
        "onIdle",
    ]
    assert notes.last("onHold")["result"] == notes.last("onRetrieve")["result"] == "success"
    assert sim.services(A)[-6:] == [
        "SetAgentState",
        "AnswerCall",
        "HoldCall",
        "RetrieveCall",
        "GenerateDigits",
        "ClearConnection",
    ]
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_answer_fails_when_the_call_has_gone(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await ringing(agent, switch)
    sim.delay_next_event(A, 0.3)
    switch.hangup(A)  # the phone rejected it: the call goes back to the queue
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.answer()
    assert info.value.reason.startswith("operation.invalidCallID")
    assert notes.since(mark) == ["onCommandFailed"]
    assert fields(notes.last("onCommandFailed"), "command", "message") == {
        "command": "answer",
        "message": info.value.reason,
    }
    assert a.state == "checked_in.ringing"
    await notes.wait("onIdle", after=mark)
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_hangup_fails_when_the_call_has_ended(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await talking(agent, switch)
    sim.delay_next_event(A, 0.3)
    switch.hangup(A)  # hung up on the phone; the agent hears late
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.hangup()
    assert info.value.reason.startswith("stateIncompatibility.noCallToClear")
    assert notes.since(mark) == ["onCommandFailed"]
    assert notes.last("onCommandFailed")["command"] == "hangup"
    await notes.wait("onIdle", after=mark)
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_hold_and_retrieve_fail_when_the_phone_already_did_it(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await talking(agent, switch)
    sim.delay_next_event(A, 0.3)
    switch.hold(A)  # the phone's hold key; the agent hears late
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.hold()
    assert info.value.reason.startswith("stateIncompatibility.noActiveCall")
    assert notes.since(mark) == ["onHold"]
    assert notes.last("onHold")["result"] == "fail"
    await notes.wait("onHold", 2, after=mark)
    assert notes.last("onHold")["result"] == "success"
    assert await settled(a, switch, A) == "checked_in.held"

    sim.delay_next_event(A, 0.3)
    switch.retrieve(A)
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.retrieve()
    assert info.value.reason.startswith("stateIncompatibility.noHeldCall")
    assert notes.since(mark) == ["onRetrieve"]
    assert notes.last("onRetrieve")["result"] == "fail"
    assert a.state == "checked_in.held"
    await notes.wait("onRetrieve", 2, after=mark)
    assert await settled(a, switch, A) == "checked_in.talking"


async def test_send_dtmf_with_bad_digits_fails(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await talking(agent, switch)
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.send_dtmf(digits="xyz")
    assert info.value.reason.startswith("operation.invalidParameterValue")
    assert notes.since(mark) == ["onCommandFailed"]
    assert notes.last("onCommandFailed")["command"] == "send_dtmf"
    assert a.state == "checked_in.talking"
    assert sim.services(A)[-1] == "GenerateDigits"


# --- transfer, consultation, conference ---------------------------------------------------------
async def test_blind_transfer(agent: Pair, sim: CstaSimulator, switch: Switch) -> None:
    a, notes = agent
    call = await talking(agent, switch)
    mark = notes.mark()
    await a.transfer(target="5550111")
    assert notes.since(mark) == ["onTransfer", "onIdle"]
    assert fields(notes.last("onTransfer"), "result", "target") == {
        "result": "success",
        "target": "5550111",
    }
    assert sim.requests(A)[-1]["params"]["transferredTo"] == "5550111"
    assert [leg.device for leg in switch.call(call).legs] == ["13800000001", "5550111"]
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_blind_transfer_to_an_unreachable_agent_fails(agent: Pair, switch: Switch) -> None:
    a, notes = agent
    await talking(agent, switch)
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.transfer(target="1002")  # logged out: cannot take a call
    assert info.value.reason.startswith("stateIncompatibility.invalidCalledDeviceState")
    assert notes.since(mark) == ["onTransfer"]
    assert notes.last("onTransfer")["result"] == "fail"
    assert await settled(a, switch, A) == "checked_in.talking"


async def test_consult_then_complete_the_transfer(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    call = await talking(agent, switch)
    mark = notes.mark()
    await a.consult(target="5550199")
    assert a.state == "checked_in.consulting.consult_ringing"
    assert notes.since(mark) == ["onThreePartCallOutRing"]
    assert notes.last("onThreePartCallOutRing")["target"] == "5550199"
    assert sim.requests(A)[-1]["params"]["existingCall"] == {"callID": call, "deviceID": "8001"}
    switch.third_party_answers(A)
    await notes.wait("onConsult", after=mark)
    assert notes.last("onConsult")["result"] == "success"
    assert a.state == "checked_in.consulting.consult_talking"
    await a.send_dtmf(digits="5")  # DTMF goes to the consulted party
    consultation = switch.consultation_of(A)
    assert sim.requests(A)[-1]["params"]["connectionToSendDigits"]["callID"] == consultation
    await a.complete_transfer()
    assert notes.since(mark) == [
        "onThreePartCallOutRing",
        "onConsult",
        "onDtmfSent",
        "onTransfer",
        "onIdle",
    ]
    assert sim.services(A)[-1] == "TransferCall"
    assert [leg.device for leg in switch.call(call).legs] == ["13800000001", "5550199"]
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_consult_from_hold_and_to_an_invalid_target(agent: Pair, switch: Switch) -> None:
    a, notes = agent
    await talking(agent, switch)
    await a.hold()
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.consult(target="no such party")
    assert info.value.reason.startswith("operation.invalidDestination")
    assert notes.since(mark) == ["onConsult"]
    assert notes.last("onConsult")["result"] == "fail"
    assert a.state == "checked_in.held"
    await a.consult(target="5550199")
    assert await settled(a, switch, A) == "checked_in.consulting.consult_ringing"


async def test_cancel_consult_returns_to_the_customer(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await consulting(agent, switch, answered=False)
    mark = notes.mark()
    await a.cancel_consult()
    await notes.wait("onRetrieve", after=mark)
    assert notes.since(mark) == ["onConsultEnd", "onRetrieve"]
    assert sim.services(A)[-1] == "ReconnectCall"
    assert await settled(a, switch, A) == "checked_in.talking"


async def test_cancel_consult_fails_when_the_phone_completed_it(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await consulting(agent, switch)
    sim.delay_next_event(A, 0.3)
    switch.complete_transfer(A)  # on the phone; the agent hears late
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.cancel_consult()
    assert info.value.reason.startswith("stateIncompatibility.noCallToComplete")
    assert info.value.signal == "cancel_consult_failed"
    assert notes.since(mark) == ["onCommandFailed"]
    assert notes.last("onCommandFailed")["command"] == "cancel_consult"
    assert a.state == "checked_in.consulting.consult_talking"
    await notes.wait("onIdle", after=mark)
    assert notes.since(mark) == ["onCommandFailed", "onTransfer", "onIdle"]
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_complete_transfer_fails_when_the_phone_conferenced(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await consulting(agent, switch)
    sim.delay_next_event(A, 0.3)
    switch.conference(A)  # the phone's conference key; the agent hears late
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await a.complete_transfer()
    assert info.value.reason.startswith("stateIncompatibility.noCallToComplete")
    assert notes.since(mark) == ["onTransfer"]
    assert notes.last("onTransfer")["result"] == "fail"
    assert a.state == "checked_in.consulting.consult_talking"
    await notes.wait("onThreePart", after=mark)
    assert await settled(a, switch, A) == "checked_in.three_party"


async def test_conference_then_the_customer_leaves(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await consulting(agent, switch, answered=False)
    mark, sent = notes.mark(), len(sim.requests(A))
    with pytest.raises(IllegalCommand) as info:
        await a.conference()  # the consulted party has not answered yet: the chart says no
    assert info.value.state == "checked_in.consulting.consult_ringing"
    assert notes.since(mark) == [] and len(sim.requests(A)) == sent
    assert a.state == "checked_in.consulting.consult_ringing"

    switch.third_party_answers(A)
    await notes.wait("onConsult", after=mark)
    assert a.state == "checked_in.consulting.consult_talking"
    await a.conference()
    assert a.state == "checked_in.three_party"
    assert sim.services(A)[-1] == "ConferenceCall"
    await a.send_dtmf(digits="9")
    customer = switch.call_of(A)
    assert customer is not None
    switch.customer_hangs_up(customer)
    await notes.wait("onThreePartEnd", after=mark)
    assert notes.since(mark) == [
        "onConsult",
        "onThreePart",
        "onDtmfSent",
        "onThreePartEnd",
    ]
    assert await settled(a, switch, A) == "checked_in.talking"
    await a.hangup()
    assert await settled(a, switch, A) == "checked_in.available.idle"


@pytest.mark.parametrize(
    ("stimulus", "then"),
    [("third_party_rejects", ["onConsult"]), ("third_party_hangs_up", ["onConsult"])],
)
async def test_the_consulted_party_goes_away(
    agent: Pair, switch: Switch, stimulus: str, then: list[str]
) -> None:
    a, notes = agent
    await consulting(agent, switch, answered=stimulus == "third_party_hangs_up")
    mark = notes.mark()
    getattr(switch, stimulus)(A)
    await notes.wait("onConsult", after=mark)
    assert notes.since(mark) == then
    assert notes.last("onConsult")["result"] == "fail"
    assert await settled(a, switch, A) == "checked_in.held"
    await a.retrieve()
    assert await settled(a, switch, A) == "checked_in.talking"


async def test_hangup_while_consulting_ends_both_calls(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    await consulting(agent, switch)
    mark = notes.mark()
    await a.hangup()
    await notes.wait("onIdle", after=mark)
    assert notes.since(mark) == ["onConsultEnd", "onIdle"]
    assert sim.services(A)[-2:] == ["ClearConnection", "ClearConnection"]
    assert await settled(a, switch, A) == "checked_in.available.idle"
    assert switch.calls() == ()


# --- the customer hangs up ------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["ringing", "talking", "held", "consulting"])
async def test_the_customer_hangs_up(agent: Pair, switch: Switch, where: str) -> None:
    a, notes = agent
    call: str | None
    if where == "ringing":
        call = await ringing(agent, switch)
    elif where == "consulting":
        await consulting(agent, switch)
        call = switch.call_of(A)
    else:
        call = await talking(agent, switch)
        if where == "held":
            await a.hold()
    assert call is not None
    mark = notes.mark()
    switch.customer_hangs_up(call)
    await notes.wait("onIdle", after=mark)
    expected = ["onConsultEnd", "onIdle"] if where == "consulting" else ["onIdle"]
    assert notes.since(mark) == expected
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_ring_no_answer_makes_the_agent_not_ready(
    agent: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, notes = agent
    call = await ringing(agent, switch)
    mark, sent = notes.mark(), len(sim.requests(A))
    switch.agent_no_answer(A)  # diverted (callNotAnswered) and agentNotReady(no_answer)
    await notes.wait("onPause", 2, after=mark)
    # the switch's own not-ready confirms the pause the chart sent, whose event follows
    assert notes.since(mark) == ["onRingNoAnswer", "onPause", "onPause"]
    assert notes.last("onRingNoAnswer")["call_id"] == call
    assert notes.last("onPause")["reason"] == "ring_no_answer"
    [pause] = sim.requests(A)[sent:]
    assert pause["params"]["requestedAgentState"] == "notReady"
    assert pause["params"]["reasonCode"] == "ring_no_answer"
    assert await settled(a, switch, A) == "checked_in.available.paused"
    assert switch.agent_info(A).reason == "ring_no_answer"


async def test_a_call_ends_in_the_availability_it_started_from(agent: Pair, switch: Switch) -> None:
    a, notes = agent
    await check_in(agent)
    await a.pause(reason="callback")
    await a.dial_out(number="5550100")
    outbound = switch.call_of(A)
    assert outbound is not None
    switch.customer_answers(outbound)
    await notes.wait("onCallOut")
    await a.hangup()
    assert a.state == "checked_in.available.paused"
    assert await settled(a, switch, A) == "checked_in.available.paused"


# --- supervisor --------------------------------------------------------------------------------
async def test_listen_barge_in_and_take_over(
    agent: Pair, supervisor: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, a_notes = agent
    s, s_notes = supervisor
    await check_in(supervisor, "support")
    await talking(agent, switch)
    a_mark, s_mark = a_notes.mark(), s_notes.mark()
    await s.listen(agent_id=A)
    assert s.state == "checked_in.listening"
    assert s_notes.since(s_mark) == ["onListen"]
    assert sim.requests(S)[-1]["params"]["participationType"] == "silent"
    await settled(s, switch, S)
    assert a_notes.since(a_mark) == []  # a silent monitor is silent
    assert await settled(a, switch, A) == "checked_in.talking"

    await s.join_talk(agent_id=A)
    assert s.state == "checked_in.three_party"
    await a_notes.wait("onThreePart", after=a_mark)
    assert await settled(a, switch, A) == "checked_in.three_party"
    assert sim.services(S)[-1] == "IntrudeCall"

    await s.disconnect_call(agent_id=A)
    assert s.state == "checked_in.talking"
    await a_notes.wait("onIdle", after=a_mark)
    assert s_notes.since(s_mark) == ["onListen", "onThreePart", "onTakeOver", "onInCall"]
    assert a_notes.since(a_mark) == ["onThreePart", "onIdle"]
    private = sim.requests(S)[-1]["params"]["privateData"]
    assert private["request"] == "TakeOverCall" and private["agentID"] == A
    assert await settled(a, switch, A) == "checked_in.available.idle"
    assert await settled(s, switch, S) == "checked_in.talking"

    await s.hangup()
    assert await settled(s, switch, S) == "checked_in.available.idle"


async def test_take_over_from_a_three_party_call(
    agent: Pair, supervisor: Pair, switch: Switch
) -> None:
    a, a_notes = agent
    s, s_notes = supervisor
    await check_in(supervisor, "support")
    await talking(agent, switch)
    await s.listen(agent_id=A)
    await s.join_talk(agent_id=A)
    await a_notes.wait("onThreePart")
    mark = s_notes.mark()
    await s.disconnect_call(agent_id=A)
    assert s_notes.since(mark) == ["onTakeOver", "onInCall"]
    await a_notes.wait("onIdle")
    assert await settled(s, switch, S) == "checked_in.talking"
    assert await settled(a, switch, A) == "checked_in.available.idle"


async def test_supervisor_commands_refused_by_the_switch(
    agent: Pair, supervisor: Pair, switch: Switch
) -> None:
    a, _ = agent
    s, notes = supervisor
    await check_in(supervisor, "support")
    await check_in(agent)
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await s.listen(agent_id=A)  # no call to listen to
    assert info.value.reason.startswith("stateIncompatibility.noActiveCall")
    with pytest.raises(CommandFailed):
        await s.logout_agent(agent_id="1002")  # not logged in
    assert notes.since(mark) == ["onCommandFailed", "onCommandFailed"]
    assert [n["command"] for n in notes.notes[mark:]] == ["listen", "logout_agent"]

    switch.inbound_call("sales")
    await until(lambda: a.state == "checked_in.ringing")
    await a.answer()
    await s.listen(agent_id=A)
    mark = notes.mark()
    with pytest.raises(CommandFailed) as info:
        await s.join_talk(agent_id="1002")  # not in this call
    assert info.value.reason.startswith("stateIncompatibility.invalidObjectState")
    with pytest.raises(CommandFailed):
        await s.disconnect_call(agent_id="1002")
    assert [n["command"] for n in notes.notes[mark:]] == ["join_talk", "disconnect_call"]
    assert await settled(s, switch, S) == "checked_in.listening"
    assert await settled(a, switch, A) == "checked_in.talking"


async def test_supervisor_forces_an_agent_out(
    agent: Pair, supervisor: Pair, sim: CstaSimulator, switch: Switch
) -> None:
    a, a_notes = agent
    s, s_notes = supervisor
    await talking(agent, switch)
    a_mark, s_mark = a_notes.mark(), s_notes.mark()
    await s.logout_agent(agent_id=A)
    assert s_notes.since(s_mark) == ["onLogoutAgent"]
    assert s_notes.last("onLogoutAgent")["agent_id"] == A
    assert sim.requests(S)[-1]["params"] == {"agentID": A, "requestedAgentState": "loggedOff"}
    await a_notes.wait("onCheckOut", after=a_mark)
    assert a_notes.since(a_mark) == ["onIdle", "onCheckOut"]  # its call ended with it
    assert await settled(a, switch, A) == "connected"


# --- queries -----------------------------------------------------------------------------------
async def test_queries(agent: Pair, supervisor: Pair, sim: CstaSimulator) -> None:
    a, notes = agent
    s, s_notes = supervisor
    mark = notes.mark()
    await a.get_transfer_groups()
    await a.get_agent_groups()
    await a.get_rights()
    assert notes.since(mark) == ["onGetOrgAgtgrps", "onGetAgtGroups", "onGetAgentRights"]
    assert notes.last("onGetOrgAgtgrps")["groups"] == [
        {"id": "sales", "name": "Sales", "dtmf": "1"},
        {"id": "support", "name": "Support", "dtmf": "2"},
    ]
    assert [g["id"] for g in notes.last("onGetAgtGroups")["groups"]] == ["sales", "support"]
    assert notes.last("onGetAgentRights")["rights"] == []
    mark = s_notes.mark()
    await s.get_all_agents()
    await s.get_rights()
    assert s_notes.since(mark) == ["onAllAgtInfo", "onGetAgentRights"]
    agents = s_notes.last("onAllAgtInfo")["agents"]
    assert [x["agentID"] for x in agents] == ["1001", "1002", "1003", "9001"]
    assert [x["situation"] for x in agents][:2] == ["connected", "offline"]
    assert s_notes.last("onGetAgentRights")["rights"] == ["supervisor"]
    requests = [r["params"]["privateData"]["request"] for r in sim.requests(A)[-3:]]
    assert requests == ["GetTransferGroups", "GetAgentGroups", "GetAgentRights"]
    assert a.state == "connected" and s.state == "connected"
    await a.check_in(group_ids=["sales"])
    mark = notes.mark()
    await a.get_transfer_groups()  # the same when signed in
    assert notes.since(mark) == ["onGetOrgAgtgrps"]
    assert a.state == "checked_in.available.idle"


async def test_rights_from_the_server(login: Any, switch: Switch) -> None:
    sup, sup_notes = await login(S, rights="server")
    plain, plain_notes = await login(A, rights="server")
    assert sup.machine.rights == frozenset({"supervisor"})  # what the switch grants 9001
    assert plain.machine.rights == frozenset()
    assert "onGetAgentRights" in sup_notes.since(0)
    await plain.check_in(group_ids=["sales"])
    await sup.check_in(group_ids=["sales"])
    with pytest.raises(PermissionDenied):
        await plain.listen(agent_id=S)
    call = switch.inbound_call("sales")
    await plain_notes.wait("onCallInRing")
    await plain.answer()
    await sup.listen(agent_id=A)
    assert sup.state == "checked_in.listening" and switch.call_of(A) == call
