"""The csta-ws protocol, sans-IO: every chart command becomes the right ECMA-269 request,
every mapped event the right signal, responses become answers, snapshots chart states."""

from __future__ import annotations

from typing import Any

import pytest
from cti_fsm_csta_ws import adapter
from cti_fsm_csta_ws.protocol import CstaProtocol, error_reason

import cti_fsm
from cti_fsm.adapter import Answer, Malformed, Signal, Snapshot
from cti_fsm.errors import Unsupported
from cti_fsm.vendor_map import MissingContext

ME, OTHER, CUSTOMER = "8001", "8002", "13800000001"


def cid(call: str, device: str) -> dict[str, str]:
    return {"callID": call, "deviceID": device}


def event(name: str, **params: Any) -> dict[str, Any]:
    return {"type": "event", "event": name, "monitorCrossRefId": "monitor-1", "params": params}


def fresh() -> CstaProtocol:
    return adapter.protocol(user="1001", options={})


@pytest.fixture
def proto() -> CstaProtocol:
    """A protocol whose login succeeded: it knows its device and session."""
    p = fresh()
    p.encode_command("connect", {"user": "1001", "password": "s3cret-pw", "url": "ws://x/"}, 1)
    out = p.receive(
        {"type": "response", "invokeId": 1, "result": {"sessionID": "s-1", "device": ME}}
    )
    assert out == [Signal("logged_in", request_id=1)]
    return p


# --- commands ------------------------------------------------------------------------------
# command -> (args, (call, consultation) before, service, params)
COMMANDS: dict[str, tuple[dict[str, Any], tuple[str | None, str | None], str, dict[str, Any]]] = {
    "connect": (
        {"user": "1001", "password": "pw", "url": "ws://x/"},
        (None, None),
        "StartApplicationSession",
        {
            "applicationInfo": {
                "applicationID": "cti-fsm",
                "applicationSpecificInfo": {"userID": "1001", "password": "pw"},
            },
            "requestedProtocolVersions": ["csta-json-1"],
        },
    ),
    "disconnect": (
        {},
        (None, None),
        "StopApplicationSession",
        {"sessionID": "s-1", "sessionEndReason": {"appEndReason": "normal"}},
    ),
    "check_in": (
        {"group_ids": "sales, support"},
        (None, None),
        "SetAgentState",
        {
            "device": ME,
            "agentID": "1001",
            "requestedAgentState": "loggedOn",
            "agentGroup": ["sales", "support"],
        },
    ),
    "check_out": (
        {},
        (None, None),
        "SetAgentState",
        {"device": ME, "agentID": "1001", "requestedAgentState": "loggedOff"},
    ),
    "pause": (
        {"reason": "lunch"},
        (None, None),
        "SetAgentState",
        {"device": ME, "agentID": "1001", "requestedAgentState": "notReady", "reasonCode": "lunch"},
    ),
    "restore": (
        {"agent_id": "1002"},
        (None, None),
        "SetAgentState",
        {"agentID": "1002", "requestedAgentState": "ready"},
    ),
    "finish_wrap_up": (
        {},
        (None, None),
        "SetAgentState",
        {
            "device": ME,
            "agentID": "1001",
            "requestedAgentState": "ready",
            "privateData": {"endWrapUp": True},
        },
    ),
    "dial_out": (
        {"number": "13900000000"},
        (None, None),
        "MakeCall",
        {"callingDevice": ME, "calledDirectoryNumber": "13900000000"},
    ),
    "answer": ({}, ("c1", None), "AnswerCall", {"callToBeAnswered": cid("c1", ME)}),
    "hangup": ({}, ("c1", None), "ClearConnection", {"connectionToBeCleared": cid("c1", ME)}),
    "hold": ({}, ("c1", None), "HoldCall", {"callToBeHeld": cid("c1", ME)}),
    "retrieve": ({}, ("c1", None), "RetrieveCall", {"callToBeRetrieved": cid("c1", ME)}),
    "send_dtmf": (
        {"digits": "2"},
        ("c1", "c2"),
        "GenerateDigits",
        {"connectionToSendDigits": cid("c2", ME), "charactersToSend": "2"},
    ),
    "transfer": (
        {"target": "support"},
        ("c1", None),
        "SingleStepTransfer",
        {"activeCall": cid("c1", ME), "transferredTo": "support"},
    ),
    "consult": (
        {"target": "1002"},
        ("c1", None),
        "ConsultationCall",
        {"existingCall": cid("c1", ME), "consultedDevice": "1002"},
    ),
    "cancel_consult": (
        {},
        ("c1", "c2"),
        "ReconnectCall",
        {"heldCall": cid("c1", ME), "activeCall": cid("c2", ME)},
    ),
    "complete_transfer": (
        {},
        ("c1", "c2"),
        "TransferCall",
        {"heldCall": cid("c1", ME), "activeCall": cid("c2", ME)},
    ),
    "conference": (
        {},
        ("c1", "c2"),
        "ConferenceCall",
        {"heldCall": cid("c1", ME), "activeCall": cid("c2", ME)},
    ),
    "listen": (
        {"agent_id": "1002"},
        (None, None),
        "SingleStepConferenceCall",
        {"agentID": "1002", "deviceToJoin": ME, "participationType": "silent"},
    ),
    "join_talk": (
        {"agent_id": "1002"},
        ("c1", None),
        "IntrudeCall",
        {"callToBeIntruded": cid("c1", ME), "agentID": "1002", "participationType": "active"},
    ),
    "disconnect_call": (
        {"agent_id": "1002"},
        ("c1", None),
        "Escape",
        {
            "privateData": {
                "request": "TakeOverCall",
                "callID": "c1",
                "device": ME,
                "agentID": "1002",
            }
        },
    ),
    "logout_agent": (
        {"agent_id": "1002"},
        (None, None),
        "SetAgentState",
        {"agentID": "1002", "requestedAgentState": "loggedOff"},
    ),
    "get_transfer_groups": (
        {},
        (None, None),
        "Escape",
        {"privateData": {"request": "GetTransferGroups"}},
    ),
    "get_agent_groups": (
        {},
        (None, None),
        "Escape",
        {"privateData": {"request": "GetAgentGroups", "agentID": "1001"}},
    ),
    "get_all_agents": ({}, (None, None), "Escape", {"privateData": {"request": "GetAllAgents"}}),
    "get_rights": (
        {},
        (None, None),
        "Escape",
        {"privateData": {"request": "GetAgentRights", "agentID": "1001"}},
    ),
}


