"""Hypothesis strategies for call flows: every sequence of commands and signals a chart allows.

``flows(chart)`` draws a ``Flow``: what a real agent could see, step by step. A step is
a command that ``Machine.check`` accepts in the current configuration, immediately
followed by its confirm or fail signal (a local command's confirm carries its arguments,
as the session applies it); a signal the current configuration handles arriving on its
own (an inbound call rings, the customer hangs up, the link drops), its payload drawn so
that each guard on it passes and fails; or a timer the chart armed firing, in virtual
time (the earliest due first). The chart's engine computes each step's notifications and
chart commands, so a flow carries the events business code must receive::

    from hypothesis import given
    from cti_fsm.testing import flows

    @given(flows(rights=()))
    def test_call_log(flow):
        log = CallLog()
        for note in flow.notifications:
            log.on(note)
        if flow.end == "checked_in.available.idle":
            assert log.open_call is None  # no call may stay open once the agent is free

``tests/examples/test_screen_pop.py`` is a complete example, with the bug it finds.

Each example is read from one block of bytes that hypothesis draws (``moves.py`` says
how), so a flow costs one hypothesis choice, not several per step, and shrinks towards the
first move and the first value of everything. Command arguments and signal payload fields
take one of a few fixed values of their type (``VALUE_POOLS``: three strings, three
lists, ...), so the same call id turning up twice is common; pass ``args=`` /
``payloads=`` to draw a field from your own strategy instead. A field some guard reads
takes each value a guard names and one that fails them all (such a step may be ignored:
``FlowStep.ignored``); an argument with ``choices`` takes one of them. Timers run in
virtual time: a timer armed by a step may fire as a step of its own, the earliest due
first (a flow that starts in a state with timers has them armed). Not modelled: a
command left unanswered (timeout), and signals arriving between a command and its answer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from itertools import chain, repeat
from types import MappingProxyType
from typing import Any

import attrs
from hypothesis import strategies as st

from ..chart import ArgSpec, Chart
from ..chart_loader import default_chart
from ..events import ChartCommand
from ..machine import Machine, Notification, Step
from ..secrets import REDACTED
from .coverage import CommandVariant
from .moves import (
    FIRST_MOVE,
    VALUE_POOLS,
    MoveTable,
    Swarm,
    VirtualClock,
    block_size,
    payload_pools,
    read_mask,
    step_values,
)

__all__ = ["Flow", "FlowStep", "flows"]

_NONE: frozenset[str] = frozenset()

_ARG_VALUES: Mapping[str, st.SearchStrategy[Any]] = MappingProxyType(
    {kind: st.sampled_from(pool) for kind, pool in VALUE_POOLS.items() if kind != "list"}
    | {"list": st.sampled_from(VALUE_POOLS["list"]).map(list)}  # a fresh list each time
)


@attrs.frozen
class FlowStep:
    """One thing that happens in a flow.

    Attributes:
        kind: ``"command"`` (business code sent it), ``"signal"`` (the switch said it)
            or ``"timer"`` (a timer the chart armed fired).
        name: the command's or the signal's name, or the timer's id.
        args: the command's arguments, or the signal's payload.
        source: full path of the main leaf state before the step.
        target: full path of the main leaf state after it (a command alone never moves).
        notifications: what the step emitted (always empty for a command).
        answers: for the signal that answers a command, that command's name.
        secret: the arguments the chart calls secret: shown as ``***`` in the step's
            ``repr`` and ``str`` (a failing example's report must not print a password).
        states: every active leaf after the step (``Machine.states``).
        sent: the chart commands the step sends.
        ignored: the signal arrived and nothing happened (its payload failed every
            guard; a flow draws such payloads on purpose).
    """

    kind: str
    name: str
    args: Mapping[str, Any] = attrs.field(repr=False)
    source: str
    target: str
    notifications: tuple[Notification, ...] = ()
    answers: str | None = None
    states: tuple[str, ...] = ()
    sent: tuple[ChartCommand, ...] = ()
    ignored: bool = False
    secret: frozenset[str] = frozenset()

    @property
    def shown_args(self) -> dict[str, Any]:
        """The arguments as they may be shown: secret ones replaced by ``***``."""
        return {k: REDACTED if k in self.secret else v for k, v in self.args.items()}

    @property
    def names(self) -> tuple[str, ...]:
        """The emitted notifications' names."""
        return tuple(n.name for n in self.notifications)

    def __repr__(self) -> str:
        return (
            f"FlowStep(kind={self.kind!r}, name={self.name!r}, args={self.shown_args!r},"
            f" source={self.source!r}, target={self.target!r},"
            f" notifications={self.notifications!r}, answers={self.answers!r})"
        )

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.shown_args.items())
        if self.kind == "command":
            return f"{self.source}: {self.name}({args})"
        emitted = f" -> {', '.join(self.names)}" if self.notifications else ""
        sent = f" sends {', '.join(c.command for c in self.sent)}" if self.sent else ""
        what = f"timer {self.name}" if self.kind == "timer" else f"signal {self.name}({args})"
        return f"{self.source}: {what} => {self.target}{emitted}{sent}"


