"""Loading charts: every mistake is a SpecError problem at its exact FILE:LINE:COL.

Each test edits one line of a small valid chart (``BASE``, its line numbers in the
comments) and asserts the complete list of problems, so a missing problem, a spurious
extra one or a wrong position all fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cti_fsm import Chart, Machine, PermissionDenied, SpecError, load_chart, load_chart_text
from cti_fsm.errors import Problem

BASE = """\
chart: mini                                     # 1
initial: down                                   # 2
rights: [boss]                                  # 3
states:                                         # 4
  down: {}                                      # 5
  up:                                           # 6
    initial: idle                               # 7
    history: shallow                            # 8
    states:                                     # 9
      idle: {}                                  # 10
      busy: {}                                  # 11
commands:                                       # 12
  start:                                        # 13
    from: [down]                                # 14
    confirm: started                            # 15
  work:                                         # 16
    from: [idle]                                # 17
    rights: [boss]                              # 18
    args:                                       # 19
      job: {type: string}                       # 20
    confirm: busy                               # 21
signals:                                        # 22
  started:                                      # 23
    transitions:                                # 24
      - {from: down, to: up, emit: [onStart]}   # 25
  busy:                                         # 26
    transitions:                                # 27
      - {from: idle, to: busy, emit: [onBusy]}  # 28
  done:                                         # 29
    transitions:                                # 30
      - {from: busy, to: up, emit: [onDone]}    # 31
notifications:                                  # 32
  onStart: {}                                   # 33
  onBusy: {}                                    # 34
  onDone: {}                                    # 35
