"""A vendor-neutral telephone switch with an ACD: the ground truth behind every simulator.

API at a glance (for simulator authors; every name below is public and documented)::

    sw = Switch()                                     # or demo_switch(): a small population
    sw.add_group("sales", name="Sales", dtmf="1")
    sw.add_agent("1001", "secret", device="8001", groups=["sales"], rights=["supervisor"])
    unsubscribe = sw.subscribe(listener)              # listener(events) after every change

    # operations (mirror the chart's commands); each validates, then changes the model and
    # returns the events it emitted (listeners get them too), or raises
    # SwitchError(code, message) changing nothing (codes: ERROR_CODES)
    sw.login(agent, password)  sw.logout(agent)
    sw.check_in(agent, groups) sw.check_out(agent)
    sw.pause(agent, reason=None, by=None)  sw.restore(agent, by=None)
    sw.dial(agent, number)     sw.answer(agent, call=None)   sw.hangup(agent, call=None)
    sw.hold(agent, call=None)  sw.retrieve(agent, call=None)
    sw.transfer(agent, target, call=None)   sw.consult(agent, target, call=None)
    sw.cancel_consult(agent)   sw.complete_transfer(agent)   sw.conference(agent)
    sw.send_dtmf(agent, digits, call=None)
    sw.listen(supervisor, agent)  sw.barge_in(supervisor, agent=None)
    sw.take_over(supervisor, agent=None)  sw.force_logout(supervisor, agent)

    # queries (no events)
    sw.transfer_groups()  sw.agent_groups(agent)  sw.all_agents(supervisor)  sw.rights(agent)
    sw.snapshot(agent) -> AgentSnapshot   sw.agent_info(agent) -> AgentInfo
    sw.call_of(agent) / sw.consultation_of(agent) -> call id or None
    sw.call(call) -> CallInfo   sw.calls() -> every call   sw.agent_ids  sw.group_ids
    sw.agent_by_device(device) -> agent id or None   sw.check_password(agent, password)

    # stimuli tests drive (the world outside the agents' phones)
    sw.inbound_call(group, caller="...") -> call id      # offered to a ready agent, or queued
    sw.customer_answers(call)  sw.customer_busy(call)  sw.customer_no_answer(call)
    sw.customer_hangs_up(call)
    sw.third_party_answers(agent)  sw.third_party_rejects(agent)  sw.third_party_hangs_up(agent)
    sw.agent_no_answer(agent)                            # ring-no-answer: re-queued, not ready

    # ground truth for conformance tests
    sw.situation(agent) -> "ready" | "talking" | ...      (see SITUATIONS)
    sw.chart_state(agent) -> "checked_in.talking"         (DEFAULT_CHART_STATES)

The model. Agents have an id, a password (never shown), a device (their extension), the
groups they may sign in to and rights. An agent's *session* is its login to the CTI server;
signed in to groups it is *ready* or *not ready* (with a reason code). A call is one bridge
with *legs*, one per party: an agent's device or an external number (the customer, a far
end). A leg is ``initiated`` (dialling), ``alerting`` (ringing), ``connected`` or ``held``
(the holding party's own leg is held, as the telephony standards model it); a
supervisor's leg may be *silent*. A
consultation is a second call of the same agent, tied to its first (``consultation_of``).
Inbound calls arrive for a group: offered at once to the group's ready, free agent that has
been free longest, else queued (first in, first out) until one becomes free. A call ends
when fewer than two non-silent parties remain (a queued call waits with one).

The event stream is channel-level, so any vendor's simulator can render it: agent facts
(``AgentLoggedIn`` ... ``AgentNotReady``) and call facts per leg (``CallInitiated``,
``CallOriginated``, ``LegAlerting`` = ringing, ``LegAnswered`` = the leg joined the bridge,
``LegHeld``, ``LegRetrieved``, ``LegCleared`` = hung up, ``CallFailed``, ``CallQueued``,
``CallTransferred``, ``CallConferenced``, ``DigitsSent``). Every event is a frozen value and
names in ``concerns`` the agents whose links should hear of it (the parties of the call at
that moment, the agent whose state changed). Causes use the neutral ``CAUSES`` vocabulary.

Policies worth knowing (each keeps the model inside what the default chart can express):
a customer hanging up during a consultation also ends the consultation; pausing an agent
in a call is refused (no pending not-ready); hanging up a ringing ACD call re-queues it and
the call is not offered to that agent again; a barge-in on a held agent retrieves it; a
take-over needs the supervisor to end up in a two-party call.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal

import attrs

from .errors import CtiError

__all__ = [
    "CAUSES",
    "DEFAULT_CHART_STATES",
    "ERROR_CODES",
    "SITUATIONS",
    "AgentCheckedIn",
    "AgentCheckedOut",
    "AgentInfo",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentNotReady",
    "AgentReady",
    "AgentSnapshot",
    "CallConferenced",
    "CallFailed",
    "CallInfo",
    "CallInitiated",
    "CallOriginated",
    "CallQueued",
    "CallTransferred",
    "DigitsSent",
    "GroupInfo",
    "LegAlerting",
    "LegAnswered",
    "LegCleared",
    "LegHeld",
    "LegInfo",
    "LegRetrieved",
    "Switch",
    "SwitchError",
    "SwitchEvent",
    "demo_switch",
]

LegState = Literal["initiated", "alerting", "connected", "held"]

#: Why a leg was cleared or a call failed (neutral vocabulary; simulators translate it).
CAUSES = (
    "normal",  # a party hung up, or the call ended because too few parties remained
    "busy",  # the called party is busy
    "no_answer",  # the called party did not answer
    "rejected",  # the called party declined (hung up while ringing)
    "take_over",  # a supervisor took the call over from this agent
    "forced_logout",  # a supervisor forced the agent out
    "logout",  # the agent logged out of the CTI server
)

#: Situations ``Switch.situation`` reports: the agent's condition as the switch sees it.
SITUATIONS = (
    "offline",
    "connected",
    "ready",
    "not_ready",
    "ringing",
    "dialing",
    "talking",
    "held",
    "consulting",
    "three_party",
    "listening",
)

#: The default chart's vocabulary (``specs/agent.yaml``): switch situation -> full state
#: path. Conformance tests compare an agent's machine with ``Switch.chart_state``; a
#: simulator for another chart passes its own table.
DEFAULT_CHART_STATES: Mapping[str, str] = MappingProxyType(
    {
        "offline": "offline",
        "connected": "connected",
        "ready": "checked_in.available.idle",
        "not_ready": "checked_in.available.paused",
        "ringing": "checked_in.ringing",
        "dialing": "checked_in.dialing",
        "talking": "checked_in.talking",
        "held": "checked_in.held",
        "consulting": "checked_in.consulting",
        "three_party": "checked_in.three_party",
        "listening": "checked_in.listening",
    }
)

#: ``SwitchError.code`` values, with what each means.
ERROR_CODES: Mapping[str, str] = MappingProxyType(
    {
        "unknown_agent": "no agent with that id (or device)",
        "bad_password": "the password does not match",
        "not_logged_in": "the agent has no session",
        "no_rights": "the acting agent lacks the rights the operation needs",
        "unknown_group": "no such group, or the agent may not sign in to it",
        "invalid_agent_state": "the agent's sign-in or readiness does not allow it",
        "busy": "the agent is in a call",
        "no_active_call": "the agent has no connected call to act on",
        "no_held_call": "the agent has no held call",
        "no_call_to_answer": "nothing is ringing at the agent",
        "no_call_to_clear": "the agent has no call",
        "no_call_to_complete": "the agent has no consultation to complete",
        "invalid_call_state": "the call is not in a state that allows it",
        "unknown_call": "the agent has no leg in that call",
        "invalid_destination": "the target is not an agent, group, device or number",
        "destination_busy": "the target agent cannot take a call now",
        "invalid_parameter": "an argument has an invalid value",
    }
)

_DTMF = re.compile(r"[0-9*#A-Da-d]+")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")


class SwitchError(CtiError):
    """An operation the switch refuses; nothing changed.

    Attributes:
        code: one of ``ERROR_CODES``.
        message: what was wrong, naming the agent or call (never a password).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


