"""``cti-fsm check``: in-process through ``cti_fsm.cli.main`` and as the installed script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cti_fsm.chart import Chart
from cti_fsm.chart_loader import default_chart, default_chart_path, load_chart
from cti_fsm.cli import main
from cti_fsm.errors import SpecError
from cti_fsm.vendor_map import load_vendor_map

EXAMPLE_MAP = Path(__file__).with_name("example-vendor.yaml")
# Three mistakes at known places; the unreachable `busy` is not reported because the
# whole-chart checks only run on an otherwise clean chart.
BROKEN = """\
chart: broken
initial: idle
colour: red
states:
  idle:
  busy:
signals:
  start:
    transitions:
      - {from: idle, to: bsy, emit: [onStart]}
notifications:
  onStart: {}
  onNever: {}
"""
BROKEN_AT = {(3, 1, "colour"), (10, 26, "'bsy'"), (13, 3, "'onNever'")}
PROBLEM_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def summary(path: str, chart: Chart) -> str:
    transitions = sum(1 for _ in chart.transitions())
    return (
        f"{path}: ok: chart {chart.name!r}, {len(chart.states)} states"
        f" ({len(chart.leaves())} leaves), {len(chart.commands)} commands,"
        f" {len(chart.signals)} signals, {transitions} transitions,"
        f" {len(chart.notifications)} notifications"
    )


@pytest.fixture
def broken(tmp_path: Path) -> str:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, "utf-8")
    return str(path)


def assert_reports_broken(path: str, stderr: str) -> None:
    *problems, count = stderr.splitlines()
    assert count == f"{path}: 3 problem(s)"
    found: dict[tuple[int, int], str] = {}
    for text in problems:
        m = PROBLEM_LINE.match(text)
        assert m, text
        assert m["file"] == path
        found[int(m["line"]), int(m["col"])] = m["message"]
    assert set(found) == {(line, col) for line, col, _ in BROKEN_AT}
    for line, col, word in BROKEN_AT:
        assert word in found[line, col]
    # exactly what the loader raises, in its order
    with pytest.raises(SpecError) as caught:
        load_chart(path)
    assert problems == [str(p) for p in caught.value.problems]


# --- in process ----------------------------------------------------------------------------
def test_good_chart_prints_one_line_summary(capsys: pytest.CaptureFixture[str]) -> None:
    path = default_chart_path()
    assert main(["check", path]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [summary(path, default_chart())]
    assert err == ""


def test_bad_chart_prints_every_problem_and_exits_1(
    broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", broken]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert_reports_broken(broken, err)


def test_one_bad_file_among_good_ones_fails_the_run(
    broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = default_chart_path()
    assert main(["check", good, broken, str(EXAMPLE_MAP)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == summary(good, default_chart())
    assert out.splitlines()[1].startswith(f"{EXAMPLE_MAP}: ok: vendor map 'example'")
    assert_reports_broken(broken, err)


def test_vendor_map_is_checked_against_the_default_chart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(EXAMPLE_MAP)]) == 0
    out, _ = capsys.readouterr()
    vmap = load_vendor_map(EXAMPLE_MAP, default_chart())
    assert out.splitlines() == [
        f"{EXAMPLE_MAP}: ok: vendor map 'example' for chart 'agent', {len(vmap.rules)} signal"
        f" rules, {len(vmap.commands)} commands, {len(vmap.unsupported)} unsupported"
    ]


def test_vendor_map_against_another_chart_names_the_mismatch(
    broken: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("chart: other\ninitial: a\nstates: {a: }\n", "utf-8")
    assert main(["check", "--chart", str(other), str(EXAMPLE_MAP)]) == 1
    _, err = capsys.readouterr()
    assert (
        f"{EXAMPLE_MAP}:5:8: map is written for chart 'agent', not 'other'"
        " (a chart of your own fits it by 'extends: agent')"
    ) in err.splitlines()


def test_missing_file_is_a_problem_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.yaml")
    assert main(["check", missing]) == 1
    _, err = capsys.readouterr()
    assert err.splitlines()[0].startswith(f"{missing}:1:1: cannot read file")


# --- the installed console script ----------------------------------------------------------
def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("cti-fsm")
    assert script.exists(), f"console script not installed next to {sys.executable}"
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_script_good_chart() -> None:
    path = default_chart_path()
    done = run_script("check", path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [summary(path, default_chart())]


def test_script_bad_chart(broken: str) -> None:
    done = run_script("check", broken)
    assert (done.returncode, done.stdout) == (1, "")
    assert_reports_broken(broken, done.stderr)
