"""The scenarios shipped with the conformance suite, and the world they act on.

``SCENARIOS`` are the scripted call flows ``check_adapter`` runs by default. ``STIMULI`` are
what can happen outside the agents' CTI links (a customer calls, a third party answers);
``PHONE_ACTIONS`` are the commands an agent's phone can do when the vendor's CTI link
cannot. The population is ``cti_fsm.switch.demo_switch()``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ...errors import PermissionDenied
from ...switch import Switch, SwitchError
from ._scenario_language import (
    AGENT,
    SUPERVISOR,
    Ref,
    Scenario,
    StepSpec,
    do,
    drop,
    refused,
    world,
)

#: The group inbound calls arrive for (only the agent role signs in to it).
INBOUND_GROUP = "sales"
#: The customer's number on every inbound call the stimuli make.
CALLER = "13800000001"

# one-letter roles keep the scenario table below readable
A, S = AGENT, SUPERVISOR
_IN = world("inbound_call", then="ringing")


def _checked_in(*, supervisor: bool = False) -> tuple[StepSpec, ...]:
    steps: tuple[StepSpec, ...] = (do(A, "check_in", group_ids=[INBOUND_GROUP], then="idle"),)
    if supervisor:
        steps += (do(S, "check_in", group_ids=["support"], then="idle"),)
    return steps


def _talking(*, supervisor: bool = False) -> tuple[StepSpec, ...]:
    return (*_checked_in(supervisor=supervisor), _IN, do(A, "answer", then="talking"))


def _consulting() -> tuple[StepSpec, ...]:
    return (*_talking(), do(A, "consult", target="5550199", then="consult_ringing"))


#: The scripted scenarios ``check_adapter`` runs by default, in order.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "log in, check in and out",
        (
            refused(A, "hold"),
            refused(A, "get_all_agents", PermissionDenied),
            do(A, "check_in", group_ids=["no-such-group"], fails=True, then="connected"),
            *_checked_in(),
            do(A, "check_out", then="connected"),
            *_checked_in(),
        ),
    ),
    Scenario("inbound call answered", (*_talking(), do(A, "hangup", then="idle"))),
    Scenario(
        "hold and retrieve",
        (
            *_talking(),
            do(A, "hold", then="held"),
            do(A, "retrieve", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "DTMF",
        (
            *_talking(),
            do(A, "send_dtmf", digits="123#", then="talking"),
            do(A, "send_dtmf", digits="not digits", fails=True, then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "consultation, then transfer",
        (
            *_consulting(),
            world("third_party_answers", then="consult_talking"),
            do(A, "complete_transfer", then="idle"),
        ),
    ),
    Scenario(
        "consultation, then conference",
        (
            *_consulting(),
            refused(A, "conference"),  # not before the consulted party answers
            world("third_party_answers", then="consult_talking"),
            do(A, "conference", then="three_party"),
            world("customer_hangs_up", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "consultation cancelled",
        (*_consulting(), do(A, "cancel_consult", then="talking"), do(A, "hangup", then="idle")),
    ),
    Scenario(
        "consultation rejected",
        (
            *_consulting(),
            world("third_party_rejects", then="held"),
            do(A, "retrieve", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "consulted party hangs up",
        (
            *_consulting(),
            world("third_party_answers", then="consult_talking"),
            world("third_party_hangs_up", then="held"),
            do(A, "retrieve", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "blind transfer",
        (
            *_talking(),
            do(A, "transfer", target="1002", fails=True, then="talking"),
            do(A, "transfer", target="5550111", then="idle"),
        ),
    ),
    Scenario(
        "outbound call, busy",
        (
            *_checked_in(),
            do(A, "dial_out", number="5550100", then="dialing"),
            world("customer_busy", then="idle"),
        ),
    ),
    Scenario(
        "outbound call, not answered",
        (
            *_checked_in(),
            do(A, "dial_out", number="5550100", then="dialing"),
            world("customer_no_answer", then="idle"),
        ),
    ),
    Scenario(
        "outbound call answered",
        (
            *_checked_in(),
            do(A, "dial_out", number="5550100", then="dialing"),
            world("customer_answers", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "outbound call to a number the switch refuses",
        (
            *_checked_in(),
            do(A, "dial_out", number="not a number", fails=None, then="idle"),
            do(A, "dial_out", number="5550100", then="dialing"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "outbound call abandoned while dialling",
        (
            *_checked_in(),
            do(A, "dial_out", number="5550100", then="dialing"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "pause and restore with a reason",
        (
            *_checked_in(),
            do(A, "pause", reason="lunch", then="paused"),
            world("inbound_call", then="paused"),
            do(A, "restore", then="ringing"),
            do(A, "answer", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "a call ends in the availability it started from",
        (
            *_checked_in(),
            do(A, "pause", reason="callback", then="paused"),
            do(A, "dial_out", number="5550100", then="dialing"),
            world("customer_answers", then="talking"),
            do(A, "hangup", then="paused"),
            do(A, "restore", then="idle"),
        ),
    ),
    Scenario(
        "not ready after this call",
        (
            *_talking(),
            do(A, "set_next_state", next="not_ready", reason="training", then="talking"),
            do(A, "hangup", then="paused"),
            do(A, "restore", then="idle"),
        ),
    ),
    Scenario(
        "ready after this call",
        (
            *_checked_in(),
            do(A, "pause", reason="callback", then="paused"),
            do(A, "dial_out", number="5550100", then="dialing"),
            world("customer_answers", then="talking"),
            do(A, "set_next_state", next="ready", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "signed out after this call",
        (
            *_talking(),
            do(A, "set_next_state", next="logout", then="talking"),
            world("customer_hangs_up", then="connected"),
        ),
    ),
    Scenario(
        "ring, no answer",
        (*_checked_in(), _IN, world("agent_no_answer", then="paused")),
    ),
    Scenario(
        "a ringing call rejected",
        (*_checked_in(), _IN, do(A, "hangup", then="idle")),
    ),
    Scenario(
        "supervisor listens, barges in and takes over",
        (
            *_talking(supervisor=True),
            do(S, "listen", agent_id=Ref(A), then="listening"),
            do(S, "join_talk", agent_id=Ref(A), then="three_party"),
            do(S, "disconnect_call", agent_id=Ref(A), then="talking"),
            do(S, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "supervisor listens, then the customer hangs up",
        (
            *_talking(supervisor=True),
            do(S, "listen", agent_id=Ref(A), then="listening"),
            world("customer_hangs_up", then="idle", also={S: "idle"}),
        ),
    ),
    Scenario(
        "supervisor listens to an agent without a call",
        (*_checked_in(supervisor=True), do(S, "listen", agent_id=Ref(A), fails=True, then="idle")),
    ),
    Scenario(
        "supervisor pauses, restores and forces out an agent",
        (
            *_checked_in(supervisor=True),
            do(S, "pause", agent_id=Ref(A), reason="coaching", then="idle"),
            do(S, "restore", agent_id=Ref(A), then="idle"),
            do(S, "logout_agent", agent_id=Ref(A), then="idle"),
        ),
    ),
    Scenario(
        "queries",
        (
            do(A, "get_transfer_groups", then="connected"),
            do(A, "get_agent_groups", then="connected"),
            do(A, "get_rights", then="connected"),
            refused(A, "get_all_agents", PermissionDenied),
            do(S, "get_all_agents", then="connected"),
            do(S, "get_rights", then="connected"),
        ),
    ),
    Scenario(
        "customer hangs up while ringing",
        (*_checked_in(), _IN, world("customer_hangs_up", then="idle")),
    ),
    Scenario(
        "customer hangs up while talking",
        (*_talking(), world("customer_hangs_up", then="idle")),
    ),
    Scenario(
        "customer hangs up while held",
        (*_talking(), do(A, "hold", then="held"), world("customer_hangs_up", then="idle")),
    ),
    Scenario(
        "customer hangs up during a consultation",
        (*_consulting(), world("customer_hangs_up", then="idle")),
    ),
    Scenario(
        "the link drops mid-call and the agent resynchronises",
        (
            *_talking(),
            drop(A, then="talking"),
            do(A, "hold", then="held"),
            drop(A, then="held"),
            do(A, "retrieve", then="talking"),
            do(A, "hangup", then="idle"),
        ),
    ),
    Scenario(
        "log out",
        (*_checked_in(), do(A, "disconnect", then="offline")),
    ),
)


# --- the world: stimuli and phone actions -------------------------------------------------------
def _call_of(sw: Switch, agent_id: str) -> str:
    call = sw.call_of(agent_id)
    if call is None:
        raise SwitchError("no_call_to_clear", f"agent {agent_id!r} has no call")
    return call


#: What can happen outside the agents' CTI links, by name: ``f(switch, agent_id)`` where
#: ``agent_id`` is the role's agent (whose call the stimulus is about).
STIMULI: Mapping[str, Callable[[Switch, str], object]] = MappingProxyType(
    {
        "inbound_call": lambda sw, _: sw.inbound_call(INBOUND_GROUP, caller=CALLER),
        "customer_answers": lambda sw, a: sw.customer_answers(_call_of(sw, a)),
        "customer_busy": lambda sw, a: sw.customer_busy(_call_of(sw, a)),
        "customer_no_answer": lambda sw, a: sw.customer_no_answer(_call_of(sw, a)),
        "customer_hangs_up": lambda sw, a: sw.customer_hangs_up(_call_of(sw, a)),
        "third_party_answers": lambda sw, a: sw.third_party_answers(a),
        "third_party_rejects": lambda sw, a: sw.third_party_rejects(a),
        "third_party_hangs_up": lambda sw, a: sw.third_party_hangs_up(a),
        "agent_no_answer": lambda sw, a: sw.agent_no_answer(a),
    }
)

#: Commands a phone can do when the vendor's CTI link cannot (the agent presses a key):
#: ``f(switch, agent_id, args)``.
PHONE_ACTIONS: Mapping[str, Callable[[Switch, str, Mapping[str, Any]], object]] = MappingProxyType(
    {
        "answer": lambda sw, a, _: sw.answer(a),
        "hangup": lambda sw, a, _: sw.hangup(a),
        "hold": lambda sw, a, _: sw.hold(a),
        "retrieve": lambda sw, a, _: sw.retrieve(a),
        "send_dtmf": lambda sw, a, args: sw.send_dtmf(a, str(args["digits"])),
        "dial_out": lambda sw, a, args: sw.dial(a, str(args["number"])),
        "transfer": lambda sw, a, args: sw.transfer(a, str(args["target"])),
        "consult": lambda sw, a, args: sw.consult(a, str(args["target"])),
        "cancel_consult": lambda sw, a, _: sw.cancel_consult(a),
        "complete_transfer": lambda sw, a, _: sw.complete_transfer(a),
        "conference": lambda sw, a, _: sw.conference(a),
    }
)


def _stimuli_now(sw: Switch, agent_id: str) -> list[str]:
    """The stimuli that apply to ``agent_id``'s calls now (read from the switch)."""
    out = []
    if len(sw.calls()) < 3:
        out.append("inbound_call")
    call_id = sw.call_of(agent_id)
    if call_id is not None:
        call = sw.call(call_id)
        external = [leg.state for leg in call.legs if leg.agent is None]
        if "alerting" in external:
            out += ["customer_answers", "customer_busy", "customer_no_answer"]
        if any(s in ("alerting", "connected", "held") for s in external):
            out.append("customer_hangs_up")
        mine = next((leg for leg in call.legs if leg.agent == agent_id), None)
        acd = call.group is not None and call.origin != "consultation"
        if mine is not None and mine.state == "alerting" and acd:
            out.append("agent_no_answer")
    consult_id = sw.consultation_of(agent_id)
    if consult_id is not None:
        others = [leg.state for leg in sw.call(consult_id).legs if leg.agent != agent_id]
        if "alerting" in others:
            out += ["third_party_answers", "third_party_rejects"]
        if "connected" in others:
            out.append("third_party_hangs_up")
    return out