def test_every_chart_command_is_covered_here() -> None:
    chart = cti_fsm.default_chart()
    local = {name for name, spec in chart.commands.items() if spec.local}
    assert local == {"set_next_state"}  # the chart moves itself: no request to write
    assert set(COMMANDS) == set(chart.commands) - local
    assert adapter.unsupported == frozenset()
    with pytest.raises(Unsupported):
        fresh().encode_command("set_next_state", {"next": "ready"}, 3)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_becomes_its_request(proto: CstaProtocol, command: str) -> None:
    args, (call, consult), service, params = COMMANDS[command]
    proto.call_id, proto.consult_call_id = call, consult
    messages = proto.encode_command(command, args, 7)
    assert messages[-1] == {"type": "request", "invokeId": 7, "service": service, "params": params}
    assert len(messages) == 1


def test_own_pause_without_reason_leaves_the_key_out(proto: CstaProtocol) -> None:
    [message] = proto.encode_command("pause", {}, 3)
    assert message["params"] == {"device": ME, "agentID": "1001", "requestedAgentState": "notReady"}


def test_check_in_accepts_a_list(proto: CstaProtocol) -> None:
    [message] = proto.encode_command("check_in", {"group_ids": ("sales",)}, 3)
    assert message["params"]["agentGroup"] == ["sales"]


def test_hangup_while_consulting_clears_the_consultation_first(proto: CstaProtocol) -> None:
    proto.call_id, proto.consult_call_id = "c1", "c2"
    first, second = proto.encode_command("hangup", {}, 9)
    assert first["service"] == second["service"] == "ClearConnection"
    assert first["params"]["connectionToBeCleared"] == cid("c2", ME)
    assert second == {
        "type": "request",
        "invokeId": 9,
        "service": "ClearConnection",
        "params": {"connectionToBeCleared": cid("c1", ME)},
    }
    # the auxiliary request's answer is the adapter's own business
    assert proto.receive({"type": "response", "invokeId": first["invokeId"], "result": {}}) == []
    assert proto.receive({"type": "response", "invokeId": 9, "result": {}}) == [Answer(9, True)]


def test_a_command_needing_a_call_is_refused_without_one(proto: CstaProtocol) -> None:
    with pytest.raises(MissingContext, match="call_id"):
        proto.encode_command("hold", {}, 3)
    with pytest.raises(MissingContext, match="consult_call_id"):
        proto.call_id = "c1"
        proto.encode_command("complete_transfer", {}, 4)


