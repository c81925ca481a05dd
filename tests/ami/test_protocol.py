"""The AMI protocol: every supported command as actions, answers, signals, snapshots."""

from __future__ import annotations

from typing import Any

import pytest
from amitools import AGENT, AGENT_CH, CALLER_CH, feed, inbound_call, names, response
from cti_fsm_asterisk_ami import adapter
from cti_fsm_asterisk_ami.codec import EncodeError
from cti_fsm_asterisk_ami.protocol import AmiProtocol

from cti_fsm.adapter import Answer, Malformed, Signal, Snapshot
from cti_fsm.errors import InvalidArguments, Unsupported
from cti_fsm.vendor_map import MissingContext


def in_call(protocol: AmiProtocol) -> None:
    feed(protocol, *inbound_call())


def test_adapter_contract() -> None:
    from cti_fsm.adapter import Adapter, VendorProtocol, load_adapter

    assert load_adapter("asterisk-ami") is adapter
    assert isinstance(adapter, Adapter)
    assert isinstance(adapter.protocol(user=AGENT, options={}), VendorProtocol)
    assert adapter.unsupported == {"answer", "hold", "retrieve", "conference", "get_rights"}


def test_unknown_option_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown AMI option.*quues.*known: .*queues"):
        adapter.protocol(user=AGENT, options={"quues": ["sales"]})


def test_connect_is_login_and_its_success_is_logged_in(protocol: AmiProtocol) -> None:
    (login,) = protocol.encode_command(
        "connect", {"user": AGENT, "password": "s3cret", "url": "tcp://x"}, 1
    )
    assert login == {
        "Action": "Login",
        "Username": AGENT,
        "Secret": "s3cret",
        "Events": "call,agent,dtmf,originate",
        "ActionID": "cti-1-0",
    }
    assert adapter.vendor_map.redact(login)["Secret"] == "***"
    out = feed(protocol, response(login, message="Authentication accepted"))
    assert out == [Signal("logged_in", {}), Answer(1, True)]


def test_login_username_option_and_failure_answer(protocol: AmiProtocol) -> None:
    p = adapter.protocol(user=AGENT, options={"username": "cti"})
    (login,) = p.encode_command("connect", {"user": AGENT, "password": "pw", "url": "u"}, 4)
    assert login["Username"] == "cti"
    out = feed(p, response(login, ok=False, message="Authentication failed"))
    # the agent fails the command with the vendor's reason and applies login_failed itself
    assert out == [Answer(4, False, "Authentication failed")]


def test_password_is_never_kept_by_the_protocol(protocol: AmiProtocol) -> None:
    protocol.encode_command("connect", {"user": AGENT, "password": "hunter2", "url": "u"}, 1)
    request = protocol._pending[1]
    assert "hunter2" not in repr(request.args) and "password" not in request.args


def test_check_in_is_one_queue_add_per_queue(protocol: AmiProtocol) -> None:
    actions = protocol.encode_command("check_in", {"group_ids": "sales, support"}, 7)
    assert actions == [
        {
            "Action": "QueueAdd",
            "Queue": "sales",
            "Interface": AGENT,
            "Paused": "false",
            "ActionID": "cti-7-0",
        },
        {
            "Action": "QueueAdd",
            "Queue": "support",
            "Interface": AGENT,
            "Paused": "false",
            "ActionID": "cti-7-1",
        },
    ]
    added = {"Event": "QueueMemberAdded", "Queue": "sales", "Interface": AGENT}
    assert names(feed(protocol, added)) == ["checked_in"]
    # one queue refused, the other fine: the command succeeded
    out = feed(protocol, response(actions[0]), response(actions[1], ok=False, message="nope"))
    assert out == [Answer(7, True)]


def test_check_in_failing_everywhere_fails(protocol: AmiProtocol) -> None:
    actions = protocol.encode_command("check_in", {"group_ids": ["a", "b"]}, 2)
    out = feed(
        protocol,
        response(actions[0], ok=False, message="Unable to add interface to queue: No such queue"),
        response(actions[1], ok=False, message="Unable to add interface to queue: No such queue"),
    )
    assert out == [Answer(2, False, "Unable to add interface to queue: No such queue")]


def test_check_in_already_a_member_still_checks_in(protocol: AmiProtocol) -> None:
    (action,) = protocol.encode_command("check_in", {"group_ids": ["sales"]}, 3)
    out = feed(
        protocol, response(action, ok=False, message="Unable to add interface: Already there")
    )
    assert out == [Signal("checked_in", {"group_ids": "sales"}), Answer(3, True)]


