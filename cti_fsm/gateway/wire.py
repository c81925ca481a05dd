"""What a gateway and a remote agent say to each other over NATS, sans-IO: subjects, and
the JSON of events, state entries, command requests and replies.

Everything here is bytes in, values out (and back), so every rule is tested without a
broker:

- an **event** (``cti.<tenant>.agent.<id>.evt``, JetStream) is one notification with the
  agent's snapshot after it and the agent's sequence number; its ``Nats-Msg-Id`` is
  ``<id>:<seq>``, so a publish retried, or repeated by a gateway taking over, is stored once;
- the **state entry** (key ``state.<id>`` of the tenant's key-value bucket) is the last
  event's sequence number and snapshot, where a subscriber starts from;
- a **command request** (``cti.<tenant>.agent.<id>.cmd``, request/reply) names the command
  and its arguments; the **reply** is the step it took, or the error the local agent raised
  (its type, message and attributes), rebuilt on the remote side as the same exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .. import errors
from ..events import ChartCommand, Notification, Step, TimerChange

__all__ = [
    "Event",
    "Reply",
    "Snapshot",
    "WireError",
    "bucket_name",
    "command_subject",
    "decode_command",
    "decode_event",
    "decode_reply",
    "decode_state",
    "encode_command",
    "encode_error",
    "encode_event",
    "encode_state",
    "encode_step_reply",
    "error_from",
    "event_subject",
    "health_subject",
    "message_id",
    "stream_name",
]


class WireError(ValueError):
    """Bytes that are not what the wire says they must be (what was wrong is the message)."""


# --- names ----------------------------------------------------------------------------------
def event_subject(tenant: str, agent: str) -> str:
    """Where agent ``agent`` of ``tenant`` publishes its events."""
    return f"cti.{tenant}.agent.{agent}.evt"


def command_subject(tenant: str, agent: str) -> str:
    """Where agent ``agent`` of ``tenant`` is sent commands (request/reply)."""
    return f"cti.{tenant}.agent.{agent}.cmd"


def health_subject(tenant: str, gateway: str) -> str:
    """Where gateway ``gateway`` publishes its health."""
    return f"cti.{tenant}.gateway.{gateway}.health"


def stream_name(tenant: str) -> str:
    """The JetStream stream holding the tenant's events."""
    return f"CTI_{tenant.upper()}"


def bucket_name(tenant: str) -> str:
    """The key-value bucket holding the tenant's state entries and leases."""
    return f"cti_{tenant}"


def message_id(agent: str, seq: int) -> str:
    """The ``Nats-Msg-Id`` of agent ``agent``'s event ``seq``: one stored copy per event."""
    return f"{agent}:{seq}"


# --- snapshots and events -------------------------------------------------------------------
@attrs.frozen
class Snapshot:
    """An agent's state as the gateway holding it sees it.

    Attributes:
        state: the main leaf state's full path.
        states: every active leaf (the main one and each parallel region's).
        allowed: the commands that may be sent now.
        connected: whether the gateway's link to the vendor is up.
    """

    state: str
    states: tuple[str, ...]
    allowed: tuple[str, ...]
    connected: bool = True

    def to_json(self) -> dict[str, Any]:
        """The snapshot as JSON values."""
        return {
            "state": self.state,
            "states": list(self.states),
            "allowed": list(self.allowed),
            "connected": self.connected,
        }

    @classmethod
    def from_json(cls, data: Any) -> Snapshot:
        """The snapshot of ``data``.

        Raises:
            WireError: ``data`` is not a snapshot.
        """
        if not isinstance(data, Mapping):
            raise WireError(f"a snapshot is an object, not {type(data).__name__}")
        state, states, allowed = data.get("state"), data.get("states"), data.get("allowed")
        if not isinstance(state, str) or not _strings(states) or not _strings(allowed):
            raise WireError("a snapshot needs state (text), states and allowed (lists of text)")
        assert states is not None and allowed is not None
        return cls(state, tuple(states), tuple(allowed), bool(data.get("connected", True)))


@attrs.frozen
class Event:
    """One notification of one agent, as published (or a state entry: no notification).

    Attributes:
        agent: the agent's id.
        seq: its sequence number: 1, 2, 3, ... for the agent's whole life, across gateways.
        snapshot: the agent's state after the notification.
        notification: the notification (None in a state entry written with no event).
        gateway: the gateway that published it.
        stream_seq: the stream's sequence number of the event (state entries only; 0:
            not known).
    """

    agent: str
    seq: int
    snapshot: Snapshot
    notification: Notification | None = None
    gateway: str = ""
    stream_seq: int = 0


def encode_event(event: Event) -> bytes:
    """The JSON bytes of ``event`` (published on the agent's event subject)."""
    body: dict[str, Any] = {
        "agent": event.agent,
        "seq": event.seq,
        "snapshot": event.snapshot.to_json(),
        "gateway": event.gateway,
    }
    note = event.notification
    if note is not None:
        body["notification"] = {"name": note.name, "payload": dict(note.payload)}
    if event.stream_seq:
        body["stream_seq"] = event.stream_seq
    return _dumps(body)


def decode_event(data: bytes) -> Event:
    """The event in ``data``.

    Raises:
        WireError: not an event.
    """
    body = _loads(data, "event")
    agent, seq = body.get("agent"), body.get("seq")
    if not isinstance(agent, str) or not isinstance(seq, int) or isinstance(seq, bool):
        raise WireError("an event needs agent (text) and seq (an integer)")
    raw_note = body.get("notification")
    note: Notification | None = None
    if raw_note is not None:
        if not isinstance(raw_note, Mapping) or not isinstance(raw_note.get("name"), str):
            raise WireError("an event's notification needs a name")
        payload = raw_note.get("payload") or {}
        if not isinstance(payload, Mapping):
            raise WireError("a notification's payload is an object")
        note = Notification(raw_note["name"], payload)
    stream_seq = body.get("stream_seq", 0)
    return Event(
        agent,
        seq,
        Snapshot.from_json(body.get("snapshot")),
        note,
        str(body.get("gateway", "")),
        stream_seq if isinstance(stream_seq, int) else 0,
    )


