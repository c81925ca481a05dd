"""What can happen in each configuration, and how a step is read from a block of choice bytes.

A configuration is every leaf a machine has active (``Machine.states``: its main leaf and
one per parallel region); the moves open in it are the command rules the chart allows
there (some state a rule names is active, in any region), the signals it handles, and
each timer that is armed and due first in virtual time (``VirtualClock``: a timer is
armed by the step that entered its state, cancelled by the one that left it, and fires
only once no other armed timer is due before it).

``flows()`` and ``chart_state_machine``'s runner let hypothesis draw one block of bytes per
example and read the whole flow from it. One hypothesis choice costs about as much as a
whole step on the machine, so a flow of fifty steps drawn choice by choice spends almost all
its time in hypothesis; read from one block it does not. Hypothesis's shrinker lowers bytes
towards zero, and zero is always the simplest reading: the first move, the first answer,
the first value, an optional argument left out.

A block is laid out as:

- ``MASK_BYTES``: which rules this example leaves out (swarm testing, as hypothesis's own
  state machines do, so that some examples never hang up and get deep into a call): bit
  ``r`` (modulo the mask's bits) set leaves rule ``r`` out, unless that leaves a state with
  nothing to do. All zero leaves nothing out.
- ``STEP_BYTES`` per step: one big-endian number. ``STOP`` (zero) ends a state machine's
  flow there; ``SKIP`` (one) is a step where nothing happens, which is how the shrinker,
  unable to delete a step from the block, takes out the steps a failure does not need (a
  reported flow leaves them out); ``flows()``, whose block starts with the flow's length,
  skips both. Any other number, less ``FIRST_MOVE``, picks modulo the
  number of moves open in the current state the move (one per command rule, one per
  signal); the quotient then picks, digit by digit, the command's answer (confirm or fail)
  and each argument and payload field. Each step has its own bytes, so simplifying one
  step does not shift the others.

Field values: a field with a strategy given (``args=`` / ``payloads=``) is drawn from it
(a hypothesis draw of its own); an argument with ``choices`` takes one of them; a payload
field some guard reads takes each value a guard names and one that fails them all
(``payload_pools``), so every guarded alternative is taken and every guard also fails; a
field that sets a timer's duration takes none, zero and a few seconds; any other takes
one of a few fixed values of its type (``VALUE_POOLS``), so the same id turning up twice
in a flow, which business code keyed by call id must handle, is common rather than rare.
A local command's answer carries its arguments as payload, as the session applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs
from hypothesis import strategies as st

from ..chart import Chart
from ..machine import Machine, Step
from .coverage import CommandVariant, command_variants

__all__ = [
    "FIRST_MOVE",
    "MASK_BYTES",
    "OTHER",
    "SKIP",
    "STEP_BYTES",
    "STOP",
    "TIMER_POOL",
    "VALUE_POOLS",
    "Chosen",
    "DrawFn",
    "Field",
    "Move",
    "MoveTable",
    "Swarm",
    "VirtualClock",
    "block_size",
    "guard_values",
    "payload_pools",
    "read_mask",
    "step_values",
    "timer_fields",
]

#: Bytes of the per-example mask of left-out rules (rules past its bits share them).
MASK_BYTES = 8
#: Bytes per step: enough for the move and the digits of its fields (each byte hypothesis
#: draws costs about a microsecond, as much as a step's own work on the machine).
STEP_BYTES = 2

#: The values a field of each type takes when no strategy is given for it. Lists are
#: handed out as fresh lists.
VALUE_POOLS: Mapping[str, tuple[Any, ...]] = MappingProxyType(
    {
        "string": ("1", "2", "3"),
        "list": (("1",), ("1", "2"), ("2",)),
        "number": (0, 1, 999),
        "bool": (False, True),
        "any": ("1", "2", "3"),
    }
)

#: Step numbers with a meaning of their own (see the module docstring).
STOP = 0
SKIP = 1
FIRST_MOVE = 2

_MASK_BITS = 8 * MASK_BYTES
_ABSENT = object()

#: hypothesis's ``draw``, for fields drawn from a strategy.
DrawFn = Callable[[st.SearchStrategy[Any]], Any]


@attrs.frozen(eq=False)
class Field:
    """An argument or payload field, and where its value comes from.

    Attributes:
        name: the argument's or payload field's name.
        pool: the values to choose from (empty when ``strategy`` is set).
        strategy: a strategy to draw the value from instead of the pool.
        optional: the field may be left out (digit zero leaves it out).
        as_list: pool values are tuples handed out as lists.
    """

    name: str
    pool: tuple[Any, ...] = ()
    strategy: st.SearchStrategy[Any] | None = None
    optional: bool = False
    as_list: bool = False
    #: How many readings one digit of this field has.
    radix: int = attrs.field(init=False)

    @radix.default
    def _radix(self) -> int:
        return (1 if self.strategy is not None else len(self.pool)) + self.optional

    def value(self, digit: int, draw: DrawFn | None) -> Any:
        """The value for ``digit`` (``_ABSENT`` for an optional field left out)."""
        if self.optional:
            if digit == 0:
                return _ABSENT
            digit -= 1
        if self.strategy is not None:
            if draw is None:
                raise RuntimeError(f"field {self.name!r} needs a draw function")
            return draw(self.strategy)
        found = self.pool[digit]
        return list(found) if self.as_list else found


@attrs.frozen(eq=False)
class Move:
    """One thing that can happen: a command rule sent, a signal arriving, a timer firing.

    Attributes:
        kind: ``"command"``, ``"signal"`` or ``"timer"``.
        name: the command variant's label, the signal's name, or the timer's id.
        rule: the move's index among every move of the table (its bit in the mask).
        variant: for a command, the rule it is sent under.
        args: for a command, its argument fields.
        outcomes: the signals that may follow, each with its payload fields: a command's
            answers (``(None, ())`` for a command that has none), the signal itself, or
            the timer's signal (no payload: ``Machine.fire`` applies it).
        local: a local command: its answer's payload is its arguments.
    """

    kind: str
    name: str
    rule: int
    variant: CommandVariant | None
    args: tuple[Field, ...]
    outcomes: tuple[tuple[str | None, tuple[Field, ...]], ...]
    local: bool = False

    def read(self, number: int, draw: DrawFn | None) -> Chosen:
        """The outcome, arguments and payload that ``number``'s digits pick.

        Raises:
            RuntimeError: a field needs a strategy drawn and ``draw`` is None.
        """
        number, pick = divmod(number, len(self.outcomes))
        signal, payload_fields = self.outcomes[pick]
        args: dict[str, Any] = {}
        for f in self.args:
            number, digit = divmod(number, f.radix)
            value = f.value(digit, draw)
            if value is not _ABSENT:
                args[f.name] = value
        payload: dict[str, Any] = dict(args) if self.local else {}
        for f in payload_fields:  # payload fields are never optional
            number, digit = divmod(number, f.radix)
            payload[f.name] = f.value(digit, draw)
        return Chosen(self, args, signal, payload)


@attrs.frozen
class Chosen:
    """A move as one step reads it.

    Attributes:
        move: the move.
        args: the command's arguments (empty for a signal).
        signal: the signal applied: the command's answer (None if it has none), the
            arriving signal, or the timer's.
        payload: that signal's payload.
    """

    move: Move
    args: Mapping[str, Any]
    signal: str | None
    payload: Mapping[str, Any]


#: The value a guarded field takes to fail every guard on it (no chart compares to it).
OTHER = "other"
#: The durations a payload field that sets a timer takes: none, not armed, armed.
TIMER_POOL: tuple[Any, ...] = (None, 0, 5)


def guard_values(chart: Chart) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Per signal, per payload field some guard reads (a transition's ``when`` or a chart
    command's), the values that matter: every value a guard names, then ``OTHER``, which
    fails them all."""
    out: dict[str, dict[str, list[Any]]] = {}
    for t in chart.transitions():
        guards = [*t.guards, *(g for s in t.sends for g in s.when)]
        for g in guards:
            if g.kind != "field":
                continue
            values = out.setdefault(t.signal, {}).setdefault(g.name, [])
            values.extend(v for v in g.values if v not in values)
    return {signal: {f: (*vs, OTHER) for f, vs in fields.items()} for signal, fields in out.items()}


