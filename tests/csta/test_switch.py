"""The vendor-neutral switch model: every operation and stimulus, the events it emits (with
the agents concerned) and the chart state the agents should then be in."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import cti_fsm
from cti_fsm.switch import (
    DEFAULT_CHART_STATES,
    SITUATIONS,
    AgentCheckedOut,
    CallConferenced,
    CallFailed,
    CallTransferred,
    LegAlerting,
    LegCleared,
    LegHeld,
    Switch,
    SwitchError,
    SwitchEvent,
    demo_switch,
)

A, B, C, SUP = "1001", "1002", "1003", "9001"


def names(events: Sequence[SwitchEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def state(sw: Switch, agent: str) -> str:
    return sw.chart_state(agent).rpartition(".")[2]


def everything(sw: Switch) -> tuple[object, ...]:
    """The whole observable model, to check a refused operation changed nothing."""
    return (tuple(sw.snapshot(a) for a in sw.agent_ids), sw.calls())


def refused(sw: Switch, code: str, operation: Callable[[], object]) -> SwitchError:
    before = everything(sw)
    with pytest.raises(SwitchError) as info:
        operation()
    assert info.value.code == code
    assert everything(sw) == before
    return info.value


@pytest.fixture
def sw() -> Switch:
    """The demo population with 1001, 1002 and the supervisor logged in and signed in."""
    sw = demo_switch()
    for agent, groups in ((A, ["sales"]), (B, ["support"]), (SUP, ["sales", "support"])):
        sw.login(agent, f"pw{agent}")
        sw.check_in(agent, groups)
    sw.pause(SUP)  # the supervisor takes no ACD calls in these tests
    return sw


def talking(sw: Switch, agent: str = A, group: str = "sales") -> str:
    call = sw.inbound_call(group, "13800000001")
    sw.answer(agent)
    assert state(sw, agent) == "talking"
    return call


# --- configuration and the state table --------------------------------------------------------
def test_default_chart_states_name_real_states_for_every_situation() -> None:
    chart = cti_fsm.default_chart()
    assert set(DEFAULT_CHART_STATES) == set(SITUATIONS)
    for path in DEFAULT_CHART_STATES.values():
        assert chart.resolve(path) == path
        assert chart.states[path].is_leaf


def test_configuration_mistakes_are_value_errors() -> None:
    sw = Switch()
    sw.add_group("g")
    with pytest.raises(ValueError, match="already exists"):
        sw.add_group("g")
    sw.add_agent("1", "pw", device="100", groups=["g"])
    with pytest.raises(ValueError, match="already"):
        sw.add_agent("1", "pw", device="101")
    with pytest.raises(ValueError, match="in use"):
        sw.add_agent("2", "pw", device="100")
    with pytest.raises(ValueError, match="unknown groups"):
        sw.add_agent("3", "pw", device="103", groups=["nope"])


def test_passwords_never_show() -> None:
    sw = demo_switch()
    shown = repr(sw) + repr(sw.snapshot(A)) + repr(sw.agent_info(A)) + repr(sw._agents[A])
    assert "pw1001" not in shown
    err = refused(sw, "bad_password", lambda: sw.login(A, "wrong-secret"))
    assert "wrong-secret" not in str(err) and "pw1001" not in str(err)


# --- session, groups, readiness ---------------------------------------------------------------
def test_login_check_in_and_out() -> None:
    sw = demo_switch()
    assert state(sw, A) == "offline"
    refused(sw, "unknown_agent", lambda: sw.login("4242", "x"))
    refused(sw, "not_logged_in", lambda: sw.check_in(A, ["sales"]))
    events = sw.login(A, "pw1001")
    assert names(events) == ["AgentLoggedIn"] and events[0].concerns == (A,)
    assert state(sw, A) == "connected"
    refused(sw, "unknown_group", lambda: sw.check_in(A, ["nope"]))
    refused(sw, "unknown_group", lambda: sw.check_in(A, []))
    events = sw.check_in(A, ["sales", "support", "sales"])
    assert names(events) == ["AgentCheckedIn", "AgentReady"]
    assert events[0].groups == ("sales", "support")  # type: ignore[attr-defined]
    assert state(sw, A) == "idle"
    refused(sw, "invalid_agent_state", lambda: sw.check_in(A, ["sales"]))
    assert names(sw.check_out(A)) == ["AgentCheckedOut"]
    assert state(sw, A) == "connected"
    refused(sw, "invalid_agent_state", lambda: sw.check_out(A))


def test_may_only_sign_in_to_allowed_groups() -> None:
    sw = demo_switch()
    sw.login(B, "pw1002")
    refused(sw, "unknown_group", lambda: sw.check_in(B, ["sales"]))


def test_a_second_login_resumes_the_session_as_it_was(sw: Switch) -> None:
    talking(sw)
    assert names(sw.login(A, "pw1001")) == ["AgentLoggedIn"]
    assert state(sw, A) == "talking"


def test_logout_leaves_calls_and_groups() -> None:
    sw = demo_switch()
    sw.login(A, "pw1001")
    sw.check_in(A, ["sales"])
    call = talking(sw)
    events = sw.logout(A)
    assert names(events) == ["LegCleared", "LegCleared", "AgentCheckedOut", "AgentLoggedOut"]
    assert state(sw, A) == "offline"
    assert call not in [c.call for c in sw.calls()]


def test_pause_and_restore_with_reason(sw: Switch) -> None:
    events = sw.pause(A, "lunch")
    assert names(events) == ["AgentNotReady"]
    assert events[0].reason == "lunch" and events[0].by is None  # type: ignore[attr-defined]
    assert state(sw, A) == "paused" and sw.agent_info(A).reason == "lunch"
    assert names(sw.pause(A, "meeting")) == ["AgentNotReady"]  # a new reason while paused
    assert sw.agent_info(A).reason == "meeting"
    assert names(sw.restore(A)) == ["AgentReady"]
    assert state(sw, A) == "idle" and sw.agent_info(A).reason is None
    refused(sw, "invalid_agent_state", lambda: sw.restore(A))


def test_pausing_another_agent_needs_supervisor_rights(sw: Switch) -> None:
    refused(sw, "no_rights", lambda: sw.pause(B, "x", by=A))
    events = sw.pause(B, "coaching", by=SUP)
    assert events[0].concerns == (B,) and events[0].by == SUP  # type: ignore[attr-defined]
    assert state(sw, B) == "paused"
    refused(sw, "no_rights", lambda: sw.restore(B, by=A))
    sw.restore(B, by=SUP)
    assert state(sw, B) == "idle"


def test_pausing_an_agent_in_a_call_is_refused(sw: Switch) -> None:
    talking(sw)
    refused(sw, "busy", lambda: sw.pause(A))
    refused(sw, "busy", lambda: sw.pause(A, by=SUP))
    refused(sw, "busy", lambda: sw.check_out(A))


# --- inbound calls and the ACD -----------------------------------------------------------------
def test_inbound_call_is_offered_to_a_ready_agent_and_answered(sw: Switch) -> None:
    seen: list[SwitchEvent] = []
    sw.subscribe(seen.extend)
    call = sw.inbound_call("sales", "13800000001")
    assert names(seen) == ["CallQueued", "LegAlerting"]
    ring = seen[1]
    assert isinstance(ring, LegAlerting)
    assert (ring.call, ring.device, ring.agent, ring.calling, ring.via) == (
        call,
        "8001",
        A,
        "13800000001",
        "group",
    )
    assert ring.concerns == (A,)
    assert state(sw, A) == "ringing" and sw.call_of(A) == call
    events = sw.answer(A)
    assert names(events) == ["LegAnswered"]
    assert state(sw, A) == "talking"


def test_calls_queue_first_in_first_out_and_go_to_the_longest_free_agent() -> None:
    sw = demo_switch()
    for agent in (A, C):
        sw.login(agent, f"pw{agent}")
    first = sw.inbound_call("sales")
    second = sw.inbound_call("sales")
    assert all(c.queued for c in sw.calls())
    sw.check_in(C, ["sales"])  # C is free first
    sw.check_in(A, ["sales"])
    assert sw.call_of(C) == first and sw.call_of(A) == second
    sw.answer(C)
    sw.hangup(C)
    sw.answer(A)
    sw.hangup(A)  # now C has been free longer than A
    third = sw.inbound_call("sales")
    assert sw.call_of(C) == third and sw.call_of(A) is None


def test_paused_agents_get_no_acd_calls_until_restored(sw: Switch) -> None:
    sw.pause(A, "break")
    call = sw.inbound_call("sales")
    assert sw.call(call).queued and state(sw, A) == "paused"
    events = sw.restore(A)
    assert names(events) == ["AgentReady", "LegAlerting"]
    assert state(sw, A) == "ringing"


def test_a_declined_call_goes_back_to_the_queue_and_not_to_the_same_agent(sw: Switch) -> None:
    call = sw.inbound_call("sales")
    events = sw.hangup(A)
    assert names(events) == ["LegCleared", "CallQueued"]
    assert events[0].cause == "rejected"  # type: ignore[attr-defined]
    assert state(sw, A) == "idle" and sw.call(call).queued
    sw.login(C, "pw1003")
    sw.check_in(C, ["sales"])
    assert sw.call_of(C) == call and sw.call_of(A) is None


def test_ring_no_answer_requeues_and_makes_the_agent_not_ready(sw: Switch) -> None:
    call = sw.inbound_call("sales")
    events = sw.agent_no_answer(A)
    assert names(events) == ["LegCleared", "CallQueued", "AgentNotReady"]
    assert state(sw, A) == "paused" and sw.agent_info(A).reason == "no_answer"
    assert sw.call(call).queued


def test_customer_abandons_while_queued_or_ringing(sw: Switch) -> None:
    sw.pause(A)
    queued = sw.inbound_call("sales")
    assert names(sw.customer_hangs_up(queued)) == ["LegCleared"]
    assert sw.calls() == ()
    sw.restore(A)
    ringing = sw.inbound_call("sales")
    events = sw.customer_hangs_up(ringing)
    assert names(events) == ["LegCleared", "LegCleared"]
    assert [e.device for e in events] == ["13800000000", "8001"]  # type: ignore[attr-defined]
    assert state(sw, A) == "idle"


def test_answer_and_hangup_need_a_call(sw: Switch) -> None:
    refused(sw, "no_call_to_answer", lambda: sw.answer(A))
    refused(sw, "no_call_to_clear", lambda: sw.hangup(A))
    call = talking(sw)
    refused(sw, "unknown_call", lambda: sw.hangup(A, "c999"))
    refused(sw, "no_call_to_answer", lambda: sw.answer(A, call))


# --- in a call --------------------------------------------------------------------------------
def test_hold_and_retrieve(sw: Switch) -> None:
    refused(sw, "no_active_call", lambda: sw.hold(A))
    call = talking(sw)
    refused(sw, "no_held_call", lambda: sw.retrieve(A))
    events = sw.hold(A, call)
    assert names(events) == ["LegHeld"] and events[0].consultation is False  # type: ignore[attr-defined]
    assert state(sw, A) == "held"
    refused(sw, "no_active_call", lambda: sw.hold(A))
    assert names(sw.retrieve(A)) == ["LegRetrieved"]
    assert state(sw, A) == "talking"


def test_customer_hangs_up_on_a_held_call(sw: Switch) -> None:
    call = talking(sw)
    sw.hold(A)
    events = sw.customer_hangs_up(call)
    assert names(events) == ["LegCleared", "LegCleared"]
    assert state(sw, A) == "idle"


def test_dtmf(sw: Switch) -> None:
    call = talking(sw)
    events = sw.send_dtmf(A, "12*#")
    assert names(events) == ["DigitsSent"] and events[0].digits == "12*#"  # type: ignore[attr-defined]
    assert events[0].call == call  # type: ignore[attr-defined]
    refused(sw, "invalid_parameter", lambda: sw.send_dtmf(A, "12x"))
    refused(sw, "no_active_call", lambda: sw.send_dtmf(B, "1"))


# --- outbound ---------------------------------------------------------------------------------
def test_outbound_call_answered_by_the_far_end(sw: Switch) -> None:
    events = sw.dial(A, "13900000000")
    assert names(events) == ["CallInitiated", "CallOriginated", "LegAlerting"]
    assert events[2].device == "13900000000" and events[2].agent is None  # type: ignore[attr-defined]
    assert state(sw, A) == "dialing"
    call = sw.call_of(A)
    assert call is not None
    refused(sw, "busy", lambda: sw.dial(A, "13900000001"))
    assert names(sw.customer_answers(call)) == ["LegAnswered"]
    assert state(sw, A) == "talking"


@pytest.mark.parametrize(
    ("stimulus", "cause"),
    [(Switch.customer_busy, "busy"), (Switch.customer_no_answer, "no_answer")],
)
def test_outbound_call_fails(
    sw: Switch, stimulus: Callable[[Switch, str], list[SwitchEvent]], cause: str
) -> None:
    sw.dial(A, "13900000000")
    call = sw.call_of(A)
    assert call is not None
    events = stimulus(sw, call)
    assert names(events) == ["CallFailed", "LegCleared"]
    assert isinstance(events[0], CallFailed) and events[0].cause == cause
    assert events[0].concerns == (A,)
    assert state(sw, A) == "idle" and sw.calls() == ()


def test_dialing_works_while_paused_and_the_agent_stays_paused(sw: Switch) -> None:
    sw.pause(A, "outbound campaign")
    sw.dial(A, "13900000000")
    call = sw.call_of(A)
    assert call is not None and state(sw, A) == "dialing"
    sw.customer_answers(call)
    sw.hangup(A)
    assert state(sw, A) == "paused"


def test_internal_calls_ring_the_other_agent_or_fail_busy(sw: Switch) -> None:
    sw.dial(A, B)  # by agent id; a device works too
    assert state(sw, A) == "dialing" and state(sw, B) == "ringing"
    sw.answer(B)
    assert state(sw, A) == "talking" and state(sw, B) == "talking"
    sw.login(C, "pw1003")
    sw.check_in(C, ["sales"])
    events = sw.dial(C, "8002")  # B's device, busy
    assert names(events) == ["CallInitiated", "CallOriginated", "CallFailed", "LegCleared"]
    assert all(B not in e.concerns for e in events)
    assert state(sw, C) == "idle"


def test_dial_targets_are_checked(sw: Switch) -> None:
    refused(sw, "invalid_destination", lambda: sw.dial(A, "not a number"))
    refused(sw, "invalid_destination", lambda: sw.dial(A, "sales"))
    refused(sw, "invalid_destination", lambda: sw.dial(A, A))
    refused(sw, "invalid_destination", lambda: sw.dial(A, "8001"))


def test_dialing_needs_a_signed_in_agent() -> None:
    sw = demo_switch()
    sw.login(C, "pw1003")
    refused(sw, "invalid_agent_state", lambda: sw.dial(C, "123"))


# --- transfer, consultation, conference -------------------------------------------------------
def test_single_step_transfer_to_an_agent(sw: Switch) -> None:
    call = talking(sw)
    events = sw.transfer(A, B)
    assert names(events) == ["CallTransferred", "LegAlerting"]
    moved = events[0]
    assert isinstance(moved, CallTransferred)
    assert (moved.call, moved.transferring, moved.target, moved.kind) == (
        call,
        "8001",
        "8002",
        "single_step",
    )
    assert state(sw, A) == "idle" and state(sw, B) == "ringing" and sw.call_of(B) == call
    sw.answer(B)
    assert state(sw, B) == "talking"


def test_single_step_transfer_to_a_group_queues_the_call(sw: Switch) -> None:
    sw.pause(B)
    call = talking(sw)
    events = sw.transfer(A, "support")
    assert names(events) == ["CallTransferred", "CallQueued"]
    assert sw.call(call).queued and state(sw, A) == "idle"
    sw.restore(B)
    assert state(sw, B) == "ringing" and sw.call_of(B) == call


def test_transfer_to_a_busy_agent_is_refused(sw: Switch) -> None:
    talking(sw, A, "sales")
    sw.inbound_call("support")
    refused(sw, "destination_busy", lambda: sw.transfer(A, B))
    refused(sw, "invalid_destination", lambda: sw.transfer(A, "nowhere!"))


def test_consult_then_complete_the_transfer(sw: Switch) -> None:
    call = talking(sw)
    events = sw.consult(A, B)
    assert names(events) == ["LegHeld", "CallInitiated", "CallOriginated", "LegAlerting"]
    assert isinstance(events[0], LegHeld) and events[0].consultation
    consult = sw.consultation_of(A)
    assert consult is not None and consult != call and sw.call(consult).consultation_of == call
    assert state(sw, A) == "consult_ringing" and state(sw, B) == "ringing"
    refused(sw, "invalid_call_state", lambda: sw.consult(A, "13900000000"))
    refused(sw, "invalid_call_state", lambda: sw.retrieve(A))
    assert names(sw.third_party_answers(A)) == ["LegAnswered"]
    assert state(sw, A) == "consult_talking" and state(sw, B) == "talking"
    events = sw.complete_transfer(A)
    assert names(events) == ["CallTransferred"]
    moved = events[0]
    assert isinstance(moved, CallTransferred)
    assert moved.moved == (("8002", consult, call),) and moved.secondary == consult
    assert set(moved.concerns) == {A, B}
    assert state(sw, A) == "idle" and state(sw, B) == "talking" and sw.call_of(B) == call
    assert [c.call for c in sw.calls()] == [call]


def test_consult_then_conference(sw: Switch) -> None:
    call = talking(sw)
    sw.consult(A, B)
    refused(sw, "invalid_call_state", lambda: sw.conference(A))  # B has not answered
    sw.answer(B)
    events = sw.conference(A)
    assert names(events) == ["CallConferenced"]
    merged = events[0]
    assert isinstance(merged, CallConferenced)
    assert merged.kind == "conference" and not merged.silent and merged.added == "8002"
    assert [d for d, _ in merged.parties] == ["13800000001", "8001", "8002"]
    assert state(sw, A) == "three_party" and state(sw, B) == "three_party"
    # the customer leaves: the two agents go on talking
    assert names(sw.customer_hangs_up(call)) == ["LegCleared"]
    assert state(sw, A) == "talking" and state(sw, B) == "talking"


def test_cancel_consultation_reconnects_the_held_party(sw: Switch) -> None:
    talking(sw)
    sw.consult(A, B)
    sw.answer(B)
    events = sw.cancel_consult(A)
    assert names(events) == ["LegCleared", "LegCleared", "LegRetrieved"]
    assert state(sw, A) == "talking" and state(sw, B) == "idle"
    refused(sw, "no_call_to_complete", lambda: sw.cancel_consult(A))


def test_consulted_party_rejects_or_hangs_up(sw: Switch) -> None:
    talking(sw)
    sw.consult(A, B)
    events = sw.third_party_rejects(A)
    assert names(events) == ["CallFailed", "LegCleared", "LegCleared"]
    assert events[0].concerns == (A,)
    assert state(sw, A) == "held" and state(sw, B) == "idle"
    sw.consult(A, B)
    sw.third_party_answers(A)
    assert names(sw.third_party_hangs_up(A)) == ["LegCleared", "LegCleared"]
    assert state(sw, A) == "held" and state(sw, B) == "idle"
    refused(sw, "no_call_to_complete", lambda: sw.third_party_answers(A))


def test_consulting_an_external_number(sw: Switch) -> None:
    call = talking(sw)
    sw.consult(A, "13900000000")
    assert state(sw, A) == "consult_ringing"
    sw.third_party_answers(A)
    assert state(sw, A) == "consult_talking"
    sw.complete_transfer(A)
    assert state(sw, A) == "idle"
    legs = sw.call(call).legs
    assert [(leg.device, leg.state) for leg in legs] == [
        ("13800000001", "connected"),
        ("13900000000", "connected"),
    ]


def test_customer_hanging_up_during_a_consultation_ends_it_too(sw: Switch) -> None:
    call = talking(sw)
    sw.consult(A, B)
    sw.answer(B)
    events = sw.customer_hangs_up(call)
    cleared = [(e.call, e.device) for e in events if isinstance(e, LegCleared)]
    consult = next(c for c, _ in cleared if c != call)
    assert cleared == [
        (call, "13800000001"),
        (consult, "8001"),
        (consult, "8002"),
        (call, "8001"),
    ]
    assert state(sw, A) == "idle" and state(sw, B) == "idle" and sw.calls() == ()


def test_hangup_while_consulting_ends_both_calls(sw: Switch) -> None:
    talking(sw)
    sw.consult(A, B)
    sw.answer(B)
    sw.hangup(A)
    assert state(sw, A) == "idle" and state(sw, B) == "idle" and sw.calls() == ()


def test_hangup_of_one_call_while_consulting(sw: Switch) -> None:
    call = talking(sw)
    sw.consult(A, B)
    consult = sw.consultation_of(A)
    assert consult is not None
    sw.hangup(A, consult)
    assert state(sw, A) == "held" and sw.call_of(A) == call


# --- supervisor -------------------------------------------------------------------------------
def test_listen_barge_in_and_take_over(sw: Switch) -> None:
    sw.restore(SUP)
    call = talking(sw)
    refused(sw, "no_rights", lambda: sw.listen(B, A))
    events = sw.listen(SUP, A)
    assert names(events) == ["CallConferenced"]
    joined = events[0]
    assert isinstance(joined, CallConferenced) and joined.silent and joined.kind == "listen"
    assert set(joined.concerns) == {A, SUP}
    assert state(sw, SUP) == "listening" and state(sw, A) == "talking"
    assert names(sw.barge_in(SUP)) == ["CallConferenced"]
    assert state(sw, SUP) == "three_party" and state(sw, A) == "three_party"
    events = sw.take_over(SUP, A)
    assert names(events) == ["LegCleared"]
    assert events[0].cause == "take_over" and set(events[0].concerns) == {A, SUP}  # type: ignore[attr-defined]
    assert state(sw, SUP) == "talking" and state(sw, A) == "idle"
    assert sw.call_of(SUP) == call


def test_take_over_straight_from_listening(sw: Switch) -> None:
    sw.restore(SUP)
    talking(sw)
    sw.listen(SUP, A)
    sw.take_over(SUP)
    assert state(sw, SUP) == "talking" and state(sw, A) == "idle"


def test_barge_in_on_a_held_agent_retrieves_it(sw: Switch) -> None:
    sw.restore(SUP)
    talking(sw)
    sw.hold(A)
    sw.listen(SUP, A)
    assert names(sw.barge_in(SUP, A)) == ["LegRetrieved", "CallConferenced"]
    assert state(sw, A) == "three_party"


def test_listen_needs_a_talking_agent_and_a_free_supervisor(sw: Switch) -> None:
    sw.restore(SUP)
    refused(sw, "no_active_call", lambda: sw.listen(SUP, A))
    sw.inbound_call("sales")
    refused(sw, "invalid_call_state", lambda: sw.listen(SUP, A))  # still ringing
    sw.answer(A)
    refused(sw, "no_active_call", lambda: sw.barge_in(SUP))
    refused(sw, "no_active_call", lambda: sw.take_over(SUP))


def test_the_monitored_call_ending_ends_the_listen(sw: Switch) -> None:
    sw.restore(SUP)
    talking(sw)
    sw.listen(SUP, A)
    sw.hangup(A)
    assert state(sw, SUP) == "idle" and sw.calls() == ()


def test_force_logout_ends_the_agents_call(sw: Switch) -> None:
    talking(sw)
    refused(sw, "no_rights", lambda: sw.force_logout(B, A))
    events = sw.force_logout(SUP, A)
    assert names(events) == ["LegCleared", "LegCleared", "AgentCheckedOut"]
    out = events[-1]
    assert isinstance(out, AgentCheckedOut) and out.by == SUP and out.concerns == (A,)
    assert state(sw, A) == "connected"
    refused(sw, "invalid_agent_state", lambda: sw.force_logout(SUP, A))


# --- queries ----------------------------------------------------------------------------------
def test_queries(sw: Switch) -> None:
    assert [(g.id, g.dtmf) for g in sw.transfer_groups()] == [("sales", "1"), ("support", "2")]
    assert [g.id for g in sw.agent_groups(B)] == ["support"]
    assert sw.rights(SUP) == ("supervisor",) and sw.rights(A) == ()
    refused(sw, "no_rights", lambda: sw.all_agents(A))
    table = {a.agent: a.situation for a in sw.all_agents(SUP)}
    assert table == {A: "ready", B: "ready", C: "offline", SUP: "not_ready"}


def test_snapshot_shows_calls_and_legs(sw: Switch) -> None:
    call = talking(sw)
    sw.consult(A, B)
    snap = sw.snapshot(A)
    assert snap.agent.situation == "consult_ringing" and snap.agent.checked_in == ("sales",)
    assert next(c.call for c in snap.calls) == call
    primary, consult = snap.calls
    assert consult.consultation_of == call and consult.origin == "consultation"
    assert [(leg.device, leg.state) for leg in primary.legs] == [
        ("13800000001", "connected"),
        ("8001", "held"),
    ]
    assert [(leg.device, leg.state) for leg in consult.legs] == [
        ("8001", "connected"),
        ("8002", "alerting"),
    ]


def test_listeners_see_what_operations_return(sw: Switch) -> None:
    seen: list[SwitchEvent] = []
    unsubscribe = sw.subscribe(seen.extend)
    events = sw.pause(A) + sw.restore(A)
    assert seen == events
    unsubscribe()
    sw.pause(A)
    assert seen == events
    unsubscribe()  # twice is harmless


def test_every_situation_is_reachable(sw: Switch) -> None:
    """Each situation the table maps is one the model really produces."""
    seen = set()
    sw.restore(SUP)
    fresh = demo_switch()
    seen.add(fresh.situation(A))  # offline
    fresh.login(A, "pw1001")
    seen.add(fresh.situation(A))  # connected
    seen.add(sw.situation(A))  # ready
    sw.pause(B)
    seen.add(sw.situation(B))  # not_ready
    sw.restore(B)
    call = sw.inbound_call("sales")
    seen.add(sw.situation(A))  # ringing
    sw.answer(A)
    seen.add(sw.situation(A))  # talking
    sw.listen(SUP, A)
    seen.add(sw.situation(SUP))  # listening
    sw.barge_in(SUP)
    seen.add(sw.situation(A))  # three_party
    sw.hangup(SUP)
    sw.hold(A)
    seen.add(sw.situation(A))  # held
    sw.consult(A, "13900000000")
    seen.add(sw.situation(A))  # consult_ringing
    sw.third_party_answers(A)
    seen.add(sw.situation(A))  # consult_talking
    sw.hangup(A)
    assert call not in [c.call for c in sw.calls()]
    sw.dial(A, "13900000000")
    seen.add(sw.situation(A))  # dialing
    sw.hangup(A)
    sw.pause(SUP)
    sw.set_wrap_up("sales", 30)
    talking(sw)
    sw.hangup(A)
    seen.add(sw.situation(A))  # wrap_up
    assert seen == set(SITUATIONS)


# --- after-call work and ring timeouts (off unless configured) -----------------------------------
class FakeClock:
    """The switch's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(sw: Switch) -> FakeClock:
    fake = FakeClock()
    sw.clock = fake
    return fake


