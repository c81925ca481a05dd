"""The values that cross the library's layers, in one place: the contract.

From the wire inwards: a codec turns a ``Frame`` into ``RawMessage``s (or a ``Malformed``);
a vendor protocol turns each raw message into ``Inbound`` values (a chart ``Signal``, an
``Answer`` to a request, a ``Snapshot`` of the server's view); the machine turns a signal
into a ``Step`` carrying ``Notification``s for business code. All of them are small frozen
attrs classes with no behaviour beyond reading, so every layer can be driven from a test
with values made by hand. Nothing here imports anything else of the library.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import attrs

__all__ = [
    "EXCERPT_CHARS",
    "Answer",
    "ChartCommand",
    "Frame",
    "Inbound",
    "Malformed",
    "Notification",
    "RawMessage",
    "Signal",
    "Snapshot",
    "Step",
    "TimerChange",
    "clip",
]

#: One decoded vendor message: a JSON object, or a text packet as a dict of fields.
RawMessage = Mapping[str, Any]
#: What goes over the wire: a websocket text or binary message, or bytes of a TCP stream.
Frame = bytes | str
#: How much of a malformed frame is kept for the log: enough to recognise it.
EXCERPT_CHARS = 120
_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: How much of a text the server sent (a refusal's reason, a state name) a log line or an
#: error message keeps: a peer must not write kilobytes into every record.
REASON_CHARS = 200


def clip(value: Any, limit: int = REASON_CHARS) -> str:
    """``str(value)`` cut to ``limit`` characters (marked with ``...`` when cut)."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@attrs.frozen
class Malformed:
    """A frame (or part of a stream) the codec could not decode. Decoding goes on after it.

    Attributes:
        reason: what was wrong.
        excerpt: the start of the offending data, cut to ``EXCERPT_CHARS``.
    """

    reason: str
    excerpt: str = ""

    @classmethod
    def of(cls, reason: str, data: bytes | str) -> Malformed:
        """A ``Malformed`` whose excerpt is the start of ``data``, decoded leniently."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        return cls(reason, text[:EXCERPT_CHARS])


@attrs.frozen
class Signal:
    """A chart signal produced from a vendor message, with its payload.

    Attributes:
        name: the chart signal.
        payload: its fields.
        request_id: set when the message answers one of this agent's requests (a command
            confirmed or refused by its own response): the session settles that request
            with it, and no separate ``Answer`` is needed. None for an unsolicited event.
    """

    name: str
    payload: Mapping[str, Any] = _EMPTY
    request_id: int | None = None


@attrs.frozen
class Answer:
    """The vendor's answer to one request the agent sent (correlated by ``request_id``).

    Attributes:
        request_id: the request it answers.
        ok: False for an error response; the session then fails the command with ``reason``.
        reason: why it was refused.
        payload: fields of a positive answer (for queries).
    """

    request_id: int
    ok: bool
    reason: str = ""
    payload: Mapping[str, Any] = _EMPTY


@attrs.frozen
class Snapshot:
    """The server's view of this agent, answering a snapshot request.

    Attributes:
        state: the chart state the server reports (full path or unambiguous suffix).
        payload: what is known of the current call (call id, number), if any. Its
            ``availability``, if given, is the chart state the agent goes back to when the
            call ends (idle or paused, as the server keeps it): the resync walks through
            it first when the server moved there while the link was down.
        request_id: the snapshot request it answers (None: whichever is outstanding).
    """

    state: str
    payload: Mapping[str, Any] = _EMPTY
    request_id: int | None = None


#: Everything a protocol can make of one raw message (``Malformed``: it is readable but
#: wrong, a field of the wrong type or about another agent's connection; it moves nothing).
Inbound = Signal | Answer | Snapshot | Malformed


class Notification(NamedTuple):
    """An event for business code, by the seed's name (``onCallIn``), with its payload.

    ``note["call_id"]`` reads a payload field. A named tuple, as ``Step`` is: made for
    every notification a signal with a payload emits, and a tuple is made faster than a
    frozen attrs instance.

    Attributes:
        name: the notification's name as declared in the chart.
        payload: every field the chart declares for it (None where the signal gave none),
            plus the constants the transition sets (``result``).
    """

    name: str
    payload: Mapping[str, Any] = _EMPTY

    def __getitem__(self, field: str) -> Any:  # type: ignore[override]
        # a field by name; the tuple's own positions stay reachable through the names
        if isinstance(field, str):
            return self.payload[field]
        return tuple.__getitem__(self, field)


@attrs.frozen
class TimerChange:
    """A timer a step starts or cancels; the machine has no clock, its driver arms it.

    Attributes:
        timer: the timer's id (``chart.timers``).
        seconds: how long until it fires; None to cancel it.
    """

    timer: str
    seconds: float | None = None


@attrs.frozen
class ChartCommand:
    """A command the chart sends because a transition was taken (``send:``)."""

    command: str
    args: Mapping[str, Any] = _EMPTY


class Step(NamedTuple):
    """What one signal did to a machine.

    A named tuple, not an attrs class like the other values: one is made for every signal
    with a payload, and a tuple is made several times faster than a frozen attrs instance
    (the engine's payload path is mostly this). Immutable all the same.

    Attributes:
        source: full state path before the signal.
        target: full state path after it (equal to ``source`` for an internal transition
            or an ignored signal).
        signal: the signal applied (None for a ``jump``).
        notifications: the notifications the transition emitted, in order.
        payload: the signal's payload.
        ignored: True if the state had no transition for the signal (nothing happened).
        timers: the timers to cancel (first) and start, in order.
        commands: the chart commands to send now, in order.
    """

    source: str
    target: str
    signal: str | None
    notifications: tuple[Notification, ...] = ()
    payload: Mapping[str, Any] = _EMPTY
    ignored: bool = False
    timers: tuple[TimerChange, ...] = ()
    commands: tuple[ChartCommand, ...] = ()

    @property
    def changed(self) -> bool:
        """True if the machine moved to another leaf state."""
        return self.source != self.target

    @property
    def names(self) -> tuple[str, ...]:
        """The emitted notifications' names."""
        return tuple(n.name for n in self.notifications)
