"""The gateway's messages, sans-IO: events, state entries, command requests and replies
(errors rebuilt as the same exception), and what bad bytes give."""

from __future__ import annotations

import pytest

from cti_fsm import Busy, CommandFailed, IllegalCommand, InvalidArguments, Notification, Step
from cti_fsm.errors import CommandTimeout, CtiError, Disconnected, PermissionDenied
from cti_fsm.events import ChartCommand, TimerChange
from cti_fsm.gateway import wire
from cti_fsm.gateway.wire import Event, Snapshot, WireError
from cti_fsm.secrets import Secret

SNAP = Snapshot(
    "checked_in.talking", ("checked_in.talking", "checked_in.next.unchanged"), ("hold",)
)


def test_an_event_round_trips_with_its_snapshot_and_number() -> None:
    note = Notification("onCallIn", {"phone_number": "5550100", "call_id": None})
    event = Event("1001", 7, SNAP, note, "gw-a")
    back = wire.decode_event(wire.encode_event(event))
    assert back == event
    assert wire.message_id("1001", 7) == "1001:7"
    assert wire.event_subject("acme", "1001") == "cti.acme.agent.1001.evt"
    assert wire.command_subject("acme", "1001") == "cti.acme.agent.1001.cmd"


def test_a_state_entry_keeps_the_snapshot_and_stream_position_not_the_notification() -> None:
    event = Event("1001", 3, SNAP, Notification("onHold"), "gw-a", stream_seq=41)
    back = wire.decode_state(wire.encode_state(event))
    assert back.notification is None
    assert (back.seq, back.snapshot, back.stream_seq) == (3, SNAP, 41)


def test_a_secret_in_a_payload_goes_as_its_stand_in() -> None:
    event = Event("1001", 1, SNAP, Notification("onX", {"token": Secret("hunter2")}))
    data = wire.encode_event(event)
    assert b"hunter2" not in data and b"***" in data


@pytest.mark.parametrize(
    "error",
    [
        IllegalCommand(command="check_out", state="checked_in.talking", allowed=["hold", "hangup"]),
        PermissionDenied(command="barge_in", state="connected", missing=["supervise"], why="x"),
        InvalidArguments("unknown argument 'grp'", command="check_in", state="connected"),
        Busy(command="hold", state="checked_in.talking", waiting="hangup"),
        CommandFailed("hold", "invalid call state", "hold_failed"),
        CommandTimeout("hold", 5.0),
        Disconnected("link lost", command="hold"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_error_comes_back_as_the_same_exception(error: CtiError) -> None:
    reply = wire.decode_reply(wire.encode_error(error, seq=9))
    back = reply.error
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back) == vars(error)
    assert reply.seq == 9 and reply.step is None


def test_an_exception_not_of_the_library_comes_back_as_a_cti_error() -> None:
    back = wire.decode_reply(wire.encode_error(KeyError("x"))).error
    assert type(back) is CtiError and "x" in str(back)


def test_a_step_reply_round_trips() -> None:
    step = Step(
        "checked_in.talking",
        "checked_in.held",
        "held",
        (Notification("onHold", {"call_id": "c1"}),),
        {"call_id": "c1"},
        False,
        (TimerChange("t1", 3.0),),
        (ChartCommand("pause", {"reason": "x"}),),
    )
    reply = wire.decode_reply(wire.encode_step_reply(step, 12, SNAP))
    assert (reply.step, reply.seq, reply.snapshot, reply.error) == (step, 12, SNAP, None)
    assert wire.decode_reply(wire.encode_step_reply(None, 3, SNAP)).step is None


def test_a_command_request_round_trips_and_bad_ones_are_refused() -> None:
    assert wire.decode_command(wire.encode_command("check_in", {"group": "sales"})) == (
        "check_in",
        {"group": "sales"},
    )
    for bad in (b"", b"[1]", b'{"command": 3}', b'{"command": "x", "args": []}', b"\xff"):
        with pytest.raises(WireError):
            wire.decode_command(bad)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'"text"',
        b'{"agent": "1001"}',
        b'{"agent": "1001", "seq": true, "snapshot": {}}',
        b'{"agent": "1001", "seq": 1, "snapshot": {"state": 1}}',
        b'{"agent": "1001", "seq": 1, "snapshot": {"state": "a", "states": ["a"], "allowed": []},'
        b' "notification": {"payload": {}}}',
    ],
)
def test_a_malformed_event_is_a_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        wire.decode_event(data)
