"""The transitions reference machine, and the differential test against our engine.

``cti_fsm.reference`` hands the chart's structure to transitions' HierarchicalMachine
as it is (nesting, parallel states, initial children, parent transitions, conditions for
guards, emulated history); our engine flattens it into one row per configuration. On
random sequences of signals (with payloads that pass and fail every field guard) and of
timers firing in virtual time, both must agree after every step: every active leaf,
whether the signal was handled, the notifications with their payloads, the timers
started and cancelled, the chart commands, and the kept values.
"""

from __future__ import annotations

import doctest
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transitions.extensions import HierarchicalGraphMachine, HierarchicalMachine

from cti_fsm import Chart, Machine, Step, load_chart_text
from cti_fsm.events import TimerChange
from cti_fsm.reference import (
    MAIN,
    SEPARATOR,
    Reference,
    ReferenceModel,
    ReferenceStep,
    build_reference_machine,
    chart_path,
    chart_paths,
    reference_name,
    state_name,
)
from cti_fsm.testing.moves import payload_pools

EXAMPLES = 60
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
CHARTS = ["agent_chart", "acw_chart", "nested_chart", "every_feature_chart", "wrap_up_chart"]


@pytest.fixture(autouse=True)
def quiet_transitions(caplog: pytest.LogCaptureFixture) -> None:
    # transitions logs a warning for every ignored trigger; a failure report needs none
    caplog.set_level(logging.ERROR, logger="transitions")


def _timer_key(change: TimerChange) -> tuple[str, bool, float]:
    return (change.timer, change.seconds is None, change.seconds or 0.0)


def differences(ours: Machine, step: Step, ref: Reference, theirs: ReferenceStep) -> list[str]:
    """What differs between one step of each machine (empty: they agree)."""
    out = []
    if ours.states != theirs.states:
        out.append(f"states: ours {ours.states}, reference {theirs.states}")
    if step.ignored == theirs.handled:
        out.append(f"handled: ours {not step.ignored}, reference {theirs.handled}")
    if step.notifications != theirs.notifications:
        out.append(f"notifications: ours {step.notifications}, reference {theirs.notifications}")
    if step.commands != theirs.commands:
        out.append(f"commands: ours {step.commands}, reference {theirs.commands}")
    # the order of cancels and starts across states is not part of the semantics
    if sorted(step.timers, key=_timer_key) != sorted(theirs.timers, key=_timer_key):
        out.append(f"timers: ours {step.timers}, reference {theirs.timers}")
    if dict(ours.kept) != dict(ref.kept):
        out.append(f"kept: ours {dict(ours.kept)}, reference {dict(ref.kept)}")
    return out


class Pair:
    """Our machine and the reference side by side, with the timers armed in virtual
    time (a timer can fire once it is armed, earliest due first)."""

    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        self.ours = Machine(chart)
        self.ref = Reference(chart)
        self.now = 0.0
        self.due: dict[str, float] = {}
        self.log: list[str] = []

    def _follow(self, step: Step) -> None:
        for change in step.timers:
            if change.seconds is None:
                self.due.pop(change.timer, None)
        for change in step.timers:
            if change.seconds is not None:
                self.due[change.timer] = self.now + change.seconds

    def due_first(self) -> list[str]:
        """The armed timers that are due first (firing another would skip time)."""
        if not self.due:
            return []
        first = min(self.due.values())
        return sorted(t for t, at in self.due.items() if at == first)

    def apply(self, signal: str, payload: dict[str, Any]) -> Step:
        self.log.append(f"{self.ours.states}: {signal} {payload}")
        step = self.ours.apply(signal, **payload)
        return self._check(step, self.ref.apply(signal, **payload))

    def fire(self, timer: str) -> Step:
        self.log.append(f"{self.ours.states}: timer {timer} fires")
        self.now = self.due.pop(timer)
        step = self.ours.fire(timer)
        return self._check(step, self.ref.fire(timer))

    def _check(self, step: Step, theirs: ReferenceStep) -> Step:
        self._follow(step)
        found = differences(self.ours, step, self.ref, theirs)
        assert not found, "\n".join(["after:", *self.log, "differs:", *found])
        return step


