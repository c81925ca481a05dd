"""Replays of every shared ESL capture: the states an agent lives through, asserted exactly.

Each expectation was written by reading the capture (the reasoning is next to it), then
checked against the adapter. ``moves`` lists, for every signal that changed the state or
emitted a notification: (message index, signal, state after, notifications).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cti_fsm_freeswitch_esl import adapter
from cti_fsm_freeswitch_esl.codec import EslCodec

from cti_fsm.adapter import Malformed
from cti_fsm.replay import Replayed, replay

EX1 = "neventsocket_ex1_inbound-bridge-to-agent-answer-caller-hangup.txt"
EX3 = "neventsocket_ex3_agent-ringing-caller-abandons-ORIGINATOR_CANCEL.txt"
EX4 = "neventsocket_ex4_bridged-DTMF-record-att_xfer-failed.txt"
BRIDGE_PLAIN = "esl-core_fs1.10_live_channel-bridge-loopback-plain.esl"
BRIDGE_JSON = "esl-core_fs1.10_live_channel-bridge-loopback-json.esl"
UNBRIDGE = "esl-core_fs1.10_live_channel-unbridge-loopback-plain.esl"
JOINED = "esl-conference_fs1.10.11_live_conference_member_joined.event"
LEFT = "esl-conference_fs1.10.11_live_conference_member_left.event"
CALLCENTER_DOC = "freeswitch-docs_mod_callcenter_events-section.md"
WEBITEL = "webitel-docs_events-list_DTMF-CHANNEL_CREATE-BRIDGE-account_status.rst"

IDLE = "checked_in.available.idle"
RINGING = "checked_in.ringing"
TALKING = "checked_in.talking"


def moves(items: list[Replayed]) -> list[tuple[Any, ...]]:
    return [
        (r.index, r.step.signal, r.step.target, r.step.names)
        for r in items
        if r.step is not None and r.moved
    ]


def run(
    captures: Path, name: str, user: str, start: str | None = None, **options: Any
) -> list[Replayed]:
    items = list(replay("freeswitch-esl", captures / name, user=user, start=start, options=options))
    assert not any(isinstance(r.message, Malformed) for r in items)
    return items


def decoded(captures: Path, name: str) -> list[Any]:
    """The messages a capture holds, through the adapter's reader and codec."""
    codec = EslCodec()
    return [m for frame in adapter.read_capture(captures / name) for m in codec.feed(frame)]


def payload(items: list[Replayed], index: int) -> dict[str, Any]:
    found = next(r for r in items if r.index == index and r.step is not None and r.moved)
    assert found.step is not None
    return dict(found.step.notifications[0].payload)


def test_queue_style_bridge_seen_by_the_agent_leg(captures: Path) -> None:
    # An outbound socket on 1001's call (to extension 3, an IVR) bridges it to 1003: seen by
    # 1003, its leg sofia/internal/sip:1003@... is created by FreeSWITCH (an inbound call
    # for the agent: ringing, from 1001), answers (talking), and hangs up after 1001 did.
    items = run(captures, EX1, "1003")
    assert moves(items) == [
        (14, "ringing", RINGING, ("onCallInRing",)),
        (16, "answered", TALKING, ("onCallIn", "onInCall")),
        (21, "hung_up", IDLE, ("onIdle",)),
    ]
    assert payload(items, 14)["phone_number"] == "1001"
    assert payload(items, 21)["reason"] == "NORMAL_CLEARING"


def test_the_same_call_seen_by_the_callers_phone(captures: Path) -> None:
    # Seen by 1001: its phone called FreeSWITCH (Call-Direction inbound: the agent placed
    # the call); the IVR's early media, then FreeSWITCH answers it: talking (onCallOut). The
    # bridge to 1003 changes nothing; its own hangup (message 19) ends the call.
    items = run(captures, EX1, "1001")
    assert moves(items) == [
        (4, "dialing", "checked_in.dialing", ("onCallout",)),
        (5, "answered", TALKING, ("onCallOut", "onInCall")),
        (19, "hung_up", IDLE, ("onIdle",)),
    ]
    assert payload(items, 4)["phone_number"] == "3"


def test_the_caller_abandons_while_the_agent_rings(captures: Path) -> None:
    # 1003 rings; 1001 hangs up first; 1003's leg is cancelled (ORIGINATOR_CANCEL): idle.
    items = run(captures, EX3, "1003")
    assert moves(items) == [
        (14, "ringing", RINGING, ("onCallInRing",)),
        (17, "hung_up", IDLE, ("onIdle",)),
    ]
    assert payload(items, 17)["reason"] == "ORIGINATOR_CANCEL"


def test_dtmf_keyed_on_the_agents_phone_during_a_bridged_call(captures: Path) -> None:
    # 1003 answers, keys #7 #7 #8 #9 1234 (each a DTMF event of its leg: onDtmfSent), an
    # att_xfer attempt fails (nothing for the chart), then 1003 hangs up first: idle.
    items = run(captures, EX4, "1003")
    digits = [
        (r.index, r.step.payload["digits"])
        for r in items
        if r.step and r.step.signal == "dtmf_sent"
    ]
    assert [d for _, d in digits] == list("#7#7#8#91234")
    assert [m for m in moves(items) if m[1] != "dtmf_sent"] == [
        (14, "ringing", RINGING, ("onCallInRing",)),
        (16, "answered", TALKING, ("onCallIn", "onInCall")),
        (52, "hung_up", IDLE, ("onIdle",)),
    ]


