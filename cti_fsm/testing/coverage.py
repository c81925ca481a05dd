"""Chart transition coverage: which cells of the chart's tables a run exercised.

A *chart transition* is one cell of the compiled tables, at the level of leaf states
(where a machine actually is; a transition declared on a parent state is one cell per
leaf below it, since each leaf can take it):

- ``(leaf, signal)`` for every signal the leaf handles, counted when ``Machine.apply``
  takes it (an ignored signal is not a transition);
- ``(leaf, command)`` for every command some rule of the chart allows from the leaf,
  counted when ``Machine.check`` accepts it. A command whose argument selects another
  rule (``pause(agent_id=...)`` acts on another agent) has one cell per rule, named
  ``pause(agent_id)``; rights are ignored when counting the cells, so a run without the
  ``supervisor`` right cannot reach 100%.

``Coverage`` observes every ``Machine`` of its chart while it is active by wrapping
``Machine.apply`` and ``Machine.check`` on the class, and restores the originals when
the last active ``Coverage`` stops: nothing is slowed down outside a coverage run.
Runners that do not go through ``Machine`` can call ``mark_signal``/``mark_command``.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import attrs

from ..chart import Chart, CommandRule, CommandSpec
from ..chart_loader import default_chart
from ..machine import Machine, Step

__all__ = [
    "ChartTransition",
    "CommandVariant",
    "Coverage",
    "chart_transitions",
    "command_variants",
]


@attrs.frozen(order=True, cache_hash=True)  # cells live in sets, hashed many times
class ChartTransition:
    """One cell of the chart's tables: a signal or a command in a leaf state.

    Attributes:
        state: full path of the leaf state.
        kind: ``"signal"`` or ``"command"``.
        name: the signal's name, or the command's (``pause(agent_id)`` for the rule an
            argument selects).
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
        leaves: the leaf states the rule allows the command from.
    """

    command: str
    label: str
    rule: CommandRule
    arg: str | None
    leaves: frozenset[str]


def command_variants(chart: Chart) -> tuple[CommandVariant, ...]:
    """Every rule of every command, in chart order, with the leaves it allows."""
    out = []
    leaves = chart.leaves()
    for spec in chart.commands.values():
        for arg, rule in _rules(spec):
            allowed = frozenset(
                leaf for leaf in leaves if any(chart.contains(s, leaf) for s in rule.allowed_from)
            )
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


def chart_transitions(chart: Chart) -> tuple[ChartTransition, ...]:
    """Every chart transition (see the module docstring), leaf by leaf in chart order."""
    variants = command_variants(chart)
    out: list[ChartTransition] = []
    for leaf in chart.leaves():
        handled = set(Machine(chart, state=leaf).handled())
        out.extend(ChartTransition(leaf, "signal", s) for s in chart.signals if s in handled)
        out.extend(ChartTransition(leaf, "command", v.label) for v in variants if leaf in v.leaves)
    return tuple(out)


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
        #: every chart transition, in chart order: the M of ``N/M``
        self.transitions: tuple[ChartTransition, ...] = chart_transitions(self.chart)
        self._known = frozenset(self.transitions)
        self._covered: set[ChartTransition] = set()
        self._key = _key_of(self.chart)

    # --- recording ---------------------------------------------------------------------------
    def mark(self, transition: ChartTransition) -> None:
        """Record that ``transition`` was exercised (unknown cells are ignored)."""
        if transition in self._known:
            self._covered.add(transition)

    def mark_signal(self, state: str, signal: str) -> None:
        """Record that ``signal`` was taken in leaf ``state`` (unknown cells are ignored)."""
        cell = ChartTransition(state, "signal", signal)
        if cell in self._known:
            self._covered.add(cell)

    def mark_command(self, state: str, command: str, args: Mapping[str, Any] | None = None) -> None:
        """Record that ``command`` (with ``args``) was accepted in leaf ``state``."""
        spec = self.chart.commands.get(command)
        if spec is None:
            return
        cell = ChartTransition(state, "command", variant_label(spec, args or {}))
        if cell in self._known:
            self._covered.add(cell)

    def mark_step(self, step: Step) -> None:
        """Record a step a machine took (ignored steps and jumps are not transitions)."""
        if step.signal is not None and not step.ignored:
            self.mark_signal(step.source, step.signal)

    def observes(self, chart: Chart) -> bool:
        """True if machines running ``chart`` count for this coverage."""
        return chart is self.chart or _key_of(chart) == self._key

    # --- observing machines ------------------------------------------------------------------
    def start(self) -> None:
        """Observe every ``Machine`` of the chart from now on (until ``stop``)."""
        if self not in _active:
            if not _active:
                _install()
            _active.append(self)

    def stop(self) -> None:
        """Stop observing; the last active coverage restores ``Machine`` as it was."""
        if self in _active:
            _active.remove(self)
            if not _active:
                _uninstall()

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

    def update(self, cells: Iterable[ChartTransition]) -> None:
        """Add cells recorded elsewhere (another process, a saved run)."""
        self._covered.update(c for c in cells if c in self._known)

    def report(self) -> str:
        """``chart transitions covered: N/M``, a breakdown, then the missed cells by state."""
        total = len(self.transitions)
        lines = [f"chart transitions covered: {len(self._covered)}/{total}"]
        parts = []
        for kind in ("signal", "command"):
            all_of_kind = [t for t in self.transitions if t.kind == kind]
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


# --- the wrappers: installed on Machine only while some Coverage is active --------------------
_active: list[Coverage] = []
_originals: dict[str, Callable[..., Any]] = {}


def _install() -> None:
    apply = Machine.apply
    check = Machine.check

    def observed_apply(self: Machine, signal: str, /, **payload: Any) -> Step:
        source = self.state
        step = apply(self, signal, **payload)
        if not step.ignored:
            for cov in _active:
                if cov.observes(self.chart):
                    cov.mark_signal(source, signal)
        return step

    def observed_check(self: Machine, command: str, /, **args: Any) -> CommandRule:
        rule = check(self, command, **args)
        for cov in _active:
            if cov.observes(self.chart):
                cov.mark_command(self.state, command, args)
        return rule

    observed_apply.__doc__ = apply.__doc__
    observed_check.__doc__ = check.__doc__
    _originals["apply"] = apply
    _originals["check"] = check
    # assigning to the class reaches every instance, existing ones included
    Machine.apply = observed_apply  # type: ignore[method-assign]
    Machine.check = observed_check  # type: ignore[method-assign]


def _uninstall() -> None:
    Machine.apply = _originals.pop("apply")  # type: ignore[method-assign]
    Machine.check = _originals.pop("check")  # type: ignore[method-assign]
