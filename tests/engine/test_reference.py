"""The transitions reference machine, and the differential test against our engine.

``cti_fsm.reference`` hands the chart's structure to transitions' HierarchicalMachine
as it is (nesting, initial children, parent transitions, emulated history); our engine
flattens it into tables. On random signal sequences both must agree after every step:
the state, whether the signal was handled, and the notifications emitted.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transitions.extensions import HierarchicalGraphMachine, HierarchicalMachine

from cti_fsm import Chart, Machine
from cti_fsm.reference import (
    SEPARATOR,
    ReferenceModel,
    build_reference_machine,
    chart_path,
    state_name,
)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHARTS = ["agent_chart", "acw_chart", "nested_chart"]


@pytest.fixture(autouse=True)
def quiet_transitions(caplog: pytest.LogCaptureFixture) -> None:
    # transitions logs a warning for every ignored trigger; a failure report needs none
    caplog.set_level(logging.ERROR, logger="transitions")


def agree(chart: Chart, signals: list[str]) -> None:
    """Drive both machines with ``signals``, comparing after every step."""
    ours = Machine(chart)
    reference = build_reference_machine(chart)
    model = reference.model
    assert chart_path(model.state) == ours.state
    for i, signal in enumerate(signals):
        step = ours.apply(signal)
        model.emitted.clear()
        handled = model.trigger(signal)
        where = f"step {i} ({signal!r}) of {signals[: i + 1]}"
        assert chart_path(model.state) == ours.state, where
        assert handled == (not step.ignored), where
        assert tuple(model.emitted) == step.names, where


@pytest.mark.parametrize("name", CHARTS)
def test_differential_random_signals(name: str, request: pytest.FixtureRequest) -> None:
    chart: Chart = request.getfixturevalue(name)
    signals = sorted(chart.signals)

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        # mostly signals that move the current state (so runs go deep and come back
        # through history), some it handles in place, some it does not handle at all
        m = Machine(chart)
        sequence = []
        for _ in range(data.draw(st.integers(0, 60), label="length")):
            handled = m.handled()
            moving = [s for s in handled if m.copy().apply(s).changed]
            pool = data.draw(st.sampled_from([moving, moving, moving, handled, signals]))
            signal = data.draw(st.sampled_from(pool or signals))
            m.apply(signal)
            sequence.append(signal)
        agree(chart, sequence)

    check()


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
    m = Machine(nested_chart)
    for signal, state in walk:
        m.apply(signal)
        assert m.state == state, signal
    agree(nested_chart, [signal for signal, _ in walk])


def test_names_and_paths() -> None:
    assert SEPARATOR not in "._"
    assert (
        state_name("checked_in.available.idle") == f"checked_in{SEPARATOR}available{SEPARATOR}idle"
    )
    assert chart_path(state_name("checked_in.three_party")) == "checked_in.three_party"
    assert chart_path("a/b", separator="/") == "a.b"


def test_reference_structure(agent_chart: Chart) -> None:
    reference = build_reference_machine(agent_chart)
    assert isinstance(reference, HierarchicalMachine)
    assert isinstance(reference.model, ReferenceModel)
    names = set(reference.get_nested_state_names())
    assert names == {state_name(p) for p in agent_chart.states}
    # a composite state's initial child is declared, not implied
    available = reference.get_state(state_name("checked_in.available"))
    assert available.initial == "idle"
    # an unhandled or undeclared signal is ignored, as by our non-strict engine
    assert reference.model.trigger("answered") is False
    assert reference.model.state == "offline"


def test_reference_history_is_explicit(agent_chart: Chart) -> None:
    model = ReferenceModel()
    build_reference_machine(agent_chart, model=model)
    for signal in ("logged_in", "checked_in", "paused", "ringing"):
        model.trigger(signal)
    assert model.chart_history == {"checked_in.available": "checked_in.available.paused"}
    model.emitted.clear()
    model.trigger("hung_up")
    assert (chart_path(model.state), model.emitted) == ("checked_in.available.paused", ["onIdle"])


def test_reference_on_a_user_model_and_graph_machine(acw_chart: Chart) -> None:
    class Desk:
        pass

    desk: Any = Desk()
    reference = build_reference_machine(
        acw_chart, model=desk, machine_cls=HierarchicalGraphMachine, graph_engine="mermaid"
    )
    assert isinstance(reference, HierarchicalGraphMachine)
    assert (desk.chart_history, desk.emitted) == ({}, [])
    desk.trigger("logged_in")
    assert desk.state == "connected"
    drawn = reference.get_graph().draw(None)
    assert "wrap_up" in drawn
    assert state_name("checked_in.on_call.talking") in drawn


def test_a_separator_in_a_state_name_is_refused(agent_chart: Chart, nested_chart: Chart) -> None:
    with pytest.raises(ValueError, match="separator '_' occurs in a state name of 'agent'"):
        build_reference_machine(agent_chart, separator="_")
    with pytest.raises(ValueError, match=r"separator '\.'"):
        build_reference_machine(nested_chart, separator=".")
    model = build_reference_machine(nested_chart, separator="/").model
    model.trigger("go")
    assert (model.state, chart_path(model.state, separator="/")) == ("b/b1/x", "b.b1.x")
