"""Signals: handled, ignored (non-strict) or refused (strict), and the machine's own API."""

from __future__ import annotations

import gc
import weakref

import pytest

from cti_fsm import (
    Chart,
    Machine,
    Notification,
    Step,
    UnexpectedSignal,
    compile_chart,
    load_chart,
)

IDLE = "checked_in.available.idle"
PAUSED = "checked_in.available.paused"


def test_unhandled_signal_is_reported_as_ignored(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=PAUSED)
    m.jump("checked_in.talking")
    step = m.apply("ringing", call_id="c-2")
    assert step == Step(
        "checked_in.talking", "checked_in.talking", "ringing", (), {"call_id": "c-2"}, ignored=True
    )
    assert not step.changed
    assert (m.state, m.history) == ("checked_in.talking", (PAUSED,))
    # an undeclared signal too
    assert m.apply("teleported").ignored
    assert m.state == "checked_in.talking"


def test_strict_mode_raises_and_changes_nothing(agent_chart: Chart) -> None:
    m = Machine(agent_chart, strict=True, state=PAUSED)
    m.jump("checked_in.held")
    with pytest.raises(UnexpectedSignal) as refused:
        m.apply("answered", call_id="c-1")
    assert (refused.value.signal, refused.value.state) == ("answered", "checked_in.held")
    assert str(refused.value) == "signal 'answered' is not handled in 'checked_in.held'"
    with pytest.raises(UnexpectedSignal) as refused:
        m.apply("teleported")
    assert str(refused.value) == (
        "signal 'teleported' is not declared in the chart; state 'checked_in.held'"
    )
    assert (m.state, m.history) == ("checked_in.held", (PAUSED,))
    # handled signals still move it
    assert m.apply("retrieved").target == "checked_in.talking"


def test_internal_transition_keeps_state_and_history(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=PAUSED)
    m.jump("checked_in.dialing")
    step = m.apply("remote_ringing", phone_number="1")
    assert (step.source, step.target, step.changed, step.ignored) == (
        "checked_in.dialing",
        "checked_in.dialing",
        False,
        False,
    )
    assert step.names == ("onCallOutRing",)
    assert (m.state, m.history) == ("checked_in.dialing", (PAUSED,))


def test_a_parent_transition_applies_in_every_leaf_below(agent_chart: Chart) -> None:
    below = [leaf for leaf in agent_chart.leaves() if leaf.startswith("checked_in.")]
    assert len(below) == 11
    for leaf in below:
        m = Machine(agent_chart, state=leaf)
        assert m.handles("link_lost")
        assert m.apply("link_lost", reason="x").names == ("onDisconnect",)
        assert m.state == "offline"


def test_a_childs_transition_wins_over_its_parents(acw_chart: Chart) -> None:
    # checked_out is declared on checked_in (to connected) and on on_call (internal)
    m = Machine(acw_chart, state="checked_in.on_call.held")
    step = m.apply("checked_out")
    assert (step.target, step.notifications) == (
        "checked_in.on_call.held",
        (Notification("onCheckOut", {"result": "pending", "message": None}),),
    )
    m = Machine(acw_chart, state="checked_in.wrap_up")
    assert m.apply("checked_out").target == "connected"


def test_payload_fields_map_to_notification_fields(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=IDLE)
    step = m.apply(
        "ringing", call_id="c-9", phone_number="13800138000", area="Shanghai", vendor_extra=1
    )
    # every declared field is present (None if the signal lacked it); extras stay in payload
    assert step.notifications == (
        Notification(
            "onCallInRing",
            {"call_id": "c-9", "phone_number": "13800138000", "area": "Shanghai", "agent_id": None},
        ),
    )
    assert step.payload == {
        "call_id": "c-9",
        "phone_number": "13800138000",
        "area": "Shanghai",
        "vendor_extra": 1,
    }
    assert step.notifications[0]["area"] == "Shanghai"


def test_constants_override_payload_fields(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state="connected")
    step = m.apply("check_in_failed", message="no such group", result="success")
    assert step.notifications == (
        Notification(
            "onCheckIn", {"result": "fail", "message": "no such group", "group_ids": None}
        ),
    )


def test_steps_and_notifications_are_immutable(agent_chart: Chart) -> None:
    m = Machine(agent_chart, state=IDLE)
    step = m.apply("ringing", call_id="c-1")
    with pytest.raises(TypeError):
        step.payload["call_id"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        step.notifications[0].payload["call_id"] = "other"  # type: ignore[index]
    # and a precomputed (no-payload) step is shared, so it must not leak between machines
    first = Machine(agent_chart, state=IDLE).apply("ringing")
    again = Machine(agent_chart, state=IDLE).apply("ringing")
    assert first == again
    with pytest.raises(TypeError):
        first.notifications[0].payload["call_id"] = "x"  # type: ignore[index]


def test_handles_and_handled(agent_chart: Chart) -> None:
    m = Machine(agent_chart)
    assert set(m.handled()) == {"logged_in", "login_failed"}
    assert m.handles("logged_in") and not m.handles("ringing")


def test_machines_are_independent(agent_chart: Chart) -> None:
    a = Machine(agent_chart, state=PAUSED)
    b = a.copy()
    c = Machine(agent_chart, state=IDLE)
    a.apply("restored")
    b.apply("ringing")
    assert (a.state, a.history) == (IDLE, (IDLE,))
    assert (b.state, b.history) == ("checked_in.ringing", (PAUSED,))
    assert (c.state, c.history) == (IDLE, (IDLE,))
    assert b.apply("hung_up").target == PAUSED


def test_start_state_and_jump(agent_chart: Chart) -> None:
    assert Machine(agent_chart).state == "offline"
    assert Machine(agent_chart, state="talking").state == "checked_in.talking"
    assert Machine(agent_chart, state="available").state == IDLE
    with pytest.raises(KeyError):
        Machine(agent_chart, state="nowhere")
    m = Machine(agent_chart, state="held")
    with pytest.raises(KeyError):
        m.jump("nowhere")
    assert m.state == "checked_in.held"
    assert m.in_state("checked_in") and m.in_state("held") and not m.in_state("available")
    assert repr(m) == "<Machine 'agent' state='checked_in.held'>"


def test_chart_is_compiled_once_and_not_kept_alive(agent_chart: Chart) -> None:
    assert compile_chart(agent_chart) is compile_chart(agent_chart)
    chart = load_chart(agent_chart.source)
    Machine(chart)
    alive = weakref.ref(chart)
    del chart
    gc.collect()
    assert alive() is None
