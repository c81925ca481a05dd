"""The adapter conformance suite: the same call flows against any adapter and its simulator.

As ``trio.testing`` ships checks every stream implementation must pass, this module ships
the checks every cti-fsm adapter must pass. ``check_adapter`` plays scripted scenarios
(``SCENARIOS``) and a hypothesis-driven random walk against the adapter's simulator over a
real loopback socket, with two real ``Agent`` objects (an agent and a supervisor), and
compares each agent's chart state with the switch's ground truth
(``Switch.chart_state``) after **every** step::

    from cti_fsm.testing import check_adapter

    async def test_my_adapter_conforms():
        report = await check_adapter(my_adapter)          # my_adapter.simulator(switch)
        print(report)

    # or, outside trio:
    check_adapter_sync(my_adapter, walk_examples=20)

    # an adapter whose agents log in by extension, with a difference it cannot avoid:
    report = await check_adapter(
        my_adapter,
        login=lambda account: Login(
            f"ext-{account.device}", account.password, {"username": account.id}
        ),
        gaps=[
            Gap(
                "barge-in unseen",
                "the protocol tells the spied agent nothing when the supervisor barges in",
                agent_state="talking",
                switch_state="three_party",
                role="agent",
            )
        ],
    )

What is checked, step by step:

- after each command, stimulus, phone action or link drop, once the agents are quiet
  (no step for ``settle`` seconds), each agent's state equals the switch's truth, unless
  a ``Gap`` the caller declared explains the difference (the report lists every gap hit);
- every awaited command resolved: it returned (or raised ``CommandFailed`` where the
  scenario expects the switch to refuse it) within the chart's timeout, and no command is
  left pending;
- after each step, every command the chart refuses in the current state raises
  ``IllegalCommand`` or ``PermissionDenied``, every command the vendor cannot do raises
  ``Unsupported``, the state does not change, and **not one byte** reaches the simulator
  (each agent talks to the simulator through a ``LoopbackRelay`` that counts the bytes);
- each scripted step's ``expect`` holds on the switch, so a scenario cannot pass by
  doing nothing (a simulator that ignores a request fails here);
- a link drop (the relay closes the TCP connection) ends with the agent reconnected,
  logged in again and resynchronised to the switch.

Steps a vendor cannot do are not failures: a command in ``adapter.unsupported`` is first
checked to raise ``Unsupported`` having sent nothing, then done on the phone instead when
a phone can do it (``PHONE_ACTIONS``: answering, holding, a conference key, ...), or
skipped, with the rest of its scenario if the scenario depended on it. The report lists
every skip with its reason. A difference between agent and switch that an adapter cannot
avoid (its protocol does not say so) must be declared as a ``Gap``: never silently ignored.

The population is ``cti_fsm.switch.demo_switch()``: groups ``sales`` and ``support``;
role ``agent`` is agent ``1001`` (device ``8001``), role ``supervisor`` is ``9001``
(device ``8901``, right ``supervisor``); ``1002`` is never logged in (an unreachable
agent). ``login`` says how the adapter logs each one in (``Login``).

Writing a scenario: a ``Scenario`` is a name and a tuple of steps made with ``do``
(a command), ``world`` (a stimulus: the customer, a third party), ``refused`` (a command
that must be refused) and ``drop`` (the link drops); pass ``scenarios=`` to run your own.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import attrs
import trio

from ..adapter import Adapter, Simulator, load_adapter
from ..agent import Agent, Backoff, Lifecycle, open_agent
from ..chart import Chart
from ..errors import (
    CommandFailed,
    CommandTimeout,
    CtiError,
    Disconnected,
    IllegalCommand,
    InvalidArguments,
    PermissionDenied,
    Unsupported,
)
from ..machine import Machine, Notification, Step
from ..switch import DEFAULT_CHART_STATES, Switch, SwitchError, demo_switch

__all__ = [
    "AGENT",
    "PHONE_ACTIONS",
    "ROLE_IDS",
    "SCENARIOS",
    "STIMULI",
    "SUPERVISOR",
    "Account",
    "Command",
    "ConformanceError",
    "ConformanceReport",
    "Gap",
    "GapHit",
    "LinkDrop",
    "Login",
    "LoopbackRelay",
    "Ref",
    "Refused",
    "Scenario",
    "Skip",
    "Stimulus",
    "check_adapter",
    "check_adapter_sync",
    "default_login",
    "do",
    "drop",
    "refused",
    "world",
]

#: The two agents every scenario runs: the role name and the switch's agent id.
AGENT, SUPERVISOR = "agent", "supervisor"
ROLE_IDS: Mapping[str, str] = MappingProxyType({AGENT: "1001", SUPERVISOR: "9001"})
#: The group inbound calls arrive for (only the agent role signs in to it).
INBOUND_GROUP = "sales"
CALLER = "13800000001"
_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: What a chart refusal may raise (rights and state are checked in an order the chart owns).
_REFUSALS = (IllegalCommand, PermissionDenied)


# --- who logs in, and how ----------------------------------------------------------------------
@attrs.frozen
class Account:
    """A switch agent the suite logs in: what ``login`` gets to build a ``Login``.

    Attributes:
        id: the switch's agent id (``1001``).
        device: its extension (``8001``).
        password: its password in the switch.
    """

    id: str
    device: str
    password: str = attrs.field(repr=False)


@attrs.frozen
class Login:
    """How an adapter logs one agent in.

    Attributes:
        user: the ``user`` given to ``open_agent`` (an agent id, an interface, ...).
        password: the password given to ``open_agent``.
        options: the adapter's options for this agent.
        ref: how another agent's commands name this one (``listen(agent_id=ref)``);
            default: ``user``.
    """

    user: str
    password: str = attrs.field(repr=False)
    options: Mapping[str, Any] = attrs.field(factory=dict)
    ref: str | None = None

    @property
    def name(self) -> str:
        """``ref``, or ``user`` when no ``ref`` was given."""
        return self.ref if self.ref is not None else self.user


def default_login(account: Account) -> Login:
    """Log in as the switch's agent id with its password, no options."""
    return Login(account.id, account.password)


