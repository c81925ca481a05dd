"""A hypothesis ``RuleBasedStateMachine`` generated from a chart, seeded with shortest paths.

``chart_state_machine(chart)`` returns a class with one rule per command (per rule of a
command, when an argument selects another rule: ``command_pause`` and
``command_pause_with_agent_id``), one per signal and one for the chart's timers, each
enabled only where the chart allows it: a command where some state its rule names is
active (in any region), a signal where the configuration handles it, a timer once a step
armed it and it is due first in virtual time (``moves.VirtualClock``). A command rule
checks the command, then applies its confirm or fail signal (a local command's confirm
with its arguments as payload); a signal rule applies the signal unsolicited, its payload
drawn to pass and fail each guard on it (a payload that fails them all must change
nothing); a timer rule fires the timer. Two more rules probe refusals: a command the
configuration does not allow, and a signal it does not handle, must both leave the
machine exactly as it was. Invariants: the main state is a declared main leaf and every
active leaf a declared leaf, and the commands the machine allows are the ones the chart
declares for that configuration and those rights.

Before hypothesis explores, the class walks the shortest paths to every transition it can
reach (as XState's test model does): a breadth-first search over the machine's
configurations (every active leaf, history, and the armed timers) greedily chains the
nearest untaken transition (each guarded alternative and each timer is one; see
``coverage``) into walks of at most ``plan_steps`` steps, and each walk runs as one
example. So every
transition is taken in the first few examples, not by luck; hypothesis then explores
freely. A walk that fails is reported with its steps; it is already short.

Hypothesis explores through ``explore``: each example is one block of bytes that
hypothesis draws, read step by step (``moves.py``): at each step one of the rules whose
precondition holds, with its arguments, then every invariant. Hypothesis's own runner
(``run_state_machine_as_test``) makes a choice per rule and per argument and tests every
rule's precondition at every step; with some eighty rules that is about twenty times
slower (``benchmarks/flows.py`` measures both). It still runs these classes, and
``explore`` hands it any class whose rules use bundles. Like hypothesis's runner,
``explore`` leaves a random set of rules out of each example (swarm testing) and shrinks
a failure: steps it can do without are skipped, and the note on the error lists the
steps that remain.

Use it as a test of your own code by overriding the hooks, which both phases call::

    class AgentFlows(chart_state_machine(default_chart(), rights=())):
        def __init__(self) -> None:
            super().__init__()
            self.log = CallLog()

        def on_signal(self, step: Step) -> None:
            for note in step.notifications:
                self.log.on(note)

    TestAgentFlows = AgentFlows.TestCase  # collected by pytest (or unittest)

``AgentFlows.TestCase.settings = settings(max_examples=50)`` tunes the hypothesis phase
(``stateful_step_count`` is a flow's length); ``AgentFlows.run()`` runs both phases outside
a test runner. Rules added with hypothesis's ``@rule`` and ``@invariant`` in a subclass run
in the hypothesis phase (invariants in both), drawing their arguments from their
strategies; ``@initialize`` rules run at the start of each hypothesis example, in the
order they are declared.
"""

from __future__ import annotations

import re
import unittest
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from typing import Any, ClassVar, cast

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ..chart import Chart, CommandRule
from ..chart_loader import default_chart
from ..errors import IllegalCommand, PermissionDenied
from ..machine import Machine, Step
from .coverage import ChartTransition, CommandVariant, Coverage, cells_of, command_variants
from .moves import (
    FIRST_MOVE,
    STOP,
    Chosen,
    DrawFn,
    MoveTable,
    Swarm,
    VirtualClock,
    block_size,
    guard_values,
    payload_pools,
    read_mask,
    step_values,
    timer_fields,
)
from .strategies import answers, args_strategy, payload_strategy

__all__ = ["ChartStateMachine", "chart_state_machine", "plan_walks"]

#: Marks the rules ``chart_state_machine`` generates (the runner reads them from its table).
_CHART_RULE = "_cti_fsm_chart_rule"
#: Marks the refusal probes (the runner gives them an index from the flow's bytes).
_PROBE = "_cti_fsm_probe"
#: The refusal probes' index range.
_PROBE_INDICES = 1001


def _probe(function: Any) -> Any:
    setattr(function, _PROBE, True)
    return function


_SAMPLE_VALUES: Mapping[str, Any] = {
    "string": "1",
    "list": ["1"],
    "number": 1,
    "bool": True,
    "any": "1",
}


