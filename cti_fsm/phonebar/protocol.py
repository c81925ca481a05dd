"""The phone bar's wire protocol, sans-IO: browser frames in, checked requests out; an
agent's situation in, the frames the browser draws out.

The browser is not trusted. It sends JSON text frames of three kinds::

    {"type": "login", "user": "1001", "password": "..."}     once per bar
    {"type": "command", "id": 7, "name": "hold", "args": {}}  any chart command
    {"type": "world", "id": 8, "action": "customer_calls", "args": {...}}   demo only

``parse`` turns a frame into a ``Login``, ``CommandRequest`` or ``WorldRequest``, or raises
``BadFrame`` saying what was wrong (the connection stays up). ``check_command`` then checks a
command against the chart, the vendor and the agent's rights before the agent is asked to
send it: refused commands reach nothing. The server pushes (``hello_frame``, ``view_frame``,
``event_frame``, ``result_frame``, ``error_frame``) the chart's commands with their declared
arguments, the state, when it began, what is allowed now, the call and the choices an
argument can take (reason codes, transfer targets, the team), so the page draws its buttons
from the chart: a chart of your own gets its buttons with no code change here or there.

Nothing here names a state. The few names it knows are the seed's notification names that
end a call (``CALL_ENDS``), the seed's ringing notification (``RINGING``) and argument names
whose choices it can offer (``ARG_CHOICES``), each a table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..chart import ArgSpec, Chart, CommandRule, CommandSpec
from ..errors import IllegalCommand, InvalidArguments, Unsupported
from ..events import Notification, Step
from ..machine import Machine

__all__ = [
    "ARG_CHOICES",
    "CALL_ENDS",
    "COUNTDOWN_FIELDS",
    "MAX_FRAME",
    "RINGING",
    "BadFrame",
    "BarState",
    "CommandRequest",
    "Login",
    "WorldRequest",
    "check_command",
    "command_specs",
    "error_frame",
    "event_frame",
    "hello_frame",
    "logged_out_frame",
    "parse",
    "result_frame",
    "view_frame",
]

#: the longest frame a browser may send, in characters (a command is a few hundred)
MAX_FRAME = 16_384
#: seed notifications after which there is no call any more
CALL_ENDS = frozenset({"onIdle", "onDialOver", "onDisconnect", "onTransfer"})
#: payload fields whose number of seconds starts a countdown on the page (a wrap-up's time)
COUNTDOWN_FIELDS = ("seconds", "timeout")
#: the seed's notification for an inbound call alerting at the agent (the toast)
RINGING = "onCallInRing"
#: an argument's name -> the key of ``BarState.choices`` whose values it can take
ARG_CHOICES: Mapping[str, str] = {
    "reason": "reasons",
    "target": "targets",
    "agent_id": "team",
    "group_ids": "groups",
}
#: payload fields that describe the call (the toast's caller id and group, the consulted party)
_CALL_FIELDS = ("call_id", "phone_number", "area", "agent_id", "target")
#: fields of a team member's record, by the names vendors give them, in order of preference
_TEAM_ID = ("agent_id", "agentID", "agent", "id", "user")
_TEAM_STATE = ("situation", "state", "status")
_TEAM_REASON = ("reason", "reasonCode")
#: what JSON gives for each chart argument type (a form sends text, a list as "a, b")
_BROWSER_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "list": (list, str),
    "number": (int, float),
    "bool": (bool,),
    "any": (str, int, float, bool, list),
}


class BadFrame(ValueError):
    """A browser frame that is not JSON, not an object, or not one the bar knows.

    Attributes:
        id: the request id the frame carried, if it carried one (the answer names it).
    """

    def __init__(self, message: str, id: int | None = None) -> None:
        super().__init__(message)
        self.id = id


@attrs.frozen(repr=False)
class Login:
    """The login frame: who logs in at this bar. The password is in no repr."""

    user: str
    password: str = attrs.field(repr=False)

    def __repr__(self) -> str:
        return f"Login(user={self.user!r}, password=<hidden>)"


@attrs.frozen
class CommandRequest:
    """A chart command the browser asks for (not yet checked)."""

    id: int
    name: str
    args: Mapping[str, Any]


@attrs.frozen
class WorldRequest:
    """A demo stimulus the browser asks for (only where the server runs a simulator)."""

    id: int
    action: str
    args: Mapping[str, str]


def _text(obj: Mapping[str, Any], key: str, where: str, id: int | None = None) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise BadFrame(f"{where}: {key!r} must be a non-empty string", id)
    return value


def parse(frame: str) -> Login | CommandRequest | WorldRequest:
    """One browser frame as a request.

    Raises:
        BadFrame: too long, not JSON, not an object, of an unknown type, or missing a field
            (the message names which); never quotes a password.
    """
    if len(frame) > MAX_FRAME:
        raise BadFrame(f"frame of {len(frame)} characters is over the limit of {MAX_FRAME}")
    try:
        obj = json.loads(frame)
    except json.JSONDecodeError as exc:
        raise BadFrame(f"frame is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise BadFrame(f"frame must be a JSON object, not {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "login":
        # checked field by field so that no message ever carries the password's value
        unknown = sorted(set(obj) - {"type", "user", "password"})
        if unknown:
            raise BadFrame(f"login: unknown field(s) {', '.join(map(repr, unknown))}")
        return Login(_text(obj, "user", "login"), _text(obj, "password", "login"))
    if kind not in ("command", "world"):
        raise BadFrame(f"unknown frame type {kind!r}; expected 'login', 'command' or 'world'")
    rid = obj.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid < 0:
        raise BadFrame(f"{kind}: 'id' must be a non-negative integer")
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise BadFrame(f"{kind}: 'args' must be an object", rid)
    if kind == "world":
        if not all(isinstance(v, str) for v in args.values()):
            raise BadFrame("world: every argument must be a string", rid)
        return WorldRequest(rid, _text(obj, "action", "world", rid), args)
    return CommandRequest(rid, _text(obj, "name", "command", rid), args)


def _coerce(spec: CommandSpec, arg: ArgSpec, value: Any, state: str) -> Any:
    """A browser value as the chart's type: a form sends text (``"a, b"`` for a list)."""
    if value is None or value == "":
        return None
    types = _BROWSER_TYPES.get(arg.type, ())
    if not isinstance(value, types) or (arg.type == "number" and isinstance(value, bool)):
        raise InvalidArguments(
            f"argument {arg.name!r} of command {spec.name!r} must be {arg.type},"
            f" not {type(value).__name__}",
            command=spec.name,
            state=state,
        )
    if arg.type == "list" and isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def check_command(
    machine: Machine,
    unsupported: Iterable[str],
    request: CommandRequest,
    *,
    vendor: str,
    login_command: str | None,
) -> dict[str, Any]:
    """Check a browser's command against the chart, the rights and the vendor.

    Returns:
        The arguments to send, in the chart's types (empty text dropped).

    Raises:
        IllegalCommand: no such command, not allowed now, or the login command (the bar
            logs in with its own frame).
        InvalidArguments: an argument is unknown, missing, secret or of the wrong type.
        PermissionDenied: the command or an argument needs rights the agent lacks.
        Unsupported: the vendor cannot do it.
    """
    spec = machine.chart.commands.get(request.name)
    if spec is None:
        machine.check(request.name)  # raises, naming the state and the allowed commands
        raise AssertionError("unreachable: Machine.check refuses an unknown command")
    if request.name == login_command:
        raise IllegalCommand(
            command=request.name,
            state=machine.state,
            allowed=machine.allowed(),
            hint="a bar logs in once, with its login frame",
        )
    declared = {a.name: a for a in spec.args}
    args: dict[str, Any] = {}
    for name, value in request.args.items():
        arg = declared.get(name)
        if arg is None or arg.secret:
            takes = ", ".join(a.name for a in spec.args if not a.secret) or "no arguments"
            raise InvalidArguments(
                f"command {spec.name!r} has no argument {name!r} a bar may send; it takes: {takes}",
                command=spec.name,
                state=machine.state,
            )
        coerced = _coerce(spec, arg, value, machine.state)
        if coerced is not None:
            args[name] = coerced
    machine.check(spec.name, **args)
    if spec.name in frozenset(unsupported):
        raise Unsupported(command=spec.name, state=machine.state, vendor=vendor)
    return args