"""


def edit(line: int, *new: str) -> str:
    """BASE with line ``line`` (1-based) replaced by the lines ``new`` (none: deleted)."""
    lines = BASE.splitlines()
    lines[line - 1 : line] = list(new)
    return "\n".join(lines) + "\n"


def problems(text: str) -> list[str]:
    """Every problem loading ``text`` as ``t.yaml`` reports, as ``FILE:LINE:COL: msg``."""
    with pytest.raises(SpecError) as info:
        load_chart_text(text, "t.yaml")
    found = [str(p) for p in info.value.problems]
    assert str(info.value) == "\n".join(found)
    return found


def test_base_chart_is_valid() -> None:
    chart = load_chart_text(BASE, "t.yaml")
    assert chart.leaves() == ("down", "up.idle", "up.busy")
    assert chart.states["up"].initial == "up.idle"
    assert chart.states["up"].history
    assert chart.commands["work"].rule.rights == frozenset({"boss"})


# --- shapes: unknown keys, wrong types --------------------------------------------------------


def test_unknown_key_in_a_command() -> None:
    assert problems(edit(17, "    form: [idle]", "    from: [idle]")) == [
        "t.yaml:17:5: command 'work': unknown key 'form' (did you mean 'from'?);"
        " expected one of: description, from, args, rights, confirm, fail, timeout, pending,"
        " local"
    ]


def test_unknown_key_at_the_top() -> None:
    assert problems(edit(3, "rights: [boss]", "state: {}")) == [
        "t.yaml:4:1: chart: unknown key 'state' (did you mean 'states'?); expected one of:"
        " chart, version, description, initial, rights, defaults, states, commands,"
        " signals, notifications, session, settings, extends"
    ]


def test_unknown_key_in_a_transition() -> None:
    assert problems(edit(31, "      - {from: busy, goto: up, to: up, emit: [onDone]}")) == [
        "t.yaml:31:22: transition of signal 'done': unknown key 'goto' (did you mean 'to'?);"
        " expected one of: from, to, emit, when, send, keep"
    ]


def test_unknown_key_in_an_argument_rule() -> None:
    text = edit(20, "      job: {type: string, when_given: {rigths: [boss]}}")
    assert problems(text) == [
        "t.yaml:20:40: argument 'job' of command 'work' when_given: unknown key 'rigths'"
        " (did you mean 'rights'?); expected one of: from, rights, confirm, fail, timeout"
    ]


def test_wrong_type_number() -> None:
    assert problems(edit(15, "    confirm: started", "    timeout: soon")) == [
        "t.yaml:16:14: command 'start' timeout must be a number, not a string ('soon')"
    ]


def test_wrong_type_state_list_is_reported_once() -> None:
    # a mapping where a state list belongs: one problem, not a second "allowed from no state"
    assert problems(edit(14, "    from: {down: 1}")) == [
        "t.yaml:14:11: command 'start' from must be a string or a list of strings"
    ]


def test_wrong_type_choice_and_boolean() -> None:
    assert problems(edit(8, "    history: deep")) == [
        "t.yaml:8:14: state 'up' history must be one of shallow, not 'deep'"
    ]
    assert problems(edit(20, '      job: {type: int, required: "no"}')) == [
        "t.yaml:20:19: argument 'job' of command 'work' type must be one of string, list,"
        " number, bool, any, not 'int'",
        "t.yaml:20:34: argument 'job' of command 'work' required must be true or false,"
        " not a string ('no')",
    ]


def test_wrong_type_yaml_boolean_as_state_name() -> None:
    # YAML 1.1 reads an unquoted `off` as false: a state named off must be quoted
    assert problems(edit(5, "  off: {}", "  down: {}")) == [
        "t.yaml:5:3: states: keys must be strings"
    ]


def test_wrong_type_state_body_and_emit_list() -> None:
    assert problems(edit(5, "  down: []")) == [
        "t.yaml:5:9: state 'down' must be a mapping, not a list"
    ]
    assert problems(edit(31, "      - {from: busy, to: up, emit: onDone}")) == [
        "t.yaml:31:36: transition of signal 'done' emit must be a list, not a string ('onDone')",
        # a consequence, reported at the notification: nothing else emits it
        "t.yaml:35:3: notification 'onDone' is never emitted by any transition",
    ]


def test_missing_required_keys() -> None:
    assert problems(edit(2)) == ["t.yaml:3:1: chart: missing required key 'initial'"]
    assert problems(edit(7)) == ["t.yaml:6:3: state 'up' has children but no 'initial'"]
    assert problems(edit(31, "      - {to: up, emit: [onDone]}")) == [
        "t.yaml:31:9: transition of signal 'done': missing required key 'from'"
    ]


def test_state_name_with_a_dot() -> None:
    assert problems(edit(11, "      busy: {}", "      a.b: {}")) == [
        "t.yaml:12:7: state name 'a.b' must be non-empty and have no dot"
    ]


# --- names: states, signals, notifications, rights ---------------------------------------------


def test_target_state_that_does_not_exist() -> None:
    assert problems(edit(31, "      - {from: busy, to: upp, emit: [onDone]}")) == [
        "t.yaml:31:26: unknown state 'upp' (did you mean 'up'?)"
    ]


def test_source_state_that_does_not_exist() -> None:
    assert problems(edit(31, "      - {from: bsy, to: up, emit: [onDone]}")) == [
        "t.yaml:31:16: unknown state 'bsy' (did you mean 'busy'?)"
    ]


def test_initial_state_that_is_not_a_child() -> None:
    assert problems(edit(7, "    initial: down")) == [
        "t.yaml:7:14: initial state 'down' of 'up' must be one of its children"
    ]


def test_confirm_signal_not_declared() -> None:
    assert problems(edit(15, "    confirm: starter")) == [
        "t.yaml:15:14: command 'start' confirm: unknown signal 'starter' (did you mean 'started'?)"
    ]


def test_fail_signal_not_declared() -> None:
    assert problems(edit(15, "    confirm: started", "    fail: start_failed")) == [
        "t.yaml:16:11: command 'start' fail: unknown signal 'start_failed'"
        " (did you mean 'started'?)"
    ]


def test_emitted_notification_not_declared() -> None:
    assert problems(edit(31, "      - {from: busy, to: up, emit: [onDon, onDone]}")) == [
        "t.yaml:31:37: unknown notification 'onDon' (did you mean 'onDone'?)"
    ]


def test_emitted_constant_field_not_declared() -> None:
    assert problems(edit(31, "      - {from: busy, to: up, emit: [{onDone: {result: ok}}]}")) == [
        "t.yaml:31:37: notification 'onDone' has no field 'result'"
    ]


def test_right_not_declared() -> None:
    assert problems(edit(18, "    rights: [bos]")) == [
        "t.yaml:18:14: unknown right 'bos' (did you mean 'boss'?)"
    ]


def test_ambiguous_short_state_name() -> None:
    text = edit(5, "  down:", "    initial: idle", "    states:", "      idle: {}")
    # now both down.idle and up.idle exist; the initials still resolve among children,
    # but `from: [idle]` (line 20) and `from: idle` (line 31) could mean either
    assert problems(text) == [
        "t.yaml:20:12: ambiguous state 'idle': could be down.idle, up.idle",
        "t.yaml:31:16: ambiguous state 'idle': could be down.idle, up.idle",
    ]


def test_initial_resolves_among_the_children_first() -> None:
    # two composite states each with a child `idle`: each `initial: idle` means its own
    text = BASE.replace("  down: {}", "  down:\n    initial: idle\n    states:\n      idle: {}", 1)
    text = text.replace("from: [idle]", "from: [up.idle]").replace("from: idle,", "from: up.idle,")
    chart = load_chart_text(text, "t.yaml")
    assert chart.states["down"].initial == "down.idle"
    assert chart.states["up"].initial == "up.idle"
    assert chart.default_leaf("down") == "down.idle"


# --- the chart as a whole ------------------------------------------------------------------------


def test_state_nothing_can_reach() -> None:
    assert problems(edit(11, "      busy: {}", "      lost: {}")) == [
        "t.yaml:12:7: state 'up.lost' cannot be reached from the initial state"
    ]


def test_state_with_transitions_out_but_none_in_cannot_be_reached() -> None:
    text = edit(11, "      busy: {}", "      lost: {}")
    text = text.replace(
        "      - {from: busy, to: up, emit: [onDone]}    # 31",
        "      - {from: busy, to: up, emit: [onDone]}\n      - {from: lost, to: idle}",
    )
    assert problems(text) == [
        "t.yaml:12:7: state 'up.lost' cannot be reached from the initial state"
    ]


def test_two_transitions_for_the_same_state_and_signal() -> None:
    text = edit(31, "      - {from: busy, to: up, emit: [onDone]}", "      - {from: up.busy}")
    assert problems(text) == [
        "t.yaml:32:16: transition for signal 'done' in state 'up.busy' is never taken: the one"
        " at line 31 comes first and has no guard"
    ]


def test_same_signal_on_a_parent_and_a_child_is_not_a_duplicate() -> None:
    chart = load_chart_text(
        edit(31, "      - {from: busy, to: up, emit: [onDone]}", "      - {from: up}")
    )
    assert {t.source for t in chart.signals["done"].transitions} == {"up.busy", "up"}


def test_command_allowed_from_nowhere() -> None:
    assert problems(edit(17, "    from: []")) == [
        "t.yaml:17:11: command 'work' is allowed from no state"
    ]


def test_confirm_signal_without_transition_where_the_command_is_allowed() -> None:
    assert problems(edit(17, "    from: [up]")) == [
        "t.yaml:21:14: command 'work' is allowed in 'up.busy', but its confirm signal 'busy'"
        " has no transition there"
    ]


def test_notification_never_emitted() -> None:
    assert problems(edit(35, "  onDone: {}", "  onLost: {fields: [reason]}")) == [
        "t.yaml:36:3: notification 'onLost' is never emitted by any transition"
    ]


# --- YAML itself -------------------------------------------------------------------------------


def test_invalid_yaml() -> None:
    assert problems(edit(31, "      - {from: busy, to: up, emit: [onDone]")) == [
        "t.yaml:32:1: invalid YAML: did not find expected ',' or '}'"
    ]


def test_duplicate_yaml_keys() -> None:
    assert problems(edit(35, "  onDone: {}", "  onBusy: {}")) == [
        "t.yaml:36:3: notifications: duplicate key 'onBusy' (first at line 34)"
    ]


def test_not_a_chart_at_all() -> None:
    assert problems("") == [
        "t.yaml:1:1: chart: missing required key 'chart'",
        "t.yaml:1:1: chart: missing required key 'states'",
    ]
    assert problems("- a\n") == ["t.yaml:1:1: chart must be a mapping, not a list"]


def test_all_problems_of_a_file_at_once_sorted_by_position() -> None:
    text = BASE.replace("    history: shallow ", "    history: deep    ")
    text = text.replace("    confirm: started ", "    confirm: starter ")
    text = text.replace("    rights: [boss]  ", "    rights: [bos]   ")
    text = text.replace(
        "{from: busy, to: up, emit: [onDone]}", "{from: bsy, to: upp, emit: [onDon]}"
    )
    text = text.replace("  onDone: {}  ", "  onBusy: {}  ")
    assert problems(text) == [
        "t.yaml:8:14: state 'up' history must be one of shallow, not 'deep'",
        "t.yaml:15:14: command 'start' confirm: unknown signal 'starter' (did you mean 'started'?)",
        "t.yaml:18:14: unknown right 'bos' (did you mean 'boss'?)",
        "t.yaml:31:16: unknown state 'bsy' (did you mean 'busy'?)",
        "t.yaml:31:25: unknown state 'upp' (did you mean 'up'?)",
        # (no suggestion: the onDone it meant was renamed into a duplicate)
        "t.yaml:31:37: unknown notification 'onDon'",
        "t.yaml:35:3: notifications: duplicate key 'onBusy' (first at line 34)",
    ]


def test_problems_carry_their_parts() -> None:
    with pytest.raises(SpecError) as info:
        load_chart_text(edit(18, "    rights: [bos]"), "t.yaml")
    assert info.value.problems == (
        Problem("t.yaml", 18, 14, "unknown right 'bos' (did you mean 'boss'?)"),
    )


# --- files -------------------------------------------------------------------------------------


def test_load_chart_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(edit(18, "    rights: [bos]"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"bad\.yaml:18:14: unknown right 'bos'"):
        load_chart(path)
    with pytest.raises(SpecError, match=r"missing\.yaml:1:1: cannot read file"):
        load_chart(tmp_path / "missing.yaml")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("busy: {} ", "caf\xe9: {}").encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_chart(path)
    assert [str(p) for p in info.value.problems] == [f"{path}:11:10: not UTF-8 text: byte 0xe9"]


def test_shipped_and_test_charts_load(
    agent_chart: Chart, acw_chart: Chart, nested_chart: Chart
) -> None:
    assert agent_chart.name == "agent"
    assert acw_chart.name == "after_call_work"
    assert nested_chart.name == "nested_history"
    for chart in (agent_chart, acw_chart, nested_chart):
        assert chart.initial in chart.states
        assert all(
            chart.states[p].parent is None or chart.states[p].parent in chart.states
            for p in chart.states
        )


SESSION_CHART = """\
chart: s
initial: away
states:
  away: {}
  here: {}