@attrs.frozen
class Action:
    """One step of a planned walk.

    Attributes:
        kind: ``"command"``, ``"signal"`` or ``"timer"``.
        name: the command variant's label, the signal's name, or the timer's id.
        answer: for a command, the signal that answers it (None if it has none).
        args: for a command, its arguments.
        payload: the signal's (or the answer's) payload.
    """

    kind: str
    name: str
    answer: str | None = None
    args: tuple[tuple[str, Any], ...] = ()
    payload: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        # the sample value every other field takes is left out: it chooses nothing
        payload = ", ".join(f"{k}={v!r}" for k, v in self.payload if v not in _PLAIN)
        if self.kind == "timer":
            return f"timer {self.name}"
        if self.kind == "signal":
            return f"signal {self.name}" + (f"({payload})" if payload else "")
        args = ", ".join(f"{k}={v!r}" for k, v in self.args if v not in _PLAIN)
        text = f"command {self.name}" + (f"({args})" if args else "")
        return text + (f" -> {self.answer}" + (f"({payload})" if payload else "")) * bool(
            self.answer
        )


#: the sample values a planned action's fields take when their value chooses nothing
_PLAIN = ("1", ["1"])
#: the most payload combinations a planned action tries for one signal
_MAX_VARIANTS = 16


def _variants(pools: Mapping[str, tuple[Any, ...]]) -> list[tuple[tuple[str, Any], ...]]:
    """The combinations of the fields that choose (guards, timers), others sampled."""
    names = list(pools)
    out: list[tuple[tuple[str, Any], ...]] = [()]
    for name in names:
        out = [(*done, (name, value)) for done in out for value in pools[name]]
        out = out[:_MAX_VARIANTS]
    return out


class _Planner:
    """The actions open in each configuration, and what taking one covers."""

    def __init__(self, chart: Chart, rights: frozenset[str], stimuli: Collection[str] | None):
        self.chart = chart
        self.rights = rights
        self.stimuli = stimuli
        self.cells = cells_of(chart)
        self.variants = {v.label: v for v in command_variants(chart) if v.rule.rights <= rights}
        pools = payload_pools(chart)
        guarded = guard_values(chart)
        timed = timer_fields(chart)
        # the fields whose value decides something: guards and timers' durations
        chosen = {s: set(guarded.get(s, ())) | (timed & set(pools[s])) for s in chart.signals}
        # per signal: the payloads a plan tries (choosing fields varied, others "1")
        self.payloads = {
            s: _variants({f: (pools[s][f] if f in chosen[s] else ("1",)) for f in pools[s]})
            for s in chart.signals
        }
        self._by_config: dict[tuple[str, ...], list[Action]] = {}

    def _args(self, v: CommandVariant) -> list[tuple[tuple[str, Any], ...]]:
        spec = self.chart.commands[v.command]
        pools: dict[str, tuple[Any, ...]] = {}
        for arg in spec.args:
            if arg.name == v.arg or (arg.required and arg.when_given is None):
                pools[arg.name] = arg.choices or (_SAMPLE_VALUES[arg.type],)
            elif arg.when_given is None and arg.choices:
                pools[arg.name] = arg.choices
        return _variants(pools)

    def actions(self, machine: Machine) -> list[Action]:
        """Every action open in the machine's configuration (timers aside)."""
        key = machine.states
        found = self._by_config.get(key)
        if found is not None:
            return found
        acts: list[Action] = []
        for v in self.variants.values():
            if not v.allows(machine):
                continue
            local = self.chart.commands[v.command].local
            for args in self._args(v):
                possible = answers(v)
                if not possible:
                    acts.append(Action("command", v.label, None, args))
                for answer in possible:
                    payloads = [args] if local else self.payloads[answer]
                    acts.extend(Action("command", v.label, answer, args, p) for p in payloads)
        handled = set(machine.handled())
        for signal in self.chart.signals:
            if signal in handled and (self.stimuli is None or signal in self.stimuli):
                acts.extend(Action("signal", signal, payload=p) for p in self.payloads[signal])
        # bounded by the chart's configurations
        self._by_config[key] = acts
        return acts

    def open(self, machine: Machine, clock: VirtualClock) -> list[Action]:
        """The actions open now, the timers due first included."""
        return [*self.actions(machine), *(Action("timer", t) for t in clock.due_first())]

    def take(self, machine: Machine, clock: VirtualClock, action: Action) -> list[ChartTransition]:
        """Take ``action`` on ``machine``; the cells it covered."""
        cells = self.cells
        states = machine.states
        if action.kind == "timer":
            spec = self.chart.timers[action.name]
            step = clock.fire(machine, action.name)
            if step.ignored:
                return []
            return [
                ChartTransition(spec.state, "timer", action.name),
                *cells.signal_cells(states, spec.signal, {}),
            ]
        out = []
        signal = action.name
        if action.kind == "command":
            out.extend(cells.command_cells(states, action.name))
            if action.answer is None:
                return out
            signal = action.answer
        payload = dict(action.payload)
        step = machine.apply(signal, **payload)
        clock.follow(step)
        if not step.ignored:
            out.extend(cells.signal_cells(states, signal, payload))
        return out


