"""chart_state_machine(): seeded walks reach every transition, and the rules catch a bad engine."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cti_fsm import Chart, Machine, Step, default_chart, load_chart_text
from cti_fsm.testing import (
    ChartTransition,
    Coverage,
    chart_state_machine,
    chart_transitions,
    command_variants,
    plan_walks,
)
from cti_fsm.testing.moves import OTHER, VirtualClock

CHART = default_chart()
QUICK = settings(
    max_examples=15, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)
)

# The whole default chart, every right: collected by pytest as a unittest case. Its seeded
# walks take every transition of the chart, so `pytest --chart-coverage` reports 100%.
AgentMachine = chart_state_machine(CHART)
AgentMachine.TestCase.settings = QUICK
TestAgentMachine = AgentMachine.TestCase

# A plain agent: supervisor commands get no rule, and the refusal rule probes them.
PlainAgent = chart_state_machine(CHART, rights=(), name="PlainAgent")
PlainAgent.TestCase.settings = QUICK
TestPlainAgent = PlainAgent.TestCase


def _cells(
    walks: tuple[tuple[Any, ...], ...], rights: frozenset[str], chart: Chart = CHART
) -> set[ChartTransition]:
    """Replay the planned walks on a machine and collect, by observing it, the cells
    they take."""
    variants = {v.label: v for v in command_variants(chart)}
    cov = Coverage(chart)
    with cov:
        for walk in walks:
            m = Machine(chart, rights=rights)
            clock = VirtualClock()
            for action in walk:
                if action.kind == "timer":
                    assert action.name in clock.due_first()
                    assert not clock.fire(m, action.name).ignored
                    continue
                signal = action.name
                if action.kind == "command":
                    v = variants[action.name]
                    assert m.check(v.command, **dict(action.args)) is v.rule
                    assert v.rule.rights <= rights
                    if not action.answer:
                        continue
                    assert action.answer in (v.rule.confirm, v.rule.fail)
                    signal = action.answer
                step = m.apply(signal, **dict(action.payload))
                assert not step.ignored, action
                clock.follow(step)
    return set(cov.covered)


def test_walks_take_every_transition_within_a_few_examples() -> None:
    walks = plan_walks(CHART, plan_steps=50)
    assert all(len(w) <= 50 for w in walks)
    assert len(walks) <= 10  # the target: full coverage within 50 examples
    assert _cells(walks, CHART.rights) == set(chart_transitions(CHART))
    assert AgentMachine.reachable == set(chart_transitions(CHART))


def test_walks_without_rights_skip_only_what_needs_them() -> None:
    walks = plan_walks(CHART, rights=(), plan_steps=30)
    taken = _cells(walks, frozenset())
    missed = set(chart_transitions(CHART)) - taken
    assert missed and all(c.kind == "command" for c in missed)
    for cell in missed:
        variant = AgentMachine.variants[cell.name]
        assert variant.rule.rights, cell  # only commands that need a right are out of reach
    assert PlainAgent.reachable == taken


def test_seeded_walks_reach_full_coverage_first() -> None:
    machine_cls = chart_state_machine(CHART, name="Fresh")
    ran = machine_cls.run_walks()
    assert ran == len(machine_cls.plans())
    assert machine_cls.coverage.complete
    assert machine_cls.full_coverage_at == ran

    class Yours(machine_cls):  # type: ignore[misc,valid-type]
        pass

    assert Yours.examples == 0 and not Yours.coverage.covered  # counts its own runs


def test_a_walk_failure_names_the_steps_that_led_there() -> None:
    class CallCounter(chart_state_machine(CHART, name="CallCounter")):  # type: ignore[misc]
        def on_signal(self, step: Step) -> None:
            assert step.target != "checked_in.three_party", "business code broke"

    with pytest.raises(AssertionError, match="business code broke") as caught:
        CallCounter.run_walks()
    note = "\n".join(caught.value.__notes__)
    assert "in seeded walk" in note and "offline: command connect -> logged_in" in note


class _LaxMachine(Machine):
    """An engine bug: accepts every command everywhere."""

    __slots__ = ()

    def check(self, command: str, /, **args: Any) -> Any:
        return self.chart.commands[command].rule_for(args)


def test_hypothesis_phase_catches_an_engine_that_accepts_refused_commands() -> None:
    class Lax(chart_state_machine(CHART, name="Lax")):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.machine = _LaxMachine(CHART, rights=self.rights)

    Lax.run_walks()  # the walks only send allowed commands: they pass
    with pytest.raises(AssertionError, match="was accepted; the chart refuses it"):
        Lax.run(settings=settings(QUICK, database=None), walks=False)


def test_rule_per_command_rule_and_per_signal() -> None:
    rules = {r.function.__name__ for r in AgentMachine.setup_state().rules}
    assert "command_pause" in rules and "command_pause_with_agent_id" in rules
    assert {f"signal_{s}" for s in CHART.signals} <= rules
    assert {"refused_command", "ignored_signal"} <= rules
    plain = {r.function.__name__ for r in PlainAgent.setup_state().rules}
    assert "command_listen" not in plain and "command_pause_with_agent_id" not in plain


def test_a_chart_with_history_elsewhere_is_walked_completely() -> None:
    chart = load_chart_text(
        """