def test_check_out_removes_from_the_queues_the_agent_is_in(protocol: AmiProtocol) -> None:
    feed(
        protocol,
        {"Event": "QueueMemberAdded", "Queue": "support", "Interface": AGENT},
        {"Event": "QueueMemberAdded", "Queue": "vip", "Interface": AGENT},
    )
    actions = protocol.encode_command("check_out", {}, 9)
    assert [(a["Action"], a["Queue"], a["Interface"]) for a in actions] == [
        ("QueueRemove", "support", AGENT),
        ("QueueRemove", "vip", AGENT),
    ]
    removed = {"Event": "QueueMemberRemoved", "Interface": AGENT}
    # checked out only when the last queue is left
    assert names(feed(protocol, {**removed, "Queue": "support"})) == []
    assert names(feed(protocol, {**removed, "Queue": "vip"})) == ["checked_out"]


def test_check_out_without_known_queues_says_so() -> None:
    p = adapter.protocol(user=AGENT, options={})
    with pytest.raises(MissingContext, match="queues"):
        p.encode_command("check_out", {}, 1)


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        (
            "pause",
            {"reason": "lunch"},
            {"Action": "QueuePause", "Interface": AGENT, "Paused": "true", "Reason": "lunch"},
        ),
        ("pause", {}, {"Action": "QueuePause", "Interface": AGENT, "Paused": "true"}),
        (
            "pause",
            {"agent_id": "PJSIP/1002"},
            {"Action": "QueuePause", "Interface": "PJSIP/1002", "Paused": "true"},
        ),
        ("restore", {}, {"Action": "QueuePause", "Interface": AGENT, "Paused": "false"}),
        (
            "dial_out",
            {"number": "5550100"},
            {
                "Action": "Originate",
                "Channel": AGENT,
                "Exten": "5550100",
                "Context": "default",
                "Priority": "1",
                "Timeout": "30000",
                "Async": "true",
            },
        ),
        (
            "listen",
            {"agent_id": "PJSIP/1002"},
            {
                "Action": "Originate",
                "Channel": AGENT,
                "Application": "ChanSpy",
                "Data": "PJSIP/1002-,qdE",
                "Timeout": "30000",
                "Async": "true",
            },
        ),
        ("get_transfer_groups", {}, {"Action": "QueueSummary"}),
        ("get_agent_groups", {}, {"Action": "QueueSummary"}),
        ("get_all_agents", {}, {"Action": "QueueStatus"}),
        ("disconnect", {}, {"Action": "Logoff"}),
        (
            "logout_agent",
            {"agent_id": "PJSIP/1002"},
            {"Action": "QueueRemove", "Queue": "sales", "Interface": "PJSIP/1002"},
        ),
    ],
)
def test_commands_without_a_call(
    protocol: AmiProtocol, command: str, args: dict[str, Any], expected: dict[str, Any]
) -> None:
    first = protocol.encode_command(command, args, 5)[0]
    assert first == {**expected, "ActionID": "cti-5-0"}


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("hangup", {}, [{"Action": "Hangup", "Channel": AGENT_CH}]),
        (
            "transfer",
            {"target": "2000"},
            [
                {
                    "Action": "BlindTransfer",
                    "Channel": AGENT_CH,
                    "Exten": "2000",
                    "Context": "default",
                }
            ],
        ),
        (
            "consult",
            {"target": "2001"},
            [{"Action": "Atxfer", "Channel": AGENT_CH, "Exten": "2001", "Context": "default"}],
        ),
        ("cancel_consult", {}, [{"Action": "CancelAtxfer", "Channel": AGENT_CH}]),
        ("complete_transfer", {}, [{"Action": "Hangup", "Channel": AGENT_CH}]),
        (
            "send_dtmf",
            {"digits": "1#"},
            [
                {"Action": "PlayDTMF", "Channel": CALLER_CH, "Digit": "1"},
                {"Action": "PlayDTMF", "Channel": CALLER_CH, "Digit": "#"},
            ],
        ),
        (
            "join_talk",
            {"agent_id": "PJSIP/1002"},
            [{"Action": "PlayDTMF", "Channel": AGENT_CH, "Digit": "6", "Receive": "true"}],
        ),
    ],
)
def test_commands_on_the_agents_call(
    protocol: AmiProtocol, command: str, args: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    in_call(protocol)
    actions = protocol.encode_command(command, args, 8)
    assert [{k: v for k, v in a.items() if k != "ActionID"} for a in actions] == expected
    assert [a["ActionID"] for a in actions] == [f"cti-8-{i}" for i in range(len(expected))]


def test_commands_needing_a_channel_say_so_when_there_is_none(protocol: AmiProtocol) -> None:
    with pytest.raises(MissingContext, match="channel"):
        protocol.encode_command("hangup", {}, 1)


@pytest.mark.parametrize("command", sorted(adapter.unsupported))
def test_unsupported_commands_raise_before_anything(protocol: AmiProtocol, command: str) -> None:
    with pytest.raises(Unsupported, match="asterisk-ami"):
        protocol.encode_command(command, {}, 1)
    assert protocol._pending == {}


def test_line_breaks_in_arguments_are_refused(protocol: AmiProtocol) -> None:
    with pytest.raises(InvalidArguments, match=r"'number'.*line break"):
        protocol.encode_command("dial_out", {"number": "1\r\nAction: Hangup"}, 1)


def test_dtmf_digits_are_checked(protocol: AmiProtocol) -> None:
    in_call(protocol)
    with pytest.raises(InvalidArguments, match="DTMF digits"):
        protocol.encode_command("send_dtmf", {"digits": "12x"}, 1)


def test_send_dtmf_confirms_once_every_digit_went_out(protocol: AmiProtocol) -> None:
    in_call(protocol)
    actions = protocol.encode_command("send_dtmf", {"digits": "12"}, 3)
    assert feed(protocol, response(actions[0])) == []
    assert feed(protocol, response(actions[1])) == [
        Signal("dtmf_sent", {"digits": "12"}),
        Answer(3, True),
    ]


def test_send_dtmf_with_one_digit_refused_fails(protocol: AmiProtocol) -> None:
    in_call(protocol)
    actions = protocol.encode_command("send_dtmf", {"digits": "12"}, 3)
    out = feed(
        protocol, response(actions[0]), response(actions[1], ok=False, message="No such channel")
    )
    assert out == [Answer(3, False, "No such channel")]


@pytest.mark.parametrize(
    ("command", "args", "ok", "expected"),
    [
        ("hangup", {}, False, [Answer(2, False, "No such channel")]),
        ("transfer", {"target": "2000"}, False, [Answer(2, False, "No such channel")]),
        (
            "consult",
            {"target": "2001"},
            True,
            [Signal("consult_started", {"target": "2001"}), Answer(2, True)],
        ),
        (
            "cancel_consult",
            {},
            True,
            [Signal("consult_ended", {}), Signal("retrieved", {}), Answer(2, True)],
        ),
        (
            "join_talk",
            {"agent_id": "PJSIP/1002"},
            True,
            [Signal("conferenced", {}), Answer(2, True)],
        ),
        ("disconnect", {}, True, [Answer(2, True)]),
    ],
)
def test_responses_become_answers_and_confirmations(
    protocol: AmiProtocol, command: str, args: dict[str, Any], ok: bool, expected: list[object]
) -> None:
    in_call(protocol)
    (action,) = protocol.encode_command(command, args, 2)
    assert (
        feed(protocol, response(action, ok=ok, message="" if ok else "No such channel")) == expected
    )


def test_logoff_goodbye_is_logged_out(protocol: AmiProtocol) -> None:
    (action,) = protocol.encode_command("disconnect", {}, 6)
    out = feed(
        protocol,
        {
            "Response": "Goodbye",
            "ActionID": action["ActionID"],
            "Message": "Thanks for all the fish.",
        },
    )
    assert out == [Signal("logged_out", {"reason": "logoff"}), Answer(6, True)]


def test_take_over_bridges_the_spied_agents_customer_with_the_supervisor() -> None:
    sup = adapter.protocol(user="PJSIP/1009", options={})
    feed(sup, *[p for p in inbound_call() if p["Event"] != "AgentCalled"])  # PJSIP/1001's call
    sup_ch = "PJSIP/1009-00000020"
    out = feed(
        sup,
        {"Event": "Newchannel", "Channel": sup_ch, "Uniqueid": "1.20"},
        {
            "Event": "ChanSpyStart",
            "SpyerChannel": sup_ch,
            "SpyeeChannel": AGENT_CH,
            "SpyeeLinkedid": "1700000000.9",
        },
    )
    assert out == [Signal("listen_started", {"call_id": "1700000000.9", "agent_id": AGENT})]
    (bridge,) = sup.encode_command("disconnect_call", {"agent_id": AGENT}, 4)
    assert {k: v for k, v in bridge.items() if k != "ActionID"} == {
        "Action": "Bridge",
        "Channel1": CALLER_CH,
        "Channel2": sup_ch,
        "Tone": "no",
    }
    assert feed(sup, response(bridge)) == [
        Signal("took_over", {"agent_id": AGENT}),
        Answer(4, True),
    ]


def test_supervisor_commands_confirm_on_the_target_agents_events(protocol: AmiProtocol) -> None:
    protocol.encode_command("pause", {"agent_id": "PJSIP/1002", "reason": "coach"}, 1)
    pause = {
        "Event": "QueueMemberPause",
        "Queue": "sales",
        "Interface": "PJSIP/1002",
        "Paused": "1",
        "PausedReason": "coach",
    }
    assert feed(protocol, pause) == [
        Signal("agent_paused", {"agent_id": "PJSIP/1002", "reason": "coach"})
    ]
    # an agent nobody asked about means nothing to this one
    assert feed(protocol, {**pause, "Interface": "PJSIP/1003"}) == []


def test_query_lists_end_in_one_signal(protocol: AmiProtocol) -> None:
    (summary,) = protocol.encode_command("get_agent_groups", {}, 11)
    aid = summary["ActionID"]
    out = feed(
        protocol,
        {
            "Response": "Success",
            "ActionID": aid,
            "EventList": "start",
            "Message": "Queue summary will follow",
        },
        {
            "Event": "QueueSummary",
            "ActionID": aid,
            "Queue": "sales",
            "Available": "2",
            "Callers": "0",
        },
        {
            "Event": "QueueSummary",
            "ActionID": aid,
            "Queue": "support",
            "Available": "0",
            "Callers": "3",
        },
        {
            "Event": "QueueSummaryComplete",
            "ActionID": aid,
            "EventList": "Complete",
            "ListItems": "2",
        },
    )
    groups = [
        {"id": "sales", "name": "sales", "available": "2", "waiting": "0"},
        {"id": "support", "name": "support", "available": "0", "waiting": "3"},
    ]
    assert out == [Signal("agent_groups", {"groups": groups}), Answer(11, True)]


def test_all_agents_from_queue_status(protocol: AmiProtocol) -> None:
    (status,) = protocol.encode_command("get_all_agents", {}, 12)
    aid = status["ActionID"]
    out = feed(
        protocol,
        response(status, message="Queue status will follow"),
        {"Event": "QueueParams", "ActionID": aid, "Queue": "sales"},
        {
            "Event": "QueueMember",
            "ActionID": aid,
            "Queue": "sales",
            "Name": "Ann",
            "Location": "PJSIP/1002",
            "Status": "2",
            "Paused": "0",
        },
        {"Event": "QueueStatusComplete", "ActionID": aid},
    )
    agents = [
        {
            "agent_id": "PJSIP/1002",
            "name": "Ann",
            "group_id": "sales",
            "paused": False,
            "status": "INUSE",
        }
    ]
    assert out == [Signal("all_agents", {"agents": agents}), Answer(12, True)]


def snapshot_of(
    protocol: AmiProtocol, members: list[dict[str, Any]], channels: list[dict[str, Any]]
) -> list[object]:
    status, show = protocol.snapshot_request(30)
    assert status == {"Action": "QueueStatus", "Member": AGENT, "ActionID": "cti-30-0"}
    assert show == {"Action": "CoreShowChannels", "ActionID": "cti-30-1"}
    rows = [{"ActionID": status["ActionID"], **m} for m in members]
    chans = [{"Event": "CoreShowChannel", "ActionID": show["ActionID"], **c} for c in channels]
    return feed(
        protocol,
        response(status),
        response(show, EventList="start"),
        *rows,
        {"Event": "QueueStatusComplete", "ActionID": status["ActionID"]},
        *chans,
        {"Event": "CoreShowChannelsComplete", "ActionID": show["ActionID"]},
    )


MEMBER = {"Event": "QueueMember", "Queue": "sales", "Location": AGENT, "StateInterface": AGENT}


@pytest.mark.parametrize(
    ("member", "channels", "state", "vendor_state"),
    [
        ([], [], "connected", "not_member"),
        ([{**MEMBER, "Status": "1", "Paused": "0"}], [], "checked_in.available.idle", "NOT_INUSE"),
        ([{**MEMBER, "Status": "5", "Paused": "1"}], [], "checked_in.available.paused", "paused"),
        (
            [{**MEMBER, "Status": "2", "Paused": "0"}],
            [
                {"Channel": AGENT_CH, "ChannelState": "6", "BridgeId": "b1", "Linkedid": "L1"},
                {"Channel": CALLER_CH, "ChannelState": "6", "BridgeId": "b1"},
            ],
            "checked_in.talking",
            "Up",
        ),
        (
            [{**MEMBER, "Status": "8", "Paused": "0"}],
            [{"Channel": AGENT_CH, "ChannelState": "6", "BridgeId": "b1"}],
            "checked_in.held",
            "ONHOLD",
        ),
        (
            [{**MEMBER, "Status": "6", "Paused": "0"}],
            [{"Channel": AGENT_CH, "ChannelState": "5"}],
            "checked_in.ringing",
            "Ringing",
        ),
    ],
)
def test_snapshot_from_queue_status_and_channels(
    protocol: AmiProtocol,
    member: list[dict[str, Any]],
    channels: list[dict[str, Any]],
    state: str,
    vendor_state: str,
) -> None:
    (snap,) = snapshot_of(protocol, member, channels)
    assert isinstance(snap, Snapshot) and snap.request_id == 30
    assert (snap.state, snap.payload["vendor_state"]) == (state, vendor_state)


def test_snapshot_restores_the_call_so_commands_work_after_a_reconnect(
    protocol: AmiProtocol,
) -> None:
    snapshot_of(
        protocol,
        [{**MEMBER, "Status": "2", "Paused": "0"}],
        [
            {"Channel": AGENT_CH, "ChannelState": "6", "BridgeId": "b1"},
            {"Channel": CALLER_CH, "ChannelState": "6", "BridgeId": "b1"},
        ],
    )
    (hangup,) = protocol.encode_command("hangup", {}, 31)
    assert hangup["Channel"] == AGENT_CH
    dtmf = protocol.encode_command("send_dtmf", {"digits": "5"}, 32)
    assert dtmf[0]["Channel"] == CALLER_CH
    assert names(feed(protocol, {"Event": "Hangup", "Channel": AGENT_CH})) == ["hung_up"]


def test_keepalive_ping_and_its_answer(protocol: AmiProtocol) -> None:
    assert protocol.keepalive_interval == 20.0
    (ping,) = protocol.keepalive(40)
    assert ping == {"Action": "Ping", "ActionID": "cti-40-0"}
    assert feed(protocol, response(ping, Ping="Pong")) == [Answer(40, True)]
    fast = adapter.protocol(user=AGENT, options={"keepalive_interval": 5})
    assert fast.keepalive_interval == 5.0


def test_responses_to_other_clients_and_old_requests_are_ignored(protocol: AmiProtocol) -> None:
    assert feed(protocol, {"Response": "Success", "ActionID": "generated_action_id"}) == []
    assert feed(protocol, {"Response": "Success", "ActionID": "cti-99-0"}) == []
    (ping,) = protocol.keepalive(1)
    feed(protocol, response(ping))
    assert feed(protocol, response(ping)) == []  # a duplicate answer


NOISE = [
    {"Event": "VarSet", "Channel": AGENT_CH, "Variable": "X", "Value": "1"},
    {"Event": "Newexten", "Channel": AGENT_CH, "Application": "Hangup"},
    {"Event": "CEL", "EventName": "HANGUP", "Channel": AGENT_CH},
    {"Event": "AGIExec", "SubEvent": "Start", "Channel": AGENT_CH},
    {"Event": "RTCPReceived", "Channel": AGENT_CH},
    {"Event": "SoftHangupRequest", "Channel": AGENT_CH},
    {"Event": "QueueMemberStatus", "Queue": "sales", "Interface": AGENT, "Paused": "1"},
    {"Event": "NewConnectedLine", "Channel": AGENT_CH},
]


@pytest.mark.parametrize("noise", NOISE, ids=[n["Event"] for n in NOISE])
def test_noise_never_means_anything(protocol: AmiProtocol, noise: dict[str, Any]) -> None:
    in_call(protocol)
    assert feed(protocol, noise) == []


def test_inbound_queue_call_signals(protocol: AmiProtocol) -> None:
    assert names(feed(protocol, *inbound_call())) == [
        "ringing",  # AgentCalled
        "ringing",  # DialBegin to the agent's device (the chart ignores it while ringing)
        "answered",  # DialEnd ANSWER
        "answered",  # BridgeEnter with two parties
        "answered",  # AgentConnect
    ]


def test_hangup_counts_only_the_agents_last_channel(protocol: AmiProtocol) -> None:
    in_call(protocol)
    assert names(feed(protocol, {"Event": "Hangup", "Channel": CALLER_CH})) == []
    assert names(feed(protocol, {"Event": "Hangup", "Channel": "PJSIP/10010-00000001"})) == []
    assert names(feed(protocol, {"Event": "Hangup", "Channel": AGENT_CH})) == ["hung_up"]


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("dial_out", {"number": "5550100"}, Signal("dial_failed", {"reason": "0"})),
        ("listen", {"agent_id": "PJSIP/1002"}, Signal("listen_failed", {"message": "0"})),
    ],
)
def test_a_failed_originate_response_event_fails_the_originate(
    protocol: AmiProtocol, command: str, args: dict[str, Any], expected: Signal
) -> None:
    protocol.tracker.device = AGENT
    (action,) = protocol.encode_command(command, args, 4)
    assert feed(protocol, response(action, message="Originate successfully queued")) == [
        Answer(4, True)
    ]
    # the event names the action and carries a Response field: it is still an event
    event = {
        "Event": "OriginateResponse",
        "ActionID": action["ActionID"],
        "Response": "Failure",
        "Channel": AGENT,
        "Reason": "0",
    }
    assert feed(protocol, event) == [expected]