def test_no_wrap_up_and_no_ring_timeout_by_default(sw: Switch, clock: FakeClock) -> None:
    talking(sw)
    events = sw.hangup(A)
    assert names(events) == ["LegCleared", "LegCleared"]
    assert state(sw, A) == "idle" and sw.wake_at == float("inf")
    sw.inbound_call("sales")
    clock.now += 3600
    assert sw.tick() == [] and state(sw, A) == "ringing"


def test_wrap_up_after_an_acd_call_holds_calls_back_until_it_ends(
    sw: Switch, clock: FakeClock
) -> None:
    sw.set_wrap_up("sales", 30)
    talking(sw)
    events = sw.hangup(A)
    assert names(events) == ["LegCleared", "LegCleared", "AgentWorkingAfterCall"]
    assert events[-1].seconds == 30 and events[-1].concerns == (A,)  # type: ignore[attr-defined]
    assert state(sw, A) == "wrap_up" and sw.agent_info(A).situation == "wrap_up"
    assert sw.wake_at == clock.now + 30
    queued = sw.inbound_call("sales")
    assert sw.call(queued).queued and state(sw, A) == "wrap_up"  # not offered meanwhile
    assert "CallFailed" in names(sw.dial(B, A))  # nor rung directly: busy
    assert sw.tick(clock.now + 29.9) == []
    clock.now += 30
    events = sw.tick()
    assert names(events) == ["AgentReady", "LegAlerting"]
    assert events[0].ended_wrap_up  # type: ignore[attr-defined]
    assert state(sw, A) == "ringing" and sw.wake_at == float("inf")