@pytest.mark.parametrize("name", CHARTS)
def test_differential_random_sequences(name: str, request: pytest.FixtureRequest) -> None:
    chart: Chart = request.getfixturevalue(name)
    pools = payload_pools(chart)
    signals = sorted(chart.signals)

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        pair = Pair(chart)
        for _ in range(data.draw(st.integers(0, 60), label="length")):
            handled = pair.ours.handled()
            due = pair.due_first()
            # mostly what the configuration handles, timers whenever one is armed, now
            # and then a signal it does not handle
            kind = data.draw(st.sampled_from(["handled"] * 6 + ["timer"] * 2 + ["any"]))
            if kind == "timer" and due:
                pair.fire(data.draw(st.sampled_from(due)))
                continue
            signal = data.draw(st.sampled_from(handled if kind != "any" and handled else signals))
            payload = {f: data.draw(st.sampled_from(p)) for f, p in pools[signal].items()}
            pair.apply(signal, payload)

    check()


def test_every_feature_worked_example(every_feature_chart: Chart) -> None:
    """A walk through every feature with the states written out, on both machines."""
    pair = Pair(every_feature_chart)
    on = ("on.next.same", "on.light.green")
    walk: list[tuple[str, dict[str, Any], tuple[str, ...], tuple[str, ...]]] = [
        ("started", {}, ("on.idle.calm", *on), ("onOn",)),
        ("tense_up", {}, ("on.idle.tense", *on), ()),
        ("began", {}, ("on.busy", *on), ("onBusy",)),
        # the busy state's own ping and, for both regions, the one on "on": both run
        ("ping", {}, ("on.busy", *on), ("onBusyPing", "onPing")),
        ("done", {"result": "retry", "rest": None}, ("on.busy", *on), ()),
        (
            "planned",
            {"next": "later", "why": "w"},
            ("on.busy", "on.next.later", "on.light.green"),
            ("onPlan",),
        ),
        # resting; the region's guard saw busy when the signal arrived
        ("done", {"result": "ok", "rest": 3}, ("on.resting", *on), ("onDone",)),
        ("rested", {}, ("on.idle.tense", *on), ("onRested",)),  # history: tense
        ("wave", {}, ("on.idle.tense", "on.next.same", "on.light.red"), ("onRed",)),
        ("began", {}, ("on.idle.tense", "on.next.same", "on.light.red"), ("onBlocked",)),
        ("flip", {}, ("on.idle.tense", *on), ("onGreen",)),
        ("began", {}, ("on.busy", *on), ("onBusy",)),
        ("wave", {}, ("on.busy", "on.next.same", "on.light.red"), ("onRed",)),
        # both would leave busy: the main leaf's comes first and wins
        ("boom", {}, ("on.idle.tense", "on.next.same", "on.light.red"), ("onBoom",)),
        ("reset", {}, ("on.idle.tense", *on), ("onOn",)),
        ("stopped", {}, ("off",), ("onOff",)),
    ]
    sent = []
    for signal, payload, states, names in walk:
        step = pair.apply(signal, payload)
        assert (pair.ours.states, pair.ref.states) == (states, states), signal
        assert pair.ref.model.emitted == list(names), signal
        sent.extend((signal, c.command, dict(c.args)) for c in step.commands)
    # the region's send, guarded on the payload, with the first kept value there is
    assert sent == [("done", "note", {"text": "w"})]


