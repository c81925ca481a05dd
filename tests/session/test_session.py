"""The session's rules, frame by frame, with a fake clock: no trio, no socket.

The protocol is the tiny adapter's (JSON text frames: ``{"op", "id", "args"}`` out;
``{"signal"}``, ``{"answer"}``, ``{"snapshot"}`` in), so every frame a test feeds is
written out here and every frame the session sends is read back.
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
from cti_fsm.session import LinkDead, LoginFailed, Ready, Received, Session, Ticket

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "agent"))
from tiny_adapter import TinyProtocol

PASSWORD = "s3cret-pw"
CHART = cti_fsm.default_chart()


class Clock:
    """Virtual time: tests move it; the session never reads it."""

    def __init__(self) -> None:
        self.now = 100.0


def make(
    *,
    state: str = "offline",
    keepalive: float = 0,
    resume_from: str | None = None,
    **kwargs: Any,
) -> Session:
    machine = Machine(CHART, state=state)
    protocol = TinyProtocol(frozenset({"logout_agent"}), keepalive)
    return Session(
        machine,
        protocol,
        user="1001",
        password=PASSWORD,
        url="mem://",
        vendor="tiny",
        resume_from=resume_from,
        **kwargs,
    )


def sent(session: Session) -> list[dict[str, Any]]:
    return [json.loads(f) for f in session.data_to_send()]


def feed(session: Session, clock: Clock, *messages: dict[str, Any]) -> None:
    for message in messages:
        session.receive_data(json.dumps(message), clock.now)


def notes(events: list[Any]) -> list[str]:
    return [n.name for e in events if isinstance(e, Step) for n in e.notifications]


def logged_in(
    state: str = "connected", *, resume_from: str | None = None, **kwargs: Any
) -> tuple[Session, Clock]:
    """A session through login and resync to ``state``; its events drained."""
    clock = Clock()
    session = make(resume_from=resume_from, **kwargs)
    session.start(clock.now)
    [connect] = sent(session)
    feed(session, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    [snapshot] = sent(session)
    assert snapshot["op"] == "snapshot"
    feed(session, clock, {"snapshot": state, "id": snapshot["id"]})
    assert session.ready
    session.events()
    return session, clock


# --- login and resync ---------------------------------------------------------------------------


def test_login_sends_the_password_then_asks_a_snapshot_and_announces_after_the_walk() -> None:
    clock = Clock()
    session = make()
    session.start(clock.now)
    [connect] = sent(session)
    assert connect["op"] == "connect" and connect["args"]["password"] == PASSWORD
    assert not session.ready
    with pytest.raises(cti_fsm.Disconnected, match="logging in"):
        session.send_command("check_in", {"group_ids": "g1"}, clock.now)
    feed(session, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    assert session.events() == []  # onConnect is held until the resync is done
    [snapshot] = sent(session)
    feed(session, clock, {"snapshot": "checked_in.available.paused", "id": snapshot["id"]})
    events = session.events()
    # the walk's notifications first, then the login's, then ready
    assert notes(events) == ["onCheckIn", "onPause", "onConnect"]
    assert isinstance(events[-1], Ready)
    assert session.machine.state == "checked_in.available.paused"
    assert repr(session).count(PASSWORD) == 0


def test_signals_before_the_snapshot_are_dropped_after_it_applied_once() -> None:
    clock = Clock()
    session = make()
    session.start(clock.now)
    [connect] = sent(session)
    feed(session, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    [snapshot] = sent(session)
    feed(
        session,
        clock,
        {"signal": "checked_in"},  # already part of the snapshot
        {"snapshot": "checked_in.available.idle", "id": snapshot["id"]},
        {"signal": "ringing", "payload": {"call_id": "c9"}},
    )
    assert session.machine.state == "checked_in.ringing"
    assert session.stats["dropped_resync"] == 1
    assert notes(session.events()).count("onCallInRing") == 1


def test_a_refused_login_fails_the_login_and_releases_its_notification() -> None:
    clock = Clock()
    session = make()
    session.start(clock.now)
    [connect] = sent(session)
    feed(session, clock, {"answer": connect["id"], "ok": False, "reason": "bad password"})
    events = session.events()
    assert notes(events) == ["onConnect"]
    [failed] = [e for e in events if isinstance(e, LoginFailed)]
    assert isinstance(failed.error, cti_fsm.CommandFailed)
    assert "bad password" in str(failed.error)
    assert not session.ready and sent(session) == []


def test_no_snapshot_in_time_goes_on_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    session = make()
    session.start(clock.now)
    [connect] = sent(session)
    feed(session, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    sent(session)
    assert session.wake_at == clock.now + 10  # the login's timeout
    session.tick(clock.now + 9.9)
    assert not session.ready
    session.tick(clock.now + 10)
    assert session.ready and "no snapshot" in caplog.text
    assert isinstance(session.events()[-1], Ready)


def test_rights_from_the_server_are_asked_after_the_resync_and_adopted() -> None:
    clock = Clock()
    session = make(rights_from_server=True)
    session.start(clock.now)
    [connect] = sent(session)
    feed(session, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    [snapshot] = sent(session)
    feed(session, clock, {"snapshot": "connected", "id": snapshot["id"]})
    [rights] = sent(session)
    assert rights["op"] == "get_rights" and not session.ready
    feed(session, clock, {"signal": "agent_rights", "payload": {"rights": ["supervisor", "x"]}})
    assert session.ready
    assert session.machine.rights == frozenset({"supervisor"})


# --- commands: one answer path ------------------------------------------------------------------


def test_a_command_resolves_exactly_once_by_its_confirming_signal() -> None:
    session, clock = logged_in()
    ticket = session.send_command("check_in", {"group_ids": "g1"}, clock.now)
    [request] = sent(session)
    assert request == {"op": "check_in", "id": ticket.request_id, "args": {"group_ids": "g1"}}
    assert not ticket.done and session.pending_commands() == ("check_in",)
    feed(session, clock, {"answer": ticket.request_id, "ok": True})
    assert not ticket.done  # acknowledged; the chart waits for checked_in
    feed(session, clock, {"signal": "checked_in"}, {"signal": "checked_in"})
    events = session.events()
    assert [e for e in events if isinstance(e, Ticket)] == [ticket]
    assert ticket.done and ticket.result() is not None
    assert ticket.result().target == "checked_in.available.idle"  # type: ignore[union-attr]
    assert session.pending_commands() == ()


def test_a_signal_carrying_the_request_id_settles_that_command_once() -> None:
    session, clock = logged_in()
    groups = session.send_command("get_agent_groups", {}, clock.now)
    rights = session.send_command("get_rights", {}, clock.now)
    sent(session)
    # the second query's own response, first: matched by id, not by arrival order
    feed(session, clock, {"signal": "agent_rights", "id": rights.request_id})
    assert rights.done and not groups.done
    feed(session, clock, {"signal": "agent_groups", "id": groups.request_id, "payload": {}})
    assert groups.done and groups.error is None
    feed(session, clock, {"signal": "agent_groups", "id": groups.request_id})
    assert [e for e in session.events() if isinstance(e, Ticket)] == [rights, groups]


POKE_CHART = """\
chart: poke
initial: idle
states:
  idle: {}
  busy: {}
