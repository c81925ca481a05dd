"""Calls that ring several destinations at once (a ring group, a ringall queue, follow-me)
are one call to the agent that placed them (issue 11): one onCallout, onCallOutRing once,
and one onDialOver when the last leg fails, or onCallOut when one answers.

The traffic is written from the AMI specification's dial events: Dial() to several
channels raises one DialBegin per destination (Channel: the caller, DestChannel: the
leg), DialState as a leg's status changes (RINGING), the legs' own Newstate Ringing, and
one DialEnd per leg: ANSWER for the one that answered, CANCEL for the others Dial() then
hangs up, or the leg's failure (BUSY, NOANSWER, CHANUNAVAIL)."""

from __future__ import annotations

from typing import Any

import pytest
from amitools import AGENT, AGENT_CH, feed
from cti_fsm_asterisk_ami import adapter

from cti_fsm.adapter import Signal
from cti_fsm.machine import Machine

LINK = {"Linkedid": "1700000100.1"}
LEGS = ("PJSIP/2001-00000011", "PJSIP/2002-00000012", "PJSIP/2003-00000013")


def dial_begin(leg: str) -> dict[str, Any]:
    return {
        "Event": "DialBegin",
        "Channel": AGENT_CH,
        "DestChannel": leg,
        "DestCallerIDNum": "600",
        "DialString": leg.split("-")[0],
        **LINK,
    }


def dial_state(leg: str) -> dict[str, Any]:
    return {
        "Event": "DialState",
        "Channel": AGENT_CH,
        "DestChannel": leg,
        "DestCallerIDNum": "600",
        "DialStatus": "RINGING",
        **LINK,
    }


def ringing(leg: str) -> dict[str, Any]:
    return {"Event": "Newstate", "Channel": leg, "ChannelState": "5", **LINK}


def dial_end(leg: str, status: str) -> dict[str, Any]:
    return {
        "Event": "DialEnd",
        "Channel": AGENT_CH,
        "DestChannel": leg,
        "DestCallerIDNum": "600",
        "DialStatus": status,
        **LINK,
    }


def notifications(packets: list[dict[str, Any]]) -> list[str]:
    """What the agent hears: the signals applied to an idle agent's machine."""
    protocol = adapter.protocol(user=AGENT, options={})
    machine = Machine(adapter.chart, state="checked_in.available.idle")
    notes: list[str] = []
    for signal in feed(protocol, *packets):
        assert isinstance(signal, Signal)
        notes += [n.name for n in machine.apply(signal.name, **signal.payload).notifications]
    return notes


RINGING_ALL = [
    {"Event": "Newchannel", "Channel": AGENT_CH, "ChannelState": "4", **LINK},
    *[dial_begin(leg) for leg in LEGS],
    *[p for leg in LEGS for p in (dial_state(leg), ringing(leg))],
]


def test_a_ring_group_one_leg_answers() -> None:
    answered = [
        dial_end(LEGS[1], "ANSWER"),
        dial_end(LEGS[0], "CANCEL"),
        dial_end(LEGS[2], "CANCEL"),
        {"Event": "Hangup", "Channel": LEGS[0], "Cause-txt": "Answered elsewhere", **LINK},
        {"Event": "Hangup", "Channel": LEGS[2], "Cause-txt": "Answered elsewhere", **LINK},
        {"Event": "BridgeEnter", "BridgeUniqueid": "b7", "Channel": AGENT_CH, **LINK},
        {"Event": "BridgeEnter", "BridgeUniqueid": "b7", "Channel": LEGS[1], **LINK},
    ]
    assert notifications(RINGING_ALL + answered) == [
        "onCallout",
        "onCallOutRing",
        "onCallOut",
        "onInCall",
    ]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1)])
def test_a_ring_group_every_leg_fails_is_one_dial_over_at_the_last(
    order: tuple[int, int, int],
) -> None:
    statuses = ("NOANSWER", "BUSY", "CHANUNAVAIL")
    failed = [dial_end(LEGS[i], statuses[i]) for i in order]
    notes = notifications(RINGING_ALL + failed[:2])
    assert notes == ["onCallout", "onCallOutRing"]  # two legs gone, one still rings
    notes = notifications([*RINGING_ALL, *failed, {"Event": "Hangup", "Channel": AGENT_CH, **LINK}])
    assert notes == ["onCallout", "onCallOutRing", "onDialOver"]


def test_follow_me_through_local_channels_is_one_call() -> None:
    # the agent dials a follow-me: a Local channel whose other half dials each number
    one, two = "Local/600@followme-0000001a;1", "Local/600@followme-0000001a;2"
    mobiles = ("PJSIP/trunk-00000021", "PJSIP/trunk-00000022")
    packets = [
        dial_begin(one),
        *[{"Event": "DialBegin", "Channel": two, "DestChannel": m, **LINK} for m in mobiles],
        *[ringing(m) for m in mobiles],
        ringing(two),
        {"Event": "DialEnd", "Channel": two, "DestChannel": mobiles[0], "DialStatus": "BUSY"},
        {"Event": "DialEnd", "Channel": two, "DestChannel": mobiles[1], "DialStatus": "NOANSWER"},
        dial_end(one, "NOANSWER"),
    ]
    assert notifications(packets) == ["onCallout", "onCallOutRing", "onDialOver"]


def test_a_new_dial_after_one_ended_rings_again() -> None:
    first = [*RINGING_ALL, *[dial_end(leg, "NOANSWER") for leg in LEGS]]
    again = [dial_begin(LEGS[0]), dial_state(LEGS[0]), ringing(LEGS[0])]
    assert notifications(first + again) == [
        "onCallout",
        "onCallOutRing",
        "onDialOver",
        "onCallout",
        "onCallOutRing",
    ]
