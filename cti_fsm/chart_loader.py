"""Loading a chart from YAML and checking it, with every problem reported as file:line:col.

The format is documented in ``specs/README.md``; ``specs/schema.json`` is its JSON Schema.
Loading is two passes: the first reads the shapes (keys, types), the second resolves
state, signal and notification names and checks the chart as a whole (reachability,
duplicate transitions, commands allowed from nowhere, notifications never emitted).
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Iterable
from typing import Any

import attrs
import yaml

from .chart import (
    ARG_TYPES,
    PENDING_MODES,
    ArgSpec,
    Chart,
    CommandRule,
    CommandSpec,
    Emit,
    Guard,
    NotificationSpec,
    Position,
    SendSpec,
    SignalSpec,
    StateSpec,
    TimerSpec,
    TransitionSpec,
    ValueRef,
)
from .chart_layers import merge_layers
from .compiler import MAX_CONFIGURATIONS, count_configurations
from .yaml_nodes import NodeReader, compose_file, compose_text

__all__ = ["default_chart", "default_chart_path", "load_chart", "load_chart_text"]

#: the session roles a chart may name, and what each names
_SESSION_KEYS = {
    "connect": "command",
    "disconnect": "command",
    "link_lost": "signal",
    "rights": "command",
}
_TOP_KEYS = (
    "chart",
    "version",
    "description",
    "initial",
    "rights",
    "defaults",
    "states",
    "commands",
    "signals",
    "notifications",
    "session",
    "settings",
    "extends",
)
_STATE_KEYS = ("description", "initial", "history", "states", "regions", "after")
_TIMER_KEYS = ("seconds", "to", "signal", "emit", "send", "keep")
_COMMAND_KEYS = (
    "description",
    "from",
    "args",
    "rights",
    "confirm",
    "fail",
    "timeout",
    "pending",
    "local",
)
_RULE_KEYS = ("from", "rights", "confirm", "fail", "timeout")
_ARG_KEYS = ("type", "required", "secret", "description", "when_given", "choices")
_SIGNAL_KEYS = ("description", "payload", "transitions")
_TRANSITION_KEYS = ("from", "to", "emit", "when", "send", "keep")
_GUARD_KINDS = ("in", "not_in", "field", "setting")
_REF_KINDS = ("field", "kept", "setting")
_NOTIFICATION_KEYS = ("description", "fields")
_DEFAULT_TIMEOUT = 10.0


def load_chart(path: str | os.PathLike[str]) -> Chart:
    """Load and validate a chart file.

    Raises:
        SpecError: listing every problem as ``FILE:LINE:COL: message``.
    """
    file = os.fspath(path)
    builder = _ChartBuilder(file)
    return builder.build(compose_file(file))


def load_chart_text(text: str, file: str = "<string>") -> Chart:
    """Load and validate a chart from YAML text; ``file`` names it in problems.

    Raises:
        SpecError: listing every problem as ``FILE:LINE:COL: message``.
    """
    return _ChartBuilder(file).build(compose_text(text, file))


def default_chart_path() -> str:
    """The path of the default agent chart shipped with the package."""
    return str(importlib.resources.files("cti_fsm.specs").joinpath("agent.yaml"))


@functools.cache
def default_chart() -> Chart:
    """The default agent chart (``specs/agent.yaml``), loaded once."""
    return load_chart(default_chart_path())


@attrs.define
class _RawTransition:
    signal: str
    sources: list[tuple[str, yaml.Node]]
    target: tuple[str, yaml.Node] | None
    emits: list[tuple[Emit, yaml.Node]]
    node: yaml.Node
    guards: list[tuple[str, str, list[Any], bool, yaml.Node]] = attrs.Factory(list)
    sends: list[tuple[str, dict[str, tuple[ValueRef, yaml.Node]], list[Any], yaml.Node]] = (
        attrs.Factory(list)
    )
    keeps: dict[str, tuple[ValueRef, yaml.Node]] = attrs.Factory(dict)
    timer: str | None = None


class _LayeredReader(NodeReader):
    """A NodeReader that knows which file each node of an extended chart came from."""

    def __init__(self, file: str) -> None:
        super().__init__(file)
        self.files: dict[int, str] = {}

    def position(self, node: yaml.Node) -> Position:
        mark = node.start_mark
        return Position(self.files.get(id(node), self.file), mark.line + 1, mark.column + 1)


@attrs.define
class _RawRule:
    sources: list[tuple[str, yaml.Node]]
    rights: list[tuple[str, yaml.Node]]
    confirm: tuple[str, yaml.Node] | None
    fail: tuple[str, yaml.Node] | None
    timeout: float
    node: yaml.Node
    owner: str


class _ChartBuilder:
    def __init__(self, file: str) -> None:
        self.r = _LayeredReader(file)
        self.states: dict[str, StateSpec] = {}
        self.timers: dict[str, TimerSpec] = {}
        self.timer_signals: list[tuple[str, yaml.Node]] = []
        self.kept_names: set[str] = set()
        self.extends: tuple[str, ...] = ()
        self.settings: dict[str, Any] = {}
        # the nodes merged from base charts stay alive while we build (ids are stable)
        self._layers: list[yaml.Node] = []
        self._kept_refs: list[tuple[str, yaml.Node]] = []
        self.local_commands: dict[str, yaml.Node] = {}
        self._setting_refs: list[tuple[str, yaml.Node]] = []
        self.state_nodes: dict[str, yaml.Node] = {}
        self.initial_refs: list[tuple[str, str, yaml.Node]] = []  # (owner path, ref, node)
        self.rules: list[_RawRule] = []
        self.raw_transitions: list[_RawTransition] = []
        self.rights: dict[str, yaml.Node] = {}
        self.rights_refs: list[tuple[str, yaml.Node]] = []
        self.session: dict[str, str] = {}
        self._session_nodes: dict[str, yaml.Node] = {}
        self._suffixes: dict[str, list[str]] | None = None  # built by _state when needed
        self._names: tuple[str, ...] = ()  # the names a state reference may use

    # --- pass 1: shapes --------------------------------------------------------------------
    def build(self, root: yaml.Node | None) -> Chart:
        r = self.r
        top = r.mapping(root, "chart", allowed=_TOP_KEYS, required=("chart",))
        extending = "extends" in top
        if extending:
            top, self.extends, self._layers = merge_layers(r, top, r.files)
        if (
            "states" not in top
            # a base chart that could not be read was reported already
            and not extending
            and not isinstance(root, (yaml.SequenceNode, yaml.ScalarNode))
        ):
            r.problem(root, "chart: missing required key 'states'")
        name = self._opt_string(top, "chart", "chart name") or "chart"
        for key, (_k, value_node) in r.mapping(
            top["settings"][1] if "settings" in top else None, "settings"
        ).items():
            self.settings[key] = r.scalar(value_node, f"setting {key!r}")
        version = 1
        if "version" in top:
            v = r.number(top["version"][1], "version")
            version = int(v) if v is not None else 1
        description = self._opt_string(top, "description", "description") or ""
        for right, node in r.strings(top["rights"][1], "rights") if "rights" in top else []:
            self.rights[right] = node

        defaults = r.mapping(
            top["defaults"][1] if "defaults" in top else None,
            "defaults",
            allowed=("timeout", "pending"),
        )
        timeout = _DEFAULT_TIMEOUT
        if "timeout" in defaults:
            timeout = r.number(defaults["timeout"][1], "defaults.timeout", positive=True) or (
                _DEFAULT_TIMEOUT
            )
        pending = "queue"
        if "pending" in defaults:
            pending = r.choice(defaults["pending"][1], "defaults.pending", PENDING_MODES) or "queue"

        if "states" in top:
            states_node = top["states"][1]
            self._read_states(states_node, parent=None)
            if not self.states:
                r.problem(states_node, "chart declares no states")
        if "initial" in top:
            ref = r.string(top["initial"][1], "initial")
            if ref is not None:
                self.initial_refs.append(("", ref, top["initial"][1]))
        elif "states" in top:
            r.problem(top["states"][0], "chart: missing required key 'initial'")

        commands_raw = self._read_commands(top, timeout, pending)
        signals_raw = self._read_signals(top)
        notifications = self._read_notifications(top)
        session_raw = r.mapping(
            top["session"][1] if "session" in top else None, "session", allowed=tuple(_SESSION_KEYS)
        )
        declared = {"command": {c[0] for c in commands_raw}, "signal": {x[0] for x in signals_raw}}
        for role, (_key, value_node) in session_raw.items():
            value = r.string(value_node, f"session {role}")
            if value is None:
                continue
            kind = _SESSION_KEYS[role]
            if value not in declared[kind]:
                r.unknown_name(value_node, kind, value, declared[kind], where=f"session {role}")
            self.session[role] = value
            self._session_nodes[role] = value_node
        return self._resolve(
            name=name,
            version=version,
            description=description,
            commands_raw=commands_raw,
            signals_raw=signals_raw,
            notifications=notifications,
        )

    def _opt_string(
        self, mapping: dict[str, tuple[yaml.Node, yaml.Node]], key: str, what: str
    ) -> str | None:
        return self.r.string(mapping[key][1], what) if key in mapping else None

    def _read_states(
        self, node: yaml.Node, parent: str | None, *, regions: bool = False
    ) -> list[str]:
        r = self.r
        if regions:
            where = f"regions of state {parent!r}"
        else:
            where = f"children of state {parent!r}" if parent else "states"
        children = []
        for name, (key_node, value_node) in r.mapping(node, where).items():
            if "." in name or not name:
                r.problem(key_node, f"state name {name!r} must be non-empty and have no dot")
                continue
            path = f"{parent}.{name}" if parent else name
            if path in self.states:
                r.problem(key_node, f"state {path!r}: a region and a child share the name")
                continue
            what = f"region {path!r}" if regions else f"state {path!r}"
            body = r.mapping(value_node, what, allowed=_STATE_KEYS)
            self.state_nodes[path] = key_node
            # register before the children so parents come first in the table
            self.states[path] = StateSpec(path=path, parent=parent, is_region=regions)
            kids = self._read_states(body["states"][1], path) if "states" in body else []
            own_regions = (
                self._read_states(body["regions"][1], path, regions=True)
                if "regions" in body
                else []
            )
            if regions and not kids:
                r.problem(key_node, f"region {path!r} has no states")
            history = False
            if "history" in body:
                kind = r.choice(body["history"][1], f"{what} history", ("shallow",))
                history = kind is not None
                if history and not kids:
                    r.problem(body["history"][1], f"{what} has history but no children")
            if "initial" in body:
                ref = r.string(body["initial"][1], f"{what} initial")
                if ref is not None:
                    if not kids:
                        r.problem(body["initial"][1], f"{what} has initial but no children")
                    else:
                        self.initial_refs.append((path, ref, body["initial"][1]))
            elif kids:
                r.problem(key_node, f"{what} has children but no 'initial'")
            description = self._opt_string(body, "description", f"{what} description")
            timers = self._read_timers(body["after"][1], path) if "after" in body else ()
            self.states[path] = StateSpec(
                path=path,
                parent=parent,
                children=tuple(kids),
                history=history,
                description=description or "",
                position=r.position(key_node),
                regions=tuple(own_regions),
                is_region=regions,
                timers=timers,
            )
            children.append(path)
        return children

    def _read_timers(self, node: yaml.Node, path: str) -> tuple[TimerSpec, ...]:
        """A state's ``after:`` list: each a delayed transition, or a signal it delivers."""
        r = self.r
        out = []
        for index, item in enumerate(r.sequence(node, f"state {path!r} after")):
            owner = f"timer {index + 1} of state {path!r}"
            body = r.mapping(item, owner, allowed=_TIMER_KEYS, required=("seconds",))
            timer_id = f"{path}.after.{index}"
            seconds = self._read_seconds(body["seconds"][1], owner) if "seconds" in body else None
            signal = timer_id
            if "signal" in body:
                named = r.string(body["signal"][1], f"{owner} signal")
                for key in ("to", "emit", "send", "keep"):
                    if key in body:
                        r.problem(
                            body[key][0],
                            f"{owner}: a timer that delivers a signal takes no {key!r}"
                            " (the signal's own transitions apply)",
                        )
                if named is not None:
                    signal = named
                    self.timer_signals.append((named, body["signal"][1]))
            elif "to" not in body:
                r.problem(item, f"{owner} has no target: give 'to' (or 'signal' to deliver)")
            elif seconds is not None:
                # (a timer whose seconds cannot be read has no transition either: reported)
                raw = self._read_transition_body(body, timer_id, owner, item)
                raw.sources = [(path, item)]
                raw.timer = timer_id
                self.raw_transitions.append(raw)
            if seconds is None:
                continue
            spec = TimerSpec(timer_id, path, seconds, signal, r.position(item))
            self.timers[timer_id] = spec
            out.append(spec)
        return tuple(out)

    def _read_seconds(self, node: yaml.Node, owner: str) -> ValueRef | None:
        """A timer's duration: a number, a reference, or a list of them (fallbacks)."""
        what = f"{owner} seconds"
        if isinstance(node, yaml.SequenceNode) and not node.value:
            self.r.problem(node, f"{what} is an empty list")
            return None
        known_problems = len(self.r.problems)
        value = self._read_value(node, what)
        if value is None or len(self.r.problems) != known_problems:
            return None
        for kind, constant in value.sources:
            # null: no duration, the timer is not armed (as 0)
            if (
                kind == "value"
                and constant is not None
                and (not isinstance(constant, (int, float)) or isinstance(constant, bool))
            ):
                self.r.problem(
                    node,
                    f"{what} must be a number, {{setting|field|kept: name}} or a list of them,"
                    f" not {constant!r}",
                )
                return None
        return value

    def _read_value(self, node: yaml.Node, what: str) -> ValueRef | None:
        """A value: a constant, ``{field|kept|setting: name}``, or a list of those."""
        r = self.r
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources: list[tuple[str, Any]] = []
        for item in items:
            if isinstance(item, yaml.MappingNode):
                entries = r.mapping(item, what, allowed=_REF_KINDS)
                if len(entries) != 1:
                    r.problem(
                        item, f"{what}: write one of {{field: x}}, {{kept: x}}, {{setting: x}}"
                    )
                    continue
                ((kind, (_k, name_node)),) = entries.items()
                ref_name = r.string(name_node, f"{what} {kind}")
                if ref_name is None:
                    continue
                if kind == "kept":
                    self._kept_refs.append((ref_name, name_node))
                elif kind == "setting":
                    self._setting_refs.append((ref_name, name_node))
                sources.append((kind, ref_name))
            elif isinstance(item, yaml.ScalarNode):
                sources.append(("value", r.scalar(item, what)))
            else:
                r.problem(item, f"{what} must be a value, a reference or a list of them")
        return ValueRef(tuple(sources)) if sources else None

    def _read_rule(
        self,
        body: dict[str, tuple[yaml.Node, yaml.Node]],
        owner: str,
        node: yaml.Node,
        inherit: _RawRule | None,
        default_timeout: float,
    ) -> _RawRule:
        r = self.r
        known_problems = len(r.problems)
        sources = r.strings(body["from"][1], f"{owner} from") if "from" in body else None
        if sources is None:
            if inherit is None:
                r.problem(node, f"{owner}: missing required key 'from'")
            sources = list(inherit.sources) if inherit else []
        elif not sources and len(r.problems) == known_problems:
            # an empty list, not a mistyped one (that is reported already)
            r.problem(body["from"][1], f"{owner} is allowed from no state")
        if "rights" in body:
            rights = r.strings(body["rights"][1], f"{owner} rights")
            self.rights_refs.extend(rights)
        else:
            # a when_given rule keeps the command's rights unless it names its own: a
            # variant must not shed the protection the command has
            rights = list(inherit.rights) if inherit else []

        def signal_ref(key: str) -> tuple[str, yaml.Node] | None:
            if key not in body:
                return getattr(inherit, key) if inherit else None
            value = r.string(body[key][1], f"{owner} {key}")
            return (value, body[key][1]) if value is not None else None

        timeout = inherit.timeout if inherit else default_timeout
        if "timeout" in body:
            t = r.number(body["timeout"][1], f"{owner} timeout", positive=True)
            timeout = t if t is not None else timeout
        rule = _RawRule(
            sources=sources,
            rights=rights,
            confirm=signal_ref("confirm"),
            fail=signal_ref("fail"),
            timeout=timeout,
            node=node,
            owner=owner,
        )
        self.rules.append(rule)
        return rule

    def _read_commands(
        self, top: dict[str, tuple[yaml.Node, yaml.Node]], timeout: float, pending: str
    ) -> list[tuple[str, yaml.Node, _RawRule, list[tuple[ArgSpec, _RawRule | None]], str, str]]:
        r = self.r
        out = []
        node = top["commands"][1] if "commands" in top else None
        for name, (key_node, value_node) in r.mapping(node, "commands").items():
            owner = f"command {name!r}"
            body = r.mapping(value_node, owner, allowed=_COMMAND_KEYS)
            rule = self._read_rule(body, owner, key_node, None, timeout)
            if "local" in body and r.boolean(body["local"][1], f"{owner} local"):
                self.local_commands[name] = body["local"][0]
                if "confirm" not in body:
                    r.problem(
                        body["local"][0],
                        f"{owner} is local: it needs a 'confirm' signal (the move it makes)",
                    )
            mode = pending
            if "pending" in body:
                mode = r.choice(body["pending"][1], f"{owner} pending", PENDING_MODES) or mode
            args = []
            args_node = body["args"][1] if "args" in body else None
            for arg, (_arg_key, arg_value) in r.mapping(args_node, f"{owner} args").items():
                arg_owner = f"argument {arg!r} of {owner}"
                spec = r.mapping(arg_value, arg_owner, allowed=_ARG_KEYS)
                kind = "string"
                if "type" in spec:
                    kind = r.choice(spec["type"][1], f"{arg_owner} type", tuple(ARG_TYPES)) or kind
                flags = {}
                for flag, default in (("required", True), ("secret", False)):
                    flags[flag] = default
                    if flag in spec:
                        value = r.boolean(spec[flag][1], f"{arg_owner} {flag}")
                        flags[flag] = default if value is None else value
                override = None
                if "when_given" in spec:
                    when = r.mapping(
                        spec["when_given"][1], f"{arg_owner} when_given", allowed=_RULE_KEYS
                    )
                    override = self._read_rule(
                        when, f"{owner} with {arg!r}", spec["when_given"][0], rule, timeout
                    )
                described = self._opt_string(spec, "description", f"{arg_owner} description")
                choices: tuple[Any, ...] = ()
                if "choices" in spec:
                    choices = tuple(
                        r.scalar(item, f"each of {arg_owner} choices")
                        for item in r.sequence(spec["choices"][1], f"{arg_owner} choices")
                    )
                    if not choices:
                        r.problem(spec["choices"][1], f"{arg_owner} has no choices")
                    if flags["secret"] and choices:
                        r.problem(spec["choices"][0], f"{arg_owner}: a secret has no choices")
                args.append(
                    (
                        ArgSpec(
                            name=arg,
                            type=kind,
                            required=flags["required"],
                            secret=flags["secret"],
                            description=described or "",
                            choices=choices,
                        ),
                        override,
                    )
                )
            description = self._opt_string(body, "description", f"{owner} description") or ""
            out.append((name, key_node, rule, args, mode, description))
        return out

    def _read_signals(
        self, top: dict[str, tuple[yaml.Node, yaml.Node]]
    ) -> list[tuple[str, yaml.Node, tuple[str, ...], str]]:
        r = self.r
        out = []
        node = top["signals"][1] if "signals" in top else None
        for name, (key_node, value_node) in r.mapping(node, "signals").items():
            owner = f"signal {name!r}"
            body = r.mapping(value_node, owner, allowed=_SIGNAL_KEYS)
            payload = tuple(
                v
                for v, _ in (
                    r.strings(body["payload"][1], f"{owner} payload") if "payload" in body else []
                )
            )
            items = (
                r.sequence(body["transitions"][1], f"{owner} transitions")
                if "transitions" in body
                else []
            )
            for item in items:
                t = r.mapping(
                    item, f"transition of {owner}", allowed=_TRANSITION_KEYS, required=("from",)
                )
                known_problems = len(r.problems)
                sources = (
                    r.strings(t["from"][1], f"transition of {owner} from") if "from" in t else []
                )
                if "from" in t and not sources and len(r.problems) == known_problems:
                    r.problem(t["from"][1], f"transition of {owner} has an empty 'from'")
                raw = self._read_transition_body(t, name, f"transition of {owner}", item)
                raw.sources = sources
                self.raw_transitions.append(raw)
            description = self._opt_string(body, "description", f"{owner} description") or ""
            out.append((name, key_node, payload, description))
        return out

    def _read_transition_body(
        self,
        t: dict[str, tuple[yaml.Node, yaml.Node]],
        signal: str,
        owner: str,
        item: yaml.Node,
    ) -> _RawTransition:
        """What a transition does: target, emits, guards, sends and kept values."""
        r = self.r
        target = None
        if "to" in t:
            ref = r.string(t["to"][1], f"{owner} to")
            target = (ref, t["to"][1]) if ref is not None else None
        emits = []
        if "emit" in t:
            for emit_node in r.sequence(t["emit"][1], f"{owner} emit"):
                emit = self._read_emit(emit_node, owner.removeprefix("transition of "))
                if emit is not None:
                    emits.append((emit, emit_node))
        raw = _RawTransition(signal, [], target, emits, item)
        if "when" in t:
            raw.guards = self._read_guards(t["when"][1], f"{owner} when")
        if "send" in t:
            for send_node in r.sequence(t["send"][1], f"{owner} send"):
                send = self._read_send(send_node, f"{owner} send")
                if send is not None:
                    raw.sends.append(send)
        if "keep" in t:
            for kname, (_k, vnode) in r.mapping(t["keep"][1], f"{owner} keep").items():
                value = self._read_value(vnode, f"{owner} keep {kname!r}")
                if value is not None:
                    raw.keeps[kname] = (value, vnode)
                    self.kept_names.add(kname)
        return raw

    def _read_guards(
        self, node: yaml.Node, what: str
    ) -> list[tuple[str, str, list[Any], bool, yaml.Node]]:
        """``when:``: one condition or a list of them, all of which must hold."""
        r = self.r
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for item in items:
            entries = r.mapping(item, what, allowed=(*_GUARD_KINDS, "is", "not"))
            kinds = [k for k in entries if k in _GUARD_KINDS]
            if len(kinds) != 1:
                r.problem(
                    item,
                    f"{what}: each condition is one of {{in: state}}, {{not_in: state}},"
                    " {field: name, is: value}, {setting: name, is: value}",
                )
                continue
            kind = kinds[0]
            key_node, value_node = entries[kind]
            if kind in ("in", "not_in"):
                if "is" in entries or "not" in entries:
                    r.problem(item, f"{what}: {kind!r} takes a state, not 'is' or 'not'")
                states = r.strings(value_node, f"{what} {kind}")
                out.append(("in", "", [v for v, _n in states], kind == "not_in", key_node))
                continue
            name = r.string(value_node, f"{what} {kind}")
            tests = [k for k in ("is", "not") if k in entries]
            if len(tests) != 1:
                r.problem(item, f"{what}: a {kind} condition needs exactly one of 'is' or 'not'")
                continue
            values_node = entries[tests[0]][1]
            items_nodes = (
                values_node.value if isinstance(values_node, yaml.SequenceNode) else [values_node]
            )
            values = [r.scalar(v, f"{what} {tests[0]}") for v in items_nodes]
            if name is not None:
                if kind == "setting":
                    self._setting_refs.append((name, value_node))
                out.append((kind, name, values, tests[0] == "not", value_node))
        return out

    def _read_send(
        self, node: yaml.Node, what: str
    ) -> tuple[str, dict[str, tuple[ValueRef, yaml.Node]], list[Any], yaml.Node] | None:
        """One ``send:`` item: ``command``, or ``{command: {arg: value}, when: ...}``."""
        r = self.r
        if isinstance(node, yaml.ScalarNode):
            name = r.string(node, what)
            return (name, {}, [], node) if name is not None else None
        entries = r.mapping(node, what)
        guards = (
            self._read_guards(entries.pop("when")[1], f"{what} when") if "when" in entries else []
        )
        if len(entries) != 1:
            r.problem(node, f"{what}: write a command name or {{command: {{argument: value}}}}")
            return None
        ((name, (key_node, args_node)),) = entries.items()
        args = {}
        for arg, (_k, vnode) in r.mapping(args_node, f"{what} {name!r} args").items():
            value = self._read_value(vnode, f"{what} {name!r} argument {arg!r}")
            if value is not None:
                args[arg] = (value, vnode)
        return name, args, guards, key_node

    def _read_emit(self, node: yaml.Node, owner: str) -> Emit | None:
        r = self.r
        if isinstance(node, yaml.ScalarNode):
            name = r.string(node, f"emit of {owner}")
            return Emit(name) if name is not None else None
        entries = r.mapping(node, f"emit of {owner}")
        if len(entries) != 1:
            r.problem(
                node, f"emit of {owner}: write a notification name or {{name: {{field: value}}}}"
            )
            return None
        ((name, (_, consts_node)),) = entries.items()
        constants: dict[str, Any] = {}
        for field, (_, value_node) in r.mapping(consts_node, f"emit {name!r} of {owner}").items():
            constants[field] = r.scalar(value_node, f"field {field!r} of emit {name!r}")
        return Emit(name, constants)

    def _read_notifications(
        self, top: dict[str, tuple[yaml.Node, yaml.Node]]
    ) -> dict[str, tuple[NotificationSpec, yaml.Node]]:
        r = self.r
        out = {}
        node = top["notifications"][1] if "notifications" in top else None
        for name, (key_node, value_node) in r.mapping(node, "notifications").items():
            owner = f"notification {name!r}"
            body = r.mapping(value_node, owner, allowed=_NOTIFICATION_KEYS)
            fields = tuple(
                v
                for v, _ in (
                    r.strings(body["fields"][1], f"{owner} fields") if "fields" in body else []
                )
            )
            description = self._opt_string(body, "description", f"{owner} description") or ""
            out[name] = (
                NotificationSpec(name, fields, description, r.position(key_node)),
                key_node,
            )
        return out

    # --- pass 2: names and whole-chart checks ----------------------------------------------
    def _state(self, ref: str, node: yaml.Node) -> str | None:
        if ref in self.states:
            return ref
        if self._suffixes is None:
            # every path under each of its dotted tails, once: a lookup per reference, not
            # a scan of every state (a chart of n states and n references loads in O(n))
            self._suffixes = {}
            for p in self.states:
                parts = p.split(".")
                for i in range(1, len(parts)):
                    self._suffixes.setdefault(".".join(parts[i:]), []).append(p)
        found = self._suffixes.get(ref, [])
        if len(found) == 1:
            return found[0]
        if found:
            self.r.problem(node, f"ambiguous state {ref!r}: could be {', '.join(found)}")
        else:
            self._names = self._names or (*self.states, *self._suffixes)
            self.r.unknown_name(node, "state", ref, self._names)
        return None

    def _resolve(
        self,
        *,
        name: str,
        version: int,
        description: str,
        commands_raw: list[
            tuple[str, yaml.Node, _RawRule, list[tuple[ArgSpec, _RawRule | None]], str, str]
        ],
        signals_raw: list[tuple[str, yaml.Node, tuple[str, ...], str]],
        notifications: dict[str, tuple[NotificationSpec, yaml.Node]],
    ) -> Chart:
        r = self.r
        signal_names = {s[0] for s in signals_raw}

        initial = ""
        for owner, ref, node in self.initial_refs:
            # a state's initial names one of its children: look there before anywhere else
            child = f"{owner}.{ref}" if owner else ref
            path = child if child in self.states else self._state(ref, node)
            if path is None:
                continue
            if owner == "":
                if self.states[path].parent is not None:
                    r.problem(node, f"initial state {ref!r} must be a top-level state")
                initial = path
            elif self.states[path].parent != owner:
                r.problem(node, f"initial state {ref!r} of {owner!r} must be one of its children")
            else:
                self.states[owner] = attrs.evolve(self.states[owner], initial=path)

        for right, node in self.rights_refs:
            if right not in self.rights:
                r.unknown_name(node, "right", right, self.rights)

        compiled_rules: dict[int, CommandRule] = {}
        for rule in self.rules:
            sources = [p for ref, n in rule.sources if (p := self._state(ref, n)) is not None]
            for key in ("confirm", "fail"):
                ref_node = getattr(rule, key)
                if ref_node is not None and ref_node[0] not in signal_names:
                    r.unknown_name(
                        ref_node[1],
                        "signal",
                        ref_node[0],
                        signal_names,
                        where=f"{rule.owner} {key}",
                    )
            compiled_rules[id(rule)] = CommandRule(
                allowed_from=tuple(dict.fromkeys(sources)),
                rights=frozenset(v for v, _ in rule.rights),
                confirm=rule.confirm[0] if rule.confirm else None,
                fail=rule.fail[0] if rule.fail else None,
                timeout=rule.timeout,
            )

        commands = {}
        for cname, key_node, rule, args, mode, cdesc in commands_raw:
            commands[cname] = CommandSpec(
                name=cname,
                rule=compiled_rules[id(rule)],
                args=tuple(
                    attrs.evolve(a, when_given=compiled_rules[id(o)] if o else None)
                    for a, o in args
                ),
                pending=mode,
                description=cdesc,
                position=r.position(key_node),
                local=cname in self.local_commands,
            )

        payload_of = {sname: payload for sname, _k, payload, _d in signals_raw}
        for timer_id in self.timers:
            if timer_id in payload_of:
                r.problem(self.timers[timer_id].position, f"signal {timer_id!r} is a timer's id")
            payload_of.setdefault(timer_id, ())
        for named, node in self.timer_signals:
            if named not in signal_names:
                r.unknown_name(node, "signal", named, signal_names, where="timer signal")
        for ref_name, node in self._kept_refs:
            if ref_name not in self.kept_names:
                r.problem(
                    node, f"nothing keeps a value named {ref_name!r} (no transition's 'keep')"
                )
        for ref_name, node in self._setting_refs:
            if ref_name not in self.settings:
                r.unknown_name(node, "setting", ref_name, self.settings)

        transitions: dict[str, list[TransitionSpec]] = {sname: [] for sname in payload_of}
        # per (state, signal), the transitions so far: a later one is reachable only if
        # every earlier one is guarded (document order decides)
        seen: dict[tuple[str, str], list[tuple[tuple[Guard, ...], yaml.Node]]] = {}
        emitted: set[str] = set()
        for raw in self.raw_transitions:
            target = None
            if raw.target is not None:
                target = self._state(*raw.target)
            for emit, emit_node in raw.emits:
                spec = notifications.get(emit.notification)
                if spec is None:
                    r.unknown_name(emit_node, "notification", emit.notification, notifications)
                    continue
                emitted.add(emit.notification)
                for field in emit.constants:
                    if field not in spec[0].fields:
                        r.problem(
                            emit_node, f"notification {emit.notification!r} has no field {field!r}"
                        )
            payload = payload_of.get(raw.signal, ())
            known_problems = len(r.problems)
            guards = self._resolve_guards(raw.guards, raw.signal, payload)
            # a guard that could not be read says nothing of which transition comes first
            guards_read = len(r.problems) == known_problems
            sends = tuple(
                self._resolve_send(send, raw.signal, payload, commands) for send in raw.sends
            )
            keeps = {}
            for kname, (value, vnode) in raw.keeps.items():
                self._check_fields(value, vnode, raw.signal, payload)
                keeps[kname] = value
            for ref, node in raw.sources:
                source = self._state(ref, node)
                if source is None:
                    continue
                cell = (source, raw.signal)
                earlier = seen.setdefault(cell, [])
                blocking = next(((g, n) for g, n in earlier if not g or g == guards), None)
                if not guards_read:
                    continue
                if blocking is not None:
                    first = r.position(blocking[1])
                    r.problem(
                        node,
                        f"transition for signal {raw.signal!r} in state {source!r} is never"
                        f" taken: the one at line {first.line} comes first and"
                        + (" has the same guard" if blocking[0] else " has no guard"),
                    )
                    continue
                earlier.append((guards, node))
                transitions[raw.signal].append(
                    TransitionSpec(
                        signal=raw.signal,
                        source=source,
                        target=target,
                        emits=tuple(e for e, _ in raw.emits),
                        position=r.position(node),
                        guards=guards,
                        sends=tuple(x for x in sends if x is not None),
                        keeps=keeps,
                        timer=raw.timer,
                    )
                )

        for nname, (_spec, key_node) in notifications.items():
            if nname not in emitted:
                r.problem(key_node, f"notification {nname!r} is never emitted by any transition")

        signals = {
            sname: SignalSpec(
                sname, payload, tuple(transitions[sname]), sdesc, r.position(key_node)
            )
            for sname, key_node, payload, sdesc in signals_raw
        }
        for timer_id, timer in self.timers.items():
            if timer.signal == timer_id:
                signals[timer_id] = SignalSpec(
                    timer_id,
                    (),
                    tuple(transitions[timer_id]),
                    f"the timer of state {timer.state!r}",
                    timer.position,
                )
        chart = Chart(
            name=name,
            initial=initial,
            states=self.states,
            commands=commands,
            signals=signals,
            notifications={n: s for n, (s, _) in notifications.items()},
            rights=frozenset(self.rights),
            version=version,
            description=description,
            source=r.file,
            session=self.session,
            settings=self.settings,
            extends=self.extends,
            timers=self.timers,
        )
        if not r.problems:
            self._check_whole(chart, commands_raw)
        r.raise_if_problems()
        return chart

    def _resolve_guards(
        self,
        raw: list[tuple[str, str, list[Any], bool, yaml.Node]],
        signal: str,
        payload: tuple[str, ...],
    ) -> tuple[Guard, ...]:
        r = self.r
        out = []
        for kind, gname, values, negate, node in raw:
            if kind == "in":
                found = [p for ref in values if (p := self._state(ref, node)) is not None]
                if len(found) != len(values):
                    continue
                values = found
            elif kind == "field" and gname not in payload:
                r.problem(
                    node,
                    f"guard on field {gname!r}: signal {signal!r} carries no such field"
                    f" ({', '.join(payload) or 'it has no payload'})",
                )
                continue
            out.append(Guard(kind, gname, tuple(values), negate, r.position(node)))
        return tuple(out)

    def _check_fields(
        self, value: ValueRef, node: yaml.Node, signal: str, payload: tuple[str, ...]
    ) -> None:
        for kind, name in value.sources:
            if kind == "field" and name not in payload:
                self.r.problem(
                    node,
                    f"field {name!r}: signal {signal!r} carries no such field"
                    f" ({', '.join(payload) or 'it has no payload'})",
                )

    def _resolve_send(
        self,
        raw: tuple[str, dict[str, tuple[ValueRef, yaml.Node]], list[Any], yaml.Node],
        signal: str,
        payload: tuple[str, ...],
        commands: dict[str, CommandSpec],
    ) -> SendSpec | None:
        r = self.r
        name, args, guards, node = raw
        spec = commands.get(name)
        if spec is None:
            r.unknown_name(node, "command", name, commands, where="send")
            return None
        declared = [a.name for a in spec.args]
        for arg, (value, vnode) in args.items():
            if arg not in declared:
                r.problem(
                    vnode,
                    f"send {name!r}: the command has no argument {arg!r}"
                    f" ({', '.join(declared) or 'it takes none'})",
                )
            self._check_fields(value, vnode, signal, payload)
        return SendSpec(
            name,
            {a: v for a, (v, _n) in args.items()},
            self._resolve_guards(guards, signal, payload),
            r.position(node),
        )

    def _check_whole(
        self,
        chart: Chart,
        commands_raw: Iterable[
            tuple[str, yaml.Node, _RawRule, list[tuple[ArgSpec, _RawRule | None]], str, str]
        ],
    ) -> None:
        """Checks that need a fully resolved chart: reachability, answerable commands."""
        r = self.r
        rights_command = chart.session.get("rights")
        if rights_command is not None:
            confirm = chart.commands[rights_command].rule.confirm
            if confirm is None or "rights" not in chart.signals[confirm].payload:
                r.problem(
                    self._session_nodes["rights"],
                    f"session rights: command {rights_command!r} must be confirmed by a signal"
                    " with a 'rights' payload field (the rights the server grants)",
                )
        handles = _handled_signals(chart)
        for cname, _key, rule, args, _mode, _desc in commands_raw:
            for raw, compiled in [(rule, chart.commands[cname].rule)] + [
                (o, a.when_given)
                for (_, o), a in zip(args, chart.commands[cname].args, strict=True)
                if o and a.when_given
            ]:
                for key in ("confirm", "fail"):
                    signal = getattr(compiled, key)
                    if signal is None:
                        continue
                    for source in compiled.allowed_from:
                        for leaf in _main_leaves(chart, source):
                            if signal not in handles[leaf]:
                                r.problem(
                                    getattr(raw, key)[1],
                                    f"{raw.owner} is allowed in {leaf!r}, but its {key} signal"
                                    f" {signal!r} has no transition there",
                                )
                                break
                        else:
                            continue
                        break

        configurations = count_configurations(chart)
        if configurations > MAX_CONFIGURATIONS:
            widest = max(
                (s for s in chart.states.values() if s.regions),
                key=lambda s: len(s.regions),
            )
            r.problem(
                widest.position,
                f"the chart's parallel regions make {configurations} configurations (states"
                f" active at once), more than {MAX_CONFIGURATIONS}: fewer or smaller regions",
            )
            return
        reached = _reachable(chart)
        for path, spec in chart.states.items():
            if path not in reached:
                r.problem(spec.position, f"state {path!r} cannot be reached from the initial state")