def test_every_feature_outputs(every_feature_chart: Chart) -> None:
    """Kept values, chart commands (with their guards) and timers, on both machines."""
    pair = Pair(every_feature_chart)
    pair.apply("started", {})
    pair.apply("tense_up", {})
    pair.apply("began", {})
    assert pair.due == {"on.busy.after.0": 30.0}
    pair.apply("planned", {"next": "later", "why": "because", "remind": 7})
    assert pair.ours.kept == {"why": "because", "remind": 7}
    assert set(pair.due) == {"on.busy.after.0", "on.next.later.after.0"}
    # the reminder is due first; it sends a note with the kept reason
    assert pair.due_first() == ["on.next.later.after.0"]
    step = pair.fire("on.next.later.after.0")
    assert [(c.command, dict(c.args)) for c in step.commands] == [("note", {"text": "because"})]
    assert step.names == ("onRemind",)
    # a failed result: back to idle (tense again: history), and the note is sent there
    step = pair.apply("done", {"result": "broken", "rest": None})
    # the region left later too (busy was active), its note held back by result != ok
    assert pair.ours.states == ("on.idle.tense", "on.next.same", "on.light.green")
    assert [(c.command, dict(c.args)) for c in step.commands] == [("note", {"text": "broken"})]
    assert [c.command for c in pair.ref.model.commands] == ["note"]
    # not tense: the same result sends nothing (the guard is checked in the state reached)
    pair.apply("calm_down", {})
    pair.apply("began", {})
    assert pair.apply("done", {"result": "broken", "rest": None}).commands == ()


def test_a_timer_of_its_own_takes_its_transition(every_feature_chart: Chart) -> None:
    pair = Pair(every_feature_chart)
    for signal in ("started", "began"):
        pair.apply(signal, {})
    step = pair.fire("on.busy.after.0")
    assert (step.target, step.names) == ("on.idle.calm", ("onTooLong",))
    assert [(c.command, dict(c.args)) for c in step.commands] == [("note", {"text": "too_long"})]
    assert pair.ref.model.emitted == ["onTooLong"]
    # the timer went with its state: firing it again does nothing
    assert pair.ours.fire("on.busy.after.0").ignored
    assert not pair.ref.fire("on.busy.after.0").handled


def test_the_differential_finds_a_different_engine(
    agent_chart: Chart, wrap_up_chart: Chart
) -> None:
    """Our machine on the wrap-up chart against the reference of the default chart: the
    ring timer (a setting only the wrap-up chart sets) tells them apart at once."""
    pair = Pair(agent_chart)
    pair.ours = Machine(wrap_up_chart)
    for signal in ("logged_in", "checked_in"):
        pair.apply(signal, {})
    with pytest.raises(AssertionError, match=r"ringing \{\}\n *differs:\n *timers: ours"):
        pair.apply("ringing", {})


def test_differential_history_two_levels_deep(nested_chart: Chart) -> None:
    """A worked example with the states written out, checked against both machines."""
    walk = [
        ("go", "b.b1.x"),
        ("next", "b.b1.y"),  # b1 remembers y
        ("side", "b.b2.p"),  # b remembers b2 (b2 has no history of its own)
        ("next", "b.b2.q"),
        ("go", "c.c1.d"),  # declared on b: applies in b.b2.q
        ("next", "c.c1.e"),  # c1 remembers e
        ("back", "b.b2.p"),  # b resumes b2, which starts over at p
        ("next", "b.b2.q"),
        ("next", "b.b3"),
        ("next", "b.b1.y"),  # b1 resumes y
        ("go", "a"),  # b.b1.y overrides the parent's go
        ("back", "c.c1.e"),  # c has no history, but c1 does
        ("ping", "c.c1.e"),  # c1 -> c: c1 is entered again and resumes e
        ("next", "c.c2"),
        ("back", "b.b1.y"),  # b resumes b1, b1 resumes y
        ("ping", "b.b1.y"),  # b1 -> b1, re-entered, resumes y
        ("side", "b.b2.p"),
        ("side", "b.b2.p"),  # internal on b2: nothing moves
        ("ping", "b.b2.p"),  # internal on b (no b2 override)
    ]
    pair = Pair(nested_chart)
    for signal, state in walk:
        pair.apply(signal, {})
        assert pair.ours.state == state, signal


def test_the_module_examples_run() -> None:
    import cti_fsm.reference

    assert doctest.testmod(cti_fsm.reference).failed == 0


