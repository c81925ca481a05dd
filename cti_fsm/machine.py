"""The engine: a chart compiled once into tables, and a small machine per agent.

Sans-IO and h11-style: ``Machine.check`` validates a command against the tables and changes
nothing; ``Machine.apply`` looks a signal up in the current leaf's row and moves. All the
chart's structure (nesting, parent-declared transitions, history) is flattened at compile
time into one row per leaf state, so a step is a dict lookup and, for a signal without
payload, a precomputed ``Step``. No state name appears here: the chart decides everything.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .chart import ARG_TYPES, Chart, CommandRule, CommandSpec
from .errors import IllegalCommand, InvalidArguments, PermissionDenied, UnexpectedSignal

__all__ = ["Machine", "Notification", "Step", "compile_chart"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@attrs.frozen
class Notification:
    """An event for business code, by the seed's name (``onCallIn``), with its payload.

    Attributes:
        name: the notification's name as declared in the chart.
        payload: every field the chart declares for it (None where the signal gave none),
            plus the constants the transition sets (``result``).
    """

    name: str
    payload: Mapping[str, Any] = _EMPTY

    def __getitem__(self, field: str) -> Any:
        return self.payload[field]


@attrs.frozen
class Step:
    """What one signal did to a machine.

    Attributes:
        source: full state path before the signal.
        target: full state path after it (equal to ``source`` for an internal transition
            or an ignored signal).
        signal: the signal applied (None for a ``jump``).
        notifications: the notifications the transition emitted, in order.
        payload: the signal's payload.
        ignored: True if the state had no transition for the signal (nothing happened).
    """

    source: str
    target: str
    signal: str | None
    notifications: tuple[Notification, ...] = ()
    payload: Mapping[str, Any] = _EMPTY
    ignored: bool = False

    @property
    def changed(self) -> bool:
        """True if the machine moved to another leaf state."""
        return self.source != self.target

    @property
    def names(self) -> tuple[str, ...]:
        """The emitted notifications' names."""
        return tuple(n.name for n in self.notifications)


@attrs.frozen
class _Emit:
    name: str
    fields: tuple[str, ...]
    constants: Mapping[str, Any]

    def build(self, payload: Mapping[str, Any]) -> Notification:
        values = {f: payload.get(f) for f in self.fields}
        values.update(self.constants)
        return Notification(self.name, MappingProxyType(values))


@attrs.frozen
class _Edge:
    """One (leaf, signal) cell of the table. ``leaf`` < 0: the target has history and is
    resolved at run time from ``entry``; ``steps`` holds the no-payload Step per target."""

    signal: str
    source: int
    leaf: int
    entry: int
    emits: tuple[_Emit, ...]
    steps: Mapping[int, Step]


@attrs.frozen(eq=False)
class CompiledChart:
    """A chart flattened into per-leaf tables; shared by every machine of that chart.

    Attributes:
        leaves: full path of every leaf, by leaf number.
        rows: per leaf, ``{signal: edge}`` with parent-declared transitions merged in
            (a state's own transition wins over its ancestors').
    """

    chart: Chart
    leaves: tuple[str, ...]
    leaf_number: Mapping[str, int]
    rows: tuple[Mapping[str, _Edge], ...]
    #: per leaf, the history slots entering it records: (slot, child state number)
    marks: tuple[tuple[tuple[int, int], ...], ...]
    #: per state number: (full path, initial state number or -1, history slot or -1)
    nodes: tuple[tuple[str, int, int], ...]
    history_slots: int
    rule_leaves: Mapping[CommandRule, frozenset[int]]
    _allowed: dict[tuple[int, frozenset[str]], tuple[str, ...]] = attrs.field(factory=dict)

    def entry_leaf(self, node: int, history: list[int]) -> int:
        """The leaf entered when state ``node`` is entered, following history then initial."""
        path, initial, slot = self.nodes[node]
        while initial >= 0:
            node = history[slot] if slot >= 0 and history[slot] >= 0 else initial
            path, initial, slot = self.nodes[node]
        return self.leaf_number[path]

    def allowed(self, leaf: int, rights: frozenset[str]) -> tuple[str, ...]:
        """The commands sendable from ``leaf`` with ``rights``, in chart order (cached)."""
        key = (leaf, rights)
        found = self._allowed.get(key)
        if found is None:
            found = tuple(
                name
                for name, spec in self.chart.commands.items()
                if any(
                    leaf in self.rule_leaves[rule] and rule.rights <= rights for rule in spec.rules
                )
            )
            self._allowed[key] = found
        return found


_compiled: weakref.WeakKeyDictionary[Chart, CompiledChart] = weakref.WeakKeyDictionary()


def compile_chart(chart: Chart) -> CompiledChart:
    """Compile a chart into tables (once per chart object; later calls return the same)."""
    found = _compiled.get(chart)
    if found is None:
        found = _compiled[chart] = _compile(chart)
    return found