def timer_fields(chart: Chart) -> frozenset[str]:
    """The payload fields some timer's duration reads: ``seconds: {field: x}``, or
    ``{kept: k}`` where a transition keeps ``k`` from a field."""
    sources = [src for t in chart.timers.values() for src in t.seconds.sources]
    fields = {name for kind, name in sources if kind == "field"}
    kept = {name for kind, name in sources if kind == "kept"}
    for t in chart.transitions():
        for name, ref in t.keeps.items():
            if name in kept:
                fields.update(n for kind, n in ref.sources if kind == "field")
    return frozenset(fields)


def payload_pools(chart: Chart) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Per signal, per payload field, the values a flow gives it: a guarded field the
    values that pass and fail each guard (``guard_values``), a field that sets a timer's
    duration ``TIMER_POOL``, any other ``VALUE_POOLS["any"]``."""
    guarded = guard_values(chart)
    timed = timer_fields(chart)
    out: dict[str, dict[str, tuple[Any, ...]]] = {}
    for signal, spec in chart.signals.items():
        pools = {}
        for f in spec.payload:
            if f in guarded.get(signal, {}):
                pools[f] = guarded[signal][f]
            elif f in timed:
                pools[f] = TIMER_POOL
            else:
                pools[f] = VALUE_POOLS["any"]
        out[signal] = pools
    return out


def _field(
    name: str,
    kind: str,
    optional: bool,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None,
    pool: tuple[Any, ...] | None = None,
) -> Field:
    if overrides and name in overrides:
        return Field(name, strategy=overrides[name], optional=optional)
    if pool is not None:
        return Field(name, pool, optional=optional)
    return Field(name, VALUE_POOLS[kind], optional=optional, as_list=kind == "list")


def _arg_field(
    name: str,
    kind: str,
    optional: bool,
    choices: tuple[Any, ...],
    overrides: Mapping[str, st.SearchStrategy[Any]] | None,
) -> Field:
    return _field(name, kind, optional, overrides, choices or None)


class MoveTable:
    """Per configuration, the moves open there under some rights and stimuli.

    Args:
        chart: the chart.
        rights: the agent's rights: command rules needing others get no move.
        stimuli: the signals that may arrive unsolicited (None: any the state handles).
        args, payloads: strategies for argument and payload fields, by name.
    """

    def __init__(
        self,
        chart: Chart,
        rights: frozenset[str],
        stimuli: Collection[str] | None = None,
        args: Mapping[str, st.SearchStrategy[Any]] | None = None,
        payloads: Mapping[str, st.SearchStrategy[Any]] | None = None,
    ) -> None:
        self.chart = chart
        self.rights = rights
        pools = payload_pools(chart)
        payload_fields = {
            s: tuple(_field(f, "any", False, payloads, pools[s][f]) for f in spec.payload)
            for s, spec in chart.signals.items()
        }
        prototypes: list[Move] = []
        self._variants: list[tuple[CommandVariant, Move]] = []
        for v in command_variants(chart):
            if not v.leaves or not v.rule.rights <= rights:
                continue
            spec = chart.commands[v.command]
            fields = []
            for arg in spec.args:
                if arg.name == v.arg or (arg.required and arg.when_given is None):
                    fields.append(_arg_field(arg.name, arg.type, False, arg.choices, args))
                elif arg.when_given is None:
                    fields.append(_arg_field(arg.name, arg.type, True, arg.choices, args))
            answers = [s for s in (v.rule.confirm, v.rule.fail) if s is not None]
            if spec.local:
                # the session applies the confirm signal at once, the arguments as payload
                outcomes: tuple[tuple[str | None, tuple[Field, ...]], ...] = ((v.rule.confirm, ()),)
            else:
                outcomes = tuple((s, payload_fields[s]) for s in answers) or ((None, ()),)
            move = Move("command", v.label, len(prototypes), v, tuple(fields), outcomes, spec.local)
            prototypes.append(move)
            self._variants.append((v, move))
        self._signals: dict[str, Move] = {}
        for signal in chart.signals:
            if stimuli is None or signal in stimuli:
                outcome = ((signal, payload_fields[signal]),)
                move = Move("signal", signal, len(prototypes), None, (), outcome)
                prototypes.append(move)
                self._signals[signal] = move
        #: the timer moves, by timer id (open when the timer is due first)
        self.timers: dict[str, Move] = {}
        for timer in chart.timers.values():
            move = Move("timer", timer.id, len(prototypes), None, (), ((timer.signal, ()),))
            prototypes.append(move)
            self.timers[timer.id] = move
        self.moves_total = len(prototypes)
        self.draws = any(
            f.strategy is not None
            for m in prototypes
            for fields in (m.args, *(p for _, p in m.outcomes))
            for f in fields
        )
        self._by_config: dict[tuple[str, ...], tuple[Move, ...]] = {}

    def moves(self, where: Machine | str) -> tuple[Move, ...]:
        """Every command and signal move open in a machine's configuration (or, given a
        leaf, in the configuration a machine entering it has), in chart order:
        commands, then signals. Timer moves depend on the clock: ``timer_moves``."""
        machine = Machine(self.chart, state=where) if isinstance(where, str) else where
        key = machine.states
        found = self._by_config.get(key)
        if found is None:
            handled = set(machine.handled())
            found = tuple(
                [m for v, m in self._variants if v.allows(machine)]
                + [m for s, m in self._signals.items() if s in handled]
            )
            # bounded by the chart's configurations
            self._by_config[key] = found
        return found

    def timer_moves(self, clock: VirtualClock) -> tuple[Move, ...]:
        """The timer moves open now: each armed timer due first."""
        return tuple(self.timers[t] for t in clock.due_first())


class VirtualClock:
    """The timers a machine's steps armed, in virtual time.

    A step's timer changes are followed in order (cancels, then starts); ``fire`` moves
    time to the timer's due time. Only the timers due first can fire: firing another
    would skip one that is due before it.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.due: dict[str, float] = {}

    def follow(self, step: Step) -> None:
        """Arm and cancel what ``step`` says."""
        for change in step.timers:
            if change.seconds is None:
                self.due.pop(change.timer, None)
            else:
                self.due[change.timer] = self.now + change.seconds

    def due_first(self) -> tuple[str, ...]:
        """The armed timers due first, by id."""
        if not self.due:
            return ()
        first = min(self.due.values())
        return tuple(sorted(t for t, at in self.due.items() if at == first))

    def fire(self, machine: Machine, timer: str) -> Step:
        """Fire an armed timer on ``machine``: time moves to its due time.

        Raises:
            KeyError: ``timer`` is not armed.
        """
        self.now = self.due.pop(timer)
        step = machine.fire(timer)
        self.follow(step)
        return step

    def key(self) -> tuple[tuple[str, float], ...]:
        """The armed timers relative to now: equal keys fire alike from here."""
        return tuple(sorted((t, at - self.now) for t, at in self.due.items()))

    def copy(self) -> VirtualClock:
        """An independent clock with the same timers."""
        other = VirtualClock()
        other.now = self.now
        other.due = dict(self.due)
        return other


