"""flows(): every flow is one a real agent could see, and replays to the same events."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti_fsm import Machine, default_chart
from cti_fsm.testing import Flow, flows

CHART = default_chart()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUPERVISOR_ONLY = {
    name for name, spec in CHART.commands.items() if "supervisor" in spec.rule.rights
}


@FAST
@given(flows(CHART, max_steps=25))
def test_every_step_is_allowed_and_answered(flow: Flow) -> None:
    machine = Machine(CHART, rights=flow.rights)
    assert flow.start == CHART.initial
    previous = flow.start
    pending = None
    for step in flow.steps:
        assert step.source == previous  # the flow is one connected path
        if step.kind == "command":
            assert pending is None, "a command is answered before anything else happens"
            rule = machine.check(step.name, **step.args)  # the chart accepts it here
            pending = (step.name, {rule.confirm, rule.fail} - {None})
            assert step.target == step.source and not step.notifications
        else:
            assert machine.handles(step.name)
            if pending is not None:
                assert step.answers == pending[0] and step.name in pending[1]
                pending = None
            else:
                assert step.answers is None
            taken = machine.apply(step.name, **step.args)
            assert (taken.target, taken.notifications) == (step.target, step.notifications)
        previous = step.target
    assert pending is None and flow.end == machine.state


@FAST
@given(flows(CHART, rights=(), start="idle", min_steps=3, max_steps=8))
def test_rights_start_and_length_are_respected(flow: Flow) -> None:
    assert flow.start == "checked_in.available.idle"
    assert not {s.name for s in flow.commands} & SUPERVISOR_ONLY
    assert all(
        s.args.get("agent_id") is None for s in flow.commands if s.name in {"pause", "restore"}
    )
    # each of 3..8 steps is a command and its answer, or one signal
    assert 3 <= len(flow.steps) - len(flow.commands) <= 8
    # replaying on a fresh machine reproduces every notification
    machine = Machine(CHART, state=flow.start)
    replayed = flow.replay(machine)
    assert tuple(n for s in replayed for n in s.notifications) == flow.notifications


@FAST
@given(flows(CHART, stimuli={"ringing", "link_lost"}, max_steps=10))
def test_stimuli_limit_the_unsolicited_signals(flow: Flow) -> None:
    for step in flow.signals:
        if step.answers is None:
            assert step.name in {"ringing", "link_lost"}


@FAST
@given(
    flows(
        CHART,
        start="ringing",
        min_steps=1,
        max_steps=1,
        stimuli=(),
        payloads={"phone_number": st.just("+33 1 23")},
    )
)
def test_payload_strategies_are_used(flow: Flow) -> None:
    # without stimuli, a flow is commands and their answers only
    (command, answer) = flow.steps
    assert command.name in Machine(CHART, rights=flow.rights, state="ringing").allowed()
    assert answer.answers == command.name
    if "phone_number" in answer.args:
        assert answer.args["phone_number"] == "+33 1 23"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="has no state 'nowhere'"):
        flows(CHART, start="nowhere")
    with pytest.raises(ValueError, match="min_steps <= max_steps"):
        flows(CHART, min_steps=5, max_steps=2)


def test_flow_reads_as_a_script() -> None:
    @settings(max_examples=1, database=None)
    @given(flows(CHART, min_steps=2, max_steps=2))
    def check(flow: Flow) -> None:
        text = str(flow)
        assert text.startswith("flow from offline:\n  offline: ")
        assert len(text.splitlines()) == 1 + len(flow.steps)

    check()
