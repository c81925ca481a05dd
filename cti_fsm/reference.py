"""A ``transitions`` HierarchicalMachine built from a chart: the independent reference.

Our engine flattens the chart into per-leaf tables; this module instead hands the chart's
structure to `transitions <https://github.com/pytransitions/transitions>`_ as it is
(nested states, initial children, transitions declared on parents), so that tests can run
both on the same signal sequences and check they agree. The diagram helper builds its
``HierarchicalGraphMachine`` through the same function (``machine_cls``).

How chart features map onto transitions:

- **Nesting**: one transitions state per chart state, children nested, ``initial`` set.
  Chart names contain underscores, which transitions uses by default to join nested
  names, so the machine uses a ``NestedState`` subclass with another separator
  (``SEPARATOR``); ``chart_path`` maps a reference state name back to the dotted path.
- **Parent-declared transitions**: added on the parent state. transitions tries the
  active leaf's transitions first and then its ancestors', stopping at the first that
  runs; that is the chart's rule (a state's own transition wins over its ancestors').
- **Internal transitions** (``to`` omitted): ``dest=None``; no exit, no entry.
- **Shallow history**: transitions has none, so it is emulated in the open. Every child of
  a history state records itself in ``model.chart_history`` when entered, and a transition
  whose target has history below it becomes one transition per way the entry can resolve,
  each guarded by a condition on ``chart_history`` (exactly one condition holds, so the
  parent-before-child ordering above is never disturbed by a failed guard).
- **Notifications**: each transition appends its notifications' names to
  ``model.emitted`` (an ``after`` callback), so they can be compared too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from transitions.extensions.nesting import HierarchicalMachine, NestedState

from .chart import Chart, TransitionSpec

__all__ = ["SEPARATOR", "ReferenceModel", "build_reference_machine", "chart_path", "state_name"]

#: The separator between nested state names in the reference machine. Chart state names
#: may contain underscores (transitions' default) but never this.
SEPARATOR = "↦"

#: One possible resolution of entering a state: the (history state, child) pairs that
#: must hold in ``chart_history`` and the state transitions should be sent to.
_Entry = tuple[tuple[tuple[str, str], ...], str]


class ReferenceModel:
    """The default model of a reference machine.

    Attributes:
        state: the current state's reference name (set by transitions).
        chart_history: per history state (chart path), the chart path of the child that was
            last active; absent until the state is first entered.
        emitted: the notification names emitted by transitions so far, in order; tests
            clear it between steps.
    """

    state: str

    def __init__(self) -> None:
        self.chart_history: dict[str, str] = {}
        self.emitted: list[str] = []


@functools.cache
def _state_class(separator: str) -> type[NestedState]:
    # transitions reads the separator from the state class, so each separator needs its own
    return type("ChartState", (NestedState,), {"separator": separator})


_machine_classes: dict[tuple[type[Any], str], type[Any]] = {}


def _machine_class(machine_cls: type[Any], separator: str) -> type[Any]:
    key = (machine_cls, separator)
    found = _machine_classes.get(key)
    if found is None:
        found = _machine_classes[key] = type(
            f"Chart{machine_cls.__name__}", (machine_cls,), {"state_cls": _state_class(separator)}
        )
    return found


def state_name(path: str, separator: str = SEPARATOR) -> str:
    """The reference machine's name for the chart state ``path`` (a full dotted path)."""
    return path.replace(".", separator)


def chart_path(name: str, separator: str = SEPARATOR) -> str:
    """The chart's full dotted path for a reference machine's state name.

    >>> chart_path("checked_in↦available↦idle")
    'checked_in.available.idle'
    """
    return name.replace(separator, ".")