@attrs.frozen
class Flow:
    """A sequence of steps a chart allows, with what each emits.

    Attributes:
        start: the leaf state the flow starts in.
        rights: the rights the agent had (which commands were possible).
        steps: the commands and signals, in order.
    """

    start: str
    rights: frozenset[str]
    steps: tuple[FlowStep, ...]

    @property
    def end(self) -> str:
        """The leaf state after the last step."""
        return self.steps[-1].target if self.steps else self.start

    @property
    def signals(self) -> tuple[FlowStep, ...]:
        """The signal steps: what a machine (or an agent's event stream) receives."""
        return tuple(s for s in self.steps if s.kind == "signal")

    @property
    def commands(self) -> tuple[FlowStep, ...]:
        """The command steps: what business code sent."""
        return tuple(s for s in self.steps if s.kind == "command")

    @property
    def timers(self) -> tuple[FlowStep, ...]:
        """The timer steps: the chart's timers that fired."""
        return tuple(s for s in self.steps if s.kind == "timer")

    @property
    def sent(self) -> tuple[ChartCommand, ...]:
        """Every chart command the flow's steps sent, in order."""
        return tuple(c for s in self.steps for c in s.sent)

    @property
    def notifications(self) -> tuple[Notification, ...]:
        """Every notification the flow emits, in order."""
        return tuple(n for s in self.steps for n in s.notifications)

    def replay(self, machine: Machine) -> list[Step]:
        """Check each command, apply each signal and fire each timer of the flow on
        ``machine``.

        Raises:
            CommandError: ``machine`` refuses a command the flow sent (it is not in the
                flow's start state, or lacks the rights).
        """
        out = []
        for step in self.steps:
            if step.kind == "command":
                machine.check(step.name, **step.args)
            elif step.kind == "timer":
                out.append(machine.fire(step.name))
            else:
                out.append(machine.apply(step.name, **step.args))
        return out

    def __str__(self) -> str:
        return "\n".join([f"flow from {self.start}:", *(f"  {s}" for s in self.steps)])