def _rule_allows(chart: Chart, machine: Machine, rule: CommandRule) -> bool:
    """True if ``rule`` lets the command be sent now (state and rights)."""
    state = machine.state
    return rule.rights <= machine.rights and any(
        chart.contains(source, state) for source in rule.allowed_from
    )


def _team_arg(spec: CommandSpec) -> ArgSpec | None:
    """The argument naming a team member, for commands a supervisor aims at an agent."""
    for arg in spec.args:
        if ARG_CHOICES.get(arg.name) == "team":
            return arg
    return None


def command_specs(chart: Chart, login_command: str | None) -> list[dict[str, Any]]:
    """The chart's commands as the page draws them: name, description, the rights each
    form needs, the arguments (secret ones left out) with their choices' key, and whether
    the command is aimed at a team member (an argument such as ``agent_id``)."""
    out = []
    for spec in chart.commands.values():
        if spec.name == login_command:
            continue
        team = _team_arg(spec)
        out.append(
            {
                "name": spec.name,
                "description": spec.description,
                "rights": sorted(spec.rule.rights),
                "team": team is not None,
                # the form without the team argument (pause myself) exists if it is optional
                "self": team is None or not team.required,
                "team_rights": sorted(
                    (team.when_given or spec.rule).rights if team is not None else ()
                ),
                "args": [
                    {
                        "name": a.name,
                        "type": a.type,
                        "required": a.required,
                        "description": a.description,
                        "choices": ARG_CHOICES.get(a.name),
                        # the values the chart allows (set_next_state's next): a pick only
                        "values": list(a.choices),
                    }
                    for a in spec.args
                    if not a.secret and a is not team
                ],
            }
        )
    return out


