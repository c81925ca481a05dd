"""The ESL protocol, sans-IO: every rule driven message by message, with no socket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cti_fsm_freeswitch_esl import adapter
from cti_fsm_freeswitch_esl.protocol import EslProtocol, parse_agent_list, snapshot_key
from esltools import AGENT, AGENT_LEG, CALLER_LEG, cc, channel, feed, job, names
from hypothesis import given, settings
from hypothesis import strategies as st

from cti_fsm.adapter import Answer, Malformed, Signal, Snapshot
from cti_fsm.errors import InvalidArguments, MissingContext, Unsupported

AGENT_NAME = "sofia/internal/8001@10.0.0.5"
CALLER_NAME = "sofia/external/5551234@trunk"


@pytest.fixture
def protocol() -> EslProtocol:
    return adapter.protocol(user="1001", options={"extension": "8001", "job_prefix": "t"})


def reply(text: str) -> dict[str, Any]:
    return {"Content-Type": "command/reply", "Reply-Text": text}


def sent(protocol: EslProtocol, command: str, request_id: int, **args: Any) -> list[Any]:
    messages = list(protocol.encode_command(command, args, request_id))
    for m in messages:
        if str(m["Command"]).startswith("bgapi"):
            assert protocol.receive(reply(f"+OK Job-UUID: {m['Job-UUID']}")) == []
    return messages


def test_login_is_userauth_then_the_json_subscription(protocol: EslProtocol) -> None:
    auth, subscribe = protocol.encode_command("connect", {"user": "1001", "password": "pw"}, 1)
    assert protocol.encode(auth) == b"userauth 1001@default:pw\n\n"
    assert protocol.encode(subscribe).startswith(b"event json CHANNEL_CREATE ")
    assert b"CUSTOM callcenter::info" in protocol.encode(subscribe)
    assert feed(protocol, {"Content-Type": "auth/request"}) == []
    assert feed(protocol, reply("+OK accepted")) == []
    out = feed(protocol, reply("+OK event listener enabled json"))
    assert names(out) == ["logged_in"]
    assert Answer(1, True) in out


def test_a_refused_login_says_why_and_the_password_is_never_shown(protocol: EslProtocol) -> None:
    auth, _ = protocol.encode_command("connect", {"user": "1001", "password": "s3cret"}, 1)
    assert adapter.vendor_map.redact(auth) == {"Command": "userauth", "Secret": "***"}
    out = feed(protocol, reply("-ERR invalid"))
    assert names(out) == ["login_failed"]
    assert out[0].payload == {"message": "-ERR invalid"}
    assert not any("s3cret" in repr(o) for o in out)


def test_auth_login_uses_the_event_socket_password() -> None:
    p = adapter.protocol(user="1001", options={"login": "auth", "esl_password": "ClueCon"})
    auth, _ = p.encode_command("connect", {"user": "1001", "password": "pw"}, 1)
    assert p.encode(auth) == b"auth ClueCon\n\n"


def test_an_unknown_option_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown ESL option.*extension"):
        adapter.protocol(user="1001", options={"extention": "8001"})


def test_check_in_adds_tiers_then_sets_available_and_an_existing_tier_is_no_failure(
    protocol: EslProtocol,
) -> None:
    tier, status = sent(protocol, "check_in", 2, group_ids=["sales"])
    assert tier["Command"] == "bgapi callcenter_config tier add sales@default 1001@default 1 1"
    assert tier["Job-UUID"] == "t-2-0"
    assert status["Command"] == "bgapi callcenter_config agent set status 1001@default Available"
    assert feed(protocol, job(tier, "-ERR Tier already exist!\n")) == []
    event = cc("agent-status-change", **{"CC-Agent-Status": "Available"})
    out = feed(protocol, event, job(status, "+OK\n"))
    assert names(out) == ["checked_in"]
    assert out[0].payload == {"group_ids": ["sales"]}
    assert out[-1] == Answer(2, True)


def test_a_refused_status_fails_the_command_with_freeswitchs_reason(protocol: EslProtocol) -> None:
    (status,) = sent(protocol, "restore", 3)
    assert feed(protocol, job(status, "-ERR Invalid Agent!\n")) == [
        Answer(3, False, "Invalid Agent!")
    ]


def test_statuses_mean_sign_in_pause_restore_and_sign_out_by_what_came_before(
    protocol: EslProtocol,
) -> None:
    def status(value: str) -> list[str]:
        return names(feed(protocol, cc("agent-status-change", **{"CC-Agent-Status": value})))

    sent(protocol, "pause", 4, reason="lunch")
    assert status("On Break") == ["checked_in", "paused"]  # from Logged Out, straight to a break
    assert status("Available (On Demand)") == ["restored"]
    assert status("On Break") == ["paused"]
    assert status("Logged Out") == ["checked_out"]
    assert status("Available") == ["checked_in"]


def test_the_pause_reason_is_kept_by_the_adapter(protocol: EslProtocol) -> None:
    feed(protocol, cc("agent-status-change", **{"CC-Agent-Status": "Available"}))
    (command,) = sent(protocol, "pause", 5, reason="lunch")
    assert command["Command"].endswith("set status 1001@default 'On Break'")
    (out,) = feed(protocol, cc("agent-status-change", **{"CC-Agent-Status": "On Break"}))
    assert isinstance(out, Signal) and out.payload == {"reason": "lunch"}


def test_a_supervisor_acts_on_the_named_agent_and_hears_of_it_as_a_target() -> None:
    sup = adapter.protocol(user="9001", options={"extension": "8901", "job_prefix": "s"})
    (command,) = sent(sup, "pause", 6, agent_id="1001", reason="coaching")
    assert command["Command"] == "bgapi callcenter_config agent set status 1001@default 'On Break'"
    event = cc("agent-status-change", **{"CC-Agent-Status": "On Break"})
    (out,) = feed(sup, event)
    assert isinstance(out, Signal) and (out.name, out.payload["agent_id"]) == (
        "agent_paused",
        "1001",
    )
    # another agent's events are nobody's business here
    assert (
        feed(sup, cc("agent-status-change", "1002@default", **{"CC-Agent-Status": "On Break"}))
        == []
    )


def queue_call(protocol: EslProtocol) -> list[Any]:
    offering = cc(
        "agent-offering",
        **{
            "CC-Queue": "sales@default",
            "CC-Member-Session-UUID": CALLER_LEG,
            "CC-Member-CID-Number": "5551234",
        },
    )
    create = channel(
        "CHANNEL_CREATE",
        AGENT_LEG,
        AGENT_NAME,
        **{"Call-Direction": "outbound", "Other-Leg-Unique-ID": CALLER_LEG},
    )
    answer = channel("CHANNEL_ANSWER", AGENT_LEG, AGENT_NAME, **{"Call-Direction": "outbound"})
    bridge = channel(
        "CHANNEL_BRIDGE",
        CALLER_LEG,
        CALLER_NAME,
        **{"Bridge-A-Unique-ID": CALLER_LEG, "Bridge-B-Unique-ID": AGENT_LEG},
    )
    start = cc(
        "bridge-agent-start", **{"CC-Agent-UUID": AGENT_LEG, "CC-Member-Session-UUID": CALLER_LEG}
    )
    return feed(protocol, offering, create, answer, bridge, start)


def test_a_queue_call_rings_with_its_caller_and_queue_and_is_answered(
    protocol: EslProtocol,
) -> None:
    out = queue_call(protocol)
    assert names(out) == ["ringing", "ringing", "answered", "answered"]
    assert out[0].payload == {
        "call_id": CALLER_LEG,
        "phone_number": "5551234",
        "area": "sales@default",
    }
    assert protocol.tracker.channel == AGENT_LEG and protocol.tracker.peer == CALLER_LEG


def test_hold_dtmf_and_hangup_are_written_on_the_right_legs(protocol: EslProtocol) -> None:
    queue_call(protocol)
    (hold,) = sent(protocol, "hold", 7)
    assert hold["Command"] == f"bgapi uuid_hold {AGENT_LEG}"
    (dtmf,) = sent(protocol, "send_dtmf", 8, digits="12#")
    assert dtmf["Command"] == f"bgapi uuid_send_dtmf {CALLER_LEG} 12#"
    (kill,) = sent(protocol, "hangup", 9)
    assert kill["Command"] == f"bgapi uuid_kill {AGENT_LEG}"
    (transfer,) = sent(protocol, "transfer", 10, target="2000")
    assert transfer["Command"] == f"bgapi uuid_transfer {CALLER_LEG} 2000 XML default"


def test_the_agents_leg_hanging_up_ends_the_call_and_late_events_of_it_do_not_return(
    protocol: EslProtocol,
) -> None:
    queue_call(protocol)
    hangup = channel("CHANNEL_HANGUP", AGENT_LEG, AGENT_NAME, **{"Hangup-Cause": "NORMAL_CLEARING"})
    out = feed(protocol, hangup)
    assert names(out) == ["hung_up"] and out[0].payload["reason"] == "NORMAL_CLEARING"
    # the same leg's late events: not a new call
    assert feed(protocol, channel("CHANNEL_PROGRESS", AGENT_LEG, AGENT_NAME)) == []
    assert protocol.tracker.legs == ()


def test_a_command_needing_a_leg_with_none_is_refused_before_sending(protocol: EslProtocol) -> None:
    with pytest.raises(MissingContext, match="channel"):
        protocol.encode_command("hangup", {}, 11)


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("dial_out", {"number": "555 1234"}),
        ("dial_out", {"number": "555}&park()"}),
        ("transfer", {"target": "1000,1001"}),
        ("send_dtmf", {"digits": "12x"}),
    ],
)
def test_arguments_that_would_change_the_command_line_are_refused(
    protocol: EslProtocol, command: str, args: dict[str, str]
) -> None:
    queue_call(protocol)
    with pytest.raises(InvalidArguments):
        protocol.encode_command(command, args, 12)


def test_answer_and_rights_are_unsupported_by_name(protocol: EslProtocol) -> None:
    assert protocol.unsupported == frozenset({"answer", "get_rights"})
    with pytest.raises(Unsupported):
        protocol.encode_command("answer", {}, 13)


def test_dial_out_originates_the_agents_phone_with_our_own_leg_uuid(protocol: EslProtocol) -> None:
    (originate,) = sent(protocol, "dial_out", 14, number="5559999")
    assert originate["Command"] == (
        "bgapi originate {origination_uuid=t-leg-1,cc_agent=1001@default}user/8001"
        " 5559999 XML default"
    )
    mine = channel("CHANNEL_CREATE", "t-leg-1", AGENT_NAME, **{"Call-Direction": "outbound"})
    far = channel(
        "CHANNEL_CREATE",
        "far-1",
        "sofia/external/5559999@trunk",
        **{"Other-Leg-Unique-ID": "t-leg-1", "Caller-Destination-Number": "5559999"},
    )
    ring = channel("CHANNEL_PROGRESS", "far-1", "sofia/external/5559999@trunk")
    busy = channel(
        "CHANNEL_HANGUP", "far-1", "sofia/external/5559999@trunk", **{"Hangup-Cause": "USER_BUSY"}
    )
    out = feed(protocol, mine, far, ring, busy)
    assert names(out) == ["dialing", "remote_ringing", "dial_failed"]
    assert out[-1].payload["reason"] == "USER_BUSY"


def test_listen_needs_the_agents_queue_call_and_eavesdrops_on_its_leg() -> None:
    sup = adapter.protocol(user="9001", options={"extension": "8901", "job_prefix": "s"})
    with pytest.raises(InvalidArguments, match="no queue call"):
        sup.encode_command("listen", {"agent_id": "1001"}, 15)
    feed(
        sup,
        cc(
            "bridge-agent-start",
            **{"CC-Agent-UUID": AGENT_LEG, "CC-Member-Session-UUID": CALLER_LEG},
        ),
    )
    (originate,) = sent(sup, "listen", 16, agent_id="1001")
    assert originate["Command"].endswith(f"user/8901 &eavesdrop({AGENT_LEG})")
    (out, answer) = feed(sup, job(originate, "+OK s-leg-1\n"))
    assert isinstance(out, Signal) and out.name == "listen_started" and answer == Answer(16, True)


def test_a_snapshot_reads_status_state_and_the_agents_channels(protocol: EslProtocol) -> None:
    status, state, channels, agents = protocol.snapshot_request(20)
    assert status["Command"] == "bgapi callcenter_config agent get status 1001@default"
    assert state["Command"] == "bgapi callcenter_config agent get state 1001@default"
    assert channels["Command"] == "bgapi show channels as json"
    assert agents["Command"] == "bgapi callcenter_config agent list"
    rows = [
        {
            "uuid": AGENT_LEG,
            "name": AGENT_NAME,
            "direction": "outbound",
            "callstate": "HELD",
            "call_uuid": CALLER_LEG,
        },
        {
            "uuid": CALLER_LEG,
            "name": CALLER_NAME,
            "direction": "inbound",
            "callstate": "ACTIVE",
            "call_uuid": CALLER_LEG,
        },
    ]
    (out,) = feed(
        protocol,
        job(status, "Available"),
        job(state, "In a queue call"),
        job(channels, json.dumps({"row_count": 2, "rows": rows})),
        # an agent list the user may not run leaves the snapshot whole
        job(agents, "-ERR permission denied\n"),
    )
    assert isinstance(out, Snapshot)
    assert (out.state, out.request_id) == ("checked_in.held", 20)
    assert dict(out.payload) == {
        "vendor_state": "HELD",
        "status": "Available",
        "state": "In a queue call",
        "call_id": CALLER_LEG,
        # the call ends where the status says (not where the chart last was)
        "availability": "checked_in.available.idle",
    }
    assert protocol.tracker.channel == AGENT_LEG and protocol.tracker.peer == CALLER_LEG


def _snapshot(
    protocol: EslProtocol,
    rows: list[dict[str, str]],
    agent_list: str = "",
    status: str = "On Break",
) -> Snapshot:
    parts = protocol.snapshot_request(30)
    results = [status, "In a queue call", json.dumps({"rows": rows}), agent_list]
    (out,) = feed(protocol, *(job(p, r) for p, r in zip(parts, results, strict=True)))
    assert isinstance(out, Snapshot)
    return out


CONSULTED = "d1d2d3d4-0000-4000-8000-000000000003"


@pytest.mark.parametrize(
    ("consulted", "state"), [("RINGING", "consult_ringing"), ("ACTIVE", "consult_talking")]
)
def test_a_snapshot_during_an_attended_transfer_finds_the_consultation(
    protocol: EslProtocol, consulted: str, state: str
) -> None:
    call = {"call_uuid": CALLER_LEG}
    rows = [
        {"uuid": CALLER_LEG, "name": CALLER_NAME, "callstate": "HELD", **call},
        {
            "uuid": AGENT_LEG,
            "name": AGENT_NAME,
            "direction": "outbound",
            "callstate": "ACTIVE",
            **call,
        },
        {"uuid": CONSULTED, "name": "loopback/5550199-a", "callstate": consulted, **call},
    ]
    out = _snapshot(protocol, rows)
    assert out.state == f"checked_in.consulting.{state}"
    assert out.payload["availability"] == "checked_in.available.paused"
    # the tracker knows the consulted party again: its answer and hangup mean what they did
    t = protocol.tracker
    assert (t.consulting, t.consult_peer, t.peer) == (True, CONSULTED, CALLER_LEG)
    answer = channel("CHANNEL_ANSWER", CONSULTED, "loopback/5550199-a")
    hangup = channel("CHANNEL_HANGUP", CONSULTED, "loopback/5550199-a")
    assert names(feed(protocol, answer, hangup)) == ["consult_answered", "consult_failed"]


def test_a_held_call_with_one_party_is_no_consultation(protocol: EslProtocol) -> None:
    call = {"call_uuid": CALLER_LEG}
    rows = [
        {"uuid": CALLER_LEG, "name": CALLER_NAME, "callstate": "HELD", **call},
        {
            "uuid": AGENT_LEG,
            "name": AGENT_NAME,
            "direction": "outbound",
            "callstate": "ACTIVE",
            **call,
        },
    ]
    assert _snapshot(protocol, rows).state == "checked_in.held"
    assert not protocol.tracker.consulting


SUPERVISOR_LEG = "e1e2e3e4-0000-4000-8000-000000000004"


def test_a_supervisor_reconnected_while_listening_can_still_take_over() -> None:
    sup = adapter.protocol(user="9001", options={"extension": "8901", "job_prefix": "s"})
    call = {"call_uuid": CALLER_LEG}
    rows = [
        {"uuid": CALLER_LEG, "name": CALLER_NAME, "callstate": "ACTIVE", **call},
        {"uuid": AGENT_LEG, "name": AGENT_NAME, "callstate": "ACTIVE", **call},
        {
            "uuid": SUPERVISOR_LEG,
            "name": "sofia/internal/8901@10.0.0.9",
            "callstate": "ACTIVE",
            "application": "eavesdrop",
            "application_data": AGENT_LEG,
            "call_uuid": SUPERVISOR_LEG,
        },
    ]
    assert _snapshot(sup, rows).state == "checked_in.listening"
    (bridge,) = sent(sup, "disconnect_call", 31, agent_id="1001")
    assert bridge["Command"] == f"bgapi uuid_bridge {SUPERVISOR_LEG} {CALLER_LEG}"


def test_with_no_extension_the_agents_phone_is_its_mod_callcenter_contact() -> None:
    protocol = adapter.protocol(user="1001", options={"job_prefix": "t"})
    head = "name|system|uuid|type|contact|status|state|max_no_answer|wrap_up_time"
    agent_list = "\n".join(
        [
            head,
            "1001@default|single_box||callback|user/8001@default|Available|Waiting|3|0",
            "+OK",
        ]
    )
    rows = [{"uuid": AGENT_LEG, "name": AGENT_NAME, "direction": "outbound", "callstate": "ACTIVE"}]
    assert _snapshot(protocol, rows, agent_list, status="Available").state == "checked_in.talking"
    assert protocol.tracker.channel == AGENT_LEG
    (originate,) = sent(protocol, "dial_out", 34, number="5559999")
    assert "}user/8001@default 5559999 XML default" in originate["Command"]
    # a contact given as an option is never replaced
    fixed = adapter.protocol(user="1001", options={"extension": "7001", "job_prefix": "u"})
    _snapshot(fixed, rows, agent_list, status="Available")
    assert fixed.contact == "user/7001" and fixed.tracker.channel is None


def test_a_supervisor_connected_during_a_queue_call_learns_it_from_the_agent_list() -> None:
    sup = adapter.protocol(user="9001", options={"extension": "8901", "job_prefix": "s"})
    call = {"call_uuid": CALLER_LEG}
    rows = [
        {"uuid": CALLER_LEG, "name": CALLER_NAME, "callstate": "ACTIVE", **call},
        {"uuid": AGENT_LEG, "name": AGENT_NAME, "callstate": "ACTIVE", **call},
    ]
    head = "name|system|uuid|type|contact|status|state|max_no_answer|wrap_up_time"
    agent_list = "\n".join(
        [
            head,
            f"1001@default|single_box|{AGENT_LEG}|callback|user/8001|Available|In a queue call|3|0",
            # a uuid mod_callcenter kept from a call that ended is no call to listen to
            "1002@default|single_box|gone-leg|callback|user/8002|Available|Waiting|3|0",
            "+OK",
        ]
    )
    _snapshot(sup, rows, agent_list, status="Available")
    (originate,) = sent(sup, "listen", 32, agent_id="1001")
    assert originate["Command"].endswith(f"&eavesdrop({AGENT_LEG})")
    with pytest.raises(InvalidArguments, match="no queue call"):
        sup.encode_command("listen", {"agent_id": "1002"}, 33)


@pytest.mark.parametrize(
    ("status", "rows", "key"),
    [
        ("Logged Out", [], "Logged Out"),
        ("On Break", [], "On Break"),
        ("Available (On Demand)", [], "Available (On Demand)"),
        ("Available", [{"name": "x", "callstate": "RINGING", "direction": "outbound"}], "RINGING"),
        (
            "Available",
            [{"name": "x", "callstate": "ACTIVE", "application": "eavesdrop"}],
            "eavesdrop",
        ),
        (
            "Available",
            [
                {"name": "x", "callstate": "ACTIVE", "uuid": "a", "call_uuid": "c"},
                {"callstate": "EARLY", "uuid": "b", "call_uuid": "c"},
            ],
            "dialing",
        ),
        (
            "Available",
            [
                {"name": "x", "callstate": "ACTIVE", "uuid": "a", "call_uuid": "c"},
                {"callstate": "HELD", "uuid": "b", "call_uuid": "c"},
                {"callstate": "EARLY", "uuid": "d", "call_uuid": "c"},
            ],
            "ConsultRinging",
        ),
        (
            "Available",
            [
                {"name": "x", "callstate": "ACTIVE", "uuid": "a", "call_uuid": "c"},
                {"callstate": "HELD", "uuid": "b", "call_uuid": "c"},
                {"callstate": "ACTIVE", "uuid": "d", "call_uuid": "c"},
            ],
            "ConsultTalking",
        ),
        (
            "Available",
            [
                {"name": "x", "callstate": "ACTIVE", "uuid": "a", "call_uuid": "c"},
                {"callstate": "ACTIVE", "uuid": "b", "call_uuid": "c"},
                {"callstate": "ACTIVE", "uuid": "d", "call_uuid": "c"},
            ],
            "conference",
        ),
        ("Garbage", [], "unknown"),
    ],
)
def test_snapshot_keys(status: str, rows: list[dict[str, str]], key: str) -> None:
    own = [r for r in rows if r.get("name") == "x"]
    assert snapshot_key(status, "Waiting", own, rows) == key
    assert key in adapter.vendor_map.states


def test_the_agent_list_becomes_the_supervisors_agents() -> None:
    text = (
        "name|system|uuid|type|contact|status|state\n"
        "1001@default|single_box||callback|user/8001|On Break|Waiting\n+OK\n"
    )
    assert parse_agent_list(text) == [
        {
            "agent_id": "1001@default",
            "name": "1001@default",
            "status": "On Break",
            "state": "Waiting",
            "paused": True,
        }
    ]


def test_replies_to_commands_of_nobody_and_jobs_of_others_are_ignored(
    protocol: EslProtocol,
) -> None:
    assert feed(protocol, reply("+OK")) == []
    foreign = {
        "Content-Type": "text/event-json",
        "Event-Name": "BACKGROUND_JOB",
        "Job-UUID": "x-1-0",
        "_body": "+OK",
    }
    assert feed(protocol, foreign) == []
    ours_but_unknown = {**foreign, "Job-UUID": "t-99-0"}
    assert feed(protocol, ours_but_unknown) == []


def test_the_tables_stay_bounded_under_a_flood_of_legs(protocol: EslProtocol) -> None:
    for i in range(5000):
        uuid = f"leg-{i}"
        feed(
            protocol,
            channel("CHANNEL_CREATE", uuid, AGENT_NAME, **{"Call-Direction": "outbound"}),
            channel("CHANNEL_HANGUP", uuid, AGENT_NAME),
        )
    t = protocol.tracker
    assert len(t.legs) <= 16 and t.peers <= 64 and len(t._gone) <= 256
    for i in range(3000):
        feed(protocol, cc("bridge-agent-start", f"a{i}@default", **{"CC-Agent-UUID": str(i)}))
    assert len(protocol._agent_calls) <= 1024


def test_a_client_seeing_only_callcenter_events_ends_the_call_on_member_queue_end(
    protocol: EslProtocol,
) -> None:
    member = {"CC-Member-Session-UUID": CALLER_LEG, "CC-Member-CID-Number": "5551234"}
    offering = cc("agent-offering", **member, **{"CC-Queue": "sales@default"})
    start = cc("bridge-agent-start", **member, **{"CC-Agent-UUID": AGENT_LEG})
    # member-queue-end names the member, not the agent: it is the agent's by its member
    end = {**cc("member-queue-end", **member, **{"CC-Cause": "Terminated"})}
    del end["CC-Agent"]
    out = feed(protocol, offering, start, end)
    assert names(out) == ["ringing", "answered", "hung_up"]
    assert out[-1].payload == {"call_id": CALLER_LEG, "reason": "Terminated"}
    # another member's end is not this agent's
    other = {**end, "CC-Member-Session-UUID": "someone-else"}
    assert names(feed(protocol, offering, other)) == ["ringing"]


def test_with_the_agents_leg_up_its_own_hangup_ends_the_call_not_member_queue_end(
    protocol: EslProtocol,
) -> None:
    queue_call(protocol)
    end = cc("member-queue-end", **{"CC-Member-Session-UUID": CALLER_LEG, "CC-Cause": "Terminated"})
    assert names(feed(protocol, end)) == []  # a third party may still be in the call


def test_ready_status_on_demand_is_what_check_in_and_restore_set() -> None:
    p = adapter.protocol(
        user="1001", options={"ready_status": "Available (On Demand)", "job_prefix": "t"}
    )
    (restore,) = p.encode_command("restore", {}, 1)
    assert restore["Command"] == (
        "bgapi callcenter_config agent set status 1001@default 'Available (On Demand)'"
    )
    with pytest.raises(ValueError, match="ready_status"):
        adapter.protocol(user="1001", options={"ready_status": "Ready"})


KEYS = [
    "Content-Type",
    "Event-Name",
    "Event-Subclass",
    "CC-Action",
    "CC-Agent",
    "CC-Agent-Status",
    "CC-Agent-State",
    "CC-Member-Session-UUID",
    "CC-Agent-UUID",
    "Unique-ID",
    "Channel-Name",
    "Call-Direction",
    "Other-Leg-Unique-ID",
    "Bridge-A-Unique-ID",
    "Bridge-B-Unique-ID",
    "Job-UUID",
    "Reply-Text",
    "DTMF-Digit",
    "Hangup-Cause",
    "_body",
]
VALUES = {
    "Content-Type": ["command/reply", "api/response", "text/event-json", "text/disconnect-notice"],
    "Event-Name": [
        "CUSTOM",
        "BACKGROUND_JOB",
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "CHANNEL_BRIDGE",
        "CHANNEL_HANGUP",
        "CHANNEL_HOLD",
        "DTMF",
    ],
    "Event-Subclass": ["callcenter::info"],
    "CC-Action": [
        "agent-status-change",
        "agent-state-change",
        "agent-offering",
        "bridge-agent-start",
        "bridge-agent-end",
        "member-queue-end",
    ],
    "CC-Agent": [AGENT, "9001@default"],
    "CC-Agent-Status": ["Available", "On Break", "Logged Out", "Available (On Demand)"],
    "Unique-ID": [AGENT_LEG, CALLER_LEG],
    "Channel-Name": [AGENT_NAME, CALLER_NAME],
    "Job-UUID": ["t-1-0", "t-2-1", "t-x-y"],
}


ANYTHING = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
MESSAGE_VALUES = {
    key: (st.sampled_from(VALUES[key]) if key in VALUES else st.text(max_size=12)) | ANYTHING
    for key in KEYS
}


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_json_values_in_any_order_never_raise(data: st.DataObject) -> None:
    protocol = adapter.protocol(user="1001", options={"extension": "8001", "job_prefix": "t"})
    sent(protocol, "check_in", 1, group_ids=["sales"])
    for _ in range(data.draw(st.integers(1, 12))):
        message = {}
        for key in data.draw(st.lists(st.sampled_from(KEYS), max_size=10, unique=True)):
            message[key] = data.draw(MESSAGE_VALUES[key])
        out = protocol.receive(message)
        assert all(isinstance(i, (Signal, Answer, Snapshot, Malformed)) for i in out)


def test_a_rude_rejection_fails_the_login_with_the_servers_words(protocol: EslProtocol) -> None:
    protocol.encode_command("connect", {"user": "1001", "password": "pw"}, 1)
    rude = {"Content-Type": "text/rude-rejection", "_body": "Access Denied, go away.\n"}
    out = feed(protocol, rude)
    assert names(out) == ["login_failed"]
    assert out[0].payload == {"message": "Access Denied, go away.\n"}


def test_unanswered_commands_are_capped_and_late_replies_still_meet_their_own() -> None:
    from cti_fsm_freeswitch_esl.protocol import MAX_OUTSTANDING

    p = adapter.protocol(user="1001", options={"extension": "8001", "job_prefix": "t"})
    sent_by = {}
    for request_id in range(1, MAX_OUTSTANDING + 2001):
        (sent_by[request_id],) = p.encode_command("pause", {"reason": "x"}, request_id)
    assert len(p._pending) == MAX_OUTSTANDING
    assert len(p._replies) == MAX_OUTSTANDING
    # the replies owed to the forgotten command lines are skipped: the next reply is read
    # as the oldest remembered command's, not as a forgotten one's
    for _ in range(2000):
        assert p.receive(reply("+OK Job-UUID: t-1-0")) == []
    request, part = p._replies[0]
    assert request is not None and (request.request_id, part) == (2001, 0)
    # a job result for a forgotten request is ignored; one still waiting is answered
    assert p.receive(job(sent_by[1], "-ERR gone")) == []
    last = MAX_OUTSTANDING + 2000
    out = p.receive(job(sent_by[last], "-ERR no such agent"))
    assert [a for a in out if isinstance(a, Answer)] == [Answer(last, False, "no such agent")]
