"""Spec loading is bounded: an alias bomb, a recursive alias and an oversized file are each
one ``file:line:col`` problem, found cheaply; ordinary aliases still load."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cti_fsm.chart_loader import load_chart, load_chart_text
from cti_fsm.errors import SpecError
from cti_fsm.vendor_map import load_vendor_map_text
from cti_fsm.yaml_nodes import MAX_EXPANDED_NODES, MAX_SPEC_BYTES, MAX_SUGGESTIONS


def _level(depth: int) -> str:
    """A state with 8 children, each the same alias of the level below: 8**depth states."""
    if depth == 0:
        return "{}"
    kids = [f"a: &x{depth} {_level(depth - 1)}", *(f"{k}: *x{depth}" for k in "bcdefgh")]
    return f"{{initial: a, states: {{{', '.join(kids)}}}}}"


#: About 1.1 KB standing for 8**12 (68 billion) states.
BOMB = f"chart: bomb\ninitial: s\nstates:\n  s: {_level(12)}\n"


def test_the_bomb_is_the_size_the_issue_names() -> None:
    assert 1000 <= len(BOMB.encode()) <= 1300


def test_check_refuses_an_alias_bomb_quickly_and_in_little_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    # a child process of its own, so its peak memory is measured alone
    script = (
        "import resource, sys\n"
        "from cti_fsm.cli import main\n"
        f"status = main(['check', {str(bomb)!r}])\n"
        "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        # VmHWM is this program's own peak: ru_maxrss would keep the forking parent's
        # (a test run's pytest is hundreds of MB) across the exec
        "hwm = next(int(line.split()[1]) for line in open('/proc/self/status')"
        " if line.startswith('VmHWM:'))\n"
        "print(status, hwm, usage.ru_utime + usage.ru_stime, file=sys.stdout)\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    status, peak_kb, cpu = done.stdout.split()
    assert int(status) == 1
    assert int(peak_kb) < 200 * 1024, f"peak {int(peak_kb) // 1024} MB"
    assert float(cpu) < 2.0 and after.ru_utime - before.ru_utime < 2.0
    [problem, summary] = done.stderr.splitlines()
    found = re.fullmatch(
        rf"{re.escape(str(bomb))}:(\d+):(\d+): aliases expand the spec (.*)", problem
    )
    assert found is not None, problem
    line, col = int(found.group(1)), int(found.group(2))
    # the position is an alias's: the problem names it, and the text there is that alias
    alias = re.search(r"\(\*(x\d+) stands for", problem)
    assert alias is not None
    assert BOMB.splitlines()[line - 1][col - 1 :].startswith(f"*{alias.group(1)}")
    assert summary == f"{bomb}: 1 problem(s)"


def test_a_recursive_alias_is_a_problem_not_a_recursion_error() -> None:
    text = textwrap.dedent(
        """\
        chart: loop
        initial: s
        states: &all
          s:
            initial: t
            states: *all
        """
    )
    with pytest.raises(SpecError) as raised:
        load_chart_text(text, "loop.yaml")
    [problem] = raised.value.problems
    assert (problem.file, problem.line, problem.col) == ("loop.yaml", 6, 13)
    assert "recursive alias *all" in problem.message


def test_a_recursive_alias_in_a_vendor_map_is_a_problem_too() -> None:
    with pytest.raises(SpecError) as raised:
        load_vendor_map_text("vendor: v\nchart: agent\nsignals: &s\n  x: [*s]\n", file="v.yaml")
    [problem] = raised.value.problems
    assert (problem.line, problem.col) == (4, 7)
    assert "recursive alias *s" in problem.message


def test_an_alias_in_a_flow_list_inside_itself_is_found_at_its_column() -> None:
    states = "states: {a: &a {states: {b: [1, *a]}}}"
    with pytest.raises(SpecError) as raised:
        load_chart_text(f"chart: c\ninitial: a\n{states}\n", "c.yaml")
    [problem] = raised.value.problems
    assert (problem.line, problem.col) == (3, states.index("*a") + 1)


def test_ordinary_aliases_still_load() -> None:
    chart = load_chart_text(
        textwrap.dedent(
            """\
            chart: shared
            initial: a
            states:
              a: &plain {description: "a state like the others"}
              b: *plain
            commands:
              go: {from: a, confirm: moved, timeout: &t 3}
              stop: {from: a, confirm: again, timeout: *t}
            signals:
              moved:
                transitions: [&move {from: a, to: b}]
              again:
                transitions: [*move]
            """
        ),
        "shared.yaml",
    )
    assert set(chart.states) == {"a", "b"}
    assert chart.commands["stop"].rule.timeout == 3


def test_expansion_is_counted_not_performed_up_to_the_limit() -> None:
    """Just under the limit loads (as far as the YAML layer goes); just over it does not."""
    # a list of n scalars, repeated k times by alias: 1 + n, then k more of it
    n = 999
    base = f"[{', '.join(['x'] * n)}]"
    per_alias = n + 1
    fits = (MAX_EXPANDED_NODES - 10 - per_alias) // per_alias
    for repeats, refused in ((fits, False), (fits + 3, True)):
        aliases = ", ".join(["*b"] * repeats)
        text = f"chart: c\ninitial: a\nstates: {{a: {{}}}}\nx: &b {base}\ny: [{aliases}]\n"
        with pytest.raises(SpecError) as raised:
            load_chart_text(text, "c.yaml")
        messages = [p.message for p in raised.value.problems]
        assert any("aliases expand" in m for m in messages) is refused, messages[:2]


def test_a_file_over_the_size_limit_is_one_clear_problem(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    filler = "# " + "x" * 98 + "\n"
    with big.open("w") as f:
        for _ in range(MAX_SPEC_BYTES // len(filler) + 1):
            f.write(filler)
    with pytest.raises(SpecError) as raised:
        load_chart(big)
    [problem] = raised.value.problems
    assert (problem.line, problem.col) == (1, 1)
    assert problem.message.startswith("too large for a spec")
    assert str(MAX_SPEC_BYTES) in problem.message
    with pytest.raises(SpecError) as raised:
        load_chart_text("#" * (MAX_SPEC_BYTES + 1), "big.yaml")
    assert "too large for a spec" in raised.value.problems[0].message


def test_a_spec_full_of_misspellings_gets_a_few_suggestions_then_plain_problems() -> None:
    """Each "did you mean" compares a word with every name; after ``MAX_SUGGESTIONS`` the
    rest are reported without one, so a thousand typos cost no more than a few."""
    states = "\n".join(f"  state{i}: {{}}" for i in range(300))
    moves = "\n".join(f"      - {{from: state{i}, to: stat{i}}}" for i in range(300))
    head = "chart: typos\ninitial: state0\nstates:\n"
    text = f"{head}{states}\nsignals:\n  go:\n    transitions:\n{moves}\n"
    with pytest.raises(SpecError) as raised:
        load_chart_text(text, "typos.yaml")
    unknown = [p.message for p in raised.value.problems if "unknown state" in p.message]
    assert len(unknown) == 300
    assert unknown[0] == "unknown state 'stat0' (did you mean 'state0'?)"
    assert sum("did you mean" in m for m in unknown) == MAX_SUGGESTIONS
    assert unknown[-1] == "unknown state 'stat299'"