def encode_state(event: Event) -> bytes:
    """The state entry for ``event`` (the notification left out: the snapshot is the truth)."""
    return encode_event(attrs.evolve(event, notification=None))


def decode_state(data: bytes) -> Event:
    """The state entry in ``data``.

    Raises:
        WireError: not a state entry.
    """
    return decode_event(data)


# --- commands -------------------------------------------------------------------------------
def encode_command(name: str, args: Mapping[str, Any]) -> bytes:
    """A command request: the chart command and its arguments."""
    return _dumps({"command": name, "args": dict(args)})


def decode_command(data: bytes) -> tuple[str, dict[str, Any]]:
    """The command and arguments of a request.

    Raises:
        WireError: not a command request.
    """
    body = _loads(data, "command request")
    name, args = body.get("command"), body.get("args", {})
    if not isinstance(name, str) or not isinstance(args, Mapping):
        raise WireError("a command request needs command (text) and args (an object)")
    return name, dict(args)


def encode_step_reply(step: Step | None, seq: int, snapshot: Snapshot) -> bytes:
    """The reply to a command that succeeded: its step (None: no confirming signal), the
    agent's sequence number once the step's notifications were published, and its snapshot."""
    body: dict[str, Any] = {"ok": True, "seq": seq, "snapshot": snapshot.to_json()}
    if step is not None:
        body["step"] = {
            "source": step.source,
            "target": step.target,
            "signal": step.signal,
            "notifications": [
                {"name": n.name, "payload": dict(n.payload)} for n in step.notifications
            ],
            "payload": dict(step.payload),
            "ignored": step.ignored,
            "timers": [[t.timer, t.seconds] for t in step.timers],
            "commands": [[c.command, dict(c.args)] for c in step.commands],
        }
    return _dumps(body)


#: the exceptions a reply may carry, by name: the library's own, nothing else is rebuilt
_ERRORS: dict[str, type[errors.CtiError]] = {
    name: cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, errors.CtiError)
}


def encode_error(error: BaseException, seq: int = 0) -> bytes:
    """The reply to a command that raised ``error``: its type, message and attributes."""
    kind = type(error).__name__ if type(error).__name__ in _ERRORS else "CtiError"
    fields = {k: v for k, v in vars(error).items() if not k.startswith("_")}
    return _dumps(
        {"ok": False, "seq": seq, "error": {"type": kind, "message": str(error), "attrs": fields}}
    )


def error_from(data: Mapping[str, Any]) -> errors.CtiError:
    """The exception a reply's ``error`` object describes: the same type, message and
    attributes as the one the gateway's agent raised (lists come back as tuples)."""
    cls = _ERRORS.get(str(data.get("type")), errors.CtiError)
    error = cls.__new__(cls)
    Exception.__init__(error, str(data.get("message", "")))
    attributes = data.get("attrs")
    if isinstance(attributes, Mapping):
        for key, value in attributes.items():
            setattr(error, str(key), tuple(value) if isinstance(value, list) else value)
    return error


@attrs.frozen
class Reply:
    """What a command's reply says.

    Attributes:
        step: the step the command took (None: no confirming signal, or an error).
        seq: the agent's sequence number once the command's notifications were published:
            a remote agent waits until its stream has reached it.
        snapshot: the agent's state after the command (None with an error).
        error: the error the gateway's agent raised, rebuilt (None: it succeeded).
    """

    step: Step | None
    seq: int
    snapshot: Snapshot | None = None
    error: errors.CtiError | None = None


def decode_reply(data: bytes) -> Reply:
    """What a reply says.

    Raises:
        WireError: not a reply.
    """
    body = _loads(data, "reply")
    seq = body.get("seq", 0)
    if not isinstance(seq, int):
        raise WireError("a reply's seq is an integer")
    if not body.get("ok"):
        error = body.get("error")
        if not isinstance(error, Mapping):
            raise WireError("a refused reply needs an error object")
        return Reply(None, seq, None, error_from(error))
    snapshot = Snapshot.from_json(body["snapshot"]) if "snapshot" in body else None
    raw = body.get("step")
    if raw is None:
        return Reply(None, seq, snapshot)
    if not isinstance(raw, Mapping):
        raise WireError("a reply's step is an object")
    try:
        step = Step(
            raw["source"],
            raw["target"],
            raw.get("signal"),
            tuple(
                Notification(n["name"], n.get("payload") or {})
                for n in raw.get("notifications", ())
            ),
            raw.get("payload") or {},
            bool(raw.get("ignored", False)),
            tuple(TimerChange(t, s) for t, s in raw.get("timers", ())),
            tuple(ChartCommand(c, a) for c, a in raw.get("commands", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"a reply's step is malformed: {exc!r}") from None
    return Reply(step, seq, snapshot)


# --- JSON -----------------------------------------------------------------------------------
def _strings(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(isinstance(v, str) for v in value)
    )


def _dumps(body: Mapping[str, Any]) -> bytes:
    # a payload value JSON cannot say (a datetime, a Secret) goes as its text: a Secret's
    # text is its stand-in, never its value
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def _loads(data: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"a {what} is JSON: {exc}") from None
    if not isinstance(body, dict):
        raise WireError(f"a {what} is a JSON object, not {type(body).__name__}")
    return body