def test_an_agents_own_wrap_up_time_wins_over_its_groups(sw: Switch, clock: FakeClock) -> None:
    sw.set_wrap_up("sales", 30)
    sw.set_wrap_up(A, 5)
    talking(sw)
    assert sw.hangup(A)[-1].seconds == 5  # type: ignore[attr-defined]
    sw.restore(A)
    sw.set_wrap_up(A, 0)  # none for this agent, whatever its group says
    talking(sw)
    assert names(sw.hangup(A)) == ["LegCleared", "LegCleared"]
    sw.set_wrap_up(A, None)  # back to the group's
    talking(sw)
    assert sw.customer_hangs_up(sw.call_of(A) or "")[-1].seconds == 30  # type: ignore[attr-defined]


def test_wrap_up_ends_when_the_agent_says_ready_or_not_ready(sw: Switch, clock: FakeClock) -> None:
    sw.set_wrap_up("sales", 30)
    talking(sw)
    sw.hangup(A)
    events = sw.restore(A)
    assert names(events) == ["AgentReady"] and events[0].ended_wrap_up  # type: ignore[attr-defined]
    assert state(sw, A) == "idle" and sw.wake_at == float("inf")
    refused(sw, "invalid_agent_state", lambda: sw.restore(A))  # ready already, as before
    talking(sw)
    sw.hangup(A)
    events = sw.pause(A, "notes")
    assert names(events) == ["AgentNotReady"]
    assert state(sw, A) == "paused" and sw.agent_info(A).reason == "notes"
    assert sw.wake_at == float("inf")
    clock.now += 60
    assert sw.tick() == []


