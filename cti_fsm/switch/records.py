"""The switch's internal records: mutable agents, calls and legs, and the small facts
derived from them.

Only the switch changes these; the outside world sees them through ``views``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .views import CallInfo, LegInfo
from .vocabulary import LegState


@attrs.define
class _Agent:
    """An agent as the switch keeps it; ``calls`` lists the calls it has a leg in."""

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
    #: seconds of after-call work / of ringing before a call is taken back; None: the
    #: group's (``Switch.set_wrap_up``, ``Switch.set_ring_timeout``)
    wrap_up_seconds: float | None = None
    ring_timeout_seconds: float | None = None
    #: the group of the ACD call it just talked on, until its wrap-up is decided
    wrap_up_owed: str | None = None
    #: in after-call work until then (the switch's clock); None: not in wrap-up
    wrap_up_until: float | None = None


@attrs.define
class _Leg:
    """One party of a call: an agent's device (``agent`` set) or an external number."""

    device: str
    agent: str | None
    state: LegState
    silent: bool = False


@attrs.define
class _Call:
    """One bridge and its legs; ``declined_by``: agents an ACD call is not offered to again."""

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
        """The leg of ``device`` in this call, or None."""
        for leg in self.legs:
            if leg.device == device:
                return leg
        return None

    def active(self) -> list[_Leg]:
        """The legs that count as parties (a listening supervisor's does not)."""
        return [leg for leg in self.legs if not leg.silent]


@attrs.frozen
class _Target:
    """Where a dial, transfer or consultation goes: an agent, a group or a number."""

    device: str
    agent: str | None = None
    group: str | None = None


def _reachable(a: _Agent) -> bool:
    """Can a direct call, consultation or transfer ring this agent now?"""
    return a.logged_in and bool(a.checked_in) and not a.calls and a.wrap_up_until is None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """``items`` without repeats, first occurrence first (``concerns`` keep a stable order)."""
    return tuple(dict.fromkeys(items))


def _call_info(call: _Call) -> CallInfo:
    """The outside view of ``call``: a frozen copy."""
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