commands:
  connect:
    from: [idle]
    args:
      user: {type: string}
      password: {type: string, secret: true}
      url: {type: string}
    confirm: up
  poke: {from: [busy], fail: poke_failed}
signals:
  up: {transitions: [{from: idle, to: busy, emit: [onUp]}]}
  poked: {transitions: [{from: idle, emit: [onPoked]}]}
  poke_failed: {transitions: [{from: busy, emit: [onPokeFailed]}]}
notifications:
  onUp: {}
  onPoked: {}
  onPokeFailed: {}
"""


def test_a_signal_the_chart_ignores_still_answers_its_request() -> None:
    chart = cti_fsm.load_chart_text(POKE_CHART, "poke.yaml")
    protocol = TinyProtocol(frozenset(), 0)
    session = Session(Machine(chart), protocol, user="u", password="p", vendor="tiny")
    clock = Clock()
    session.start(clock.now)
    [connect] = sent(session)
    feed(session, clock, {"signal": "up", "id": connect["id"]})
    [snapshot] = sent(session)
    feed(session, clock, {"snapshot": "busy", "id": snapshot["id"]})
    assert session.ready
    # poke has no confirming signal, only a failure one: its positive response answers
    # it, even when the vendor maps that response to a signal this state ignores
    poke = session.send_command("poke", {}, clock.now)
    sent(session)
    assert not poke.done
    feed(session, clock, {"signal": "poked", "id": poke.request_id})
    assert session.stats["ignored"] == 1 and session.machine.state == "busy"
    assert poke.done and poke.error is None and poke.step is None


def test_a_refused_answer_fails_through_the_charts_failure_signal() -> None:
    session, clock = logged_in("checked_in.available.idle")
    ticket = session.send_command("pause", {}, clock.now)
    sent(session)
    feed(session, clock, {"answer": ticket.request_id, "ok": False, "reason": "not allowed"})
    assert ticket.done and isinstance(ticket.error, cti_fsm.CommandFailed)
    assert ticket.error.reason == "not allowed" and ticket.error.signal == "pause_failed"
    assert notes(session.events()) == ["onPause"]
    assert session.machine.state == "checked_in.available.idle"


def test_a_timeout_settles_once_and_a_late_answer_only_moves_the_machine() -> None:
    session, clock = logged_in("checked_in.available.idle")
    ticket = session.send_command("pause", {}, clock.now)
    sent(session)
    assert session.wake_at == clock.now + 10
    session.tick(clock.now + 10)
    assert isinstance(ticket.error, cti_fsm.CommandTimeout)
    assert [e for e in session.events() if isinstance(e, Ticket)] == [ticket]
    feed(session, clock, {"signal": "paused"})
    assert session.machine.state == "checked_in.available.paused"
    assert [e for e in session.events() if isinstance(e, Ticket)] == []
    assert session.wake_at == float("inf")


def test_refused_commands_send_nothing_and_change_nothing() -> None:
    session, clock = logged_in()
    with pytest.raises(cti_fsm.IllegalCommand) as illegal:
        session.send_command("hold", {}, clock.now)
    assert illegal.value.state == "connected" and "check_in" in illegal.value.allowed
    session.machine.rights = frozenset({"supervisor"})
    with pytest.raises(cti_fsm.Unsupported, match="tiny") as unsupported:
        session.send_command("logout_agent", {"agent_id": "1002"}, clock.now)
    assert unsupported.value.state == "connected"
    assert sent(session) == [] and session.events() == []
    assert session.machine.state == "connected"


def test_a_protocols_missing_context_names_the_command_and_the_state() -> None:
    session, clock = logged_in("checked_in.available.idle")

    def refuse(command: str, args: Any, request_id: int) -> Any:
        raise cti_fsm.errors.MissingContext("{call_id} is not known now")

    session.protocol.encode_command = refuse  # type: ignore[method-assign]
    with pytest.raises(cti_fsm.errors.MissingContext) as info:
        session.send_command("pause", {}, clock.now)
    assert info.value.command == "pause"
    assert info.value.state == "checked_in.available.idle"
    assert "checked_in.available.idle" in str(info.value)
    assert session.pending_commands() == () and sent(session) == []


# --- the pending policy --------------------------------------------------------------------------


def test_queued_commands_are_sent_and_checked_in_turn() -> None:
    session, clock = logged_in("checked_in.available.idle")
    first = session.send_command("pause", {}, clock.now)
    second = session.send_command("restore", {}, clock.now)  # illegal now, legal after pause
    assert [m["op"] for m in sent(session)] == ["pause"]
    assert session.pending_commands() == ("pause", "restore")
    feed(session, clock, {"signal": "paused"})
    assert first.done and not second.done
    [restore] = sent(session)
    assert restore["op"] == "restore" and restore["id"] == second.request_id
    feed(session, clock, {"signal": "restored"})
    assert second.done and second.error is None


def test_a_queued_command_illegal_when_its_turn_comes_fails_without_sending() -> None:
    session, clock = logged_in("checked_in.available.idle")
    session.send_command("pause", {}, clock.now)
    second = session.send_command("answer", {}, clock.now)
    sent(session)
    feed(session, clock, {"signal": "paused"})
    assert isinstance(second.error, cti_fsm.IllegalCommand)
    assert sent(session) == []


def test_reject_mode_is_busy_while_another_command_waits() -> None:
    clock = Clock()
    session = make()
    session.start(clock.now)  # the login is outstanding; connect says pending: reject
    with pytest.raises(cti_fsm.Busy, match="connect"):
        session.send_command("connect", {"user": "u", "password": "p", "url": "x"}, clock.now)
    assert len(sent(session)) == 1


def test_parallel_commands_do_not_wait_for_the_serial_one() -> None:
    session, clock = logged_in("checked_in.available.idle")
    session.send_command("pause", {}, clock.now)
    session.send_command("get_agent_groups", {}, clock.now)
    assert [m["op"] for m in sent(session)] == ["pause", "get_agent_groups"]


def test_abandoning_a_command_gives_the_next_its_turn() -> None:
    session, clock = logged_in("checked_in.available.idle")
    first = session.send_command("pause", {}, clock.now)
    second = session.send_command("pause", {"reason": "lunch"}, clock.now)
    sent(session)
    session.abandon(first)
    [again] = sent(session)
    assert again["id"] == second.request_id
    feed(session, clock, {"signal": "paused", "payload": {"reason": "lunch"}})
    assert second.done and not [e for e in session.events() if e is first]


# --- the link, at every point of a command's life ------------------------------------------------


@pytest.mark.parametrize("point", ["queued", "sent", "acknowledged"])
def test_a_link_drop_fails_a_command_at_every_point_of_its_life(point: str) -> None:
    session, clock = logged_in("checked_in.available.idle")
    first = session.send_command("pause", {}, clock.now)
    ticket = session.send_command("restore", {}, clock.now) if point == "queued" else first
    sent(session)
    if point == "acknowledged":
        feed(session, clock, {"answer": first.request_id, "ok": True})
    session.connection_lost("server went away")
    assert isinstance(ticket.error, cti_fsm.Disconnected)
    assert ticket.error.command == ticket.command and "server went away" in str(ticket.error)
    assert session.resume_from == "checked_in.available.idle"
    assert session.machine.state == "offline"
    assert "onDisconnect" in notes(session.events())
    with pytest.raises(cti_fsm.Disconnected):
        session.send_command("pause", {}, clock.now)


def test_a_drop_after_the_answer_changes_nothing_for_the_command() -> None:
    session, clock = logged_in("checked_in.available.idle")
    ticket = session.send_command("pause", {}, clock.now)
    sent(session)
    feed(session, clock, {"signal": "paused"})
    session.connection_lost("gone")
    assert ticket.error is None and ticket.step is not None


@pytest.mark.parametrize("point", ["login", "resync"])
def test_a_drop_while_logging_in_again_walks_from_the_state_before_the_first_drop(
    point: str,
) -> None:
    session, clock = logged_in("checked_in.talking")
    session.connection_lost("first drop")
    assert notes(session.events()) == ["onDisconnect"]
    # the second connection drops during its login or its resync
    second = make(resume_from=session.resume_from)
    second.machine = session.machine
    second.start(clock.now)
    [connect] = sent(second)
    if point == "resync":
        feed(second, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    second.connection_lost("second drop")
    events = second.events()
    assert "onDisconnect" not in notes(events)  # the user already knows it is down
    assert any(isinstance(e, LoginFailed) for e in events) == (point == "login")
    assert second.resume_from == "checked_in.talking"
    # the third gets through: it walks from talking, so the call's end is heard
    third = make(resume_from=second.resume_from)
    third.machine = second.machine
    third.start(clock.now)
    [connect] = sent(third)
    feed(third, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    [snapshot] = sent(third)
    feed(third, clock, {"snapshot": "checked_in.available.idle", "id": snapshot["id"]})
    assert notes(third.events()) == ["onIdle", "onConnect"]
    assert third.resume_from is None


# --- keepalive and reconciliation ----------------------------------------------------------------


def test_an_unanswered_keepalive_is_a_dead_link() -> None:
    session, clock = logged_in(keepalive=5)
    assert session.wake_at == clock.now + 5
    session.tick(clock.now + 5)
    [ping] = sent(session)
    assert ping["op"] == "ping"
    feed(session, clock, {"answer": ping["id"], "ok": True})
    clock.now += 5
    session.tick(clock.now + 5)
    [ping] = sent(session)
    session.tick(clock.now + 9.9)
    assert session.events() == []
    session.tick(clock.now + 10)
    [dead] = session.events()
    assert isinstance(dead, LinkDead) and "keepalive" in dead.reason
    session.connection_lost("transport closed")
    assert "keepalive" in str(session.events()[0])  # the first reason wins


def test_reconciliation_corrects_only_a_state_contradicted_twice() -> None:
    session, clock = logged_in("checked_in.available.idle", reconcile_every=30)
    session.tick(clock.now + 30)
    [look] = sent(session)
    feed(session, clock, {"snapshot": "checked_in.available.paused", "id": look["id"]})
    assert session.machine.state == "checked_in.available.idle"  # the first look only suspects
    assert session.wake_at == clock.now + 1
    session.tick(clock.now + 31)
    [again] = sent(session)
    feed(session, clock, {"snapshot": "checked_in.available.paused", "id": again["id"]})
    assert session.machine.state == "checked_in.available.paused"
    assert notes(session.events()) == ["onPause"]
    assert session.stats["drift_corrections"] == 1


def test_reconciliation_waits_while_a_command_awaits_its_answer() -> None:
    session, clock = logged_in("checked_in.available.idle", reconcile_every=5)
    session.send_command("pause", {}, clock.now)
    sent(session)
    session.tick(clock.now + 5)
    assert sent(session) == []  # an answer on its way would race the snapshot


# --- bad input -----------------------------------------------------------------------------------


def test_malformed_frames_and_protocol_errors_are_counted_and_change_nothing() -> None:
    session, clock = logged_in("checked_in.available.idle")
    session.receive_data("{not json", clock.now)
    session.receive_data(json.dumps({"boom": True}), clock.now)
    assert session.stats["malformed"] == 1 and session.stats["protocol_errors"] == 1
    assert session.machine.state == "checked_in.available.idle" and session.events() == []
    feed(session, clock, {"signal": "ringing", "payload": {"call_id": "c1"}})
    assert session.machine.state == "checked_in.ringing"


def test_passthrough_hands_out_raw_messages_only_when_asked() -> None:
    session, clock = logged_in()
    feed(session, clock, {"hello": 1})
    assert session.events() == []
    session.passthrough = True
    feed(session, clock, {"hello": 2})
    assert session.events() == [Received({"hello": 2})]


# --- issue 11: what a drop leaves unknown, what cannot be sent, what is malformed ------------


def test_a_drop_says_whether_each_command_had_been_sent() -> None:
    session, clock = logged_in("checked_in.available.idle")
    sent_one = session.send_command("pause", {}, clock.now)
    queued = session.send_command("restore", {}, clock.now)
    sent(session)
    session.connection_lost("server went away")
    assert isinstance(sent_one.error, cti_fsm.Disconnected) and sent_one.error.sent
    assert "it had been sent, its outcome is unknown" in str(sent_one.error)
    assert isinstance(queued.error, cti_fsm.Disconnected) and not queued.error.sent
    assert "outcome is unknown" not in str(queued.error)


def test_arguments_the_wire_cannot_carry_are_refused_before_anything_is_sent() -> None:
    session, clock = logged_in("checked_in.available.idle")
    protocol: Any = session.protocol
    encode = protocol.encode

    def strict(message: dict[str, Any]) -> str:
        text = encode(message)
        if "\\ud800" in text:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return str(text)

    protocol.encode = strict
    with pytest.raises(cti_fsm.InvalidArguments, match="cannot be sent") as info:
        session.send_command("dial_out", {"number": "55\ud800"}, clock.now)
    assert info.value.command == "dial_out"
    assert sent(session) == [] and session.pending_commands() == ()
    # the session goes on: the next command is served
    session.send_command("pause", {}, clock.now)
    assert [m["op"] for m in sent(session)] == ["pause"]


def test_a_refused_snapshot_ends_the_resync_at_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    session = make()
    session.start(clock.now)
    [connect] = sent(session)
    feed(session, clock, {"answer": connect["id"], "ok": True}, {"signal": "logged_in"})
    [snapshot] = sent(session)
    feed(session, clock, {"answer": snapshot["id"], "ok": False, "reason": "unreadable"})
    assert session.ready  # not waited out
    assert "no usable snapshot (unreadable)" in caplog.text


def test_malformed_warnings_are_rate_limited_with_counts(caplog: pytest.LogCaptureFixture) -> None:
    session, clock = logged_in("checked_in.available.idle")
    for _ in range(1000):
        session.receive_data("{not json", clock.now)
    assert session.stats["malformed"] == 1000
    records = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(records) == 1
    session.receive_data("{not json", clock.now + 11)
    records = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(records) == 2 and "999 more like this" in records[-1].getMessage()


def test_a_refusal_of_kilobytes_is_clipped_in_the_error() -> None:
    session, clock = logged_in("checked_in.available.idle")
    ticket = session.send_command("pause", {}, clock.now)
    [pause] = sent(session)
    feed(session, clock, {"answer": pause["id"], "ok": False, "reason": "x" * 70_000})
    assert isinstance(ticket.error, cti_fsm.CommandFailed)
    assert len(str(ticket.error)) < 400