def test_unknown_command_is_unsupported(proto: CstaProtocol) -> None:
    with pytest.raises(Unsupported, match="csta-ws"):
        proto.encode_command("teleport", {}, 3)


def test_options(proto: CstaProtocol) -> None:
    with pytest.raises(ValueError, match="unknown csta-ws options"):
        adapter.protocol(user="1001", options={"colour": "red"})
    p = adapter.protocol(user="1001", options={"application_id": "crm", "max_frame": 10})
    [login] = p.encode_command("connect", {"user": "1001", "password": "x", "url": "u"}, 1)
    assert login["params"]["applicationInfo"]["applicationID"] == "crm"
    assert p.codec.feed("x" * 11)[0].reason.startswith("frame of 11")  # type: ignore[union-attr]


def test_the_password_is_kept_nowhere(proto: CstaProtocol) -> None:
    p = fresh()
    p.encode_command("connect", {"user": "1001", "password": "s3cret-pw", "url": "ws://x/"}, 1)
    assert "s3cret-pw" not in repr(p)
    assert "s3cret-pw" not in repr(vars(p))
    assert "s3cret-pw" not in repr(proto) + repr(vars(proto))


# --- answers --------------------------------------------------------------------------------
def test_error_response_is_a_failed_answer_only(proto: CstaProtocol) -> None:
    proto.call_id = "c1"
    proto.encode_command("hold", {}, 5)
    error = {"category": "stateIncompatibility", "value": "noActiveCall", "message": "no call"}
    out = proto.receive({"type": "error", "invokeId": 5, "error": error})
    assert out == [Answer(5, False, "stateIncompatibility.noActiveCall: no call")]


def test_login_refused(proto: CstaProtocol) -> None:
    p = fresh()
    p.encode_command("connect", {"user": "1001", "password": "bad", "url": "u"}, 1)
    error = {"category": "operation", "value": "invalidAgentPassword"}
    assert p.receive({"type": "error", "invokeId": 1, "error": error}) == [
        Answer(1, False, "operation.invalidAgentPassword")
    ]
    assert p.device is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ({"category": "security", "value": "generic"}, "security.generic"),
        ({"category": "unspecified"}, "unspecified"),
        ("not an object", "unspecified"),
        (None, "unspecified"),
    ],
)
def test_error_reasons(error: Any, reason: str) -> None:
    assert error_reason(error) == reason


@pytest.mark.parametrize(
    ("command", "result", "signal", "payload"),
    [
        (
            "get_transfer_groups",
            {"groups": [{"id": "sales", "dtmf": "1"}]},
            "transfer_groups",
            {"groups": [{"id": "sales", "dtmf": "1"}]},
        ),
        ("get_agent_groups", {"groups": []}, "agent_groups", {"groups": []}),
        (
            "get_all_agents",
            {"agents": [{"agentID": "1"}]},
            "all_agents",
            {"agents": [{"agentID": "1"}]},
        ),
        ("get_rights", {"rights": ["supervisor"]}, "agent_rights", {"rights": ["supervisor"]}),
        ("send_dtmf", {}, "dtmf_sent", {"digits": "5#"}),
        ("logout_agent", {}, "agent_logged_out", {"agent_id": "1002"}),
        ("disconnect", {}, "logged_out", {"reason": "logged out"}),
    ],
)
def test_commands_confirmed_by_their_response(
    proto: CstaProtocol, command: str, result: dict[str, Any], signal: str, payload: dict[str, Any]
) -> None:
    args = {"send_dtmf": {"digits": "5#"}, "logout_agent": {"agent_id": "1002"}}.get(command, {})
    proto.call_id = "c1"
    proto.encode_command(command, args, 11)
    # one value answers the request: its confirming signal, carrying the request id
    [confirm] = proto.receive({"type": "response", "invokeId": 11, "result": result})
    assert confirm == Signal(signal, payload, request_id=11)


def test_pause_of_another_agent_is_confirmed_by_the_response_own_by_the_event(
    proto: CstaProtocol,
) -> None:
    proto.encode_command("pause", {"agent_id": "1002", "reason": "coaching"}, 4)
    assert proto.receive({"type": "response", "invokeId": 4, "result": {}}) == [
        Signal("agent_paused", {"agent_id": "1002", "reason": "coaching"}, request_id=4),
    ]
    proto.encode_command("pause", {"reason": "lunch"}, 5)
    assert proto.receive({"type": "response", "invokeId": 5, "result": {}}) == [Answer(5, True)]
    proto.encode_command("restore", {"agent_id": "1002"}, 6)
    assert proto.receive({"type": "response", "invokeId": 6}) == [
        Signal("agent_restored", {"agent_id": "1002"}, request_id=6)
    ]


