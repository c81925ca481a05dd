"""A ``transitions`` HierarchicalMachine built from a chart: the independent reference.

Our engine flattens the chart into one table row per configuration; this module instead
hands the chart's structure to `transitions <https://github.com/pytransitions/transitions>`_
as it is (nested and parallel states, initial children, transitions declared on parents,
conditions), so that tests can run both on the same signal sequences and check they agree.
The diagram helper builds its ``HierarchicalGraphMachine`` through the same function
(``machine_cls``).

How chart features map onto transitions:

- **Nesting**: one transitions state per chart state, children nested, ``initial`` set.
  Chart names contain underscores, which transitions uses by default to join nested
  names, so the machine uses a ``NestedState`` subclass with another separator
  (``SEPARATOR``); ``chart_path`` maps a reference state name back to the dotted path.
- **Parallel regions**: a state with regions becomes a transitions parallel state whose
  parallel children are its regions and, first, a state named ``MAIN`` holding its own
  children (transitions' parallel states have no children of their own beside the
  regions). ``reference_name`` inserts ``MAIN`` where a path goes through it.
- **Parent-declared transitions**: added on the parent state. transitions tries the
  active leaf's transitions first and then its ancestors', stopping at the first that
  runs; that is the chart's rule (a state's own transition wins over its ancestors').
  In a parallel state each region is tried in turn, and a state whose transition ran is
  not tried again for the same event (a transition declared on a shared ancestor runs
  once).
- **Guards** (``when:``) are transitions conditions: ``in``/``not_in`` read the states
  active when the event arrived (a snapshot taken by the machine's ``prepare_event``,
  so a region's guard does not see what another region did in the same step), field
  guards read the trigger's keyword arguments (the payload), setting guards the chart's
  settings. transitions tries a state's transitions in the order they were added, which
  is document order, and stops at the first whose conditions pass.
- **Conflicts**: two transitions of one event that would exit the same state cannot both
  run; the chart keeps the one declared deeper, or else the one of the earlier leaf. This
  has no counterpart in transitions, so it is decided here, from the snapshot (written
  from ``cti_fsm.compiler``'s docstring, not from its code), and becomes one more
  condition: a transition runs only if it was not pre-empted.
- **Entering a target** (history, explicit targets below a parallel state): transitions
  enters a parallel state's regions only when it enters the state through its
  ``initial``, so every transition is sent to the outermost state it enters (the child
  of its domain on the way to its target; a self-transition's domain is above its
  source), and a ``before`` callback points each state's ``initial`` on the way down
  at the target (and every shallow-history state's at the child it last left); the
  ``after`` callback puts them back.
- **Internal transitions** (``to`` omitted): ``dest=None``; no exit, no entry.
- **Shallow history**: transitions has none. Every child of a history state records
  itself in ``model.chart_history`` when entered, and the ``initial`` pointing above
  resumes it.
- **Outputs**: each transition appends its notifications (with their payloads) to
  ``model.notifications`` (and their names to ``model.emitted``), its kept values and
  chart commands to pending lists; states with timers record a cancel on exit and a
  start on entry. The machine's ``finalize_event`` then applies the kept values (read
  from the payload and the values kept before the step), works out the commands (their
  ``when`` guards in the states reached) and the timers' durations, into
  ``model.commands`` and ``model.timer_changes``.
- **Not modelled**: a state with regions inside a part of another state with regions
  (transitions 0.9 loses track of such a model's states; ``Reference`` refuses the chart).
- **Timers** fire in virtual time: ``Reference.fire(timer)`` triggers the timer's signal
  if its state is active.

``Reference`` wraps a machine and its model with the engine's vocabulary (``apply``,
``fire``, ``state``, ``states``, ``kept``) for differential tests.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs
from transitions.extensions.nesting import HierarchicalMachine, NestedState

from .chart import Chart, Guard, StateSpec, TransitionSpec, ValueRef
from .events import ChartCommand, Notification, TimerChange

__all__ = [
    "MAIN",
    "SEPARATOR",
    "Reference",
    "ReferenceModel",
    "ReferenceStep",
    "build_reference_machine",
    "chart_path",
    "chart_paths",
    "reference_name",
    "state_name",
]

#: The separator between nested state names in the reference machine. Chart state names
#: may contain underscores (transitions' default) but never this.
SEPARATOR = "↦"
#: The name of the parallel child that holds a state's own children beside its regions
#: (chart state names are identifiers, so it cannot clash with one).
MAIN = "(main)"


class ReferenceModel:
    """The default model of a reference machine.

    Attributes:
        state: the current state's reference name, or (with regions) a nested list of
            them (set by transitions).
        chart_history: per history state (chart path), the chart path of the child that was
            last active; absent until the state is first entered.
        emitted: the notification names emitted so far, in order; tests clear it.
        notifications: the notifications themselves (with payloads), in order.
        commands: the chart commands sent so far, in order.
        timer_changes: the timers started and cancelled so far, in order.
        kept: the values transitions kept, by name.
        handled: whether the last event ran some transition (transitions' own answer
            to a trigger is not reliable for parallel states).
    """

    state: Any

    def __init__(self) -> None:
        self.chart_history: dict[str, str] = {}
        self.emitted: list[str] = []
        self.notifications: list[Notification] = []
        self.commands: list[ChartCommand] = []
        self.timer_changes: list[TimerChange] = []
        self.kept: dict[str, Any] = {}
        self.handled = False


def _prepare_model(model: Any) -> None:
    defaults: dict[str, Callable[[], Any]] = {
        "chart_history": dict,
        "emitted": list,
        "notifications": list,
        "commands": list,
        "timer_changes": list,
        "kept": dict,
        "handled": bool,
    }
    for name, make in defaults.items():
        if not hasattr(model, name):
            setattr(model, name, make())
    # per event: the active chart states when it arrived, what was selected, and the
    # outputs waiting for the end of the step
    model._reference_event = None


@attrs.define
class _Event:
    """What one event is doing (kept on the model between the callbacks)."""

    active: frozenset[str]
    payload: Mapping[str, Any]
    selected: set[int]
    #: the transitions that ran (by identity), in order
    ran: list[int] = attrs.Factory(list)
    keeps: list[tuple[str, ValueRef]] = attrs.Factory(list)
    sends: list[Any] = attrs.Factory(list)
    starts: list[tuple[str, ValueRef]] = attrs.Factory(list)
    cancels: list[str] = attrs.Factory(list)


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
    """The reference machine's name for ``path`` in a chart without parallel regions.

    ``reference_name`` works for every chart.
    """
    return path.replace(".", separator)


def reference_name(chart: Chart, path: str, separator: str = SEPARATOR) -> str:
    """The reference machine's name for the chart state ``path`` (a full dotted path):
    ``MAIN`` is inserted below every state with regions whose main children it crosses."""
    parts: list[str] = []
    for state in reversed(chart.ancestors(path)):
        spec = chart.states[state]
        if spec.parent is not None:
            parent = chart.states[spec.parent]
            if parent.regions and not spec.is_region:
                parts.append(MAIN)
        parts.append(spec.name)
    return separator.join(parts)


def chart_path(name: str, separator: str = SEPARATOR) -> str:
    """The chart's full dotted path for a reference machine's state name.

    >>> chart_path("checked_in↦(main)↦available↦idle")
    'checked_in.available.idle'
    """
    return ".".join(part for part in name.split(separator) if part != MAIN)


def _flatten(state: Any) -> list[str]:
    if isinstance(state, str):
        return [state]
    return [name for item in state for name in _flatten(item)]


def chart_paths(state: Any, separator: str = SEPARATOR) -> tuple[str, ...]:
    """The chart paths of a reference model's ``state``: one name, or (inside a parallel
    state) a nested list of them, in the order transitions keeps them (main region
    first).

    >>> chart_paths(["checked_in↦(main)↦talking", "checked_in↦next↦unchanged"])
    ('checked_in.talking', 'checked_in.next.unchanged')
    """
    return tuple(chart_path(name, separator) for name in _flatten(state))


def build_reference_machine(
    chart: Chart,
    *,
    model: Any = None,
    machine_cls: type[Any] | None = None,
    separator: str = SEPARATOR,
    **kwargs: Any,
) -> Any:
    """Build a transitions hierarchical machine that runs ``chart``.

    Each signal is a trigger: ``model.trigger(signal, **payload)`` (or
    ``machine.trigger_event``). A signal the current state does not handle is ignored
    (``ignore_invalid_triggers``), as our non-strict engine does. Auto transitions
    (``to_<state>``) are off.

    Args:
        chart: the loaded chart.
        model: the model to attach (default: a new ``ReferenceModel``). It gets the
            attributes of one (``state``, ``chart_history``, ``emitted``, ...).
        machine_cls: ``HierarchicalMachine`` (default) or a subclass of it, e.g. transitions'
            ``HierarchicalGraphMachine`` for diagrams.
        separator: joins nested state names; must not occur in any chart state name.
        **kwargs: passed on to ``machine_cls`` (``title``, ``show_conditions``, ...).
            ``send_event`` is always True (the callbacks read the model and the payload
            from the event), and ``prepare_event``/``finalize_event`` are the reference's.

    Returns:
        The machine; its model is ``machine.model``.

    Raises:
        ValueError: ``separator`` is empty, a dot, or occurs in a chart state name.
    """
    if separator == "." or not separator:
        raise ValueError(f"separator {separator!r} cannot tell reference names from chart paths")
    if any(separator in s.name for s in chart.states.values()) or separator in MAIN:
        raise ValueError(f"separator {separator!r} occurs in a state name of {chart.name!r}")
    if model is None:
        model = ReferenceModel()
    _prepare_model(model)
    builder = _Builder(chart, separator)
    cls = _machine_class(machine_cls or HierarchicalMachine, separator)
    options: dict[str, Any] = {
        "auto_transitions": False,
        "ignore_invalid_triggers": True,
        **kwargs,
        "send_event": True,
        "prepare_event": [builder.prepare],
        "finalize_event": [builder.finalize],
    }
    initial = reference_name(chart, chart.initial, separator)
    machine = cls(model=model, states=builder.tree(), initial=initial, **options)
    builder.machine = machine
    for t in chart.transitions():
        spec = builder.transition(t)
        machine.add_transition(**spec)
        # transitions tries a state once per event, so a leaf of one part never reaches a
        # transition on the state with the regions once another part's leaf took one of
        # its own; each part's root gets a copy (a transition still runs once per event)
        for part in builder.parts(t.source):
            machine.add_transition(**{**spec, "source": part})
    builder.initials = {p: builder.state(p).initial for p in chart.states}
    return machine


class _Builder:
    """Builds the transitions definitions for a chart and holds the callbacks."""

    def __init__(self, chart: Chart, separator: str) -> None:
        self.chart = chart
        self.sep = separator
        self.machine: Any = None
        self.initials: dict[str, Any] = {}
        # transitions by source, then signal, in document order (for the conflict rule)
        self.by_state: dict[str, dict[str, list[TransitionSpec]]] = {}
        for t in chart.transitions():
            self.by_state.setdefault(t.source, {}).setdefault(t.signal, []).append(t)

    def name(self, path: str) -> str:
        return reference_name(self.chart, path, self.sep)

    def state(self, path: str) -> Any:
        return self.machine.get_state(self.name(path))

    # --- states ---------------------------------------------------------------------------
    def tree(self) -> list[dict[str, Any]]:
        return [self._state(p) for p, s in self.chart.states.items() if s.parent is None]

    def _state(self, path: str) -> dict[str, Any]:
        chart = self.chart
        spec = chart.states[path]
        out: dict[str, Any] = {"name": spec.name}
        if spec.regions:
            parts = [self._state(r) for r in spec.regions]
            if spec.children:
                parts.insert(0, {"name": MAIN, **self._children(spec)})
            out["parallel"] = parts
        elif spec.children:
            out.update(self._children(spec))
        enter: list[Callable[[Any], None]] = []
        if spec.parent is not None and chart.states[spec.parent].history:
            enter.append(_remember(spec.parent, path))
        if spec.timers:
            enter.append(_start_timers(spec))
            out["on_exit"] = [_cancel_timers(spec)]
        if enter:
            out["on_enter"] = enter
        return out

    def _children(self, spec: StateSpec) -> dict[str, Any]:
        assert spec.initial is not None  # the loader requires it
        return {
            "children": [self._state(c) for c in spec.children],
            "initial": self.chart.states[spec.initial].name,
        }

    # --- transitions ----------------------------------------------------------------------
    def parts(self, path: str) -> list[str]:
        """The reference names of the roots of a state's parts (none without regions)."""
        spec = self.chart.states[path]
        if not spec.regions:
            return []
        roots = [self.name(r) for r in spec.regions]
        if spec.children:
            roots.insert(0, self.name(path) + self.sep + MAIN)
        return roots

    def transition(self, t: TransitionSpec) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "trigger": t.signal,
            "source": self.name(t.source),
            "conditions": [_guards(t.guards, self.chart.settings), _chosen(t)],
            "after": [_outputs(t, self.chart)],
        }
        if t.target is None:
            spec["dest"] = None
            return spec
        domain = self.domain(t)
        # the states entered, outermost first: those on the target's path below the domain
        chain = [p for p in reversed(self.chart.ancestors(t.target)) if not self._kept(p, domain)]
        entry = chain[0]
        spec["dest"] = self.name(entry)
        spec["before"] = [self._point_initials(chain)]
        spec["after"].append(self._restore_initials)
        return spec

    def _kept(self, path: str, domain: str | None) -> bool:
        """True if ``path`` is ``domain`` or above it (the transition does not enter it)."""
        return domain is not None and self.chart.contains(path, domain)

    def domain(self, t: TransitionSpec) -> str | None:
        """The state whose part the transition leaves and re-enters (None: the chart)."""
        chart = self.chart
        assert t.target is not None
        source, target = t.source, t.target
        if target != source and chart.contains(source, target):
            return source
        anc = chart.states[source].parent
        while anc is not None and not (chart.contains(anc, target) and anc != target):
            anc = chart.states[anc].parent
        # across two parts of a state with regions, that state is left too
        while anc is not None and self.part(anc, source) != self.part(anc, target):
            anc = chart.states[anc].parent
        return anc

    def part(self, state: str, inner: str) -> str:
        for region in self.chart.states[state].regions:
            if self.chart.contains(region, inner):
                return region
        return ""

    def exited(self, t: TransitionSpec, active: frozenset[str]) -> frozenset[str]:
        """The active states ``t`` would leave."""
        if t.target is None:
            return frozenset()
        domain = self.domain(t)
        if domain is None:
            return active
        part = self.part(domain, t.target)
        return frozenset(
            s
            for s in active
            if s != domain and self.chart.contains(domain, s) and self.part(domain, s) == part
        )

    def _point_initials(self, chain: list[str]) -> Callable[[Any], None]:
        steps = list(itertools.pairwise(chain))

        def point(event: Any) -> None:
            chart = self.chart
            seen = event.model.chart_history
            for path, spec in chart.states.items():
                if spec.history and path in seen:
                    self.state(path).initial = chart.states[seen[path]].name
            for outer, inner in steps:
                spec = chart.states[outer]
                if chart.states[inner].is_region:
                    continue  # a parallel state enters every region anyway
                holder = self.state(outer) if not spec.regions else self._main(outer)
                holder.initial = chart.states[inner].name

        return point

    def _main(self, path: str) -> Any:
        return self.machine.get_state(self.name(path) + self.sep + MAIN)

    def _restore_initials(self, event: Any) -> None:
        for path, spec in self.chart.states.items():
            if spec.children:
                holder = self._main(path) if spec.regions else self.state(path)
                holder.initial = self.chart.states[spec.initial].name  # type: ignore[index]

    # --- the event's start and end -----------------------------------------------------------
    def prepare(self, event: Any) -> None:
        model = event.model
        if model._reference_event is not None:
            return  # called again for each state tried: the snapshot is the first one
        active = frozenset(
            p
            for name in _flatten(getattr(model, self.machine.model_attribute))
            for p in self.chart.ancestors(chart_path(name, self.sep))
        )
        payload = MappingProxyType(dict(event.kwargs))
        selected = self.select(event.event.name, active, payload)
        model._reference_event = _Event(active, payload, {id(t) for t in selected})

    def select(
        self, signal: str, active: frozenset[str], payload: Mapping[str, Any]
    ) -> list[TransitionSpec]:
        """The transitions the chart takes: each active leaf (document order) picks the
        first passing transition on itself or its nearest ancestor; a shared one counts
        once; of two that would exit the same state the deeper declaration wins, or else
        the earlier."""
        chart = self.chart
        settings = chart.settings
        leaves = [p for p in chart.states if p in active and chart.states[p].is_leaf]
        chosen: list[TransitionSpec] = []
        for leaf in leaves:
            pick = None
            for state in chart.ancestors(leaf):
                for t in self.by_state.get(state, {}).get(signal, ()):
                    if all(_passes(g, active, payload, settings) for g in t.guards):
                        pick = t
                        break
                if pick is not None:
                    break
            if pick is None or any(pick is c for c in chosen):
                continue
            gone = self.exited(pick, active)
            clash = next((k for k, c in enumerate(chosen) if gone & self.exited(c, active)), None)
            if clash is None:
                chosen.append(pick)
            elif chart.contains(chosen[clash].source, pick.source) and (
                chosen[clash].source != pick.source
            ):
                chosen[clash] = pick
        return chosen

    def _never_armed(self, timer_id: str) -> bool:
        seconds = self.chart.timers[timer_id].seconds
        if not seconds.constant:
            return False
        value = seconds.resolve({}, None, self.chart.settings)
        return not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)

    def finalize(self, event: Any) -> None:
        model = event.model
        ev: _Event | None = model._reference_event
        model._reference_event = None
        model.handled = ev is not None and bool(ev.ran)
        if ev is None:
            return
        settings = self.chart.settings
        before = dict(model.kept)
        for name, ref in ev.keeps:
            model.kept[name] = ref.resolve(ev.payload, before, settings)
        # a timer the chart fixes at "none" (a constant 0) is never armed, so never cancelled
        model.timer_changes.extend(TimerChange(t) for t in ev.cancels if not self._never_armed(t))
        for timer_id, ref in ev.starts:
            value = ref.resolve(ev.payload, model.kept, settings)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                model.timer_changes.append(TimerChange(timer_id, float(value)))
        now = frozenset(
            p
            for name in _flatten(getattr(model, self.machine.model_attribute))
            for p in self.chart.ancestors(chart_path(name, self.sep))
        )
        for send in ev.sends:
            if not all(_passes(g, now, ev.payload, settings) for g in send.when):
                continue
            args = {k: v.resolve(ev.payload, model.kept, settings) for k, v in send.args.items()}
            model.commands.append(
                ChartCommand(
                    send.command,
                    MappingProxyType({k: v for k, v in args.items() if v is not None}),
                )
            )