def plan_walks(
    chart: Chart,
    *,
    rights: Iterable[str] | None = None,
    stimuli: Collection[str] | None = None,
    start: str | None = None,
    plan_steps: int = 50,
) -> tuple[tuple[Action, ...], ...]:
    """Walks from the start state that together take every reachable transition.

    From where the walk is, a breadth-first search over configurations (active leaves,
    history and armed timers) finds the nearest action that takes a transition not yet
    taken; the walk follows that shortest path and repeats. A walk ends after about
    ``plan_steps`` steps and the next starts afresh.

    Raises:
        ValueError: ``plan_steps`` is not positive.
    """
    if plan_steps < 1:
        raise ValueError(f"plan_steps must be positive, got {plan_steps}")
    granted = frozenset(chart.rights if rights is None else rights)
    planner = _Planner(chart, granted, stimuli)
    untaken = set(_reachable_cells(chart, planner, start))
    walks: list[tuple[Action, ...]] = []
    while untaken:
        machine = Machine(chart, rights=granted, state=start)
        clock = VirtualClock()
        walk: list[Action] = []
        while untaken and len(walk) < plan_steps:
            path = _shortest_path(planner, machine, clock, untaken)
            if path is None or (walk and len(walk) + len(path) > plan_steps):
                break
            for action in path:
                untaken.difference_update(planner.take(machine, clock, action))
                walk.append(action)
        if not walk:
            break  # nothing left is reachable from the start
        walks.append(tuple(walk))
    return tuple(walks)


def _reachable_cells(chart: Chart, planner: _Planner, start: str | None) -> set[ChartTransition]:
    """Every cell some action takes from some configuration reachable from the start."""
    machine = Machine(chart, rights=planner.rights, state=start)
    clock = VirtualClock()
    seen = {(machine.configuration, clock.key())}
    queue: deque[tuple[Machine, VirtualClock]] = deque([(machine, clock)])
    found: set[ChartTransition] = set()
    while queue:
        here, here_clock = queue.popleft()
        for action in planner.open(here, here_clock):
            there, there_clock = here.copy(), here_clock.copy()
            found.update(planner.take(there, there_clock, action))
            key = (there.configuration, there_clock.key())
            if key not in seen:
                seen.add(key)
                queue.append((there, there_clock))
    return found


def _shortest_path(
    planner: _Planner,
    machine: Machine,
    clock: VirtualClock,
    untaken: set[ChartTransition],
) -> list[Action] | None:
    seen = {(machine.configuration, clock.key())}
    queue: deque[tuple[Machine, VirtualClock, list[Action]]] = deque([(machine, clock, [])])
    while queue:
        here, here_clock, path = queue.popleft()
        moves = []
        for action in planner.open(here, here_clock):
            there, there_clock = here.copy(), here_clock.copy()
            if any(t in untaken for t in planner.take(there, there_clock, action)):
                return [*path, action]
            moves.append((action, there, there_clock))
        for action, there, there_clock in moves:
            key = (there.configuration, there_clock.key())
            if key not in seen:
                seen.add(key)
                queue.append((there, there_clock, [*path, action]))
    return None


def _rule_name(text: str) -> str:
    return re.sub(r"\W", "_", text)


class _SeededTestCaseProperty:
    """``Machine.TestCase``: a unittest case running the seeded walks, then hypothesis."""

    def __get__(
        self, obj: object, owner: type[ChartStateMachine] | None = None
    ) -> type[unittest.TestCase]:
        cls = owner if owner is not None else type(obj)
        assert issubclass(cls, ChartStateMachine)
        found = cls.__dict__.get("_test_case")
        if found is None:
            found = _make_test_case(cls)
            type.__setattr__(cls, "_test_case", found)
        return found