commands:
  login: {from: away, confirm: up}
  boss_only:
    from: here
    rights: [boss]
    args:
      who: {required: false, when_given: {from: [here, away]}}
      anyone: {required: false, when_given: {rights: []}}
    confirm: up
signals:
  up:
    transitions:
      - {from: away, to: here, emit: [onUp]}
      - {from: here, emit: [onUp]}
notifications:
  onUp: {}
rights: [boss]
session:
  connect: login
  link_lost: down
"""


def test_session_roles_must_name_declared_commands_and_signals() -> None:
    with pytest.raises(SpecError) as info:
        load_chart_text(SESSION_CHART, "s.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (25, 14)
    assert "session link_lost: unknown signal 'down'" in problem.message


def test_session_roles_are_kept_on_the_chart() -> None:
    chart = load_chart_text(SESSION_CHART.replace("  link_lost: down\n", ""), "s.yaml")
    assert dict(chart.session) == {"connect": "login"}


def test_when_given_keeps_the_commands_rights_unless_it_names_its_own() -> None:
    chart = load_chart_text(SESSION_CHART.replace("  link_lost: down\n", ""), "s.yaml")
    args = {a.name: a for a in chart.commands["boss_only"].args}
    assert args["who"].when_given is not None
    assert args["who"].when_given.rights == frozenset({"boss"})
    assert args["anyone"].when_given is not None
    assert args["anyone"].when_given.rights == frozenset()
    m = Machine(chart)
    m.apply("up")
    with pytest.raises(PermissionDenied):
        m.check("boss_only", who="x")
    m.check("boss_only", anyone="x")


def test_the_rights_query_must_be_answered_with_rights() -> None:
    # boss_only is confirmed by `up`, which carries no `rights` field
    text = SESSION_CHART.replace("  link_lost: down\n", "  rights: boss_only\n")
    with pytest.raises(SpecError) as info:
        load_chart_text(text, "s.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (25, 11)
    assert "session rights: command 'boss_only' must be confirmed by a signal" in problem.message
    answered = "  up:\n    payload: [rights]\n    transitions:"
    fixed = text.replace("  up:\n    transitions:", answered)
    assert load_chart_text(fixed, "s.yaml").session["rights"] == "boss_only"
