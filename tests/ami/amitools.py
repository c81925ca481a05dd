"""Helpers shared by the AMI tests: packets as Asterisk 18 writes them, and feeding them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cti_fsm_asterisk_ami.protocol import AmiProtocol

from cti_fsm.adapter import Inbound, Signal

AGENT = "PJSIP/1001"
AGENT_CH = "PJSIP/1001-0000000a"
CALLER_CH = "PJSIP/trunk-00000009"


def feed(protocol: AmiProtocol, *packets: dict[str, Any]) -> list[Inbound]:
    """Everything the protocol makes of the packets, in order."""
    out: list[Inbound] = []
    for packet in packets:
        out.extend(protocol.receive(packet))
    return out


def names(inbound: Sequence[Inbound]) -> list[str]:
    """The signal names among what a protocol returned."""
    return [i.name for i in inbound if isinstance(i, Signal)]


def inbound_call(queue: str = "sales") -> list[dict[str, Any]]:
    """A queue call from 5551234 offered to and answered by the agent (Asterisk 18)."""
    link = {"Linkedid": "1700000000.9"}
    return [
        {"Event": "Newchannel", "Channel": AGENT_CH, "ChannelState": "0", "Uniqueid": "1.10"},
        {
            "Event": "AgentCalled",
            "Channel": CALLER_CH,
            "DestChannel": AGENT_CH,
            "CallerIDNum": "5551234",
            "Queue": queue,
            "Interface": AGENT,
            **link,
        },
        {"Event": "DialBegin", "Channel": CALLER_CH, "DestChannel": AGENT_CH, **link},
        {"Event": "Newstate", "Channel": AGENT_CH, "ChannelState": "5", **link},
        {
            "Event": "DialEnd",
            "Channel": CALLER_CH,
            "DestChannel": AGENT_CH,
            "DialStatus": "ANSWER",
            **link,
        },
        {
            "Event": "BridgeEnter",
            "BridgeUniqueid": "b1",
            "BridgeNumChannels": "1",
            "Channel": CALLER_CH,
            **link,
        },
        {
            "Event": "BridgeEnter",
            "BridgeUniqueid": "b1",
            "BridgeNumChannels": "2",
            "Channel": AGENT_CH,
            **link,
        },
        {
            "Event": "AgentConnect",
            "Channel": CALLER_CH,
            "DestChannel": AGENT_CH,
            "Interface": AGENT,
            "Queue": queue,
            **link,
        },
    ]


def response(
    action: dict[str, Any], ok: bool = True, message: str = "", **fields: Any
) -> dict[str, Any]:
    """The response Asterisk gives to ``action``."""
    return {
        "Response": "Success" if ok else "Error",
        "ActionID": action["ActionID"],
        "Message": message,
        **fields,
    }