def _make_test_case(cls: type[ChartStateMachine]) -> type[unittest.TestCase]:
    class ChartStateMachineTestCase(unittest.TestCase):
        settings = settings(deadline=None, suppress_health_check=list(HealthCheck))

        def runTest(self) -> None:
            cls.run(settings=self.settings)

    ChartStateMachineTestCase.__name__ = f"{cls.__name__}.TestCase"
    ChartStateMachineTestCase.__qualname__ = f"{cls.__qualname__}.TestCase"
    return ChartStateMachineTestCase


class ChartStateMachine(RuleBasedStateMachine):
    """Base of the classes ``chart_state_machine`` builds; see the module docstring.

    Attributes:
        machine: the machine under test (a fresh one per example).
        coverage: class-wide: the transitions taken by every example so far.
        examples: class-wide: how many examples (walks and hypothesis runs) ran.
        steps: class-wide: how many steps (moves, probes and your rules) they took.
        full_coverage_at: class-wide: the example that took the last reachable
            transition (None until then).
    """

    chart: ClassVar[Chart]
    rights: ClassVar[frozenset[str]]
    stimuli: ClassVar[Collection[str] | None]
    plan_steps: ClassVar[int]
    variants: ClassVar[Mapping[str, CommandVariant]]
    coverage: ClassVar[Coverage]
    reachable: ClassVar[frozenset[ChartTransition]]
    examples: ClassVar[int]
    steps: ClassVar[int]
    full_coverage_at: ClassVar[int | None]
    _args: ClassVar[Mapping[str, st.SearchStrategy[Any]] | None]
    _payloads: ClassVar[Mapping[str, st.SearchStrategy[Any]] | None]
    _leaves: ClassVar[frozenset[str]]
    _all_leaves: ClassVar[frozenset[str]]
    _guarded: ClassVar[frozenset[str]]
    _allowed_seen: ClassVar[dict[tuple[str, ...], tuple[str, ...]]]
    _planner: ClassVar[_Planner]
    _plans: ClassVar[tuple[tuple[Action, ...], ...] | None]

    TestCase = _SeededTestCaseProperty()  # type: ignore[assignment]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "chart"):
            # a subclass (yours, of a generated class) counts its own examples
            cls.coverage = Coverage(cls.chart)
            cls.examples = 0
            cls.steps = 0
            cls.full_coverage_at = None

    def __init__(self) -> None:
        super().__init__()
        self.machine = Machine(self.chart, rights=self.rights)
        #: the timers the machine's steps armed, in virtual time
        self.clock = VirtualClock()

    # --- hooks for subclasses -----------------------------------------------------------------
    def on_command(self, command: str, args: Mapping[str, Any], rule: CommandRule) -> None:
        """Called after the chart accepted ``command`` and before its answer arrives."""

    def on_signal(self, step: Step) -> None:
        """Called after the machine took ``step`` (a command's answer, unsolicited, or a
        timer's); ``step.commands`` are the chart commands it sends."""

    # --- what the rules do --------------------------------------------------------------------
    def send(
        self,
        variant: str,
        args: Mapping[str, Any],
        answer: str | None,
        payload: Mapping[str, Any],
    ) -> None:
        """Send a command the chart allows here, then apply its answer signal."""
        v = self.variants[variant]
        before = self.machine.configuration
        rule = self.machine.check(v.command, **args)
        assert rule is v.rule, f"{v.command}: check chose {rule}, expected {v.rule}"
        assert self.machine.configuration == before, "check changed the state"
        for cell in self._planner.cells.command_cells(self.machine.states, variant):
            self.coverage.mark(cell)
        self.on_command(v.command, args, rule)
        if answer is not None:
            if self.chart.commands[v.command].local:
                payload = dict(args)  # the session applies it with the arguments
            self.receive(answer, payload)

    def receive(self, signal: str, payload: Mapping[str, Any]) -> None:
        """Apply a signal the current configuration handles; if its payload fails every
        guard on it, nothing may change."""
        states, before = self.machine.states, self.machine.configuration
        assert self.machine.handles(signal), f"{states} does not handle {signal}"
        step = self.machine.apply(signal, **payload)
        if step.ignored:
            assert signal in self._guarded, f"{step.source} ignored {signal}"
            assert self.machine.configuration == before and not step.notifications, (
                f"{signal} was ignored and moved"
            )
            return
        self.clock.follow(step)
        for cell in self._planner.cells.signal_cells(states, signal, payload):
            self.coverage.mark(cell)
        self.on_signal(step)

    def fire(self, timer: str) -> None:
        """Fire a timer that is armed and due first; it takes its transitions."""
        assert timer in self.clock.due_first(), f"{timer} is not due"
        spec = self.chart.timers[timer]
        states = self.machine.states
        step = self.clock.fire(self.machine, timer)
        assert not step.ignored, f"armed timer {timer} found its state {spec.state} left"
        self.coverage.mark(ChartTransition(spec.state, "timer", timer))
        for cell in self._planner.cells.signal_cells(states, spec.signal, {}):
            self.coverage.mark(cell)
        self.on_signal(step)

    def refuse(self, index: int) -> None:
        """Check a command the state refuses (the ``index``-th); nothing may change."""
        leaf = self.machine.state
        refused = [
            v
            for v in self.variants.values()
            if not v.allows(self.machine) or not v.rule.rights <= self.rights
        ]
        if not refused:
            return
        v = refused[index % len(refused)]
        args = _sample_args(self.chart, v)
        before = self.machine.configuration
        try:
            self.machine.check(v.command, **args)
        except (IllegalCommand, PermissionDenied):
            pass
        else:
            raise AssertionError(f"{leaf}: {v.label} was accepted; the chart refuses it")
        assert self.machine.configuration == before, "a refusal changed the state"

    def ignore(self, index: int) -> None:
        """Apply a signal the state does not handle (the ``index``-th); nothing may change."""
        handled = set(self.machine.handled())
        unhandled = [s for s in self.chart.signals if s not in handled]
        if not unhandled:
            return
        signal = unhandled[index % len(unhandled)]
        before = self.machine.configuration
        step = self.machine.apply(signal)
        assert step.ignored and not step.notifications, f"{self.machine.state} took {signal}"
        assert self.machine.configuration == before, "an ignored signal moved"

    # --- rules and invariants that do not depend on the chart -----------------------------------
    @rule(index=st.integers(min_value=0, max_value=_PROBE_INDICES - 1))
    @_probe
    def refused_command(self, index: int) -> None:
        """A command the state does not allow is refused and changes nothing."""
        self.refuse(index)

    @rule(index=st.integers(min_value=0, max_value=_PROBE_INDICES - 1))
    @_probe
    def ignored_signal(self, index: int) -> None:
        """A signal the state does not handle is ignored and changes nothing."""
        self.ignore(index)

    @invariant()
    def state_is_a_declared_leaf(self) -> None:
        """The machine is always in one of the chart's main leaf states, and every
        active leaf is a leaf of the chart."""
        assert self.machine.state in self._leaves, self.machine.state
        assert self._all_leaves.issuperset(self.machine.states), self.machine.states

    @invariant()
    def allowed_commands_follow_the_chart(self) -> None:
        """The commands the machine allows are the ones the chart declares for this
        configuration (any active state a rule names)."""
        key = self.machine.states
        allowed = self.machine.allowed()
        if self._allowed_seen.get(key) is allowed:
            return  # this very answer was checked in this configuration already
        expected = frozenset(
            v.command
            for v in self.variants.values()
            if v.allows(self.machine) and v.rule.rights <= self.rights
        )
        assert set(allowed) == expected and len(allowed) == len(expected), (key, allowed)
        self._allowed_seen[key] = allowed

    def teardown(self) -> None:
        cls = type(self)
        cls.examples += 1
        if cls.full_coverage_at is None and self.reachable <= cls.coverage.covered:
            cls.full_coverage_at = cls.examples

    # --- running --------------------------------------------------------------------------------
    @classmethod
    def plans(cls) -> tuple[tuple[Action, ...], ...]:
        """The seeded walks (computed once per class)."""
        if cls._plans is None:
            cls._plans = plan_walks(
                cls.chart, rights=cls.rights, stimuli=cls.stimuli, plan_steps=cls.plan_steps
            )
        return cls._plans

    def run_action(self, action: Action) -> None:
        """Run one planned action, with its arguments and payload."""
        if action.kind == "timer":
            self.fire(action.name)
        elif action.kind == "signal":
            self.receive(action.name, dict(action.payload))
        else:
            self.send(action.name, dict(action.args), action.answer, dict(action.payload))

    def check_all_invariants(self) -> None:
        """Run every ``@invariant`` of the class (hypothesis does this between rules)."""
        for inv in self.invariants:
            if not inv.preconditions or all(pre(self) for pre in inv.preconditions):
                inv.function(self)

    @classmethod
    def run_walks(cls) -> int:
        """Run the seeded walks, each as one example; returns how many ran.

        Raises:
            AssertionError: (or whatever a hook raised) a walk failed; its note lists the
                steps that led there.
        """
        for number, walk in enumerate(cls.plans(), 1):
            machine = cls()
            done: list[str] = []
            try:
                machine.check_all_invariants()
                for action in walk:
                    cls.steps += 1
                    done.append(f"{machine.machine.state}: {action}")
                    machine.run_action(action)
                    machine.check_all_invariants()
            except BaseException as exc:
                exc.add_note(
                    f"in seeded walk {number} of {cls.__name__}, after:\n  " + "\n  ".join(done)
                )
                raise
            finally:
                machine.teardown()
        return len(cls.plans())

    @classmethod
    def run(cls, *, settings: settings | None = None, walks: bool = True) -> None:
        """Run the seeded walks (unless ``walks=False``), then let hypothesis explore.

        Raises:
            AssertionError: (or whatever a hook raised) an example failed.
        """
        if walks:
            cls.run_walks()
        cls.explore(settings=settings)

    @classmethod
    def move_table(cls) -> MoveTable:
        """The moves open in each state (computed once per class)."""
        found = cls.__dict__.get("_move_table")
        if found is None:
            found = MoveTable(cls.chart, cls.rights, cls.stimuli, cls._args, cls._payloads)
            type.__setattr__(cls, "_move_table", found)
        return found

    @classmethod
    def explore(cls, *, settings: settings | None = None) -> None:
        """Let hypothesis explore: ``settings.max_examples`` flows of up to
        ``settings.stateful_step_count`` steps (default settings: ``TestCase.settings``).

        Each flow is read from one block of bytes hypothesis draws (see ``moves.py``): at
        each step, a move open in the current state (a chart rule whose precondition
        holds), a refusal probe, or one of your ``@rule``s whose preconditions hold, with
        every ``@invariant`` checked after it; your ``@initialize`` rules run first. A
        failing flow is shrunk by hypothesis and reported with its steps. A class with
        rules that use bundles runs under hypothesis's own state-machine runner instead
        (``run_state_machine_as_test``, which also works for any of these classes, about
        twenty times slower).

        Raises:
            AssertionError: (or whatever a hook or rule raised) a flow failed.
        """
        if settings is None:
            settings = cls.TestCase.settings  # type: ignore[attr-defined]
        state = cls.setup_state()
        extra = [r for r in state.rules if not getattr(r.function, _CHART_RULE, False)]
        if any(r.bundles or r.targets for r in (*extra, *state.initializers)):
            run_state_machine_as_test(cls, settings=settings)
            return
        size = block_size(settings.stateful_step_count)
        blocks = st.binary(min_size=size, max_size=size)
        # st.data() costs every example something: only when a field or a rule draws
        draws = cls.move_table().draws or any(
            r.arguments and not getattr(r.function, _PROBE, False)
            for r in (*extra, *state.initializers)
        )

        def explore_with_draws(choices: bytes, data: st.DataObject) -> None:
            cls.run_flow(choices, data.draw)

        def explore(choices: bytes) -> None:
            cls.run_flow(choices)

        test = explore_with_draws if draws else explore
        # hypothesis keys its example database by the test's name: one per class
        test.__name__ = f"explore_{cls.__name__}"
        test.__qualname__ = f"{cls.__qualname__}.explore"
        test.__module__ = cls.__module__
        strategies = (blocks, st.data()) if draws else (blocks,)
        settings(given(*strategies)(test))()

    @classmethod
    def run_flow(cls, choices: bytes, draw: DrawFn | None = None) -> None:
        """Run one flow read from ``choices`` (what ``explore`` does for each example).

        Raises:
            AssertionError: (or whatever a hook or rule raised) the flow failed; its note
                lists the steps that led there.
        """
        machine = cls()
        # (state, what ran): formatted only if the flow fails
        done: list[tuple[str, Chosen | tuple[str, Mapping[str, Any]]]] = []
        try:
            machine._run_flow(choices, draw, done)
        except BaseException as exc:
            steps = [f"{state}: {_describe_step(what)}" for state, what in done]
            steps.append(f"(now in {machine.machine.state})")
            exc.add_note(f"in a flow of {cls.__name__}, after:\n  " + "\n  ".join(steps))
            raise
        finally:
            machine.teardown()

    def _run_flow(
        self,
        choices: bytes,
        draw: DrawFn | None,
        done: list[tuple[str, Chosen | tuple[str, Mapping[str, Any]]]],
    ) -> None:
        state = self.setup_state()
        table = self.move_table()
        swarm = Swarm(table, read_mask(choices))
        # the probes and your own rules, each with a bit of the mask after the table's;
        # those without preconditions are open everywhere
        extra = [
            (r, bool(r.preconditions))
            for index, r in enumerate(
                (r for r in state.rules if not getattr(r.function, _CHART_RULE, False)),
                table.moves_total,
            )
            if swarm.left_in(index)
        ]
        guarded = any(g for _, g in extra)
        always = [r for r, g in extra if not g]
        for init in state.initializers:
            args = _draw_arguments(init, draw)
            done.append(("(initialize)", (init.function.__name__, args)))
            init.function(self, **args)
        self.check_all_invariants()
        steps = 0
        try:
            for number in step_values(choices):
                if number < FIRST_MOVE:
                    if number == STOP:
                        return
                    continue  # SKIP: a step the shrinker took out
                leaf = self.machine.state
                moves = swarm.moves(self.machine, self.clock)
                live = (
                    [r for r, g in extra if not g or all(p(self) for p in r.preconditions)]
                    if guarded
                    else always
                )
                rest, index = divmod(number - FIRST_MOVE, len(moves) + len(live))
                steps += 1
                if index < len(moves):
                    chosen = moves[index].read(rest, draw)
                    done.append((leaf, chosen))
                    self.run_chosen(chosen)
                else:
                    picked = live[index - len(moves)]
                    args = (
                        {"index": rest % _PROBE_INDICES}
                        if getattr(picked.function, _PROBE, False)
                        else _draw_arguments(picked, draw)
                    )
                    done.append((leaf, (picked.function.__name__, args)))
                    picked.function(self, **args)
                self.check_all_invariants()
        finally:
            type(self).steps += steps

    def run_chosen(self, chosen: Chosen) -> None:
        """Run a move read from a flow's bytes: send the command, apply the signal or
        fire the timer."""
        move = chosen.move
        if move.kind == "timer":
            self.fire(move.name)
        elif move.variant is None:
            assert chosen.signal is not None
            self.receive(chosen.signal, chosen.payload)
        else:
            self.send(move.name, chosen.args, chosen.signal, chosen.payload)