def _compile(chart: Chart) -> CompiledChart:
    paths = list(chart.states)
    number = {p: i for i, p in enumerate(paths)}
    slot_of = {p: i for i, p in enumerate(p for p, s in chart.states.items() if s.history)}
    nodes = tuple(
        (p, number[s.initial] if s.initial else -1, slot_of.get(p, -1))
        for p, s in chart.states.items()
    )
    leaves = chart.leaves()
    leaf_number = {p: i for i, p in enumerate(leaves)}

    marks = []
    for leaf in leaves:
        chain = chart.ancestors(leaf)
        marks.append(
            tuple(
                (slot_of[outer], number[inner])
                for inner, outer in itertools.pairwise(chain)
                if outer in slot_of
            )
        )

    emits_of = {
        id(t): tuple(
            _Emit(
                e.notification,
                chart.notifications[e.notification].fields,
                MappingProxyType(dict(e.constants)),
            )
            for e in t.emits
        )
        for t in chart.transitions()
    }

    rows = []
    for i, leaf in enumerate(leaves):
        row: dict[str, _Edge] = {}
        # innermost first, so a state's own transition shadows its ancestors'
        for state in chart.ancestors(leaf):
            for t in chart.transitions():
                if t.source != state or t.signal in row:
                    continue
                emits = emits_of[id(t)]
                if t.target is None:
                    static, entry, possible = i, -1, [i]
                else:
                    spec_has_history = any(
                        chart.states[s].history
                        for s in (t.target, *_descendants(chart, t.target))
                        if not chart.states[s].is_leaf
                    )
                    if spec_has_history:
                        static, entry = -1, number[t.target]
                        possible = [leaf_number[x] for x in leaves if chart.contains(t.target, x)]
                    else:
                        static = leaf_number[chart.default_leaf(t.target)]
                        entry, possible = -1, [static]
                steps = {
                    target: Step(
                        leaf,
                        leaves[target],
                        t.signal,
                        tuple(e.build(_EMPTY) for e in emits),
                    )
                    for target in possible
                }
                row[t.signal] = _Edge(t.signal, i, static, entry, emits, MappingProxyType(steps))
        rows.append(MappingProxyType(row))

    rule_leaves = {}
    for spec in chart.commands.values():
        for rule in spec.rules:
            rule_leaves[rule] = frozenset(
                leaf_number[x]
                for x in leaves
                if any(chart.contains(src, x) for src in rule.allowed_from)
            )
    return CompiledChart(
        chart=chart,
        leaves=leaves,
        leaf_number=MappingProxyType(leaf_number),
        rows=tuple(rows),
        marks=tuple(marks),
        nodes=nodes,
        history_slots=len(slot_of),
        rule_leaves=MappingProxyType(rule_leaves),
    )


def _descendants(chart: Chart, path: str) -> list[str]:
    return [p for p in chart.states if p != path and chart.contains(path, p)]


def _type_name(kind: str) -> str:
    return {"list": "a list (or comma-separated string)", "any": "anything"}.get(kind, f"a {kind}")


