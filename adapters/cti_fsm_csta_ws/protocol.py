"""One agent's CSTA conversation, sans-IO: commands to requests, responses and events to
chart signals, answers and snapshots.

The vendor map (``specs/vendors/csta-ws.yaml``) says which message is which signal and how
each command is written. What a stateless map cannot say lives here:

- **invoke ids**: every request carries the agent's request id as its ``invokeId``; the
  response is correlated back to the command, and rules see it as ``request.command`` and
  ``request.args`` (secrets removed);
- **the agent's device and session**, learnt from the login response;
- **the current call and the consultation call**, followed from the events of this device,
  so ``hold`` knows which call to hold and rules can tell "my consultation" from "my call";
- **the snapshot**: SnapshotDevice's connection states reduced to one situation, looked up
  in the map's ``states``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from cti_fsm.chart import Chart
from cti_fsm.errors import Unsupported
from cti_fsm.events import Answer, Inbound, Malformed, RawMessage, Signal, Snapshot, clip
from cti_fsm.ratelimit import RateLimitedLog
from cti_fsm.vendor_map import VendorMap, excerpt

from .codec import DEFAULT_MAX_FRAME, JsonCodec

__all__ = ["OPTIONS", "CstaProtocol", "error_reason"]

log = logging.getLogger("cti_fsm_csta_ws.protocol")

#: Options ``CstaProtocol`` accepts, with what they do.
OPTIONS: Mapping[str, str] = {
    "application_id": "applicationID sent in StartApplicationSession (default 'cti-fsm')",
    "max_frame": f"largest frame decoded, in characters (default {DEFAULT_MAX_FRAME})",
}
#: The pseudo-command a snapshot request is recorded under.
SNAPSHOT = "(snapshot)"
#: Requests remembered while waiting for their responses; the oldest is forgotten beyond.
MAX_OUTSTANDING = 10_000
#: The connection field that names the call in each call event.
_CONNECTION_FIELD: Mapping[str, str] = {
    "serviceInitiated": "initiatedConnection",
    "originated": "originatedConnection",
    "delivered": "connection",
    "established": "establishedConnection",
    "failed": "failedConnection",
    "held": "heldConnection",
    "retrieved": "retrievedConnection",
    "connectionCleared": "droppedConnection",
    "diverted": "connection",
}
#: The field naming the device an event is about (the one that rings, answers, ...).
_SUBJECT_FIELD: Mapping[str, str] = {
    "serviceInitiated": "initiatingDevice",
    "originated": "callingDevice",
    "delivered": "alertingDevice",
    "established": "answeringDevice",
    "connectionCleared": "releasingDevice",
    "diverted": "divertingDevice",
}


@attrs.frozen
class _Request:
    command: str
    args: Mapping[str, Any]
    request_id: int = 0
    aux: bool = False


def error_reason(error: Any) -> str:
    """``category.value: message`` of a CSTA error object (``unspecified`` if unreadable)."""
    if not isinstance(error, Mapping):
        return "unspecified"
    category = error.get("category", "unspecified")
    value = error.get("value")
    text = f"{category}.{value}" if value is not None else str(category)
    message = error.get("message")
    return clip(f"{text}: {message}" if message else text)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    """``value`` if it is a list, else none (a number or an object is not a list of items)."""
    return value if isinstance(value, list) else []


def _id(value: Any) -> Any:
    """``value`` if it can be an identifier (text, or a whole number), else None: a list
    or an object where an id belongs is never taken for one."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def _call_id(value: Any) -> Any:
    return _id(_mapping(value).get("callID"))


