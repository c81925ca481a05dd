"""The engine: a machine per agent over a chart compiled once into tables.

Sans-IO and h11-style: ``Machine.check`` validates a command against the tables and changes
nothing; ``Machine.apply`` looks a signal up in the current configuration's row and moves.
All the chart's structure (nesting, parallel regions, parent-declared transitions, guards
on states and settings, history) is flattened by ``compiler`` into one row per
configuration, so a step is a dict lookup and, for a signal without payload, a
precomputed ``Step``. The machine has no clock: a step lists the timers to start and
cancel, and ``fire`` applies a timer that is due. No state name appears here: the chart
decides everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .chart import ARG_TYPES, Chart, CommandRule, CommandSpec
from .compiler import CompiledChart, Edge, Move, build_step, compile_chart, seconds_of
from .errors import IllegalCommand, InvalidArguments, PermissionDenied, UnexpectedSignal
from .events import Notification, Step, TimerChange

__all__ = ["CompiledChart", "Machine", "Notification", "Step", "compile_chart"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_new = tuple.__new__


def _notes(emits: tuple[Any, ...], payload: Mapping[str, Any]) -> tuple[Notification, ...]:
    # most transitions emit one notification: no comprehension (a call on Python 3.11)
    if len(emits) == 1:
        return (emits[0].build(payload),)
    return tuple([e.build(payload) for e in emits])


_NO_RIGHTS: frozenset[str] = frozenset()


def _type_name(kind: str) -> str:
    return {"list": "a list (or comma-separated string)", "any": "anything"}.get(kind, f"a {kind}")


class Machine:
    """One agent's state under a chart: a configuration, its history and the values its
    transitions kept, nothing else.

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

    __slots__ = ("_c", "_hist", "_kept", "_row", "rights", "strict")

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
        # None until a transition keeps a value: most machines never hold one
        self._kept: dict[str, Any] | None = None
        if state is None:
            self._row = c.rows[c.initial_config]
            self._hist = c.marks[c.initial_config][1]
        else:
            self._enter(state)

    # --- reading ----------------------------------------------------------------------------
    @property
    def chart(self) -> Chart:
        """The chart this machine runs."""
        return self._c.chart

    @property
    def state(self) -> str:
        """Full dotted path of the current main leaf state, e.g. ``"checked_in.talking"``.

        A state with parallel regions has one leaf active in each region beside it:
        ``states`` lists them all.
        """
        return self._c.main[self._row.config]

    @property
    def states(self) -> tuple[str, ...]:
        """Full paths of every active leaf: the main one first, then each region's."""
        c = self._c
        return tuple(c.paths[n] for n in c.configs[self._row.config])

    @property
    def kept(self) -> Mapping[str, Any]:
        """The values transitions kept (``keep:``), by name."""
        return MappingProxyType(dict(self._kept)) if self._kept else _EMPTY

    def in_state(self, state: str) -> bool:
        """True if ``state`` is active (the current leaf, an ancestor, or a region's).

        Raises:
            KeyError: the chart has no such state.
        """
        return self._c.chart.resolve(state) in self._c.active[self._row.config]

    @property
    def history(self) -> tuple[str | None, ...]:
        """Per history state (in chart order), the child it would resume, or None."""
        c = self._c
        mask = (1 << c.history_bits) - 1
        out = []
        for n in sorted(c.history_shift):
            last = (self._hist >> c.history_shift[n]) & mask
            out.append(c.paths[last - 1] if last else None)
        return tuple(out)

    @property
    def configuration(self) -> tuple[int, int]:
        """The machine's whole state as one opaque, hashable value.

        Two machines of the same chart and rights with equal configurations take the same
        transitions from now on: the value covers every active leaf and what every history
        state would resume (kept values only change what chart commands carry). Cheap to
        take; meant for comparing and for search (visited sets).
        """
        return (self._row.config, self._hist)

    def allowed(self) -> tuple[str, ...]:
        """The commands that may be sent now (state and rights), in chart order."""
        return self._c.allowed(self._row.config, self.rights)

    def handles(self, signal: str) -> bool:
        """True if the current configuration has a transition for ``signal``."""
        return signal in self._row

    def handled(self) -> tuple[str, ...]:
        """The signals the current configuration has a transition for."""
        return tuple(self._row)

    def timers(self) -> tuple[TimerChange, ...]:
        """The timers of every active state, with their durations as of now (those that
        arm nothing left out): what a driver arms for a machine it starts or resumes."""
        c = self._c
        chart = c.chart
        out = []
        for timer_id in c.timers_of(self._row.config):
            value = seconds_of(
                chart.timers[timer_id].seconds.resolve(_EMPTY, self._kept, chart.settings)
            )
            if value is not None:
                out.append(TimerChange(timer_id, value))
        return tuple(out)

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
        leaf = self._row.config
        if leaf not in self._c.rule_configs[rule]:
            # allowed() may list it all the same, for an argument that selects another rule
            # (pause(agent_id=...)); say which, or the message contradicts itself
            with_args = [
                repr(a.name)
                for a in spec.args
                if a.when_given is not None
                and a.when_given is not rule
                and leaf in self._c.rule_configs[a.when_given]
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
            if arg.choices and value not in arg.choices:
                raise InvalidArguments(
                    f"argument {arg.name!r} of command {spec.name!r} must be one of"
                    f" {', '.join(map(str, arg.choices))}, not {value!r}",
                    command=spec.name,
                    state=self.state,
                )

    # --- signals ----------------------------------------------------------------------------
    def apply(self, signal: str, /, **payload: Any) -> Step:
        """Apply a signal: take the transitions the current configuration has for it.

        Returns:
            The step taken; ``step.ignored`` if no transition applies (none is declared,
            or every candidate's guard fails).

        Raises:
            UnexpectedSignal: in strict mode, no transition applies (the state is
                unchanged).
        """
        # the hot path: a move known at compile time that leaves history alone is one
        # store, and without payload its Step is precomputed
        edge = self._row.get(signal)
        if edge is None:
            return self._ignore(signal, payload)
        if edge.plain:
            self._row = edge.row  # type: ignore[assignment]
            if not payload:
                return edge.step  # type: ignore[return-value]
            if edge.simple:
                # the payload path: only the notifications need it (a Step is a tuple,
                # made directly: no defaults to fill, no keywords to match)
                emits = edge.emits
                return _new(
                    Step,
                    (
                        edge.source_path,
                        edge.target_path,
                        signal,
                        (emits[0].build(payload),) if len(emits) == 1 else _notes(emits, payload),
                        MappingProxyType(payload),
                        False,
                        (),
                        (),
                    ),
                )
            return self._build(edge.move, edge.source, payload)  # type: ignore[arg-type]
        move = edge.move
        if move is None and edge.by_history is not None:
            move = edge.by_history.get(self._hist) or edge.for_history(self._hist)
        if move is not None and not move.keeps and not move.dynamic:
            # no guard to decide, and only history changes (a history state was left or
            # entered, or resumed)
            self._row = self._c.rows[move.config]
            self._hist = self._hist & move.keep | move.mark
            if not payload:
                return move.step
            if not move.timers and not move.sends:
                step = move.step
                emits = move.emits
                return _new(
                    Step,
                    (
                        step.source,
                        step.target,
                        signal,
                        (emits[0].build(payload),) if len(emits) == 1 else _notes(emits, payload),
                        MappingProxyType(payload),
                        False,
                        (),
                        (),
                    ),
                )
            return self._build(move, edge.source, payload)
        return self._apply_slow(edge, signal, payload, move)

    def _apply_slow(
        self, edge: Edge, signal: str, payload: dict[str, Any], move: Move | None
    ) -> Step:
        move = move or edge.resolve(self._hist, payload)
        if move is None:
            return self._ignore(signal, payload)
        c = self._c
        source = self._row.config
        self._row = c.rows[move.config]
        self._hist = self._hist & move.keep | move.mark
        if move.keeps:
            settings = c.chart.settings
            kept = self._kept if self._kept is not None else {}
            # the values come from the payload as it arrived, before this step's own keeps
            before = dict(kept)
            for name, ref in move.keeps:
                kept[name] = ref.resolve(payload, before, settings)
            self._kept = kept
        if not payload and not move.dynamic and not move.keeps:
            return move.step
        return self._build(move, source, payload)

    def _build(self, move: Move, source: int, payload: dict[str, Any]) -> Step:
        c = self._c
        return build_step(
            move,
            c.main[source],
            c.main[move.config],
            move.step.signal,
            MappingProxyType(payload) if payload else _EMPTY,
            self._kept,
            c.chart,
        )

    def fire(self, timer: str) -> Step:
        """Apply a due timer: its signal, if its state is still active (else ignored).

        Raises:
            KeyError: the chart has no such timer.
        """
        spec = self._c.chart.timers[timer]
        if spec.state not in self._c.active[self._row.config]:
            here = self.state
            return Step(here, here, spec.signal, ignored=True)
        return self.apply(spec.signal)

    def _ignore(self, signal: str, payload: dict[str, Any]) -> Step:
        if self.strict:
            known = signal in self._c.chart.signals
            raise UnexpectedSignal(signal=signal, state=self.state, known=known)
        here = self.state
        return Step(here, here, signal, (), MappingProxyType(payload), ignored=True)

    def jump(self, state: str) -> Step:
        """Move straight to ``state`` (resynchronising with a server's snapshot).

        A composite state is entered as a transition would enter it (history, then
        initial, and every region). No notification is emitted: the caller knows what it
        resynchronised. The step cancels the timers of the states left and starts those
        of the states entered.

        Raises:
            KeyError: the chart has no such state.
        """
        source = self.state
        before = self._c.timers_of(self._row.config)
        self._enter(state)
        timers = (*(TimerChange(t) for t in before), *self.timers())
        return Step(source, self.state, None, timers=timers)

    def _enter(self, state: str) -> None:
        c = self._c
        here = getattr(self, "_row", None)
        config = c.enter(c.chart.resolve(state), self._hist, here.config if here else None)
        self._row = c.rows[config]
        keep, mark = c.marks[config]
        self._hist = self._hist & keep | mark

    def copy(self) -> Machine:
        """An independent machine in the same state, with the same history and rights."""
        other = Machine.__new__(Machine)
        other._c = self._c
        other.rights = self.rights
        other.strict = self.strict
        other._hist = self._hist
        other._row = self._row
        other._kept = dict(self._kept) if self._kept is not None else None
        return other

    def __repr__(self) -> str:
        return f"<Machine {self._c.chart.name!r} state={self.state!r}>"
