"""flows(): every flow is one a real agent could see, and replays to the same events."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from cti_fsm import Chart, Machine, default_chart
from cti_fsm.testing import Flow, FlowStep, flows
from cti_fsm.testing.moves import OTHER

CHART = default_chart()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIND = settings(
    max_examples=2000, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
SUPERVISOR_ONLY = {
    name for name, spec in CHART.commands.items() if "supervisor" in spec.rule.rights
}


def check_flow(chart: Chart, flow: Flow) -> None:
    """Every step of ``flow`` is one the chart allows, replayed to the same outcome."""
    machine = Machine(chart, rights=flow.rights)
    assert flow.start == chart.initial
    previous = flow.start
    pending = None
    due: set[str] = set()
    for step in flow.steps:
        assert step.source == previous  # the flow is one connected path
        if step.kind == "command":
            assert pending is None, "a command is answered before anything else happens"
            rule = machine.check(step.name, **step.args)  # the chart accepts it here
            pending = (step.name, {rule.confirm, rule.fail} - {None})
            assert step.target == step.source and not step.notifications
            previous = step.target
            continue
        if step.kind == "timer":
            assert pending is None and step.name in due  # only an armed timer fires
            taken = machine.fire(step.name)
            assert not taken.ignored
        else:
            assert machine.handles(step.name)
            if pending is not None:
                assert step.answers == pending[0] and step.name in pending[1]
                pending = None
            else:
                assert step.answers is None
            taken = machine.apply(step.name, **step.args)
        assert taken.ignored == step.ignored
        assert (taken.target, taken.notifications) == (step.target, step.notifications)
        assert (machine.states, taken.commands) == (step.states, step.sent)
        for change in taken.timers:
            (due.discard if change.seconds is None else due.add)(change.timer)
        if step.kind == "timer" and not any(c.timer == step.name for c in taken.timers):
            due.discard(step.name)
        previous = step.target
    assert pending is None and flow.end == machine.state


@FAST
@given(flows(CHART, max_steps=25))
def test_every_step_is_allowed_and_answered(flow: Flow) -> None:
    check_flow(CHART, flow)


def test_every_step_is_allowed_and_answered_on_the_test_charts(test_chart: Chart) -> None:
    @FAST
    @given(flows(test_chart, max_steps=25))
    def check(flow: Flow) -> None:
        check_flow(test_chart, flow)

    check()


def test_flows_drive_every_field_guard() -> None:
    # the vendor's next_state_set passes each guard on "next", and fails them all
    def unsolicited(flow: Flow, value: str) -> FlowStep | None:
        return next(
            (
                s
                for s in flow.steps
                if s.name == "next_state_set" and s.answers is None and s.args["next"] == value
            ),
            None,
        )

    for value in ("ready", "not_ready", "logout", OTHER):

        def has(flow: Flow, value: str = value) -> bool:
            return unsolicited(flow, value) is not None

        flow = find(flows(CHART, start="talking", max_steps=6), has, settings=FIND)
        step = unsolicited(flow, value)
        assert step is not None
        if value == OTHER:
            assert step.ignored and step.states == step_states_before(flow, step)
        else:
            assert step.names == ("onNextState",) and not step.ignored
    # a local command's answer carries its arguments, which take their choices
    local = find(
        flows(CHART, start="talking", max_steps=3),
        lambda f: any(s.answers == "set_next_state" for s in f.steps),
        settings=FIND,
    )
    sent = next(s for s in local.steps if s.name == "set_next_state")
    answer = next(s for s in local.steps if s.answers == "set_next_state")
    assert sent.args["next"] in ("ready", "not_ready", "logout")
    assert dict(answer.args) == dict(sent.args) and not answer.ignored


def step_states_before(flow: Flow, step: FlowStep) -> tuple[str, ...]:
    index = flow.steps.index(step)
    if index == 0:
        return Machine(CHART, state=flow.start).states
    return flow.steps[index - 1].states


def test_flows_fire_timers_in_virtual_time(wrap_up_chart: Chart) -> None:
    # the wrap-up chart arms a ring timer (15 s) and a wrap-up timer (20 s, or the
    # vendor's seconds); a flow fires them, and only while they are armed
    flow = find(
        flows(wrap_up_chart, start="ringing", stimuli=(), max_steps=3),
        lambda f: bool(f.timers),
        settings=FIND,
    )
    (timer,) = flow.timers
    assert timer.name == "checked_in.ringing.after.0" and timer.names == ("onRingNoAnswer",)
    assert [c.command for c in timer.sent] == ["hangup"]
    assert "checked_in.next.not_ready_next" in timer.states
    wrapped = find(
        flows(wrap_up_chart, start="talking", stimuli={"hung_up"}, max_steps=4),
        lambda f: any(s.name == "checked_in.wrap_up.after.0" for s in f.timers),
        settings=FIND,
    )
    ended = next(s for s in wrapped.timers if s.name == "checked_in.wrap_up.after.0")
    assert ended.names == ("onWrapUpEnd",) and ended.target == "checked_in.available.idle"


@FAST
@given(flows(CHART, start="ringing", stimuli=(), max_steps=3))
def test_a_timer_set_to_zero_never_fires(flow: Flow) -> None:
    # the default chart's ring timer reads ring_timeout_seconds, which is 0
    assert not flow.timers


@FAST
@given(flows(CHART, rights=(), start="idle", min_steps=3, max_steps=8))
def test_rights_start_and_length_are_respected(flow: Flow) -> None:
    assert flow.start == "checked_in.available.idle"
    assert not {s.name for s in flow.commands} & SUPERVISOR_ONLY
    assert all(
        s.args.get("agent_id") is None for s in flow.commands if s.name in {"pause", "restore"}
    )
    # each of 3..8 steps is a command and its answer, one signal, or a timer
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