def arg_strategy(
    arg: ArgSpec, overrides: Mapping[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Any]:
    """Values for one command argument: ``overrides[arg.name]``, one of its choices, or a
    small one by type."""
    if overrides and arg.name in overrides:
        return overrides[arg.name]
    if arg.choices:
        return st.sampled_from(arg.choices)
    return _ARG_VALUES[arg.type]


def args_strategy(
    chart: Chart,
    variant: CommandVariant,
    overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments that select ``variant``: its argument given, other rules' arguments not."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for arg in chart.commands[variant.command].args:
        if arg.name == variant.arg or (arg.required and arg.when_given is None):
            required[arg.name] = arg_strategy(arg, overrides)
        elif arg.when_given is None:
            optional[arg.name] = arg_strategy(arg, overrides)
    return st.fixed_dictionaries(required, optional=optional)


def payload_strategy(
    chart: Chart, signal: str, overrides: Mapping[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """A payload for ``signal``: every field the chart declares for it, a guarded one
    passing and failing its guards (``moves.payload_pools``)."""
    pools = payload_pools(chart)[signal]
    return st.fixed_dictionaries(
        {f: (overrides or {}).get(f, st.sampled_from(pools[f])) for f in pools}
    )


def answers(variant: CommandVariant) -> tuple[str, ...]:
    """The signals that may answer a command sent under ``variant``'s rule."""
    return tuple(s for s in (variant.rule.confirm, variant.rule.fail) if s is not None)


def flows(
    chart: Chart | None = None,
    *,
    rights: Iterable[str] | None = None,
    start: str | None = None,
    min_steps: int = 1,
    max_steps: int = 20,
    stimuli: Collection[str] | None = None,
    args: Mapping[str, st.SearchStrategy[Any]] | None = None,
    payloads: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[Flow]:
    """A strategy of valid call flows under ``chart`` (see the module docstring).

    Args:
        chart: the chart (default: the default chart).
        rights: the agent's rights (default: every right the chart declares).
        start: the state to start in (default: the chart's initial state).
        min_steps, max_steps: how many commands and unsolicited signals a flow has
            (a command and its answer count as one); a flow stops early in a state
            where nothing can happen.
        stimuli: the signals that may arrive unsolicited (default: any signal the
            current state handles); answers to commands are drawn regardless.
        args: strategies for command arguments, by argument name.
        payloads: strategies for signal payload fields, by field name.

    Raises:
        ValueError: ``start`` names no state, or the step bounds are inconsistent.
    """
    chart = chart if chart is not None else default_chart()
    granted = frozenset(chart.rights if rights is None else rights)
    if not 0 <= min_steps <= max_steps:
        raise ValueError(f"need 0 <= min_steps <= max_steps, got {min_steps} and {max_steps}")
    try:
        first = Machine(chart, rights=granted, state=start)
    except KeyError:
        raise ValueError(f"chart {chart.name!r} has no state {start!r}") from None
    table = MoveTable(chart, granted, stimuli, args, payloads)
    secret_args = {
        c.name: frozenset(a.name for a in c.args if a.secret)
        for c in chart.commands.values()
        if any(a.secret for a in c.args)
    }
    # the head holds the flow's length; then the mask and one slice per step (moves.py)
    head = 2
    block = st.binary(min_size=block_size(max_steps, head), max_size=block_size(max_steps, head))
    lengths = max_steps - min_steps + 1

    @st.composite
    def draw_flow(draw: st.DrawFn) -> Flow:
        choices = draw(block)
        count = min_steps + int.from_bytes(choices[:head], "big") % lengths
        field_draw = draw if table.draws else None
        swarm = Swarm(table, read_mask(choices, head))
        machine = first.copy()
        clock = VirtualClock()
        clock.due.update({t.timer: t.seconds or 0.0 for t in machine.timers()})
        steps: list[FlowStep] = []
        # skipped steps do not count; once the block runs out, the simplest move follows
        numbers = chain(
            (n - FIRST_MOVE for n in step_values(choices, head) if n >= FIRST_MOVE), repeat(0)
        )
        for _, number in zip(range(count), numbers, strict=False):
            leaf = machine.state
            moves = swarm.moves(machine, clock)
            if not moves:
                break
            rest, index = divmod(number, len(moves))
            chosen = moves[index].read(rest, field_draw)
            if chosen.move.kind == "timer":
                step = clock.fire(machine, chosen.move.name)
                steps.append(_flow_step("timer", chosen.move.name, machine, step))
                continue
            if chosen.move.variant is None:
                assert chosen.signal is not None
                steps.append(_signal_step(machine, clock, chosen.signal, chosen.payload))
                continue
            command = chosen.move.variant.command
            machine.check(command, **chosen.args)
            hidden = secret_args.get(command, _NONE)
            steps.append(
                FlowStep(
                    "command",
                    command,
                    chosen.args,
                    leaf,
                    leaf,
                    states=machine.states,
                    secret=hidden,
                )
            )
            if chosen.signal is not None:
                steps.append(
                    _signal_step(machine, clock, chosen.signal, chosen.payload, answers=command)
                )
        return Flow(first.state, granted, tuple(steps))

    return draw_flow()


def _signal_step(
    machine: Machine,
    clock: VirtualClock,
    signal: str,
    payload: Mapping[str, Any],
    answers: str | None = None,
) -> FlowStep:
    step = machine.apply(signal, **payload)
    clock.follow(step)
    return _flow_step("signal", signal, machine, step, answers)


def _flow_step(
    kind: str, name: str, machine: Machine, step: Step, answers: str | None = None
) -> FlowStep:
    return FlowStep(
        kind,
        name,
        step.payload,
        step.source,
        step.target,
        step.notifications,
        answers,
        states=machine.states,
        sent=step.commands,
        ignored=step.ignored,
    )
