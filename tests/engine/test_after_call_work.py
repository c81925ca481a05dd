"""A second call centre, tests/charts/after_call_work.yaml, on the same engine.

Answered calls end in after-call work (wrap-up); the agent leaves it with
``finish_wrap_up`` (or the switch's timer: ``wrap_up_done``), or by pausing. History
still brings the agent back to idle or paused, whichever it was before the call.
"""

from __future__ import annotations

from typing import Any

import pytest

from cti_fsm import Chart, IllegalCommand, Machine, Notification, Step

IDLE = "checked_in.available.idle"
PAUSED = "checked_in.available.paused"
TALKING = "checked_in.on_call.talking"
HELD = "checked_in.on_call.held"
WRAP_UP = "checked_in.wrap_up"
CALL = {"call_id": "c-7", "phone_number": "13800138000"}


def note(name: str, **payload: Any) -> Notification:
    return Notification(name, payload)


def step(
    m: Machine, signal: str, state: str, *notes: Notification, resume: str, **payload: Any
) -> None:
    """Apply ``signal`` and assert the whole Step and the whole machine afterwards."""
    source = m.state
    assert m.apply(signal, **payload) == Step(source, state, signal, notes, payload)
    assert (m.state, m.history) == (state, (resume,))


@pytest.fixture
def agent(acw_chart: Chart) -> Machine:
    m = Machine(acw_chart)
    m.check("connect", user="1001", password="pw")
    m.apply("logged_in")
    m.check("check_in", group_ids="g1")
    step(
        m,
        "checked_in",
        IDLE,
        note("onCheckIn", result="success", group_ids="g1"),
        resume=IDLE,
        group_ids="g1",
    )
    return m


def test_an_answered_call_ends_in_wrap_up(agent: Machine) -> None:
    step(agent, "ringing", "checked_in.ringing", note("onCallInRing", **CALL), resume=IDLE, **CALL)
    agent.check("answer")
    step(
        agent,
        "answered",
        TALKING,
        note("onCallIn", **CALL),
        note("onInCall", **CALL),
        resume=IDLE,
        **CALL,
    )
    step(agent, "held", HELD, note("onHold", result="success", message=None), resume=IDLE)
    step(
        agent, "retrieved", TALKING, note("onRetrieve", result="success", message=None), resume=IDLE
    )
    step(
        agent,
        "hung_up",
        WRAP_UP,
        note("onIdle", call_id="c-7", reason="normal"),
        note("onWrapUp", call_id="c-7"),
        resume=IDLE,
        call_id="c-7",
        reason="normal",
    )
    assert set(agent.allowed()) == {"pause", "finish_wrap_up", "extend_wrap_up"}
    assert agent.check("finish_wrap_up").confirm == "wrap_up_done"
    step(
        agent,
        "wrap_up_done",
        IDLE,
        note("onWrapUpEnd", reason="agent"),
        resume=IDLE,
        reason="agent",
    )


def test_wrap_up_returns_to_paused_after_a_call_placed_while_paused(agent: Machine) -> None:
    step(
        agent,
        "paused",
        PAUSED,
        note("onPause", result="success", reason="admin"),
        resume=PAUSED,
        reason="admin",
    )
    agent.check("dial_out", number="13800138000")
    step(agent, "dialing", "checked_in.dialing", note("onCallout", **CALL), resume=PAUSED, **CALL)
    step(
        agent,
        "answered",
        TALKING,
        note("onCallOut", **CALL),
        note("onInCall", **CALL),
        resume=PAUSED,
        **CALL,
    )
    agent.check("transfer", target="2002")
    step(
        agent,
        "transferred",
        WRAP_UP,
        note("onTransfer", result="success", call_id="c-7", target="2002"),
        note("onWrapUp", call_id="c-7"),
        resume=PAUSED,
        call_id="c-7",
        target="2002",
    )
    # the switch's wrap-up timer ran out
    step(
        agent,
        "wrap_up_done",
        PAUSED,
        note("onWrapUpEnd", reason="timeout"),
        resume=PAUSED,
        reason="timeout",
    )