def build_reference_machine(
    chart: Chart,
    *,
    model: Any = None,
    machine_cls: type[Any] | None = None,
    separator: str = SEPARATOR,
    **kwargs: Any,
) -> Any:
    """Build a transitions hierarchical machine that runs ``chart``.

    Each signal is a trigger: ``model.trigger(signal)`` (or ``machine.trigger_event``).
    A signal the current state does not handle is ignored (``ignore_invalid_triggers``),
    as our non-strict engine does. Auto transitions (``to_<state>``) are off.

    Args:
        chart: the loaded chart.
        model: the model to attach (default: a new ``ReferenceModel``). It gets the
            attributes ``state``, ``chart_history`` and ``emitted``.
        machine_cls: ``HierarchicalMachine`` (default) or a subclass of it, e.g. transitions'
            ``HierarchicalGraphMachine`` for diagrams.
        separator: joins nested state names; must not occur in any chart state name.
        **kwargs: passed on to ``machine_cls`` (``title``, ``show_conditions``, ...).
            ``send_event`` is always True: the history guards read the model from the
            event.

    Returns:
        The machine; its model is ``machine.model``.

    Raises:
        ValueError: ``separator`` is empty, a dot, or occurs in a chart state name.
    """
    if separator == "." or not separator:
        raise ValueError(f"separator {separator!r} cannot tell reference names from chart paths")
    if any(separator in s.name for s in chart.states.values()):
        raise ValueError(f"separator {separator!r} occurs in a state name of {chart.name!r}")
    if model is None:
        model = ReferenceModel()
    if not hasattr(model, "chart_history"):
        model.chart_history = {}
    if not hasattr(model, "emitted"):
        model.emitted = []

    cls = _machine_class(machine_cls or HierarchicalMachine, separator)
    options: dict[str, Any] = {
        "auto_transitions": False,
        "ignore_invalid_triggers": True,
        **kwargs,
        "send_event": True,
    }
    machine = cls(
        model=model,
        states=_state_tree(chart, chart.initial, top=True),
        initial=state_name(chart.initial, separator),
        **options,
    )
    for t in chart.transitions():
        for spec in _transition_specs(chart, t, separator):
            machine.add_transition(**spec)
    return machine


def _state_tree(chart: Chart, path: str, *, top: bool = False) -> Any:
    """The transitions state definitions: the top-level list, or one state's dict."""
    if top:
        return [_state_tree(chart, p) for p, s in chart.states.items() if s.parent is None]
    spec = chart.states[path]
    out: dict[str, Any] = {"name": spec.name}
    if spec.children:
        out["children"] = [_state_tree(chart, child) for child in spec.children]
        assert spec.initial is not None  # the loader requires it
        out["initial"] = chart.states[spec.initial].name
    if spec.parent is not None and chart.states[spec.parent].history:
        out["on_enter"] = [_remember(spec.parent, path)]
    return out


def _remember(history_state: str, child: str) -> Callable[[Any], None]:
    def remember(event: Any) -> None:
        event.model.chart_history[history_state] = child

    return remember


def _entries(chart: Chart, path: str) -> list[_Entry]:
    """Every way entering ``path`` can resolve, with the history it depends on.

    A state without history anywhere on its way down resolves one way, left to
    transitions (it follows ``initial`` itself); a history state resolves once per child.
    """
    spec = chart.states[path]
    if spec.is_leaf:
        return [((), path)]
    if not spec.history:
        assert spec.initial is not None
        below = _entries(chart, spec.initial)
        return [((), path)] if all(not needs for needs, _ in below) else below
    return [
        (((path, child), *needs), dest)
        for child in spec.children
        for needs, dest in _entries(chart, child)
    ]


def _guard(chart: Chart, needs: tuple[tuple[str, str], ...]) -> Callable[[Any], bool]:
    # a history state never entered resumes its initial child
    pairs = tuple((state, child, chart.states[state].initial) for state, child in needs)

    def history_is(event: Any) -> bool:
        seen = event.model.chart_history
        return all(seen.get(state, initial) == child for state, child, initial in pairs)

    history_is.__name__ = "history_is_" + "_".join(
        chart.states[child].name for _state, child in needs
    )
    return history_is


def _emitter(names: tuple[str, ...]) -> Callable[[Any], None]:
    def emit(event: Any) -> None:
        event.model.emitted.extend(names)

    return emit


def _transition_specs(chart: Chart, t: TransitionSpec, separator: str) -> list[dict[str, Any]]:
    """The transitions ``add_transition`` arguments for one chart transition."""
    base: dict[str, Any] = {
        "trigger": t.signal,
        "source": state_name(t.source, separator),
        "after": [_emitter(tuple(e.notification for e in t.emits))],
    }
    if t.target is None:
        return [{**base, "dest": None}]
    out = []
    for needs, dest in _entries(chart, t.target):
        spec = {**base, "dest": state_name(dest, separator)}
        if needs:
            spec["conditions"] = [_guard(chart, needs)]
        out.append(spec)
    return out