# --- events ----------------------------------------------------------------------------------
@attrs.frozen(kw_only=True)
class SwitchEvent:
    """Base of every switch event.

    Attributes:
        concerns: ids of the agents whose links should hear of it, in a stable order.
    """

    concerns: tuple[str, ...]


@attrs.frozen(kw_only=True)
class AgentLoggedIn(SwitchEvent):
    """The agent started a session (logged in to the CTI server)."""

    agent: str
    device: str


@attrs.frozen(kw_only=True)
class AgentLoggedOut(SwitchEvent):
    """The agent's session ended; ``cause`` is ``logout``."""

    agent: str
    device: str
    cause: str


@attrs.frozen(kw_only=True)
class AgentCheckedIn(SwitchEvent):
    """The agent signed in to ``groups``; a ``AgentReady`` follows."""

    agent: str
    device: str
    groups: tuple[str, ...]


@attrs.frozen(kw_only=True)
class AgentCheckedOut(SwitchEvent):
    """The agent signed out of its groups (``by`` a supervisor for a forced logout)."""

    agent: str
    device: str
    groups: tuple[str, ...]
    by: str | None
    cause: str


@attrs.frozen(kw_only=True)
class AgentReady(SwitchEvent):
    """The agent is ready for ACD calls (``by`` another agent, if one did it)."""

    agent: str
    device: str
    by: str | None


@attrs.frozen(kw_only=True)
class AgentNotReady(SwitchEvent):
    """The agent is not ready, with an optional reason code."""

    agent: str
    device: str
    reason: str | None
    by: str | None


@attrs.frozen(kw_only=True)
class CallQueued(SwitchEvent):
    """A call waits in ``group``'s queue (no agent is concerned)."""

    call: str
    group: str
    calling: str


@attrs.frozen(kw_only=True)
class CallInitiated(SwitchEvent):
    """A device went off-hook to place a call (``consultation_of``: for a consultation)."""

    call: str
    device: str
    agent: str
    consultation_of: str | None


@attrs.frozen(kw_only=True)
class CallOriginated(SwitchEvent):
    """The call left ``device`` towards ``called`` (the caller's leg is connected)."""

    call: str
    device: str
    calling: str
    called: str
    consultation_of: str | None


@attrs.frozen(kw_only=True)
class LegAlerting(SwitchEvent):
    """``device`` is ringing for the call.

    Attributes:
        agent: the agent whose device it is, or None for an external number.
        via: ``group`` (ACD), ``direct``, ``consultation`` or ``transfer``.
        group: the group the call came through, if any.
    """

    call: str
    device: str
    agent: str | None
    calling: str
    called: str
    via: str
    group: str | None


@attrs.frozen(kw_only=True)
class LegAnswered(SwitchEvent):
    """``device`` answered: its leg is connected to the call's bridge."""

    call: str
    device: str
    agent: str | None
    calling: str
    called: str


@attrs.frozen(kw_only=True)
class LegHeld(SwitchEvent):
    """``device`` put the call on hold (``consultation``: to place a consultation call)."""

    call: str
    device: str
    agent: str
    consultation: bool


@attrs.frozen(kw_only=True)
class LegRetrieved(SwitchEvent):
    """``device`` took the call off hold."""

    call: str
    device: str
    agent: str


@attrs.frozen(kw_only=True)
class LegCleared(SwitchEvent):
    """``device``'s leg left the call (hung up, dropped, or the call ended)."""

    call: str
    device: str
    agent: str | None
    cause: str


@attrs.frozen(kw_only=True)
class CallFailed(SwitchEvent):
    """``device`` (the called party) could not be reached; the call's legs clear next."""

    call: str
    device: str
    calling: str
    called: str
    cause: str


@attrs.frozen(kw_only=True)
class CallTransferred(SwitchEvent):
    """``transferring`` left the call, handing it to ``target``.

    Attributes:
        call: the resulting call (the customer's call keeps its id).
        primary, secondary: the calls before (``secondary``: the consultation, if any).
        moved: ``(device, old call, new call)`` for each leg that changed calls.
        kind: ``single_step`` or ``consultation``.
    """

    call: str
    primary: str
    secondary: str | None
    transferring: str
    target: str
    moved: tuple[tuple[str, str, str], ...]
    kind: str


@attrs.frozen(kw_only=True)
class CallConferenced(SwitchEvent):
    """``added`` joined the call (``silent``: listening only).

    Attributes:
        kind: ``conference`` (a consultation merged), ``listen`` or ``barge_in``.
        parties: ``(device, silent)`` for every leg of the resulting call.
    """

    call: str
    primary: str
    secondary: str | None
    controller: str
    added: str
    silent: bool
    kind: str
    parties: tuple[tuple[str, bool], ...]


@attrs.frozen(kw_only=True)
class DigitsSent(SwitchEvent):
    """``device`` sent DTMF ``digits`` into the call."""

    call: str
    device: str
    agent: str
    digits: str


# --- query results -----------------------------------------------------------------------------
@attrs.frozen
class GroupInfo:
    """A group (queue): id, display name and the DTMF code that routes a caller to it."""

    id: str
    name: str
    dtmf: str | None


@attrs.frozen
class LegInfo:
    """One leg of a call as seen from outside."""

    device: str
    agent: str | None
    state: LegState
    silent: bool


@attrs.frozen
class CallInfo:
    """A call and its legs.

    Attributes:
        origin: ``inbound``, ``outbound`` or ``consultation``.
        queued: waiting in ``group``'s queue for an agent.
    """

    call: str
    origin: str
    calling: str
    called: str
    group: str | None
    consultation_of: str | None
    queued: bool
    legs: tuple[LegInfo, ...]


@attrs.frozen
class AgentInfo:
    """An agent as a supervisor (or a snapshot) sees it. Never carries the password."""

    agent: str
    device: str
    situation: str
    logged_in: bool
    checked_in: tuple[str, ...]
    ready: bool
    reason: str | None
    groups: tuple[str, ...]
    rights: tuple[str, ...]


@attrs.frozen
class AgentSnapshot:
    """Everything the switch knows of one agent: its state and its calls."""

    agent: AgentInfo
    calls: tuple[CallInfo, ...]


# --- internal state ----------------------------------------------------------------------------
@attrs.define
class _Agent:
    id: str
    password: str = attrs.field(repr=False)
    device: str
    rights: frozenset[str]
    groups: tuple[str, ...]
    logged_in: bool = False
    checked_in: tuple[str, ...] = ()
    ready: bool = False
    reason: str | None = None
    calls: list[str] = attrs.field(factory=list)


@attrs.define
class _Leg:
    device: str
    agent: str | None
    state: LegState
    silent: bool = False


@attrs.define
class _Call:
    id: str
    origin: str
    calling: str
    called: str
    legs: list[_Leg] = attrs.field(factory=list)
    group: str | None = None
    consultation_of: str | None = None
    queued: bool = False
    declined_by: set[str] = attrs.field(factory=set)

    def leg(self, device: str) -> _Leg | None:
        for leg in self.legs:
            if leg.device == device:
                return leg
        return None

    def active(self) -> list[_Leg]:
        return [leg for leg in self.legs if not leg.silent]