def consultation(protocol: AmiProtocol) -> list[str]:
    """The agent on a call consults 2001: it leaves the customer's bridge b1 for b2."""
    in_call(protocol)
    (action,) = protocol.encode_command("consult", {"target": "2001"}, 5)
    local = "Local/2001@default-00000001"
    return names(
        feed(
            protocol,
            response(action),
            {
                "Event": "BridgeLeave",
                "BridgeUniqueid": "b1",
                "BridgeNumChannels": "1",
                "Channel": AGENT_CH,
            },
            {"Event": "MusicOnHoldStart", "Channel": CALLER_CH},
            {
                "Event": "BridgeEnter",
                "BridgeUniqueid": "b2",
                "BridgeNumChannels": "1",
                "Channel": AGENT_CH,
            },
            {
                "Event": "BridgeEnter",
                "BridgeUniqueid": "b2",
                "BridgeNumChannels": "2",
                "Channel": f"{local};1",
            },
            {"Event": "DialBegin", "Channel": f"{local};2", "DestChannel": "PJSIP/trunk-0000000c"},
        )
    )


def test_a_consulted_party_hanging_up_fails_the_consultation(protocol: AmiProtocol) -> None:
    assert consultation(protocol) == ["consult_started"]
    out = feed(
        protocol,
        {
            "Event": "DialEnd",
            "Channel": "Local/2001@default-00000001;2",
            "DestChannel": "PJSIP/trunk-0000000c",
            "DialStatus": "ANSWER",
        },
        {"Event": "Hangup", "Channel": "PJSIP/trunk-0000000c", "Cause-txt": "Normal Clearing"},
    )
    assert names(out) == ["consult_answered", "consult_failed"]
    assert out[-1] == Signal("consult_failed", {"message": "Normal Clearing"})


