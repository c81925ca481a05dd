"""The conformance suite's scenario language: roles, logins, gaps and steps, as data.

A ``Scenario`` is a name and a tuple of steps, built with ``do`` (a command), ``world`` (a
stimulus), ``refused`` (a command that must be refused) and ``drop`` (the link drops).
``Login`` says how an adapter logs a switch agent in; ``Gap`` declares a difference between
agent and switch that the adapter cannot avoid. Nothing here runs: the checker plays these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

import attrs

from ...errors import CtiError, IllegalCommand

#: The two agents every scenario runs: the role name and the switch's agent id.
AGENT, SUPERVISOR = "agent", "supervisor"
ROLE_IDS: Mapping[str, str] = MappingProxyType({AGENT: "1001", SUPERVISOR: "9001"})
#: The default for a step's mappings: one shared value, read-only so no step changes another's.
_EMPTY: Mapping[str, Any] = MappingProxyType({})


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


# --- gaps the caller declares -----------------------------------------------------------------
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


def gap_for(chart: Any, gaps: Sequence[Gap], role: str, state: str, truth: str) -> Gap | None:
    """The declared gap that explains ``role``'s agent being in ``state`` while the switch
    says ``truth`` (both full paths), if any."""
    for gap in gaps:
        if gap.role not in (None, role):
            continue
        if chart.resolve(gap.agent_state) == state and chart.resolve(gap.switch_state) == truth:
            return gap
    return None


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
        then: the switch's state for ``role`` afterwards (a suffix is enough; a compound
            state, ``consulting``, takes any state inside it).
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