@attrs.frozen
class _Target:
    """Where a dial, transfer or consultation goes: an agent, a group or a number."""

    device: str
    agent: str | None = None
    group: str | None = None


Listener = Callable[[Sequence[SwitchEvent]], None]


class Switch:
    """The switch: agents, groups, calls with legs, and the operations on them (sans-IO).

    Args:
        supervisor_right: the right that supervisor operations need.
    """

    def __init__(self, *, supervisor_right: str = "supervisor") -> None:
        self.supervisor_right = supervisor_right
        self._agents: dict[str, _Agent] = {}
        self._device_owner: dict[str, str] = {}
        self._groups: dict[str, GroupInfo] = {}
        self._calls: dict[str, _Call] = {}
        self._queue: dict[str, None] = {}  # queued call ids, first in first out
        # per group, the ready and free agents in the order they became free
        self._free: dict[str, dict[str, None]] = {}
        self._ids = itertools.count(1)
        self._listeners: list[Listener] = []

    def __repr__(self) -> str:
        return (
            f"<Switch agents={len(self._agents)} groups={len(self._groups)}"
            f" calls={len(self._calls)} queued={len(self._queue)}>"
        )

    # --- configuration -------------------------------------------------------------------------
    def add_group(self, group_id: str, *, name: str | None = None, dtmf: str | None = None) -> None:
        """Add a group (queue).

        Raises:
            ValueError: the id is taken.
        """
        if group_id in self._groups:
            raise ValueError(f"group {group_id!r} already exists")
        self._groups[group_id] = GroupInfo(group_id, name or group_id, dtmf)
        self._free[group_id] = {}

    def add_agent(
        self,
        agent_id: str,
        password: str,
        *,
        device: str,
        groups: Iterable[str] = (),
        rights: Iterable[str] = (),
    ) -> None:
        """Add an agent with its device (extension), the groups it may sign in to and rights.

        Raises:
            ValueError: the id or device is taken, or a group is unknown.
        """
        if agent_id in self._agents or agent_id in self._device_owner:
            raise ValueError(f"agent id {agent_id!r} is already an agent or a device")
        if device in self._device_owner or device in self._agents:
            raise ValueError(f"device {device!r} is already in use")
        allowed = tuple(groups)
        unknown = [g for g in allowed if g not in self._groups]
        if unknown:
            raise ValueError(f"agent {agent_id!r}: unknown groups {unknown}")
        self._agents[agent_id] = _Agent(agent_id, password, device, frozenset(rights), allowed)
        self._device_owner[device] = agent_id

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(events)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # --- queries --------------------------------------------------------------------------------
    @property
    def agent_ids(self) -> tuple[str, ...]:
        """Every agent's id, in the order they were added."""
        return tuple(self._agents)

    @property
    def group_ids(self) -> tuple[str, ...]:
        """Every group's id, in the order they were added."""
        return tuple(self._groups)

    def agent_by_device(self, device: str) -> str | None:
        """The id of the agent owning ``device``, or None."""
        return self._device_owner.get(device)

    def check_password(self, agent_id: str, password: str) -> bool:
        """True if ``password`` is the agent's (a simulator's login check, without a session).

        Raises:
            SwitchError: ``unknown_agent``.
        """
        return self._agent(agent_id).password == password

    def transfer_groups(self) -> tuple[GroupInfo, ...]:
        """Groups a call can be transferred to, with their DTMF codes."""
        return tuple(self._groups.values())

    def agent_groups(self, agent_id: str) -> tuple[GroupInfo, ...]:
        """Groups the agent may sign in to.

        Raises:
            SwitchError: ``unknown_agent``.
        """
        return tuple(self._groups[g] for g in self._agent(agent_id).groups)

    def rights(self, agent_id: str) -> tuple[str, ...]:
        """The agent's rights, sorted.

        Raises:
            SwitchError: ``unknown_agent``.
        """
        return tuple(sorted(self._agent(agent_id).rights))

    def all_agents(self, supervisor_id: str) -> tuple[AgentInfo, ...]:
        """Every agent and its situation (a supervisor's view).

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``.
        """
        self._need_rights(self._session(supervisor_id))
        return tuple(self.agent_info(a) for a in self._agents)

    def agent_info(self, agent_id: str) -> AgentInfo:
        """One agent's state (no calls; see ``snapshot``).

        Raises:
            SwitchError: ``unknown_agent``.
        """
        a = self._agent(agent_id)
        return AgentInfo(
            agent=a.id,
            device=a.device,
            situation=self.situation(a.id),
            logged_in=a.logged_in,
            checked_in=a.checked_in,
            ready=a.ready,
            reason=a.reason,
            groups=a.groups,
            rights=tuple(sorted(a.rights)),
        )

    def call(self, call_id: str) -> CallInfo:
        """A call and its legs.

        Raises:
            SwitchError: ``unknown_call``.
        """
        found = self._calls.get(call_id)
        if found is None:
            raise SwitchError("unknown_call", f"no call {call_id!r}")
        return _call_info(found)

    def calls(self) -> tuple[CallInfo, ...]:
        """Every call in progress (queued ones included)."""
        return tuple(_call_info(c) for c in self._calls.values())

    def snapshot(self, agent_id: str) -> AgentSnapshot:
        """The agent's state and every call it has a leg in (what a resync needs).

        Raises:
            SwitchError: ``unknown_agent``.
        """
        a = self._agent(agent_id)
        return AgentSnapshot(self.agent_info(agent_id), tuple(self.call(c) for c in a.calls))

    def call_of(self, agent_id: str) -> str | None:
        """The agent's main call (not a consultation), or None.

        Raises:
            SwitchError: ``unknown_agent``.
        """
        calls = self._agent(agent_id).calls
        for call_id in calls:
            if len(calls) == 1 or self._calls[call_id].consultation_of is None:
                return call_id
        return None

    def consultation_of(self, agent_id: str) -> str | None:
        """The consultation call the agent placed, or None.

        Raises:
            SwitchError: ``unknown_agent``.
        """
        a = self._agent(agent_id)
        if len(a.calls) < 2:
            return None
        for call_id in a.calls:
            if self._calls[call_id].consultation_of is not None:
                return call_id
        return None

    def situation(self, agent_id: str) -> str:
        """The agent's situation, one of ``SITUATIONS``.

        Raises:
            SwitchError: ``unknown_agent``.
        """
        a = self._agent(agent_id)
        if not a.logged_in:
            return "offline"
        if not a.checked_in:
            return "connected"
        if not a.calls:
            return "ready" if a.ready else "not_ready"
        if len(a.calls) > 1:
            return "consulting"
        call = self._calls[a.calls[0]]
        mine = call.leg(a.device)
        assert mine is not None
        if mine.silent:
            return "listening"
        if mine.state == "alerting":
            return "ringing"
        if mine.state == "held":
            return "held"
        others = [
            leg for leg in call.active() if leg is not mine and leg.state in ("connected", "held")
        ]
        if mine.state == "initiated" or not others:
            return "dialing"
        return "three_party" if len(others) >= 2 else "talking"

    def chart_state(self, agent_id: str, table: Mapping[str, str] = DEFAULT_CHART_STATES) -> str:
        """The chart state path the agent should be in (``table``: situation -> path).

        Raises:
            SwitchError: ``unknown_agent``.
        """
        return table[self.situation(agent_id)]

    # --- session and groups ---------------------------------------------------------------------
    def login(self, agent_id: str, password: str) -> list[SwitchEvent]:
        """Start the agent's session; a second login (after a dropped link) resumes it as is.

        Raises:
            SwitchError: ``unknown_agent``, ``bad_password``.
        """
        a = self._agent(agent_id)
        if a.password != password:
            raise SwitchError("bad_password", f"wrong password for agent {agent_id!r}")
        a.logged_in = True
        return self._publish([AgentLoggedIn(concerns=(a.id,), agent=a.id, device=a.device)])

    def logout(self, agent_id: str) -> list[SwitchEvent]:
        """End the session: the agent leaves its calls and its groups.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``.
        """
        a = self._session(agent_id)
        out: list[SwitchEvent] = []
        self._leave_everything(out, a, "logout", by=None)
        a.logged_in = False
        out.append(AgentLoggedOut(concerns=(a.id,), agent=a.id, device=a.device, cause="logout"))
        self._distribute(out)
        return self._publish(out)

    def check_in(self, agent_id: str, groups: Iterable[str]) -> list[SwitchEvent]:
        """Sign in to groups (the agent becomes ready).

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_agent_state`` (already signed in),
                ``unknown_group`` (unknown, not allowed, or none given).
        """
        a = self._session(agent_id)
        wanted = tuple(dict.fromkeys(groups))
        if a.checked_in:
            raise SwitchError("invalid_agent_state", f"agent {a.id!r} is already signed in")
        if not wanted:
            raise SwitchError("unknown_group", "no group given")
        for g in wanted:
            if g not in self._groups or g not in a.groups:
                raise SwitchError("unknown_group", f"agent {a.id!r} may not sign in to {g!r}")
        a.checked_in, a.ready, a.reason = wanted, True, None
        out: list[SwitchEvent] = [
            AgentCheckedIn(concerns=(a.id,), agent=a.id, device=a.device, groups=wanted),
            AgentReady(concerns=(a.id,), agent=a.id, device=a.device, by=None),
        ]
        self._refresh(a)
        self._distribute(out)
        return self._publish(out)

    def check_out(self, agent_id: str) -> list[SwitchEvent]:
        """Sign out of the groups; only when signed in and free.

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_agent_state``, ``busy``.
        """
        a = self._checked_in(agent_id)
        self._need_free(a)
        out: list[SwitchEvent] = []
        self._sign_out(out, a, by=None, cause="normal")
        return self._publish(out)

    def pause(
        self, agent_id: str, reason: str | None = None, *, by: str | None = None
    ) -> list[SwitchEvent]:
        """Not ready (with a reason code); ``by`` another agent needs supervisor rights.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state`` (not signed in), ``busy`` (in a call).
        """
        self._acting(by, agent_id)
        a = self._checked_in(agent_id)
        self._need_free(a)
        a.ready, a.reason = False, reason
        self._refresh(a)
        event = AgentNotReady(concerns=(a.id,), agent=a.id, device=a.device, reason=reason, by=by)
        return self._publish([event])

    def restore(self, agent_id: str, *, by: str | None = None) -> list[SwitchEvent]:
        """Ready again, from not ready; ``by`` another agent needs supervisor rights.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state`` (not signed in, or already ready), ``busy``.
        """
        self._acting(by, agent_id)
        a = self._checked_in(agent_id)
        if a.ready:
            raise SwitchError("invalid_agent_state", f"agent {a.id!r} is already ready")
        self._need_free(a)
        a.ready, a.reason = True, None
        out: list[SwitchEvent] = [AgentReady(concerns=(a.id,), agent=a.id, device=a.device, by=by)]
        self._refresh(a)
        self._distribute(out)
        return self._publish(out)

    def force_logout(self, supervisor_id: str, agent_id: str) -> list[SwitchEvent]:
        """Supervisor: sign an agent out of its groups, ending its calls.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state`` (the agent is not signed in).
        """
        self._need_rights(self._session(supervisor_id))
        a = self._checked_in(agent_id)
        out: list[SwitchEvent] = []
        self._leave_everything(out, a, "forced_logout", by=supervisor_id)
        self._distribute(out)
        return self._publish(out)

    # --- calls: the agent's own ----------------------------------------------------------------
    def dial(self, agent_id: str, number: str) -> list[SwitchEvent]:
        """Place an outbound call to a number, an agent id or an agent's device.

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_agent_state``, ``busy``,
                ``invalid_destination``.
        """
        a = self._checked_in(agent_id)
        self._need_free(a)
        target = self._target(number, allow_group=False, exclude=a.id)
        call = self._new_call("outbound", calling=a.device, called=target.device)
        out: list[SwitchEvent] = []
        self._originate(out, a, call, target, via="direct")
        self._distribute(out)
        return self._publish(out)

    def answer(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Answer the call ringing at the agent.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_answer``, ``unknown_call``.
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("alerting",), "no_call_to_answer")
        out: list[SwitchEvent] = []
        self._connect(out, call, leg)
        return self._publish(out)

    def hangup(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Leave one call (``call_id``) or, without it, every call the agent is in.

        Hanging up a ringing ACD call declines it: it goes back to the queue and is not
        offered to this agent again.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_clear``, ``unknown_call``.
        """
        a = self._session(agent_id)
        if not a.calls:
            raise SwitchError("no_call_to_clear", f"agent {a.id!r} has no call")
        if call_id is not None and call_id not in a.calls:
            raise SwitchError("unknown_call", f"agent {a.id!r} is not in call {call_id!r}")
        out: list[SwitchEvent] = []
        targets = [call_id] if call_id is not None else self._calls_consultation_first(a)
        for cid in targets:
            call = self._calls.get(cid)
            leg = call.leg(a.device) if call else None
            if call is None or leg is None:
                continue  # already ended with an earlier one
            if leg.state == "alerting" and call.group is not None and call.origin != "consultation":
                self._decline(out, call, leg, a)
            else:
                self._clear_leg(out, call, leg, "normal")
        self._distribute(out)
        return self._publish(out)

    def hold(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Put the other party on hold.

        Raises:
            SwitchError: ``not_logged_in``, ``no_active_call``, ``unknown_call``,
                ``invalid_call_state`` (nobody else is connected).
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("connected",), "no_active_call", silent_ok=False)
        if not any(x is not leg and x.state == "connected" for x in call.active()):
            raise SwitchError("invalid_call_state", f"nobody is connected in call {call.id!r}")
        out: list[SwitchEvent] = []
        self._hold(out, call, leg, a, consultation=False)
        return self._publish(out)

    def retrieve(self, agent_id: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Take the held party back.

        Raises:
            SwitchError: ``not_logged_in``, ``no_held_call``, ``unknown_call``,
                ``invalid_call_state`` (a consultation is in progress).
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("held",), "no_held_call")
        if len(a.calls) > 1:
            raise SwitchError(
                "invalid_call_state", f"agent {a.id!r} is consulting; end the consultation first"
            )
        out: list[SwitchEvent] = []
        self._retrieve(out, call, leg, a)
        return self._publish(out)

    def send_dtmf(
        self, agent_id: str, digits: str, call_id: str | None = None
    ) -> list[SwitchEvent]:
        """Send DTMF digits into the agent's connected call (the consultation, if any).

        Raises:
            SwitchError: ``not_logged_in``, ``invalid_parameter``, ``no_active_call``,
                ``unknown_call``.
        """
        a = self._session(agent_id)
        if not isinstance(digits, str) or not _DTMF.fullmatch(digits):
            raise SwitchError("invalid_parameter", "DTMF digits must be 0-9, *, #, A-D")
        if call_id is None:
            call_id = self.consultation_of(a.id) or self.call_of(a.id)
        call, _ = self._my_leg(a, call_id, ("connected",), "no_active_call", silent_ok=False)
        event = DigitsSent(
            concerns=self._concerns(call), call=call.id, device=a.device, agent=a.id, digits=digits
        )
        return self._publish([event])

    def transfer(self, agent_id: str, target: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Single-step transfer to an agent, group, device or number; the agent leaves.

        Raises:
            SwitchError: ``not_logged_in``, ``no_active_call``, ``unknown_call``,
                ``invalid_call_state``, ``invalid_destination``, ``destination_busy``.
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("connected", "held"), "no_active_call")
        if len(a.calls) > 1:
            raise SwitchError("invalid_call_state", f"agent {a.id!r} is consulting")
        if not [x for x in call.active() if x is not leg and x.state == "connected"]:
            raise SwitchError("invalid_call_state", f"nobody to transfer in call {call.id!r}")
        dest = self._target(target, allow_group=True, exclude=a.id)
        if dest.agent is not None and not _reachable(self._agents[dest.agent]):
            raise SwitchError("destination_busy", f"agent {dest.agent!r} cannot take a call")
        out: list[SwitchEvent] = []
        out.append(
            CallTransferred(
                concerns=self._concerns(call),
                call=call.id,
                primary=call.id,
                secondary=None,
                transferring=a.device,
                target=dest.device,
                moved=(),
                kind="single_step",
            )
        )
        self._remove_leg(call, leg)
        self._refresh(a)
        call.called = dest.device
        self._route(out, call, dest, via="transfer")
        self._distribute(out)
        return self._publish(out)

    def consult(self, agent_id: str, target: str, call_id: str | None = None) -> list[SwitchEvent]:
        """Hold the call (if not held) and call a third party on a second call.

        Raises:
            SwitchError: ``not_logged_in``, ``no_active_call``, ``unknown_call``,
                ``invalid_call_state`` (already consulting), ``invalid_destination``.
        """
        a = self._session(agent_id)
        call, leg = self._my_leg(a, call_id, ("connected", "held"), "no_active_call")
        if len(a.calls) > 1:
            raise SwitchError("invalid_call_state", f"agent {a.id!r} is already consulting")
        if len(call.active()) != 2:
            raise SwitchError("invalid_call_state", f"call {call.id!r} is not a two-party call")
        dest = self._target(target, allow_group=True, exclude=a.id)
        out: list[SwitchEvent] = []
        if leg.state == "connected":
            self._hold(out, call, leg, a, consultation=True)
        consult = self._new_call("consultation", calling=a.device, called=dest.device)
        consult.consultation_of = call.id
        self._originate(out, a, consult, dest, via="consultation")
        self._distribute(out)
        return self._publish(out)

    def cancel_consult(self, agent_id: str) -> list[SwitchEvent]:
        """Drop the consultation and take the held party back (a reconnect).

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_complete``.
        """
        a = self._session(agent_id)
        primary, consult = self._consultation_pair(a)
        out: list[SwitchEvent] = []
        mine = consult.leg(a.device)
        assert mine is not None
        self._clear_leg(out, consult, mine, "normal")
        held = primary.leg(a.device)
        if held is not None and held.state == "held":
            self._retrieve(out, primary, held, a)
        self._distribute(out)
        return self._publish(out)

    def complete_transfer(self, agent_id: str) -> list[SwitchEvent]:
        """Join the held party to the consulted one and leave both calls.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_complete``.
        """
        a = self._session(agent_id)
        primary, consult = self._consultation_pair(a)
        if len(consult.legs) < 2:
            raise SwitchError(
                "invalid_call_state", f"the consultation {consult.id!r} has reached nobody yet"
            )
        out: list[SwitchEvent] = []
        moved = self._merge(primary, consult, a)
        target = moved[0][0]
        out.append(
            CallTransferred(
                concerns=_unique((a.id, *self._concerns(primary))),
                call=primary.id,
                primary=primary.id,
                secondary=consult.id,
                transferring=a.device,
                target=target,
                moved=moved,
                kind="consultation",
            )
        )
        mine = primary.leg(a.device)
        assert mine is not None
        self._remove_leg(primary, mine)
        self._refresh(a)
        if len(primary.active()) < 2:
            self._end_call(out, primary, "normal")
        self._distribute(out)
        return self._publish(out)

    def conference(self, agent_id: str) -> list[SwitchEvent]:
        """Merge the consultation into the held call: three parties in one call.

        Raises:
            SwitchError: ``not_logged_in``, ``no_call_to_complete``, ``invalid_call_state``
                (the consulted party has not answered).
        """
        a = self._session(agent_id)
        primary, consult = self._consultation_pair(a)
        third = [x for x in consult.legs if x.device != a.device]
        if not third or third[0].state != "connected":
            raise SwitchError(
                "invalid_call_state", f"the consulted party in {consult.id!r} has not answered"
            )
        out: list[SwitchEvent] = []
        moved = self._merge(primary, consult, a)
        mine = primary.leg(a.device)
        assert mine is not None
        mine.state = "connected"
        out.append(
            CallConferenced(
                concerns=self._concerns(primary),
                call=primary.id,
                primary=primary.id,
                secondary=consult.id,
                controller=a.device,
                added=moved[0][0],
                silent=False,
                kind="conference",
                parties=tuple((x.device, x.silent) for x in primary.legs),
            )
        )
        return self._publish(out)

    # --- supervisor ---------------------------------------------------------------------------
    def listen(self, supervisor_id: str, agent_id: str) -> list[SwitchEvent]:
        """Supervisor: join an agent's call silently.

        Raises:
            SwitchError: ``unknown_agent``, ``not_logged_in``, ``no_rights``,
                ``invalid_agent_state``, ``busy`` (the supervisor is in a call),
                ``no_active_call`` / ``invalid_call_state`` (the agent's call).
        """
        sup = self._checked_in(supervisor_id)
        self._need_rights(sup)
        self._need_free(sup)
        target = self._session(agent_id)
        if len(target.calls) != 1:
            raise SwitchError("no_active_call", f"agent {target.id!r} has no single call")
        call = self._calls[target.calls[0]]
        leg = call.leg(target.device)
        assert leg is not None
        if leg.silent or leg.state not in ("connected", "held") or len(call.active()) < 2:
            raise SwitchError(
                "invalid_call_state", f"agent {target.id!r} is not talking in {call.id!r}"
            )
        self._add_leg(call, sup, "connected", silent=True)
        return self._publish([self._supervisor_joined(call, sup, "listen")])

    def barge_in(self, supervisor_id: str, agent_id: str | None = None) -> list[SwitchEvent]:
        """Supervisor: turn a silent listen into a three-party call (the agent is retrieved
        if it had the customer on hold).

        Raises:
            SwitchError: ``not_logged_in``, ``no_rights``, ``no_active_call`` (not
                listening), ``unknown_agent`` / ``invalid_call_state`` (``agent_id`` is not
                in that call).
        """
        sup = self._session(supervisor_id)
        self._need_rights(sup)
        call, mine = self._supervised_call(sup, agent_id, silent=True)
        out: list[SwitchEvent] = []
        for leg in call.legs:
            if leg.state == "held" and leg.agent is not None:
                self._retrieve(out, call, leg, self._agents[leg.agent])
        mine.silent = False
        out.append(self._supervisor_joined(call, sup, "barge_in"))
        return self._publish(out)

    def _supervisor_joined(self, call: _Call, sup: _Agent, kind: str) -> CallConferenced:
        """The event for a supervisor's leg joining ``call`` (silent while listening)."""
        return CallConferenced(
            concerns=self._concerns(call),
            call=call.id,
            primary=call.id,
            secondary=None,
            controller=sup.device,
            added=sup.device,
            silent=kind == "listen",
            kind=kind,
            parties=tuple((x.device, x.silent) for x in call.legs),
        )

    def take_over(self, supervisor_id: str, agent_id: str | None = None) -> list[SwitchEvent]:
        """Supervisor: drop the agent from the call the supervisor listens to or joined.

        Raises:
            SwitchError: ``not_logged_in``, ``no_rights``, ``no_active_call``,
                ``unknown_agent``, ``invalid_call_state`` (no agent to drop, or more than
                two parties would remain).
        """
        sup = self._session(supervisor_id)
        self._need_rights(sup)
        call, mine = self._supervised_call(sup, agent_id, silent=None)
        victims = [
            x
            for x in call.active()
            if x is not mine and x.agent is not None and (agent_id is None or x.agent == agent_id)
        ]
        if len(victims) != 1:
            raise SwitchError("invalid_call_state", f"no single agent to take over in {call.id!r}")
        victim = victims[0]
        remaining = [x for x in call.active() if x is not victim and x is not mine]
        if len(remaining) != 1:
            raise SwitchError(
                "invalid_call_state", f"a take-over must leave a two-party call in {call.id!r}"
            )
        out: list[SwitchEvent] = []
        mine.silent = False
        self._clear_leg(out, call, victim, "take_over")
        self._distribute(out)
        return self._publish(out)

    # --- stimuli --------------------------------------------------------------------------------
    def inbound_call(
        self, group_id: str, caller: str = "13800000000", *, call_id: str | None = None
    ) -> str:
        """A customer calls a group: offered to its longest-free ready agent, else queued.

        Returns:
            the call id.

        Raises:
            SwitchError: ``unknown_group``; ``invalid_parameter`` (call id in use).
        """
        if group_id not in self._groups:
            raise SwitchError("unknown_group", f"no group {group_id!r}")
        if call_id is not None and call_id in self._calls:
            raise SwitchError("invalid_parameter", f"call id {call_id!r} is in use")
        call = self._new_call("inbound", calling=caller, called=group_id, call_id=call_id)
        call.legs.append(_Leg(caller, None, "connected"))
        out: list[SwitchEvent] = []
        self._enqueue(out, call, group_id)
        self._distribute(out)
        self._publish(out)
        return call.id

    def customer_answers(self, call_id: str) -> list[SwitchEvent]:
        """The external party ringing in the call (far end, consulted number) answers.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state`` (nobody external rings).
        """
        call, leg = self._external(call_id, ("alerting",))
        out: list[SwitchEvent] = []
        self._connect(out, call, leg)
        return self._publish(out)

    def customer_busy(self, call_id: str) -> list[SwitchEvent]:
        """The ringing external party is busy: the call fails.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state``.
        """
        return self._fail_external(call_id, "busy")

    def customer_no_answer(self, call_id: str) -> list[SwitchEvent]:
        """The ringing external party does not answer: the call fails.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state``.
        """
        return self._fail_external(call_id, "no_answer")

    def customer_hangs_up(self, call_id: str) -> list[SwitchEvent]:
        """The external party (customer, far end) hangs up; a queued call is abandoned.

        Raises:
            SwitchError: ``unknown_call``, ``invalid_call_state`` (no external party).
        """
        call, leg = self._external(call_id, ("alerting", "connected", "held"))
        out: list[SwitchEvent] = []
        self._clear_leg(out, call, leg, "normal")
        self._distribute(out)
        return self._publish(out)

    def third_party_answers(self, agent_id: str) -> list[SwitchEvent]:
        """The party the agent consults answers (an agent's phone or a number).

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_complete``, ``invalid_call_state``.
        """
        consult, leg = self._third_party(agent_id, ("alerting",))
        out: list[SwitchEvent] = []
        self._connect(out, consult, leg)
        return self._publish(out)

    def third_party_rejects(self, agent_id: str) -> list[SwitchEvent]:
        """The consulted party rejects the call (busy): the consultation fails.

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_complete``, ``invalid_call_state``.
        """
        consult, leg = self._third_party(agent_id, ("alerting",))
        out: list[SwitchEvent] = []
        self._fail(out, consult, leg.device, "busy", leg)
        self._distribute(out)
        return self._publish(out)

    def third_party_hangs_up(self, agent_id: str) -> list[SwitchEvent]:
        """The consulted party hangs up; the agent keeps the held party.

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_complete``, ``invalid_call_state``.
        """
        consult, leg = self._third_party(agent_id, ("connected",))
        out: list[SwitchEvent] = []
        self._clear_leg(out, consult, leg, "normal")
        self._distribute(out)
        return self._publish(out)

    def agent_no_answer(self, agent_id: str) -> list[SwitchEvent]:
        """Ring-no-answer: the ACD call ringing at the agent goes back to the queue and the
        agent is made not ready (reason ``no_answer``).

        Raises:
            SwitchError: ``unknown_agent``, ``no_call_to_answer``.
        """
        a = self._agent(agent_id)
        call, leg = self._my_leg(a, None, ("alerting",), "no_call_to_answer")
        if call.group is None or call.origin == "consultation":
            raise SwitchError("no_call_to_answer", f"no ACD call rings at agent {a.id!r}")
        out: list[SwitchEvent] = []
        self._decline(out, call, leg, a, cause="no_answer")
        a.ready, a.reason = False, "no_answer"
        self._refresh(a)
        out.append(
            AgentNotReady(
                concerns=(a.id,), agent=a.id, device=a.device, reason="no_answer", by=None
            )
        )
        self._distribute(out)
        return self._publish(out)

    # --- validation helpers ---------------------------------------------------------------------
    def _agent(self, agent_id: str) -> _Agent:
        found = self._agents.get(agent_id)
        if found is None:
            raise SwitchError("unknown_agent", f"no agent {agent_id!r}")
        return found

    def _session(self, agent_id: str) -> _Agent:
        a = self._agent(agent_id)
        if not a.logged_in:
            raise SwitchError("not_logged_in", f"agent {agent_id!r} is not logged in")
        return a

    def _checked_in(self, agent_id: str) -> _Agent:
        a = self._session(agent_id)
        if not a.checked_in:
            raise SwitchError("invalid_agent_state", f"agent {agent_id!r} is not signed in")
        return a

    def _need_free(self, a: _Agent) -> None:
        if a.calls:
            raise SwitchError("busy", f"agent {a.id!r} is in a call")

    def _need_rights(self, a: _Agent) -> None:
        if self.supervisor_right not in a.rights:
            raise SwitchError("no_rights", f"agent {a.id!r} lacks {self.supervisor_right!r}")

    def _acting(self, by: str | None, agent_id: str) -> None:
        """``by`` acting on ``agent_id``: another agent needs supervisor rights."""
        self._agent(agent_id)
        if by is not None and by != agent_id:
            self._need_rights(self._session(by))

    def _my_leg(
        self,
        a: _Agent,
        call_id: str | None,
        states: tuple[str, ...],
        missing: str,
        *,
        silent_ok: bool = True,
    ) -> tuple[_Call, _Leg]:
        candidates = [call_id] if call_id is not None else list(a.calls)
        if call_id is not None and call_id not in a.calls:
            raise SwitchError("unknown_call", f"agent {a.id!r} is not in call {call_id!r}")
        for cid in candidates:
            call = self._calls[cid]
            leg = call.leg(a.device)
            if leg is not None and leg.state in states and (silent_ok or not leg.silent):
                return call, leg
        raise SwitchError(missing, f"agent {a.id!r}: {ERROR_CODES[missing]}")

    def _consultation_pair(self, a: _Agent) -> tuple[_Call, _Call]:
        consult_id = self.consultation_of(a.id)
        if consult_id is None:
            raise SwitchError("no_call_to_complete", f"agent {a.id!r} is not consulting")
        consult = self._calls[consult_id]
        assert consult.consultation_of is not None
        return self._calls[consult.consultation_of], consult

    def _supervised_call(
        self, sup: _Agent, agent_id: str | None, *, silent: bool | None
    ) -> tuple[_Call, _Leg]:
        for cid in sup.calls:
            call = self._calls[cid]
            mine = call.leg(sup.device)
            if mine is None or (silent is not None and mine.silent != silent):
                continue
            if agent_id is not None:
                target = self._agent(agent_id)
                if call.leg(target.device) is None:
                    raise SwitchError(
                        "invalid_call_state", f"agent {agent_id!r} is not in call {call.id!r}"
                    )
            return call, mine
        what = "listening to" if silent else "in"
        raise SwitchError("no_active_call", f"supervisor {sup.id!r} is not {what} a call")

    def _external(self, call_id: str, states: tuple[str, ...]) -> tuple[_Call, _Leg]:
        call = self._calls.get(call_id)
        if call is None:
            raise SwitchError("unknown_call", f"no call {call_id!r}")
        for leg in call.legs:
            if leg.agent is None and leg.state in states:
                return call, leg
        raise SwitchError(
            "invalid_call_state", f"no external party {'/'.join(states)} in call {call_id!r}"
        )

    def _third_party(self, agent_id: str, states: tuple[str, ...]) -> tuple[_Call, _Leg]:
        a = self._agent(agent_id)
        _, consult = self._consultation_pair(a)
        for leg in consult.legs:
            if leg.device != a.device and leg.state in states:
                return consult, leg
        raise SwitchError(
            "invalid_call_state",
            f"the party agent {a.id!r} consults is not {'/'.join(states)}",
        )

    def _target(self, target: str, *, allow_group: bool, exclude: str | None = None) -> _Target:
        """Resolve a dial/transfer target: agent id, agent device, group id, or a number."""
        if not isinstance(target, str) or not target:
            raise SwitchError("invalid_destination", "empty destination")
        agent_id = target if target in self._agents else self._device_owner.get(target)
        if agent_id is not None:
            if agent_id == exclude:
                raise SwitchError("invalid_destination", "an agent cannot call itself")
            return _Target(self._agents[agent_id].device, agent=agent_id)
        if target in self._groups:
            if not allow_group:
                raise SwitchError("invalid_destination", f"{target!r} is a group; dial a number")
            return _Target(target, group=target)
        if _NUMBER.fullmatch(target):
            return _Target(target)
        raise SwitchError("invalid_destination", f"{target!r} is not an agent, group or number")

    # --- model changes (validated already; each appends the events it causes) ------------------
    def _publish(self, out: list[SwitchEvent]) -> list[SwitchEvent]:
        if out:
            for listener in list(self._listeners):
                listener(tuple(out))
        return out

    def _new_call(
        self, origin: str, *, calling: str, called: str, call_id: str | None = None
    ) -> _Call:
        if call_id is None:
            call_id = f"c{next(self._ids)}"
            while call_id in self._calls:
                call_id = f"c{next(self._ids)}"
        call = _Call(call_id, origin, calling, called)
        self._calls[call_id] = call
        return call

    def _concerns(self, call: _Call) -> tuple[str, ...]:
        return _unique(leg.agent for leg in call.legs if leg.agent is not None)

    def _add_leg(self, call: _Call, a: _Agent, state: LegState, *, silent: bool = False) -> _Leg:
        leg = _Leg(a.device, a.id, state, silent)
        call.legs.append(leg)
        a.calls.append(call.id)
        self._refresh(a)
        return leg

    def _remove_leg(self, call: _Call, leg: _Leg) -> None:
        call.legs.remove(leg)
        if leg.agent is not None:
            owner = self._agents[leg.agent]
            if call.id in owner.calls:
                owner.calls.remove(call.id)

    def _refresh(self, a: _Agent) -> None:
        """Keep the per-group free lists right after any change to ``a``."""
        free = a.logged_in and a.ready and not a.calls
        for group, members in self._free.items():
            if free and group in a.checked_in:
                if a.id not in members:
                    members[a.id] = None
            else:
                members.pop(a.id, None)

    def _originate(
        self, out: list[SwitchEvent], a: _Agent, call: _Call, dest: _Target, via: str
    ) -> None:
        mine = self._add_leg(call, a, "initiated")
        out.append(
            CallInitiated(
                concerns=(a.id,),
                call=call.id,
                device=a.device,
                agent=a.id,
                consultation_of=call.consultation_of,
            )
        )
        mine.state = "connected"
        out.append(
            CallOriginated(
                concerns=(a.id,),
                call=call.id,
                device=a.device,
                calling=a.device,
                called=dest.device,
                consultation_of=call.consultation_of,
            )
        )
        self._route(out, call, dest, via=via)

    def _route(self, out: list[SwitchEvent], call: _Call, dest: _Target, *, via: str) -> None:
        """Deliver the call to ``dest``: ring an agent or a number, or queue it for a group."""
        if dest.group is not None:
            self._enqueue(out, call, dest.group)
            return
        if dest.agent is not None:
            target = self._agents[dest.agent]
            if not _reachable(target):
                self._fail(out, call, dest.device, "busy")
                return
            self._ring(out, call, target.device, target, via=via)
            return
        self._ring(out, call, dest.device, None, via=via)

    def _ring(
        self, out: list[SwitchEvent], call: _Call, device: str, agent: _Agent | None, *, via: str
    ) -> None:
        if agent is not None:
            self._add_leg(call, agent, "alerting")
        else:
            call.legs.append(_Leg(device, None, "alerting"))
        out.append(
            LegAlerting(
                concerns=self._concerns(call),
                call=call.id,
                device=device,
                agent=agent.id if agent else None,
                calling=call.calling,
                called=call.called,
                via=via,
                group=call.group,
            )
        )

    def _enqueue(self, out: list[SwitchEvent], call: _Call, group: str) -> None:
        call.group, call.queued = group, True
        self._queue[call.id] = None
        out.append(CallQueued(concerns=(), call=call.id, group=group, calling=call.calling))

    def _distribute(self, out: list[SwitchEvent]) -> None:
        """Offer queued calls, oldest first, to each group's longest-free ready agent."""
        for call_id in list(self._queue):
            call = self._calls.get(call_id)
            if call is None or not call.queued:
                self._queue.pop(call_id, None)
                continue
            assert call.group is not None
            members = self._free[call.group]
            agent_id = next((x for x in members if x not in call.declined_by), None)
            if agent_id is None:
                continue
            call.queued = False
            del self._queue[call_id]
            self._ring(
                out, call, self._agents[agent_id].device, self._agents[agent_id], via="group"
            )

    def _connect(self, out: list[SwitchEvent], call: _Call, leg: _Leg) -> None:
        leg.state = "connected"
        out.append(
            LegAnswered(
                concerns=self._concerns(call),
                call=call.id,
                device=leg.device,
                agent=leg.agent,
                calling=call.calling,
                called=call.called,
            )
        )

    def _hold(
        self, out: list[SwitchEvent], call: _Call, leg: _Leg, a: _Agent, *, consultation: bool
    ) -> None:
        leg.state = "held"
        out.append(
            LegHeld(
                concerns=self._concerns(call),
                call=call.id,
                device=leg.device,
                agent=a.id,
                consultation=consultation,
            )
        )

    def _retrieve(self, out: list[SwitchEvent], call: _Call, leg: _Leg, a: _Agent) -> None:
        leg.state = "connected"
        out.append(
            LegRetrieved(concerns=self._concerns(call), call=call.id, device=leg.device, agent=a.id)
        )

    def _clear_leg(self, out: list[SwitchEvent], call: _Call, leg: _Leg, cause: str) -> None:
        """``leg`` leaves; the call ends if fewer than two non-silent parties remain."""
        out.append(
            LegCleared(
                concerns=self._concerns(call),
                call=call.id,
                device=leg.device,
                agent=leg.agent,
                cause=cause,
            )
        )
        self._remove_leg(call, leg)
        if leg.agent is not None:
            self._refresh(self._agents[leg.agent])
        if call.queued and not call.legs:
            self._queue.pop(call.id, None)
            del self._calls[call.id]
        elif not call.queued and len(call.active()) < 2:
            self._end_call(out, call, "normal")

    def _end_call(self, out: list[SwitchEvent], call: _Call, cause: str) -> None:
        if call.id not in self._calls:
            return
        # a consultation belongs to the call it was placed from: it ends first
        for other in list(self._calls.values()):
            if other.consultation_of == call.id:
                self._end_call(out, other, cause)
        del self._calls[call.id]
        self._queue.pop(call.id, None)
        for leg in sorted(call.legs, key=lambda x: (x.silent, x.agent is None)):
            out.append(
                LegCleared(
                    concerns=_unique((*self._concerns(call), *([leg.agent] if leg.agent else []))),
                    call=call.id,
                    device=leg.device,
                    agent=leg.agent,
                    cause=cause,
                )
            )
            self._remove_leg(call, leg)
            if leg.agent is not None:
                self._refresh(self._agents[leg.agent])

    def _fail(
        self, out: list[SwitchEvent], call: _Call, device: str, cause: str, leg: _Leg | None = None
    ) -> None:
        """The called ``device`` cannot be reached: the caller hears of it, then the call
        ends. A ringing agent leg that gave up is cleared for its own agent only."""
        failing = leg.agent if leg is not None else None
        out.append(
            CallFailed(
                concerns=tuple(x for x in self._concerns(call) if x != failing),
                call=call.id,
                device=device,
                calling=call.calling,
                called=call.called,
                cause=cause,
            )
        )
        if leg is not None:
            if leg.agent is not None:
                out.append(
                    LegCleared(
                        concerns=(leg.agent,),
                        call=call.id,
                        device=device,
                        agent=leg.agent,
                        cause=cause,
                    )
                )
            self._remove_leg(call, leg)
            if leg.agent is not None:
                self._refresh(self._agents[leg.agent])
        self._end_call(out, call, cause)

    def _fail_external(self, call_id: str, cause: str) -> list[SwitchEvent]:
        call, leg = self._external(call_id, ("alerting",))
        out: list[SwitchEvent] = []
        self._fail(out, call, leg.device, cause, leg)
        self._distribute(out)
        return self._publish(out)

    def _decline(
        self, out: list[SwitchEvent], call: _Call, leg: _Leg, a: _Agent, cause: str = "rejected"
    ) -> None:
        """A ringing ACD call leaves the agent and goes back to the front of the queue."""
        assert call.group is not None
        out.append(
            LegCleared(concerns=(a.id,), call=call.id, device=a.device, agent=a.id, cause=cause)
        )
        self._remove_leg(call, leg)
        self._refresh(a)
        call.declined_by.add(a.id)
        call.queued = True
        self._queue = {call.id: None, **self._queue}
        out.append(CallQueued(concerns=(), call=call.id, group=call.group, calling=call.calling))

    def _merge(self, primary: _Call, consult: _Call, a: _Agent) -> tuple[tuple[str, str, str], ...]:
        """Move the consultation's other legs into the primary call; the consultation ends
        without clearing anyone. Returns the moved legs as ``(device, old, new)``."""
        moved = []
        for leg in list(consult.legs):
            self._remove_leg(consult, leg)
            if leg.device == a.device:
                continue
            primary.legs.append(leg)
            if leg.agent is not None:
                self._agents[leg.agent].calls.append(primary.id)
            moved.append((leg.device, consult.id, primary.id))
        del self._calls[consult.id]
        self._queue.pop(consult.id, None)
        self._refresh(a)
        return tuple(moved)

    def _calls_consultation_first(self, a: _Agent) -> list[str]:
        consult = self.consultation_of(a.id)
        rest = [c for c in a.calls if c != consult]
        return ([consult] if consult else []) + rest

    def _leave_everything(
        self, out: list[SwitchEvent], a: _Agent, cause: str, *, by: str | None
    ) -> None:
        for call_id in self._calls_consultation_first(a):
            call = self._calls.get(call_id)
            leg = call.leg(a.device) if call else None
            if call is not None and leg is not None:
                if (
                    leg.state == "alerting"
                    and call.group is not None
                    and call.origin != "consultation"
                ):
                    self._decline(out, call, leg, a, cause=cause)
                else:
                    self._clear_leg(out, call, leg, cause)
        if a.checked_in:
            self._sign_out(out, a, by=by, cause=cause)

    def _sign_out(self, out: list[SwitchEvent], a: _Agent, *, by: str | None, cause: str) -> None:
        groups = a.checked_in
        a.checked_in, a.ready, a.reason = (), False, None
        self._refresh(a)
        out.append(
            AgentCheckedOut(
                concerns=(a.id,),
                agent=a.id,
                device=a.device,
                groups=groups,
                by=by,
                cause=cause,
            )
        )


def _reachable(a: _Agent) -> bool:
    """Can a direct call, consultation or transfer ring this agent now?"""
    return a.logged_in and bool(a.checked_in) and not a.calls


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _call_info(call: _Call) -> CallInfo:
    return CallInfo(
        call=call.id,
        origin=call.origin,
        calling=call.calling,
        called=call.called,
        group=call.group,
        consultation_of=call.consultation_of,
        queued=call.queued,
        legs=tuple(LegInfo(x.device, x.agent, x.state, x.silent) for x in call.legs),
    )


def demo_switch() -> Switch:
    """A small population for demos and ``cti-fsm simulate``.

    Groups ``sales`` (DTMF 1) and ``support`` (DTMF 2); agents ``1001`` (device 8001, both
    groups), ``1002`` (8002, support), ``1003`` (8003, sales) and supervisor ``9001``
    (8901, both groups, right ``supervisor``). Each password is ``pw`` followed by the id
    (``pw1001``): demo credentials, never use such a scheme for real accounts.
    """
    sw = Switch()
    sw.add_group("sales", name="Sales", dtmf="1")
    sw.add_group("support", name="Support", dtmf="2")
    sw.add_agent("1001", "pw1001", device="8001", groups=["sales", "support"])
    sw.add_agent("1002", "pw1002", device="8002", groups=["support"])
    sw.add_agent("1003", "pw1003", device="8003", groups=["sales"])
    sw.add_agent(
        "9001", "pw9001", device="8901", groups=["sales", "support"], rights=["supervisor"]
    )
    return sw
