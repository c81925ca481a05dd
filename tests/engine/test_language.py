"""The chart language beyond states and signals: regions, guards, timers, chart-sent
commands, kept values, local commands, settings and extends.

Each feature is shown on a small chart written out here, against the engine (what a step
does) and the loader (each mistake reported at ``file:line:col``).
"""

from __future__ import annotations

import pathlib

import pytest

import cti_fsm
from cti_fsm import Machine, SpecError
from cti_fsm.events import ChartCommand, TimerChange

DESK = """\
chart: desk
initial: down
settings: {work_seconds: 5, tone: on}
states:
  down: {}
  up:
    initial: idle
    states:
      idle: {}
      busy:
        after:
          - {seconds: [{field: limit}, {setting: work_seconds}], to: idle, emit: [onDone]}
    regions:
      mood:
        initial: calm
        states:
          calm: {}
          cross: {}
commands:
  start:
    from: down
    confirm: started
  work:
    from: idle
    args:
      limit: {type: number, required: false}
      kind: {type: string, choices: [short, long]}
    confirm: working
  sulk:
    from: up
    local: true
    args:
      why: {type: string}
    confirm: sulked
  stop:
    from: busy
    confirm: done
signals:
  started:
    transitions:
      - {from: down, to: up}
  working:
    payload: [limit, kind]
    transitions:
      - {from: idle, to: busy, when: {field: kind, is: long}, emit: [onLong]}
      - {from: idle, to: busy, emit: [onShort]}
      - {from: calm, when: {setting: tone, is: true}, emit: [onCalmStart]}
  sulked:
    payload: [why]
    transitions:
      - {from: mood, to: cross, keep: {grudge: {field: why}}}
  done:
    transitions:
      - {from: busy, to: idle, emit: [onDone]}
      - {from: cross, to: calm, when: {in: busy}, send: [{start: {}, when: {in: nowhere_x}}]}
  calm_down:
    transitions:
      - {from: cross, to: calm, when: {not_in: busy}, send: [{stop: {}}]}
      - {from: cross, emit: [onStillCross]}
  report:
    transitions:
      - {from: up, send: [{sulk: {why: {kept: grudge}}}]}
notifications:
  onDone: {}
  onLong: {}
  onShort: {}
  onCalmStart: {}
  onStillCross: {}
"""


def load(text: str, file: str = "desk.yaml") -> cti_fsm.Chart:
    return cti_fsm.load_chart_text(text, file)


def problems(text: str, file: str = "desk.yaml") -> list[str]:
    with pytest.raises(SpecError) as info:
        load(text, file)
    return [str(p) for p in info.value.problems]


def chart() -> cti_fsm.Chart:
    return load(DESK.replace("{in: nowhere_x}", "{in: calm}"))


# --- regions ------------------------------------------------------------------------------------
def test_a_region_is_entered_with_its_state_and_runs_beside_it() -> None:
    m = Machine(chart())
    step = m.apply("started")
    assert step.target == "up.idle"
    assert m.states == ("up.idle", "up.mood.calm")
    assert m.in_state("calm") and m.in_state("up.mood") and not m.in_state("cross")
    assert chart().leaves() == ("down", "up.idle", "up.busy")
    assert chart().all_leaves() == ("down", "up.idle", "up.busy", "up.mood.calm", "up.mood.cross")


def test_one_signal_moves_both_regions_in_one_step() -> None:
    m = Machine(chart(), state="up.idle")
    step = m.apply("working", kind="long")
    # the main region's transition, then the region's, in document order
    assert step.names == ("onLong", "onCalmStart")
    assert m.states == ("up.busy", "up.mood.calm")


def test_a_transition_inside_one_region_leaves_the_other_alone() -> None:
    m = Machine(chart(), state="up.idle")
    m.apply("sulked", why="rain")
    assert m.states == ("up.idle", "up.mood.cross")
    m.apply("working", kind="short")
    assert m.states == ("up.busy", "up.mood.cross")