chart: acw
initial: ready
states:
  ready: {}
  busy:
    initial: call
    history: shallow
    states:
      call: {}
      wrap_up: {}
commands:
  finish: {from: [wrap_up], confirm: done}
signals:
  ring:
    transitions: [{from: ready, to: busy, emit: [onRing]}]
  hang:
    transitions: [{from: call, to: wrap_up}]
  done:
    transitions: [{from: wrap_up, to: ready, emit: [onDone]}]
  drop:
    transitions: [{from: busy, to: ready}]
notifications:
  onRing: {}
  onDone: {}
"""
    )
    walks = plan_walks(chart, plan_steps=5)
    assert all(len(w) <= 5 for w in walks)
    cls = chart_state_machine(chart, plan_steps=5)
    cls.run_walks()
    assert cls.coverage.complete


# --- the runner: flows read from one block of bytes -----------------------------------------------
def test_a_zero_block_ends_at_once_and_skips_do_nothing() -> None:
    from cti_fsm.testing.moves import MASK_BYTES, SKIP, STEP_BYTES, block_size

    cls = chart_state_machine(CHART, name="Blocks")
    cls.run_flow(bytes(block_size(10)))  # STOP first: no step
    assert (cls.examples, cls.steps, cls.coverage.covered) == (1, 0, set())
    skips = bytes(MASK_BYTES) + SKIP.to_bytes(STEP_BYTES, "big") * 10
    cls.run_flow(skips)
    assert (cls.examples, cls.steps, cls.coverage.covered) == (2, 0, set())
    # the simplest move of the start state: connect, answered by its confirm signal
    first = bytes(MASK_BYTES) + (2).to_bytes(STEP_BYTES, "big") + bytes(STEP_BYTES)
    cls.run_flow(first)
    assert cls.steps == 1
    assert ChartTransition(CHART.initial, "command", "connect") in cls.coverage.covered


def test_explore_runs_full_length_flows_and_counts_them() -> None:
    cls = chart_state_machine(CHART, name="Lengths")
    cls.explore(settings=settings(QUICK, max_examples=30, stateful_step_count=12, database=None))
    assert cls.examples >= 25  # hypothesis may stop early only when it runs out of ideas
    # hypothesis's first example is all zeros (STOP at once); a random block almost never is
    assert 0.8 * 12 * cls.examples <= cls.steps <= 12 * cls.examples


def test_a_failing_flow_is_shrunk_and_reported_step_by_step() -> None:
    # few stimuli, so that hypothesis finds a held call quickly without the walks
    base = chart_state_machine(CHART, rights=(), stimuli={"ringing", "answered"}, name="Held")

    class Held(base):  # type: ignore[misc,valid-type]
        def on_signal(self, step: Step) -> None:
            assert step.target != "checked_in.held", "the customer was put on hold"

    with pytest.raises(AssertionError, match="put on hold") as caught:
        Held.run(walks=False, settings=settings(QUICK, database=None, derandomize=True))
    note = next(n for n in caught.value.__notes__ if n.startswith("in a flow of Held"))
    *steps, now = note.splitlines()[1:]
    # connect, check in, a call rings, it is answered, then held: a short flow, not the
    # twenty steps it was drawn with; skipped steps are left out
    assert len(steps) <= 8, note
    assert steps[0].strip().startswith("offline: command connect(")
    assert steps[-1].strip().startswith("checked_in.talking: command hold()"), note
    assert now.strip() == "(now in checked_in.held)"


def test_your_rules_initializers_and_invariants_run_in_the_fast_runner() -> None:
    seen: list[tuple[str, object]] = []

    class Yours(chart_state_machine(CHART, rights=(), name="Yours")):  # type: ignore[misc]
        @initialize(note=st.sampled_from(["a", "b"]))
        def start(self, note: str) -> None:
            seen.append(("init", note))
            assert self.machine.state == CHART.initial

        @precondition(lambda self: self.machine.state == "connected")
        @rule(value=st.integers(min_value=5, max_value=9))
        def poke(self, value: int) -> None:
            assert self.machine.state == "connected"
            seen.append(("poke", value))

        @invariant()
        def counted(self) -> None:
            seen.append(("invariant", None))

    Yours.explore(settings=settings(QUICK, max_examples=40, database=None))
    kinds = [k for k, _ in seen]
    assert kinds.count("init") == Yours.examples
    pokes = [v for k, v in seen if k == "poke"]
    assert pokes and all(isinstance(v, int) and 5 <= v <= 9 for v in pokes)
    assert kinds.count("invariant") >= Yours.examples + Yours.steps


def test_rules_with_bundles_run_under_hypothesis_s_own_runner() -> None:
    made: list[int] = []

    class WithBundle(chart_state_machine(CHART, name="WithBundle")):  # type: ignore[misc]
        calls = Bundle("calls")

        @rule(target=calls, n=st.integers(0, 3))
        def open_call(self, n: int) -> int:
            made.append(n)
            return n

    # derandomized: with few examples a random run could, rarely, never pick open_call
    WithBundle.explore(settings=settings(QUICK, max_examples=20, database=None, derandomize=True))
    assert made and WithBundle.examples >= 5
    assert WithBundle.steps == 0  # hypothesis's runner does not count steps


def test_hypothesis_s_own_runner_still_runs_the_generated_class() -> None:
    cls = chart_state_machine(CHART, name="Stock")
    run_state_machine_as_test(cls, settings=settings(QUICK, max_examples=5, database=None))
    assert cls.examples >= 5 and cls.coverage.covered


# --- the language: regions, guards, timers --------------------------------------------------
def test_walks_take_every_transition_of_the_test_charts(test_chart: Chart) -> None:
    # guarded alternatives, timers, regions' leaves: every cell is reached by a walk
    walks = plan_walks(test_chart, plan_steps=50)
    assert all(len(w) <= 50 for w in walks) and len(walks) <= 10
    assert _cells(walks, test_chart.rights, test_chart) == set(chart_transitions(test_chart))


def test_every_feature_chart_runs_as_a_test_case(every_feature_chart: Chart) -> None:
    machine_cls = chart_state_machine(every_feature_chart, name="EveryFeature")
    machine_cls.run(settings=settings(QUICK, database=None))
    assert machine_cls.coverage.complete
    assert machine_cls.full_coverage_at is not None
    assert machine_cls.full_coverage_at <= len(machine_cls.plans())


def test_a_payload_failing_every_guard_changes_nothing(every_feature_chart: Chart) -> None:
    m = AgentMachine()
    m.send("connect", {"user": "u", "password": "p", "url": "u"}, "logged_in", {})
    m.send("check_in", {"group_ids": ["1"]}, "checked_in", {})
    before = m.machine.configuration
    m.receive("next_state_set", {"next": OTHER, "reason": "1"})  # passes no guard
    assert m.machine.configuration == before
    # the same signal with a value a guard names is taken, its alternative covered
    m.receive("next_state_set", {"next": "logout", "reason": "1"})
    assert m.machine.states[1] == "checked_in.next.logout_next"
    cell = ChartTransition(
        "checked_in.next.unchanged", "signal", "next_state_set when next is logout"
    )
    assert cell in AgentMachine.coverage.covered
    # a "not" guard passes the value no guard names: "done" with it is taken
    ef = chart_state_machine(every_feature_chart, name="Guards")()
    ef.send("start", {}, "started", {})
    ef.send("work", {}, "began", {})
    ef.receive("done", {"result": OTHER, "rest": None})
    assert ef.machine.state == "on.idle.calm"


class _MovingOnIgnore(Machine):
    """An engine bug: a signal its guards ignore still moves the machine."""

    __slots__ = ()

    def apply(self, signal: str, /, **payload: Any) -> Step:
        step = super().apply(signal, **payload)
        if step.ignored and signal == "next_state_set":
            super().apply("link_lost")
        return step


def test_an_ignored_signal_that_moves_is_caught() -> None:
    m = AgentMachine()
    m.machine = _MovingOnIgnore(CHART, rights=AgentMachine.rights)
    m.send("connect", {"user": "u", "password": "p", "url": "u"}, "logged_in", {})
    m.send("check_in", {"group_ids": ["1"]}, "checked_in", {})
    with pytest.raises(AssertionError, match="next_state_set was ignored and moved"):
        m.receive("next_state_set", {"next": OTHER, "reason": "1"})


def test_timers_fire_in_virtual_time(every_feature_chart: Chart) -> None:
    machine_cls = chart_state_machine(every_feature_chart, name="Timers")
    m = machine_cls()
    m.send("start", {}, "started", {})
    m.send("work", {}, "began", {})
    m.receive("wave", {})  # the red light's timer (2 s) is due before busy's (30 s)
    assert m.clock.due_first() == ("on.light.red.after.0",)
    with pytest.raises(AssertionError, match=r"on\.busy\.after\.0 is not due"):
        m.fire("on.busy.after.0")
    m.timer_fires(index=0)
    assert m.machine.states == ("on.busy", "on.next.same", "on.light.green")
    m.timer_fires(index=5)  # the only one left
    assert m.machine.state == "on.idle.calm" and not m.clock.due
    covered = machine_cls.coverage.covered
    assert ChartTransition("on.busy", "timer", "on.busy.after.0") in covered
    assert ChartTransition("on.busy", "signal", "on.busy.after.0") in covered


def test_commands_follow_the_configuration_not_the_leaf(every_feature_chart: Chart) -> None:
    # "note" is allowed from "on": every configuration under it, whatever the regions do;
    # plan (local) only where the main leaf is busy or resting
    machine_cls = chart_state_machine(every_feature_chart, name="Commands")
    m = machine_cls()
    m.send("start", {}, "started", {})
    m.receive("wave", {})
    m.allowed_commands_follow_the_chart()
    assert set(m.machine.allowed()) == {"work", "note", "stop"}
    m.send("work", {}, "began", {})  # blocked while the light is red
    assert m.machine.state == "on.idle.calm"
    m.receive("flip", {})
    m.send("work", {}, "began", {})
    assert set(m.machine.allowed()) == {"finish", "plan", "note", "stop"}
    m.send("plan", {"next": "later", "why": "w"}, "planned", {})
    assert m.machine.states == ("on.busy", "on.next.later", "on.light.green")
    assert m.machine.kept["why"] == "w"  # the local command's arguments were its payload
