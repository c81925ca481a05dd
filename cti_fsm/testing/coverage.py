"""Chart transition coverage: which transitions of the chart a run exercised.

A *chart transition* (a cell) is one thing a machine can do, at the level of leaf states
(where a machine actually is; a transition declared on a parent state is one cell per
leaf below it, since each leaf can take it, a parallel region's leaves included):

- ``(leaf, signal)`` for every transition the leaf can select for a signal in some
  configuration, counted when ``Machine.apply`` takes it (an ignored signal is not a
  transition). A guarded transition is a cell of its own, named after the signal and
  its guards (``next_state_set when next is ready``); an unguarded one after a guarded
  one for the same leaf is ``<signal> otherwise``; a signal with one unguarded transition
  per leaf is just its name. A delayed transition's synthetic signal
  (``<state>.after.<i>``) counts like any signal;
- ``(state, timer)`` for every timer that can be armed (one whose duration is not a
  constant of zero), counted when ``Machine.fire`` takes it;
- ``(leaf, command)`` for every command some rule of the chart allows from the
  leaf in some configuration (the main leaf, or a region's leaf when the rule names only
  states of a region), counted when ``Machine.check`` accepts it. A command whose
  argument selects another rule (``pause(agent_id=...)`` acts on another agent) has one
  cell per rule, named ``pause(agent_id)``; rights are ignored when counting the cells,
  so a run without the ``supervisor`` right cannot reach 100%.

``Coverage`` observes every ``Machine`` of its chart while it is active by wrapping
``Machine.apply``, ``Machine.fire`` and ``Machine.check`` on the class, and restores the
originals when the last active ``Coverage`` stops: nothing is slowed down outside a
coverage run. ``ChartsCoverage`` observes every chart machines run, one ``Coverage`` per
chart (what ``pytest --chart-coverage`` reports). Runners that do not go through
``Machine`` can call ``mark_signal``/``mark_command``.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import attrs

from ..chart import Chart, CommandRule, CommandSpec, Guard, TransitionSpec
from ..chart_loader import default_chart
from ..compiler import compile_chart
from ..machine import Machine, Step

__all__ = [
    "ChartTransition",
    "ChartsCoverage",
    "CommandVariant",
    "Coverage",
    "chart_transitions",
    "command_variants",
]

#: The order of a leaf's cells: signals, timers, commands.
KINDS = ("signal", "timer", "command")


@attrs.frozen(order=True, cache_hash=True)  # cells live in sets, hashed many times
class ChartTransition:
    """One cell: a transition a leaf can take for a signal, a timer, or a command rule.

    Attributes:
        state: full path of the leaf state (the timer's state, for a timer).
        kind: ``"signal"``, ``"timer"`` or ``"command"``.
        name: the signal's name, with its guards for a guarded transition
            (``next_state_set when next is ready``); the timer's id; the command's
            (``pause(agent_id)`` for the rule an argument selects).
    """

    state: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.state}: {self.kind} {self.name}"


@attrs.frozen
class CommandVariant:
    """One rule of a command: its own, or the one an argument selects when given.

    Attributes:
        command: the command's name.
        label: ``command`` for its own rule, ``command(arg)`` for an argument's rule.
        rule: the rule itself.
        arg: the argument that selects this rule (None for the command's own rule).
        leaves: the main leaves the rule allows the command from, in some configuration.
    """

    command: str
    label: str
    rule: CommandRule
    arg: str | None
    leaves: frozenset[str]

    def allows(self, machine: Machine) -> bool:
        """True if the rule allows the command in the machine's configuration (rights
        aside): some state it names is active, in the main region or in a region."""
        return any(machine.in_state(s) for s in self.rule.allowed_from)


def command_variants(chart: Chart) -> tuple[CommandVariant, ...]:
    """Every rule of every command, in chart order, with the main leaves it allows."""
    out = []
    c = compile_chart(chart)
    for spec in chart.commands.values():
        for arg, rule in _rules(spec):
            allowed = frozenset(c.main[i] for i in c.rule_configs[rule])
            label = spec.name if arg is None else f"{spec.name}({arg})"
            out.append(CommandVariant(spec.name, label, rule, arg, allowed))
    return tuple(out)


def _rules(spec: CommandSpec) -> Iterator[tuple[str | None, CommandRule]]:
    yield None, spec.rule
    for arg in spec.args:
        if arg.when_given is not None:
            yield arg.name, arg.when_given


def variant_label(spec: CommandSpec, args: Mapping[str, Any]) -> str:
    """The label of the rule ``args`` select for ``spec`` (see ``CommandVariant``)."""
    for arg in spec.args:
        if arg.when_given is not None and args.get(arg.name) is not None:
            return f"{spec.name}({arg.name})"
    return spec.name


def _passes(
    g: Guard, active: frozenset[str], payload: Mapping[str, Any], settings: Mapping[str, Any]
) -> bool:
    if g.kind == "in":
        return g.passes_states(active)
    return g.passes_value((payload if g.kind == "field" else settings).get(g.name))


def _armable(chart: Chart, timer: str) -> bool:
    seconds = chart.timers[timer].seconds
    if not seconds.constant:
        return True
    value = seconds.resolve({}, None, chart.settings)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


class Cells:
    """A chart's cells, and which cells a step or a command takes (see the module
    docstring). Built once per chart (``cells_of``)."""

    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        c = compile_chart(chart)
        states = chart.states
        by_state: dict[str, dict[str, list[TransitionSpec]]] = {}
        for t in chart.transitions():
            by_state.setdefault(t.source, {}).setdefault(t.signal, []).append(t)
        #: per (leaf, signal): the candidates on the leaf and its ancestors, innermost first
        self.chains: dict[tuple[str, str], tuple[TransitionSpec, ...]] = {}
        for leaf in chart.all_leaves():
            found: dict[str, list[TransitionSpec]] = {}
            # a region's leaf counts the transitions written in its region; those above
            # it are the main leaf's cells (both take them)
            region = next((p for p in chart.ancestors(leaf) if states[p].is_region), None)
            for state in chart.ancestors(leaf):
                if region is not None and not chart.contains(region, state):
                    break
                for signal, ts in by_state.get(state, {}).items():
                    found.setdefault(signal, []).extend(ts)
            for signal, ts in found.items():
                self.chains[leaf, signal] = tuple(ts)
        settings = chart.settings
        reachable: dict[tuple[str, str], dict[int, TransitionSpec]] = {}
        commands: set[tuple[str, str]] = set()
        variants = command_variants(chart)
        self.variants = {v.label: v for v in variants}
        for config, active in zip(c.configs, c.active, strict=True):
            leaves = [c.paths[n] for n in config]
            for leaf in leaves:
                for signal in chart.signals:
                    for t in self.chains.get((leaf, signal), ()):
                        static = [g for g in t.guards if g.kind != "field"]
                        if not all(_passes(g, active, {}, settings) for g in static):
                            continue
                        reachable.setdefault((leaf, signal), {})[id(t)] = t
                        if len(static) == len(t.guards):
                            break
            for v in variants:
                for state in self._command_states(leaves, v.rule):
                    commands.add((state, v.label))
        self._labels: dict[tuple[str, int], str] = {}
        cells: list[ChartTransition] = []
        for (leaf, signal), picks in reachable.items():
            used: set[str] = set()
            for t in picks.values():
                if t.guards:
                    label = f"{signal} when {' and '.join(str(g) for g in t.guards)}"
                else:
                    label = f"{signal} otherwise" if len(picks) > 1 else signal
                if label in used and t.position is not None:
                    label += f" (line {t.position.line})"
                used.add(label)
                self._labels[leaf, id(t)] = label
                cells.append(ChartTransition(leaf, "signal", label))
        cells.extend(ChartTransition(leaf, "command", label) for leaf, label in commands)
        cells.extend(
            ChartTransition(t.state, "timer", t.id)
            for t in chart.timers.values()
            if _armable(chart, t.id)
        )
        order = {p: i for i, p in enumerate(states)}
        signal_order = {s: i for i, s in enumerate(chart.signals)}
        command_order = {v.label: i for i, v in enumerate(variants)}
        timer_order = {t: i for i, t in enumerate(chart.timers)}

        def key(cell: ChartTransition) -> tuple[int, int, int, str]:
            if cell.kind == "signal":
                rank = signal_order.get(cell.name.split(" ", 1)[0], -1)
            elif cell.kind == "timer":
                rank = timer_order[cell.name]
            else:
                rank = command_order[cell.name]
            return (order[cell.state], KINDS.index(cell.kind), rank, cell.name)

        #: every cell, leaf by leaf in chart order
        self.cells: tuple[ChartTransition, ...] = tuple(sorted(set(cells), key=key))

    def _command_states(self, leaves: list[str], rule: CommandRule) -> list[str]:
        chart = self.chart
        under = [leaf for leaf in leaves if any(chart.contains(s, leaf) for s in rule.allowed_from)]
        if not under:
            return []
        return [leaves[0]] if leaves[0] in under else under

    def signal_cells(
        self, states: Iterable[str], signal: str, payload: Mapping[str, Any]
    ) -> list[ChartTransition]:
        """The cells a signal takes from these active leaves with this payload: each
        leaf's first candidate whose guards pass (the signal must have been handled)."""
        chart = self.chart
        leaves = tuple(states)
        active = frozenset(p for leaf in leaves for p in chart.ancestors(leaf))
        out = []
        for leaf in leaves:
            for t in self.chains.get((leaf, signal), ()):
                if all(_passes(g, active, payload, chart.settings) for g in t.guards):
                    label = self._labels.get((leaf, id(t)))
                    if label is not None:
                        out.append(ChartTransition(leaf, "signal", label))
                    break
        return out

    def command_cells(self, states: Iterable[str], label: str) -> list[ChartTransition]:
        """The cells a command (under the rule ``label`` names) takes from these leaves."""
        v = self.variants.get(label)
        if v is None:
            return []
        return [
            ChartTransition(s, "command", label) for s in self._command_states(list(states), v.rule)
        ]