# --- gaps, skips, the report -------------------------------------------------------------------
@attrs.frozen
class Gap:
    """A difference between agent and switch that the adapter cannot avoid, declared by
    the caller. While a role's agent is in ``agent_state`` and the switch says
    ``switch_state``, the check passes and the report records a ``GapHit``.

    Attributes:
        name: a short name for the report.
        reason: why the vendor's protocol cannot tell the agent.
        agent_state: the agent's state (full path or unique suffix).
        switch_state: the switch's truth (full path or unique suffix).
        role: ``"agent"`` or ``"supervisor"``; None for either.
    """

    name: str
    reason: str
    agent_state: str
    switch_state: str
    role: str | None = None


@attrs.frozen
class Skip:
    """A step not run, and why (the vendor cannot do it)."""

    scenario: str
    step: str
    reason: str

    def __str__(self) -> str:
        return f"{self.scenario}: {self.step}: {self.reason}"


@attrs.frozen
class GapHit:
    """A declared gap that explained a difference at one step."""

    gap: str
    scenario: str
    step: str
    role: str

    def __str__(self) -> str:
        return f"{self.scenario}: {self.step}: gap {self.gap!r} ({self.role})"


@attrs.frozen
class ConformanceReport:
    """What ``check_adapter`` did.

    Attributes:
        adapter: the adapter's name.
        scenarios: the scripted scenarios run, in order.
        steps_checked: steps after which every agent was compared with the switch.
        commands: commands sent (and resolved).
        refusals_checked: refused commands checked to send nothing and change nothing.
        skipped: steps not run because the vendor cannot do them.
        phone: steps done on the phone because the vendor cannot do them.
        gaps_hit: differences explained by a declared gap.
        unused_gaps: declared gaps never needed (the adapter may have outgrown them).
        walks: random walks run (hypothesis examples, shrinking included).
        walk_steps: steps taken by the random walks.
    """

    adapter: str
    scenarios: tuple[str, ...]
    steps_checked: int
    commands: int
    refusals_checked: int
    skipped: tuple[Skip, ...]
    phone: tuple[Skip, ...]
    gaps_hit: tuple[GapHit, ...]
    unused_gaps: tuple[str, ...]
    walks: int
    walk_steps: int

    def __str__(self) -> str:
        lines = [
            f"adapter {self.adapter!r}: {len(self.scenarios)} scenarios, {self.walks} random"
            f" walks ({self.walk_steps} steps); {self.steps_checked} steps checked,"
            f" {self.commands} commands, {self.refusals_checked} refusals",
        ]
        for title, items in (
            ("done on the phone", self.phone),
            ("skipped", self.skipped),
            ("known gaps hit", self.gaps_hit),
        ):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {item}" for item in items)
        if self.unused_gaps:
            lines.append(f"declared gaps never hit: {', '.join(self.unused_gaps)}")
        return "\n".join(lines)