@attrs.define
class BarState:
    """What one bar knows beyond its agent's machine: the call, the choices, the link.

    ``observe`` feeds it each step and notification; ``view_frame`` reads it.
    """

    reasons: tuple[str, ...] = ()
    since: float = 0.0
    call: dict[str, Any] | None = None
    ringing: bool = False
    link_up: bool = True
    choices: dict[str, list[dict[str, str]]] = attrs.field(factory=dict)
    team: list[dict[str, Any]] = attrs.field(factory=list)
    #: a countdown a notification started (a wrap-up's seconds): name, seconds, when
    countdown: dict[str, Any] | None = None
    #: where the agent goes after the call, as a notification said (its ``next`` field)
    next: dict[str, Any] | None = None

    def observe_step(self, step: Step, now: float) -> None:
        """Note a step: when the state began, the call's fields, whether it rings."""
        if step.changed:
            self.since = now
            self.ringing = False
            self.countdown = None
        call_id = step.payload.get("call_id")
        if call_id is not None:
            if self.call is None or self.call.get("call_id") != call_id:
                if self.call is not None and self.call.get("call_id") is not None:
                    # a consultation's call id: keep the customer's call, note the other
                    self.call["other_call_id"] = call_id
                else:
                    self.call = {}
            call = self.call
            for key in _CALL_FIELDS:
                value = step.payload.get(key)
                if value is not None and isinstance(value, (str, int, float)):
                    call.setdefault(key, value)

    def observe(self, note: Notification, now: float = 0.0) -> None:
        """Note a notification: a ringing toast, the end of a call, a countdown (a payload
        field of ``COUNTDOWN_FIELDS``), the next state (a ``next`` field)."""
        if note.name == RINGING:
            self.ringing = True
        for field in COUNTDOWN_FIELDS:
            seconds = note.payload.get(field)
            if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                self.countdown = {"name": note.name, "seconds": seconds, "started": now}
        if note.payload.get("next") is not None:
            self.next = {"next": note.payload["next"], "reason": note.payload.get("reason")}
        if note.name in CALL_ENDS and note.payload.get("result", "success") == "success":
            self.call = None
            self.ringing = False
            self.next = None

    def set_groups(self, key: str, groups: Any) -> None:
        """Record groups from a query's answer (``key``: "targets" or "groups")."""
        found = [_group(g) for g in groups or () if _group(g)["id"]]
        if key == "targets":
            agents = [c for c in self.choices.get("targets", []) if c.get("kind") == "agent"]
            self.choices["targets"] = [{**g, "kind": "group"} for g in found] + agents
        else:
            self.choices[key] = found

    def set_team(self, agents: Any, me: str) -> None:
        """Record the team from a supervisor's query (every agent but ``me``)."""
        team = [_member(a) for a in agents or () if isinstance(a, Mapping)]
        self.team = [m for m in team if m["id"] and m["id"] != me]
        self.choices["team"] = [{"id": m["id"], "name": m["id"]} for m in self.team]
        groups = [c for c in self.choices.get("targets", []) if c.get("kind") == "group"]
        self.choices["targets"] = groups + [
            {"id": m["id"], "name": f"agent {m['id']}", "kind": "agent"} for m in self.team
        ]