def test_duplicate_and_unknown_responses(proto: CstaProtocol) -> None:
    proto.encode_command("get_rights", {}, 8)
    response = {"type": "response", "invokeId": 8, "result": {"rights": []}}
    assert proto.receive(response) == [Signal("agent_rights", {"rights": []}, request_id=8)]
    # the same response again: an answer nobody waits for, and no second signal
    assert proto.receive(response) == [Answer(8, True, "", {"rights": []})]
    assert proto.receive({"type": "response", "invokeId": "x-1"}) == []
    assert proto.receive({"type": "response"}) == []
    assert proto.receive({"type": "nonsense"}) == []
    assert proto.receive({}) == []


# --- events ---------------------------------------------------------------------------------
# (call, consultation) before -> event -> signal and payload (None: no signal)
EVENTS: list[tuple[tuple[str | None, str | None], dict[str, Any], Signal | None]] = [
    (
        (None, None),
        event("agentLoggedOn", agentDevice=ME, agentID="1001", agentGroup=["sales"]),
        Signal("checked_in", {"group_ids": ["sales"]}),
    ),
    ((None, None), event("agentLoggedOn", agentDevice=OTHER, agentID="1002"), None),
    (
        (None, None),
        event("agentLoggedOff", agentDevice=ME, agentID="1001", cause="forcedTransition"),
        Signal("checked_out", {"message": "forcedTransition"}),
    ),
    (
        (None, None),
        event("agentNotReady", agentDevice=ME, agentID="1001", reasonCode="7"),
        Signal("paused", {"reason": "7", "agent_id": "1001"}),
    ),
    (
        (None, None),
        event("agentWorkingAfterCall", agentDevice=ME, agentID="1001"),
        Signal("wrap_up_started", {}),
    ),
    (
        (None, None),
        event(
            "agentWorkingAfterCall",
            agentDevice=ME,
            agentID="1001",
            privateData={"wrapUpTime": 30},
        ),
        Signal("wrap_up_started", {"wrap_up_seconds": 30}),
    ),
    ((None, None), event("agentWorkingAfterCall", agentDevice=OTHER, agentID="1002"), None),
    (
        ("c1", None),
        event(
            "diverted",
            connection=cid("c1", ME),
            divertingDevice=ME,
            localConnectionInfo="null",
            cause="callNotAnswered",
        ),
        Signal("ring_no_answer", {"call_id": "c1", "reason": "callNotAnswered"}),
    ),
    (
        ("c1", None),
        event(
            "diverted", connection=cid("c1", OTHER), divertingDevice=OTHER, cause="callNotAnswered"
        ),
        None,
    ),
    (
        (None, None),
        event("agentReady", agentDevice=ME, agentID="1001"),
        Signal("restored", {"agent_id": "1001"}),
    ),
    (
        (None, None),
        event("serviceInitiated", initiatedConnection=cid("c1", ME), initiatingDevice=ME),
        None,
    ),
    (
        ("c1", None),
        event(
            "originated",
            originatedConnection=cid("c1", ME),
            callingDevice=ME,
            calledDevice="139",
            cause="makeCall",
        ),
        Signal("dialing", {"call_id": "c1", "phone_number": "139"}),
    ),
    (
        ("c1", "c2"),
        event(
            "originated",
            originatedConnection=cid("c2", ME),
            callingDevice=ME,
            calledDevice=OTHER,
            cause="consultation",
        ),
        Signal("consult_started", {"call_id": "c2", "target": OTHER}),
    ),
    (
        (None, None),
        event(
            "delivered",
            connection=cid("c1", ME),
            alertingDevice=ME,
            callingDevice=CUSTOMER,
            calledDevice="sales",
            cause="distributed",
        ),
        Signal("ringing", {"call_id": "c1", "phone_number": CUSTOMER, "agent_id": "1001"}),
    ),
    (
        ("c1", None),
        event(
            "delivered",
            connection=cid("c1", "139"),
            alertingDevice="139",
            callingDevice=ME,
            calledDevice="139",
        ),
        Signal("remote_ringing", {"call_id": "c1", "phone_number": "139"}),
    ),
    (
        ("c1", "c2"),
        event("delivered", connection=cid("c2", OTHER), alertingDevice=OTHER, callingDevice=ME),
        None,
    ),
    (
        ("c1", None),
        event(
            "established",
            establishedConnection=cid("c1", ME),
            answeringDevice=ME,
            callingDevice=CUSTOMER,
            calledDevice="sales",
        ),
        Signal("answered", {"call_id": "c1", "phone_number": CUSTOMER}),
    ),
    (
        ("c1", None),
        event(
            "established",
            establishedConnection=cid("c1", "139"),
            answeringDevice="139",
            callingDevice=ME,
            calledDevice="139",
        ),
        Signal("answered", {"call_id": "c1", "phone_number": "139"}),
    ),
    (
        ("c1", "c2"),
        event("established", establishedConnection=cid("c2", OTHER), answeringDevice=OTHER),
        Signal("consult_answered", {"call_id": "c2", "target": OTHER}),
    ),
    (
        ("c1", None),
        event("failed", failedConnection=cid("c1", "139"), failingDevice="139", cause="busy"),
        Signal("dial_failed", {"call_id": "c1", "reason": "busy"}),
    ),
    (
        ("c1", "c2"),
        event("failed", failedConnection=cid("c2", OTHER), failingDevice=OTHER, cause="busy"),
        Signal("consult_failed", {"message": "busy"}),
    ),
    (
        ("c1", None),
        event("held", heldConnection=cid("c1", ME), holdingDevice=ME),
        Signal("held", {"call_id": "c1"}),
    ),
    (
        ("c1", None),
        event("held", heldConnection=cid("c1", ME), holdingDevice=ME, cause="consultation"),
        None,
    ),
    (("c1", None), event("held", heldConnection=cid("c1", OTHER), holdingDevice=OTHER), None),
    (
        ("c1", None),
        event("retrieved", retrievedConnection=cid("c1", ME), retrievingDevice=ME),
        Signal("retrieved", {"call_id": "c1"}),
    ),
    (
        ("c1", None),
        event(
            "connectionCleared",
            droppedConnection=cid("c1", ME),
            releasingDevice=ME,
            cause="normalClearing",
        ),
        Signal("hung_up", {"call_id": "c1", "reason": "normalClearing"}),
    ),
    (
        ("c1", None),
        event(
            "connectionCleared",
            droppedConnection=cid("c1", CUSTOMER),
            releasingDevice=CUSTOMER,
            cause="normalClearing",
        ),
        Signal("party_left", {"call_id": "c1"}),
    ),
    (
        (None, None),
        event("connectionCleared", droppedConnection=cid("c9", ME), releasingDevice=ME),
        None,
    ),
    (
        ("c1", None),
        event(
            "connectionCleared",
            droppedConnection=cid("c1", OTHER),
            releasingDevice=OTHER,
            cause="takeOver",
        ),
        Signal("took_over", {"call_id": "c1"}),
    ),
    (
        ("c1", None),
        event(
            "connectionCleared",
            droppedConnection=cid("c1", ME),
            releasingDevice=ME,
            cause="takeOver",
        ),
        Signal("hung_up", {"call_id": "c1", "reason": "takeOver"}),
    ),
    (
        ("c1", "c2"),
        event("connectionCleared", droppedConnection=cid("c2", ME), releasingDevice=ME),
        Signal("consult_ended", {"call_id": "c2"}),
    ),
    (
        ("c1", "c2"),
        event(
            "connectionCleared",
            droppedConnection=cid("c2", OTHER),
            releasingDevice=OTHER,
            cause="normalClearing",
        ),
        Signal("consult_failed", {"message": "normalClearing"}),
    ),
    (
        ("c1", None),
        event(
            "transferred",
            primaryOldCall=cid("c1", ME),
            transferringDevice=ME,
            transferredToDevice="support",
        ),
        Signal("transferred", {"call_id": "c1", "target": "support"}),
    ),
    (
        ("c2", None),
        event(
            "transferred",
            primaryOldCall=cid("c1", OTHER),
            transferringDevice=OTHER,
            transferredToDevice=ME,
        ),
        None,
    ),
    (
        ("c1", "c2"),
        event(
            "conferenced",
            primaryOldCall=cid("c1", ME),
            conferencingDevice=ME,
            addedParty=OTHER,
            cause="conference",
        ),
        Signal("conferenced", {"call_id": "c1"}),
    ),
    (
        (None, None),
        event(
            "conferenced",
            primaryOldCall=cid("c5", ME),
            conferencingDevice=ME,
            addedParty=ME,
            cause="silentParticipation",
        ),
        Signal("listen_started", {"call_id": "c5"}),
    ),
    (
        ("c5", None),
        event(
            "conferenced",
            primaryOldCall=cid("c5", "8901"),
            conferencingDevice="8901",
            addedParty="8901",
            cause="silentParticipation",
        ),
        None,
    ),
    (
        ("c5", None),
        event(
            "conferenced",
            primaryOldCall=cid("c5", "8901"),
            conferencingDevice="8901",
            addedParty="8901",
            cause="intrude",
        ),
        Signal("conferenced", {"call_id": "c5"}),
    ),
    ((None, None), event("privateEvent", privateData={"x": 1}), None),
]