class ConformanceError(AssertionError):
    """An adapter failed a check. The message names the scenario, the step, the role,
    the agent's state and the switch's truth, and the agent's last steps.

    Attributes:
        adapter, scenario, step: where it failed.
        role: the agent concerned (None if not about one agent).
        agent_state, switch_state: the two states (None if not about a state).
    """

    def __init__(
        self,
        message: str,
        *,
        adapter: str,
        scenario: str,
        step: str,
        role: str | None = None,
        agent_state: str | None = None,
        switch_state: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.scenario = scenario
        self.step = step
        self.role = role
        self.agent_state = agent_state
        self.switch_state = switch_state
        super().__init__(f"{adapter}: scenario {scenario!r}, step {step}: {message}")


# --- scenarios as data -------------------------------------------------------------------------
@attrs.frozen
class Ref:
    """An argument naming a role's agent, resolved through its ``Login.name``."""

    role: str


Outcome = Literal["ok", "fail", "any"]


@attrs.frozen
class Command:
    """A role sends a chart command.

    Attributes:
        role: who sends it.
        name: the chart command.
        args: its arguments (a ``Ref`` names another role's agent).
        outcome: ``"ok"`` (it must succeed), ``"fail"`` (the switch refuses it: it must
            raise ``CommandFailed``, or ``InvalidArguments`` having sent nothing) or
            ``"any"`` (either; the state check after the step decides).
        expect: the state the switch must be in afterwards, per role (full path or
            suffix): proves the scenario did what it says.
    """

    role: str
    name: str
    args: Mapping[str, Any] = _EMPTY
    outcome: Outcome = "ok"
    expect: Mapping[str, str] = _EMPTY

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        fails = {"ok": "", "fail": " (the switch refuses)", "any": " (may fail)"}[self.outcome]
        return f"{self.role} {self.name}({shown}){fails}"


@attrs.frozen
class Stimulus:
    """Something happens in the world (``STIMULI``), about ``role``'s call."""

    name: str
    role: str = AGENT
    expect: Mapping[str, str] = _EMPTY

    def __str__(self) -> str:
        return f"world: {self.name} ({self.role})"


@attrs.frozen
class Refused:
    """A command the chart (or the vendor) must refuse, sending nothing."""

    role: str
    name: str
    args: Mapping[str, Any] = _EMPTY
    error: type[CtiError] = IllegalCommand
    expect: Mapping[str, str] = _EMPTY

    def __str__(self) -> str:
        return f"{self.role} {self.name} refused with {self.error.__name__}"


@attrs.frozen
class LinkDrop:
    """The role's TCP connection is cut; the agent must reconnect and resynchronise."""

    role: str
    expect: Mapping[str, str] = _EMPTY

    def __str__(self) -> str:
        return f"{self.role}'s link drops"


StepSpec = Command | Stimulus | Refused | LinkDrop


@attrs.frozen
class Scenario:
    """A named call flow: steps run in order on a fresh switch, simulator and agents."""

    name: str
    steps: tuple[StepSpec, ...]


def _expect(role: str, then: str | None, also: Mapping[str, str] | None) -> Mapping[str, str]:
    out = dict(also or {})
    if then is not None:
        out[role] = then
    return MappingProxyType(out)


def do(
    role: str,
    command: str,
    *,
    fails: bool | None = False,
    then: str | None = None,
    also: Mapping[str, str] | None = None,
    **args: Any,
) -> Command:
    """A command step: ``do(AGENT, "hold", then="held")``.

    Args:
        role: who sends it.
        command: the chart command; ``args`` are its arguments.
        fails: True if the switch refuses it, None if either outcome is right (the
            state check after the step decides).
        then: the switch's state for ``role`` afterwards (a suffix is enough).
        also: the switch's state for other roles afterwards.
    """
    outcome: Outcome = "any" if fails is None else "fail" if fails else "ok"
    return Command(role, command, MappingProxyType(args), outcome, _expect(role, then, also))


def world(
    name: str,
    *,
    role: str = AGENT,
    then: str | None = None,
    also: Mapping[str, str] | None = None,
) -> Stimulus:
    """A stimulus step about ``role``'s call: ``world("inbound_call", then="ringing")``."""
    return Stimulus(name, role, _expect(role, then, also))


def refused(
    role: str, command: str, error: type[CtiError] = IllegalCommand, **args: Any
) -> Refused:
    """A command that must be refused with ``error``, sending nothing."""
    return Refused(role, command, MappingProxyType(args), error)


def drop(role: str, *, then: str | None = None) -> LinkDrop:
    """The role's link drops; the agent reconnects and resynchronises (to ``then``)."""
    return LinkDrop(role, _expect(role, then, None))


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
    return (*_talking(), do(A, "consult", target="5550199", then="consulting"))


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
            world("third_party_answers", then="consulting"),
            do(A, "complete_transfer", then="idle"),
        ),
    ),
    Scenario(
        "consultation, then conference",
        (
            *_consulting(),
            do(A, "conference", fails=True, then="consulting"),
            world("third_party_answers", then="consulting"),
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
            world("third_party_answers", then="consulting"),
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


# --- the relay -----------------------------------------------------------------------------------
@attrs.define(eq=False)
class _Link:
    scope: trio.CancelScope


class LoopbackRelay:
    """A TCP relay on 127.0.0.1 between clients and a server: counts the bytes each way,
    cuts links and stalls the server's side. Protocol-blind, so it works for any adapter
    whose URL names a TCP host and port (``ws://``, ``tcp://``, ...)::

        relay = LoopbackRelay(simulator.url)
        await nursery.start(relay.serve)
        async with open_agent(adapter, relay.url, ...) as agent: ...
        relay.upstream      # bytes the clients sent
        relay.drop()        # close every connection (the clients see a dropped link)
        relay.stall()       # hold what the server sends ... relay.resume()

    Args:
        target: the server's URL (its host and port are used).

    Raises:
        ValueError: the URL names no port.
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        if parts.port is None or parts.hostname is None:
            raise ValueError(f"the relay needs a host and a port in {target!r}")
        self.target = target
        self._host, self._port = parts.hostname, parts.port
        #: bytes received from clients (and passed to the server)
        self.upstream = 0
        #: bytes received from the server (and passed to clients)
        self.downstream = 0
        #: connections accepted so far
        self.accepted = 0
        self.port: int | None = None
        self._links: set[_Link] = set()
        self._flowing = trio.Event()
        self._flowing.set()

    def __repr__(self) -> str:
        return (
            f"<LoopbackRelay :{self.port} -> {self._host}:{self._port} links={len(self._links)}"
            f" up={self.upstream} down={self.downstream}>"
        )

    @property
    def url(self) -> str:
        """``target`` with its host and port replaced by the relay's.

        Raises:
            RuntimeError: not serving yet.
        """
        if self.port is None:
            raise RuntimeError("the relay is not serving yet")
        parts = urlsplit(self.target)
        netloc = f"127.0.0.1:{self.port}"
        if parts.username is not None:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def links(self) -> int:
        """Connections open now."""
        return len(self._links)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 (a free port) until cancelled; ``task_status.started(port)``."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        try:
            task_status.started(self.port)
            await trio.serve_listeners(self._handle, listeners)
        finally:
            self.port = None

    def drop(self) -> int:
        """Close every open connection (both sides); returns how many."""
        links = list(self._links)
        for link in links:
            link.scope.cancel()
        return len(links)

    def stall(self) -> None:
        """Hold everything the server sends until ``resume`` (a stalled network)."""
        if self._flowing.is_set():
            self._flowing = trio.Event()

    def resume(self) -> None:
        """Pass on what the server sent, and everything after it."""
        self._flowing.set()

    async def _handle(self, client: trio.SocketStream) -> None:
        self.accepted += 1
        try:
            server = await trio.open_tcp_stream(self._host, self._port)
        except OSError:
            await client.aclose()
            return
        link = _Link(trio.CancelScope())
        self._links.add(link)
        try:
            with link.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, client, server, True, nursery.cancel_scope)
                    nursery.start_soon(self._pump, server, client, False, nursery.cancel_scope)
        finally:
            self._links.discard(link)
            with trio.CancelScope(shield=True):
                await client.aclose()
                await server.aclose()

    async def _pump(
        self, source: trio.SocketStream, sink: trio.SocketStream, up: bool, scope: trio.CancelScope
    ) -> None:
        try:
            while True:
                data = await source.receive_some(65536)
                if not data:
                    break
                if up:
                    self.upstream += len(data)
                else:
                    await self._flowing.wait()
                    self.downstream += len(data)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        # one side is gone: so is the link
        scope.cancel()


# --- running ------------------------------------------------------------------------------------
SimulatorFactory = Callable[[Switch], Simulator]
UrlOf = Callable[[Simulator, int], str]


def _simulator_url(simulator: Simulator, port: int) -> str:
    try:
        return simulator.url
    except AttributeError:
        raise TypeError(
            f"{type(simulator).__name__} has no url property (cti_fsm.adapter.Simulator"
            " requires one); pass url=lambda simulator, port: ... to check_adapter"
        ) from None


@attrs.define
class _Tally:
    scenarios: list[str] = attrs.field(factory=list)
    steps: int = 0
    commands: int = 0
    refusals: int = 0
    skipped: list[Skip] = attrs.field(factory=list)
    phone: list[Skip] = attrs.field(factory=list)
    gaps: list[GapHit] = attrs.field(factory=list)
    walks: int = 0
    walk_steps: int = 0


@attrs.define(eq=False)
class _Run:
    """One scenario's (or one walk's) world: switch, simulator, relays, agents."""

    name: str
    switch: Switch
    agents: dict[str, Agent]
    relays: dict[str, LoopbackRelay]
    logins: dict[str, Login]
    rights: dict[str, frozenset[str]]
    changed: trio.Event = attrs.field(factory=trio.Event)
    steps_seen: int = 0
    traces: dict[str, collections.deque[str]] = attrs.field(factory=dict)

    def poke(self) -> None:
        self.steps_seen += 1
        self.changed.set()
        self.changed = trio.Event()

    def watch(self, role: str, agent: Agent) -> None:
        trace = self.traces[role] = collections.deque(maxlen=12)

        def on_step(step: Step) -> None:
            names = ", ".join(step.names)
            trace.append(f"{step.source} --{step.signal}--> {step.target} [{names}]")
            self.poke()

        def on_note(_: Notification) -> None:
            self.changed.set()
            self.changed = trio.Event()

        agent.on_step(on_step)
        agent.on("*", on_note)


class _Checker:
    """Runs scenarios and walks for one ``check_adapter`` call."""

    def __init__(
        self,
        adapter: Adapter,
        simulator_factory: SimulatorFactory,
        *,
        login: Callable[[Account], Login],
        gaps: Sequence[Gap],
        url: UrlOf,
        chart: Chart,
        chart_states: Mapping[str, str],
        settle: float,
        step_timeout: float,
    ) -> None:
        self.adapter = adapter
        self.simulator_factory = simulator_factory
        self.login = login
        self.gaps = tuple(gaps)
        self.url_of = url
        self.chart = chart
        self.chart_states = chart_states
        self.settle = settle
        self.step_timeout = step_timeout
        self.tally = _Tally()
        self.unsupported = adapter.unsupported
        for gap in self.gaps:
            for state in (gap.agent_state, gap.switch_state):
                chart.resolve(state)  # a typo in a gap is the caller's error, said at once

    # --- errors -------------------------------------------------------------------------------
    def fail(
        self, run: _Run, step: str, message: str, *, role: str | None = None
    ) -> ConformanceError:
        agent_state = switch_state = None
        if role is not None:
            agent_state = run.agents[role].state
            switch_state = self.truth(run, role)
            trace = "\n    ".join(run.traces.get(role, ())) or "(no steps)"
            message += f"\n  {role}'s last steps:\n    {trace}"
        return ConformanceError(
            message,
            adapter=self.adapter.name,
            scenario=run.name,
            step=step,
            role=role,
            agent_state=agent_state,
            switch_state=switch_state,
        )

    # --- the world of one run -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def world(self, name: str) -> AsyncIterator[_Run]:
        switch = demo_switch()
        async with trio.open_nursery() as nursery:
            simulator = self.simulator_factory(switch)
            port = await nursery.start(simulator.serve, "127.0.0.1", 0)
            target = self.url_of(simulator, port)
            relays = {}
            for role in ROLE_IDS:
                relays[role] = LoopbackRelay(target)
                await nursery.start(relays[role].serve)
            logins = {role: self._login_of(switch, agent) for role, agent in ROLE_IDS.items()}
            rights = {role: frozenset(switch.rights(agent)) for role, agent in ROLE_IDS.items()}
            run = _Run(name, switch, {}, relays, logins, rights)
            async with contextlib.AsyncExitStack() as stack:
                for role in ROLE_IDS:
                    login = logins[role]
                    try:
                        agent = await stack.enter_async_context(
                            open_agent(
                                self.adapter,
                                relays[role].url,
                                login.user,
                                login.password,
                                rights=rights[role],
                                chart=self.chart,
                                options=login.options,
                                reconnect=Backoff(base=0.01, cap=0.1),
                            )
                        )
                    except CtiError as exc:
                        raise self.fail(run, "open", f"{role} could not log in: {exc!r}") from exc
                    run.agents[role] = agent
                    run.watch(role, agent)
                await self.check_states(run, "after login")
                yield run
            nursery.cancel_scope.cancel()

    def _login_of(self, switch: Switch, agent_id: str) -> Login:
        info = switch.agent_info(agent_id)
        # the demo population's passwords follow a published scheme (see demo_switch)
        return self.login(Account(agent_id, info.device, f"pw{agent_id}"))

    def truth(self, run: _Run, role: str) -> str:
        return run.switch.chart_state(ROLE_IDS[role], self.chart_states)

    def _resolve(self, run: _Run, args: Mapping[str, Any]) -> dict[str, Any]:
        return {k: run.logins[v.role].name if isinstance(v, Ref) else v for k, v in args.items()}

    # --- checking -------------------------------------------------------------------------------
    def _gap_for(self, role: str, state: str, truth: str) -> Gap | None:
        for gap in self.gaps:
            if gap.role not in (None, role):
                continue
            if self.chart.resolve(gap.agent_state) == state and (
                self.chart.resolve(gap.switch_state) == truth
            ):
                return gap
        return None

    def _mismatch(self, run: _Run) -> tuple[str, str] | None:
        """The first role whose agent differs from the switch (no gap explains it)."""
        for role, agent in run.agents.items():
            truth = self.truth(run, role)
            if not agent.connected and agent.state != truth:
                # logged out on purpose, the agent stays down where the switch has it
                return role, "not connected"
            if agent.state != truth and self._gap_for(role, agent.state, truth) is None:
                return role, f"agent is in {agent.state}, the switch says {truth}"
        return None

    async def check_states(self, run: _Run, step: str) -> None:
        """Wait until every agent matches the switch and is quiet, then count the step.

        Raises:
            ConformanceError: an agent did not match within ``step_timeout``.
        """
        deadline = trio.current_time() + self.step_timeout
        while True:
            found = self._mismatch(run)
            if found is None:
                seen = run.steps_seen
                await trio.sleep(self.settle)
                if run.steps_seen == seen and self._mismatch(run) is None:
                    break
                continue
            if trio.current_time() >= deadline:
                role, why = found
                raise self.fail(run, step, why, role=role)
            # a resync may jump without a step: look again now and then
            with trio.move_on_at(min(deadline, trio.current_time() + 0.05)):
                await run.changed.wait()
        for role, agent in run.agents.items():
            pending = agent.statistics().pending
            if pending:
                raise self.fail(run, step, f"commands still pending: {pending}", role=role)
            truth = self.truth(run, role)
            gap = self._gap_for(role, agent.state, truth) if agent.state != truth else None
            if gap is not None:
                self.tally.gaps.append(GapHit(gap.name, run.name, step, role))
        self.tally.steps += 1

    def check_expect(self, run: _Run, step: str, expect: Mapping[str, str]) -> None:
        for role, wanted in expect.items():
            truth = self.truth(run, role)
            if truth != self.chart.resolve(wanted) and not truth.endswith("." + wanted):
                raise self.fail(
                    run,
                    step,
                    f"the switch should be in {wanted} but is in {truth}: the step did not"
                    " have the effect the scenario needs",
                    role=role,
                )

    def _sample_args(self, shadow: Machine, name: str) -> dict[str, Any] | None:
        """Arguments the chart accepts for ``name`` in ``shadow``'s state (None: refused)."""
        spec = self.chart.commands[name]
        base = {a.name: _sample(a.type) for a in spec.args if a.required and a.when_given is None}
        candidates = [base] + [
            {**base, a.name: _sample(a.type)} for a in spec.args if a.when_given is not None
        ]
        for args in candidates:
            try:
                shadow.check(name, **args)
            except CtiError:
                continue
            return args
        return None

    async def probe_refusals(self, run: _Run, step: str) -> None:
        """Every command refused now (by the chart or the vendor) sends nothing.

        Raises:
            ConformanceError: one was accepted, raised something else, changed the
                state, or bytes reached the simulator.
        """
        before = {role: (run.relays[role].upstream, a.state) for role, a in run.agents.items()}
        for role, agent in run.agents.items():
            state = agent.state
            shadow = Machine(self.chart, rights=run.rights[role], state=state)
            allowed = set(shadow.allowed())
            for name, spec in self.chart.commands.items():
                usable = self._sample_args(shadow, name) if name in allowed else None
                if usable is not None and name not in self.unsupported:
                    continue
                expected: tuple[type[CtiError], ...]
                if usable is not None:
                    args, expected = usable, (Unsupported,)
                else:
                    required = [a for a in spec.args if a.required and a.when_given is None]
                    args, expected = {a.name: _sample(a.type) for a in required}, _REFUSALS
                if not agent.connected:
                    # logged out: every command says so before the chart is asked
                    expected = (Disconnected,)
                await self._expect_refusal(run, role, step, name, args, expected)
        await self._nothing_sent(run, step, before, "refused commands")

    async def _expect_refusal(
        self,
        run: _Run,
        role: str,
        step: str,
        name: str,
        args: Mapping[str, Any],
        expected: tuple[type[CtiError], ...],
    ) -> None:
        agent = run.agents[role]
        what = f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())}) in {agent.state}"
        try:
            with trio.fail_after(self.step_timeout):
                await agent.command(name, **args)
        except expected:
            self.tally.refusals += 1
            return
        except trio.TooSlowError:
            raise self.fail(run, step, f"refused command {what} hung", role=role) from None
        except Exception as exc:
            wanted = " or ".join(e.__name__ for e in expected)
            raise self.fail(
                run, step, f"{what} should raise {wanted}, raised {exc!r}", role=role
            ) from exc
        raise self.fail(run, step, f"{what} should have been refused", role=role)

    async def _nothing_sent(
        self, run: _Run, step: str, before: Mapping[str, tuple[int, str]], what: str
    ) -> None:
        """No bytes went up and no state moved since ``before`` (per role: bytes, state)."""
        # give bytes written by mistake time to cross the loopback to the relay
        await trio.sleep(self.settle / 2)
        for role, (sent, state) in before.items():
            relay, agent = run.relays[role], run.agents[role]
            if relay.upstream != sent:
                raise self.fail(
                    run,
                    step,
                    f"{what}: {relay.upstream - sent} bytes reached the simulator",
                    role=role,
                )
            if agent.state != state:
                raise self.fail(run, step, f"{what} moved the agent from {state}", role=role)

    # --- steps ----------------------------------------------------------------------------------
    async def run_step(self, run: _Run, spec: StepSpec, label: str) -> bool:
        """Run one step and check everything after it; False: the rest cannot run."""
        if isinstance(spec, Command):
            go_on = await self._command(run, spec, label)
        elif isinstance(spec, Stimulus):
            self._stimulus(run, spec.name, spec.role, label)
            go_on = True
        elif isinstance(spec, Refused):
            before = {spec.role: (run.relays[spec.role].upstream, run.agents[spec.role].state)}
            args = self._resolve(run, spec.args)
            await self._expect_refusal(run, spec.role, label, spec.name, args, (spec.error,))
            await self._nothing_sent(run, label, before, f"refused {spec.name}")
            go_on = True
        else:
            await self._drop(run, spec.role, label)
            go_on = True
        if not go_on:
            return False
        await self.check_states(run, label)
        self.check_expect(run, label, spec.expect)
        await self.probe_refusals(run, label)
        return True

    def _stimulus(self, run: _Run, name: str, role: str, label: str) -> None:
        try:
            STIMULI[name](run.switch, ROLE_IDS[role])
        except SwitchError as exc:
            raise self.fail(run, label, f"the switch cannot do {name} now: {exc}") from exc

    async def _command(self, run: _Run, spec: Command, label: str) -> bool:
        agent = run.agents[spec.role]
        args = self._resolve(run, spec.args)
        if spec.name in self.unsupported:
            before = {spec.role: (run.relays[spec.role].upstream, agent.state)}
            await self._expect_refusal(run, spec.role, label, spec.name, args, (Unsupported,))
            await self._nothing_sent(run, label, before, "an unsupported command")
            phone = PHONE_ACTIONS.get(spec.name)
            vendor = self.adapter.name
            if phone is not None and spec.outcome == "ok":
                self.tally.phone.append(
                    Skip(run.name, label, f"{vendor} cannot {spec.name}: done on the phone")
                )
                try:
                    phone(run.switch, ROLE_IDS[spec.role], args)
                except SwitchError as exc:
                    raise self.fail(run, label, f"the phone cannot {spec.name}: {exc}") from exc
                return True
            if spec.outcome == "fail" or not self._moves(run, spec.role, spec.name, args):
                self.tally.skipped.append(Skip(run.name, label, f"{vendor} cannot {spec.name}"))
                return True
            self.tally.skipped.append(
                Skip(run.name, label, f"{vendor} cannot {spec.name}: the rest of the scenario")
            )
            return False
        await self._send(run, spec.role, spec.name, args, label, spec.outcome)
        return True

    def _moves(self, run: _Run, role: str, name: str, args: Mapping[str, Any]) -> bool:
        """Would the command, confirmed, move the role's agent? (Else skipping it is harmless.)"""
        shadow = Machine(self.chart, rights=run.rights[role], state=run.agents[role].state)
        confirm = self.chart.commands[name].rule_for(args).confirm
        return confirm is not None and shadow.apply(confirm).changed

    async def _send(
        self, run: _Run, role: str, name: str, args: Mapping[str, Any], label: str, outcome: Outcome
    ) -> None:
        """Send a command; ``outcome`` ``ok``/``fail`` must happen (``any``: either).
        A failure is ``CommandFailed`` (the switch refused), or ``InvalidArguments`` from
        the adapter having sent nothing (it knows the vendor would refuse them)."""
        agent = run.agents[role]
        timeout = self.chart.commands[name].rule_for(args).timeout + self.step_timeout
        before = {role: (run.relays[role].upstream, agent.state)}
        error: CommandFailed | None = None
        try:
            with trio.fail_after(timeout):
                await agent.command(name, **args)
        except CommandFailed as exc:
            error = exc
        except InvalidArguments as exc:
            # the adapter may know the vendor refuses these arguments: then nothing is sent
            if outcome == "ok":
                raise self.fail(run, label, f"{name} raised {exc!r}", role=role) from exc
            await self._nothing_sent(run, label, before, f"{name} with invalid arguments")
            self.tally.refusals += 1
            return
        except CommandTimeout as exc:
            raise self.fail(run, label, f"{name} was never answered: {exc}", role=role) from exc
        except trio.TooSlowError:
            raise self.fail(run, label, f"{name} hung past its timeout", role=role) from None
        except CtiError as exc:
            raise self.fail(run, label, f"{name} raised {exc!r}", role=role) from exc
        except Exception as exc:
            raise self.fail(
                run, label, f"{name} raised an undocumented {exc!r}", role=role
            ) from exc
        self.tally.commands += 1
        if outcome == "ok" and error is not None:
            raise self.fail(run, label, f"{name} failed: {error.reason}", role=role)
        if outcome == "fail" and error is None:
            raise self.fail(run, label, f"{name} succeeded; the switch refuses it", role=role)

    async def _drop(self, run: _Run, role: str, label: str) -> None:
        agent = run.agents[role]
        before = agent.statistics().reconnects
        if run.relays[role].drop() == 0:
            raise self.fail(run, label, "no open link to drop", role=role)
        deadline = trio.current_time() + self.step_timeout
        while agent.statistics().reconnects == before:
            if trio.current_time() >= deadline:
                raise self.fail(run, label, "the agent did not notice the drop", role=role)
            with trio.move_on_at(min(deadline, trio.current_time() + 0.05)):
                await run.changed.wait()

    # --- scenarios ------------------------------------------------------------------------------
    async def scenario(self, scenario: Scenario) -> None:
        self.tally.scenarios.append(scenario.name)
        with _sole_error():
            async with self.world(scenario.name) as run:
                for i, spec in enumerate(scenario.steps, 1):
                    label = f"{i} ({spec})"
                    if not await self.run_step(run, spec, label):
                        break

    # --- the random walk ------------------------------------------------------------------------
    def _walk_options(self, run: _Run) -> list[tuple[str, str, str, Mapping[str, Any]]]:
        """``(kind, role, name, args)`` for everything that may happen now."""
        out: list[tuple[str, str, str, Mapping[str, Any]]] = []
        # the session's own commands are the agent's business, not the walk's
        session = Lifecycle.of(self.chart)
        lifecycle = {session.connect, session.disconnect}
        for role, agent in run.agents.items():
            shadow = Machine(self.chart, rights=run.rights[role], state=agent.state)
            for name in shadow.allowed():
                if name in lifecycle:
                    continue
                for args in _walk_args(name, role, run):
                    try:
                        shadow.check(name, **args)
                    except CtiError:
                        continue
                    if name not in self.unsupported:
                        out.append(("command", role, name, args))
                    elif name in PHONE_ACTIONS:
                        out.append(("phone", role, name, args))
            for stimulus in _stimuli_now(run.switch, ROLE_IDS[role]):
                if role == AGENT or stimulus != "inbound_call":
                    out.append(("world", role, stimulus, _EMPTY))
        return out

    async def walk(self, plan: Sequence[int]) -> None:
        """One random walk: ``plan`` picks among what may happen at each step."""
        self.tally.walks += 1
        done: list[str] = []
        with _sole_error():
            await self._walk(plan, done)

    async def _walk(self, plan: Sequence[int], done: list[str]) -> None:
        async with self.world("random walk") as run:
            for choice in plan:
                options = self._walk_options(run)
                if not options:
                    break
                kind, role, name, args = options[choice % len(options)]
                shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
                done.append(f"{kind} {role} {name}({shown})")
                run.name = "random walk: " + " -> ".join(done)
                label = f"{len(done)} ({done[-1]})"
                if kind == "command":
                    await self._send(run, role, name, args, label, "any")
                elif kind == "phone":
                    try:
                        PHONE_ACTIONS[name](run.switch, ROLE_IDS[role], args)
                    except SwitchError:
                        continue  # the phone's key does nothing now: nothing happened
                else:
                    self._stimulus(run, name, role, label)
                await self.check_states(run, label)
                await self.probe_refusals(run, label)
                self.tally.walk_steps += 1
                if any(a.state != self.truth(run, r) for r, a in run.agents.items()):
                    break  # inside a declared gap: what follows is not defined

    async def random_walks(
        self, examples: int, steps: int, settings: Any, walk_seed: int | None
    ) -> None:
        if examples <= 0:
            return
        from hypothesis import HealthCheck, Phase, given, seed
        from hypothesis import settings as Settings
        from hypothesis import strategies as st

        # no shrinking by default: a failing walk is reported whole, with every step it
        # took, and each failing example costs up to step_timeout (it waits to be sure)
        chosen: Settings = settings or Settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        plans = st.lists(
            st.integers(min_value=0, max_value=1 << 16), min_size=max(1, steps // 2), max_size=steps
        )

        def explore() -> None:
            @chosen
            @given(plans)
            def walk(plan: list[int]) -> None:
                trio.from_thread.run(self.walk, plan)

            (walk if walk_seed is None else seed(walk_seed)(walk))()

        # hypothesis drives the examples from a worker thread; each runs back in trio
        await trio.to_thread.run_sync(explore)

    def report(self) -> ConformanceReport:
        hit = {g.gap for g in self.tally.gaps}
        t = self.tally
        return ConformanceReport(
            adapter=self.adapter.name,
            scenarios=tuple(t.scenarios),
            steps_checked=t.steps,
            commands=t.commands,
            refusals_checked=t.refusals,
            skipped=tuple(t.skipped),
            phone=tuple(t.phone),
            gaps_hit=tuple(t.gaps),
            unused_gaps=tuple(g.name for g in self.gaps if g.name not in hit),
            walks=t.walks,
            walk_steps=t.walk_steps,
        )


@contextlib.contextmanager
def _sole_error() -> Iterator[None]:
    """Raise the one exception a nursery wrapped (a ``ConformanceError``) as itself."""
    try:
        yield
    except BaseExceptionGroup as group:
        found: BaseException = group
        while isinstance(found, BaseExceptionGroup) and len(found.exceptions) == 1:
            found = found.exceptions[0]
        if found is group:
            raise
        raise found from None


_SAMPLES: Mapping[str, Any] = MappingProxyType(
    {"string": "1", "list": ["1"], "number": 1, "bool": True, "any": "1"}
)


def _sample(kind: str) -> Any:
    return _SAMPLES.get(kind, "1")


def _walk_args(name: str, role: str, run: _Run) -> list[Mapping[str, Any]]:
    """Argument sets the random walk tries for a command (the chart picks which apply)."""
    other = run.logins[AGENT if role == SUPERVISOR else SUPERVISOR].name
    group = INBOUND_GROUP if role == AGENT else "support"
    table: dict[str, list[Mapping[str, Any]]] = {
        "check_in": [{"group_ids": [group]}],
        "pause": [{"reason": "lunch"}, {"agent_id": other, "reason": "coaching"}],
        "restore": [{}, {"agent_id": other}],
        "dial_out": [{"number": "5550100"}],
        "send_dtmf": [{"digits": "12#"}],
        "transfer": [{"target": "5550111"}, {"target": "1002"}],
        "consult": [{"target": "5550199"}],
        "listen": [{"agent_id": other}],
        "join_talk": [{"agent_id": other}],
        "disconnect_call": [{"agent_id": other}],
        "logout_agent": [{"agent_id": other}],
    }
    return table.get(name, [{}])


async def check_adapter(
    adapter: Adapter | str,
    simulator_factory: SimulatorFactory | None = None,
    *,
    login: Callable[[Account], Login] = default_login,
    gaps: Iterable[Gap] = (),
    scenarios: Iterable[Scenario] | None = None,
    walk_examples: int = 10,
    walk_steps: int = 20,
    walk_settings: Any = None,
    walk_seed: int | None = None,
    url: UrlOf = _simulator_url,
    chart: Chart | None = None,
    chart_states: Mapping[str, str] = DEFAULT_CHART_STATES,
    settle: float = 0.02,
    step_timeout: float = 5.0,
) -> ConformanceReport:
    """Run the conformance suite against ``adapter`` and its simulator (see the module).

    Args:
        adapter: the adapter (or its registered name).
        simulator_factory: ``f(switch) -> Simulator`` (default: ``adapter.simulator``).
        login: how the adapter logs each switch agent in (default: agent id, password).
        gaps: differences between agent and switch the adapter cannot avoid; each must
            be named, and the report says where each was needed.
        scenarios: the scripted scenarios (default: ``SCENARIOS``).
        walk_examples: hypothesis examples of the random walk (0: none).
        walk_steps: the most steps one walk takes.
        walk_settings: hypothesis settings for the walk, replacing the defaults
            (``max_examples=walk_examples``, no deadline, no database, no shrinking:
            add ``Phase.shrink`` to the phases for a shorter failing walk, slowly).
        walk_seed: the same walks on every run (reproducible coverage and failures);
            None: new walks each run.
        url: ``f(simulator, port) -> url`` when the simulator has no ``url`` property.
        chart: the chart the agents run (default: the adapter's).
        chart_states: the switch situation -> chart state table (``Switch.chart_state``).
        settle: seconds without a step after which an agent is taken to be quiet.
        step_timeout: seconds an agent may take to match the switch after a step.

    Returns:
        What was run, skipped and tolerated.

    Raises:
        ConformanceError: the first check that failed (an ``AssertionError``), naming the
            scenario, the step, the agent's state and the switch's truth.
        TypeError: the simulator has no ``url`` and no ``url`` function was given.
        KeyError: a gap names a state the chart does not have.
    """
    resolved = load_adapter(adapter) if isinstance(adapter, str) else adapter
    checker = _Checker(
        resolved,
        simulator_factory or resolved.simulator,
        login=login,
        gaps=tuple(gaps),
        url=url,
        chart=chart or resolved.chart,
        chart_states=chart_states,
        settle=settle,
        step_timeout=step_timeout,
    )
    for scenario in SCENARIOS if scenarios is None else scenarios:
        await checker.scenario(scenario)
    await checker.random_walks(walk_examples, walk_steps, walk_settings, walk_seed)
    return checker.report()


def check_adapter_sync(
    adapter: Adapter | str,
    simulator_factory: SimulatorFactory | None = None,
    **options: Any,
) -> ConformanceReport:
    """``check_adapter`` for code outside trio: runs it in ``trio.run``.

    Raises:
        ConformanceError: see ``check_adapter``.
    """
    run: Callable[[], Awaitable[ConformanceReport]] = functools.partial(
        check_adapter, adapter, simulator_factory, **options
    )
    return trio.run(run)