def test_wrap_up_extended_failed_and_left_by_pausing(agent: Machine) -> None:
    agent.jump(WRAP_UP)
    assert agent.check("extend_wrap_up", seconds=30).confirm == "wrap_up_extended"
    step(
        agent,
        "wrap_up_extended",
        WRAP_UP,
        note("onWrapUpExtended", seconds=30),
        resume=IDLE,
        seconds=30,
    )
    step(
        agent,
        "wrap_up_failed",
        WRAP_UP,
        note("onCommandFailed", command="wrap_up", message="limit"),
        resume=IDLE,
        message="limit",
    )
    agent.check("pause", reason="break")
    step(
        agent,
        "paused",
        PAUSED,
        note("onWrapUpEnd", reason="break"),
        note("onPause", result="success", reason="break"),
        resume=PAUSED,
        reason="break",
    )


def test_calls_that_never_connected_need_no_wrap_up(agent: Machine) -> None:
    step(
        agent,
        "ringing",
        "checked_in.ringing",
        note("onCallInRing", call_id=None, phone_number=None),
        resume=IDLE,
    )
    step(
        agent,
        "hung_up",
        IDLE,
        note("onIdle", call_id=None, reason="abandoned"),
        resume=IDLE,
        reason="abandoned",
    )
    step(
        agent,
        "dialing",
        "checked_in.dialing",
        note("onCallout", call_id=None, phone_number=None),
        resume=IDLE,
    )
    step(
        agent,
        "dial_failed",
        IDLE,
        note("onDialOver", call_id=None, reason="busy"),
        resume=IDLE,
        reason="busy",
    )
    step(
        agent,
        "dialing",
        "checked_in.dialing",
        note("onCallout", call_id=None, phone_number=None),
        resume=IDLE,
    )
    step(agent, "hung_up", IDLE, note("onDialOver", call_id=None, reason=None), resume=IDLE)


def test_paused_agents_are_not_offered_calls(agent: Machine) -> None:
    agent.apply("paused")
    assert agent.apply("ringing").ignored
    assert agent.state == PAUSED


def test_a_sign_out_during_a_call_waits_for_the_call(agent: Machine) -> None:
    agent.jump(HELD)
    step(
        agent, "checked_out", HELD, note("onCheckOut", result="pending", message=None), resume=IDLE
    )
    step(
        agent,
        "hung_up",
        WRAP_UP,
        note("onIdle", call_id=None, reason=None),
        note("onWrapUp", call_id=None),
        resume=IDLE,
    )
    step(
        agent,
        "checked_out",
        "connected",
        note("onCheckOut", result="success", message=None),
        resume=IDLE,
    )


def test_wrap_up_commands_only_in_wrap_up(acw_chart: Chart) -> None:
    for leaf in acw_chart.leaves():
        m = Machine(acw_chart, state=leaf)
        for command, args in (("finish_wrap_up", {}), ("extend_wrap_up", {"seconds": 10})):
            if leaf == WRAP_UP:
                m.check(command, **args)
            else:
                with pytest.raises(IllegalCommand, match=f"command '{command}' cannot be sent"):
                    m.check(command, **args)
    m = Machine(acw_chart, state=WRAP_UP)
    for command in ("dial_out", "check_out", "disconnect", "hangup"):
        with pytest.raises(IllegalCommand):
            m.check(command, number="1") if command == "dial_out" else m.check(command)


def test_supervisor_rights_work_the_same(acw_chart: Chart) -> None:
    m = Machine(acw_chart, rights=["supervisor"], state=WRAP_UP)
    assert m.check("logout_agent", agent_id="1002").confirm == "agent_logged_out"
    assert "logout_agent" in m.allowed()
    assert "logout_agent" not in Machine(acw_chart, state=WRAP_UP).allowed()
