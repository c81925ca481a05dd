"""Replays of real recorded AMI traffic: the states an agent lives through, asserted exactly.

Each expectation was written by reading the capture (the reasoning is next to it), then
checked against the adapter. ``moves`` lists, for every signal that changed the state or
emitted a notification: (packet index, signal, state after, notifications).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cti_fsm_asterisk_ami import adapter

from cti_fsm.adapter import Malformed
from cti_fsm.replay import Replayed, replay

RAW = "asterisk-mqtt_freepbx_answered-outbound.raw"
ORIGINATE11 = "panoramisk_xivo-ast11_originate-ringing-answer-bridge-hangup.yaml"
LOGIN11 = "panoramisk_xivo-ast11_agent-login-QueueMemberAdded.yaml"
UNPAUSE11 = "panoramisk_xivo-ast11_agent-unpause-QueueMemberPaused.yaml"
STATUS11 = "panoramisk_xivo-ast11_QueueStatus-response.yaml"
DOC = "asterisk-docs_AMIv2-spec_call-flows-dial-bridge-blind-attended-transfer-hold-dtmf.md"

IDLE = "checked_in.available.idle"
PAUSED = "checked_in.available.paused"


def moves(items: list[Replayed]) -> list[tuple[Any, ...]]:
    return [
        (r.index, r.step.signal, r.step.target, r.step.names)
        for r in items
        if r.step is not None and r.moved
    ]


def run(captures: Path, name: str, user: str, start: str | None = None) -> list[Replayed]:
    return list(replay("asterisk-ami", captures / name, user=user, start=start))


def test_freepbx_outbound_call_from_the_callers_side(captures: Path) -> None:
    # PJSIP/1986 (Martin) dials extension 21 from the handset: DialBegin from his channel
    # (dialing), PJSIP/21 rings (Newstate 5 of the peer: onCallOutRing), DialEnd ANSWER
    # (talking), both enter a bridge, 21 hangs up first, then 1986's channel: back to idle.
    items = run(captures, RAW, "PJSIP/1986")
    assert moves(items) == [
        (5, "dialing", "checked_in.dialing", ("onCallout",)),
        (7, "remote_ringing", "checked_in.dialing", ("onCallOutRing",)),
        (10, "answered", "checked_in.talking", ("onCallOut", "onInCall")),
        (22, "hung_up", IDLE, ("onIdle",)),
    ]
    first = items[0].step
    assert first is not None and first.notifications[0].payload == {
        "call_id": "1770888509.40",
        "phone_number": "21",
    }
    assert not any(isinstance(r.message, Malformed) for r in items)


def test_freepbx_outbound_call_from_the_called_side(captures: Path) -> None:
    # The same call seen by PJSIP/21: DialBegin names its channel as DestChannel with a
    # caller (ringing: onCallInRing from 1986), DialEnd ANSWER (talking: onCallIn), its own
    # Hangup (the first of the two) ends the call.
    assert moves(run(captures, RAW, "PJSIP/21")) == [
        (5, "ringing", "checked_in.ringing", ("onCallInRing",)),
        (10, "answered", "checked_in.talking", ("onCallIn", "onInCall")),
        (20, "hung_up", IDLE, ("onIdle",)),
    ]


def test_asterisk11_originate_seen_by_the_agents_phone(captures: Path) -> None:
    # Asterisk 11. An Originate of Local/259 to 254: Local/259;2 Dial()s SIP/ddddd (the
    # agent's phone rings: Dial Begin with Destination SIP/ddddd-00000000 -> ringing), the
    # phone answers and is bridged with the Local channel (Bridge Link -> talking). Then the
    # Local channel is masqueraded away: the name SIP/ddddd-00000000 passes to another
    # unique id, the old one dies as "...;1<ZOMBIE>" (not the agent's). The agent's channel
    # dials SIP/uuuuu (254), which rings and answers (ignored while talking); 254 hangs up,
    # then the agent's channel: idle. 260 AGIExec, 269 VarSet, 136 Newexten and 20 CEL
    # packets move nothing.
    items = run(captures, ORIGINATE11, "SIP/ddddd")
    assert moves(items) == [
        (316, "ringing", "checked_in.ringing", ("onCallInRing",)),
        (332, "answered", "checked_in.talking", ("onCallIn", "onInCall")),
        (744, "hung_up", IDLE, ("onIdle",)),
    ]
    noise = {"VarSet", "AGIExec", "Newexten", "CEL", "ExtensionStatus", "RTCPSent"}
    assert not [r for r in items if isinstance(r.message, dict) and r.message.get("Event") in noise]


def test_asterisk11_originate_seen_by_the_called_party(captures: Path) -> None:
    # SIP/uuuuu is dialled by the agent's (masqueraded) channel: ringing on Dial Begin,
    # talking on Bridge Link, idle on its own Hangup.
    assert moves(run(captures, ORIGINATE11, "SIP/uuuuu")) == [
        (671, "ringing", "checked_in.ringing", ("onCallInRing",)),
        (685, "answered", "checked_in.talking", ("onCallIn", "onInCall")),
        (731, "hung_up", IDLE, ("onIdle",)),
    ]


def test_asterisk11_agent_login(captures: Path) -> None:
    # XiVO agent 402 logs in by dialling *30402: its queue-member interface is
    # Local/id-3@agentcallback (the member's StateInterface is the phone, SIP/999999). Only
    # QueueMemberAdded for that interface matters: connected -> checked in, idle. The call
    # to *30402 itself never reaches a Dial or Bridge, so it moves nothing; the Ping
    # answers belong to another client. The recorder lost bytes twice ("[218 bytes missing
    # in capture file]"): each gap is one bad line plus one packet without a type.
    items = run(captures, LOGIN11, "Local/id-3@agentcallback", start="connected")
    assert moves(items) == [(88, "checked_in", IDLE, ("onCheckIn",))]
    bad = [r.message for r in items if isinstance(r.message, Malformed)]
    assert [m.reason for m in bad] == [
        "not a 'Key: Value' line",
        "packet has no Event, Response or Action",
    ] * 2


def test_asterisk11_unpause(captures: Path) -> None:
    # Agent 999 (Local/id-12@agentcallback) is paused and dials *12, whose dialplan runs
    # UnpauseQueueMember: one QueueMemberPaused with Paused 0 -> restored, back to idle.
    # The QueueMemberStatus rows (Paused: 1, then 0) are device-state noise.
    items = run(captures, UNPAUSE11, "Local/id-12@agentcallback", start="paused")
    assert moves(items) == [(41, "restored", IDLE, ("onRestore",))]


def test_asterisk11_unpause_does_not_concern_another_member(captures: Path) -> None:
    items = run(captures, UNPAUSE11, "Local/id-3@agentcallback", start="paused")
    assert moves(items) == []


@pytest.mark.parametrize(
    ("member", "state", "why"),
    [
        # Agent/999: Status 5 (unavailable device) and Paused 1 -> paused
        ("Local/id-12@agentcallback", PAUSED, "paused"),
        # Agent/220: Status 1 (not in use), not paused -> idle
        ("Local/id-9@agentcallback", IDLE, "NOT_INUSE"),
        # not listed in the queue -> only logged in
        ("PJSIP/nobody", None, None),
    ],
)
def test_asterisk11_queue_status_answer_is_a_snapshot(
    captures: Path, member: str, state: str | None, why: str | None
) -> None:
    # A QueueStatus answer recorded without its action: the rows for the member become an
    # unsolicited snapshot at QueueStatusComplete (packet 8), which the replay jumps to.
    items = run(captures, STATUS11, member, start="connected")
    jumps = [(r.index, r.step.target) for r in items if r.step is not None]
    if state is None:
        assert jumps == []
    else:
        assert jumps == [(8, state)]
        assert items[-1].inbound.payload["vendor_state"] == why  # type: ignore[union-attr]


def test_doc_flows_for_kermit(captures: Path) -> None:
    # The AMI v2 specification's examples, read as one stream (its vignettes follow each
    # other, so state carries over). Kermit: his channel's first Hangup comes while idle
    # (nothing); "Simple Successful Dial" to Animal: DialBegin from him (dialing), DialEnd
    # ANSWER (talking); the failed and parallel dials happen while he is still talking
    # (ignored); in "Two Party Bridging" he hangs up: idle. In "Local Channel Optimization"
    # Gonzo reaches him through Local/kermit@default: DialBegin to his channel from the
    # Local half (ringing), DialEnd ANSWER (talking). The optimization then puts Gonzo,
    # Kermit and the Local half in one bridge for a moment: that is no three-party call.
    assert moves(run(captures, DOC, "PJSIP/kermit")) == [
        (5, "dialing", "checked_in.dialing", ("onCallout",)),
        (6, "answered", "checked_in.talking", ("onCallOut", "onInCall")),
        (22, "hung_up", IDLE, ("onIdle",)),
        (51, "ringing", "checked_in.ringing", ("onCallInRing",)),
        (52, "answered", "checked_in.talking", ("onCallIn", "onInCall")),
    ]


def test_doc_blind_transfer_by_fozzie(captures: Path) -> None:
    # "Example - Blind Transfer": Fozzie is talking with Kermit (start: talking). He keys
    # "#1" (two DTMFEnd received on his channel: onDtmfSent each), the Hold event on his
    # channel (held) and the Unhold (talking), then BlindTransfer with him as transferer,
    # Result Success: transferred, back to idle.
    assert moves(run(captures, DOC, "PJSIP/fozzie", start="talking")) == [
        (30, "dtmf_sent", "checked_in.talking", ("onDtmfSent",)),
        (32, "dtmf_sent", "checked_in.talking", ("onDtmfSent",)),
        (33, "held", "checked_in.held", ("onHold",)),
        (35, "retrieved", "checked_in.talking", ("onRetrieve",)),
        (36, "transferred", IDLE, ("onTransfer", "onIdle")),
    ]


def test_doc_gonzo_calls_through_a_local_channel(captures: Path) -> None:
    # Gonzo's "Two Party Bridging" channel enters a bridge while he is idle (no call of his
    # was seen starting: nothing) and hangs up (nothing). In "Local Channel Optimization"
    # he dials Local/kermit@default;1: dialing, DialEnd ANSWER: talking. Being moved into
    # Kermit's bridge is no new party.
    assert moves(run(captures, DOC, "PJSIP/gonzo")) == [
        (45, "dialing", "checked_in.dialing", ("onCallout",)),
        (46, "answered", "checked_in.talking", ("onCallOut", "onInCall")),
    ]


def test_doc_markdown_packets_are_extracted(captures: Path) -> None:
    frames = adapter.read_capture(captures / DOC)
    codec = adapter.protocol(user="PJSIP/x", options={}).codec
    packets = [m for f in frames for m in codec.feed(f)]
    assert not [p for p in packets if isinstance(p, Malformed)]
    events = [p.get("Event") for p in packets if isinstance(p, dict)]
    assert len(events) == 65  # one per "Event:" line inside the code blocks
    assert events[:3] == ["Newchannel", "Newstate", "Hangup"]
    assert "BlindTransfer" in events and "LocalOptimizationEnd" in events


def test_replay_accepts_decoded_messages_and_the_adapter_object() -> None:
    messages = [
        {"Event": "QueueMemberAdded", "Queue": "q", "Interface": "PJSIP/7"},
        {"Event": "VarSet", "Channel": "PJSIP/7-1", "Variable": "A"},
        {
            "Event": "QueueMemberPause",
            "Queue": "q",
            "Interface": "PJSIP/7",
            "Paused": "1",
            "PausedReason": "lunch",
        },
    ]
    items = list(replay(adapter, messages, user="PJSIP/7", start="connected"))
    assert [(r.index, r.step.target) for r in items if r.step] == [(0, IDLE), (2, PAUSED)]
    assert items[-1].step.notifications[0].payload["reason"] == "lunch"  # type: ignore[union-attr]


def test_a_replayed_message_the_protocol_calls_malformed_moves_nothing() -> None:
    from cti_fsm_asterisk_ami import adapter

    from cti_fsm.events import Malformed
    from cti_fsm.replay import replay

    repeated = {"Event": "Hangup", "Channel": ["PJSIP/1001-1", "PJSIP/1001-2"]}
    (only,) = list(replay(adapter, [repeated], user="PJSIP/1001", start="talking"))
    assert isinstance(only.message, Malformed) and not only.moved