@pytest.mark.parametrize(("before", "message", "expected"), EVENTS)
def test_event_becomes_its_signal(
    proto: CstaProtocol,
    before: tuple[str | None, str | None],
    message: dict[str, Any],
    expected: Signal | None,
) -> None:
    proto.call_id, proto.consult_call_id = before
    assert proto.receive(message) == ([expected] if expected else [])


def test_every_mapped_signal_is_exercised_above() -> None:
    mapped = {rule.signal for rule in adapter.vendor_map.rules}
    from_events = {s.name for _, _, s in EVENTS if s is not None}
    from_responses = {
        "logged_in",
        "logged_out",
        "dtmf_sent",
        "agent_paused",
        "agent_restored",
        "agent_logged_out",
        "transfer_groups",
        "agent_groups",
        "all_agents",
        "agent_rights",
        "wrap_up_ended",
    }
    assert mapped == from_events | from_responses


def test_events_before_login_mean_nothing() -> None:
    p = fresh()
    assert p.receive(event("agentReady", agentDevice=ME, agentID="1001")) == []
    assert p.receive(event("delivered", connection=cid("c1", ME), alertingDevice=ME)) == []
    assert p.call_id is None


# --- following calls ---------------------------------------------------------------------------
def test_follows_an_inbound_call(proto: CstaProtocol) -> None:
    proto.receive(event("delivered", connection=cid("c1", ME), alertingDevice=ME))
    assert proto.call_id == "c1"
    proto.receive(event("established", establishedConnection=cid("c1", ME), answeringDevice=ME))
    assert proto.call_id == "c1" and proto.consult_call_id is None
    proto.receive(event("connectionCleared", droppedConnection=cid("c1", ME), releasingDevice=ME))
    assert proto.call_id is None