def _passes(
    guard: Guard, active: frozenset[str], payload: Mapping[str, Any], settings: Mapping[str, Any]
) -> bool:
    if guard.kind == "in":
        return any(v in active for v in guard.values) != guard.negate
    source = payload if guard.kind == "field" else settings
    return (source.get(guard.name) in guard.values) != guard.negate


def _guards(guards: tuple[Guard, ...], settings: Mapping[str, Any]) -> Callable[[Any], bool]:
    def when(event: Any) -> bool:
        ev: _Event = event.model._reference_event
        return all(_passes(g, ev.active, ev.payload, settings) for g in guards)

    when.__name__ = " and ".join(str(g) for g in guards) or "always"
    return when


def _chosen(t: TransitionSpec) -> Callable[[Any], bool]:
    key = id(t)

    def not_preempted(event: Any) -> bool:
        ev: _Event = event.model._reference_event
        return key in ev.selected and key not in ev.ran

    return not_preempted


def _outputs(t: TransitionSpec, chart: Chart) -> Callable[[Any], None]:
    notes = [(e, chart.notifications[e.notification].fields) for e in t.emits]

    def output(event: Any) -> None:
        model = event.model
        ev: _Event = model._reference_event
        ev.ran.append(id(t))
        for e, declared in notes:
            values = {f: ev.payload.get(f) for f in declared}
            values.update(e.constants)
            model.notifications.append(Notification(e.notification, MappingProxyType(values)))
            model.emitted.append(e.notification)
        ev.keeps.extend(t.keeps.items())
        ev.sends.extend(t.sends)

    return output


