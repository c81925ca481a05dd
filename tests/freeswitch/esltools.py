"""Helpers shared by the FreeSWITCH ESL tests: how the conformance suite logs agents in, the
gap the README documents, and events as FreeSWITCH writes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cti_fsm_freeswitch_esl.protocol import EslProtocol

from cti_fsm.adapter import Inbound, Signal
from cti_fsm.testing.conformance import Account, Gap, Login

AGENT = "1001@default"
AGENT_LEG = "a9b8c7d6-0000-4000-8000-000000000001"
CALLER_LEG = "c1c2c3c4-0000-4000-8000-000000000002"


def esl_login(account: Account) -> Login:
    """A mod_callcenter agent is ``<id>@default``; its phone is its device's extension."""
    return Login(account.id, account.password, {"extension": account.device})


#: What the adapter README documents that ESL cannot tell an agent.
ESL_GAPS = (
    Gap(
        "barge-in unseen by the spied agent",
        "eavesdrop's three-way key is a DTMF inside the supervisor's eavesdrop: FreeSWITCH"
        " sends the spied agent's leg no event, so it stays talking while the switch has"
        " three parties",
        agent_state="checked_in.talking",
        switch_state="checked_in.three_party",
        role="agent",
    ),
)


def feed(protocol: EslProtocol, *messages: dict[str, Any]) -> list[Inbound]:
    """Everything the protocol makes of the messages, in order."""
    out: list[Inbound] = []
    for message in messages:
        out.extend(protocol.receive(message))
    return out


def names(inbound: Sequence[Inbound]) -> list[str]:
    """The signal names among what a protocol returned."""
    return [i.name for i in inbound if isinstance(i, Signal)]


def cc(action: str, agent: str = AGENT, **headers: str) -> dict[str, Any]:
    """A callcenter::info event as mod_callcenter fires it (JSON framing)."""
    return {
        "Content-Type": "text/event-json",
        "Event-Name": "CUSTOM",
        "Event-Subclass": "callcenter::info",
        "CC-Action": action,
        "CC-Agent": agent,
        **headers,
    }


def channel(event: str, uuid: str, name: str, **headers: str) -> dict[str, Any]:
    """A CHANNEL_* event of leg ``uuid`` named ``name``."""
    return {
        "Content-Type": "text/event-json",
        "Event-Name": event,
        "Unique-ID": uuid,
        "Channel-Name": name,
        "Channel-Call-UUID": headers.pop("call", CALLER_LEG),
        **headers,
    }


def job(protocol_message: dict[str, Any], body: str) -> dict[str, Any]:
    """The BACKGROUND_JOB answering the bgapi ``protocol_message``."""
    return {
        "Content-Type": "text/event-json",
        "Event-Name": "BACKGROUND_JOB",
        "Job-UUID": protocol_message["Job-UUID"],
        "Job-Command": str(protocol_message["Command"]).split(" ")[1],
        "_body": body,
    }
