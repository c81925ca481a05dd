"""The switch's state, its configuration and its queries: everything that emits no event.

``Switch`` is built on this: the operations (``operations``) and stimuli (``stimuli``) read
and change the same dictionaries.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping

from .errors import SwitchError
from .events import Listener
from .records import _Agent, _Call, _call_info
from .views import AgentInfo, AgentSnapshot, CallInfo, GroupInfo
from .vocabulary import DEFAULT_CHART_STATES


class _SwitchState:
    """Agents, groups, calls, the queue and the listeners; set up and queried here.

    Args:
        supervisor_right: the right that supervisor operations need.
        clock: seconds, for the switch's own timers (after-call work, ring timeouts); a
            simulator serving the switch replaces it with its event loop's clock.

    Attributes:
        clock: as given.
    """

    def __init__(
        self, *, supervisor_right: str = "supervisor", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.supervisor_right = supervisor_right
        self.clock = clock
        # per group: seconds of after-call work after its calls, seconds a call may ring
        self._group_wrap_up: dict[str, float] = {}
        self._group_ring_timeout: dict[str, float] = {}
        # the switch's timers: key -> when due; keys ("wrap_up", agent) or
        # ("ring", call, agent). Off unless configured, so nothing is ever armed by default.
        self._due: dict[tuple[str, ...], float] = {}
        # agents whose wrap-up began in the operation running now (``_publishing`` says so)
        self._wrap_started: dict[str, float] = {}
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

    def set_wrap_up(self, target: str, seconds: float | None) -> None:
        """After-call work: after an ACD call it talked on, an agent (or every agent, for
        calls of a group) is in wrap-up for ``seconds`` and is offered no call; it ends
        then, or when the agent sets itself ready or not ready. An agent's own time wins
        over its group's; 0 (the default) means none; None clears an agent's own time.

        Raises:
            ValueError: ``target`` is no agent or group, or ``seconds`` is negative.
        """
        self._configure(target, seconds, "wrap_up_seconds", self._group_wrap_up)

    def set_ring_timeout(self, target: str, seconds: float | None) -> None:
        """Ring timeout: an ACD call offered to an agent (or to the agents of a group) and
        not answered within ``seconds`` is taken back (re-queued, not offered to that agent
        again) and the agent is made not ready, as ``agent_no_answer`` does. An agent's own
        time wins over its group's; 0 (the default) means none; None clears an agent's own.

        Raises:
            ValueError: ``target`` is no agent or group, or ``seconds`` is negative.
        """
        self._configure(target, seconds, "ring_timeout_seconds", self._group_ring_timeout)

    def _configure(
        self, target: str, seconds: float | None, field: str, groups: dict[str, float]
    ) -> None:
        if seconds is not None and (not isinstance(seconds, (int, float)) or seconds < 0):
            raise ValueError(f"{field} must be a number of seconds >= 0, not {seconds!r}")
        if target in self._agents:
            setattr(self._agents[target], field, seconds)
        elif target in self._groups:
            if seconds is None:
                raise ValueError(f"group {target!r}: {field} must be a number, not None")
            groups[target] = seconds
        else:
            raise ValueError(f"{target!r} is neither an agent nor a group")

    def _seconds(self, own: float | None, groups: Mapping[str, float], group: str | None) -> float:
        """An agent's own time, else its call's group's, else 0."""
        if own is not None:
            return own
        return groups.get(group, 0.0) if group is not None else 0.0

    @property
    def wake_at(self) -> float:
        """When the switch's next timer is due (``clock`` seconds; inf: none armed): the
        time to call ``tick``."""
        return min(self._due.values(), default=math.inf)

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
            if a.wrap_up_until is not None:
                return "wrap_up"
            return "ready" if a.ready else "not_ready"
        if len(a.calls) > 1:
            consult = self._calls[self.consultation_of(a.id) or a.calls[-1]]
            answered = any(
                leg.state == "connected" for leg in consult.legs if leg.device != a.device
            )
            return "consult_talking" if answered else "consult_ringing"
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

    # --- who is asking, and may they (queries need this as much as operations do) -----------------
    def _agent(self, agent_id: str) -> _Agent:
        """The agent ``agent_id``, or ``SwitchError`` ``unknown_agent``."""
        found = self._agents.get(agent_id)
        if found is None:
            raise SwitchError("unknown_agent", f"no agent {agent_id!r}")
        return found

    def _session(self, agent_id: str) -> _Agent:
        """The agent, if it has a session (else ``not_logged_in``)."""
        a = self._agent(agent_id)
        if not a.logged_in:
            raise SwitchError("not_logged_in", f"agent {agent_id!r} is not logged in")
        return a

    def _need_rights(self, a: _Agent) -> None:
        """Refuse (``no_rights``) unless ``a`` has the supervisor right."""
        if self.supervisor_right not in a.rights:
            raise SwitchError("no_rights", f"agent {a.id!r} lacks {self.supervisor_right!r}")