def _first(obj: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if obj.get(key) is not None:
            return obj[key]
    return None


def _group(g: Any) -> dict[str, str]:
    if isinstance(g, Mapping):
        gid = str(_first(g, ("id", "group_id", "groupId", "name")) or "")
        name = str(g.get("name") or gid)
        return {"id": gid, "name": name, "dtmf": str(g.get("dtmf") or "")}
    return {"id": str(g), "name": str(g), "dtmf": ""}


def _member(a: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(_first(a, _TEAM_ID) or ""),
        "state": str(_first(a, _TEAM_STATE) or ""),
        "reason": str(_first(a, _TEAM_REASON) or ""),
    }


def _dump(frame: Mapping[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), default=str)


def hello_frame(
    chart: Chart,
    *,
    vendor: str,
    unsupported: Iterable[str],
    login_command: str | None,
    svg: str | None,
    mermaid: str,
    demo: Sequence[Mapping[str, Any]] | None,
) -> str:
    """The first frame of every bar: the chart's commands and drawing, the vendor, and
    (in demo mode) the world's actions."""
    return _dump(
        {
            "type": "hello",
            "chart": chart.name,
            "vendor": vendor,
            "unsupported": sorted(unsupported),
            "states": list(chart.states),
            "commands": command_specs(chart, login_command),
            "svg": svg,
            "mermaid": mermaid,
            "world": list(demo) if demo is not None else None,
        }
    )


def view_frame(
    machine: Machine,
    unsupported: Iterable[str],
    bar: BarState,
    *,
    user: str,
    connected: bool,
    now: float,
    wall: float,
    login_command: str | None,
    allowed: Sequence[str] | None = None,
) -> str:
    """Everything the page draws now: the state and when it began, what is allowed (by
    the chart, the vendor and the rights: ``allowed``, the agent's ``Agent.allowed()``, else
    the machine's less ``unsupported``; less the login the bar made), which form of each
    command is enabled (``self``: for the agent itself, ``team``: aimed at a team member),
    the call, the choices and the team."""
    chart = machine.chart
    skip = frozenset(unsupported)
    if allowed is None:
        allowed = machine.allowed()
    allowed = [c for c in allowed if c not in skip and c != login_command]
    own, aimed = [], []
    for name in allowed:
        spec = chart.commands[name]
        team = _team_arg(spec)
        if (team is None or not team.required) and _rule_allows(chart, machine, spec.rule):
            own.append(name)
        if team is not None and _rule_allows(chart, machine, team.when_given or spec.rule):
            aimed.append(name)
    return _dump(
        {
            "type": "view",
            "user": user,
            "state": machine.state,
            # when the state began, by the server's wall clock; the page counts from
            # ``elapsed`` so a browser clock set wrong does not skew the timer
            "since": wall - max(0.0, now - bar.since),
            "elapsed": max(0.0, now - bar.since),
            "allowed": allowed,
            "enabled": {"self": own, "team": aimed},
            "rights": sorted(machine.rights),
            "link": "up" if connected and bar.link_up else "down",
            "call": bar.call,
            "ringing": bar.ringing,
            "choices": {"reasons": [{"id": r, "name": r} for r in bar.reasons], **bar.choices},
            "team": bar.team,
            "next": bar.next,
            "countdown": None
            if bar.countdown is None
            else {
                "name": bar.countdown["name"],
                "remaining": max(0.0, bar.countdown["seconds"] - (now - bar.countdown["started"])),
            },
        }
    )


def logged_out_frame(message: str) -> str:
    """The bar has no agent now (logged out, or the login failed): the login form again."""
    return _dump({"type": "logged_out", "message": message})


def event_frame(note: Notification) -> str:
    """A notification, by the seed's name, for the page's CustomEvent."""
    return _dump({"type": "event", "name": note.name, "payload": dict(note.payload)})


def result_frame(rid: int, error: Exception | None = None) -> str:
    """The outcome of request ``rid``: ok, or the error's class and message."""
    if error is None:
        return _dump({"type": "result", "id": rid, "ok": True})
    return _dump(
        {
            "type": "result",
            "id": rid,
            "ok": False,
            "error": type(error).__name__,
            "message": str(error),
        }
    )


def error_frame(message: str, rid: int | None = None) -> str:
    """A frame the bar could not use, and why (the connection stays up)."""
    return _dump({"type": "error", "id": rid, "message": message})
