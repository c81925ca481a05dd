"""A chart compiled into tables: one row per configuration, one cell per signal.

A configuration is the set of leaf states active at once: one leaf of the main regions,
plus one per parallel region that is active beside it. The compiler enumerates every
configuration and, for every signal some active state handles, works out once what the
signal does there: which transitions are selected (innermost first, document order, guards
on other regions' states and on settings decided here), what is exited and entered, which
notifications, timers and chart commands follow. What only the payload or the history can
decide (a guard on a field, a history state entered) is left to run time, where its
answer is remembered per distinct case, so even that path is a lookup after the first time.

Selection follows SCXML, simplified: each active leaf, in document order, picks the first
transition for the signal on itself or its nearest ancestor whose guards pass; duplicates
(a transition declared on a shared ancestor) count once; of two transitions that would
exit the same state, the one declared deeper wins, or else the first.

Timers: entering a state starts its timers, leaving it cancels them (a self-transition
does both); a timer whose duration the chart fixes at none (a constant 0, or a setting of
0) is never armed, so no step starts or cancels it.

A transition exits the states below its domain and enters its target: the domain is the
source when the target lies strictly below it, and otherwise the nearest state that
contains both strictly (so a self-transition re-enters its state). A state with parallel
regions is never exited by a transition that stays inside one of its parts (its main
children, or one region): the other parts carry on.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .chart import Chart, CommandRule, Guard, SendSpec, TransitionSpec, ValueRef
from .events import ChartCommand, Notification, Step, TimerChange

__all__ = ["MAX_CONFIGURATIONS", "CompiledChart", "Move", "compile_chart", "count_configurations"]

#: A chart whose regions multiply past this many configurations is refused by the loader.
MAX_CONFIGURATIONS = 20_000
_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: a named tuple made directly: no defaults to fill, no keywords to match
_new = tuple.__new__


@attrs.frozen
class _Emit:
    """A notification a transition emits, and ``build``: the function that makes it from a
    payload (a closure over the name, fields and constants: no attribute look-ups on the
    payload path)."""

    name: str
    fields: tuple[str, ...]
    constants: Mapping[str, Any]
    build: Callable[[Mapping[str, Any]], Notification] = attrs.field(init=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "build", _builder(self.name, self.fields, self.constants))


def _builder(
    name: str, fields: tuple[str, ...], constants: Mapping[str, Any]
) -> Callable[[Mapping[str, Any]], Notification]:
    extra = dict(constants)

    def build(payload: Mapping[str, Any]) -> Notification:
        get = payload.get
        # a loop, not a comprehension: on Python 3.11 a comprehension is a function call
        values = {}
        for field in fields:
            values[field] = get(field)
        if extra:
            values.update(extra)
        return _new(Notification, (name, MappingProxyType(values)))

    return build


class Row(dict[str, "Edge"]):
    """One configuration's row of the table, ``{signal: edge}``; it knows its number, so a
    machine holds its row alone and a move is one store."""

    __slots__ = ("config",)

    def __init__(self, config: int) -> None:
        super().__init__()
        self.config = config


@attrs.frozen(eq=False)
class Move:
    """Where one choice of transitions takes one configuration.

    Attributes:
        config: the configuration reached.
        keep, mark: the history update, ``hist = hist & keep | mark``.
        emits: the notifications, in order.
        timers: ``(timer id, seconds or None to cancel)``, cancels first.
        sends: the chart commands (their ``in`` guards already decided for ``config``).
        keeps: values to remember, by name.
        step: the Step for an empty payload with nothing kept; exact unless ``dynamic``.
        dynamic: the step depends on kept values (it must be built each time).
        simple: no timers and no sends: a payload only fills the notifications.
    """

    config: int
    keep: int
    mark: int
    emits: tuple[_Emit, ...]
    timers: tuple[tuple[str, ValueRef | None], ...]
    sends: tuple[SendSpec, ...]
    keeps: tuple[tuple[str, ValueRef], ...]
    step: Step
    dynamic: bool

    @property
    def simple(self) -> bool:
        return not self.timers and not self.sends


@attrs.define(eq=False)
class Edge:
    """One (configuration, signal) cell.

    An edge whose move is known here has ``move`` (and its ``row`` and ``step``); a
    ``plain`` one (the common case) also leaves history and kept values alone, so the
    machine stores ``row`` and returns ``step`` (or builds it from the payload). Other
    edges are resolved by ``resolve``: ``chains`` holds, per active leaf,
    the candidate transitions' run-time guards; the choice (and, where history decides
    the target, the history) keys a memo of moves.
    """

    signal: str
    source: int
    plain: bool
    row: Row | None
    step: Step | None
    move: Move | None
    chains: tuple[tuple[tuple[Guard, ...], ...], ...]
    compute: Callable[[tuple[int, ...], int], tuple[Move | None, bool]]
    memo: dict[Any, Move | None] = attrs.Factory(dict)
    #: for a plain edge: its move has no timers and no sends, and these are its emits,
    #: its source's and its target's main state
    simple: bool = False
    emits: tuple[_Emit, ...] = ()
    source_path: str = ""
    target_path: str = ""
    #: for an edge with no run-time guard whose target history decides: move by history
    by_history: dict[int, Move] | None = None

    def for_history(self, hist: int) -> Move:
        """The move of a guard-free edge whose target history decides, for ``hist``."""
        assert self.by_history is not None
        move, _ = self.compute(tuple(0 for _ in self.chains), hist)
        assert move is not None
        # bounded by the distinct history values the chart can hold
        self.by_history[hist] = move
        return move

    def resolve(self, hist: int, payload: Mapping[str, Any]) -> Move | None:
        """The move for this payload and history (None: no transition's guards passed)."""
        choice = tuple([_first_passing(chain, payload) for chain in self.chains])
        memo = self.memo
        if choice in memo:
            return memo[choice]
        key = (choice, hist)
        if key in memo:
            return memo[key]
        move, by_history = self.compute(choice, hist)
        # bounded: one entry per choice of candidates (and history value, where it counts)
        memo[key if by_history else choice] = move
        return move


def _first_passing(chain: tuple[tuple[Guard, ...], ...], payload: Mapping[str, Any]) -> int:
    for i, guards in enumerate(chain):
        if all(g.passes_value(payload.get(g.name)) for g in guards):
            return i
    return len(chain)


@attrs.frozen(eq=False)
class CompiledChart:
    """A chart flattened into per-configuration tables; shared by every machine of it.

    A machine holds its configuration's row and its history as one int: history slot
    ``k`` occupies ``history_bits`` bits at ``k * history_bits`` and holds the number of
    the child last active, plus one (0: the state was never entered).

    Attributes:
        configs: per configuration, its active leaves' state numbers, in state order.
        main: per configuration, the full path of its main leaf (``Machine.state``).
        active: per configuration, the full paths of every active state.
        rows: per configuration, ``{signal: edge}``. Shared: read only.
        paths: full path of every state, by state number.
    """

    chart: Chart
    paths: tuple[str, ...]
    state_number: Mapping[str, int]
    configs: tuple[tuple[int, ...], ...]
    config_number: Mapping[tuple[int, ...], int]
    main: tuple[str, ...]
    active: tuple[frozenset[str], ...]
    rows: tuple[Row, ...]
    marks: tuple[tuple[int, int], ...]
    history_shift: Mapping[int, int]
    history_bits: int
    initial_config: int
    rule_configs: Mapping[CommandRule, frozenset[int]]
    _allowed: dict[tuple[int, frozenset[str]], tuple[str, ...]] = attrs.field(factory=dict)

    def allowed(self, config: int, rights: frozenset[str]) -> tuple[str, ...]:
        """The commands sendable in ``config`` with ``rights``, in chart order (cached)."""
        key = (config, rights)
        found = self._allowed.get(key)
        if found is None:
            found = tuple(
                name
                for name, spec in self.chart.commands.items()
                if any(
                    config in self.rule_configs[rule] and rule.rights <= rights
                    for rule in spec.rules
                )
            )
            self._allowed[key] = found
        return found

    def enter(self, path: str, hist: int, config: int | None = None) -> int:
        """The configuration reached by entering ``path`` (a resync's jump).

        From ``config``, only the part of the nearest active state above ``path`` that
        holds it is left and entered again: regions beside it carry on (a jump to the call
        state the server names keeps the agent's next state). From nothing (None), the
        whole chart is entered.
        """
        chart = self.chart
        domain: int | None = None
        part = ""
        kept: list[int] = []
        if config is not None:
            active = self.active[config]
            outer = chart.states[path].parent
            while outer is not None and outer not in active:
                outer = chart.states[outer].parent
            if outer is not None:
                domain = self.state_number[outer]
                part = part_of(chart, outer, path)
                kept = [
                    leaf
                    for leaf in self.configs[config]
                    if not chart.contains(outer, self.paths[leaf])
                    or part_of(chart, outer, self.paths[leaf]) != part
                ]
        leaves, _ = _Entry(self).enter_path(domain, self.state_number[path], hist)
        return self.config_number[tuple(sorted([*kept, *leaves]))]

    def timers_of(self, config: int) -> tuple[str, ...]:
        """The ids of the timers of every state active in ``config`` that can be armed."""
        chart = self.chart
        settings = chart.settings
        return tuple(
            t.id
            for path in _in_order(self, self.active[config])
            for t in chart.states[path].timers
            if not t.seconds.constant
            or seconds_of(t.seconds.resolve(_EMPTY, None, settings)) is not None
        )


def _in_order(c: CompiledChart, paths: frozenset[str]) -> list[str]:
    return sorted(paths, key=c.state_number.__getitem__)


def part_of(chart: Chart, state: str, inner: str) -> str:
    """Which part of ``state`` holds ``inner``: a region's path, or "" for the main one."""
    for region in chart.states[state].regions:
        if chart.contains(region, inner):
            return region
    return ""


def count_configurations(chart: Chart) -> int:
    """How many configurations the chart's regions make (without building them)."""

    def count(path: str) -> int:
        spec = chart.states[path]
        if spec.is_leaf:
            return 1
        total = sum(count(c) for c in spec.children) if spec.children else 1
        for region in spec.regions:
            total *= count(region)
        return total

    return sum(count(p) for p, s in chart.states.items() if s.parent is None)


def compile_chart(chart: Chart) -> CompiledChart:
    """Compile a chart into tables (once per chart object; later calls return the same)."""
    found = chart._compiled
    if found is None:
        found = _Compiler(chart).build()
        # a cache, not state: the chart stays immutable for everything that reads it
        object.__setattr__(chart, "_compiled", found)
    assert isinstance(found, CompiledChart)
    return found


class _Entry:
    """Entering states: which leaves become active (history and initial children, every
    region), and whether history decided any of it."""

    def __init__(self, c: CompiledChart) -> None:
        self.c = c
        self.by_history = False

    def default(self, n: int, hist: int, out: list[int]) -> None:
        """Enter state ``n`` by default: its resumed or initial child, and every region."""
        c = self.c
        spec = c.chart.states[c.paths[n]]
        if spec.is_leaf:
            out.append(n)
            return
        if spec.children:
            self.default_main(n, hist, out)
        for region in spec.regions:
            self.default(c.state_number[region], hist, out)

    def default_main(self, n: int, hist: int, out: list[int]) -> None:
        """Enter the main part of state ``n``: the child history resumes, or its initial."""
        c = self.c
        spec = c.chart.states[c.paths[n]]
        child = -1
        shift = c.history_shift.get(n, -1)
        if shift >= 0:
            self.by_history = True
            last = (hist >> shift) & ((1 << c.history_bits) - 1)
            child = last - 1 if last else -1
        if child < 0:
            assert spec.initial is not None
            child = c.state_number[spec.initial]
        self.default(child, hist, out)

    def enter_path(self, domain: int | None, target: int, hist: int) -> tuple[list[int], list[int]]:
        """Enter ``target`` from just below ``domain``: the leaves now active there and the
        states entered (for their timers), outermost first."""
        c = self.c
        states = c.chart.states
        leaves: list[int] = []
        self.default(target, hist, leaves)
        node = target
        while True:
            parent_path = states[c.paths[node]].parent
            if parent_path is None or c.state_number[parent_path] == domain:
                break
            parent = c.state_number[parent_path]
            spec = states[parent_path]
            branch = c.paths[node]
            # the parent is entered with every part of it, not only the branch we came by
            if branch in spec.regions and spec.children:
                self.default_main(parent, hist, leaves)
            for region in spec.regions:
                if region != branch:
                    self.default(c.state_number[region], hist, leaves)
            node = parent
        active: set[int] = set()
        for leaf in leaves:
            p: str | None = c.paths[leaf]
            while p is not None and c.state_number[p] != domain:
                active.add(c.state_number[p])
                p = states[p].parent
        return leaves, sorted(active)


class _Compiler:
    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        self.paths = tuple(chart.states)
        self.number = {p: i for i, p in enumerate(self.paths)}
        history = [self.number[p] for p, s in chart.states.items() if s.history]
        self.bits = max(1, len(self.paths).bit_length())
        self.shift = {n: k * self.bits for k, n in enumerate(history)}
        # transitions by source state, then signal, in document order
        self.by_state: dict[str, dict[str, list[TransitionSpec]]] = {}
        for t in chart.transitions():
            self.by_state.setdefault(t.source, {}).setdefault(t.signal, []).append(t)
        self.emits: dict[int, tuple[_Emit, ...]] = {}
        # a timer whose duration is fixed by the chart at "none" is never armed: no step
        # starts or cancels it (a ring timer with ring_timeout_seconds 0)
        self.armable = {
            path: tuple(
                t
                for t in spec.timers
                if not t.seconds.constant
                or seconds_of(t.seconds.resolve(_EMPTY, None, chart.settings)) is not None
            )
            for path, spec in chart.states.items()
        }

    # --- configurations ---------------------------------------------------------------------
    def _configs(self, path: str) -> list[tuple[int, ...]]:
        spec = self.chart.states[path]
        if spec.is_leaf:
            return [(self.number[path],)]
        parts: list[list[tuple[int, ...]]] = []
        if spec.children:
            parts.append([c for child in spec.children for c in self._configs(child)])
        parts.extend(self._configs(r) for r in spec.regions)
        return [tuple(sorted(itertools.chain(*combo))) for combo in itertools.product(*parts)]

    def build(self) -> CompiledChart:
        chart = self.chart
        configs = [c for p, s in chart.states.items() if s.parent is None for c in self._configs(p)]
        config_number = {c: i for i, c in enumerate(configs)}
        actives = [frozenset(self._ancestors_of(c)) for c in configs]
        mains = [self.paths[c[0]] for c in configs]
        marks = [self._marks(c) for c in configs]
        rows = [Row(i) for i in range(len(configs))]
        rule_configs = {}
        for spec in chart.commands.values():
            for rule in spec.rules:
                sources = set(rule.allowed_from)
                rule_configs[rule] = frozenset(
                    i for i, act in enumerate(actives) if not sources.isdisjoint(act)
                )
        compiled = CompiledChart(
            chart=chart,
            paths=self.paths,
            state_number=MappingProxyType(self.number),
            configs=tuple(configs),
            config_number=MappingProxyType(config_number),
            main=tuple(mains),
            active=tuple(actives),
            rows=tuple(rows),
            marks=tuple(marks),
            history_shift=MappingProxyType(self.shift),
            history_bits=self.bits,
            initial_config=0,
            rule_configs=MappingProxyType(rule_configs),
        )
        object.__setattr__(compiled, "initial_config", compiled.enter(chart.initial, 0))
        self.c = compiled
        for i, config in enumerate(configs):
            self._fill_row(i, config, actives[i])
        return compiled

    def _ancestors_of(self, config: tuple[int, ...]) -> set[str]:
        out: set[str] = set()
        for leaf in config:
            out.update(self.chart.ancestors(self.paths[leaf]))
        return out

    def _marks(self, config: tuple[int, ...]) -> tuple[int, int]:
        keep, mark = -1, 0
        slot = (1 << self.bits) - 1
        states = self.chart.states
        for leaf in config:
            for inner, outer in itertools.pairwise(self.chart.ancestors(self.paths[leaf])):
                n = self.number[outer]
                if n in self.shift and not states[inner].is_region:
                    keep &= ~(slot << self.shift[n])
                    mark |= (self.number[inner] + 1) << self.shift[n]
        return keep, mark

    # --- rows -------------------------------------------------------------------------------
    def _fill_row(self, i: int, config: tuple[int, ...], active: frozenset[str]) -> None:
        chart = self.chart
        signals: dict[str, None] = {}
        for path in sorted(active, key=self.number.__getitem__):
            for signal in self.by_state.get(path, ()):
                signals[signal] = None
        row = self.c.rows[i]
        for signal in signals:
            chains: list[list[tuple[TransitionSpec, tuple[Guard, ...]]]] = []
            for leaf in config:
                chain: list[tuple[TransitionSpec, tuple[Guard, ...]]] = []
                for state in chart.ancestors(self.paths[leaf]):
                    for t in self.by_state.get(state, {}).get(signal, ()):
                        runtime = self._decide(t.guards, active)
                        if runtime is None:
                            continue  # a guard known here fails
                        chain.append((t, runtime))
                        if not runtime:
                            break
                    if chain and not chain[-1][1]:
                        break
                chains.append(chain)
            self._add_edge(row, i, signal, chains)

    def _decide(
        self, guards: tuple[Guard, ...], active: frozenset[str]
    ) -> tuple[Guard, ...] | None:
        """The guards left for run time, or None if one decided here fails."""
        left = []
        settings = self.chart.settings
        for g in guards:
            if g.kind == "in":
                if not g.passes_states(active):
                    return None
            elif g.kind == "setting":
                if not g.passes_value(settings.get(g.name)):
                    return None
            else:
                left.append(g)
        return tuple(left)

    def _add_edge(
        self,
        row: Row,
        i: int,
        signal: str,
        chains: list[list[tuple[TransitionSpec, tuple[Guard, ...]]]],
    ) -> None:
        static = all(len(ch) <= 1 and not (ch and ch[0][1]) for ch in chains)
        runtime_chains = tuple(tuple(g for _t, g in ch) for ch in chains)

        def compute(choice: tuple[int, ...], hist: int) -> tuple[Move | None, bool]:
            picked = [ch[k][0] for ch, k in zip(chains, choice, strict=True) if k < len(ch)]
            return self._move(i, signal, picked, hist)

        edge = Edge(
            signal=signal,
            source=i,
            plain=False,
            row=None,
            step=None,
            move=None,
            chains=runtime_chains,
            compute=compute,
        )
        if not any(chains):
            return  # every candidate's guard fails here: the signal is not handled
        if static:
            choice = tuple(0 for _ in chains)
            move, by_history = compute(choice, 0)
            if move is not None and by_history:
                edge.by_history = {}
            if move is not None and not by_history:
                edge.memo[choice] = move
                edge.row = self.c.rows[move.config]
                edge.step = move.step
                edge.move = move
                edge.plain = move.mark == 0 and not move.dynamic and not move.keeps
                edge.simple = move.simple
                edge.emits = move.emits
                edge.source_path, edge.target_path = move.step.source, move.step.target
        row[signal] = edge

    def _move(
        self, i: int, signal: str, picked: list[TransitionSpec], hist: int
    ) -> tuple[Move | None, bool]:
        """Apply the picked transitions to configuration ``i``."""
        c = self.c
        chart = self.chart
        selected: list[tuple[TransitionSpec, tuple[int | None, str]]] = []
        # a shared ancestor's transition counts once (by identity: specs hold mappings)
        for t in {id(t): t for t in picked}.values():
            scope = self._domain(t) if t.target is not None else (None, "")
            entry = (t, scope)
            clash = next(
                (k for k, (s, d) in enumerate(selected) if self._conflict(s, d, t, scope, i)),
                None,
            )
            if clash is None:
                selected.append(entry)
            elif chart.contains(selected[clash][0].source, t.source) and (
                selected[clash][0].source != t.source
            ):
                selected[clash] = entry  # the deeper declaration wins
        if not selected:
            return None, False
        leaves = list(c.configs[i])
        exited: list[int] = []
        entered: list[int] = []
        walker = _Entry(c)
        for t, (domain, part) in selected:
            if t.target is None:
                continue
            below = [leaf for leaf in leaves if self._exits(domain, part, leaf)]
            gone = set()
            for leaf in below:
                p: str | None = self.paths[leaf]
                while p is not None and self.number[p] != domain:
                    gone.add(self.number[p])
                    p = chart.states[p].parent
            exited.extend(sorted(gone, reverse=True))
            leaves = [leaf for leaf in leaves if leaf not in below]
            new_leaves, new_states = walker.enter_path(domain, self.number[t.target], hist)
            leaves.extend(new_leaves)
            entered.extend(new_states)
        config = c.config_number[tuple(sorted(leaves))]
        keep, mark = c.marks[config] if entered else (-1, 0)
        timers: list[tuple[str, ValueRef | None]] = []
        for n in exited:
            timers.extend((t.id, None) for t in self.armable[self.paths[n]])
        for n in entered:
            timers.extend((t.id, t.seconds) for t in self.armable[self.paths[n]])
        emits = tuple(e for t, _d in selected for e in self._emits_of(t))
        active_after = c.active[config]
        sends = tuple(
            s
            for t, _d in selected
            for s in t.sends
            if self._decide(tuple(g for g in s.when if g.kind != "field"), active_after) is not None
        )
        keeps = tuple(kv for t, _d in selected for kv in t.keeps.items())
        dynamic = any(
            kind == "kept" for s in sends for v in s.args.values() for kind, _n in v.sources
        ) or any(kind == "kept" for _id, v in timers if v is not None for kind, _n in v.sources)
        source, target = c.main[i], c.main[config]
        move = Move(
            config=config,
            keep=keep,
            mark=mark,
            emits=emits,
            timers=tuple(timers),
            sends=sends,
            keeps=keeps,
            step=Step(source, target, signal),
            dynamic=dynamic,
        )
        object.__setattr__(
            move, "step", build_step(move, source, target, signal, _EMPTY, None, chart)
        )
        return move, walker.by_history

    def _emits_of(self, t: TransitionSpec) -> tuple[_Emit, ...]:
        key = id(t)
        found = self.emits.get(key)
        if found is None:
            notes = self.chart.notifications
            found = self.emits[key] = tuple(
                _Emit(
                    e.notification,
                    notes[e.notification].fields,
                    MappingProxyType(dict(e.constants)),
                )
                for e in t.emits
            )
        return found

    def _domain(self, t: TransitionSpec) -> tuple[int | None, str]:
        """The state whose part the transition exits and enters (None: the whole chart),
        and which part of it: a region's path, or "" for its main children."""
        chart = self.chart
        assert t.target is not None
        source, target = t.source, t.target
        if target != source and chart.contains(source, target):
            return self.number[source], self._part(source, target)
        # the nearest state strictly containing both
        anc = chart.states[source].parent
        while anc is not None and not (chart.contains(anc, target) and anc != target):
            anc = chart.states[anc].parent
        # in two parts of a state with regions, the state itself is left and re-entered
        while anc is not None and self._part(anc, source) != self._part(anc, target):
            anc = chart.states[anc].parent
        if anc is None:
            return None, ""
        return self.number[anc], self._part(anc, target)

    def _part(self, state: str, inner: str) -> str:
        return part_of(self.chart, state, inner)

    def _exits(self, domain: int | None, part: str, leaf: int) -> bool:
        """True if a transition of this domain and part leaves ``leaf``."""
        if domain is None:
            return True
        path = self.paths[domain]
        inner = self.paths[leaf]
        if not self.chart.contains(path, inner) or domain == leaf:
            return False
        return self._part(path, inner) == part

    def _conflict(
        self,
        a: TransitionSpec,
        da: tuple[int | None, str],
        b: TransitionSpec,
        db: tuple[int | None, str],
        config: int,
    ) -> bool:
        """True if both would exit some same active state."""
        if a.target is None or b.target is None:
            return False
        leaves = self.c.configs[config]
        return any(self._exits(*da, leaf) and self._exits(*db, leaf) for leaf in leaves)


def seconds_of(value: Any) -> float | None:
    """A timer's duration, or None: a value of 0, none or not a number arms nothing."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def build_step(
    move: Move,
    source: str,
    target: str,
    signal: str | None,
    payload: Mapping[str, Any],
    kept: Mapping[str, Any] | None,
    chart: Chart,
) -> Step:
    """The step a move makes for this payload and these kept values."""
    settings = chart.settings
    timers = []
    for timer_id, seconds in move.timers:
        if seconds is None:
            timers.append(TimerChange(timer_id))
            continue
        value = seconds_of(seconds.resolve(payload, kept, settings))
        if value is not None:
            timers.append(TimerChange(timer_id, value))
    commands = []
    for send in move.sends:
        if not all(g.passes_value(payload.get(g.name)) for g in send.when if g.kind == "field"):
            continue
        args = {name: ref.resolve(payload, kept, settings) for name, ref in send.args.items()}
        commands.append(
            ChartCommand(
                send.command, MappingProxyType({k: v for k, v in args.items() if v is not None})
            )
        )
    return Step(
        source,
        target,
        signal,
        tuple([e.build(payload) for e in move.emits]),
        payload,
        timers=tuple(timers),
        commands=tuple(commands),
    )
