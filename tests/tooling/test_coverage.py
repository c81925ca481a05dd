"""Transition coverage: what counts, how machines are observed, the report and the plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cti_fsm import Chart, IllegalCommand, Machine, default_chart, load_chart, load_chart_text
from cti_fsm.testing import ChartsCoverage, ChartTransition, Coverage, chart_transitions

CHART = default_chart()
ROOT = Path(__file__).resolve().parents[2]

TINY = """
chart: tiny
initial: a
states:
  a: {}
  b: {}
commands:
  go: {from: [a], confirm: went}
signals:
  went:
    transitions:
      - {from: a, to: b, emit: [onGo]}
  back:
    transitions:
      - {from: b, to: a}
notifications:
  onGo: {}
"""


def test_transitions_are_leaf_cells_of_signals_and_command_rules(acw_chart: Chart) -> None:
    # a chart without regions, guards or timers: counted independently, handled signals
    # per leaf and (leaf, rule) pairs per command
    chart = acw_chart
    cells = chart_transitions(chart)
    assert len(cells) == len(set(cells))
    signals = sum(len(Machine(chart, state=leaf).handled()) for leaf in chart.leaves())
    commands = 0
    for leaf in chart.leaves():
        for spec in chart.commands.values():
            for rule in spec.rules:
                commands += any(chart.contains(src, leaf) for src in rule.allowed_from)
    assert sum(c.kind == "signal" for c in cells) == signals
    assert sum(c.kind == "command" for c in cells) == commands
    assert not any(c.kind == "timer" for c in cells)


def test_default_chart_cells() -> None:
    cells = set(chart_transitions(CHART))
    # a transition declared on a parent is one cell per leaf below it
    assert ChartTransition("checked_in.held", "signal", "link_lost") in cells
    assert ChartTransition("checked_in.available.paused", "signal", "link_lost") in cells
    # ... of the main region: a region's leaf counts the transitions written in its region
    assert ChartTransition("checked_in.next.unchanged", "signal", "link_lost") not in cells
    # an argument's rule is its own cell: pause(agent_id) is possible while connected
    assert ChartTransition("connected", "command", "pause(agent_id)") in cells
    assert ChartTransition("connected", "command", "pause") not in cells
    # each guarded alternative is a cell of its own
    unchanged = "checked_in.next.unchanged"
    for next_state in ("ready", "not_ready", "logout"):
        cell = ChartTransition(unchanged, "signal", f"next_state_set when next is {next_state}")
        assert cell in cells
    ready = "checked_in.next.ready_next"
    assert ChartTransition(ready, "signal", "hung_up when wrap_up_seconds is 0") in cells
    # a setting decides at compile time: with wrap_up_seconds 0 there is no wrap-up leg
    guarded = "hung_up when wrap_up_seconds not 0"
    assert ChartTransition("checked_in.talking", "signal", guarded) not in cells
    # the unguarded transition after one that cannot be taken is the signal itself
    assert ChartTransition("checked_in.talking", "signal", "hung_up") in cells
    assert ChartTransition("checked_in.talking", "signal", "hung_up otherwise") not in cells
    # a timer is a cell where it can be armed: the wrap-up's reads the vendor's payload,
    # the ring timer's setting is 0
    assert ChartTransition("checked_in.wrap_up", "timer", "checked_in.wrap_up.after.0") in cells
    assert not any(c.kind == "timer" and "ringing" in c.name for c in cells)
    # commands by configuration: set_next_state is allowed in wrap-up (a main leaf)
    assert ChartTransition("checked_in.wrap_up", "command", "set_next_state") in cells


def test_wrap_up_chart_counts_the_legs_its_settings_open(wrap_up_chart: Chart) -> None:
    cells = set(chart_transitions(wrap_up_chart))
    guarded = "hung_up when wrap_up_seconds not 0"
    assert ChartTransition("checked_in.talking", "signal", guarded) in cells
    ringing = ChartTransition("checked_in.ringing", "timer", "checked_in.ringing.after.0")
    assert ringing in cells


def test_guarded_alternatives_timers_and_regions_are_counted(every_feature_chart: Chart) -> None:
    chart = every_feature_chart
    cov = Coverage(chart)
    with cov:
        m = Machine(chart, rights={"boss"})
        m.check("start")
        m.apply("started")
        m.apply("began")
        m.check("plan", next="later", why="w")
        m.apply("planned", next="later", why="w")
        m.apply("done", result="retry")  # the region leaves later too (main in busy)
        m.fire("on.busy.after.0")
        m.apply("wave")
        m.fire("on.light.red.after.0")
    assert cov.covered == {
        ChartTransition("off", "command", "start"),
        ChartTransition("off", "signal", "started"),
        ChartTransition("on.idle.calm", "signal", "began when not in on.light.red"),
        ChartTransition("on.busy", "command", "plan"),
        ChartTransition("on.next.same", "signal", "planned when next is later"),
        ChartTransition("on.busy", "signal", "done when result is retry"),
        ChartTransition("on.next.later", "signal", "done when in on.busy"),
        ChartTransition("on.busy", "timer", "on.busy.after.0"),
        ChartTransition("on.busy", "signal", "on.busy.after.0"),
        ChartTransition("on.light.green", "signal", "wave"),
        ChartTransition("on.light.red", "timer", "on.light.red.after.0"),
        ChartTransition("on.light.red", "signal", "on.light.red.after.0"),
    }
    report = cov.report().splitlines()
    assert report[1].endswith(
        "signals 8/{}, timers 2/4, commands 2/{}".format(
            sum(c.kind == "signal" for c in cov.transitions),
            sum(c.kind == "command" for c in cov.transitions),
        )
    )


def test_coverage_observes_machines_only_while_active() -> None:
    original = (Machine.apply, Machine.check)
    before = Machine(CHART, rights={"supervisor"})  # created before: counts too
    cov = Coverage(CHART)
    with cov:
        before.check("connect", user="u", password="p", url="ws://x")
        before.apply("logged_in")
        before.apply("ringing")  # ignored in connected: not a transition
        with pytest.raises(IllegalCommand):
            before.check("hold")  # refused: not a transition
        before.check("pause", agent_id="a7")
    assert (Machine.apply, Machine.check) == original  # as it was (wrapped only if pytest
    # itself runs with --chart-coverage)
    Machine(CHART).apply("login_failed")  # after stop: not counted
    assert cov.covered == {
        ChartTransition("offline", "command", "connect"),
        ChartTransition("offline", "signal", "logged_in"),
        ChartTransition("connected", "command", "pause(agent_id)"),
    }


def test_same_file_counts_other_charts_do_not() -> None:
    cov = Coverage(CHART)
    again = load_chart(CHART.source)  # another Chart object, same file
    other = load_chart_text(TINY)
    with cov:
        Machine(again).apply("logged_in")
        Machine(other).apply("went")
    assert cov.covered == {ChartTransition("offline", "signal", "logged_in")}


def test_nested_coverages_both_record_and_restore_on_the_last_stop() -> None:
    original = Machine.apply
    outer, inner = Coverage(CHART), Coverage(CHART)
    with outer:
        with inner:
            Machine(CHART).apply("logged_in")
        Machine(CHART).apply("login_failed")
    assert Machine.apply is original
    assert len(inner.covered) == 1 and len(outer.covered) == 2


def test_report_lists_what_was_missed() -> None:
    tiny = load_chart_text(TINY, "tiny.yaml")
    cov = Coverage(tiny)
    assert cov.transitions == (
        ChartTransition("a", "signal", "went"),
        ChartTransition("a", "command", "go"),
        ChartTransition("b", "signal", "back"),
    )
    with cov:
        m = Machine(tiny)
        m.check("go")
        m.apply("went")
    lines = cov.report().splitlines()
    assert lines[0] == "chart transitions covered: 2/3"
    assert lines[1] == "  chart 'tiny' (tiny.yaml): signals 1/2, commands 1/1"
    assert lines[2:] == ["missed (1):", "  b: signals back"]
    assert not cov.complete
    cov.mark_signal("b", "back")
    cov.mark_signal("b", "nonsense")  # not a cell: ignored
    assert cov.complete and cov.report().splitlines()[0] == "chart transitions covered: 3/3"


# --- the pytest plugin, in a separate pytest process ---------------------------------------------
TEST_FILE = """
from cti_fsm import Machine, default_chart

