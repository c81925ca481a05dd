"""What the chart asks of the session: its timers, its own commands, local commands.

Frame by frame and in virtual time, as the rest of tests/session: a chart that extends the
default chart with after-call work and a ring timer; the session arms and cancels timers
from the steps, fires them from ``tick``, sends the chart's commands through the same
check and encode path as any command, and reports their failure through the chart.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import pytest

import cti_fsm
from cti_fsm.events import Step
from cti_fsm.machine import Machine
from cti_fsm.session import Session, Ticket

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "agent"))
from tiny_adapter import TinyProtocol

WRAP_UP = cti_fsm.load_chart_text(
    "chart: desk\nextends: agent\nsettings: {wrap_up_seconds: 30, ring_timeout_seconds: 20}\n",
    "desk.yaml",
)
IDLE = "checked_in.available.idle"
PAUSED = "checked_in.available.paused"


def make(
    chart: cti_fsm.Chart = WRAP_UP,
    state: str = IDLE,
    local: frozenset[str] = frozenset(),
    unsupported: frozenset[str] = frozenset(),
    reconcile_every: float | None = None,
) -> tuple[Session, list[float]]:
    clock = [100.0]
    session = Session(
        Machine(chart),
        TinyProtocol(unsupported, 0, local),
        user="1001",
        password="pw",
        url="mem://",
        reconcile_every=reconcile_every,
    )
    session.start(clock[0])
    [connect] = sent(session)
    feed(session, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    [snapshot] = sent(session)
    feed(session, clock, {"snapshot": state, "id": snapshot["id"]})
    assert session.ready
    session.events()
    return session, clock


def sent(session: Session) -> list[dict[str, Any]]:
    return [json.loads(f) for f in session.data_to_send()]


def feed(session: Session, clock: list[float], *messages: dict[str, Any]) -> None:
    for message in messages:
        session.receive_data(json.dumps(message), clock[0])


def notes(events: list[Any]) -> list[str]:
    return [n.name for e in events if isinstance(e, Step) for n in e.notifications]


def talking(session: Session, clock: list[float]) -> None:
    feed(session, clock, {"signal": "ringing", "payload": {"call_id": "c1"}})
    feed(session, clock, {"signal": "answered", "payload": {"call_id": "c1"}})
    assert session.machine.state == "checked_in.talking"
    session.events()


def test_wrap_up_timer_is_armed_on_entry_and_fires_in_virtual_time() -> None:
    session, clock = make()
    talking(session, clock)
    feed(session, clock, {"signal": "hung_up", "payload": {"call_id": "c1"}})
    assert session.machine.state == "checked_in.wrap_up"
    assert notes(session.events()) == ["onIdle", "onWrapUp"]
    # early, never late: the login's expired deadline may still be on the heap
    session.tick(clock[0] + 10)
    assert session.wake_at == clock[0] + 30
    session.tick(clock[0] + 29.9)
    assert session.machine.state == "checked_in.wrap_up"
    session.tick(clock[0] + 30)
    assert session.machine.state == IDLE
    assert notes(session.events()) == ["onWrapUpEnd"]
    assert sent(session) == []  # the chart's own wrap-up sends nothing
    assert session.wake_at == float("inf")


def test_leaving_wrap_up_early_cancels_its_timer() -> None:
    session, clock = make()
    talking(session, clock)
    feed(session, clock, {"signal": "hung_up"})
    ticket = session.send_command("pause", {"reason": "break"}, clock[0])
    [pause] = sent(session)
    feed(session, clock, {"signal": "paused", "id": pause["id"], "payload": {"reason": "break"}})
    assert ticket.done and session.machine.state == PAUSED
    session.events()
    session.tick(clock[0] + 60)
    assert session.machine.state == PAUSED and session.events() == []


def test_the_ring_timer_rejects_the_call_then_the_chart_pauses_the_agent() -> None:
    session, clock = make()
    feed(session, clock, {"signal": "ringing", "payload": {"call_id": "c1"}})
    session.events()
    session.tick(clock[0] + 20)
    assert notes(session.events()) == ["onRingNoAnswer"]
    [hangup] = sent(session)
    assert hangup["op"] == "hangup"
    assert session.machine.states == ("checked_in.ringing", "checked_in.next.not_ready_next")
    feed(session, clock, {"signal": "hung_up", "id": hangup["id"]})
    [pause] = sent(session)
    assert pause["op"] == "pause" and pause["args"] == {"reason": "ring_no_answer"}
    feed(session, clock, {"signal": "paused", "payload": {"reason": "ring_no_answer"}})
    assert session.machine.states == (PAUSED, "checked_in.next.unchanged")
    assert notes(session.events()) == ["onIdle", "onPause"]


def test_an_answered_call_cancels_the_ring_timer() -> None:
    session, clock = make()
    talking(session, clock)
    session.tick(clock[0] + 25)
    assert session.machine.state == "checked_in.talking" and sent(session) == []


def test_next_state_is_local_and_the_chart_sends_pause_after_wrap_up() -> None:
    session, clock = make()
    talking(session, clock)
    ticket = session.send_command("set_next_state", {"next": "not_ready", "reason": "lunch"}, 1)
    assert ticket.done and ticket.error is None  # local: settled at once
    assert sent(session) == []
    assert notes(session.events()) == ["onNextState"]
    feed(session, clock, {"signal": "hung_up"})
    assert sent(session) == []  # not before wrap-up ends
    finish = session.send_command("finish_wrap_up", {}, clock[0])
    [request] = sent(session)
    assert request["op"] == "finish_wrap_up"  # the tiny vendor maps it
    feed(session, clock, {"signal": "wrap_up_ended", "id": request["id"]})
    assert finish.done and session.machine.state == IDLE
    [pause] = sent(session)
    assert pause["op"] == "pause" and pause["args"] == {"reason": "lunch"}


def test_a_chart_command_refused_by_the_vendor_is_reported_by_its_failure_signal() -> None:
    session, clock = make(cti_fsm.default_chart())
    talking(session, clock)
    session.send_command("set_next_state", {"next": "not_ready", "reason": "x"}, clock[0])
    feed(session, clock, {"signal": "hung_up"})
    [pause] = sent(session)
    session.events()
    feed(session, clock, {"answer": pause["id"], "ok": False, "reason": "no such reason"})
    events = session.events()
    assert notes(events) == ["onPause"]
    [step] = [e for e in events if isinstance(e, Step)]
    assert step.notifications[0]["result"] == "fail"
    # nobody awaits a chart's command: its ticket is not handed out
    assert not [e for e in events if isinstance(e, Ticket)]
    assert session.stats["chart_command_failed"] == 0  # the vendor's refusal said it


def test_a_chart_command_that_times_out_is_reported_by_its_failure_signal() -> None:
    session, clock = make(cti_fsm.default_chart())
    talking(session, clock)
    session.send_command("set_next_state", {"next": "logout"}, clock[0])
    feed(session, clock, {"signal": "hung_up"})
    [check_out] = sent(session)
    assert check_out["op"] == "check_out"
    session.events()
    session.tick(clock[0] + 10)
    assert notes(session.events()) == ["onCheckOut"]
    assert session.stats["chart_command_failed"] == 1


def test_ready_next_restores_only_an_agent_that_was_paused() -> None:
    session, clock = make(cti_fsm.default_chart(), state=PAUSED)
    feed(session, clock, {"signal": "dialing"}, {"signal": "answered"})
    session.send_command("set_next_state", {"next": "ready"}, clock[0])
    feed(session, clock, {"signal": "hung_up"})
    [restore] = sent(session)
    assert restore["op"] == "restore"
    session, clock = make(cti_fsm.default_chart())
    talking(session, clock)
    session.send_command("set_next_state", {"next": "ready"}, clock[0])
    feed(session, clock, {"signal": "hung_up"})
    assert sent(session) == [] and session.machine.state == IDLE


def test_a_dropped_link_forgets_the_timers() -> None:
    session, clock = make()
    talking(session, clock)
    feed(session, clock, {"signal": "hung_up"})
    session.connection_lost("gone")
    assert session.wake_at == float("inf")
    session.tick(clock[0] + 60)
    assert session.machine.state == "offline"


def test_a_vendor_map_local_command_is_done_by_the_session() -> None:
    session, clock = make(state="checked_in.wrap_up", local=frozenset({"finish_wrap_up"}))
    ticket = session.send_command("finish_wrap_up", {}, clock[0])
    assert ticket.done and ticket.error is None
    assert sent(session) == []
    assert session.machine.state == IDLE


def test_illegal_command_lists_only_what_this_vendor_can_do() -> None:
    session, clock = make(cti_fsm.default_chart(), unsupported=frozenset({"hold"}))
    talking(session, clock)
    with pytest.raises(cti_fsm.IllegalCommand) as info:
        session.send_command("answer", {}, clock[0])
    # what this agent can really send: the chart's commands here, less the vendor's gaps
    assert set(info.value.allowed) == set(session.machine.allowed()) - {"hold"}
    assert "transfer" in info.value.allowed and "hold" not in str(info.value)
    assert sent(session) == []


def test_a_reconciliation_walk_keeps_the_next_state_the_agent_asked_for() -> None:
    session, clock = make(cti_fsm.default_chart(), reconcile_every=30)
    talking(session, clock)
    session.send_command("set_next_state", {"next": "not_ready", "reason": "x"}, clock[0])
    session.events()
    # the server lost the hang-up: it says idle, twice; the walk takes hung_up, and the
    # agent still goes where it asked to after the call
    for later in (30, 31):
        session.tick(clock[0] + later)
        [look] = sent(session)
        feed(session, clock, {"snapshot": IDLE, "id": look["id"]})
    assert session.stats["drift_corrections"] == 1
    assert session.machine.states == (IDLE, "checked_in.next.unchanged")
    [pause] = sent(session)
    assert pause["op"] == "pause" and pause["args"] == {"reason": "x"}


def test_a_next_state_chosen_before_a_drop_applies_after_the_resync() -> None:
    session, clock = make(cti_fsm.default_chart())
    talking(session, clock)
    session.send_command("set_next_state", {"next": "not_ready", "reason": "x"}, clock[0])
    session.connection_lost("gone")
    # the call ended while the link was down: the next session's resync walks through
    # hung_up and sends the pause once it is ready, not before
    nxt = Session(
        session.machine,
        TinyProtocol(frozenset(), 0),
        user="1001",
        password="pw",
        resume_from=session.resume_from,
        resume_beside=session.resume_beside,
    )
    assert session.resume_beside == ("checked_in.next.not_ready_next",)
    nxt.start(clock[0])
    [connect] = sent(nxt)
    feed(nxt, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    [snapshot] = sent(nxt)
    feed(nxt, clock, {"snapshot": IDLE, "id": snapshot["id"]})
    assert nxt.ready
    [pause] = sent(nxt)
    assert pause["op"] == "pause" and pause["args"] == {"reason": "x"}
    assert nxt.machine.states == (IDLE, "checked_in.next.unchanged")