def _remember(history_state: str, child: str) -> Callable[[Any], None]:
    def remember(event: Any) -> None:
        event.model.chart_history[history_state] = child

    return remember


def _start_timers(spec: StateSpec) -> Callable[[Any], None]:
    timers = [(t.id, t.seconds) for t in spec.timers]

    def start(event: Any) -> None:
        ev: _Event | None = event.model._reference_event
        if ev is not None:
            ev.starts.extend(timers)

    return start


def _cancel_timers(spec: StateSpec) -> Callable[[Any], None]:
    timers = [t.id for t in spec.timers]

    def cancel(event: Any) -> None:
        ev: _Event | None = event.model._reference_event
        if ev is not None:
            ev.cancels.extend(timers)

    return cancel


def _below_regions(chart: Chart, path: str) -> bool:
    return any(chart.states[p].regions for p in chart.ancestors(path)[1:])


@attrs.frozen
class ReferenceStep:
    """What one signal did on the reference machine.

    Attributes:
        handled: whether some transition ran.
        states: the active leaves after it (main first, then the regions', chart order).
        notifications, commands, timers: its outputs, in order.
    """

    handled: bool
    states: tuple[str, ...]
    notifications: tuple[Notification, ...]
    commands: tuple[ChartCommand, ...]
    timers: tuple[TimerChange, ...]