# --- guards -------------------------------------------------------------------------------------
def test_field_guards_are_tried_in_document_order() -> None:
    m = Machine(chart(), state="up.idle")
    assert m.apply("working", kind="long").names[0] == "onLong"
    m = Machine(chart(), state="up.idle")
    assert m.apply("working", kind="short").names[0] == "onShort"
    # the same configuration again: the remembered choice is per payload, not per cell
    m = Machine(chart(), state="up.idle")
    assert m.apply("working", kind="long").names[0] == "onLong"


def test_in_guards_read_the_other_region() -> None:
    m = Machine(chart(), state="up.idle")
    m.apply("sulked", why="rain")
    step = m.apply("calm_down")  # not busy: calms down and sends stop
    assert m.states == ("up.idle", "up.mood.calm")
    assert step.commands == (ChartCommand("stop"),)
    m.apply("sulked", why="rain")
    m.apply("working", kind="short")
    assert m.apply("calm_down").names == ("onStillCross",)  # busy: the second one
    assert m.states == ("up.busy", "up.mood.cross")


def test_a_setting_guard_is_decided_by_the_chart() -> None:
    quiet = load(DESK.replace("tone: on", "tone: off").replace("{in: nowhere_x}", "{in: calm}"))
    m = Machine(quiet, state="up.idle")
    assert m.apply("working", kind="short").names == ("onShort",)


def test_an_argument_outside_its_choices_is_refused_before_anything_moves() -> None:
    m = Machine(chart(), state="up.idle")
    with pytest.raises(cti_fsm.InvalidArguments, match="must be one of short, long, not 'medium'"):
        m.check("work", kind="medium")
    assert m.state == "up.idle"


# --- timers -------------------------------------------------------------------------------------
def test_a_timer_starts_with_its_state_and_is_cancelled_when_it_is_left() -> None:
    m = Machine(chart(), state="up.idle")
    step = m.apply("working", kind="short")
    assert step.timers == (TimerChange("up.busy.after.0", 5.0),)
    assert m.apply("done").timers == (TimerChange("up.busy.after.0"),)


def test_a_timer_takes_its_seconds_from_the_payload_first() -> None:
    m = Machine(chart(), state="up.idle")
    assert m.apply("working", kind="short", limit=2).timers == (
        TimerChange("up.busy.after.0", 2.0),
    )


def test_a_fired_timer_takes_its_transition_and_a_stale_one_nothing() -> None:
    m = Machine(chart(), state="up.idle")
    m.apply("working", kind="short")
    step = m.fire("up.busy.after.0")
    assert (step.target, step.names) == ("up.idle", ("onDone",))
    assert m.fire("up.busy.after.0").ignored  # its state was left: nothing happens
    assert m.timers() == ()


def test_a_jump_cancels_and_starts_timers_as_a_transition_would() -> None:
    m = Machine(chart(), state="up.idle")
    assert m.jump("busy").timers == (TimerChange("up.busy.after.0", 5.0),)
    assert m.timers() == (TimerChange("up.busy.after.0", 5.0),)
    assert m.jump("down").timers == (TimerChange("up.busy.after.0"),)


# --- local commands, kept values and chart-sent commands ---------------------------------------
def test_kept_values_feed_the_commands_the_chart_sends() -> None:
    c = chart()
    assert c.commands["sulk"].local and not c.commands["work"].local
    m = Machine(c, state="up.idle")
    m.apply("sulked", why="rain")
    assert m.kept == {"grudge": "rain"}
    assert m.apply("report").commands == (ChartCommand("sulk", {"why": "rain"}),)
    copy = m.copy()
    copy.apply("sulked", why="snow")
    assert (m.kept, copy.kept) == ({"grudge": "rain"}, {"grudge": "snow"})


def test_a_send_guard_is_checked_in_the_state_reached() -> None:
    m = Machine(chart(), state="up.idle")
    m.apply("sulked", why="rain")
    m.apply("working", kind="short")
    # done: busy -> idle and cross -> calm (in busy); the send needs calm, reached
    assert m.apply("done").commands == (ChartCommand("start"),)