def _snapshot_problem(result: Mapping[str, Any]) -> str | None:
    """What makes a SnapshotDevice result unreadable (None: it is readable)."""
    device = result.get("device")
    if device is not None and not isinstance(device, str):
        return f"device is a {type(device).__name__}"
    agent = result.get("agentState")
    if agent is not None and not isinstance(agent, Mapping):
        return f"agentState is a {type(agent).__name__}"
    if isinstance(agent, Mapping) and not isinstance(agent.get("state", ""), str):
        return "agentState.state is not text"
    calls = result.get("snapshotData")
    if calls is None:
        return None
    if not isinstance(calls, list):
        return f"snapshotData is a {type(calls).__name__}"
    for call in calls:
        if not isinstance(call, Mapping):
            return "a snapshotData entry is not an object"
        ident = call.get("connectionIdentifier")
        if ident is not None and (
            not isinstance(ident, Mapping) or ("callID" in ident and _call_id(ident) is None)
        ):
            return "a snapshotData entry's callID is not an id"
        state = call.get("localConnectionState")
        if state is not None and not isinstance(state, str):
            return "a localConnectionState is not text"
        endpoints = call.get("endpoints")
        if endpoints is not None and not isinstance(endpoints, list):
            return "endpoints is not a list"
    return None


class CstaProtocol:
    """The sans-IO protocol of one connection of one agent (make a fresh one per connection).

    Args:
        vendor_map: the loaded ``csta-ws`` map (or a variant of it).
        chart: the chart the map is written for.
        user: the agent's login id (its CSTA agentID).
        options: see ``OPTIONS``.

    Attributes:
        device: the agent's device, once the login response named it.
        call_id: the agent's current call (an inbound, outbound or listened-to call).
        consult_call_id: the consultation call the agent placed, while there is one.

    Raises:
        ValueError: an unknown option, or a bad value for one.
    """

    def __init__(
        self, vendor_map: VendorMap, chart: Chart, *, user: str, options: Mapping[str, Any]
    ) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown csta-ws options {unknown}; known: {', '.join(sorted(OPTIONS))}"
            )
        self.codec = JsonCodec(int(options.get("max_frame", DEFAULT_MAX_FRAME)))
        # the session reaches the codec only through these (the protocol owns its framing)
        self.decode = self.codec.feed
        self.encode = self.codec.encode
        self.unsupported: frozenset[str] = vendor_map.unsupported
        self.local_commands: frozenset[str] = vendor_map.local
        self.user = user
        self.device: str | None = None
        self.session_id: str | None = None
        self.call_id: str | None = None
        self.consult_call_id: str | None = None
        self._map = vendor_map
        self._chart = chart
        self._application_id = str(options.get("application_id", "cti-fsm"))
        self._secret_args = _secret_args(chart, vendor_map)
        self._outstanding: dict[Any, _Request] = {}
        self._warn = RateLimitedLog(log)
        self._aux_ids = itertools.count(1)
        # what rules see as context and as ``me``, rebuilt only when what they hold changed
        self._known: tuple[str | None, ...] = ()
        self._known_context: Mapping[str, Any] = MappingProxyType({})
        self._me_device: str | None = None
        # a plain dict (rules only read it): field look-ups take their fast path on dicts
        self._me_view: dict[str, Any] = {"agent_id": user, "device": None}

    def __repr__(self) -> str:
        return (
            f"<CstaProtocol user={self.user!r} device={self.device!r} call={self.call_id!r}"
            f" consultation={self.consult_call_id!r} outstanding={len(self._outstanding)}>"
        )

    # --- outbound ----------------------------------------------------------------------------
    def encode_command(
        self, command: str, args: Mapping[str, Any], request_id: int
    ) -> Sequence[RawMessage]:
        """The requests that carry out ``command``; the first (or only) one is answered
        under ``request_id``.

        Raises:
            Unsupported: the map does not do the command.
            MissingContext: the command needs something not known now (a call id).
        """
        if command in self.unsupported or command not in self._map.commands:
            raise Unsupported(command=command, state="(unknown to the adapter)", vendor="csta-ws")
        context = self._command_context(command, args, request_id)
        messages: list[RawMessage] = self._map.encode(command, context)
        if command == "hangup" and self.consult_call_id is not None:
            # hanging up mid-consultation ends both calls: the consultation first, as its
            # own request, so the agent passes through the chart's consult_ended
            aux = f"aux-{next(self._aux_ids)}"
            extra = {**context, "call_id": self.consult_call_id, "invoke_id": aux}
            messages = [*self._map.encode(command, extra), *messages]
            self._remember(aux, _Request(command, {}, aux=True))
        self._remember(request_id, _Request(command, self._safe_args(command, args), request_id))
        return messages

    def snapshot_request(self, request_id: int) -> Sequence[RawMessage]:
        """A SnapshotDevice request for the agent's device (or its id, before login)."""
        params = {"snapshotObject": self.device} if self.device else {"agentID": self.user}
        self._remember(request_id, _Request(SNAPSHOT, {}, request_id))
        return [
            {
                "type": "request",
                "invokeId": request_id,
                "service": "SnapshotDevice",
                "params": params,
            }
        ]

    def _command_context(
        self, command: str, args: Mapping[str, Any], request_id: int
    ) -> dict[str, Any]:
        spec = self._chart.commands.get(command)
        context: dict[str, Any] = {a.name: None for a in spec.args} if spec else {}
        context.update(invoke_id=request_id, user=self.user, application_id=self._application_id)
        context.update(self._correlation())
        active = self.consult_call_id or self.call_id
        if active is not None:
            context["active_call_id"] = active
        # SetAgentState on another agent names it by agent id only; on oneself, also by device
        other = args.get("agent_id")
        target = other if other is not None else self.user
        context["target_agent"] = target
        context["target_device"] = self.device if target == self.user else None
        context.update(args)
        groups = context.get("group_ids")
        if isinstance(groups, str):
            context["group_ids"] = [g.strip() for g in groups.split(",") if g.strip()]
        elif isinstance(groups, tuple):
            context["group_ids"] = list(groups)
        return context

    def _correlation(self) -> Mapping[str, Any]:
        # an unknown value is left out: rules naming it do not match, commands needing it
        # are refused with MissingContext instead of sending a request without it
        known = (self.device, self.session_id, self.call_id, self.consult_call_id)
        if known != self._known:
            names = ("device", "session_id", "call_id", "consult_call_id")
            self._known = known
            self._known_context = MappingProxyType(
                {k: v for k, v in zip(names, known, strict=True) if v is not None}
            )
        return self._known_context

    def _safe_args(self, command: str, args: Mapping[str, Any]) -> Mapping[str, Any]:
        hidden = self._secret_args.get(command, self._map.secrets)
        return {k: v for k, v in args.items() if k not in hidden}

    def _remember(self, invoke_id: Any, request: _Request) -> None:
        self._outstanding[invoke_id] = request
        while len(self._outstanding) > MAX_OUTSTANDING:
            forgotten = next(iter(self._outstanding))
            self._warn.warning(
                time.monotonic(),
                "forgotten",
                "%s: no response to request %r; forgotten",
                self.user,
                forgotten,
            )
            del self._outstanding[forgotten]

    # --- inbound -----------------------------------------------------------------------------
    def receive(self, message: RawMessage) -> Sequence[Inbound]:
        """What one message means for this agent: the answer to one of its requests (an
        ``Answer``, or, for a command its response confirms, the confirming ``Signal``
        carrying the request id: one value, so the session settles it once), a snapshot,
        or the signal an event stands for. Messages it cannot read mean nothing."""
        kind = message.get("type")
        if kind == "event":
            return self._event(message)
        if kind in ("response", "error"):
            return self._answer(message, ok=kind == "response")
        return []

    def _me(self) -> dict[str, Any]:
        if self.device != self._me_device:
            self._me_device = self.device
            self._me_view = {"agent_id": self.user, "device": self.device}
        return self._me_view

    def _event(self, message: RawMessage) -> list[Inbound]:
        # the rules also see who "me" is: a shallow copy of the few top-level fields is
        # cheaper than a mapping view that every field look-up would go through
        view = {**message, "me": self._me()}
        signal = self._map.signal(view, self._correlation())
        if isinstance(signal, Malformed):
            return [signal]  # it moves nothing: not the calls followed either
        self._follow(message)
        return [signal] if signal is not None else []

    def _answer(self, message: RawMessage, *, ok: bool) -> list[Inbound]:
        invoke_id = message.get("invokeId")
        request = self._outstanding.pop(invoke_id, None) if _hashable(invoke_id) else None
        result = _mapping(message.get("result"))
        reason = "" if ok else error_reason(message.get("error"))
        if request is None:
            # a duplicate, or the answer to a raw request the agent sent itself
            if isinstance(invoke_id, int) and not isinstance(invoke_id, bool):
                return [Answer(invoke_id, ok, reason, result)]
            return []
        if request.aux:
            if not ok:
                log.warning(
                    "%s: auxiliary %s request failed: %s", self.user, request.command, reason
                )
            return []
        if request.command == SNAPSHOT:
            if ok:
                problem = _snapshot_problem(result)
                if problem is not None:
                    # said at once: the session goes on instead of waiting out its timeout
                    bad = Malformed(f"unreadable snapshot: {problem}", excerpt(message))
                    return [bad, Answer(request.request_id, False, bad.reason)]
                return [self._snapshot(result, request.request_id)]
            return [Answer(request.request_id, False, reason)]
        if ok:
            self._learn(request.command, result)
            view = {
                **message,
                "request": {"command": request.command, "args": request.args},
                "me": self._me(),
            }
            signal = self._map.signal(view, self._correlation())
            if isinstance(signal, Malformed):
                # a response the map cannot read answers its command at once, as refused
                return [signal, Answer(request.request_id, False, signal.reason)]
            if signal is not None:
                # the response itself confirms the command: one value answers it, by id
                return [Signal(signal.name, signal.payload, request.request_id)]
        return [Answer(request.request_id, ok, reason, result)]

    def _learn(self, command: str, result: Mapping[str, Any]) -> None:
        """What a positive response teaches: the session and device after a login."""
        if command == "connect":
            device = _id(result.get("device"))
            session = _id(result.get("sessionID"))
            self.device = str(device) if device is not None else self.device
            self.session_id = str(session) if session is not None else self.session_id
        elif command == "disconnect":
            self.session_id = self.call_id = self.consult_call_id = None

    def _follow(self, message: RawMessage) -> None:
        """Follow this device's calls from an event (after the rules have seen it)."""
        event = message.get("event")
        params = _mapping(message.get("params"))
        me = self.device
        if me is None:
            return
        if event == "transferred":
            if params.get("transferringDevice") == me:
                self.call_id = self.consult_call_id = None
                return
            for moved in _list(params.get("transferredConnections")):
                new = _mapping(_mapping(moved).get("newConnection"))
                if new.get("deviceID") == me:
                    old = _call_id(_mapping(moved).get("oldConnection"))
                    if old == self.consult_call_id:
                        self.consult_call_id = None
                    self.call_id = _id(new.get("callID"))
            return
        if event == "conferenced":
            for connection in _list(params.get("conferenceConnections")):
                if _mapping(connection).get("deviceID") == me and _call_id(connection):
                    self.call_id = _call_id(connection)
                    self.consult_call_id = None
            return
        field = _CONNECTION_FIELD.get(str(event))
        if field is None:
            return
        connection = _mapping(params.get(field))
        call = _id(connection.get("callID"))
        if call is None:
            return
        subject = params.get(_SUBJECT_FIELD.get(str(event), ""))
        mine = connection.get("deviceID") == me or subject == me
        if event in ("connectionCleared", "diverted"):
            if subject == me:
                if call == self.consult_call_id:
                    self.consult_call_id = None
                elif call == self.call_id:
                    self.call_id, self.consult_call_id = self.consult_call_id, None
            elif call == self.consult_call_id:
                # the consulted party left: the consultation is over for the rules too
                self.consult_call_id = None
            return
        if event == "failed":
            if call == self.consult_call_id:
                self.consult_call_id = None
            return
        if mine and call not in (self.call_id, self.consult_call_id):
            if self.call_id is None:
                self.call_id = call
            else:
                self.consult_call_id = call

    # --- snapshot ------------------------------------------------------------------------------
    def _snapshot(self, result: Mapping[str, Any], request_id: int) -> Snapshot:
        device = result.get("device")
        if isinstance(device, str):
            self.device = device
        agent = _mapping(result.get("agentState"))
        agent_state = agent.get("state", "agentNull")
        calls = [c for c in result.get("snapshotData") or () if isinstance(c, Mapping)]
        situation, primary, consult, number = self._situation(calls)
        key = situation or agent_state
        state = self._map.states.get(str(key))
        if state is None:
            log.warning(
                "%s: snapshot situation %s is not in the map's states", self.user, clip(repr(key))
            )
            state = self._map.states.get("agentNull", self._chart.initial)
        self.call_id, self.consult_call_id = primary, consult
        payload = {
            "call_id": primary,
            "consult_call_id": consult,
            "phone_number": number,
            "agent_state": agent_state,
            "reason": agent.get("reasonCode"),
            "group_ids": list(agent.get("agentGroup") or ()),
            # where a finished call returns to (the chart's history inside availability)
            "availability": self._map.states.get(str(agent_state)),
        }
        return Snapshot(state, {k: v for k, v in payload.items() if v is not None}, request_id)

    def _situation(
        self, calls: list[Mapping[str, Any]]
    ) -> tuple[str | None, str | None, str | None, str | None]:
        """``(situation, call, consultation, other party)`` from SnapshotDevice's calls."""
        if not calls:
            return None, None, None, None
        silent = [c for c in calls if c.get("participation") == "silent"]
        if silent:
            call = silent[0]
            return (
                "silent",
                _call_id(call.get("connectionIdentifier")),
                None,
                _other(call, self.device),
            )
        if len(calls) >= 2:
            consult = next((c for c in calls if c.get("consultationOf")), calls[-1])
            primary = next((c for c in calls if c is not consult), calls[0])
            answered = any(
                isinstance(e, Mapping)
                and e.get("deviceID") != self.device
                and e.get("connectionState") == "connected"
                for e in consult.get("endpoints") or ()
            )
            return (
                "consultation_connected" if answered else "consultation",
                _call_id(primary.get("connectionIdentifier")),
                _call_id(consult.get("connectionIdentifier")),
                _other(primary, self.device),
            )
        call = calls[0]
        call_id = _call_id(call.get("connectionIdentifier"))
        local = call.get("localConnectionState")
        if local == "connected":
            talking = [
                e
                for e in call.get("endpoints") or ()
                if isinstance(e, Mapping)
                and e.get("deviceID") != self.device
                and e.get("connectionState") in ("connected", "hold")
                and e.get("participation") != "silent"
            ]
            local = "initiated" if not talking else "conference" if len(talking) > 1 else local
        return str(local), call_id, None, _other(call, self.device)


def _other(call: Mapping[str, Any], me: str | None) -> str | None:
    """The first other party of a snapshot call (the customer, usually)."""
    for endpoint in call.get("endpoints") or ():
        if isinstance(endpoint, Mapping) and endpoint.get("deviceID") != me:
            device = endpoint.get("deviceID")
            return str(device) if device is not None else None
    return None


def _hashable(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


@functools.lru_cache(maxsize=32)
def _secret_args(chart: Chart, vendor_map: VendorMap) -> Mapping[str, frozenset[str]]:
    """Per command, the argument and field names never shown: once per (chart, map),
    not once per connection (thousands of agents share it)."""
    return MappingProxyType(
        {
            name: frozenset(a.name for a in spec.args if a.secret) | vendor_map.secrets
            for name, spec in chart.commands.items()
        }
    )