def test_wrap_up_is_for_calls_the_agent_talked_on_through_a_group(
    sw: Switch, clock: FakeClock
) -> None:
    sw.set_wrap_up(A, 30)
    sw.inbound_call("sales")
    assert names(sw.hangup(A)) == ["LegCleared", "CallQueued"]  # declined while ringing
    assert state(sw, A) == "idle"
    sw.customer_hangs_up(sw.calls()[0].call)
    sw.dial(A, "13900000000")
    sw.customer_answers(sw.call_of(A) or "")
    assert "AgentWorkingAfterCall" not in names(sw.hangup(A))  # an outbound call
    talking(sw)
    sw.consult(A, "13900000001")
    sw.third_party_answers(A)
    events = sw.complete_transfer(A)
    assert names(events)[-1] == "AgentWorkingAfterCall" and state(sw, A) == "wrap_up"


def test_signing_out_ends_wrap_up_and_a_forced_one_mid_call_starts_none(
    sw: Switch, clock: FakeClock
) -> None:
    sw.set_wrap_up("sales", 30)
    talking(sw)
    sw.hangup(A)
    assert names(sw.check_out(A)) == ["AgentCheckedOut"]
    assert state(sw, A) == "connected" and sw.wake_at == float("inf")
    sw.check_in(A, ["sales"])
    talking(sw)
    events = sw.force_logout(SUP, A)
    assert names(events) == ["LegCleared", "LegCleared", "AgentCheckedOut"]
    assert state(sw, A) == "connected" and sw.wake_at == float("inf")
    sw.check_in(A, ["sales"])
    assert state(sw, A) == "idle"