# --- extends ------------------------------------------------------------------------------------
def test_a_chart_extends_the_default_chart(tmp_path: pathlib.Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "chart: mine\n"
        "extends: agent\n"
        "settings: {wrap_up_seconds: 45}\n"
        "states:\n"
        "  checked_in:\n"
        "    states:\n"
        "      wrap_up: {description: Notes and dispositions.}\n"
        "notifications:\n"
        "  onWrapUp: {fields: [call_id], description: Ours.}\n",
        "utf-8",
    )
    c = cti_fsm.load_chart(mine)
    base = cti_fsm.default_chart()
    assert (c.name, c.extends, c.is_a("agent")) == ("mine", ("agent",), True)
    assert c.settings["wrap_up_seconds"] == 45
    assert c.states["checked_in.wrap_up"].description == "Notes and dispositions."
    assert c.states["checked_in.wrap_up"].timers == base.states["checked_in.wrap_up"].timers
    assert c.notifications["onWrapUp"].fields == ("call_id",)
    assert set(c.commands) == set(base.commands)
    m = Machine(c, state="checked_in.talking")
    step = m.apply("hung_up", call_id="c1")
    assert step.target == "checked_in.wrap_up"
    assert step.timers == (TimerChange("checked_in.wrap_up.after.0", 45.0),)


def test_a_base_charts_problem_is_reported_where_it_was_written(tmp_path: pathlib.Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(DESK.replace("{in: nowhere_x}", "{in: nowhere_x}"), "utf-8")
    mine = tmp_path / "mine.yaml"
    mine.write_text("chart: mine\nextends: base.yaml\n", "utf-8")
    with pytest.raises(SpecError) as info:
        cti_fsm.load_chart(mine)
    [problem] = [str(p) for p in info.value.problems]
    assert problem.startswith(f"{base}:55:77:")
    assert "unknown state 'nowhere_x'" in problem


# --- mistakes, each at file:line:col -------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{in: nowhere_x}",
            "{in: nowhere_x}",
            "desk.yaml:55:77: unknown state 'nowhere_x'",
        ),
        (
            "{field: kind, is: long}",
            "{field: kinds, is: long}",
            "desk.yaml:45:46: guard on field 'kinds': signal 'working' carries no such field"
            " (limit, kind)",
        ),
        (
            "to: idle, emit: [onDone]}",
            "emit: [onDone]}",
            "desk.yaml:12:13: timer 1 of state 'up.busy' has no target: give 'to' (or 'signal'"
            " to deliver)",
        ),
        (
            "send: [{stop: {}}]",
            "send: [{stopp: {}}]",
            "desk.yaml:58:63: send: unknown command 'stopp' (did you mean 'stop'?)",
        ),
        (
            "send: [{sulk: {why: {kept: grudge}}}]",
            "send: [{sulk: {because: {kept: grudge}}}]",
            "desk.yaml:62:44: send 'sulk': the command has no argument 'because' (why)",
        ),
        (
            "{kept: grudge}}}]",
            "{kept: grievance}}}]",
            "desk.yaml:62:47: nothing keeps a value named 'grievance' (no transition's 'keep')",
        ),
        (
            "[{field: limit}, {setting: work_seconds}]",
            "[{field: limit}, {setting: work_secs}]",
            "desk.yaml:12:50: unknown setting 'work_secs' (did you mean 'work_seconds'?)",
        ),
        (
            "        initial: calm\n",
            "",
            "desk.yaml:14:7: region 'up.mood' has children but no 'initial'",
        ),
        (
            "    local: true\n",
            "    local: true\n    timeout: 3\n",
            None,
        ),
        (
            "      - {from: idle, to: busy, when: {field: kind, is: long}, emit: [onLong]}\n",
            "      - {from: idle, to: busy, emit: [onShort]}\n"
            "      - {from: idle, to: busy, when: {field: kind, is: long}, emit: [onLong]}\n",
            "desk.yaml:46:16: transition for signal 'working' in state 'up.idle' is never taken:"
            " the one at line 45 comes first and has no guard",
        ),
        (
            "    confirm: sulked\n",
            "",
            "desk.yaml:31:5: command 'sulk' is local: it needs a 'confirm' signal (the move it"
            " makes)",
        ),
    ],
    ids=[
        "guard-unknown-state",
        "guard-unknown-field",
        "timer-without-target",
        "send-unknown-command",
        "send-unknown-argument",
        "kept-never-kept",
        "unknown-setting",
        "region-without-initial",
        "fine",
        "unreachable-guarded",
        "local-without-confirm",
    ],
)
def test_each_mistake_is_reported_where_it_was_made(
    old: str, new: str, expected: str | None
) -> None:
    text = DESK.replace("{in: nowhere_x}", "{in: calm}").replace(old, new, 1)
    if old == "{in: nowhere_x}":
        text = DESK
    if expected is None:
        load(text)
        return
    assert expected in problems(text)


