"""Driving a running simulator from outside, sans-IO: a request dict in, a response dict out.

``cti-fsm simulate --control-port N`` (JSON over HTTP) and ``--control-stdin`` (one
command a line) are thin edges over ``SimulatorControl.handle``; the phone bar's demo
panel calls the same table. A request names its operation and the operation's
parameters::

    {"op": "call", "group": "sales", "caller": "5550100"}
    -> {"ok": true, "op": "call", "call": "c1", "ringing": "1001", "queued": false}

    {"op": "hangup", "call": "c9"}
    -> {"ok": false, "op": "hangup", "error": "unknown_call", "message": "no call 'c9'"}

Errors: ``unknown_op`` (no such operation), ``bad_request`` (a parameter missing, unknown
or of the wrong type; the message names it) and the switch's own codes
(``cti_fsm.switch.ERROR_CODES``) for a stimulus the switch refuses, which changes nothing.
``{"op": "help"}`` lists every operation with its parameters (``OPERATIONS``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs

from .switch import CallInfo, Switch, SwitchError, SwitchEvent

__all__ = [
    "OPERATIONS",
    "ControlledServer",
    "Operation",
    "Param",
    "SimulatorControl",
    "parse_line",
]

#: The caller's number when a request gives none.
DEFAULT_CALLER = "13800000000"


class ControlledServer(Protocol):
    """What the control needs of the simulator's server (``SimulatorServer`` has it)."""

    def drop_link(self, agent_id: str, *, abrupt: bool = True) -> int:
        """Drop the agent's connections; how many."""
        ...

    def send_malformed(self, agent_id: str) -> int:
        """Send the agent's connections a frame they cannot decode; how many."""
        ...

    def connected_agents(self) -> tuple[str, ...]:
        """The agents logged in now."""
        ...

    def delay_next_event(self, agent_id: str, seconds: float) -> int:
        """Hold the agent's next event back ``seconds``; how many connections."""
        ...

    def frames_from(self, agent_id: str) -> int:
        """How many frames the agent's connections sent once logged in."""
        ...


@attrs.frozen
class Param:
    """One parameter of an operation.

    Attributes:
        name: its key in the request.
        help: what it means.
        type: ``str``, ``float`` or ``bool`` (from a string too, as stdin sends them:
            "2.5", "true"/"false").
        required: must be given.
        default: its value when not given (None: absent).
    """

    name: str
    help: str
    type: type = str
    required: bool = False
    default: Any = None


class _BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Run = Callable[["SimulatorControl", Mapping[str, Any]], dict[str, Any]]


@attrs.frozen
class Operation:
    """One thing the control can make happen, or tell.

    Attributes:
        name: the request's ``op``.
        summary: one line for ``help`` and ``cti-fsm simulate --help``.
        params: its parameters, in order.
        run: carries it out with the checked parameters; returns the response's fields.
        one_of: names of which exactly one must be given (``call``: group or agent).
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    run: Run
    one_of: tuple[str, ...] = ()

    def usage(self) -> str:
        """``call group=GROUP|agent=AGENT [caller=CALLER]``: the stdin form, for help."""
        parts = [self.name]
        if self.one_of:
            parts.append("|".join(f"{n}={n.upper()}" for n in self.one_of))
        for p in self.params:
            if p.name in self.one_of:
                continue
            word = f"{p.name}={p.name.upper()}"
            parts.append(word if p.required else f"[{word}]")
        return " ".join(parts)


class SimulatorControl:
    """The control of one simulator: its switch's stimuli and its server's faults.

    Args:
        switch: the switch the simulator serves.
        server: the simulator (for link drops and malformed frames), if any; without
            it those operations answer ``unavailable``.
    """

    def __init__(self, switch: Switch, server: ControlledServer | None = None) -> None:
        self.switch = switch
        self.server = server

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one request; never raises.

        Returns:
            ``{"ok": True, "op": ..., ...fields}``, or ``{"ok": False, "op": ...,
            "error": code, "message": ...}`` with nothing changed.
        """
        if not isinstance(request, Mapping):
            return _refused(None, "bad_request", "a request is a JSON object with an 'op'")
        op_name = request.get("op")
        op = OPERATIONS.get(op_name) if isinstance(op_name, str) else None
        if op is None:
            known = ", ".join(OPERATIONS)
            return _refused(op_name, "unknown_op", f"no operation {op_name!r}; known: {known}")
        try:
            args = _checked(op, request)
            fields = op.run(self, args)
        except _BadRequest as exc:
            return _refused(op.name, exc.code, exc.message)
        except SwitchError as exc:
            return _refused(op.name, exc.code, exc.message)
        return {"ok": True, "op": op.name, **fields}

    # --- helpers the operations share ---------------------------------------------------------
    def _call_id(self, args: Mapping[str, Any]) -> str:
        """The call a request means: ``call`` as given, or the call of ``agent``."""
        call = args.get("call")
        if call is not None:
            return str(call)
        agent = str(args["agent"])
        self.switch.agent_info(agent)  # unknown_agent
        found = self.switch.call_of(agent)
        if found is None:
            raise SwitchError("no_call_to_clear", f"agent {agent!r} has no call")
        return found

    def _server(self) -> ControlledServer:
        if self.server is None:
            raise _BadRequest("unavailable", "this control has no simulator server to act on")
        return self.server