def test_going_back_into_the_customers_bridge_is_retrieved(protocol: AmiProtocol) -> None:
    consultation(protocol)
    back = [
        {
            "Event": "BridgeLeave",
            "BridgeUniqueid": "b2",
            "BridgeNumChannels": "0",
            "Channel": AGENT_CH,
        },
        {"Event": "BridgeDestroy", "BridgeUniqueid": "b2"},
        {"Event": "MusicOnHoldStop", "Channel": CALLER_CH},
        {
            "Event": "BridgeEnter",
            "BridgeUniqueid": "b1",
            "BridgeNumChannels": "2",
            "Channel": AGENT_CH,
            "Linkedid": "1700000000.9",
        },
    ]
    assert feed(
        protocol,
        {
            "Event": "DialEnd",
            "Channel": "Local/2001@default-00000001;2",
            "DestChannel": "PJSIP/trunk-0000000c",
            "DialStatus": "BUSY",
        },
        *back,
    ) == [
        Signal("consult_failed", {"message": "BUSY"}),
        Signal("retrieved", {"call_id": "1700000000.9"}),
    ]
    # once back, entering a bridge again is no return: a new call is answered as before
    assert not protocol.tracker.returns_to(AGENT_CH, "b1")


def test_a_new_call_entering_a_bridge_is_not_retrieved(protocol: AmiProtocol) -> None:
    assert "retrieved" not in names(feed(protocol, *inbound_call()))