def test_an_extends_cycle_is_a_problem(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.yaml").write_text("chart: a\nextends: b.yaml\n", "utf-8")
    (tmp_path / "b.yaml").write_text("chart: b\nextends: a.yaml\n", "utf-8")
    with pytest.raises(SpecError) as info:
        cti_fsm.load_chart(tmp_path / "a.yaml")
    assert str(info.value.problems[0]) == (
        f"{tmp_path / 'b.yaml'}:2:10: extends cycle: a.yaml -> b.yaml -> a.yaml"
    )


def test_extending_a_chart_that_does_not_exist_is_a_problem() -> None:
    assert problems("chart: mine\nextends: agnet\n")[0] == (
        "desk.yaml:2:10: extends: no chart 'agnet' (a shipped chart's name, such as 'agent',"
        " or a path to a chart file relative to this one)"
    )


def test_a_local_command_in_a_vendor_map_is_a_problem(tmp_path: pathlib.Path) -> None:
    text = pathlib.Path(cti_fsm.vendor_map.vendor_map_path("csta-ws")).read_text("utf-8")
    marker = "  finish_wrap_up:\n"
    assert marker in text
    bad = tmp_path / "map.yaml"
    bad.write_text(text.replace(marker, "  set_next_state: {}\n" + marker), "utf-8")
    with pytest.raises(SpecError) as info:
        cti_fsm.vendor_map.load_vendor_map(bad, cti_fsm.default_chart())
    assert any(
        str(p).endswith("command 'set_next_state' is local in the chart: it sends nothing to map")
        for p in info.value.problems
    )


def test_a_jump_keeps_the_regions_beside_its_target() -> None:
    m = Machine(chart(), state="up.idle")
    m.apply("sulked", why="rain")
    # a resync naming a main state: the mood region carries on
    assert m.jump("busy").target == "up.busy"
    assert m.states == ("up.busy", "up.mood.cross")
    # leaving the parallel state and coming back enters every region afresh
    m.jump("down")
    m.jump("busy")
    assert m.states == ("up.busy", "up.mood.calm")


def test_a_timer_whose_seconds_cannot_be_read_is_a_problem_not_a_crash() -> None:
    for seconds, message in (
        ("[]", "timer 1 of state 'up.busy' seconds is an empty list"),
        (
            "5s",
            "timer 1 of state 'up.busy' seconds must be a number, {setting|field|kept:"
            " name} or a list of them, not '5s'",
        ),
    ):
        text = DESK.replace("{in: nowhere_x}", "{in: calm}").replace(
            "[{field: limit}, {setting: work_seconds}]", seconds
        )
        assert any(p.endswith(message) for p in problems(text)), problems(text)


def test_a_command_sent_from_a_region_state_is_checked_like_any_other() -> None:
    text = DESK.replace("{in: nowhere_x}", "{in: calm}").replace(
        "  sulk:\n    from: up\n", "  sulk:\n    from: cross\n"
    )
    c = load(text)
    m = Machine(c, state="up.idle")
    assert "sulk" not in m.allowed()
    m.apply("sulked", why="rain")
    assert "sulk" in m.allowed()


def test_regions_that_multiply_past_the_limit_are_refused() -> None:
    regions = "".join(
        f"      r{n}:\n        initial: r{n}s0\n"
        f"        states: {{{', '.join(f'r{n}s{i}: {{}}' for i in range(10))}}}\n"
        for n in range(5)
    )
    text = (
        "chart: wide\ninitial: x\nstates:\n  x:\n    initial: y\n    states: {y: {}}\n"
        "    regions:\n" + regions
    )
    [problem] = problems(text, "wide.yaml")
    assert problem.startswith("wide.yaml:4:3: the chart's parallel regions make 100000")
