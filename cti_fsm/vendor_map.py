"""Vendor maps: which raw message means which signal, and how each command is written.

A vendor map (``specs/vendors/<vendor>.yaml``, format in ``specs/README.md``) is stateless
data. Rules are tried in order and the first whose ``when`` matches (and whose ``unless``
does not) produces the signal, so specific rules go before general ones. Values written as
``"{name}"`` are filled from a context the adapter supplies (the agent's device, the
current call id, a command's arguments, the request id), which is how a stateless map can
still say "a connectionCleared *of my device*".

Malformed never moves the machine: every field a rule reads must be of the type the rule
can read. A condition compares text, numbers or booleans, so a list or an object where a
rule looks for one of those makes the message malformed, not a match of "any element". A
payload field is text, a number (finite) or a boolean, unless the map lists it under
``structured`` (lists and objects: the groups of a query, say) or the adapter computed it
(``cti.``, ``request.``, ``me.``). A rule's ``require`` names what a message its ``when``
matched must also say (which connection it concerns: the agent's own call): a message that
does not is about a connection that is not this agent's, and malformed. ``signal`` then
gives a ``Malformed`` (reason and a bounded excerpt) in place of a signal.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs
import yaml

from .chart import Chart
from .errors import MissingContext
from .events import EXCERPT_CHARS, Malformed, RawMessage, Signal
from .yaml_nodes import NodeReader, compose_file, compose_text

__all__ = [
    "MissingContext",
    "SignalRule",
    "VendorMap",
    "compile_template",
    "excerpt",
    "fill",
    "load_vendor_map",
    "load_vendor_map_text",
    "lookup",
    "vendor_map_path",
]

_TEMPLATE = re.compile(r"\{([A-Za-z_][\w.]*)\}")
_TOP_KEYS = (
    "vendor",
    "chart",
    "description",
    "unsupported",
    "local",
    "secrets",
    "signals",
    "commands",
    "states",
    "structured",
)
_RULE_KEYS = ("when", "unless", "require", "signal", "payload", "set", "description")
#: payload paths the adapter computes itself (trusted to have the types it gives them)
_ADAPTER_PATHS = ("cti", "request", "me")
#: what a condition or a plain payload field may hold
_SCALARS = (str, int, float, bool)
_ABSENT = object()
REDACTED = "***"


def lookup(message: Any, path: str) -> Any:
    """The value at a dotted path (``"params.callId"``, ``"items.0"``), or a sentinel."""
    parts = _PATHS.get(path)
    if parts is None:
        parts = _split(path)
    return _walk(message, parts)


#: dotted paths already split: the same few dozen paths are looked up for every message
_PATHS: dict[str, tuple[str, ...]] = {}
_PATHS_MAX = 4096


def _split(path: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if len(_PATHS) < _PATHS_MAX:
        _PATHS[path] = parts
    return parts


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if type(value) is dict:
            # decoded messages are plain dicts: no ABC check for them
            value = value.get(part, _ABSENT)
        elif isinstance(value, Mapping):
            value = value.get(part, _ABSENT)
        elif isinstance(value, Sequence) and not isinstance(value, str) and part.isdigit():
            index = int(part)
            value = value[index] if index < len(value) else _ABSENT
        else:
            return _ABSENT
        if value is _ABSENT:
            return _ABSENT
    return value


def fill(template: Any, context: Mapping[str, Any]) -> Any:
    """Fill ``"{name}"`` placeholders from ``context`` throughout a template.

    A string that is exactly one placeholder takes the value with its type (a list stays a
    list); placeholders inside a longer string are replaced by ``str(value)``. A ``None``
    value removes the key from a mapping, so optional arguments simply disappear.

    Raises:
        MissingContext: a placeholder names something the context does not have.
    """
    return compile_template(template)(context)


def _text(value: Any) -> str:
    # inside a longer string an absent optional value is empty, not the word "None"
    return "" if value is None else str(value)


Filler = Callable[[Mapping[str, Any]], Any]


def compile_template(template: Any) -> Filler:
    """``fill`` prepared once: a function of the context giving what ``fill(template,
    context)`` gives, without parsing the template's placeholders again on every call.

    The function raises ``MissingContext`` as ``fill`` does.
    """
    if isinstance(template, str):
        whole = _TEMPLATE.fullmatch(template)
        if whole:
            return _placeholder(whole.group(1))
        if _TEMPLATE.search(template) is None:
            return lambda context: template
        pieces = _TEMPLATE.split(template)  # literal, name, literal, name, ..., literal
        names = tuple(_placeholder(name) for name in pieces[1::2])
        literals = pieces[0::2]

        def text(context: Mapping[str, Any]) -> str:
            out = [literals[0]]
            for name, literal in zip(names, literals[1:], strict=True):
                out.append(_text(name(context)))
                out.append(literal)
            return "".join(out)

        return text
    if isinstance(template, Mapping):
        items = tuple((key, compile_template(value)) for key, value in template.items())

        def mapping(context: Mapping[str, Any]) -> dict[Any, Any]:
            out = {}
            for key, value in items:
                filled = value(context)
                if filled is not None:
                    out[key] = filled
            return out

        return mapping
    if isinstance(template, list):
        elements = tuple(compile_template(item) for item in template)
        return lambda context: [element(context) for element in elements]
    return lambda context: template


def _placeholder(name: str) -> Filler:
    parts = tuple(name.split("."))
    if len(parts) == 1:
        # the usual placeholder, a plain name: one dictionary look-up
        def simple(context: Mapping[str, Any]) -> Any:
            value = context.get(name, _ABSENT)
            if value is _ABSENT:
                raise MissingContext(f"{{{name}}} is not known now")
            return value

        return simple

    def dotted(context: Mapping[str, Any]) -> Any:
        value = _walk(context, parts)
        if value is _ABSENT:
            raise MissingContext(f"{{{name}}} is not known now")
        return value

    return dotted


def _matches(expected: Any, actual: Any) -> bool:
    if expected is None:
        return actual is _ABSENT or actual is None
    if actual is _ABSENT:
        return False
    if isinstance(expected, list):
        return any(_matches(e, actual) for e in expected)
    # wire formats disagree on types ("1" in a text protocol, 1 in JSON): compare as text
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected == actual)
    return str(expected) == str(actual)


#: how many field paths the rule index uses, and how many value tuples it remembers
_INDEX_PATHS = 3
_INDEX_CELLS = 4096


def _literal(expected: Any) -> bool:
    """A condition the index can decide: fixed text or numbers, no placeholder."""
    if isinstance(expected, list):
        return bool(expected) and all(_literal(e) for e in expected)
    if isinstance(expected, str):
        return _TEMPLATE.search(expected) is None
    return isinstance(expected, (int, float)) and not isinstance(expected, bool)


#: stands for an absent field in an index key (no field's text contains a NUL)
_ABSENT_KEY = "\0absent"


def _may_match(expected: Any, text: str) -> bool:
    """False only if a rule's condition surely rejects a field whose value reads ``text``
    (``_ABSENT_KEY``: the field is absent, which no literal condition accepts)."""
    if expected is _ABSENT or not _literal(expected):
        return True
    if text == _ABSENT_KEY:
        return False
    if isinstance(expected, list):
        return any(str(e) == text for e in expected)
    return str(expected) == text


def _index_paths(rules: Sequence[SignalRule]) -> tuple[str, ...]:
    """The field paths most rules pin to literal values (first seen first on ties)."""
    counts: dict[str, int] = {}
    for rule in rules:
        for path, expected in rule.when.items():
            if _literal(expected):
                counts[path] = counts.get(path, 0) + 1
    ranked = sorted(counts, key=lambda p: -counts[p])
    return tuple(ranked[:_INDEX_PATHS])


@attrs.frozen
class SignalRule:
    """One rule of a vendor map: when a raw message matches, it means ``signal``.

    Attributes:
        when: dotted field path -> expected value (a list: any of them; null: absent).
        unless: the rule does not apply if all of these match.
        payload: signal payload field -> dotted field path in the raw message.
        constants: signal payload fields set to fixed values.
    """

    signal: str
    when: Mapping[str, Any]
    unless: Mapping[str, Any] = attrs.field(factory=dict)
    payload: Mapping[str, str] = attrs.field(factory=dict)
    constants: Mapping[str, Any] = attrs.field(factory=dict)
    #: what a message ``when`` matched must also say, else it is malformed (see the module)
    require: Mapping[str, Any] = attrs.field(factory=dict)
    #: payload fields that may hold lists or objects (the map's ``structured``)
    structured: frozenset[str] = frozenset()
    #: ``when``, ``unless`` and ``payload`` prepared once (split paths, compiled templates):
    #: every message tried against the rule would otherwise parse them again
    _when: tuple[_Condition, ...] = attrs.field(init=False, eq=False, repr=False)
    _unless: tuple[_Condition, ...] = attrs.field(init=False, eq=False, repr=False)
    #: per required field: its path split, and the values it may have (each filled alone,
    #: so one of several placeholders with no value now leaves the others)
    _require: tuple[tuple[tuple[str, ...], tuple[Filler, ...]], ...] = attrs.field(
        init=False, eq=False, repr=False
    )
    #: (field, path split, checked: its value must be a scalar)
    _payload: tuple[tuple[str, tuple[str, ...], bool], ...] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_when", _conditions(self.when))
        object.__setattr__(self, "_unless", _conditions(self.unless))
        required = []
        for path, expected in self.require.items():
            options = expected if isinstance(expected, list) else [expected]
            required.append((tuple(path.split(".")), tuple(compile_template(o) for o in options)))
        object.__setattr__(self, "_require", tuple(required))
        payload = []
        for field, path in self.payload.items():
            parts = tuple(str(path).split("."))
            checked = field not in self.structured and parts[0] not in _ADAPTER_PATHS
            payload.append((field, parts, checked))
        object.__setattr__(self, "_payload", tuple(payload))

    def match(self, message: RawMessage, context: Mapping[str, Any]) -> Signal | Malformed | None:
        """The signal this rule makes of ``message``, None if it does not apply, or
        ``Malformed`` if a field it reads has the wrong type or the message is about a
        connection that is not this agent's (``require``).

        A ``when`` condition naming context the protocol does not have now (no current
        call, say) does not match: the rule is about something this agent is not part of.
        """
        # a wrong-typed field makes the message malformed only if every other condition
        # holds (the message is about this rule): so the result does not depend on the
        # order of the conditions, nor on the rule index skipping rules that cannot match
        bad: tuple[tuple[str, ...], Any] | None = None
        try:
            for key, parts, expected, filler, texts in self._when:
                # a field of a decoded message (a plain dict): one look-up, no walk
                if key is not None and type(message) is dict:
                    actual = message.get(key, _ABSENT)
                else:
                    actual = _walk(message, parts)
                if texts is not None and type(actual) is str:
                    if actual not in texts:
                        return None
                    continue
                if not _readable(actual):
                    bad = bad or (parts, actual)
                    continue
                if filler is not None:
                    expected = filler(context)
                if not _matches(expected, actual):
                    return None
            if bad is not None:
                return self._malformed(message, *bad)
            if self._unless:
                excluded = True
                for _, parts, expected, filler, _ in self._unless:
                    actual = _walk(message, parts)
                    if not _readable(actual):
                        return self._malformed(message, parts, actual)
                    if not _matches(expected if filler is None else filler(context), actual):
                        excluded = False
                        break
                if excluded:
                    return None
        except MissingContext:
            return None
        for parts, options in self._require:
            actual = _walk(message, parts)
            wanted = []
            for option in options:
                try:
                    wanted.append(option(context))
                except MissingContext:
                    continue  # not known now: this one cannot be what the message names
            if not wanted:
                return self._foreign(message, parts, actual, "this agent has none now")
            if not _readable(actual) or not any(_matches(w, actual) for w in wanted):
                shown = " or ".join(_short(w) for w in wanted)
                return self._foreign(message, parts, actual, f"not {shown}")
        payload = dict(self.constants)
        for field, parts, checked in self._payload:
            value = _walk(message, parts)
            if value is not _ABSENT:
                if checked and not _scalar(value):
                    return self._malformed(message, parts, value)
                payload[field] = value
        return Signal(self.signal, MappingProxyType(payload))

    def _malformed(self, message: RawMessage, parts: tuple[str, ...], actual: Any) -> Malformed:
        kind = type(actual).__name__
        what = "a non-finite number" if isinstance(actual, float) else f"a {kind}"
        return Malformed(
            f"field {'.'.join(parts)!r} is {what}, not what rule {self.signal!r} reads",
            excerpt(message),
        )

    def _foreign(
        self, message: RawMessage, parts: tuple[str, ...], actual: Any, why: str
    ) -> Malformed:
        shown = "absent" if actual is _ABSENT else _short(actual)
        return Malformed(
            f"rule {self.signal!r}: field {'.'.join(parts)!r} is {shown} ({why}): the"
            " message is about a connection that is not this agent's",
            excerpt(message),
        )


def _readable(value: Any) -> bool:
    """True if a condition can read ``value``: absent, null, text, a boolean or a finite
    number (a list, an object or infinity is the wrong type for any condition)."""
    if value is _ABSENT or value is None:
        return True
    if type(value) is float:
        return math.isfinite(value)
    return isinstance(value, _SCALARS)


def _scalar(value: Any) -> bool:
    """True if ``value`` may be a plain payload field (null, text, boolean, finite number)."""
    return value is None or _readable(value)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = 8
_REPR.maxlist = 6
_REPR.maxstring = 60
_REPR.maxother = 60


def _short(value: Any) -> str:
    return _REPR.repr(value)[:120]


def excerpt(message: Any) -> str:
    """A bounded, cheap rendering of a raw message for a log line (never its whole text)."""
    return _REPR.repr(message)[:EXCERPT_CHARS]


#: one condition of a rule: the field's name if the path has one part (else None), the
#: path split, the expected value, either fixed (the filler is None) or filled from the
#: context by the filler, and for a fixed text or number (or a list of them) the texts a
#: field's text matches, so the usual test is one set look-up (else None)
_Condition = tuple[str | None, tuple[str, ...], Any, Filler | None, frozenset[str] | None]


def _conditions(conditions: Mapping[str, Any]) -> tuple[_Condition, ...]:
    out = []
    for path, expected in conditions.items():
        parts = tuple(path.split("."))
        out.append(
            (
                parts[0] if len(parts) == 1 else None,
                parts,
                expected,
                compile_template(expected) if _has_placeholder(expected) else None,
                frozenset(_texts(expected)) if _literal(expected) else None,
            )
        )
    return tuple(out)


def _texts(expected: Any) -> list[str]:
    """The texts a literal condition accepts from a text field (``_matches`` compares as
    text: ``1`` accepts ``"1"``)."""
    if isinstance(expected, list):
        return [text for e in expected for text in _texts(e)]
    return [str(expected)]


def _has_placeholder(template: Any) -> bool:
    if isinstance(template, str):
        return _TEMPLATE.search(template) is not None
    if isinstance(template, Mapping):
        return any(_has_placeholder(v) for v in template.values())
    if isinstance(template, list):
        return any(_has_placeholder(v) for v in template)
    return False


@attrs.frozen(eq=False)
class VendorMap:
    """A loaded vendor map.

    Attributes:
        vendor: the vendor's name.
        chart: the chart's name the map is written for.
        unsupported: commands the vendor cannot do.
        secrets: raw field names whose values are never shown (``redact``).
        local: chart commands this vendor has no service for, done by the library: the
            session applies the command's confirm signal at once and sends nothing.
        rules: signal rules, in order.
        commands: command -> raw message templates.
        states: vendor state name -> chart state (for snapshots).
    """

    vendor: str
    chart: str
    unsupported: frozenset[str]
    secrets: frozenset[str]
    rules: tuple[SignalRule, ...]
    commands: Mapping[str, tuple[Any, ...]]
    states: Mapping[str, str]
    description: str = ""
    source: str = "<map>"
    local: frozenset[str] = frozenset()
    #: payload fields that may hold lists or objects (the map's ``structured``)
    structured: frozenset[str] = frozenset()
    #: the field paths rules most often pin to fixed values, and per tuple of a message's
    #: values there, the rules that could match it (in order): most messages are tried
    #: against a handful of rules instead of all of them
    _index_paths: tuple[str, ...] = attrs.field(init=False, repr=False)
    _candidates: dict[tuple[str, ...], tuple[SignalRule, ...]] = attrs.field(
        init=False, repr=False, factory=dict
    )
    _index_parts: tuple[tuple[str, ...], ...] = attrs.field(init=False, repr=False)
    #: the command templates compiled once (``compile_template``)
    _templates: Mapping[str, tuple[Filler, ...]] = attrs.field(init=False, repr=False)
    #: per (facts key, chaining field), the rules naming it (``signals``)
    _chained: dict[tuple[str, str], tuple[SignalRule, ...]] = attrs.field(
        init=False, repr=False, factory=dict
    )

    def __attrs_post_init__(self) -> None:
        paths = _index_paths(self.rules)
        object.__setattr__(self, "_index_paths", paths)
        object.__setattr__(self, "_index_parts", tuple(tuple(p.split(".")) for p in paths))
        object.__setattr__(
            self,
            "_templates",
            {name: tuple(compile_template(t) for t in ts) for name, ts in self.commands.items()},
        )

    def signal(self, message: RawMessage, context: Mapping[str, Any]) -> Signal | Malformed | None:
        """The signal of the first rule that matches ``message``, None if none does, or
        ``Malformed`` if the first rule that reads a wrong-typed field (or whose
        ``require`` the message fails) says so."""
        for rule in self.candidates(message):
            found = rule.match(message, context)
            if found is not None:
                return found
        return None

    def candidates(self, message: RawMessage) -> tuple[SignalRule, ...]:
        """The rules, in order, that could match ``message``: every rule whose fixed
        conditions on the indexed fields agree with it (all rules for an unusual message)."""
        key = []
        for parts in self._index_parts:
            value = _walk(message, parts)
            if type(value) is str:
                key.append(value)
            elif value is _ABSENT:
                key.append(_ABSENT_KEY)
            # lists (repeated keys) and booleans take the full scan, which handles them
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.rules
            else:
                key.append(str(value))
        cell = tuple(key)
        found = self._candidates.get(cell)
        if found is None:
            found = tuple(
                rule
                for rule in self.rules
                if all(
                    _may_match(rule.when.get(p, _ABSENT), v)
                    for p, v in zip(self._index_paths, cell, strict=True)
                )
            )
            if len(self._candidates) < _INDEX_CELLS:
                self._candidates[cell] = found
        return found

    def signals(
        self,
        message: RawMessage,
        context: Mapping[str, Any],
        facts: Mapping[str, Any],
        *,
        key: str = "cti",
        after: str = "after",
    ) -> list[Signal | Malformed]:
        """The signals one raw message means, with a protocol's ``facts`` about it read as
        its field ``key`` (``cti.Channel``, ``cti.command``): the first matching rule's, then,
        tried again with ``<key>.<after>`` set to that signal's name, the first of the rules
        naming ``<key>.<after>`` that matches: one message, two signals in order. A plain
        dict without ``key`` is lent for the look-up (the field is added and taken away
        again), not copied: this runs for every message a protocol reads."""
        view = message if type(message) is dict and key not in message else dict(message)
        view[key] = facts
        try:
            signal = self.signal(view, context)
            if signal is None:
                return []
            out: list[Signal | Malformed] = [signal]
            if type(signal) is not Signal:
                return out  # a malformed message means nothing more
            chained = self._chained.get((key, after))
            if chained is None:
                chained = tuple(r for r in self.rules if f"{key}.{after}" in r.when)
                self._chained[(key, after)] = chained
            if chained:
                view[key] = {**facts, after: signal.name}
                for rule in chained:
                    then = rule.match(view, context)
                    if then is not None:
                        out.append(then)
                        break
            return out
        finally:
            if view is message:
                del view[key]

    def encode(self, command: str, context: Mapping[str, Any]) -> list[Any]:
        """The raw messages for ``command``, filled from ``context`` (arguments included).

        Raises:
            KeyError: the map has no template for the command.
            MissingContext: a template needs a value the context does not have.
        """
        return [template(context) for template in self._templates[command]]

    def redact(self, message: Any) -> Any:
        """A copy of ``message`` with every secret field's value replaced by ``***``."""
        if isinstance(message, Mapping):
            return {
                k: REDACTED if k in self.secrets else self.redact(v) for k, v in message.items()
            }
        if isinstance(message, list):
            return [self.redact(v) for v in message]
        return message


