"""The engine: a chart compiled once into tables, and a small machine per agent.

Sans-IO and h11-style: ``Machine.check`` validates a command against the tables and changes
nothing; ``Machine.apply`` looks a signal up in the current leaf's row and moves. All the
chart's structure (nesting, parent-declared transitions, history) is flattened at compile
time into one row per leaf state, so a step is a dict lookup and, for a signal without
payload, a precomputed ``Step``. No state name appears here: the chart decides everything.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .chart import ARG_TYPES, Chart, CommandRule, CommandSpec
from .errors import IllegalCommand, InvalidArguments, PermissionDenied, UnexpectedSignal
from .events import Notification, Step

__all__ = ["Machine", "Notification", "Step", "compile_chart"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_NO_RIGHTS: frozenset[str] = frozenset()


@attrs.frozen
class _Emit:
    name: str
    fields: tuple[str, ...]
    constants: Mapping[str, Any]

    def build(self, payload: Mapping[str, Any]) -> Notification:
        values = {f: payload.get(f) for f in self.fields}
        values.update(self.constants)
        return Notification(self.name, MappingProxyType(values))


class _Row(dict[str, "_Edge"]):
    """One leaf's row of the table, ``{signal: edge}``; it knows its leaf, so a machine
    holds its row alone and a move is one store."""

    __slots__ = ("leaf",)

    def __init__(self, leaf: int) -> None:
        super().__init__()
        self.leaf = leaf


@attrs.frozen
class _Edge:
    """One (leaf, signal) cell of the table.

    For a target known at compile time (``leaf`` >= 0), the machine's whole move is
    precomputed: the target's ``row``, the history update (``hist & keep | mark``) and the
    ``step`` to return when the signal has no payload; ``plain`` says history is left
    as it is, so the move is just ``row``. A target with history below it (``leaf`` < 0)
    is resolved at run time from ``entry``; ``steps`` holds the no-payload Step of every
    leaf it can resolve to, and ``row``, ``keep``, ``mark`` and ``step`` are not used.
    """

    signal: str
    source: int
    leaf: int
    entry: int
    emits: tuple[_Emit, ...]
    steps: Mapping[int, Step]
    row: _Row
    keep: int
    mark: int
    step: Step
    plain: bool


@attrs.frozen(eq=False)
class CompiledChart:
    """A chart flattened into per-leaf tables; shared by every machine of that chart.

    A machine holds its current leaf's row (which knows its leaf number) and its history
    as one int: history slot ``k`` occupies ``history_bits`` bits at ``k * history_bits``
    and holds the number of the child last active, plus one (0: the state was never
    entered). An int and a shared row keep a machine small and cheap to create (no
    per-machine container for the garbage collector to walk).

    Attributes:
        leaves: full path of every leaf, by leaf number.
        rows: per leaf, ``{signal: edge}`` with parent-declared transitions merged in
            (a state's own transition wins over its ancestors'). Shared: read only.
        marks: per leaf, ``(keep, mark)``: entering it sets ``hist = hist & keep | mark``.
        nodes: per state number, (full path, initial state number or -1, history shift
            or -1).
    """

    chart: Chart
    leaves: tuple[str, ...]
    leaf_number: Mapping[str, int]
    state_number: Mapping[str, int]
    rows: tuple[_Row, ...]
    marks: tuple[tuple[int, int], ...]
    nodes: tuple[tuple[str, int, int], ...]
    history_slots: int
    history_bits: int
    initial_leaf: int
    rule_leaves: Mapping[CommandRule, frozenset[int]]
    _allowed: dict[tuple[int, frozenset[str]], tuple[str, ...]] = attrs.field(factory=dict)

    def entry_leaf(self, node: int, history: int) -> int:
        """The leaf entered when state ``node`` is entered, following history then initial."""
        mask = (1 << self.history_bits) - 1
        path, initial, shift = self.nodes[node]
        while initial >= 0:
            last = (history >> shift) & mask if shift >= 0 else 0
            node = last - 1 if last else initial
            path, initial, shift = self.nodes[node]
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


def compile_chart(chart: Chart) -> CompiledChart:
    """Compile a chart into tables (once per chart object; later calls return the same)."""
    found = chart._compiled
    if found is None:
        found = _compile(chart)
        # a cache, not state: the chart stays immutable for everything that reads it
        object.__setattr__(chart, "_compiled", found)
    assert isinstance(found, CompiledChart)
    return found


def _compile(chart: Chart) -> CompiledChart:
    paths = list(chart.states)
    number = {p: i for i, p in enumerate(paths)}
    history_states = [p for p, s in chart.states.items() if s.history]
    bits = max(1, len(paths).bit_length())
    shift_of = {p: k * bits for k, p in enumerate(history_states)}
    slot_mask = (1 << bits) - 1
    nodes = tuple(
        (p, number[s.initial] if s.initial else -1, shift_of.get(p, -1))
        for p, s in chart.states.items()
    )
    leaves = chart.leaves()
    leaf_number = {p: i for i, p in enumerate(leaves)}

    marks = []
    for leaf in leaves:
        keep, mark = -1, 0
        for inner, outer in itertools.pairwise(chart.ancestors(leaf)):
            if outer in shift_of:
                keep &= ~(slot_mask << shift_of[outer])
                mark |= (number[inner] + 1) << shift_of[outer]
        marks.append((keep, mark))

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

    # every row exists before any edge, so an edge can point at its target's row
    rows = [_Row(i) for i in range(len(leaves))]
    for i, leaf in enumerate(leaves):
        row = rows[i]
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
                # an internal transition leaves history as it is
                keep, mark = marks[static] if t.target is not None and static >= 0 else (-1, 0)
                # (with history below the target, these three are placeholders, never read)
                known = static if static >= 0 else possible[0]
                row[t.signal] = _Edge(
                    signal=t.signal,
                    source=i,
                    leaf=static,
                    entry=entry,
                    emits=emits,
                    steps=MappingProxyType(steps),
                    row=rows[known],
                    keep=keep,
                    mark=mark,
                    step=steps[known],
                    plain=static >= 0 and mark == 0,
                )

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
        state_number=MappingProxyType(number),
        rows=tuple(rows),
        marks=tuple(marks),
        nodes=nodes,
        history_slots=len(history_states),
        history_bits=bits,
        initial_leaf=leaf_number[chart.default_leaf(chart.initial)],
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

    Raises:
        KeyError: ``state`` is not a state of the chart.
        TypeError: ``rights`` is a string (write ``["supervisor"]``).
    """

    __slots__ = ("_c", "_hist", "_row", "rights", "strict")

    def __init__(
        self,
        chart: Chart,
        *,
        rights: Iterable[str] = (),
        strict: bool = False,
        state: str | None = None,
    ) -> None:
        if isinstance(rights, str):
            # a string is an iterable of one-letter "rights": never what was meant
            raise TypeError(f"rights must be a collection of names, not the string {rights!r}")
        c = self._c = compile_chart(chart)
        # the shared empty set: most agents have no rights, and a set each costs 200 bytes
        self.rights = frozenset(rights) or _NO_RIGHTS
        self.strict = strict
        self._hist = 0
        if state is None:
            self._row = c.rows[c.initial_leaf]
            self._hist = c.marks[c.initial_leaf][1]
        else:
            self._enter(state)

    # --- reading ----------------------------------------------------------------------------
    @property
    def chart(self) -> Chart:
        """The chart this machine runs."""
        return self._c.chart

    @property
    def state(self) -> str:
        """Full dotted path of the current leaf state, e.g. ``"checked_in.talking"``."""
        return self._c.leaves[self._row.leaf]

    def in_state(self, state: str) -> bool:
        """True if the current leaf is ``state`` or lies below it.

        Raises:
            KeyError: the chart has no such state.
        """
        return self._c.chart.contains(self._c.chart.resolve(state), self.state)

    @property
    def history(self) -> tuple[str | None, ...]:
        """Per history state (in chart order), the child it would resume, or None."""
        c = self._c
        mask = (1 << c.history_bits) - 1
        out = []
        for _path, _initial, shift in c.nodes:
            if shift >= 0:
                last = (self._hist >> shift) & mask
                out.append(c.nodes[last - 1][0] if last else None)
        return tuple(out)

    @property
    def configuration(self) -> tuple[int, int]:
        """The machine's whole state as one opaque, hashable value.

        Two machines of the same chart and rights with equal configurations behave the same
        from now on: the value covers the current leaf and what every history state would
        resume. Cheap to take; meant for comparing and for search (visited sets).
        """
        return (self._row.leaf, self._hist)

    def allowed(self) -> tuple[str, ...]:
        """The commands that may be sent now (state and rights), in chart order."""
        return self._c.allowed(self._row.leaf, self.rights)

    def handles(self, signal: str) -> bool:
        """True if the current state has a transition for ``signal``."""
        return signal in self._row

    def handled(self) -> tuple[str, ...]:
        """The signals the current state has a transition for."""
        return tuple(self._row)

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
        leaf = self._row.leaf
        if leaf not in self._c.rule_leaves[rule]:
            # allowed() may list it all the same, for an argument that selects another rule
            # (pause(agent_id=...)); say which, or the message contradicts itself
            with_args = [
                repr(a.name)
                for a in spec.args
                if a.when_given is not None
                and a.when_given is not rule
                and leaf in self._c.rule_leaves[a.when_given]
                and a.when_given.rights <= self.rights
            ]
            hint = f"here it needs argument {' or '.join(with_args)}" if with_args else ""
            raise IllegalCommand(
                command=command, state=self.state, allowed=self.allowed(), hint=hint
            )
        missing = rule.rights - self.rights
        if missing:
            given = [a.name for a in spec.args if a.when_given is rule]
            why = f"with {given[0]!r}" if given else "itself"
            raise PermissionDenied(
                command=command, state=self.state, missing=sorted(missing), why=why
            )
        return rule

    def _check_args(self, spec: CommandSpec, args: Mapping[str, Any]) -> None:
        if args:
            declared = [a.name for a in spec.args]
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
        # the hot path: a move known at compile time that leaves history alone is one
        # store, and without payload its Step is precomputed
        edge = self._row.get(signal)
        if edge is None:
            return self._ignore(signal, payload)
        if edge.plain:
            self._row = edge.row
            if not payload:
                return edge.step
            return self._with_payload(edge, edge.leaf, payload)
        if edge.leaf >= 0:
            leaf = edge.leaf
            self._row = edge.row
            self._hist = self._hist & edge.keep | edge.mark
            step = edge.step
        else:
            leaf = self._move(self._c.entry_leaf(edge.entry, self._hist))
            step = edge.steps[leaf]
        return self._with_payload(edge, leaf, payload) if payload else step

    def _with_payload(self, edge: _Edge, leaf: int, payload: dict[str, Any]) -> Step:
        frozen = MappingProxyType(payload)
        leaves = self._c.leaves
        return Step(
            leaves[edge.source],
            leaves[leaf],
            edge.signal,
            tuple([e.build(frozen) for e in edge.emits]),
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
        number = c.state_number[c.chart.resolve(state)]
        self._move(c.entry_leaf(number, self._hist))

    def _move(self, leaf: int) -> int:
        c = self._c
        self._row = c.rows[leaf]
        keep, mark = c.marks[leaf]
        self._hist = self._hist & keep | mark
        return leaf

    def copy(self) -> Machine:
        """An independent machine in the same state, with the same history and rights."""
        other = Machine.__new__(Machine)
        other._c = self._c
        other.rights = self.rights
        other.strict = self.strict
        other._hist = self._hist
        other._row = self._row
        return other

    def __repr__(self) -> str:
        return f"<Machine {self._c.chart.name!r} state={self.state!r}>"
