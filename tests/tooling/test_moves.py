"""The move table and the block reader behind flows() and chart_state_machine's runner."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from cti_fsm import Chart, Machine, default_chart
from cti_fsm.testing.moves import (
    FIRST_MOVE,
    MASK_BYTES,
    OTHER,
    SKIP,
    STEP_BYTES,
    STOP,
    TIMER_POOL,
    VALUE_POOLS,
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

CHART = default_chart()
IDLE = "checked_in.available.idle"


def test_each_leaf_has_exactly_the_moves_the_chart_opens_there() -> None:
    # (the configuration a machine entering the leaf has)
    table = MoveTable(CHART, frozenset())
    for leaf in CHART.leaves():
        m = Machine(CHART, rights=(), state=leaf)
        moves = table.moves(leaf)
        commands = {mv.variant.command for mv in moves if mv.variant is not None}
        signals = {mv.name for mv in moves if mv.variant is None}
        assert commands == set(m.allowed()), leaf
        assert signals == set(m.handled()), leaf
    # without the supervisor right there is no listen move; with it there is
    assert "listen" not in {mv.name for mv in table.moves(IDLE)}
    assert "listen" in {mv.name for mv in MoveTable(CHART, CHART.rights).moves(IDLE)}


def test_stimuli_limit_the_signal_moves() -> None:
    table = MoveTable(CHART, frozenset(), stimuli={"ringing"})
    signals = {mv.name for mv in table.moves(IDLE) if mv.variant is None}
    assert signals == {"ringing"}


def test_zero_reads_the_first_answer_and_leaves_optional_arguments_out() -> None:
    table = MoveTable(CHART, frozenset())
    pause = next(mv for mv in table.moves(IDLE) if mv.name == "pause")
    chosen = pause.read(0, None)
    assert chosen.signal == CHART.commands["pause"].rule.confirm
    assert chosen.args == {}  # reason is optional: digit zero leaves it out
    assert set(chosen.payload) == set(CHART.signals[chosen.signal].payload)
    assert all(v == VALUE_POOLS["any"][0] for v in chosen.payload.values())
    # the next digits pick the fail answer, then give the reason
    failed = pause.read(1, None)
    assert failed.signal == CHART.commands["pause"].rule.fail
    with_reason = pause.read(2 * 1, None)  # answers digit 0, reason digit 1
    assert with_reason.args == {"reason": VALUE_POOLS["string"][0]}


def test_lists_are_fresh_and_strategies_are_drawn() -> None:
    table = MoveTable(CHART, frozenset(), args={"number": st.just("+33 1")})
    connected = table.moves("connected")
    check_in = next(mv for mv in connected if mv.name == "check_in")
    a, b = check_in.read(0, None), check_in.read(0, None)
    assert (
        a.args["group_ids"] == b.args["group_ids"]
        and a.args["group_ids"] is not b.args["group_ids"]
    )
    assert table.draws
    dial = next(mv for mv in table.moves(IDLE) if mv.name == "dial_out")
    drawn: list[object] = []

    def draw(strategy: st.SearchStrategy[object]) -> object:
        drawn.append(strategy)
        return "+33 1"

    assert dial.read(0, draw).args == {"number": "+33 1"}
    assert len(drawn) == 1


def test_the_mask_leaves_rules_out_but_never_every_move_of_a_state() -> None:
    table = MoveTable(CHART, frozenset())
    every = table.moves(IDLE)
    first = every[0]
    swarm = Swarm(table, 1 << first.rule)
    bits = 8 * MASK_BYTES  # rules past the mask's bits share them
    assert swarm.moves(IDLE) == tuple(m for m in every if m.rule % bits != first.rule)
    assert first not in swarm.moves(IDLE) and swarm.moves(IDLE)
    assert Swarm(table, (1 << 64) - 1).moves(IDLE) == every  # all out: all back in
    assert Swarm(table, 0).moves(IDLE) == every


def test_a_block_reads_as_mask_then_fixed_size_steps() -> None:
    steps = 4
    block = bytes(range(1, block_size(steps) + 1))
    assert len(block) == MASK_BYTES + steps * STEP_BYTES
    assert read_mask(block) == int.from_bytes(block[:MASK_BYTES], "little")
    values = list(step_values(block))
    assert len(values) == steps
    assert values[0] == int.from_bytes(block[MASK_BYTES : MASK_BYTES + STEP_BYTES], "big")
    assert STOP < SKIP < FIRST_MOVE


# --- the language: configurations, guards, local commands, timers ------------------------------
def test_moves_follow_the_configuration(every_feature_chart: Chart) -> None:
    chart = every_feature_chart
    table = MoveTable(chart, chart.rights)
    m = Machine(chart, rights=chart.rights)
    for signal in ("started", "began"):
        m.apply(signal)
    busy = {mv.name for mv in table.moves(m)}
    m.apply("wave")  # only the light region moved: other signals are open now
    red = {mv.name for mv in table.moves(m)}
    assert m.state == "on.busy" and busy != red
    assert "flip" in busy and "flip" in red
    assert "on.light.red.after.0" in red and "on.light.red.after.0" not in busy
    # a leaf stands for the configuration a machine entering it has
    assert table.moves("on.busy") == table.moves(Machine(chart, state="on.busy"))


def test_guarded_fields_take_the_values_that_pass_and_one_that_fails() -> None:
    pools = payload_pools(CHART)
    assert pools["next_state_set"]["next"] == ("ready", "not_ready", "logout", OTHER)
    assert pools["next_state_set"]["reason"] == VALUE_POOLS["any"]
    # a field a timer's duration reads: none, zero (not armed) and some seconds
    assert pools["wrap_up_started"]["wrap_up_seconds"] == TIMER_POOL
    assert guard_values(CHART).keys() == {"next_state_set"}


def test_a_field_kept_for_a_timer_sets_its_duration(every_feature_chart: Chart) -> None:
    # on.next.later's reminder reads the kept "remind", kept from planned's field
    assert timer_fields(every_feature_chart) == {"rest", "remind"}
    assert payload_pools(every_feature_chart)["done"]["result"] == ("ok", "retry", OTHER)


def test_a_local_command_is_answered_with_its_arguments() -> None:
    table = MoveTable(CHART, frozenset())
    talking = Machine(CHART, state="talking")
    move = next(mv for mv in table.moves(talking) if mv.name == "set_next_state")
    assert move.local and move.outcomes == (("next_state_set", ()),)
    for number in range(12):
        chosen = move.read(number, None)
        assert chosen.args["next"] in ("ready", "not_ready", "logout")  # its choices
        assert chosen.payload == chosen.args


def test_the_clock_fires_the_timer_due_first(every_feature_chart: Chart) -> None:
    chart = every_feature_chart
    table = MoveTable(chart, chart.rights)
    m = Machine(chart)
    clock = VirtualClock()
    for signal in ("started", "began", "wave"):
        clock.follow(m.apply(signal))
    assert clock.due == {"on.busy.after.0": 30.0, "on.light.red.after.0": 2.0}
    assert clock.due_first() == ("on.light.red.after.0",)
    key = clock.key()
    # never masked out, after the table's moves
    everything_out = Swarm(table, (1 << 64) - 1)
    moves = everything_out.moves(m, clock)
    assert moves[-1] is table.timers["on.light.red.after.0"]
    assert moves[:-1] == table.moves(m)
    step = clock.fire(m, "on.light.red.after.0")
    assert step.names == ("onGreen",) and clock.now == 2.0
    assert clock.due == {"on.busy.after.0": 30.0} and clock.key() == (("on.busy.after.0", 28.0),)
    assert key != clock.key()
    with pytest.raises(KeyError):
        clock.fire(m, "on.light.red.after.0")  # not armed any more
    copy = clock.copy()
    clock.fire(m, "on.busy.after.0")
    assert copy.due == {"on.busy.after.0": 30.0} and not clock.due