class Machine:
    """One agent's state under a chart: a leaf and its history, nothing else.

    >>> m = Machine(default_chart())
    >>> m.apply("logged_in").names
    ('onConnect',)

    Args:
        chart: a loaded chart (compiled on first use, then shared).
        rights: the rights this agent has (for commands that need them).
        strict: if True, ``apply`` raises ``UnexpectedSignal`` for a signal the current
            state does not handle, instead of reporting it as ignored.
        state: start here instead of the chart's initial state (full path or suffix).
    """

    __slots__ = ("_c", "_hist", "_leaf", "rights", "strict")

    def __init__(
        self,
        chart: Chart,
        *,
        rights: Iterable[str] = (),
        strict: bool = False,
        state: str | None = None,
    ) -> None:
        self._c = compile_chart(chart)
        self.rights = frozenset(rights)
        self.strict = strict
        self._hist: list[int] = [-1] * self._c.history_slots
        self._leaf = -1
        self._enter(state or chart.initial)

    # --- reading ----------------------------------------------------------------------------
    @property
    def chart(self) -> Chart:
        """The chart this machine runs."""
        return self._c.chart

    @property
    def state(self) -> str:
        """Full dotted path of the current leaf state, e.g. ``"checked_in.talking"``."""
        return self._c.leaves[self._leaf]

    def in_state(self, state: str) -> bool:
        """True if the current leaf is ``state`` or lies below it.

        Raises:
            KeyError: the chart has no such state.
        """
        return self._c.chart.contains(self._c.chart.resolve(state), self.state)

    @property
    def history(self) -> tuple[str | None, ...]:
        """Per history state (in chart order), the child it would resume, or None."""
        return tuple(self._c.nodes[i][0] if i >= 0 else None for i in self._hist)

    def allowed(self) -> tuple[str, ...]:
        """The commands that may be sent now (state and rights), in chart order."""
        return self._c.allowed(self._leaf, self.rights)

    def handles(self, signal: str) -> bool:
        """True if the current state has a transition for ``signal``."""
        return signal in self._c.rows[self._leaf]

    def handled(self) -> tuple[str, ...]:
        """The signals the current state has a transition for."""
        return tuple(self._c.rows[self._leaf])

    # --- commands ---------------------------------------------------------------------------
    def check(self, command: str, /, **args: Any) -> CommandRule:
        """Validate a command and its arguments against the chart; changes nothing.

        Returns:
            The rule that applies (its confirm and fail signals, its timeout).

        Raises:
            IllegalCommand: no such command, or not allowed in the current state.
            InvalidArguments: an argument is unknown, missing or of the wrong type.
            PermissionDenied: the command, or an argument given, needs rights this
                machine does not have.
        """
        spec = self._c.chart.commands.get(command)
        if spec is None:
            raise IllegalCommand(command=command, state=self.state, allowed=self.allowed())
        self._check_args(spec, args)
        rule = spec.rule_for(args)
        if self._leaf not in self._c.rule_leaves[rule]:
            raise IllegalCommand(command=command, state=self.state, allowed=self.allowed())
        missing = rule.rights - self.rights
        if missing:
            given = [a.name for a in spec.args if a.when_given is rule]
            why = f"with {given[0]!r}" if given else "itself"
            raise PermissionDenied(
                command=command, state=self.state, missing=sorted(missing), why=why
            )
        return rule

    def _check_args(self, spec: CommandSpec, args: Mapping[str, Any]) -> None:
        declared = {a.name: a for a in spec.args}
        for name in args:
            if name not in declared:
                takes = ", ".join(declared) or "no arguments"
                raise InvalidArguments(
                    f"command {spec.name!r} has no argument {name!r}; it takes: {takes}",
                    command=spec.name,
                    state=self.state,
                )
        for arg in spec.args:
            value = args.get(arg.name)
            if value is None:
                if arg.required:
                    raise InvalidArguments(
                        f"command {spec.name!r} needs argument {arg.name!r}",
                        command=spec.name,
                        state=self.state,
                    )
                continue
            types = ARG_TYPES[arg.type]
            if not isinstance(value, types) or (arg.type == "number" and isinstance(value, bool)):
                # the value itself is never shown: it may be a secret
                raise InvalidArguments(
                    f"argument {arg.name!r} of command {spec.name!r} must be"
                    f" {_type_name(arg.type)}, not {type(value).__name__}",
                    command=spec.name,
                    state=self.state,
                )

    # --- signals ----------------------------------------------------------------------------
    def apply(self, signal: str, /, **payload: Any) -> Step:
        """Apply a signal: move along the current state's transition for it.

        Returns:
            The step taken; ``step.ignored`` if the current state does not handle it.

        Raises:
            UnexpectedSignal: in strict mode, the current state does not handle it
                (the state is unchanged).
        """
        c = self._c
        edge = c.rows[self._leaf].get(signal)
        if edge is None:
            return self._ignore(signal, payload)
        target = edge.leaf
        if target < 0:
            target = c.entry_leaf(edge.entry, self._hist)
        if target != self._leaf:
            self._leaf = target
            for slot, child in c.marks[target]:
                self._hist[slot] = child
        if not payload:
            return edge.steps[target]
        frozen = MappingProxyType(payload)
        return Step(
            c.leaves[edge.source],
            c.leaves[target],
            signal,
            tuple(e.build(frozen) for e in edge.emits),
            frozen,
        )

    def _ignore(self, signal: str, payload: dict[str, Any]) -> Step:
        if self.strict:
            known = signal in self._c.chart.signals
            raise UnexpectedSignal(signal=signal, state=self.state, known=known)
        here = self.state
        return Step(here, here, signal, (), MappingProxyType(payload), ignored=True)

    def jump(self, state: str) -> Step:
        """Move straight to ``state`` (resynchronising with a server's snapshot).

        A composite state is entered as a transition would enter it (history, then
        initial). No notification is emitted: the caller knows what it resynchronised.

        Raises:
            KeyError: the chart has no such state.
        """
        source = self.state
        self._enter(state)
        return Step(source, self.state, None)

    def _enter(self, state: str) -> None:
        c = self._c
        path = c.chart.resolve(state)
        number = list(c.chart.states).index(path)
        leaf = c.entry_leaf(number, self._hist)
        self._leaf = leaf
        for slot, child in c.marks[leaf]:
            self._hist[slot] = child

    def copy(self) -> Machine:
        """An independent machine in the same state, with the same history and rights."""
        other = Machine.__new__(Machine)
        other._c = self._c
        other.rights = self.rights
        other.strict = self.strict
        other._hist = list(self._hist)
        other._leaf = self._leaf
        return other

    def __repr__(self) -> str:
        return f"<Machine {self._c.chart.name!r} state={self.state!r}>"