@pytest.mark.parametrize(
    "action_id", ["cti-3-0-0", "cti-+3-0", "cti- 3-0", "cti-3-", "cti--0", "cti-3", "x-3-0"]
)
def test_only_an_action_id_of_ours_answers_a_command(protocol: AmiProtocol, action_id: str) -> None:
    (pause,) = protocol.encode_command("pause", {}, 3)
    assert feed(protocol, {**response(pause), "ActionID": action_id}) == []
    assert feed(protocol, response(pause)) == [Answer(3, True)]


def test_the_packet_is_left_as_it_came_after_the_map_read_it(protocol: AmiProtocol) -> None:
    # the map reads the protocol's facts as a ``cti`` field lent to the packet
    (pause,) = protocol.encode_command("pause", {}, 3)
    packets = [response(pause), {**response(pause), "cti": "a field of the packet's own"}]
    copies = [dict(p) for p in packets]
    feed(protocol, *packets)
    assert packets == copies and [list(p) for p in packets] == [list(c) for c in copies]


# --- resync after a link drop: the bridges say where the parties are (issue 11) -------------
LOCAL_1 = "Local/5550199@default-00000004;1"
LOCAL_2 = "Local/5550199@default-00000004;2"
TARGET_CH = "PJSIP/trunk-0000000b"


