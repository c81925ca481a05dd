"""The events the switch emits: small frozen values, channel-level, that any vendor's
simulator can render.

Every event names in ``concerns`` the agents whose links should hear of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

__all__ = [
    "AgentCheckedIn",
    "AgentCheckedOut",
    "AgentLoggedIn",
    "AgentLoggedOut",
    "AgentNotReady",
    "AgentReady",
    "AgentWorkingAfterCall",
    "CallConferenced",
    "CallFailed",
    "CallInitiated",
    "CallOriginated",
    "CallQueued",
    "CallTransferred",
    "DigitsSent",
    "LegAlerting",
    "LegAnswered",
    "LegCleared",
    "LegHeld",
    "LegRetrieved",
    "Listener",
    "SwitchEvent",
]


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
    """The agent is ready for ACD calls (``by`` another agent, if one did it);
    ``ended_wrap_up``: its after-call work ended (its time ran out, or it set itself
    ready), it had been ready all along for the switch."""

    agent: str
    device: str
    by: str | None
    ended_wrap_up: bool = False


@attrs.frozen(kw_only=True)
class AgentWorkingAfterCall(SwitchEvent):
    """After an ACD call the agent talked on, it is in after-call work (wrap-up) for
    ``seconds``: no call is offered until an ``AgentReady`` (or ``AgentNotReady``)."""

    agent: str
    device: str
    seconds: float


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


#: What ``Switch.subscribe`` takes: called with the events of each change, in order.
Listener = Callable[[Sequence[SwitchEvent]], None]