class Reference:
    """A reference machine with the engine's vocabulary, for differential tests.

    >>> from cti_fsm import default_chart
    >>> ref = Reference(default_chart())
    >>> ref.apply("logged_in").states
    ('connected',)

    Args:
        chart: the chart.

    Raises:
        ValueError: the chart has a state with regions inside a part of another
            (transitions 0.9 loses track of such a model's states).
    """

    def __init__(self, chart: Chart) -> None:
        nested = [
            p for p, spec in chart.states.items() if spec.regions and _below_regions(chart, p)
        ]
        if nested:
            raise ValueError(
                f"chart {chart.name!r}: state {nested[0]!r} has regions inside another state"
                " with regions, which the transitions reference cannot run"
            )
        self.chart = chart
        self.machine = build_reference_machine(chart)
        self.model: ReferenceModel = self.machine.model
        self._order = {p: i for i, p in enumerate(chart.states)}

    @property
    def states(self) -> tuple[str, ...]:
        """The active leaves, in chart order (the main one first)."""
        leaves = {chart_path(n) for n in _flatten(self.model.state)}
        return tuple(sorted(leaves, key=self._order.__getitem__))

    @property
    def state(self) -> str:
        """The main leaf."""
        return self.states[0]

    @property
    def kept(self) -> Mapping[str, Any]:
        """The values kept so far."""
        return MappingProxyType(dict(self.model.kept))

    def apply(self, signal: str, /, **payload: Any) -> ReferenceStep:
        """Trigger ``signal`` with ``payload``; what it did."""
        model = self.model
        for out in (model.notifications, model.commands, model.timer_changes, model.emitted):
            out.clear()
        self.machine.trigger_event(model, signal, **payload)
        return ReferenceStep(
            model.handled,
            self.states,
            tuple(model.notifications),
            tuple(model.commands),
            tuple(model.timer_changes),
        )

    def fire(self, timer: str) -> ReferenceStep:
        """Fire a due timer in virtual time: its signal, if its state is active."""
        spec = self.chart.timers[timer]
        if not any(self.chart.contains(spec.state, leaf) for leaf in self.states):
            return ReferenceStep(False, self.states, (), (), ())
        return self.apply(spec.signal)
