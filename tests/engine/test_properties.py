"""Properties of the engine on random command/signal sequences, for every test chart.

After every action: the machine is in a declared leaf; history names, for each history
state, one of its children (the one on the current path when the machine is inside it);
a refused command changed nothing (nor did an accepted one: ``check`` only checks);
``allowed()`` is exactly the set of commands ``check`` accepts with some valid arguments;
a step reports the transition the chart declares innermost for that leaf and signal.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti_fsm import Chart, CommandError, CommandSpec, Machine

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STEPS = 40

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=8),
    "list": st.lists(st.text(max_size=4), max_size=3) | st.text(max_size=8),
    "number": st.integers(-100, 100) | st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
    "any": st.integers() | st.text(max_size=4) | st.lists(st.integers(), max_size=2),
}


def variants(spec: CommandSpec) -> list[tuple[str, ...]]:
    """The argument sets that select each of the command's rules: the required ones,
    then the required ones plus each argument that has a rule of its own."""
    required = tuple(a.name for a in spec.args if a.required)
    return [required] + [(*required, a.name) for a in spec.args if a.when_given and not a.required]


def valid_args(data: st.DataObject, spec: CommandSpec, names: tuple[str, ...]) -> dict[str, Any]:
    kinds = {a.name: a.type for a in spec.args}
    return {name: data.draw(VALUES[kinds[name]], label=name) for name in names}


#: one valid value per argument type (random ones are drawn for the commands sent)
SAMPLE = {"string": "x", "list": ["x"], "number": 1, "bool": True, "any": 0}


def accepts(m: Machine, spec: CommandSpec) -> bool:
    """Whether ``check`` accepts the command with some valid arguments."""
    kinds = {a.name: a.type for a in spec.args}
    for names in variants(spec):
        try:
            m.check(spec.name, **{name: SAMPLE[kinds[name]] for name in names})
        except CommandError:
            continue
        return True
    return False


def innermost(chart: Chart, leaf: str, signal: str) -> tuple[str | None, tuple[str, ...]] | None:
    """(target, notification names) of the chart's innermost transition, or None."""
    for state in chart.ancestors(leaf):
        for t in chart.signals[signal].transitions if signal in chart.signals else ():
            if t.source == state:
                return t.target, tuple(e.notification for e in t.emits)
    return None


def assert_invariants(chart: Chart, m: Machine) -> None:
    assert m.state in chart.leaves()
    history_states = [p for p, s in chart.states.items() if s.history]
    assert len(m.history) == len(history_states)
    for state, child in zip(history_states, m.history, strict=True):
        if chart.contains(state, m.state):
            path = chart.ancestors(m.state)
            assert child == path[path.index(state) - 1]
        else:
            assert child is None or chart.states[child].parent == state


def run(chart: Chart, data: st.DataObject) -> None:
    rights = data.draw(
        st.sets(st.sampled_from(sorted(chart.rights))) if chart.rights else st.just(set())
    )
    m = Machine(chart, rights=rights)
    commands = list(chart.commands.values())
    signals = list(chart.signals)
    for _ in range(STEPS):
        before = (m.state, m.history)
        kind = data.draw(st.sampled_from(["handled", "handled", "signal", "command"]))
        if kind == "command" and commands:
            spec = data.draw(st.sampled_from(commands))
            names = data.draw(st.sampled_from(variants(spec)))
            try:
                m.check(spec.name, **valid_args(data, spec, names))
            except CommandError as err:
                assert (err.command, err.state) == (spec.name, before[0])
            assert (m.state, m.history) == before
        else:
            pool = m.handled() if kind == "handled" and m.handled() else signals
            signal = data.draw(st.sampled_from(pool))
            declared = innermost(chart, m.state, signal)
            step = m.apply(signal)
            assert (step.source, step.signal) == (before[0], signal)
            assert step.target == m.state
            if declared is None:
                assert step.ignored and (m.state, m.history) == before
            else:
                target, names = declared
                assert not step.ignored and step.names == names
                if target is None:
                    assert (m.state, m.history) == before
                else:
                    assert chart.contains(target, m.state)
        assert_invariants(chart, m)
        allowed = set(m.allowed())
        assert allowed == {spec.name for spec in commands if accepts(m, spec)}


@pytest.mark.parametrize("name", ["agent_chart", "acw_chart", "nested_chart"])
def test_random_sequences(name: str, request: pytest.FixtureRequest) -> None:
    chart: Chart = request.getfixturevalue(name)

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        run(chart, data)

    check()