def _main_leaves(chart: Chart, path: str) -> list[str]:
    """The leaves below ``path`` through main children only (a region below ``path`` runs
    beside them: its leaves are never the state a command is sent from)."""
    out = []
    todo = [path]
    while todo:
        spec = chart.states[todo.pop()]
        if spec.is_leaf:
            out.append(spec.path)
        todo.extend(reversed(spec.children))
    return out


def _handled_signals(chart: Chart) -> dict[str, set[str]]:
    """For every leaf, the signals some transition (on it, above it, or in a region
    active beside it) handles."""
    by_state: dict[str, set[str]] = {}
    for t in chart.transitions():
        by_state.setdefault(t.source, set()).add(t.signal)
    out: dict[str, set[str]] = {}
    for leaf in chart.all_leaves():
        handled: set[str] = set()
        for state in chart.ancestors(leaf):
            handled |= by_state.get(state, set())
            if chart.states[state].regions:
                # every part of a state with regions is active with it: the main one and
                # each region answer the same signals
                for inner in chart.states:
                    if chart.contains(state, inner):
                        handled |= by_state.get(inner, set())
        out[leaf] = handled
    return out


def _reachable(chart: Chart) -> set[str]:
    """Every state that some sequence of signals can enter, from the initial state."""
    by_source: dict[str, list[str]] = {}
    for t in chart.transitions():
        if t.target is not None:
            by_source.setdefault(t.source, []).append(t.target)
    reached: set[str] = set()
    todo = [chart.initial] if chart.initial else []
    while todo:
        entered = todo.pop()
        # entering a state enters its ancestors, its default descendants, and (history)
        # whichever child was active before: that child must have been reached already
        beside = [
            x
            for outer in chart.ancestors(entered)
            for region in chart.states[outer].regions
            if not chart.contains(region, entered)
            for x in (region, *_default_chain(chart, region))
        ]
        for state in (*chart.ancestors(entered), *_default_chain(chart, entered), *beside):
            if state in reached:
                continue
            reached.add(state)
            # a state's own transitions apply in every leaf below it, and one of those
            # leaves is active whenever the state is
            todo.extend(by_source.get(state, ()))
    return reached


def _default_chain(chart: Chart, path: str) -> list[str]:
    """The states entered by default below ``path``: initial children and every region's."""
    out = []
    todo = [*chart.states[path].regions]
    state = chart.states[path]
    while True:
        if state.initial is not None:
            state = chart.states[state.initial]
            out.append(state.path)
            todo.extend(state.regions)
        elif todo:
            state = chart.states[todo.pop()]
            out.append(state.path)
            todo.extend(state.regions)
        else:
            return out