def test_a_call_left_ringing_too_long_is_taken_back(sw: Switch, clock: FakeClock) -> None:
    sw.set_ring_timeout("sales", 15)
    call = sw.inbound_call("sales")
    assert state(sw, A) == "ringing" and sw.wake_at == clock.now + 15
    assert sw.tick(clock.now + 14) == []
    clock.now += 15
    events = sw.tick()
    assert names(events) == ["LegCleared", "CallQueued", "AgentNotReady"]
    assert events[0].cause == "ring_no_answer"  # type: ignore[attr-defined]
    assert state(sw, A) == "paused" and sw.agent_info(A).reason == "no_answer"
    assert sw.call(call).queued and sw.wake_at == float("inf")
    sw.restore(A)
    assert sw.call(call).queued  # never offered to the agent that let it ring out


def test_a_call_answered_in_time_or_an_agents_own_timeout(sw: Switch, clock: FakeClock) -> None:
    sw.set_ring_timeout("sales", 15)
    sw.set_ring_timeout(A, 5)
    sw.inbound_call("sales")
    assert sw.wake_at == clock.now + 5
    sw.answer(A)
    assert sw.wake_at == float("inf")
    clock.now += 60
    assert sw.tick() == [] and state(sw, A) == "talking"


def test_timer_settings_are_checked() -> None:
    sw = demo_switch()
    with pytest.raises(ValueError, match="neither an agent nor a group"):
        sw.set_wrap_up("nobody", 3)
    with pytest.raises(ValueError, match=">= 0"):
        sw.set_ring_timeout("sales", -1)
    with pytest.raises(ValueError, match="not None"):
        sw.set_wrap_up("sales", None)