def _refused(op: object, code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "op": op, "error": code, "message": message}


def _checked(op: Operation, request: Mapping[str, Any]) -> dict[str, Any]:
    """The request's parameters, checked against ``op`` and converted.

    Raises:
        _BadRequest: a parameter is unknown, missing or of the wrong type.
    """
    known = {p.name: p for p in op.params}
    unknown = sorted(k for k in request if k != "op" and k not in known)
    if unknown:
        raise _BadRequest(
            "bad_request",
            f"{op.name}: unknown parameter {unknown[0]!r}; it takes {', '.join(known) or 'none'}",
        )
    args: dict[str, Any] = {}
    for p in op.params:
        value = request.get(p.name)
        if value is None:
            if p.required:
                raise _BadRequest("bad_request", f"{op.name}: parameter {p.name!r} is required")
            if p.default is not None:
                args[p.name] = p.default
            continue
        args[p.name] = _converted(op, p, value)
    if op.one_of:
        given = [n for n in op.one_of if request.get(n) is not None]
        if len(given) != 1:
            names = " or ".join(repr(n) for n in op.one_of)
            raise _BadRequest("bad_request", f"{op.name}: give exactly one of {names}")
    return args


def _converted(op: Operation, p: Param, value: Any) -> Any:
    if p.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif p.type is float:
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        # a bounded, finite delay: a stuck simulator is no test of anything
        if number is not None and 0 <= number <= 3600:
            return number
    elif isinstance(value, str) and value:
        return value
    kinds: dict[type, str] = {bool: "true or false", float: "a number of seconds from 0 to 3600"}
    kind = kinds.get(p.type, "a non-empty string")
    raise _BadRequest("bad_request", f"{op.name}: parameter {p.name!r} must be {kind}")


def _call_view(info: CallInfo) -> dict[str, Any]:
    return {
        "call": info.call,
        "origin": info.origin,
        "calling": info.calling,
        "called": info.called,
        "group": info.group,
        "queued": info.queued,
        "legs": [
            {"device": leg.device, "agent": leg.agent, "state": leg.state} for leg in info.legs
        ],
    }


def _events(events: list[SwitchEvent]) -> dict[str, Any]:
    return {"events": [type(e).__name__ for e in events]}


