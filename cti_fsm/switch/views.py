"""What the switch's queries return: frozen views of groups, calls, legs and agents.

Views are copies: a simulator may keep one while the switch moves on. None carries a password.
"""

from __future__ import annotations

import attrs

from .vocabulary import LegState

__all__ = ["AgentInfo", "AgentSnapshot", "CallInfo", "GroupInfo", "LegInfo"]


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