_cells: weakref.WeakKeyDictionary[Chart, Cells] = weakref.WeakKeyDictionary()


def cells_of(chart: Chart) -> Cells:
    """The chart's ``Cells`` (built once per chart object)."""
    found = _cells.get(chart)
    if found is None:
        found = _cells[chart] = Cells(chart)
    return found


def chart_transitions(chart: Chart) -> tuple[ChartTransition, ...]:
    """Every chart transition (see the module docstring), leaf by leaf in chart order."""
    return cells_of(chart).cells


def _chart_key(chart: Chart) -> object:
    # Two loads of the same file are different Chart objects (charts compare by
    # identity); a test that loads specs/agent.yaml itself must still count.
    if os.path.isfile(chart.source):
        return (chart.name, os.path.realpath(chart.source))
    return chart


_keys: weakref.WeakKeyDictionary[Chart, object] = weakref.WeakKeyDictionary()


def _key_of(chart: Chart) -> object:
    key = _keys.get(chart)
    if key is None:
        key = _keys[chart] = _chart_key(chart)
    return key


class Coverage:
    """Records which chart transitions a run exercised.

    >>> cov = Coverage(default_chart())
    >>> with cov:
    ...     Machine(default_chart()).apply("logged_in").names
    ('onConnect',)
    >>> cov.report().splitlines()[0]  # doctest: +ELLIPSIS
    'chart transitions covered: 1/...'

    Args:
        chart: the chart to measure (default: the default chart). Machines count if
            they run this chart object, or a chart loaded from the same file.
    """

    def __init__(self, chart: Chart | None = None) -> None:
        self.chart = chart if chart is not None else default_chart()
        self._cells = cells_of(self.chart)
        #: every chart transition, in chart order: the M of ``N/M``
        self.transitions: tuple[ChartTransition, ...] = self._cells.cells
        self._known = frozenset(self.transitions)
        self._covered: set[ChartTransition] = set()
        self._key = _key_of(self.chart)

    # --- recording ---------------------------------------------------------------------------
    def mark(self, transition: ChartTransition) -> None:
        """Record that ``transition`` was exercised (unknown cells are ignored)."""
        if transition in self._known:
            self._covered.add(transition)

    def mark_signal(
        self,
        state: str | Iterable[str],
        signal: str,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        """Record that ``signal`` (with ``payload``) was taken in leaf ``state``, or with
        these active leaves (``Machine.states``); unknown cells are ignored."""
        states = (state,) if isinstance(state, str) else tuple(state)
        for cell in self._cells.signal_cells(states, signal, payload or {}):
            self._covered.add(cell)

    def mark_timer(self, timer: str) -> None:
        """Record that ``timer`` fired and took its transition."""
        spec = self.chart.timers.get(timer)
        if spec is not None:
            self.mark(ChartTransition(spec.state, "timer", timer))

    def mark_command(
        self,
        state: str | Iterable[str],
        command: str,
        args: Mapping[str, Any] | None = None,
    ) -> None:
        """Record that ``command`` (with ``args``) was accepted in leaf ``state``, or
        with these active leaves (``Machine.states``)."""
        spec = self.chart.commands.get(command)
        if spec is None:
            return
        states = (state,) if isinstance(state, str) else tuple(state)
        for cell in self._cells.command_cells(states, variant_label(spec, args or {})):
            if cell in self._known:
                self._covered.add(cell)

    def mark_step(self, step: Step) -> None:
        """Record a step a machine took (ignored steps and jumps are not transitions).

        A step names only the main leaf it left: a region's transitions are counted
        by observing the machine (``start``) or with ``mark_signal`` and its states.
        """
        if step.signal is not None and not step.ignored:
            self.mark_signal(step.source, step.signal, step.payload)

    def observes(self, chart: Chart) -> bool:
        """True if machines running ``chart`` count for this coverage."""
        return chart is self.chart or _key_of(chart) == self._key

    # the observer interface the Machine wrappers call
    def _applied(self, chart: Chart, states: tuple[str, ...], signal: str, payload: Any) -> None:
        if self.observes(chart):
            self.mark_signal(states, signal, payload)

    def _fired(self, chart: Chart, timer: str) -> None:
        if self.observes(chart):
            self.mark_timer(timer)

    def _checked(self, chart: Chart, states: tuple[str, ...], command: str, args: Any) -> None:
        if self.observes(chart):
            self.mark_command(states, command, args)

    # --- observing machines ------------------------------------------------------------------
    def start(self) -> None:
        """Observe every ``Machine`` of the chart from now on (until ``stop``)."""
        _start(self)

    def stop(self) -> None:
        """Stop observing; the last active coverage restores ``Machine`` as it was."""
        _stop(self)

    def __enter__(self) -> Coverage:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- results -----------------------------------------------------------------------------
    @property
    def covered(self) -> frozenset[ChartTransition]:
        """The transitions exercised so far."""
        return frozenset(self._covered)

    @property
    def missed(self) -> tuple[ChartTransition, ...]:
        """The transitions not exercised, in chart order."""
        return tuple(t for t in self.transitions if t not in self._covered)

    @property
    def complete(self) -> bool:
        """True once every transition has been exercised."""
        return len(self._covered) == len(self.transitions)

    @property
    def share(self) -> float:
        """The percentage of transitions exercised (100 for a chart with none)."""
        return 100.0 * len(self._covered) / len(self.transitions) if self.transitions else 100.0

    def update(self, cells: Iterable[ChartTransition]) -> None:
        """Add cells recorded elsewhere (another process, a saved run)."""
        self._covered.update(c for c in cells if c in self._known)

    def report(self) -> str:
        """``chart transitions covered: N/M``, a breakdown, then the missed cells by state."""
        total = len(self.transitions)
        lines = [f"chart transitions covered: {len(self._covered)}/{total}"]
        parts = []
        for kind in KINDS:
            all_of_kind = [t for t in self.transitions if t.kind == kind]
            if not all_of_kind and kind == "timer":
                continue
            done = sum(1 for t in all_of_kind if t in self._covered)
            parts.append(f"{kind}s {done}/{len(all_of_kind)}")
        lines.append(f"  chart {self.chart.name!r} ({self.chart.source}): {', '.join(parts)}")
        missed = self.missed
        if missed:
            lines.append(f"missed ({len(missed)}):")
            by_state: dict[str, dict[str, list[str]]] = {}
            for t in missed:
                by_state.setdefault(t.state, {}).setdefault(t.kind, []).append(t.name)
            for state, kinds in by_state.items():
                text = "; ".join(f"{kind}s {', '.join(names)}" for kind, names in kinds.items())
                lines.append(f"  {state}: {text}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Coverage {self.chart.name!r} {len(self._covered)}/{len(self.transitions)}>"


class ChartsCoverage:
    """Coverage of every chart the observed machines run: one ``Coverage`` per chart
    (charts loaded from the same file count as one), created when a machine of it first
    does something. What ``pytest --chart-coverage`` measures."""

    def __init__(self) -> None:
        self._by_key: dict[object, Coverage] = {}

    @property
    def coverages(self) -> tuple[Coverage, ...]:
        """The charts' coverages, in the order their first machine ran."""
        return tuple(self._by_key.values())

    def of(self, chart: Chart) -> Coverage:
        """The coverage of ``chart`` (created on first use)."""
        key = _key_of(chart)
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = Coverage(chart)
        return found

    def _applied(self, chart: Chart, states: tuple[str, ...], signal: str, payload: Any) -> None:
        self.of(chart).mark_signal(states, signal, payload)

    def _fired(self, chart: Chart, timer: str) -> None:
        self.of(chart).mark_timer(timer)

    def _checked(self, chart: Chart, states: tuple[str, ...], command: str, args: Any) -> None:
        self.of(chart).mark_command(states, command, args)

    def start(self) -> None:
        """Observe every ``Machine`` from now on (until ``stop``)."""
        _start(self)

    def stop(self) -> None:
        """Stop observing."""
        _stop(self)

    def from_files(self) -> tuple[Coverage, ...]:
        """The coverages of charts loaded from a file (those a report lists one by one)."""
        return tuple(c for c in self._by_key.values() if os.path.isfile(c.chart.source))

    def report(self) -> str:
        """Each chart's report (charts loaded from a file), then how many charts built in
        memory ran too."""
        files = self.from_files()
        if not self._by_key:
            return "chart transitions covered: no machine ran"
        blocks = [c.report() for c in files]
        others = len(self._by_key) - len(files)
        if others:
            blocks.append(
                f"and {others} chart(s) built in memory (not from a file), not reported;"
                " measure one with --chart-coverage-chart PATH"
            )
        return "\n".join(blocks)


# --- the wrappers: installed on Machine only while some observer is active -------------------
_Observer = Coverage | ChartsCoverage
_active: list[_Observer] = []
_originals: dict[str, Callable[..., Any]] = {}


def _start(observer: _Observer) -> None:
    if observer not in _active:
        if not _active:
            _install()
        _active.append(observer)


def _stop(observer: _Observer) -> None:
    if observer in _active:
        _active.remove(observer)
        if not _active:
            _uninstall()


def _install() -> None:
    apply = Machine.apply
    check = Machine.check
    fire = Machine.fire

    def observed_apply(self: Machine, signal: str, /, **payload: Any) -> Step:
        states = self.states
        step = apply(self, signal, **payload)
        if not step.ignored:
            for observer in _active:
                observer._applied(self.chart, states, signal, payload)
        return step

    def observed_fire(self: Machine, timer: str) -> Step:
        # the timer's signal goes through apply, which counts its transitions
        step = fire(self, timer)
        if not step.ignored:
            for observer in _active:
                observer._fired(self.chart, timer)
        return step

    def observed_check(self: Machine, command: str, /, **args: Any) -> CommandRule:
        rule = check(self, command, **args)
        for observer in _active:
            observer._checked(self.chart, self.states, command, args)
        return rule

    observed_apply.__doc__ = apply.__doc__
    observed_check.__doc__ = check.__doc__
    observed_fire.__doc__ = fire.__doc__
    _originals.update(apply=apply, check=check, fire=fire)
    # assigning to the class reaches every instance, existing ones included
    Machine.apply = observed_apply  # type: ignore[method-assign]
    Machine.check = observed_check  # type: ignore[method-assign]
    Machine.fire = observed_fire  # type: ignore[method-assign]


def _uninstall() -> None:
    Machine.apply = _originals.pop("apply")  # type: ignore[method-assign]
    Machine.check = _originals.pop("check")  # type: ignore[method-assign]
    Machine.fire = _originals.pop("fire")  # type: ignore[method-assign]