# --- the operations --------------------------------------------------------------------------
def _call(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    switch, caller = control.switch, args["caller"]
    if "group" in args:
        call_id = switch.inbound_call(args["group"], caller, call_id=args.get("id"))
    else:
        call_id = _direct_call(switch, args["agent"], caller, args.get("id"))
    try:
        info = switch.call(call_id)
    except SwitchError:
        # the agent could not take it (not logged in, in a call): the caller heard busy
        return {"call": call_id, "ringing": None, "queued": False, "failed": "busy"}
    ringing = next((leg.agent for leg in info.legs if leg.state == "alerting"), None)
    return {"call": call_id, "ringing": ringing, "queued": info.queued}


def _direct_call(switch: Switch, agent_id: str, caller: str, call_id: str | None) -> str:
    """A customer calls an agent's own number (no queue): it rings there, or fails busy.

    The switch offers no public stimulus for this yet, so it is built from the switch's
    primitives, as its ``inbound_call`` builds a call for a group.

    Raises:
        SwitchError: ``unknown_agent``; ``invalid_parameter`` (call id in use).
    """
    from .switch.records import _Leg

    if agent_id not in switch.agent_ids and switch.agent_by_device(agent_id) is None:
        raise SwitchError("unknown_agent", f"no agent or device {agent_id!r}")
    if call_id is not None and call_id in switch._calls:
        raise SwitchError("invalid_parameter", f"call id {call_id!r} is in use")
    target = switch._target(agent_id, allow_group=False)
    with switch._publishing() as out:
        call = switch._new_call("inbound", calling=caller, called=target.device, call_id=call_id)
        call.legs.append(_Leg(caller, None, "connected"))
        switch._route(out, call, target, via="direct")
    return call.id


def _stimulus(method: str) -> Run:
    """An operation calling the switch stimulus ``method`` with the request's call."""

    def run(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
        call_id = control._call_id(args)
        events: list[SwitchEvent] = getattr(control.switch, method)(call_id)
        return {"call": call_id, **_events(events)}

    return run


def _agent_stimulus(method: str) -> Run:
    """An operation calling the switch stimulus ``method`` with the request's agent."""

    def run(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
        events: list[SwitchEvent] = getattr(control.switch, method)(args["agent"])
        return {"agent": args["agent"], **_events(events)}

    return run


def _drop_link(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    server = control._server()
    control.switch.agent_info(args["agent"])
    dropped = server.drop_link(args["agent"], abrupt=args["abrupt"])
    if not dropped:
        raise _BadRequest("not_connected", f"agent {args['agent']!r} has no connection")
    return {"agent": args["agent"], "connections": dropped}


def _malformed(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    server = control._server()
    control.switch.agent_info(args["agent"])
    try:
        sent = server.send_malformed(args["agent"])
    except NotImplementedError as exc:
        raise _BadRequest("unavailable", str(exc)) from None
    if not sent:
        raise _BadRequest("not_connected", f"agent {args['agent']!r} has no connection")
    return {"agent": args["agent"], "connections": sent}


def _delay(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    server = control._server()
    control.switch.agent_info(args["agent"])
    held = server.delay_next_event(args["agent"], args["seconds"])
    if not held:
        raise _BadRequest("not_connected", f"agent {args['agent']!r} has no connection")
    return {"agent": args["agent"], "connections": held, "seconds": args["seconds"]}


def _received(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    server = control._server()
    control.switch.agent_info(args["agent"])
    return {"agent": args["agent"], "frames": server.frames_from(args["agent"])}


def _state(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    switch, agent = control.switch, args["agent"]
    info = switch.agent_info(agent)
    connected = control.server.connected_agents() if control.server is not None else ()
    return {
        "agent": info.agent,
        "situation": info.situation,
        "chart_state": switch.chart_state(agent),
        "ready": info.ready,
        "reason": info.reason,
        "checked_in": list(info.checked_in),
        "call": switch.call_of(agent),
        "connected": info.agent in connected,
    }


def _calls(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    return {"calls": [_call_view(c) for c in control.switch.calls()]}


def _help(control: SimulatorControl, args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "operations": [
            {
                "op": op.name,
                "summary": op.summary,
                "usage": op.usage(),
                "params": [
                    {"name": p.name, "help": p.help, "required": p.required} for p in op.params
                ],
            }
            for op in OPERATIONS.values()
        ]
    }


_CALL = Param("call", "the call's id (as 'call' answered, or 'calls' lists)")
_AGENT_OF_CALL = Param("agent", "instead of 'call': the call the agent is in")
_AGENT = Param("agent", "the agent's id", required=True)

#: Every operation, by name: the whole control interface.
OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "call",
            "a customer calls a group (queued if nobody is free) or an agent directly",
            (
                Param("group", "the group called"),
                Param("agent", "the agent called directly (id or device)"),
                Param("caller", "the customer's number", default=DEFAULT_CALLER),
                Param("id", "the call's id (default: the switch picks one)"),
            ),
            _call,
            one_of=("group", "agent"),
        ),
        Operation(
            "answer",
            "the far end (customer, dialled number) ringing in a call answers",
            (_CALL, _AGENT_OF_CALL),
            _stimulus("customer_answers"),
            one_of=("call", "agent"),
        ),
        Operation(
            "hangup",
            "the customer hangs up (a queued call is abandoned)",
            (_CALL, _AGENT_OF_CALL),
            _stimulus("customer_hangs_up"),
            one_of=("call", "agent"),
        ),
        Operation(
            "busy",
            "the far end ringing in a call is busy: the call fails",
            (_CALL, _AGENT_OF_CALL),
            _stimulus("customer_busy"),
            one_of=("call", "agent"),
        ),
        Operation(
            "no_answer",
            "the far end ringing in a call does not answer: the call fails",
            (_CALL, _AGENT_OF_CALL),
            _stimulus("customer_no_answer"),
            one_of=("call", "agent"),
        ),
        Operation(
            "third_party_answers",
            "the party the agent consults answers",
            (_AGENT,),
            _agent_stimulus("third_party_answers"),
        ),
        Operation(
            "third_party_rejects",
            "the party the agent consults is busy: the consultation fails",
            (_AGENT,),
            _agent_stimulus("third_party_rejects"),
        ),
        Operation(
            "third_party_hangs_up",
            "the consulted party hangs up; the agent keeps the held customer",
            (_AGENT,),
            _agent_stimulus("third_party_hangs_up"),
        ),
        Operation(
            "ring_no_answer",
            "the agent does not answer the ACD call ringing: re-queued, agent not ready",
            (_AGENT,),
            _agent_stimulus("agent_no_answer"),
        ),
        Operation(
            "drop_link",
            "close the agent's connections (the switch keeps the agent, as a server does)",
            (_AGENT, Param("abrupt", "no goodbye from the protocol", bool, default=True)),
            _drop_link,
        ),
        Operation(
            "malformed",
            "send the agent's connections a frame they cannot decode",
            (_AGENT,),
            _malformed,
        ),
        Operation(
            "delay",
            "hold the agent's next event back (the events after it go first)",
            (_AGENT, Param("seconds", "how long", float, required=True)),
            _delay,
        ),
        Operation(
            "received",
            "how many frames the agent's connections sent since login (to see nothing was)",
            (_AGENT,),
            _received,
        ),
        Operation(
            "state",
            "the switch's view of an agent: situation, chart state, call, connected",
            (_AGENT,),
            _state,
        ),
        Operation("calls", "every call the switch has, with its legs", (), _calls),
        Operation("help", "this list", (), _help),
    )
}


def parse_line(line: str) -> dict[str, Any]:
    """A request from one line of text: a JSON object, or ``op key=value ...``.

    ``call group=sales caller=5550100`` is ``{"op": "call", "group": "sales", "caller":
    "5550100"}``; values are strings (a bool parameter takes ``true``/``false``).

    Raises:
        ValueError: the line is empty, not a JSON object, or a word has no ``=``.
    """
    text = line.strip()
    if not text:
        raise ValueError("empty line")
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(loaded, dict):
            raise ValueError("a JSON request is an object")
        return loaded
    op, *words = text.split()
    request: dict[str, Any] = {"op": op}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ValueError(f"{word!r}: parameters are written key=value")
        request[key] = value
    return request