@pytest.mark.parametrize("name", [BRIDGE_PLAIN, BRIDGE_JSON])
def test_a_live_bridge_in_either_framing_answers_a_ringing_agent(captures: Path, name: str) -> None:
    # FreeSWITCH 1.10, the same CHANNEL_BRIDGE once as plain and once as JSON: the agent's
    # leg (loopback/apn-esl-core-events-b, by its contact pattern) is bridged: talking
    items = run(captures, name, "x", "ringing", contact_pattern="^loopback/apn-esl-core-events-")
    assert moves(items) == [(0, "answered", TALKING, ("onCallIn", "onInCall"))]
    assert payload(items, 0)["phone_number"] == "apn-esl-core-smoke"


def test_an_unbridge_alone_does_not_end_the_call(captures: Path) -> None:
    # the leg leaves its bridge but is still up (Answer-State answered): the hangup, when it
    # comes, ends the call
    items = run(
        captures, UNBRIDGE, "x", "talking", contact_pattern="^loopback/apn-esl-core-events-"
    )
    assert items == []  # no signal at all
    (event,) = decoded(captures, UNBRIDGE)
    assert event["Event-Name"] == "CHANNEL_UNBRIDGE" and event["Answer-State"] == "answered"


@pytest.mark.parametrize("name", [JOINED, LEFT])
def test_conference_maintenance_events_are_not_the_agents_calls(captures: Path, name: str) -> None:
    # mod_conference's add-member / del-member of the agent's leg: not followed (the agent's
    # calls are its legs and mod_callcenter's events); read, not malformed, nothing moves
    (event,) = decoded(captures, name)
    assert event["Event-Subclass"] == "conference::maintenance"
    assert event["Channel-Name"] == "loopback/9196-a"
    assert run(captures, name, "x", "talking", contact_pattern="^loopback/9196-") == []


def test_the_official_callcenter_examples_as_agent_1000(captures: Path) -> None:
    # the docs' agent-status-change (1000@default Available) signs a connected agent in;
    # its agent-state-change Receiving moves nothing (agent-offering is the ringing)
    items = run(captures, CALLCENTER_DOC, "1000", "connected")
    assert moves(items) == [(0, "checked_in", IDLE, ("onCheckIn",))]


def test_the_official_callcenter_examples_as_the_offered_agent(captures: Path) -> None:
    # agent-offering (caller CHOUINARD MO, 4385551212, queue support@default): ringing;
    # bridge-agent-start: talking; bridge-agent-end: idle; bridge-agent-fail after it, the
    # member events and members-count move nothing
    items = run(captures, CALLCENTER_DOC, "AgentNameHere", agent_name="AgentNameHere")
    assert moves(items) == [
        (2, "ringing", RINGING, ("onCallInRing",)),
        (3, "answered", TALKING, ("onCallIn", "onInCall")),
        (4, "hung_up", IDLE, ("onIdle",)),
    ]
    ring = payload(items, 2)
    assert (ring["phone_number"], ring["area"]) == ("4385551212", "support@default")
    assert ring["call_id"] == "600165a4-f748-11df-afdd-b386769690cd"


def test_the_webitel_examples_as_the_calling_phone(captures: Path) -> None:
    # 9999's phone calls 100 (CHANNEL_CREATE, Call-Direction inbound: dialing), a bridge of
    # its leg (another example's, so a leg seen for the first time): talking
    items = run(captures, WEBITEL, "9999")
    assert moves(items) == [
        (10, "dialing", "checked_in.dialing", ("onCallout",)),
        (12, "answered", TALKING, ("onCallOut", "onInCall")),
    ]
    assert payload(items, 10)["phone_number"] == "100"
    assert payload(items, 12)["phone_number"] == "100"


def test_the_webitel_examples_as_the_phone_keying_dtmf(captures: Path) -> None:
    items = run(captures, WEBITEL, "100", "talking")
    assert moves(items) == [(9, "dtmf_sent", TALKING, ("onDtmfSent",))]
    assert payload(items, 9) == {"digits": "5"}


def test_the_cli_replays_a_capture(captures: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cti_fsm.cli",
            "replay",
            "--vendor",
            "freeswitch-esl",
            "--agent",
            "1003",
            str(captures / EX3),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "CHANNEL_CREATE" in done.stdout and "onCallInRing" in done.stdout
    assert "final state: checked_in.available.idle" in done.stdout


def test_the_cli_names_callcenter_events_by_their_action(captures: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cti_fsm.cli",
            "replay",
            "--vendor",
            "freeswitch-esl",
            "--agent",
            "AgentNameHere",
            "--option",
            "agent_name=AgentNameHere",
            str(captures / CALLCENTER_DOC),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:3]] == [
        "agent-offering",
        "bridge-agent-start",
        "bridge-agent-end",
    ]