def test_a_call_diverted_away_is_no_longer_followed(proto: CstaProtocol) -> None:
    proto.receive(event("delivered", connection=cid("c1", ME), alertingDevice=ME))
    assert proto.call_id == "c1"
    proto.receive(
        event("diverted", connection=cid("c1", ME), divertingDevice=ME, cause="callNotAnswered")
    )
    assert proto.call_id is None


def test_finish_wrap_up_is_confirmed_by_its_response(proto: CstaProtocol) -> None:
    proto.encode_command("finish_wrap_up", {}, 12)
    assert proto.receive({"type": "response", "invokeId": 12, "result": {}}) == [
        Signal("wrap_up_ended", {}, request_id=12)
    ]


def test_follows_a_consultation_transfer_and_conference(proto: CstaProtocol) -> None:
    proto.call_id = "c1"
    proto.receive(event("serviceInitiated", initiatedConnection=cid("c2", ME), initiatingDevice=ME))
    assert proto.consult_call_id == "c2"
    # the consulted party hangs up: the consultation is over
    proto.receive(
        event("connectionCleared", droppedConnection=cid("c2", OTHER), releasingDevice=OTHER)
    )
    assert proto.consult_call_id is None
    # my own leg of it clearing afterwards is no hang-up of my call
    assert (
        proto.receive(
            event("connectionCleared", droppedConnection=cid("c2", ME), releasingDevice=ME)
        )
        == []
    )
    assert proto.call_id == "c1"
    proto.receive(event("serviceInitiated", initiatedConnection=cid("c3", ME), initiatingDevice=ME))
    proto.receive(
        event(
            "conferenced",
            primaryOldCall=cid("c1", ME),
            secondaryOldCall=cid("c3", ME),
            conferenceConnections=[cid("c1", CUSTOMER), cid("c1", ME), cid("c1", OTHER)],
            cause="conference",
        )
    )
    assert (proto.call_id, proto.consult_call_id) == ("c1", None)
    proto.receive(
        event(
            "transferred",
            primaryOldCall=cid("c1", ME),
            transferringDevice=ME,
            transferredToDevice=OTHER,
        )
    )
    assert (proto.call_id, proto.consult_call_id) == (None, None)