def test_login():
    m = Machine(default_chart())
    m.check("connect", user="u", password="p", url="ws://x")
    m.apply("logged_in")
"""


TINY_TEST_FILE = """
from pathlib import Path
from cti_fsm import Machine, load_chart

def test_go():
    m = Machine(load_chart(Path(__file__).parent / "tiny.yaml"))
    m.check("go")
    m.apply("went")
"""


def _pytest(
    tmp_path: Path, *args: str, test_file: str = TEST_FILE
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_flow.py").write_text(test_file)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, "test_flow.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_plugin_prints_the_report(tmp_path: Path) -> None:
    total = len(chart_transitions(CHART))
    done = _pytest(tmp_path, "--chart-coverage")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chart transition coverage" in done.stdout
    assert f"chart transitions covered: 2/{total}" in done.stdout
    assert "  offline: signals login_failed" in done.stdout  # a missed one, listed


def test_plugin_is_silent_without_the_option(tmp_path: Path) -> None:
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chart transitions covered" not in done.stdout


def test_plugin_fails_under_a_floor_and_takes_another_chart(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "--chart-coverage", "--chart-coverage-fail-under", "50")
    assert done.returncode == 1
    assert "FAIL: chart transition coverage" in done.stdout
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    done = _pytest(tmp_path, "--chart-coverage", f"--chart-coverage-chart={tiny}")
    assert done.returncode == 0
    assert "chart transitions covered: 0/3" in done.stdout  # the test ran the default chart


def test_plugin_measures_the_charts_the_tests_ran(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    done = _pytest(tmp_path, "--chart-coverage", test_file=TINY_TEST_FILE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chart transitions covered: 2/3" in done.stdout
    assert f"chart 'tiny' ({tmp_path / 'tiny.yaml'})" in done.stdout
    assert "chart 'agent'" not in done.stdout  # no test ran the default chart
    done = _pytest(
        tmp_path, "--chart-coverage", "--chart-coverage-fail-under=90", test_file=TINY_TEST_FILE
    )
    assert done.returncode == 1
    assert "FAIL: chart transition coverage of 'tiny'" in done.stdout


def test_charts_coverage_keeps_one_coverage_per_chart() -> None:
    tiny = load_chart_text(TINY)
    charts = ChartsCoverage()
    charts.start()
    try:
        Machine(CHART).apply("logged_in")
        Machine(load_chart(CHART.source)).apply("login_failed")  # the same file: one chart
        Machine(tiny).apply("went")
    finally:
        charts.stop()
    Machine(CHART).apply("logged_in")  # after stop: nothing new
    agent, other = charts.coverages
    assert agent.chart is CHART and len(agent.covered) == 2
    assert other.covered == {ChartTransition("a", "signal", "went")}
    assert charts.from_files() == (agent,)
    lines = charts.report().splitlines()
    assert lines[0] == f"chart transitions covered: 2/{len(agent.transitions)}"
    assert lines[-1].startswith("and 1 chart(s) built in memory")


def test_coverage_and_plugin_work_without_hypothesis() -> None:
    # pytest loads the plugin for every run where cti-fsm is installed: it must not need
    # hypothesis (a test extra), nor import it behind the user's back
    code = (
        "import sys; import cti_fsm.testing, cti_fsm.testing.pytest_plugin;"
        " from cti_fsm.testing import Coverage; Coverage();"
        " assert 'hypothesis' not in sys.modules, 'hypothesis imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