def test_names_and_paths(agent_chart: Chart) -> None:
    assert SEPARATOR not in "._"
    assert (
        state_name("checked_in.available.idle") == f"checked_in{SEPARATOR}available{SEPARATOR}idle"
    )
    assert chart_path(state_name("checked_in.three_party")) == "checked_in.three_party"
    assert chart_path("a/b", separator="/") == "a.b"
    reference = build_reference_machine(agent_chart)
    for signal in ("logged_in", "checked_in"):
        reference.model.trigger(signal)
    leaves = ("checked_in.available.idle", "checked_in.next.unchanged")
    assert chart_paths(reference.model.state) == leaves
    # a state with regions holds its own children in MAIN, beside the regions
    talking = reference_name(agent_chart, "checked_in.talking")
    assert talking == SEPARATOR.join(["checked_in", MAIN, "talking"])
    assert chart_path(talking) == "checked_in.talking"
    assert reference_name(agent_chart, "checked_in.next.unchanged") == SEPARATOR.join(
        ["checked_in", "next", "unchanged"]
    )


def test_reference_structure(agent_chart: Chart) -> None:
    reference = build_reference_machine(agent_chart)
    assert isinstance(reference, HierarchicalMachine)
    assert isinstance(reference.model, ReferenceModel)
    names = set(reference.get_nested_state_names())
    mains = {p + SEPARATOR + MAIN for p in ("checked_in",)}
    assert names == {reference_name(agent_chart, p) for p in agent_chart.states} | mains
    # a composite state's initial child is declared, not implied; regions run in parallel
    available = reference.get_state(reference_name(agent_chart, "checked_in.available"))
    assert available.initial == "idle"
    checked_in = reference.get_state("checked_in")
    assert checked_in.initial == [MAIN, "next"]
    # an unhandled or undeclared signal is ignored, as by our non-strict engine
    reference.model.trigger("answered")
    assert (reference.model.handled, reference.model.state) == (False, "offline")


def test_reference_history_is_explicit(agent_chart: Chart) -> None:
    ref = Reference(agent_chart)
    for signal in ("logged_in", "checked_in", "paused", "ringing"):
        ref.apply(signal)
    assert ref.model.chart_history == {"checked_in.available": "checked_in.available.paused"}
    step = ref.apply("hung_up")
    assert step.states == ("checked_in.available.paused", "checked_in.next.unchanged")
    assert [n.name for n in step.notifications] == ["onIdle"]


def test_reference_on_a_user_model_and_graph_machine(acw_chart: Chart) -> None:
    class Desk:
        pass

    desk: Any = Desk()
    reference = build_reference_machine(
        acw_chart, model=desk, machine_cls=HierarchicalGraphMachine, graph_engine="mermaid"
    )
    assert isinstance(reference, HierarchicalGraphMachine)
    assert (desk.chart_history, desk.emitted, desk.kept) == ({}, [], {})
    desk.trigger("logged_in")
    assert desk.state == "connected"
    drawn = reference.get_graph().draw(None)
    assert "wrap_up" in drawn
    assert state_name("checked_in.on_call.talking") in drawn


NESTED = """
chart: nested_regions
initial: a
states:
  a:
    initial: b
    states:
      b:
        initial: c
        states:
          c: {}
        regions:
          inner: {initial: d, states: {d: {}}}
    regions:
      outer: {initial: e, states: {e: {}}}
signals:
  s:
    transitions:
      - {from: c, to: b}
notifications: {}
"""


def test_regions_inside_regions_are_refused_by_the_reference() -> None:
    chart = load_chart_text(NESTED)
    assert Machine(chart).states == ("a.b.c", "a.b.inner.d", "a.outer.e")
    with pytest.raises(ValueError, match=r"state 'a\.b' has regions inside another state"):
        Reference(chart)


def test_a_separator_in_a_state_name_is_refused(agent_chart: Chart, nested_chart: Chart) -> None:
    with pytest.raises(ValueError, match="separator '_' occurs in a state name of 'agent'"):
        build_reference_machine(agent_chart, separator="_")
    with pytest.raises(ValueError, match=r"separator '\.'"):
        build_reference_machine(nested_chart, separator=".")
    model = build_reference_machine(nested_chart, separator="/").model
    model.trigger("go")
    assert (model.state, chart_path(model.state, separator="/")) == ("b/b1/x", "b.b1.x")
