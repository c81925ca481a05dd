"""Properties of the engine on random command/signal sequences, for every test chart.

After every action: the machine is in a declared main leaf, with exactly one leaf active
in every region of every active state with regions; history names, for each history
state, one of its children (the one on the current path when the machine is inside it);
a refused command changed nothing (nor did an accepted one: ``check`` only checks);
``allowed()`` is exactly the set of commands ``check`` accepts with some valid arguments;
a signal is ignored exactly when no active state declares a transition for it whose
guards pass (payloads are drawn to pass and fail every field guard), and a step's
notifications are among those its transitions declare; a timer is cancelled only when
its state was left and started only when its state was entered.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti_fsm import Chart, CommandError, CommandSpec, Machine
from cti_fsm.chart import ArgSpec, Guard
from cti_fsm.testing.moves import payload_pools

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


def values(arg: ArgSpec) -> st.SearchStrategy[Any]:
    return st.sampled_from(arg.choices) if arg.choices else VALUES[arg.type]


def valid_args(data: st.DataObject, spec: CommandSpec, names: tuple[str, ...]) -> dict[str, Any]:
    args = {a.name: a for a in spec.args}
    return {name: data.draw(values(args[name]), label=name) for name in names}


#: one valid value per argument type (random ones are drawn for the commands sent)
SAMPLE = {"string": "x", "list": ["x"], "number": 1, "bool": True, "any": 0}


def sample(arg: ArgSpec) -> Any:
    return arg.choices[0] if arg.choices else SAMPLE[arg.type]


def accepts(m: Machine, spec: CommandSpec) -> bool:
    """Whether ``check`` accepts the command with some valid arguments."""
    args = {a.name: a for a in spec.args}
    for names in variants(spec):
        try:
            m.check(spec.name, **{name: sample(args[name]) for name in names})
        except CommandError:
            continue
        return True
    return False


def passes(g: Guard, active: set[str], payload: dict[str, Any], chart: Chart) -> bool:
    if g.kind == "in":
        return g.passes_states(frozenset(active))
    return g.passes_value((payload if g.kind == "field" else chart.settings).get(g.name))


def candidates(chart: Chart, active: set[str], signal: str, payload: dict[str, Any]) -> list[Any]:
    """The signal's transitions declared on an active state whose guards pass."""
    spec = chart.signals.get(signal)
    if spec is None:
        return []
    return [
        t
        for t in spec.transitions
        if t.source in active and all(passes(g, active, payload, chart) for g in t.guards)
    ]


def active_states(m: Machine) -> set[str]:
    return {p for leaf in m.states for p in m.chart.ancestors(leaf)}


def assert_invariants(chart: Chart, m: Machine) -> None:
    assert m.state in chart.leaves()
    assert m.states[0] == m.state
    active = active_states(m)
    # in every active state: exactly one of its own children, and every region
    for path in active:
        spec = chart.states[path]
        if spec.children:
            assert len(active.intersection(spec.children)) == 1, (path, m.states)
        assert active.issuperset(spec.regions), (path, m.states)
    history_states = [p for p, s in chart.states.items() if s.history]
    assert len(m.history) == len(history_states)
    for state, child in zip(history_states, m.history, strict=True):
        here = [leaf for leaf in m.states if chart.contains(state, leaf) and leaf != state]
        if here:
            path = chart.ancestors(here[0])
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
    pools = payload_pools(chart)
    for _ in range(STEPS):
        before = (m.configuration, m.history)
        state = m.state
        active = active_states(m)
        kind = data.draw(st.sampled_from(["handled", "handled", "signal", "command"]))
        if kind == "command" and commands:
            spec = data.draw(st.sampled_from(commands))
            names = data.draw(st.sampled_from(variants(spec)))
            try:
                m.check(spec.name, **valid_args(data, spec, names))
            except CommandError as err:
                assert (err.command, err.state) == (spec.name, state)
            assert (m.configuration, m.history) == before
        else:
            pool = m.handled() if kind == "handled" and m.handled() else signals
            signal = data.draw(st.sampled_from(pool))
            payload = {f: data.draw(st.sampled_from(p)) for f, p in pools[signal].items()}
            declared = candidates(chart, active, signal, payload)
            step = m.apply(signal, **payload)
            assert (step.source, step.signal) == (state, signal)
            assert step.target == m.state
            if not declared:
                assert step.ignored and (m.configuration, m.history) == before
                continue
            assert not step.ignored
            emits = {e.notification for t in declared for e in t.emits}
            assert set(step.names) <= emits
            now = active_states(m)
            for change in step.timers:
                timer = chart.timers[change.timer]
                if change.seconds is None:
                    assert timer.state in active, change
                else:
                    assert timer.state in now, change
        assert_invariants(chart, m)
        allowed = set(m.allowed())
        assert allowed == {spec.name for spec in commands if accepts(m, spec)}


@pytest.mark.parametrize(
    "name", ["agent_chart", "acw_chart", "nested_chart", "every_feature_chart", "wrap_up_chart"]
)
def test_random_sequences(name: str, request: pytest.FixtureRequest) -> None:
    chart: Chart = request.getfixturevalue(name)

    @SETTINGS
    @given(st.data())
    def check(data: st.DataObject) -> None:
        run(chart, data)

    check()
