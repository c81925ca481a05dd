"""``cti_fsm.simulator_control``: the table without I/O, request dict in, answer dict out,
over a demo switch and a recording stand-in for the simulator's server."""

from __future__ import annotations

from typing import Any

import pytest

from cti_fsm.simulator_control import OPERATIONS, SimulatorControl, parse_line
from cti_fsm.switch import Switch, demo_switch


class FakeServer:
    """Records the faults asked for; agent 1001 has one connection."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.sent = 0

    def drop_link(self, agent_id: str, *, abrupt: bool = True) -> int:
        self.calls.append(("drop_link", (agent_id, abrupt)))
        return 1 if agent_id == "1001" else 0

    def send_malformed(self, agent_id: str) -> int:
        self.calls.append(("malformed", agent_id))
        return 1 if agent_id == "1001" else 0

    def delay_next_event(self, agent_id: str, seconds: float) -> int:
        self.calls.append(("delay", (agent_id, seconds)))
        return 1 if agent_id == "1001" else 0

    def frames_from(self, agent_id: str) -> int:
        return self.sent

    def connected_agents(self) -> tuple[str, ...]:
        return ("1001",)


@pytest.fixture
def switch() -> Switch:
    sw = demo_switch()
    sw.login("1001", "pw1001")
    sw.check_in("1001", ["sales"])
    return sw


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def control(switch: Switch, server: FakeServer) -> SimulatorControl:
    return SimulatorControl(switch, server)


def test_a_call_for_a_group_rings_its_free_agent_then_the_customer_hangs_up(
    control: SimulatorControl, switch: Switch
) -> None:
    answer = control.handle({"op": "call", "group": "sales", "caller": "5550100"})
    assert answer == {"ok": True, "op": "call", "call": "c1", "ringing": "1001", "queued": False}
    assert switch.situation("1001") == "ringing"
    assert switch.call("c1").calling == "5550100"
    switch.answer("1001")
    hung = control.handle({"op": "hangup", "agent": "1001"})
    assert hung["ok"] and hung["call"] == "c1" and "LegCleared" in hung["events"]
    assert switch.situation("1001") == "ready"


def test_a_call_nobody_can_take_is_queued_and_a_direct_call_rings_the_agent(
    control: SimulatorControl, switch: Switch
) -> None:
    queued = control.handle({"op": "call", "group": "support"})
    assert queued["ok"] and queued["queued"] and queued["ringing"] is None
    direct = control.handle({"op": "call", "agent": "8001", "id": "mine"})
    assert direct == {"ok": True, "op": "call", "call": "mine", "ringing": "1001", "queued": False}
    assert switch.call("mine").group is None
    # the agent not logged in cannot ring: the caller hears busy, nothing is left behind
    busy = control.handle({"op": "call", "agent": "1002"})
    assert busy["ok"] and busy["failed"] == "busy"
    assert busy["call"] not in {c.call for c in switch.calls()}


def test_outbound_far_end_answers_and_the_consulted_party_is_driven_by_agent(
    control: SimulatorControl, switch: Switch
) -> None:
    switch.dial("1001", "5550199")
    call = switch.call_of("1001")
    assert control.handle({"op": "answer", "call": call})["ok"]
    assert switch.situation("1001") == "talking"
    switch.consult("1001", "5550200")
    assert control.handle({"op": "third_party_answers", "agent": "1001"})["ok"]
    refused = control.handle({"op": "third_party_answers", "agent": "1001"})
    assert refused["ok"] is False and refused["error"] == "invalid_call_state"
    assert control.handle({"op": "third_party_hangs_up", "agent": "1001"})["ok"]


@pytest.mark.parametrize(
    ("request_", "error", "says"),
    [
        ({"op": "dial"}, "unknown_op", "no operation 'dial'; known: call, answer"),
        ({}, "unknown_op", "no operation None"),
        ({"op": "call"}, "bad_request", "give exactly one of 'group' or 'agent'"),
        ({"op": "call", "group": "sales", "agent": "1001"}, "bad_request", "exactly one"),
        ({"op": "call", "group": "sales", "colour": "red"}, "bad_request", "'colour'"),
        ({"op": "call", "group": 7}, "bad_request", "'group' must be a non-empty string"),
        ({"op": "call", "group": "nope"}, "unknown_group", "no group 'nope'"),
        ({"op": "hangup", "call": "c9"}, "unknown_call", "c9"),
        ({"op": "hangup", "agent": "1001"}, "no_call_to_clear", "has no call"),
        ({"op": "drop_link"}, "bad_request", "parameter 'agent' is required"),
        ({"op": "drop_link", "agent": "1002"}, "not_connected", "no connection"),
        ({"op": "drop_link", "agent": "1001", "abrupt": "maybe"}, "bad_request", "true or false"),
        ({"op": "delay", "agent": "1001", "seconds": "-1"}, "bad_request", "from 0 to 3600"),
        ({"op": "state", "agent": "7777"}, "unknown_agent", "7777"),
    ],
)
def test_refusals_name_what_was_wrong_and_change_nothing(
    control: SimulatorControl, switch: Switch, request_: dict[str, Any], error: str, says: str
) -> None:
    before = (switch.calls(), switch.agent_info("1001"))
    answer = control.handle(request_)
    assert answer["ok"] is False
    assert answer["error"] == error
    assert says in answer["message"]
    assert (switch.calls(), switch.agent_info("1001")) == before


def test_faults_and_queries_go_to_the_server(control: SimulatorControl, server: FakeServer) -> None:
    assert control.handle({"op": "drop_link", "agent": "1001", "abrupt": "false"})["ok"]
    assert control.handle({"op": "malformed", "agent": "1001"})["connections"] == 1
    assert control.handle({"op": "delay", "agent": "1001", "seconds": "2.5"})["seconds"] == 2.5
    assert server.calls == [
        ("drop_link", ("1001", False)),
        ("malformed", "1001"),
        ("delay", ("1001", 2.5)),
    ]
    server.sent = 7
    assert control.handle({"op": "received", "agent": "1001"})["frames"] == 7
    state = control.handle({"op": "state", "agent": "1001"})
    assert state["chart_state"] == "checked_in.available.idle"
    assert state["connected"] is True and state["checked_in"] == ["sales"]


def test_without_a_server_faults_are_unavailable(switch: Switch) -> None:
    bare = SimulatorControl(switch)
    answer = bare.handle({"op": "drop_link", "agent": "1001"})
    assert answer["error"] == "unavailable"
    assert bare.handle({"op": "call", "group": "sales"})["ok"]


def test_help_lists_every_operation_with_its_usage(control: SimulatorControl) -> None:
    listed = control.handle({"op": "help"})["operations"]
    assert [o["op"] for o in listed] == list(OPERATIONS)
    call = listed[0]
    assert call["usage"] == "call group=GROUP|agent=AGENT [caller=CALLER] [id=ID]"


def test_lines_are_words_or_json() -> None:
    assert parse_line("call group=sales caller=555\n") == {
        "op": "call",
        "group": "sales",
        "caller": "555",
    }
    assert parse_line('{"op": "calls"}') == {"op": "calls"}
    for bad, says in [
        ("", "empty line"),
        ("call sales", "'sales': parameters are written key=value"),
        ("{nope", "not JSON"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_line(bad)