class Swarm:
    """One example's view of a table: the moves its mask leaves in, per leaf.

    Args:
        table: the table.
        mask: bit ``r`` set leaves move ``r`` out (see the module docstring).
    """

    def __init__(self, table: MoveTable, mask: int) -> None:
        self._table = table
        self._mask = mask
        self._cache: dict[str | tuple[str, ...], tuple[Move, ...]] = {}

    def left_in(self, rule: int) -> bool:
        """False if the mask leaves rule index ``rule`` out."""
        return not (self._mask >> rule % _MASK_BITS) & 1

    def moves(self, where: Machine | str, clock: VirtualClock | None = None) -> tuple[Move, ...]:
        """The moves open in a machine's configuration (or a leaf's, see
        ``MoveTable.moves``) that the mask leaves in (all of them if it leaves none),
        then the timer moves ``clock`` has due (timers are never left out: a flow
        cannot hold time back)."""
        key = where if isinstance(where, str) else where.states
        found = self._cache.get(key)
        if found is None:
            every = self._table.moves(where)
            found = tuple(m for m in every if self.left_in(m.rule)) or every
            self._cache[key] = found
        if clock is not None and clock.due:
            return found + self._table.timer_moves(clock)
        return found


def block_size(steps: int, head: int = 0) -> int:
    """Bytes in a block of ``steps`` steps after ``head`` bytes and the mask."""
    return head + MASK_BYTES + steps * STEP_BYTES


def read_mask(block: bytes, head: int = 0) -> int:
    """The block's mask of left-out rules."""
    return int.from_bytes(block[head : head + MASK_BYTES], "little")


def step_values(block: bytes, head: int = 0) -> Iterator[int]:
    """The block's step numbers, in order (see the module docstring)."""
    start = head + MASK_BYTES
    for at in range(start, len(block) - STEP_BYTES + 1, STEP_BYTES):
        yield int.from_bytes(block[at : at + STEP_BYTES], "big")