def load_vendor_map(path: str | os.PathLike[str], chart: Chart | None = None) -> VendorMap:
    """Load a vendor map; with ``chart``, also check every name against it.

    Raises:
        SpecError: listing every problem as ``FILE:LINE:COL: message``.
    """
    file = os.fspath(path)
    return _build(file, compose_file(file), chart)


def load_vendor_map_text(
    text: str, chart: Chart | None = None, file: str = "<string>"
) -> VendorMap:
    """Load a vendor map from YAML text (see ``load_vendor_map``).

    Raises:
        SpecError: listing every problem as ``FILE:LINE:COL: message``.
    """
    return _build(file, compose_text(text, file), chart)


def _build(file: str, root: yaml.Node | None, chart: Chart | None) -> VendorMap:
    r = NodeReader(file)
    top = r.mapping(root, "vendor map", allowed=_TOP_KEYS, required=("vendor", "chart"))
    vendor = r.string(top["vendor"][1], "vendor") if "vendor" in top else None
    chart_name = r.string(top["chart"][1], "chart") if "chart" in top else None
    if chart is not None and chart_name is not None and not chart.is_a(chart_name):
        # a map written for a chart serves every chart that extends it
        r.problem(
            top["chart"][1],
            f"map is written for chart {chart_name!r}, not {chart.name!r}"
            f" (a chart of your own fits it by 'extends: {chart_name}')",
        )
    description = r.string(top["description"][1], "description") if "description" in top else ""

    def names(key: str, kind: str, known: Mapping[str, Any] | None) -> list[str]:
        if key not in top:
            return []
        out = []
        for value, node in r.strings(top[key][1], key):
            if known is not None and value not in known:
                r.unknown_name(node, kind, value, known)
            out.append(value)
        return out

    commands_known = chart.commands if chart is not None else None
    signals_known = chart.signals if chart is not None else None
    unsupported = names("unsupported", "command", commands_known)
    local = names("local", "command", commands_known)
    secrets = names("secrets", "field", None)
    for name in local:
        spec = chart.commands.get(name) if chart is not None else None
        if name in unsupported:
            r.problem(top["local"][1], f"command {name!r} is both local and unsupported")
        if spec is not None and spec.local:
            r.problem(top["local"][1], f"command {name!r} is local in the chart already")
        elif spec is not None and spec.rule.confirm is None:
            r.problem(
                top["local"][1],
                f"command {name!r} has no confirm signal: done locally it would move nothing",
            )
    structured = frozenset(names("structured", "payload field", None))

    rules = []
    for item in r.sequence(top["signals"][1], "signals") if "signals" in top else []:
        body = r.mapping(item, "signal rule", allowed=_RULE_KEYS, required=("when", "signal"))
        if "signal" not in body or "when" not in body:
            continue
        signal = r.string(body["signal"][1], "signal rule signal")
        if signal is None:
            continue
        if signals_known is not None and signal not in signals_known:
            r.unknown_name(body["signal"][1], "signal", signal, signals_known)
        parts: dict[str, dict[str, Any]] = {}
        for key in ("when", "unless", "require", "payload", "set"):
            entries = r.mapping(body[key][1] if key in body else None, f"rule {signal!r} {key}")
            parts[key] = {k: r.plain(v) for k, (_, v) in entries.items()}
        for field, path in parts["payload"].items():
            if not isinstance(path, str):
                r.problem(
                    body["payload"][1], f"rule {signal!r} payload {field!r} must be a field path"
                )
        if signals_known is not None and signal in signals_known:
            declared = signals_known[signal].payload
            for key in ("payload", "set"):
                for field in parts[key]:
                    if field not in declared:
                        r.problem(
                            body[key][1],
                            f"rule {signal!r} {key} field {field!r} is not in the signal's"
                            f" payload ({', '.join(declared) or 'none declared'})",
                        )
        rules.append(
            SignalRule(
                signal=signal,
                when=MappingProxyType(parts["when"]),
                unless=MappingProxyType(parts["unless"]),
                payload=MappingProxyType(parts["payload"]),
                constants=MappingProxyType(parts["set"]),
                require=MappingProxyType(parts["require"]),
                structured=structured,
            )
        )

    commands: dict[str, tuple[Any, ...]] = {}
    for name, (key_node, value_node) in r.mapping(
        top["commands"][1] if "commands" in top else None, "commands"
    ).items():
        if commands_known is not None and name not in commands_known:
            r.unknown_name(key_node, "command", name, commands_known)
        if name in unsupported:
            r.problem(key_node, f"command {name!r} is both unsupported and mapped")
        if name in local:
            r.problem(key_node, f"command {name!r} is both local and mapped")
        if chart is not None and name in chart.commands and chart.commands[name].local:
            r.problem(key_node, f"command {name!r} is local in the chart: it sends nothing to map")
        value = r.plain(value_node)
        commands[name] = tuple(value) if isinstance(value, list) else (value,)
    if chart is not None:
        for name, spec in chart.commands.items():
            if spec.local and name in unsupported:
                r.problem(
                    top["unsupported"][1],
                    f"command {name!r} is local in the chart: every vendor does it",
                )
            if name not in commands and name not in unsupported and not spec.local:
                if name in local:
                    continue
                pos = top["commands"][0] if "commands" in top else None
                r.problem(pos, f"command {name!r} is neither mapped nor listed as unsupported")

    states: dict[str, str] = {}
    for name, (_, value_node) in r.mapping(
        top["states"][1] if "states" in top else None, "states"
    ).items():
        target = r.string(value_node, f"state {name!r}")
        if target is None:
            continue
        if chart is not None:
            try:
                target = chart.resolve(target)
            except KeyError:
                r.unknown_name(value_node, "chart state", target, chart.states)
        states[name] = target

    r.raise_if_problems()
    return VendorMap(
        vendor=vendor or "",
        chart=chart_name or "",
        unsupported=frozenset(unsupported),
        local=frozenset(local),
        secrets=frozenset(secrets),
        rules=tuple(rules),
        commands=MappingProxyType(commands),
        states=MappingProxyType(states),
        description=description or "",
        source=file,
        structured=structured,
    )


def vendor_map_path(vendor: str) -> str:
    """The path of the vendor map shipped with the package (``specs/vendors/<vendor>.yaml``)."""
    import importlib.resources

    return str(importlib.resources.files("cti_fsm.specs").joinpath("vendors", f"{vendor}.yaml"))