def test_the_consulted_agent_follows_the_call_it_is_transferred_into() -> None:
    p = adapter.protocol(user="1002", options={})
    p.encode_command("connect", {"user": "1002", "password": "x", "url": "u"}, 1)
    p.receive({"type": "response", "invokeId": 1, "result": {"device": OTHER}})
    p.receive(event("delivered", connection=cid("c2", OTHER), alertingDevice=OTHER))
    assert p.call_id == "c2"
    p.receive(
        event(
            "transferred",
            primaryOldCall=cid("c1", ME),
            secondaryOldCall=cid("c2", ME),
            transferringDevice=ME,
            transferredToDevice=OTHER,
            transferredConnections=[
                {"oldConnection": cid("c2", OTHER), "newConnection": cid("c1", OTHER)}
            ],
        )
    )
    assert p.call_id == "c1"


# --- snapshots ----------------------------------------------------------------------------------
def snapshot_result(
    state: str = "agentReady", calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "device": ME,
        "agentState": {"agentID": "1001", "state": state, "agentGroup": ["sales"]},
        "snapshotData": calls or [],
    }


def snap_call(
    call: str,
    local: str,
    others: list[tuple[str, str]],
    *,
    silent: bool = False,
    consultation_of: str | None = None,
) -> dict[str, Any]:
    endpoints = [
        {"deviceID": d, "connectionState": s, "participation": "active"} for d, s in others
    ]
    endpoints.append(
        {
            "deviceID": ME,
            "connectionState": local,
            "participation": "silent" if silent else "active",
        }
    )
    return {
        "connectionIdentifier": cid(call, ME),
        "localConnectionState": local,
        "participation": "silent" if silent else "active",
        "consultationOf": consultation_of,
        "endpoints": endpoints,
    }


@pytest.mark.parametrize(
    ("agent_state", "calls", "state", "call", "consult"),
    [
        ("agentNull", [], "connected", None, None),
        ("agentReady", [], "checked_in.available.idle", None, None),
        ("agentNotReady", [], "checked_in.available.paused", None, None),
        (
            "agentReady",
            [snap_call("c1", "alerting", [(CUSTOMER, "connected")])],
            "checked_in.ringing",
            "c1",
            None,
        ),
        (
            "agentReady",
            [snap_call("c1", "connected", [("139", "alerting")])],
            "checked_in.dialing",
            "c1",
            None,
        ),
        ("agentNotReady", [snap_call("c1", "initiated", [])], "checked_in.dialing", "c1", None),
        (
            "agentReady",
            [snap_call("c1", "connected", [(CUSTOMER, "connected")])],
            "checked_in.talking",
            "c1",
            None,
        ),
        (
            "agentReady",
            [snap_call("c1", "hold", [(CUSTOMER, "connected")])],
            "checked_in.held",
            "c1",
            None,
        ),
        (
            "agentReady",
            [
                snap_call("c1", "hold", [(CUSTOMER, "connected")]),
                snap_call("c2", "connected", [(OTHER, "alerting")], consultation_of="c1"),
            ],
            "checked_in.consulting.consult_ringing",
            "c1",
            "c2",
        ),
        (
            "agentReady",
            [
                snap_call("c1", "hold", [(CUSTOMER, "connected")]),
                snap_call("c2", "connected", [(OTHER, "connected")], consultation_of="c1"),
            ],
            "checked_in.consulting.consult_talking",
            "c1",
            "c2",
        ),
        ("agentWorkingAfterCall", [], "checked_in.wrap_up", None, None),
        (
            "agentReady",
            [snap_call("c1", "connected", [(CUSTOMER, "connected"), (OTHER, "connected")])],
            "checked_in.three_party",
            "c1",
            None,
        ),
        (
            "agentReady",
            [
                snap_call(
                    "c1", "connected", [(CUSTOMER, "connected"), (OTHER, "connected")], silent=True
                )
            ],
            "checked_in.listening",
            "c1",
            None,
        ),
    ],
)
def test_snapshot_becomes_a_chart_state(
    proto: CstaProtocol,
    agent_state: str,
    calls: list[dict[str, Any]],
    state: str,
    call: str | None,
    consult: str | None,
) -> None:
    [request] = proto.snapshot_request(20)
    assert request == {
        "type": "request",
        "invokeId": 20,
        "service": "SnapshotDevice",
        "params": {"snapshotObject": ME},
    }
    [snapshot] = proto.receive(
        {"type": "response", "invokeId": 20, "result": snapshot_result(agent_state, calls)}
    )
    assert isinstance(snapshot, Snapshot) and snapshot.request_id == 20
    assert cti_fsm.default_chart().resolve(snapshot.state) == state
    assert snapshot.payload.get("call_id") == call
    assert snapshot.payload.get("consult_call_id") == consult
    assert snapshot.payload["agent_state"] == agent_state
    # the protocol follows the calls the snapshot reported
    assert (proto.call_id, proto.consult_call_id) == (call, consult)