def _row(channel: str, state: str, bridge: str = "", linked: str = "L1") -> dict[str, Any]:
    return {"Channel": channel, "ChannelState": state, "BridgeId": bridge, "Linkedid": linked}


@pytest.mark.parametrize(
    ("channels", "state", "vendor_state"),
    [
        # Atxfer, the target ringing: the customer waits alone in the call's first bridge
        (
            [
                _row(CALLER_CH, "6", "b1"),
                _row(AGENT_CH, "6", "b2"),
                _row(LOCAL_1, "0", "b2"),
                _row(LOCAL_2, "4"),
                _row(TARGET_CH, "5"),
            ],
            "checked_in.consulting.consult_ringing",
            "ConsultRinging",
        ),
        # the consulted party answered (the Local pair optimized away)
        (
            [_row(CALLER_CH, "6", "b1"), _row(AGENT_CH, "6", "b2"), _row(TARGET_CH, "6", "b2")],
            "checked_in.consulting.consult_talking",
            "ConsultTalking",
        ),
        # the consultation ended: the customer still waits, the agent is with no one
        ([_row(CALLER_CH, "6", "b1"), _row(AGENT_CH, "6")], "checked_in.held", "Apart"),
        # an answered outbound call whose dialling channel still says Ring
        (
            [_row(AGENT_CH, "4", "b1"), _row(TARGET_CH, "6", "b1")],
            "checked_in.talking",
            "Up",
        ),
        # an Originate's first leg up, the far end still ringing
        ([_row(AGENT_CH, "6"), _row(TARGET_CH, "5")], "checked_in.dialing", "Alone"),
        # a conference: two others in the agent's bridge
        (
            [_row(CALLER_CH, "6", "b1"), _row(AGENT_CH, "6", "b1"), _row(TARGET_CH, "6", "b1")],
            "checked_in.three_party",
            "Multiparty",
        ),
    ],
)
def test_the_snapshot_reads_the_bridges_not_the_agent_channel_state(
    protocol: AmiProtocol, channels: list[dict[str, Any]], state: str, vendor_state: str
) -> None:
    (snap,) = snapshot_of(protocol, [{**MEMBER, "Status": "2", "Paused": "0"}], channels)
    assert isinstance(snap, Snapshot)
    assert (snap.state, snap.payload["vendor_state"]) == (state, vendor_state)