def _draw_arguments(r: Any, draw: DrawFn | None) -> dict[str, Any]:
    if not r.arguments:
        return {}
    assert draw is not None
    return {name: draw(strategy) for name, strategy in r.arguments.items()}


def _describe(name: str, args: Mapping[str, Any]) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def _describe_step(what: Chosen | tuple[str, Mapping[str, Any]]) -> str:
    if not isinstance(what, Chosen):
        return _describe(*what)
    move = what.move
    if move.variant is None:
        return f"signal {_describe(move.name, what.payload)}"
    answer = f" -> {_describe(what.signal, what.payload)}" if what.signal else ""
    return f"command {_describe(move.name, what.args)}{answer}"


def _sample_args(chart: Chart, variant: CommandVariant) -> dict[str, Any]:
    out = {}
    for arg in chart.commands[variant.command].args:
        if arg.name == variant.arg or (arg.required and arg.when_given is None):
            out[arg.name] = arg.choices[0] if arg.choices else _SAMPLE_VALUES[arg.type]
    return out


def chart_state_machine(
    chart: Chart | None = None,
    *,
    rights: Iterable[str] | None = None,
    stimuli: Collection[str] | None = None,
    args: Mapping[str, st.SearchStrategy[Any]] | None = None,
    payloads: Mapping[str, st.SearchStrategy[Any]] | None = None,
    plan_steps: int = 50,
    name: str | None = None,
) -> type[ChartStateMachine]:
    """A ``RuleBasedStateMachine`` class for ``chart`` (see the module docstring).

    Args:
        chart: the chart (default: the default chart).
        rights: the agent's rights (default: every right the chart declares); commands
            needing others get no rule (the refusal rule still probes them).
        stimuli: the signals that may arrive unsolicited (default: every signal, where
            the state handles it); answers to commands are applied regardless.
        args, payloads: strategies for command arguments and signal payload fields, by
            name (see ``flows``).
        plan_steps: the most steps a seeded walk takes.
        name: the class's name (default: from the chart's name).
    """
    chart = chart if chart is not None else default_chart()
    granted = frozenset(chart.rights if rights is None else rights)
    variants = {v.label: v for v in command_variants(chart)}
    namespace: dict[str, Any] = {
        "chart": chart,
        "rights": granted,
        "stimuli": stimuli,
        "plan_steps": plan_steps,
        "variants": variants,
        "_args": args,
        "_payloads": payloads,
        "_leaves": frozenset(chart.leaves()),
        "_all_leaves": frozenset(chart.all_leaves()),
        "_guarded": frozenset(guard_values(chart)),
        "_planner": _Planner(chart, granted, stimuli),
        "_allowed_seen": {},
        "_plans": None,
        "__doc__": f"Hypothesis state machine for chart {chart.name!r} (rights: {set(granted)}).",
    }
    for v in variants.values():
        if v.leaves and v.rule.rights <= granted:
            rule_name = "command_" + _rule_name(v.command)
            if v.arg is not None:
                rule_name += "_with_" + _rule_name(v.arg)
            namespace[rule_name] = _command_rule(chart, v, rule_name, args, payloads)
    for signal in chart.signals:
        if stimuli is None or signal in stimuli:
            namespace["signal_" + _rule_name(signal)] = _signal_rule(chart, signal, payloads)
    if chart.timers:
        namespace["timer_fires"] = _timer_rule()
    cls = cast(
        "type[ChartStateMachine]",
        type(name or f"{_camel(chart.name)}StateMachine", (ChartStateMachine,), namespace),
    )
    cls.reachable = frozenset(t for walk in cls.plans() for t in _walk_cells(cls, walk))
    return cls