def test_snapshot_payload_says_where_a_call_returns_to(proto: CstaProtocol) -> None:
    proto.snapshot_request(3)
    [snapshot] = proto.receive(
        {
            "type": "response",
            "invokeId": 3,
            "result": snapshot_result(
                "agentNotReady", [snap_call("c1", "connected", [(CUSTOMER, "connected")])]
            ),
        }
    )
    assert isinstance(snapshot, Snapshot)
    assert snapshot.payload["availability"] == "checked_in.available.paused"
    assert snapshot.payload["phone_number"] == CUSTOMER
    assert snapshot.payload["group_ids"] == ["sales"]


def test_snapshot_before_login_names_the_agent_and_a_refusal_is_an_answer() -> None:
    p = fresh()
    [request] = p.snapshot_request(2)
    assert request["params"] == {"agentID": "1001"}
    error = {"category": "security", "value": "generic"}
    assert p.receive({"type": "error", "invokeId": 2, "error": error}) == [
        Answer(2, False, "security.generic")
    ]


def test_snapshot_with_an_unknown_agent_state_falls_back_to_logged_in(proto: CstaProtocol) -> None:
    proto.snapshot_request(4)
    [snapshot] = proto.receive(
        {"type": "response", "invokeId": 4, "result": snapshot_result("agentOnMars")}
    )
    assert isinstance(snapshot, Snapshot) and snapshot.state == "connected"


# --- malformed never moves the machine (issue 11) ---------------------------------------------
MALFORMED_EVENTS = [
    # a hold by this device of a call that is not the agent's
    event("held", heldConnection=cid("c9", ME), holdingDevice=ME),
    # a conference naming no call at all
    event("conferenced"),
    # a callID that is a list: no longer "any element matches"
    event("connectionCleared", droppedConnection=cid(["c1", "c2"], ME), releasingDevice=ME),  # type: ignore[arg-type]
    # an object where the call id of the payload belongs
    event("delivered", connection={"callID": {"x": 1}, "deviceID": ME}, alertingDevice=ME),
]


@pytest.mark.parametrize("message", MALFORMED_EVENTS, ids=lambda m: m["event"])
def test_a_wrong_typed_or_foreign_event_is_malformed_and_changes_nothing(
    proto: CstaProtocol, message: dict[str, Any]
) -> None:
    proto.call_id = "c1"
    (out,) = proto.receive(message)
    assert isinstance(out, Malformed)
    assert len(out.excerpt) <= 120
    # the protocol's idea of the calls did not move either
    assert (proto.call_id, proto.consult_call_id) == ("c1", None)


def test_an_unreadable_snapshot_is_refused_at_once(proto: CstaProtocol) -> None:
    proto.snapshot_request(7)
    bad = {"type": "response", "invokeId": 7, "result": {"snapshotData": 5}}
    out = proto.receive(bad)
    assert isinstance(out[0], Malformed) and "snapshotData is a int" in out[0].reason
    assert out[1] == Answer(7, False, out[0].reason)


@pytest.mark.parametrize(
    "frame",
    ['{"type":"event","event":"held","params":{"x":1e999}}', '{"type":"event","x":"\\ud800"}'],
)
def test_numbers_out_of_range_and_lone_surrogates_are_malformed(
    proto: CstaProtocol, frame: str
) -> None:
    (out,) = proto.decode(frame)
    assert isinstance(out, Malformed)


def test_text_a_websocket_cannot_carry_is_refused_when_encoding(proto: CstaProtocol) -> None:
    (request,) = proto.encode_command("dial_out", {"number": "55\ud800"}, 8)
    with pytest.raises(ValueError):
        proto.encode(request)