def test_a_consultation_resynchronised_goes_on_as_one(protocol: AmiProtocol) -> None:
    snapshot_of(
        protocol,
        [{**MEMBER, "Status": "2", "Paused": "0"}],
        [
            _row(CALLER_CH, "6", "b1"),
            _row(AGENT_CH, "6", "b2"),
            _row(LOCAL_1, "0", "b2"),
            _row(LOCAL_2, "4"),
        ],
    )
    # the consulted party answers: the Local channel's dial, known as the consultation's
    answered = {
        "Event": "DialEnd",
        "Channel": LOCAL_2,
        "DestChannel": TARGET_CH,
        "DialStatus": "ANSWER",
        "Linkedid": "L1",
    }
    assert names(feed(protocol, answered)) == ["consult_answered"]
    # the agent goes back to the held customer's bridge: the customer is taken back
    back = {"Event": "BridgeEnter", "BridgeUniqueid": "b1", "Channel": AGENT_CH}
    assert names(feed(protocol, back)) == ["retrieved"]


def test_the_snapshot_says_where_a_finished_call_returns(protocol: AmiProtocol) -> None:
    (snap,) = snapshot_of(
        protocol,
        [{**MEMBER, "Status": "6", "Paused": "0"}],
        [_row(AGENT_CH, "5")],
    )
    assert isinstance(snap, Snapshot)
    assert snap.payload["availability"] == "checked_in.available.idle"
    (paused,) = snapshot_of(protocol, [{**MEMBER, "Status": "6", "Paused": "1"}], [])
    assert isinstance(paused, Snapshot)
    assert paused.payload["availability"] == "checked_in.available.paused"