def _camel(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", text)) or "Chart"


def _walk_cells(cls: type[ChartStateMachine], walk: tuple[Action, ...]) -> list[ChartTransition]:
    machine = Machine(cls.chart, rights=cls.rights)
    clock = VirtualClock()
    out: list[ChartTransition] = []
    for action in walk:
        out.extend(cls._planner.take(machine, clock, action))
    return out


def _command_rule(
    chart: Chart,
    variant: CommandVariant,
    rule_name: str,
    args: Mapping[str, st.SearchStrategy[Any]] | None,
    payloads: Mapping[str, st.SearchStrategy[Any]] | None,
) -> Any:
    possible = answers(variant)
    answer: st.SearchStrategy[tuple[str | None, dict[str, Any]]]
    if possible:
        answer = st.one_of(
            [st.tuples(st.just(s), payload_strategy(chart, s, payloads)) for s in possible]
        )
    else:
        answer = st.just((None, {}))

    def command(
        self: ChartStateMachine,
        args: dict[str, Any],
        answer: tuple[str | None, dict[str, Any]],
    ) -> None:
        self.send(variant.label, args, answer[0], answer[1])

    command.__name__ = command.__qualname__ = rule_name
    command.__doc__ = f"Send {variant.label} where the chart allows it, then its answer."
    setattr(command, _CHART_RULE, True)
    decorated = rule(args=args_strategy(chart, variant, args), answer=answer)(command)
    return precondition(lambda self: variant.allows(self.machine))(decorated)


def _signal_rule(
    chart: Chart, signal: str, payloads: Mapping[str, st.SearchStrategy[Any]] | None
) -> Any:
    def receive(self: ChartStateMachine, payload: dict[str, Any]) -> None:
        self.receive(signal, payload)

    receive.__name__ = receive.__qualname__ = "signal_" + _rule_name(signal)
    receive.__doc__ = f"The switch sends {signal} where the configuration handles it."
    setattr(receive, _CHART_RULE, True)
    decorated = rule(payload=payload_strategy(chart, signal, payloads))(receive)
    return precondition(lambda self: self.machine.handles(signal))(decorated)


def _timer_rule() -> Any:
    def timer_fires(self: ChartStateMachine, index: int) -> None:
        due = self.clock.due_first()
        self.fire(due[index % len(due)])

    timer_fires.__doc__ = "A timer the chart armed fires, the earliest due first."
    setattr(timer_fires, _CHART_RULE, True)
    decorated = rule(index=st.integers(min_value=0, max_value=7))(timer_fires)
    return precondition(lambda self: bool(self.clock.due))(decorated)