def test_a_supervisor_resynchronised_while_listening_can_take_over(
    protocol: AmiProtocol,
) -> None:
    spyer = "PJSIP/1001-0000000c"
    agent_ch = "PJSIP/8001-00000002"
    snapshot_of(
        protocol,
        [{**MEMBER, "Status": "2", "Paused": "0"}],
        [
            _row(CALLER_CH, "6", "b1"),
            _row(agent_ch, "6", "b1"),
            {**_row(spyer, "6"), "Application": "ChanSpy", "ApplicationData": "PJSIP/8001-,qdE"},
        ],
    )
    (bridge,) = protocol.encode_command("disconnect_call", {"agent_id": "PJSIP/8001"}, 33)
    assert (bridge["Channel1"], bridge["Channel2"]) == (CALLER_CH, spyer)


# --- malformed never moves the machine (issue 11) ---------------------------------------------
def test_a_repeated_key_the_adapter_reads_is_malformed_not_a_type_error(
    protocol: AmiProtocol,
) -> None:
    hangup = {"Event": "Hangup", "Channel": [AGENT_CH, CALLER_CH], "Linkedid": "L1"}
    (bad,) = feed(protocol, hangup)
    assert isinstance(bad, Malformed) and "'Channel' appears more than once" in bad.reason
    optimized = {
        "Event": "LocalOptimizationBegin",
        "LocalOneChannel": ["Local/1@x-1;1", "Local/1@x-1;2"],
        "LocalTwoChannel": "Local/1@x-1;2",
    }
    assert isinstance(feed(protocol, optimized)[0], Malformed)
    # keys that repeat in real traffic are read as before
    variables = {"Event": "Newchannel", "Channel": AGENT_CH, "ChanVariable": ["A=1", "B=2"]}
    assert feed(protocol, variables) == []


def test_a_snapshot_with_an_unreadable_row_is_refused_at_once(protocol: AmiProtocol) -> None:
    status, _ = protocol.snapshot_request(50)
    row = {**MEMBER, "ActionID": status["ActionID"], "Status": "1", "Paused": ["0", "1"]}
    out = feed(protocol, response(status), row)
    assert isinstance(out[0], Malformed)
    assert out[1] == Answer(50, False, out[0].reason)


def test_arguments_that_cannot_be_encoded_are_refused(protocol: AmiProtocol) -> None:
    with pytest.raises(InvalidArguments, match="not valid Unicode"):
        protocol.encode_command("consult", {"target": "55\ud800"}, 60)
    # refused before anything was noted: no consultation is thought to run
    assert not protocol.tracker.consulting and 60 not in protocol._pending
    # and the codec refuses such text too, whoever asks it
    with pytest.raises(EncodeError, match="not valid Unicode"):
        protocol.encode({"Action": "Originate", "Exten": "55\ud800"})
